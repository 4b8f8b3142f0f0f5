//! The behaviour every [`OAuthStore`] backend must show (feature `testing`).
//!
//! Mount it in a backend's integration test with
//! [`oauth_store_conformance!`](crate::oauth_store_conformance), which expands to one
//! `#[tokio::test]` per case below. Each case gets a fresh store from the expression you
//! pass; the mounting crate needs `tokio` (with `macros` and `rt`) as a dev-dependency. When
//! the store needs something kept alive beside it (a temporary directory), return
//! [`with_guard(store, guard)`](with_guard).
//!
//! Records are kept small: FalkorDB refuses queries of about 4 KiB.

use std::sync::Arc;

use async_trait::async_trait;

use crate::record::{
    AccessTokenRef, ClientRecord, ClientSource, CodeRecord, ConsentRecord, GrantRecord, Redemption,
    RefreshTokenRecord,
};
use crate::scope::ScopeSet;
use crate::store::{GRANT_TOMBSTONE_SECS, OAuthStore, StoreError};

/// A store paired with a value that must live as long as it.
#[derive(Debug)]
pub struct Guarded<S, G> {
    store: S,
    _guard: G,
}

/// Pairs `store` with `guard` (dropped after the store).
pub fn with_guard<S: OAuthStore, G: Send + Sync>(store: S, guard: G) -> Guarded<S, G> {
    Guarded {
        store,
        _guard: guard,
    }
}

macro_rules! delegate {
    ($($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty;)*) => {
        #[async_trait]
        impl<S: OAuthStore, G: Send + Sync> OAuthStore for Guarded<S, G> {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret { self.store.$name($($arg),*).await })*
        }
    };
}

delegate! {
    insert_client(client: &ClientRecord) -> Result<(), StoreError>;
    client(client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    delete_client(client_id: &str) -> Result<bool, StoreError>;
    count_clients() -> Result<u64, StoreError>;
    insert_code(code: &CodeRecord) -> Result<(), StoreError>;
    redeem_code(code_hash: &str) -> Result<Redemption<CodeRecord>, StoreError>;
    insert_grant(grant: &GrantRecord) -> Result<(), StoreError>;
    grant(grant_id: &str) -> Result<Option<GrantRecord>, StoreError>;
    grants_of(user_id: &str) -> Result<Vec<GrantRecord>, StoreError>;
    revoke_grant(grant_id: &str, now: i64) -> Result<Vec<AccessTokenRef>, StoreError>;
    add_access_token(grant_id: &str, token: &AccessTokenRef) -> Result<bool, StoreError>;
    insert_refresh_token(token: &RefreshTokenRecord) -> Result<(), StoreError>;
    refresh_token(token_hash: &str) -> Result<Option<RefreshTokenRecord>, StoreError>;
    redeem_refresh_token(token_hash: &str) -> Result<Redemption<RefreshTokenRecord>, StoreError>;
    put_consent(consent: &ConsentRecord) -> Result<(), StoreError>;
    consent(user_id: &str, client_id: &str) -> Result<Option<ConsentRecord>, StoreError>;
    consents_of(user_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    delete_consent(user_id: &str, client_id: &str) -> Result<bool, StoreError>;
    purge_expired(cutoff: i64) -> Result<u64, StoreError>;
}

/// Expands to one `#[tokio::test]` per conformance case, each calling the case with a fresh
/// store built by awaiting the expression.
///
/// With `optional:` the future yields an `Option` of a store, and `None` skips the case
/// (printing why): for backends that need an external service, such as Neo4j.
///
/// ```no_run
/// // tests/memory.rs
/// use mcp_oauth::store::memory::MemoryOAuthStore;
/// mcp_oauth::oauth_store_conformance!(async { MemoryOAuthStore::new() });
/// ```
#[macro_export]
macro_rules! oauth_store_conformance {
    (optional: $make:expr $(,)?) => {
        $crate::__oauth_store_cases!(optional $make);
    };
    ($make:expr $(,)?) => {
        $crate::__oauth_store_cases!(always $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __oauth_store_cases {
    ($mode:ident $make:expr) => {
        $crate::__oauth_store_cases!(
            $mode $make;
            inserted_client_is_found_with_every_field,
            inserting_an_existing_client_conflicts_and_keeps_the_first,
            deleting_a_client_reports_whether_it_existed,
            clients_are_counted,
            a_code_is_redeemed_once_then_reported_replayed,
            an_unknown_code_is_unknown,
            inserting_a_code_twice_conflicts,
            concurrent_code_redemptions_have_exactly_one_winner,
            a_refresh_token_is_redeemed_once_and_stays_readable,
            concurrent_refresh_redemptions_have_exactly_one_winner,
            grants_are_inserted_once_and_read_back,
            revoking_a_grant_returns_its_access_tokens,
            revoking_an_unknown_grant_blocks_a_later_insert,
            access_tokens_report_whether_their_grant_is_active,
            grants_of_a_user_are_listed_by_id,
            consents_are_replaced_listed_and_deleted,
            purge_removes_exactly_what_expired,
            unusual_strings_are_stored_verbatim,
            empty_keys_are_refused_as_invalid,
            store_works_behind_a_shared_trait_object,
            a_replayed_code_revokes_the_tokens_it_issued,
            a_reused_refresh_token_revokes_its_family,
            codes_refresh_tokens_and_client_secrets_are_kept_only_as_hashes,
        );
    };
    ($mode:ident $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let store = $crate::__oauth_store_make!($mode $make);
                $crate::conformance::$case(store).await;
            }
        )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __oauth_store_make {
    (always $make:expr) => {
        $make.await
    };
    (optional $make:expr) => {
        match $make.await {
            ::core::option::Option::Some(store) => store,
            ::core::option::Option::None => {
                ::std::eprintln!("skipped: oauth store backend not configured");
                return;
            }
        }
    };
}

const T0: i64 = 1_800_000_000;

fn scope(s: &str) -> ScopeSet {
    ScopeSet::parse(s).expect("test scope")
}

fn client(id: &str) -> ClientRecord {
    let mut c = ClientRecord::public(
        id,
        ClientSource::Dynamic,
        vec!["http://127.0.0.1/cb".into()],
    );
    c.client_name = Some("Test client".into());
    c.scope = Some(scope("tools:read"));
    c.created_at = T0;
    c
}

fn code(hash: &str, grant: &str, expires_at: i64) -> CodeRecord {
    CodeRecord {
        code_hash: hash.into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        redirect_uri: "http://127.0.0.1:5000/cb".into(),
        scope: scope("tools:read graph:query"),
        resource: "https://as.example/mcp".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        grant_id: grant.into(),
        issued_at: T0,
        expires_at,
    }
}

fn grant(id: &str, user: &str, expires_at: i64) -> GrantRecord {
    GrantRecord {
        grant_id: id.into(),
        client_id: "c1".into(),
        user_id: user.into(),
        scope: scope("tools:read"),
        resource: "https://as.example/mcp".into(),
        created_at: T0,
        expires_at,
        revoked: false,
    }
}

fn refresh(hash: &str, grant: &str, expires_at: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash.into(),
        grant_id: grant.into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        scope: scope("tools:read"),
        resource: "https://as.example/mcp".into(),
        issued_at: T0,
        expires_at,
    }
}

fn consent(user: &str, client: &str, scopes: &str) -> ConsentRecord {
    ConsentRecord {
        user_id: user.into(),
        client_id: client.into(),
        scope: scope(scopes),
        resources: vec!["https://as.example/mcp".into()],
        granted_at: T0,
        updated_at: T0,
    }
}

/// A client reads back exactly as inserted.
pub async fn inserted_client_is_found_with_every_field<S: OAuthStore>(store: S) {
    let mut c = client("c1");
    c.secret_hash = Some("ab".repeat(32));
    c.client_uri = Some("https://app.example".into());
    c.software_id = Some("sw".into());
    store.insert_client(&c).await.expect("insert");
    assert_eq!(store.client("c1").await.expect("read"), Some(c));
    assert_eq!(store.client("c2").await.expect("read"), None);
}

/// A second insert of the same id conflicts and leaves the first record.
pub async fn inserting_an_existing_client_conflicts_and_keeps_the_first<S: OAuthStore>(store: S) {
    store.insert_client(&client("c1")).await.expect("insert");
    let mut other = client("c1");
    other.client_name = Some("Impostor".into());
    let err = store.insert_client(&other).await.expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    let kept = store.client("c1").await.expect("read").expect("present");
    assert_eq!(kept.client_name.as_deref(), Some("Test client"));
}

/// `delete_client` removes and says whether it did.
pub async fn deleting_a_client_reports_whether_it_existed<S: OAuthStore>(store: S) {
    store.insert_client(&client("c1")).await.expect("insert");
    assert!(store.delete_client("c1").await.expect("delete"));
    assert!(!store.delete_client("c1").await.expect("delete again"));
    assert_eq!(store.client("c1").await.expect("read"), None);
}

/// `count_clients` counts stored clients.
pub async fn clients_are_counted<S: OAuthStore>(store: S) {
    assert_eq!(store.count_clients().await.expect("count"), 0);
    for id in ["a", "b", "c"] {
        store.insert_client(&client(id)).await.expect("insert");
    }
    assert_eq!(store.count_clients().await.expect("count"), 3);
}

/// The first redemption gets the record; every later one is a replay with the record.
pub async fn a_code_is_redeemed_once_then_reported_replayed<S: OAuthStore>(store: S) {
    let c = code("h1", "g1", T0 + 60);
    store.insert_code(&c).await.expect("insert");
    assert_eq!(
        store.redeem_code("h1").await.expect("redeem"),
        Redemption::First(c.clone())
    );
    assert_eq!(
        store.redeem_code("h1").await.expect("again"),
        Redemption::Replayed(c.clone())
    );
    assert_eq!(
        store.redeem_code("h1").await.expect("third"),
        Redemption::Replayed(c)
    );
}

/// A hash never stored is unknown.
pub async fn an_unknown_code_is_unknown<S: OAuthStore>(store: S) {
    assert_eq!(
        store.redeem_code("nope").await.expect("redeem"),
        Redemption::Unknown
    );
    assert_eq!(
        store.redeem_refresh_token("nope").await.expect("redeem"),
        Redemption::Unknown
    );
}

/// A code hash is unique.
pub async fn inserting_a_code_twice_conflicts<S: OAuthStore>(store: S) {
    store
        .insert_code(&code("h1", "g1", T0 + 60))
        .await
        .expect("insert");
    let err = store
        .insert_code(&code("h1", "g2", T0 + 60))
        .await
        .expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    let Redemption::First(kept) = store.redeem_code("h1").await.expect("redeem") else {
        panic!("first redemption");
    };
    assert_eq!(kept.grant_id, "g1");
}

/// Of many concurrent redemptions of one code, exactly one is first.
pub async fn concurrent_code_redemptions_have_exactly_one_winner<S: OAuthStore + 'static>(
    store: S,
) {
    let store = Arc::new(store);
    store
        .insert_code(&code("h1", "g1", T0 + 60))
        .await
        .expect("insert");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.redeem_code("h1").await })
        })
        .collect();
    let mut first = 0;
    for task in tasks {
        match task.await.expect("task").expect("redeem") {
            Redemption::First(_) => first += 1,
            Redemption::Replayed(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(first, 1);
}

/// A refresh token redeems once; it stays readable (for revocation) afterwards.
pub async fn a_refresh_token_is_redeemed_once_and_stays_readable<S: OAuthStore>(store: S) {
    let t = refresh("r1", "g1", T0 + 3600);
    store.insert_refresh_token(&t).await.expect("insert");
    assert_eq!(
        store.refresh_token("r1").await.expect("read"),
        Some(t.clone())
    );
    assert_eq!(
        store.redeem_refresh_token("r1").await.expect("redeem"),
        Redemption::First(t.clone())
    );
    assert_eq!(
        store.redeem_refresh_token("r1").await.expect("again"),
        Redemption::Replayed(t.clone())
    );
    assert_eq!(store.refresh_token("r1").await.expect("read"), Some(t));
    let err = store
        .insert_refresh_token(&refresh("r1", "g2", T0))
        .await
        .expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
}

/// Of many concurrent redemptions of one refresh token, exactly one is first.
pub async fn concurrent_refresh_redemptions_have_exactly_one_winner<S: OAuthStore + 'static>(
    store: S,
) {
    let store = Arc::new(store);
    store
        .insert_refresh_token(&refresh("r1", "g1", T0 + 60))
        .await
        .expect("insert");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.redeem_refresh_token("r1").await })
        })
        .collect();
    let mut first = 0;
    for task in tasks {
        if let Redemption::First(_) = task.await.expect("task").expect("redeem") {
            first += 1;
        }
    }
    assert_eq!(first, 1);
}

/// Grants insert once and read back, revoked flag included.
pub async fn grants_are_inserted_once_and_read_back<S: OAuthStore>(store: S) {
    let g = grant("g1", "u1", T0 + 3600);
    store.insert_grant(&g).await.expect("insert");
    assert_eq!(store.grant("g1").await.expect("read"), Some(g.clone()));
    let err = store.insert_grant(&g).await.expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    assert_eq!(store.grant("g2").await.expect("read"), None);
}

/// Revoking a grant marks it and returns every access token recorded for it.
pub async fn revoking_a_grant_returns_its_access_tokens<S: OAuthStore>(store: S) {
    store
        .insert_grant(&grant("g1", "u1", T0 + 3600))
        .await
        .expect("insert");
    store
        .insert_grant(&grant("g2", "u1", T0 + 3600))
        .await
        .expect("insert");
    let a = AccessTokenRef::new("jti-a", T0 + 60);
    let b = AccessTokenRef::new("jti-b", T0 + 120);
    assert!(store.add_access_token("g1", &a).await.expect("add"));
    assert!(store.add_access_token("g1", &b).await.expect("add"));
    assert!(
        store
            .add_access_token("g2", &AccessTokenRef::new("jti-c", T0))
            .await
            .expect("add")
    );
    let mut tokens = store.revoke_grant("g1", T0).await.expect("revoke");
    tokens.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(tokens, vec![a, b]);
    assert!(
        store
            .grant("g1")
            .await
            .expect("read")
            .expect("present")
            .revoked
    );
    assert!(
        !store
            .grant("g2")
            .await
            .expect("read")
            .expect("present")
            .revoked
    );
    assert_eq!(
        store
            .revoke_grant("g1", T0)
            .await
            .expect("revoke again")
            .len(),
        2
    );
}

/// A grant revoked before it was inserted (a replay seen first) cannot be inserted later.
pub async fn revoking_an_unknown_grant_blocks_a_later_insert<S: OAuthStore>(store: S) {
    assert!(
        store
            .revoke_grant("g1", T0)
            .await
            .expect("revoke")
            .is_empty()
    );
    let marker = store.grant("g1").await.expect("read").expect("marker");
    assert!(marker.revoked);
    assert_eq!(marker.expires_at, T0 + GRANT_TOMBSTONE_SECS);
    let err = store
        .insert_grant(&grant("g1", "u1", T0 + 3600))
        .await
        .expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    assert!(
        !store
            .add_access_token("g1", &AccessTokenRef::new("jti", T0))
            .await
            .expect("add")
    );
}

/// `add_access_token` is true while the grant is active and false once revoked (or for an
/// unknown grant), and a token added after revocation still comes back from `revoke_grant`.
pub async fn access_tokens_report_whether_their_grant_is_active<S: OAuthStore>(store: S) {
    assert!(
        !store
            .add_access_token("none", &AccessTokenRef::new("x", T0))
            .await
            .expect("add")
    );
    store
        .insert_grant(&grant("g1", "u1", T0 + 3600))
        .await
        .expect("insert");
    assert!(
        store
            .add_access_token("g1", &AccessTokenRef::new("t1", T0 + 60))
            .await
            .expect("add")
    );
    store.revoke_grant("g1", T0).await.expect("revoke");
    assert!(
        !store
            .add_access_token("g1", &AccessTokenRef::new("t2", T0 + 60))
            .await
            .expect("add")
    );
    let ids: Vec<String> = store
        .revoke_grant("g1", T0)
        .await
        .expect("revoke")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(
        ids.contains(&"t1".to_owned()) && ids.contains(&"t2".to_owned()),
        "{ids:?}"
    );
}

/// `grants_of` lists a user's grants by id, no one else's.
pub async fn grants_of_a_user_are_listed_by_id<S: OAuthStore>(store: S) {
    for (id, user) in [("g3", "u1"), ("g1", "u1"), ("g2", "u2")] {
        store
            .insert_grant(&grant(id, user, T0 + 3600))
            .await
            .expect("insert");
    }
    store.revoke_grant("g3", T0).await.expect("revoke");
    let ids: Vec<(String, bool)> = store
        .grants_of("u1")
        .await
        .expect("list")
        .into_iter()
        .map(|g| (g.grant_id, g.revoked))
        .collect();
    assert_eq!(ids, vec![("g1".into(), false), ("g3".into(), true)]);
    assert!(store.grants_of("nobody").await.expect("list").is_empty());
}

/// A consent is replaced by the next one of the same user and client; listing is by
/// client; deletion says whether there was one.
pub async fn consents_are_replaced_listed_and_deleted<S: OAuthStore>(store: S) {
    store
        .put_consent(&consent("u1", "cb", "tools:read"))
        .await
        .expect("put");
    store
        .put_consent(&consent("u1", "ca", "tools:read"))
        .await
        .expect("put");
    store
        .put_consent(&consent("u2", "ca", "tools:read"))
        .await
        .expect("put");
    let wider = consent("u1", "cb", "tools:read tools:execute");
    store.put_consent(&wider).await.expect("replace");
    assert_eq!(store.consent("u1", "cb").await.expect("read"), Some(wider));
    let clients: Vec<String> = store
        .consents_of("u1")
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(clients, ["ca", "cb"]);
    assert!(store.delete_consent("u1", "cb").await.expect("delete"));
    assert!(
        !store
            .delete_consent("u1", "cb")
            .await
            .expect("delete again")
    );
    assert_eq!(store.consent("u1", "cb").await.expect("read"), None);
    assert!(store.consent("u2", "ca").await.expect("read").is_some());
}

/// `purge_expired(cutoff)` removes codes, refresh tokens, access-token records and grants
/// expiring at or before the cutoff (and the tokens of removed grants), counts them, and
/// keeps everything else, consents and clients included.
pub async fn purge_removes_exactly_what_expired<S: OAuthStore>(store: S) {
    store.insert_client(&client("c1")).await.expect("client");
    store
        .put_consent(&consent("u1", "c1", "tools:read"))
        .await
        .expect("consent");
    store
        .insert_code(&code("old", "g-old", T0 + 10))
        .await
        .expect("code");
    store
        .insert_code(&code("edge", "g-edge", T0 + 50))
        .await
        .expect("code");
    store
        .insert_code(&code("live", "g-live", T0 + 100))
        .await
        .expect("code");
    store
        .insert_grant(&grant("gone", "u1", T0 + 20))
        .await
        .expect("grant");
    store
        .insert_grant(&grant("kept", "u1", T0 + 500))
        .await
        .expect("grant");
    // Refresh tokens: one of the removed grant (still valid itself), one expired, one live.
    store
        .insert_refresh_token(&refresh("r-gone", "gone", T0 + 400))
        .await
        .expect("rt");
    store
        .insert_refresh_token(&refresh("r-old", "kept", T0 + 30))
        .await
        .expect("rt");
    store
        .insert_refresh_token(&refresh("r-live", "kept", T0 + 400))
        .await
        .expect("rt");
    // Access tokens: one of the removed grant, one expired, one live.
    store
        .add_access_token("gone", &AccessTokenRef::new("a-gone", T0 + 400))
        .await
        .expect("at");
    store
        .add_access_token("kept", &AccessTokenRef::new("a-old", T0 + 40))
        .await
        .expect("at");
    store
        .add_access_token("kept", &AccessTokenRef::new("a-live", T0 + 400))
        .await
        .expect("at");
    // Removed: codes old, edge; grant gone; refresh r-gone, r-old; access a-gone, a-old.
    assert_eq!(store.purge_expired(T0 + 50).await.expect("purge"), 7);
    assert_eq!(
        store.redeem_code("old").await.expect("redeem"),
        Redemption::Unknown
    );
    assert_eq!(
        store.redeem_code("edge").await.expect("redeem"),
        Redemption::Unknown
    );
    assert!(matches!(
        store.redeem_code("live").await.expect("redeem"),
        Redemption::First(_)
    ));
    assert_eq!(store.grant("gone").await.expect("read"), None);
    assert!(store.grant("kept").await.expect("read").is_some());
    assert_eq!(store.refresh_token("r-gone").await.expect("read"), None);
    assert_eq!(store.refresh_token("r-old").await.expect("read"), None);
    assert!(store.refresh_token("r-live").await.expect("read").is_some());
    let ids: Vec<String> = store
        .revoke_grant("kept", T0)
        .await
        .expect("revoke")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["a-live"]);
    assert!(store.client("c1").await.expect("read").is_some());
    assert!(store.consent("u1", "c1").await.expect("read").is_some());
    assert_eq!(store.purge_expired(T0 + 50).await.expect("purge again"), 0);
}

/// Quotes, Cypher and SQL syntax and Unicode in ids and fields are stored verbatim.
pub async fn unusual_strings_are_stored_verbatim<S: OAuthStore>(store: S) {
    let odd = [
        "it's",
        "\"quoted\"",
        "'; DROP TABLE oauth_clients; --",
        "}) DETACH DELETE n //",
        "ünïcødé 🔑",
        "back\\slash",
    ];
    for id in odd {
        let mut c = client(id);
        c.client_name = Some(format!("name {id}"));
        store.insert_client(&c).await.expect("insert");
        store
            .put_consent(&consent(id, id, "tools:read"))
            .await
            .expect("consent");
    }
    for id in odd {
        let c = store.client(id).await.expect("read").expect("present");
        assert_eq!(
            c.client_name.as_deref(),
            Some(format!("name {id}").as_str())
        );
        assert!(store.consent(id, id).await.expect("read").is_some(), "{id}");
    }
    assert_eq!(
        store.client("it").await.expect("read"),
        None,
        "no prefix matching"
    );
    assert_eq!(
        store.count_clients().await.expect("count"),
        odd.len() as u64
    );
}

/// Empty ids and hashes are refused with `StoreError::Invalid`.
pub async fn empty_keys_are_refused_as_invalid<S: OAuthStore>(store: S) {
    let checks = [
        store.insert_client(&client("")).await.err(),
        store.insert_code(&code("", "g", T0)).await.err(),
        store.insert_grant(&grant("", "u", T0)).await.err(),
        store
            .insert_refresh_token(&refresh("", "g", T0))
            .await
            .err(),
        store
            .put_consent(&consent("", "c", "tools:read"))
            .await
            .err(),
        store
            .put_consent(&consent("u", "", "tools:read"))
            .await
            .err(),
        store.revoke_grant("", T0).await.err(),
    ];
    for err in checks {
        assert!(matches!(err, Some(StoreError::Invalid(_))), "got {err:?}");
    }
}

/// The store works as an `Arc<dyn OAuthStore>`, the way the server holds it.
pub async fn store_works_behind_a_shared_trait_object<S: OAuthStore + 'static>(store: S) {
    let shared: Arc<dyn OAuthStore> = Arc::new(store);
    shared.insert_client(&client("c1")).await.expect("insert");
    assert!(
        Arc::clone(&shared)
            .client("c1")
            .await
            .expect("read")
            .is_some()
    );
}

/// End to end through the authorization server: a code used twice revokes the access
/// token and refresh token the first use issued.
pub async fn a_replayed_code_revokes_the_tokens_it_issued<S: OAuthStore + 'static>(store: S) {
    let flow = e2e::Flow::new(Arc::new(store)).await;
    let (code, verifier) = flow.code().await;
    let first = flow
        .exchange(&code, &verifier)
        .await
        .expect("first exchange");
    let again = flow
        .exchange(&code, &verifier)
        .await
        .expect_err("replay refused");
    assert_eq!(again.error, crate::ErrorCode::InvalidGrant);
    assert!(
        flow.tokens.is_revoked(&first.access_token),
        "access token revoked"
    );
    let refresh = first.refresh_token.expect("refresh token");
    let err = flow
        .refresh(&refresh)
        .await
        .expect_err("refresh of a revoked grant");
    assert_eq!(err.error, crate::ErrorCode::InvalidGrant);
}

/// End to end: a rotated-out refresh token used again revokes the whole family, including
/// the newest refresh token and access token.
pub async fn a_reused_refresh_token_revokes_its_family<S: OAuthStore + 'static>(store: S) {
    let flow = e2e::Flow::new(Arc::new(store)).await;
    let (code, verifier) = flow.code().await;
    let first = flow.exchange(&code, &verifier).await.expect("exchange");
    let old = first.refresh_token.expect("refresh token");
    let second = flow.refresh(&old).await.expect("rotation");
    let newest = second.refresh_token.clone().expect("rotated refresh token");
    assert_ne!(newest, old);
    let reuse = flow.refresh(&old).await.expect_err("reuse refused");
    assert_eq!(reuse.error, crate::ErrorCode::InvalidGrant);
    assert!(flow.tokens.is_revoked(&first.access_token));
    assert!(flow.tokens.is_revoked(&second.access_token));
    let err = flow.refresh(&newest).await.expect_err("family revoked");
    assert_eq!(err.error, crate::ErrorCode::InvalidGrant);
}

/// End to end: what the server stores of a code, a refresh token and a client secret is
/// their hex SHA-256, never their text: every record read back from the backend is free of
/// the values handed out, the records are found by hash, and a look-up by the clear value
/// finds nothing.
pub async fn codes_refresh_tokens_and_client_secrets_are_kept_only_as_hashes<
    S: OAuthStore + 'static,
>(
    store: S,
) {
    use crate::secret::hash_token;

    let store: Arc<dyn OAuthStore> = Arc::new(store);
    let flow = e2e::Flow::new(Arc::clone(&store)).await;
    let (code, verifier) = flow.code().await;
    let first = flow.exchange(&code, &verifier).await.expect("exchange");
    let refresh = first.refresh_token.expect("refresh token");
    let rotated = flow.refresh(&refresh).await.expect("rotation");
    let newest = rotated.refresh_token.expect("rotated refresh token");
    let registered = flow
        .server
        .register(
            br#"{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_post"}"#,
            None,
        )
        .await
        .expect("registration");
    let secret = registered
        .client_secret
        .expect("a confidential client gets a secret");

    // Found by hash, and only by hash.
    let stored_code = match store.redeem_code(&hash_token(&code)).await.expect("redeem") {
        Redemption::Replayed(record) => record,
        other => panic!("the exchanged code is stored by its hash: {other:?}"),
    };
    assert!(matches!(
        store.redeem_code(&code).await.expect("redeem by text"),
        Redemption::Unknown
    ));
    let mut records = vec![serde_json::to_string(&stored_code).expect("json")];
    for token in [&refresh, &newest] {
        let record = store
            .refresh_token(&hash_token(token))
            .await
            .expect("read")
            .expect("a refresh token is stored by its hash");
        records.push(serde_json::to_string(&record).expect("json"));
        assert!(store.refresh_token(token).await.expect("read").is_none());
    }
    let client = store
        .client(&registered.client_id)
        .await
        .expect("read")
        .expect("registered client");
    assert_eq!(
        client.secret_hash.as_deref(),
        Some(hash_token(&secret).as_str())
    );
    records.push(serde_json::to_string(&client).expect("json"));
    for grant in store.grants_of("id-alice").await.expect("grants") {
        records.push(serde_json::to_string(&grant).expect("json"));
    }
    for consent in store.consents_of("id-alice").await.expect("consents") {
        records.push(serde_json::to_string(&consent).expect("json"));
    }
    for value in [&code, &verifier, &refresh, &newest, &secret] {
        assert!(
            records.iter().all(|r| !r.contains(value.as_str())),
            "a code, verifier, refresh token or secret is stored in clear"
        );
    }
}

mod e2e {
    use std::sync::Arc;

    use crate::config::{OAuthConfig, StaticClientConfig};
    use crate::error::ErrorResponse;
    use crate::pkce::s256_challenge;
    use crate::server::{AuthorizationServer, TokenResponse};
    use crate::store::OAuthStore;
    use crate::testing::{TestBrowser, TestTokens, TestUsers, encode, redirect_params};

    pub(super) struct Flow {
        pub(super) server: AuthorizationServer,
        pub(super) tokens: Arc<TestTokens>,
    }

    const REDIRECT: &str = "http://127.0.0.1/cb";

    impl Flow {
        pub(super) async fn new(store: Arc<dyn OAuthStore>) -> Self {
            let users = Arc::new(TestUsers::new());
            users.add("alice", "correct horse", "tools:read tools:execute");
            let tokens = Arc::new(TestTokens::new());
            let config = OAuthConfig::new("https://as.example", ["tools:read", "tools:execute"])
                .with_default_scopes(["tools:read"])
                .with_client(StaticClientConfig::public("cli", [REDIRECT]));
            let server = AuthorizationServer::builder(config)
                .store(store)
                .users(users)
                .tokens(Arc::clone(&tokens) as Arc<dyn crate::AccessTokenIssuer>)
                .build()
                .expect("server");
            Self { server, tokens }
        }

        pub(super) async fn code(&self) -> (String, String) {
            let verifier = format!("v-{}", crate::secret::random_token());
            let query = encode(&[
                ("response_type", "code"),
                ("client_id", "cli"),
                ("redirect_uri", "http://127.0.0.1:4567/cb"),
                ("code_challenge", &s256_challenge(&verifier)),
                ("code_challenge_method", "S256"),
                ("state", "xyz"),
            ]);
            let mut browser = TestBrowser::new();
            let login = browser.authorize(&self.server, &query).await;
            let consent = browser
                .log_in(&self.server, &login, "alice", "correct horse")
                .await;
            let done = browser.decide(&self.server, &consent, "allow", false).await;
            let params = redirect_params(&done);
            (
                params.get("code").cloned().expect("code in redirect"),
                verifier,
            )
        }

        pub(super) async fn exchange(
            &self,
            code: &str,
            verifier: &str,
        ) -> Result<TokenResponse, ErrorResponse> {
            let form = encode(&[
                ("grant_type", "authorization_code"),
                ("client_id", "cli"),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", "http://127.0.0.1:4567/cb"),
            ]);
            self.server.token(form.as_bytes(), None).await
        }

        pub(super) async fn refresh(&self, token: &str) -> Result<TokenResponse, ErrorResponse> {
            let form = encode(&[
                ("grant_type", "refresh_token"),
                ("client_id", "cli"),
                ("refresh_token", token),
            ]);
            self.server.token(form.as_bytes(), None).await
        }
    }
}
