#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//!
//! Roles are not kept here: they live in `mcp_rbac`'s `RoleStore`, keyed by [`User::id`].
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_core::StoreError;
use serde::Serialize;

pub mod cached;
pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
pub mod password;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

pub use cached::CachedUserStore;
pub use memory::MemoryUserStore;
#[cfg(feature = "neo4j")]
pub use neo4j::Neo4jUserStore;
pub use password::{Busy, PasswordGate};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteUserStore;

/// Longest accepted user name, in bytes.
pub const MAX_USERNAME_LEN: usize = 64;
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password, in characters (so at most 4 KiB: the argon2 input is bounded).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// Tokens issued (`iat`, whole seconds since the Unix epoch) before this second are
    /// refused. A password change, a disable and [`UserStore::invalidate_tokens`] (a role taken
    /// away) move it past every token issued so far ([`next_tokens_valid_from`]), so they end
    /// every session the user had, also after a re-enable.
    #[serde(skip)]
    pub tokens_valid_from: Option<i64>,
    /// When an administrator last lifted this account's log-in lock-out
    /// ([`UserStore::record_unlock`]); lock-outs that began before it no longer count.
    #[serde(skip)]
    pub unlocked_at: Option<DateTime<Utc>>,
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
            tokens_valid_from: None,
            unlocked_at: None,
        }
    }

    /// Whether a token issued at `iat` (seconds since the Unix epoch) still counts: not before
    /// [`User::tokens_valid_from`]. A token without `iat` counts only while the account never
    /// ended its sessions.
    pub fn accepts_token_issued_at(&self, iat: Option<u64>) -> bool {
        match self.tokens_valid_from {
            None => true,
            Some(from) => iat.is_some_and(|iat| i64::try_from(iat).is_ok_and(|iat| iat >= from)),
        }
    }

    /// The time to issue a new token at: `now`, or [`User::tokens_valid_from`] when that is
    /// later (a token issued in the second its sessions ended would otherwise be refused, as
    /// `iat` counts whole seconds; the verifier's leeway covers the second ahead).
    pub fn token_issue_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.tokens_valid_from {
            Some(from) if now.timestamp() < from => {
                DateTime::from_timestamp(from, 0).unwrap_or(now)
            }
            _ => now,
        }
    }
}

/// The [`User::tokens_valid_from`] that ends every session issued so far, when the last one
/// was `old`: the second after `now`, or after `old` when that is later (tokens issued at
/// `old`, ahead of the clock, end too). Stores compute the same in their update.
pub fn next_tokens_valid_from(old: Option<i64>, now: DateTime<Utc>) -> i64 {
    let next = now.timestamp() + 1;
    old.map_or(next, |old| next.max(old + 1))
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
    /// Disables or enables a user; [`StoreError::NotFound`] when there is none. Disabling also
    /// ends every session ([`next_tokens_valid_from`]), in the same write.
    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<User, StoreError>;
    /// Replaces a user's password hash and ends every session ([`next_tokens_valid_from`]),
    /// in one write; [`StoreError::NotFound`] when there is none.
    async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Ends every session: moves [`User::tokens_valid_from`] past every token issued so far
    /// ([`next_tokens_valid_from`]), so they stop working (used when a role is taken away);
    /// [`StoreError::NotFound`] when there is none.
    async fn invalidate_tokens(&self, id: &str) -> Result<(), StoreError>;
    /// Sets [`User::unlocked_at`] to now (an administrator lifted the log-in lock-out);
    /// [`StoreError::NotFound`] when there is none.
    async fn record_unlock(&self, id: &str) -> Result<(), StoreError>;
    /// Removes the account (its name can be taken again; its id never comes back);
    /// [`StoreError::NotFound`] when there is none. Roles live in the role store: callers
    /// end the sessions and take the roles first.
    async fn delete(&self, id: &str) -> Result<(), StoreError>;
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
    async fn invalidate_tokens(&self, id: &str) -> Result<(), StoreError> {
        (**self).invalidate_tokens(id).await
    }
    async fn record_unlock(&self, id: &str) -> Result<(), StoreError> {
        (**self).record_unlock(id).await
    }
    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        (**self).delete(id).await
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
    // Counted in characters, as JSON Schema's `maxLength` (the API document states it).
    if password.chars().count() > MAX_PASSWORD_LEN {
        return Err(StoreError::Invalid(format!(
            "password must be at most {MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt, in memory of its own (CPU-heavy: call
/// off the async threads; a server goes through its [`PasswordGate`] instead).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    password::hash_with(password, &mut Vec::new())
}

/// Checks a password against a PHC hash, in memory of its own (CPU-heavy: call off the async
/// threads; a server goes through its [`PasswordGate`] instead). A malformed hash never
/// matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    password::verify_with(password, hash, &mut Vec::new())
}

/// A hash of a random password, checked against when the user name is unknown so that an
/// unknown user and a wrong password take about the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&uuid::Uuid::new_v4().to_string()).unwrap_or_else(|_| String::new())
    })
}

/// Adds a user with a validated name and password (hashed on a blocking thread, in memory of
/// its own; a server uses [`create_user_with`]).
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

/// [`create_user`] with the password hashed through `gate` (bounded concurrency and memory).
pub async fn create_user_with(
    store: &dyn UserStore,
    gate: &PasswordGate,
    username: &str,
    password: &str,
) -> Result<User, StoreError> {
    validate_username(username)?;
    validate_password(password)?;
    let hash = gate.hash(password.to_owned()).await?;
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
    fn tokens_issued_in_or_before_the_second_of_a_session_end_are_refused() {
        let mut user = User::new("u", "h");
        assert!(user.accepts_token_issued_at(None));
        let ended = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.700Z")
            .unwrap()
            .to_utc();
        let secs = u64::try_from(ended.timestamp()).unwrap();
        user.tokens_valid_from = Some(next_tokens_valid_from(None, ended));
        assert!(!user.accepts_token_issued_at(None));
        assert!(!user.accepts_token_issued_at(Some(secs - 1)));
        assert!(!user.accepts_token_issued_at(Some(secs)));
        assert!(user.accepts_token_issued_at(Some(secs + 1)));
        // A token issued later in the same second gets the next second as `iat`.
        let same_second = ended + chrono::Duration::milliseconds(200);
        let at = user.token_issue_time(same_second);
        assert_eq!(at.timestamp(), ended.timestamp() + 1);
        let early = u64::try_from(at.timestamp()).unwrap();
        assert!(user.accepts_token_issued_at(Some(early)));
        // A second end in that same second also ends the token issued ahead of the clock.
        user.tokens_valid_from = Some(next_tokens_valid_from(user.tokens_valid_from, same_second));
        assert!(!user.accepts_token_issued_at(Some(early)));
        let later = ended + chrono::Duration::seconds(5);
        assert_eq!(user.token_issue_time(later), later);
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
