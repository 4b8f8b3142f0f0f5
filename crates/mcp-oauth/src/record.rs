//! What the store keeps: clients, authorization codes, grants (refresh-token families) with
//! their access-token ids, refresh tokens and remembered consents.
//!
//! Codes, refresh tokens and client secrets appear only as the hex SHA-256 of their value.
//! Times are Unix seconds.

use serde::{Deserialize, Serialize};

use crate::scope::ScopeSet;

/// How a client became known to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientSource {
    /// Registered in the server's configuration.
    Config,
    /// Registered through Dynamic Client Registration (RFC 7591); its name is self-asserted.
    Dynamic,
    /// Described by a Client ID Metadata Document at its `https://` client id.
    MetadataDocument,
}

/// How a client authenticates at the token and revocation endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// A public client: no secret; PKCE protects its codes.
    None,
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The RFC 7591 name (`none`, `client_secret_basic`, `client_secret_post`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

/// A registered client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The client id.
    pub client_id: String,
    /// Where the registration came from.
    pub source: ClientSource,
    /// The hex SHA-256 of the client secret, for a confidential client.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// How the client authenticates.
    pub auth_method: AuthMethod,
    /// The redirect URIs, matched exactly (loopback `http://` with any port).
    pub redirect_uris: Vec<String>,
    /// Whether the client may use refresh tokens.
    pub refresh_tokens: bool,
    /// The name shown on the consent page (self-asserted unless from configuration).
    #[serde(default)]
    pub client_name: Option<String>,
    /// The client's home page.
    #[serde(default)]
    pub client_uri: Option<String>,
    /// The scopes the client may get; `None`: any supported scope.
    #[serde(default)]
    pub scope: Option<ScopeSet>,
    /// RFC 7591 `software_id`.
    #[serde(default)]
    pub software_id: Option<String>,
    /// RFC 7591 `software_version`.
    #[serde(default)]
    pub software_version: Option<String>,
    /// When the client was registered.
    pub created_at: i64,
    /// The application's own user interface: consent implied (configuration only).
    #[serde(default)]
    pub first_party: bool,
}

impl ClientRecord {
    /// A public client (no secret) with these redirect URIs, registered now.
    pub fn public(
        client_id: impl Into<String>,
        source: ClientSource,
        redirect_uris: Vec<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            source,
            secret_hash: None,
            auth_method: AuthMethod::None,
            redirect_uris,
            refresh_tokens: true,
            client_name: None,
            client_uri: None,
            scope: None,
            software_id: None,
            software_version: None,
            created_at: chrono::Utc::now().timestamp(),
            first_party: false,
        }
    }

    /// Whether the client must authenticate with a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }
}

/// An issued authorization code, valid once until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeRecord {
    /// The hex SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authorized it.
    pub user_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The granted scopes.
    pub scope: ScopeSet,
    /// The resource (audience) tokens will be bound to.
    pub resource: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The grant the code's tokens will belong to (revoked if the code is replayed).
    pub grant_id: String,
    /// When it was issued.
    pub issued_at: i64,
    /// When it expires.
    pub expires_at: i64,
}

/// A grant: what one authorization (one code) led to, the family of its refresh tokens and
/// the ids of the access tokens minted for it. Revoking it revokes all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GrantRecord {
    /// The grant id.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The granted scopes.
    pub scope: ScopeSet,
    /// The resource (audience).
    pub resource: String,
    /// When it was created.
    pub created_at: i64,
    /// When it ends, whatever its refresh tokens say.
    pub expires_at: i64,
    /// Whether it was revoked (by the user, a replayed code, a reused refresh token or the
    /// revocation endpoint).
    pub revoked: bool,
}

/// The id and expiry of an access token minted for a grant, so that it can be revoked with
/// the grant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessTokenRef {
    /// The token's id (the JWT `jti`).
    pub id: String,
    /// When it expires.
    pub expires_at: i64,
}

impl AccessTokenRef {
    /// A reference to an access token.
    pub fn new(id: impl Into<String>, expires_at: i64) -> Self {
        Self {
            id: id.into(),
            expires_at,
        }
    }
}

/// An issued refresh token, valid once (each use rotates it) until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefreshTokenRecord {
    /// The hex SHA-256 of the token.
    pub token_hash: String,
    /// The grant (family) it belongs to.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The scopes it may be exchanged for.
    pub scope: ScopeSet,
    /// The resource (audience).
    pub resource: String,
    /// When it was issued.
    pub issued_at: i64,
    /// When it expires.
    pub expires_at: i64,
}

/// A consent a user asked to be remembered: the client may get these scopes for these
/// resources without asking again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConsentRecord {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The consented scopes.
    pub scope: ScopeSet,
    /// The consented resources, sorted, without duplicates.
    pub resources: Vec<String>,
    /// When consent was first given.
    pub granted_at: i64,
    /// When it was last extended.
    pub updated_at: i64,
}

impl ConsentRecord {
    /// Whether this consent covers `scope` for `resource`.
    pub fn covers(&self, scope: &ScopeSet, resource: &str) -> bool {
        scope.is_subset(&self.scope) && self.resources.iter().any(|r| r == resource)
    }
}

/// A client connected to a user's account: its remembered consent and its active grants
/// ([`AuthorizationServer::connections`](crate::AuthorizationServer::connections)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connection {
    /// The client id.
    pub client_id: String,
    /// The client, when known without fetching (configured, registered, or a cached
    /// metadata document).
    pub client: Option<ClientRecord>,
    /// The remembered consent, if the user asked for one.
    pub consent: Option<ConsentRecord>,
    /// The active (not revoked, not expired) grants, by id.
    pub grants: Vec<GrantRecord>,
}

impl Connection {
    pub(crate) fn empty(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client: None,
            consent: None,
            grants: Vec::new(),
        }
    }
}

/// The outcome of redeeming a single-use value (a code or a refresh token).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redemption<T> {
    /// Nothing with that hash is stored (never issued, or purged).
    Unknown,
    /// This call is the first to redeem it.
    First(T),
    /// It had been redeemed before: a replay.
    Replayed(T),
}
