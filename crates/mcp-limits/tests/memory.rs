//! The conformance suite on the in-memory store, and its capacity bound.

use mcp_limits::conformance::at;
use mcp_limits::store::memory::MemoryCounterStore;
use mcp_limits::store::{Admission, CounterStore, Quota, StoreError};

mcp_limits::counter_store_conformance!(async { MemoryCounterStore::new() });

#[tokio::test]
async fn a_full_memory_store_refuses_new_keys_until_old_ones_expire() {
    let store = MemoryCounterStore::with_capacity(2);
    let quota = Quota::per_minute(1);
    for key in ["a", "b"] {
        assert_eq!(
            store.acquire(key, quota, at(0)).await.unwrap(),
            Admission::Allowed
        );
    }
    assert!(matches!(
        store.acquire("c", quota, at(1)).await,
        Err(StoreError::Unavailable { .. })
    ));
    // Keys already held still work while full.
    assert!(matches!(
        store.acquire("a", quota, at(1)).await.unwrap(),
        Admission::Wait(_)
    ));
    // Once the buckets are full again (expired), their room is reused.
    assert_eq!(
        store.acquire("c", quota, at(60_000)).await.unwrap(),
        Admission::Allowed
    );
    assert!(store.len() <= 2);
}
