//! The pin-store conformance suite against a real SQLite file, plus what only a file has.

use mcp_gateway::PinStore;
use mcp_gateway::pin::sqlite::SqlitePinStore;
use mcp_gateway::{PinRecord, PinnedDefinition};

mcp_gateway::pin_store_conformance!(async {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlitePinStore::open(dir.path().join("pins.db"))
        .await
        .expect("open sqlite pin store");
    mcp_gateway::conformance::with_guard(store, dir)
});

#[tokio::test]
async fn pins_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pins.db");
    let def = PinnedDefinition::from_value(&serde_json::json!({"name": "read"}));
    let record = PinRecord::first_seen("fs", "read", def, chrono::Utc::now());
    {
        let store = SqlitePinStore::open(&path).await.unwrap();
        assert!(store.insert(&record).await.unwrap());
    }
    let store = SqlitePinStore::open(&path).await.unwrap();
    let back = store.get("fs", "read").await.unwrap().unwrap();
    assert_eq!(back.approved, record.approved);
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pins.db");
    drop(SqlitePinStore::open(&path).await.unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqlitePinStore::open(&path).await.unwrap_err();
    assert!(err.to_string().contains("newer than this build"), "{err}");
}
