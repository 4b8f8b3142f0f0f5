//! The authorization server's store: clients, codes, grants, refresh tokens and consents.

use std::sync::Arc;

use async_trait::async_trait;

pub use crate::record::{
    AccessTokenRef, AuthMethod, ClientRecord, ClientSource, CodeRecord, ConsentRecord, GrantRecord,
    Redemption, RefreshTokenRecord,
};
pub use mcp_core::StoreError;

pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// How long a revoked-grant marker for an unknown grant id is kept, in seconds: longer than
/// any code lives, so a code redeemed after its replay was seen still finds its grant revoked.
pub const GRANT_TOMBSTONE_SECS: i64 = 3600;

/// Persistent state of the authorization server.
///
/// Contract, checked for every backend by the conformance suite
/// (`oauth_store_conformance!`, feature `testing`):
///
/// * `insert_*` of an id or hash that exists fails with [`StoreError::Conflict`] and changes
///   nothing; `put_consent` replaces the consent of the same user and client.
/// * `redeem_code` and `redeem_refresh_token` are atomic: of any number of concurrent calls
///   for one hash, exactly one gets [`Redemption::First`]; every later call gets
///   [`Redemption::Replayed`] with the record; an unknown hash is [`Redemption::Unknown`].
///   Redemption does not look at expiry (the caller does).
/// * `revoke_grant` marks the grant revoked and returns the access tokens recorded for it;
///   for an unknown id it stores a revoked marker (expiring [`GRANT_TOMBSTONE_SECS`] after
///   `now`), so that a later `insert_grant` of that id conflicts. Revoking twice is fine.
/// * `add_access_token` records a token for a grant and returns whether the grant is still
///   active (exists and is not revoked); the token is recorded either way, so a concurrent
///   `revoke_grant` either returns it or makes this call return `false`.
/// * `purge_expired(cutoff)` removes codes, refresh tokens, grants (with their refresh and
///   access tokens) and access-token records whose `expires_at <= cutoff`; consents and
///   clients are kept. It returns how many records it removed.
/// * Listing (`grants_of`, `consents_of`) returns records in a stable order (by id).
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Stores a new client.
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// The client with this id.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Removes a client; whether it existed.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;
    /// How many clients are stored.
    async fn count_clients(&self) -> Result<u64, StoreError>;

    /// Stores a new authorization code.
    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError>;
    /// Redeems a code by hash (single use, atomic).
    async fn redeem_code(&self, code_hash: &str) -> Result<Redemption<CodeRecord>, StoreError>;

    /// Stores a new grant.
    async fn insert_grant(&self, grant: &GrantRecord) -> Result<(), StoreError>;
    /// The grant with this id.
    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError>;
    /// The grants of a user, by id.
    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantRecord>, StoreError>;
    /// Revokes a grant; returns the access tokens recorded for it.
    async fn revoke_grant(
        &self,
        grant_id: &str,
        now: i64,
    ) -> Result<Vec<AccessTokenRef>, StoreError>;
    /// Records an access token of a grant; whether the grant is still active.
    async fn add_access_token(
        &self,
        grant_id: &str,
        token: &AccessTokenRef,
    ) -> Result<bool, StoreError>;

    /// Stores a new refresh token.
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError>;
    /// The refresh token with this hash, redeemed or not.
    async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;
    /// Redeems a refresh token by hash (single use, atomic).
    async fn redeem_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Redemption<RefreshTokenRecord>, StoreError>;

    /// Stores (or replaces) the consent of a user for a client.
    async fn put_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError>;
    /// The consent of a user for a client.
    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    /// The consents of a user, by client id.
    async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Removes the consent of a user for a client; whether it existed.
    async fn delete_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError>;

    /// Removes what expired at or before `cutoff`; returns how many records went.
    async fn purge_expired(&self, cutoff: i64) -> Result<u64, StoreError>;
}

#[async_trait]
impl<T: OAuthStore + ?Sized> OAuthStore for Arc<T> {
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        (**self).insert_client(client).await
    }
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        (**self).client(client_id).await
    }
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        (**self).delete_client(client_id).await
    }
    async fn count_clients(&self) -> Result<u64, StoreError> {
        (**self).count_clients().await
    }
    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        (**self).insert_code(code).await
    }
    async fn redeem_code(&self, code_hash: &str) -> Result<Redemption<CodeRecord>, StoreError> {
        (**self).redeem_code(code_hash).await
    }
    async fn insert_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        (**self).insert_grant(grant).await
    }
    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        (**self).grant(grant_id).await
    }
    async fn grants_of(&self, user_id: &str) -> Result<Vec<GrantRecord>, StoreError> {
        (**self).grants_of(user_id).await
    }
    async fn revoke_grant(
        &self,
        grant_id: &str,
        now: i64,
    ) -> Result<Vec<AccessTokenRef>, StoreError> {
        (**self).revoke_grant(grant_id, now).await
    }
    async fn add_access_token(
        &self,
        grant_id: &str,
        token: &AccessTokenRef,
    ) -> Result<bool, StoreError> {
        (**self).add_access_token(grant_id, token).await
    }
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        (**self).insert_refresh_token(token).await
    }
    async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        (**self).refresh_token(token_hash).await
    }
    async fn redeem_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Redemption<RefreshTokenRecord>, StoreError> {
        (**self).redeem_refresh_token(token_hash).await
    }
    async fn put_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError> {
        (**self).put_consent(consent).await
    }
    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        (**self).consent(user_id, client_id).await
    }
    async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        (**self).consents_of(user_id).await
    }
    async fn delete_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
        (**self).delete_consent(user_id, client_id).await
    }
    async fn purge_expired(&self, cutoff: i64) -> Result<u64, StoreError> {
        (**self).purge_expired(cutoff).await
    }
}

/// A revoked marker for a grant id the store has never seen.
pub(crate) fn tombstone(grant_id: &str, now: i64) -> GrantRecord {
    GrantRecord {
        grant_id: grant_id.to_owned(),
        client_id: String::new(),
        user_id: String::new(),
        scope: crate::scope::ScopeSet::new(),
        resource: String::new(),
        created_at: now,
        expires_at: now.saturating_add(GRANT_TOMBSTONE_SECS),
        revoked: true,
    }
}

/// Refuses an empty key; shared by the backends.
pub(crate) fn check_key(what: &str, key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Invalid(format!("{what} must not be empty")));
    }
    Ok(())
}
