//! The shared [`RoleStore`] conformance suite (feature `testing`).
//!
//! Mount it in a backend's integration test with [`role_store_conformance!`](crate::role_store_conformance),
//! which expands to one `#[tokio::test]` per case below. Each case gets a fresh store from the
//! constructor expression and assumes it starts empty.

use std::sync::Arc;

use mcp_core::StoreError;

use crate::store::RoleStore;

/// Expands to one `#[tokio::test]` per conformance case for a [`RoleStore`] backend.
///
/// The argument is any expression that evaluates to a future resolving to the store; it is
/// evaluated afresh for every test, and each store must start empty (use a new file, database
/// or tenant per call). With `optional:` in front, the future resolves to `Option<store>`
/// instead, and `None` skips the test (e.g. when no test server is configured).
///
/// The mounting crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.
///
/// ```ignore
/// // tests/memory.rs
/// mcp_rbac::role_store_conformance!(async { mcp_rbac::store::memory::MemoryRoleStore::new() });
///
/// // tests/neo4j.rs
/// mcp_rbac::role_store_conformance!(optional: async { connect_from_env().await });
/// ```
#[macro_export]
macro_rules! role_store_conformance {
    (optional: $make:expr) => {
        $crate::__role_store_cases!(
            $make;
            assigned_role_is_listed_by_roles_of,
            user_without_roles_has_the_viewer_role,
            revoke_takes_effect_immediately,
            revoking_the_last_role_falls_back_to_viewer,
            assigning_twice_is_idempotent,
            revoking_an_unheld_role_is_a_no_op,
            roles_of_is_sorted_and_deduplicated,
            explicit_viewer_assignment_is_kept_alongside_other_roles,
            users_with_lists_exactly_the_holders_sorted,
            users_with_an_unassigned_role_is_empty,
            one_users_roles_do_not_leak_to_another,
            user_ids_are_matched_exactly_and_case_sensitively,
            unicode_user_ids_round_trip,
            hostile_looking_user_ids_are_plain_data,
            concurrent_assigns_all_land,
            concurrent_assign_and_revoke_of_the_same_role_leave_a_consistent_state,
            invalid_user_ids_and_role_names_are_refused_as_invalid,
        );
    };
    ($make:expr) => {
        $crate::role_store_conformance!(optional: async { ::core::option::Option::Some($make.await) });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __role_store_cases {
    ($make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                match $make.await {
                    ::core::option::Option::Some(store) => $crate::conformance::$case(store).await,
                    ::core::option::Option::None => {
                        ::std::eprintln!("skipped {}: no store configured", ::core::stringify!($case));
                    }
                }
            }
        )+
    };
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// After `assign_role`, `roles_of` lists the role.
pub async fn assigned_role_is_listed_by_roles_of<S: RoleStore>(store: S) {
    assert!(
        store.assign_role("alice", "developer").await.unwrap(),
        "first assign reports a change"
    );
    assert_eq!(store.roles_of("alice").await.unwrap(), ["developer"]);
}

/// A user never assigned anything has exactly `viewer`.
pub async fn user_without_roles_has_the_viewer_role<S: RoleStore>(store: S) {
    assert_eq!(store.roles_of("nobody").await.unwrap(), ["viewer"]);
}

/// A revoked role is gone from the very next read.
pub async fn revoke_takes_effect_immediately<S: RoleStore>(store: S) {
    store.assign_role("alice", "admin").await.unwrap();
    store.assign_role("alice", "developer").await.unwrap();
    assert!(
        store.revoke_role("alice", "admin").await.unwrap(),
        "revoking a held role reports a change"
    );
    assert_eq!(store.roles_of("alice").await.unwrap(), ["developer"]);
    assert!(store.users_with("admin").await.unwrap().is_empty());
}

/// Revoking every role leaves the user with the default `viewer`.
pub async fn revoking_the_last_role_falls_back_to_viewer<S: RoleStore>(store: S) {
    store.assign_role("alice", "admin").await.unwrap();
    store.revoke_role("alice", "admin").await.unwrap();
    assert_eq!(store.roles_of("alice").await.unwrap(), ["viewer"]);
}

/// Assigning a held role again succeeds, reports no change and stores it once.
pub async fn assigning_twice_is_idempotent<S: RoleStore>(store: S) {
    assert!(store.assign_role("alice", "developer").await.unwrap());
    assert!(!store.assign_role("alice", "developer").await.unwrap());
    assert_eq!(store.roles_of("alice").await.unwrap(), ["developer"]);
    assert_eq!(store.users_with("developer").await.unwrap(), ["alice"]);
}

/// Revoking a role the user does not have succeeds and reports no change.
pub async fn revoking_an_unheld_role_is_a_no_op<S: RoleStore>(store: S) {
    assert!(!store.revoke_role("alice", "admin").await.unwrap());
    store.assign_role("alice", "developer").await.unwrap();
    assert!(!store.revoke_role("alice", "admin").await.unwrap());
    assert_eq!(store.roles_of("alice").await.unwrap(), ["developer"]);
}

/// `roles_of` returns roles in sorted order regardless of assignment order.
pub async fn roles_of_is_sorted_and_deduplicated<S: RoleStore>(store: S) {
    for role in ["ops", "admin", "developer", "admin", "auditor"] {
        store.assign_role("alice", role).await.unwrap();
    }
    assert_eq!(
        store.roles_of("alice").await.unwrap(),
        ["admin", "auditor", "developer", "ops"]
    );
}

/// An explicitly assigned `viewer` is listed once, next to other roles.
pub async fn explicit_viewer_assignment_is_kept_alongside_other_roles<S: RoleStore>(store: S) {
    store.assign_role("alice", "viewer").await.unwrap();
    store.assign_role("alice", "developer").await.unwrap();
    assert_eq!(
        store.roles_of("alice").await.unwrap(),
        ["developer", "viewer"]
    );
    assert_eq!(store.users_with("viewer").await.unwrap(), ["alice"]);
}

/// `users_with` lists every holder of a role, sorted, and nobody else.
pub async fn users_with_lists_exactly_the_holders_sorted<S: RoleStore>(store: S) {
    for user in ["carol", "alice", "bob"] {
        store.assign_role(user, "developer").await.unwrap();
    }
    store.assign_role("dave", "admin").await.unwrap();
    assert_eq!(
        store.users_with("developer").await.unwrap(),
        strings(&["alice", "bob", "carol"])
    );
    assert_eq!(store.users_with("admin").await.unwrap(), ["dave"]);
}

/// A role nobody holds has no users; implicit viewers are not listed.
pub async fn users_with_an_unassigned_role_is_empty<S: RoleStore>(store: S) {
    store.roles_of("alice").await.unwrap();
    assert!(store.users_with("admin").await.unwrap().is_empty());
    assert!(store.users_with("viewer").await.unwrap().is_empty());
}

/// Assigning or revoking for one user never changes another's roles.
pub async fn one_users_roles_do_not_leak_to_another<S: RoleStore>(store: S) {
    store.assign_role("alice", "admin").await.unwrap();
    store.assign_role("bob", "developer").await.unwrap();
    assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"]);
    assert_eq!(store.roles_of("bob").await.unwrap(), ["developer"]);
    store.revoke_role("bob", "developer").await.unwrap();
    assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"]);
    assert_eq!(store.roles_of("bob").await.unwrap(), ["viewer"]);
}

/// `alice`, `Alice` and `alice ` are three different users.
pub async fn user_ids_are_matched_exactly_and_case_sensitively<S: RoleStore>(store: S) {
    store.assign_role("alice", "admin").await.unwrap();
    assert_eq!(store.roles_of("Alice").await.unwrap(), ["viewer"]);
    assert_eq!(store.roles_of("alice ").await.unwrap(), ["viewer"]);
    assert_eq!(store.roles_of("alic").await.unwrap(), ["viewer"]);
    assert_eq!(store.roles_of("alice").await.unwrap(), ["admin"]);
}

/// Non-ASCII user ids are stored and listed unchanged.
pub async fn unicode_user_ids_round_trip<S: RoleStore>(store: S) {
    let users = ["Zoë", "用户-42", "🔑-admin", "ñandú@example.org"];
    for user in users {
        store.assign_role(user, "developer").await.unwrap();
        assert_eq!(store.roles_of(user).await.unwrap(), ["developer"], "{user}");
    }
    let mut expected = strings(&users);
    expected.sort();
    assert_eq!(store.users_with("developer").await.unwrap(), expected);
}

/// User ids that look like query syntax are stored as plain data.
pub async fn hostile_looking_user_ids_are_plain_data<S: RoleStore>(store: S) {
    let users = [
        "'; DROP TABLE role_assignments; --",
        "x' OR '1'='1",
        "MATCH (n) DETACH DELETE n",
        "%",
        "_",
    ];
    for user in users {
        store.assign_role(user, "admin").await.unwrap();
    }
    for user in users {
        assert_eq!(store.roles_of(user).await.unwrap(), ["admin"], "{user}");
    }
    assert_eq!(store.roles_of("anyone").await.unwrap(), ["viewer"]);
    assert_eq!(store.users_with("admin").await.unwrap().len(), users.len());
}

/// Many concurrent assigns, to one user and to many, all land.
pub async fn concurrent_assigns_all_land<S: RoleStore + 'static>(store: S) {
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.assign_role("shared", &format!("role-{i:02}")).await?;
            store
                .assign_role(&format!("user-{i:02}"), "developer")
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task ran").expect("assign succeeded");
    }
    let expected: Vec<String> = (0..16).map(|i| format!("role-{i:02}")).collect();
    assert_eq!(store.roles_of("shared").await.unwrap(), expected);
    let users: Vec<String> = (0..16).map(|i| format!("user-{i:02}")).collect();
    assert_eq!(store.users_with("developer").await.unwrap(), users);
}

/// Racing assigns and revokes of one role end with it either held or not, never duplicated.
pub async fn concurrent_assign_and_revoke_of_the_same_role_leave_a_consistent_state<
    S: RoleStore + 'static,
>(
    store: S,
) {
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                store.assign_role("alice", "admin").await
            } else {
                store.revoke_role("alice", "admin").await
            }
        }));
    }
    for task in tasks {
        task.await.expect("task ran").expect("store call succeeded");
    }
    let roles = store.roles_of("alice").await.unwrap();
    assert!(roles == ["admin"] || roles == ["viewer"], "{roles:?}");
    let holders = store.users_with("admin").await.unwrap();
    assert_eq!(holders.is_empty(), roles == ["viewer"]);
}

/// Bad input is refused with [`StoreError::Invalid`] and writes nothing.
pub async fn invalid_user_ids_and_role_names_are_refused_as_invalid<S: RoleStore>(store: S) {
    let invalid = |r: Result<bool, StoreError>| matches!(r, Err(StoreError::Invalid(_)));
    assert!(invalid(store.assign_role("", "admin").await));
    assert!(invalid(store.assign_role("nul\0byte", "admin").await));
    assert!(invalid(
        store
            .assign_role(&"u".repeat(crate::store::MAX_USER_ID_LEN + 1), "admin")
            .await
    ));
    assert!(invalid(store.assign_role("alice", "").await));
    assert!(invalid(store.assign_role("alice", "Admin").await));
    assert!(invalid(store.assign_role("alice", "admin role").await));
    assert!(invalid(store.revoke_role("", "admin").await));
    assert!(invalid(store.revoke_role("alice", "Admin").await));
    assert!(matches!(
        store.roles_of("").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.users_with("not a role").await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.roles_of("alice").await.unwrap(), ["viewer"]);
    assert!(store.users_with("admin").await.unwrap().is_empty());
}
