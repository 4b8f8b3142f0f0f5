//! The conformance suite on SQLite, and two stores opened on one file (two processes of one
//! host) sharing their counts.

use std::sync::Arc;

use mcp_limits::conformance::{at, with_guard};
use mcp_limits::store::sqlite::SqliteCounterStore;
use mcp_limits::store::{Admission, CounterStore, Quota};

mcp_limits::counter_store_conformance!(async {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteCounterStore::open(dir.path().join("limits.sqlite3"))
        .await
        .unwrap();
    with_guard(store, dir)
});

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_share_a_quota() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.sqlite3");
    let a = Arc::new(SqliteCounterStore::open(&path).await.unwrap());
    let b = Arc::new(SqliteCounterStore::open(&path).await.unwrap());
    let quota = Quota::per_minute(6);
    let calls = (0..20).map(|i| {
        let store: Arc<dyn CounterStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store
                .acquire("rate:execute:alice", quota, at(0))
                .await
                .unwrap()
        })
    });
    let mut allowed = 0;
    for call in calls.collect::<Vec<_>>() {
        allowed += usize::from(call.await.unwrap() == Admission::Allowed);
    }
    assert_eq!(allowed, 6);
}

#[tokio::test]
async fn counts_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.sqlite3");
    let quota = Quota::per_minute(1);
    {
        let store = SqliteCounterStore::open(&path).await.unwrap();
        assert_eq!(
            store.acquire("k", quota, at(0)).await.unwrap(),
            Admission::Allowed
        );
    }
    let store = SqliteCounterStore::open(&path).await.unwrap();
    assert!(matches!(
        store.acquire("k", quota, at(1)).await.unwrap(),
        Admission::Wait(_)
    ));
}
