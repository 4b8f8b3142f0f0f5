//! User accounts: names, argon2 password hashes and a disabled flag.
//!
//! Roles are not kept here: they live in `mcp_rbac`'s `RoleStore`, keyed by [`User::id`].
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub mod cached;
pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
pub mod sqlite;

pub use cached::CachedUserStore;
pub use memory::MemoryUserStore;
#[cfg(feature = "neo4j")]
pub use neo4j::Neo4jUserStore;
pub use sqlite::SqliteUserStore;

/// Longest accepted user name, in bytes.
pub const MAX_USERNAME_LEN: usize = 64;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password, in bytes (argon2 cost is bounded by it).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    /// Stable id (a UUID); roles and audit events refer to it.
    pub id: String,
    /// Log-in name, unique.
    pub username: String,
    /// A disabled user can neither log in nor use an existing token.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// The PHC string of the argon2 hash.
    #[serde(skip)]
    pub password_hash: String,
}

impl User {
    /// A new, enabled account created now, with a fresh random id: what
    /// [`UserStore::create`] stores.
    pub(crate) fn new(username: &str, password_hash: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            disabled: false,
            created_at: Utc::now(),
            password_hash: password_hash.to_owned(),
        }
    }
}

/// Persistent user accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user; [`StoreError::Conflict`] when the name is taken.
    async fn create(&self, username: &str, password_hash: &str) -> Result<User, StoreError>;
    /// The user with this log-in name.
    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The user with this id.
    async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Every user, by name.
    async fn list(&self) -> Result<Vec<User>, StoreError>;
    /// Disables or enables a user; [`StoreError::NotFound`] when there is none.
    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError>;
    /// Replaces a user's password hash; [`StoreError::NotFound`] when there is none.
    async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Whether the store answers (for `/ready`).
    async fn ping(&self) -> Result<(), StoreError>;
}

#[async_trait]
impl<T: UserStore + ?Sized> UserStore for Arc<T> {
    async fn create(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        (**self).create(username, password_hash).await
    }
    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        (**self).by_username(username).await
    }
    async fn by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        (**self).by_id(id).await
    }
    async fn list(&self) -> Result<Vec<User>, StoreError> {
        (**self).list().await
    }
    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError> {
        (**self).set_disabled(id, disabled).await
    }
    async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        (**self).set_password_hash(id, password_hash).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
}

/// Refuses an empty, overlong or strange user name with [`StoreError::Invalid`].
pub fn validate_username(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_USERNAME_LEN {
        return Err(StoreError::Invalid(format!(
            "username must be 1 to {MAX_USERNAME_LEN} bytes"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
    {
        return Err(StoreError::Invalid(
            "username may contain only letters, digits, `.`, `_`, `@` and `-`".into(),
        ));
    }
    Ok(())
}

/// Refuses a too short or too long password with [`StoreError::Invalid`].
pub fn validate_password(password: &str) -> Result<(), StoreError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(StoreError::Invalid(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(StoreError::Invalid(format!(
            "password must be at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt (CPU-heavy: call off the async threads).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash password: {e}")))
}

/// Checks a password against a PHC hash (CPU-heavy: call off the async threads). A malformed
/// hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, checked against when the user name is unknown so that an
/// unknown user and a wrong password take about the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&uuid::Uuid::new_v4().to_string()).unwrap_or_else(|_| String::new())
    })
}

/// Adds a user with a validated name and password (hashed on a blocking thread).
pub async fn create_user(
    store: &dyn UserStore,
    username: &str,
    password: &str,
) -> Result<User, StoreError> {
    validate_username(username)?;
    validate_password(password)?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::backend("password hashing task failed", e))??;
    store.create(username, &hash).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn usernames_and_passwords_are_validated() {
        assert!(validate_username("alice.b@example-1").is_ok());
        for bad in ["", "has space", "semi;colon", &"a".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}

/// The conformance cases every [`UserStore`] passes.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

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
    }
}
