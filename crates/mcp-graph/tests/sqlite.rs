//! The shared conformance suite against SQLite, each case on a fresh database file.

use mcp_graph::conformance::Guarded;
use mcp_graph::{
    Direction, GraphStore, NodeKey, NodeRef, Properties, RelType, SqliteGraphStore,
    properties_from_json,
};
use serde_json::json;

/// A store on a new file in its own temporary directory, removed when the store is dropped.
async fn fresh_store() -> Guarded<SqliteGraphStore, tempfile::TempDir> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteGraphStore::open(dir.path().join("graph.db"))
        .await
        .expect("open sqlite graph");
    Guarded::new(store, dir)
}

mcp_graph::graph_store_conformance!(fresh_store());
mcp_graph::graph_store_conformance!(embedded: fresh_store());

#[tokio::test]
async fn reopening_the_file_keeps_nodes_and_relationships() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.db");
    let (a, b) = (
        NodeRef::parse("Person", "a").unwrap(),
        NodeRef::parse("Person", "b").unwrap(),
    );
    let knows = RelType::new("KNOWS").unwrap();
    {
        let store = SqliteGraphStore::open(&path).await.unwrap();
        store
            .upsert_node(
                &a.label,
                &a.key,
                properties_from_json(json!({"name": "Ada ✓"})).unwrap(),
            )
            .await
            .unwrap();
        store
            .upsert_node(&b.label, &b.key, Properties::new())
            .await
            .unwrap();
        store
            .upsert_relationship(&a, &knows, &b, Properties::new())
            .await
            .unwrap();
    }
    let store = SqliteGraphStore::open(&path).await.unwrap();
    let node = store.get_node(&a).await.unwrap().expect("kept");
    assert_eq!(
        node.properties,
        properties_from_json(json!({"name": "Ada ✓"})).unwrap()
    );
    let next = store
        .neighbors(&a, Some(&knows), Direction::Outgoing, 1, 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].key, NodeKey::new("b").unwrap());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.nodes, stats.relationships), (2, 1));
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.db");
    drop(SqliteGraphStore::open(&path).await.unwrap());
    let bump = |version: i64| {
        rusqlite::Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", version)
            .unwrap();
    };
    bump(7);
    let err = SqliteGraphStore::open(&path).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("graph database is newer than this build"),
        "{err}"
    );
    bump(1);
    SqliteGraphStore::open(&path)
        .await
        .expect("the file is intact");
}

#[tokio::test]
async fn the_database_runs_in_wal_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("graph.db");
    let store = SqliteGraphStore::open(&path).await.unwrap();
    let a = NodeRef::parse("Person", "a").unwrap();
    store
        .upsert_node(&a.label, &a.key, Properties::new())
        .await
        .unwrap();
    assert!(
        dir.path().join("graph.db-wal").exists(),
        "a WAL file sits next to the database"
    );
}

#[tokio::test]
async fn a_batch_with_a_missing_endpoint_writes_nothing() {
    let store = fresh_store().await;
    let a = NodeRef::parse("Person", "a").unwrap();
    let ghost = NodeRef::parse("Person", "ghost").unwrap();
    let node = mcp_graph::Node {
        label: a.label.clone(),
        key: a.key.clone(),
        properties: Properties::new(),
    };
    let rel = mcp_graph::Relationship {
        from: a.clone(),
        rel_type: RelType::new("KNOWS").unwrap(),
        to: ghost,
        properties: Properties::new(),
    };
    let err = store
        .upsert_batch(vec![node.clone()], vec![rel])
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(store.get_node(&a).await.unwrap().is_none());
    store.upsert_batch(vec![node], vec![]).await.unwrap();
    assert!(store.get_node(&a).await.unwrap().is_some());
}
