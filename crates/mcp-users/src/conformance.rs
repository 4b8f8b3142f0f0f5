//! The conformance cases every [`UserStore`] passes (feature `testing`).
use mcp_core::StoreError;

use chrono::Utc;

use crate::{User, UserStore};

/// Runs every case against `store`, which must be empty.
pub async fn run(store: &dyn UserStore) {
    let alice = store.create("alice", "h1").await.unwrap();
    assert!(!alice.disabled);
    assert!(matches!(
        store.create("alice", "h2").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.by_username("alice").await.unwrap().unwrap().id,
        alice.id
    );
    assert_eq!(
        store.by_id(&alice.id).await.unwrap().unwrap().password_hash,
        "h1"
    );
    assert!(store.by_username("nobody").await.unwrap().is_none());
    store.create("bob", "h3").await.unwrap();
    let names: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(store.set_disabled(&alice.id, true).await.unwrap().disabled);
    assert!(store.by_id(&alice.id).await.unwrap().unwrap().disabled);
    assert!(matches!(
        store.set_disabled("missing", true).await,
        Err(StoreError::NotFound(_))
    ));
    store.set_password_hash(&alice.id, "h9").await.unwrap();
    assert_eq!(
        store.by_id(&alice.id).await.unwrap().unwrap().password_hash,
        "h9"
    );
    store.ping().await.unwrap();
    session_marks(store).await;
    deletion(store).await;
}

/// A deleted account is gone by name, id and from the list; its name can be taken again
/// with a new id; deleting twice is `NotFound`.
async fn deletion(store: &dyn UserStore) {
    let dave = store.create("dave", "h").await.unwrap();
    store.delete(&dave.id).await.unwrap();
    assert!(store.by_username("dave").await.unwrap().is_none());
    assert!(store.by_id(&dave.id).await.unwrap().is_none());
    assert!(
        store
            .list()
            .await
            .unwrap()
            .iter()
            .all(|u| u.username != "dave")
    );
    assert!(matches!(
        store.delete(&dave.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_disabled(&dave.id, true).await,
        Err(StoreError::NotFound(_))
    ));
    let again = store.create("dave", "h2").await.unwrap();
    assert_ne!(again.id, dave.id);
    assert_eq!(
        store.by_username("dave").await.unwrap().unwrap().id,
        again.id
    );
    store.delete(&again.id).await.unwrap();
}

/// Password changes, disables and `invalidate_tokens` end sessions; an enable does not
/// bring them back; `record_unlock` is remembered.
async fn session_marks(store: &dyn UserStore) {
    let carol = store.create("carol", "h").await.unwrap();
    let fresh = store.by_id(&carol.id).await.unwrap().unwrap();
    assert_eq!((fresh.tokens_valid_from, fresh.unlocked_at), (None, None));
    let mark = |u: Option<User>| u.unwrap().tokens_valid_from.expect("sessions ended");
    let before = Utc::now();
    store.set_password_hash(&carol.id, "h2").await.unwrap();
    let after_password = mark(store.by_id(&carol.id).await.unwrap());
    assert!(after_password > before.timestamp());
    // Each end moves past the one before, even within one second.
    store.set_disabled(&carol.id, true).await.unwrap();
    let after_disable = mark(store.by_id(&carol.id).await.unwrap());
    assert!(after_disable > after_password);
    store.set_disabled(&carol.id, false).await.unwrap();
    assert_eq!(mark(store.by_id(&carol.id).await.unwrap()), after_disable);
    store.invalidate_tokens(&carol.id).await.unwrap();
    assert!(mark(store.by_id(&carol.id).await.unwrap()) > after_disable);
    store.record_unlock(&carol.id).await.unwrap();
    let unlocked = store.by_username("carol").await.unwrap().unwrap();
    assert!(
        unlocked
            .unlocked_at
            .is_some_and(|t| t >= before - chrono::Duration::seconds(1))
    );
    for missing in [
        store.invalidate_tokens("missing").await,
        store.record_unlock("missing").await,
    ] {
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{missing:?}"
        );
    }
}
