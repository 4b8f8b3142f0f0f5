//! What the embedding application provides: user authentication and access tokens.
//!
//! The authorization server knows no passwords, roles or signing keys. The server binary
//! implements [`UserAuthenticator`] with its user store, lock-out and role policy, and
//! [`AccessTokenIssuer`] with its JWT issuer and revocation store.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_core::BoxError;

use crate::record::AccessTokenRef;
use crate::scope::ScopeSet;

/// A user who proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthenticatedUser {
    /// The stable user id (subject of the tokens).
    pub id: String,
    /// The name shown on the consent page.
    pub username: String,
    /// The scopes this user may grant: the user's permissions, written as scope tokens (for
    /// example `tools:execute`). Clients never get more than this.
    pub scopes: ScopeSet,
}

impl AuthenticatedUser {
    /// A user with an id, a display name and the scopes they may grant.
    pub fn new(id: impl Into<String>, username: impl Into<String>, scopes: ScopeSet) -> Self {
        Self {
            id: id.into(),
            username: username.into(),
            scopes,
        }
    }
}

/// Why a log-in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticationError {
    /// Unknown user, wrong password or disabled account (never told apart to the user).
    #[error("invalid user name or password")]
    InvalidCredentials,
    /// Too many failed attempts: the account or address is locked for a while.
    #[error("too many failed log-ins; locked")]
    LockedOut {
        /// When to try again, if known.
        retry_after_secs: Option<u64>,
    },
    /// The user store failed.
    #[error("user store unavailable")]
    Unavailable(#[source] BoxError),
}

/// Checks user names and passwords, and answers who a user is now.
#[async_trait]
pub trait UserAuthenticator: Send + Sync {
    /// Checks a user name and password (with the application's lock-out and audit).
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AuthenticatedUser, AuthenticationError>;

    /// The user with this id as of now, `None` when deleted or disabled. Used at every token
    /// issuance, so that a disabled user's grants stop working and lost permissions are not
    /// granted again.
    async fn user(&self, user_id: &str) -> Result<Option<AuthenticatedUser>, BoxError>;
}

#[async_trait]
impl<T: UserAuthenticator + ?Sized> UserAuthenticator for Arc<T> {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<AuthenticatedUser, AuthenticationError> {
        (**self).authenticate(username, password).await
    }
    async fn user(&self, user_id: &str) -> Result<Option<AuthenticatedUser>, BoxError> {
        (**self).user(user_id).await
    }
}

/// What an access token is minted for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequest {
    /// The user (`sub`).
    pub user_id: String,
    /// The client (RFC 9068 `client_id`).
    pub client_id: String,
    /// The granted scopes (`scope`).
    pub scope: ScopeSet,
    /// The resource the token is for (`aud`, RFC 8707).
    pub audience: String,
    /// The grant the token belongs to.
    pub grant_id: String,
}

/// A minted access token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MintedToken {
    /// The token text given to the client.
    pub token: String,
    /// Its id and expiry, recorded with the grant so it can be revoked with it.
    pub reference: AccessTokenRef,
    /// Lifetime in seconds from now (`expires_in` of the token response).
    pub expires_in: u64,
}

impl MintedToken {
    /// A minted token.
    pub fn new(token: impl Into<String>, reference: AccessTokenRef, expires_in: u64) -> Self {
        Self {
            token: token.into(),
            reference,
            expires_in,
        }
    }
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("reference", &self.reference)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// An access token presented to the revocation endpoint, as the issuer recognised it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresentedToken {
    /// Its id and expiry.
    pub reference: AccessTokenRef,
    /// The client it was issued to, if the token says.
    pub client_id: Option<String>,
}

impl PresentedToken {
    /// A recognised token.
    pub fn new(reference: AccessTokenRef, client_id: Option<String>) -> Self {
        Self {
            reference,
            client_id,
        }
    }
}

/// Mints and revokes access tokens (the server: JWTs with `aud`, `scope`, `client_id`).
#[async_trait]
pub trait AccessTokenIssuer: Send + Sync {
    /// Mints an access token.
    async fn mint(&self, request: &TokenRequest) -> Result<MintedToken, BoxError>;

    /// Revokes access tokens before they expire (a grant was revoked, a code replayed, a
    /// refresh token reused).
    async fn revoke(&self, tokens: &[AccessTokenRef]) -> Result<(), BoxError>;

    /// Recognises an access token presented for revocation: `None` when it is not a valid
    /// token of this issuer (RFC 7009 then answers 200 all the same).
    async fn recognise(&self, token: &str) -> Result<Option<PresentedToken>, BoxError>;
}

#[async_trait]
impl<T: AccessTokenIssuer + ?Sized> AccessTokenIssuer for Arc<T> {
    async fn mint(&self, request: &TokenRequest) -> Result<MintedToken, BoxError> {
        (**self).mint(request).await
    }
    async fn revoke(&self, tokens: &[AccessTokenRef]) -> Result<(), BoxError> {
        (**self).revoke(tokens).await
    }
    async fn recognise(&self, token: &str) -> Result<Option<PresentedToken>, BoxError> {
        (**self).recognise(token).await
    }
}
