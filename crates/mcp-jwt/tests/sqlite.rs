//! The revocation-store conformance suite against a real SQLite file, plus the
//! behaviour only a file-backed store has.

use chrono::{DateTime, Utc};
use mcp_jwt::RevocationStore;
use mcp_jwt::store::sqlite::SqliteRevocationStore;

mcp_jwt::revocation_store_conformance!(async {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteRevocationStore::open(dir.path().join("revocations.db"))
        .await
        .expect("open sqlite revocation store");
    mcp_jwt::conformance::with_guard(store, dir)
});

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("in range")
}

#[tokio::test]
async fn revocations_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("revocations.db");
    {
        let store = SqliteRevocationStore::open(&path).await.expect("open");
        store.revoke("persisted", at(60)).await.expect("revoke");
    }
    let reopened = SqliteRevocationStore::open(&path)
        .await
        .expect("reopen migrates nothing");
    assert!(reopened.is_revoked("persisted").await.expect("is_revoked"));
}

#[tokio::test]
async fn database_uses_write_ahead_logging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("revocations.db");
    let store = SqliteRevocationStore::open(&path).await.expect("open");
    store.revoke("x", at(60)).await.expect("revoke");
    assert!(
        dir.path().join("revocations.db-wal").exists(),
        "WAL file next to the database"
    );
}

#[tokio::test]
async fn database_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("revocations.db");
    drop(SqliteRevocationStore::open(&path).await.expect("create"));
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", 99)
            .expect("bump schema version");
    }
    let err = SqliteRevocationStore::open(&path)
        .await
        .expect_err("newer schema is refused");
    assert!(
        matches!(err, mcp_jwt::store::StoreError::Invalid(_)),
        "got {err:?}"
    );
}

#[tokio::test]
async fn opening_a_path_in_a_missing_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = SqliteRevocationStore::open(dir.path().join("missing/sub/revocations.db"))
        .await
        .expect_err("cannot create a file in a missing directory");
    assert!(!err.is_transient(), "got {err:?}");
}
