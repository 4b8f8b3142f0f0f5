//! What one token may carry beyond the configuration's defaults.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Per-token settings for [`JwtIssuer::issue_with`](crate::JwtIssuer::issue_with): its own
/// audience, scopes, client, lifetime, issue time and custom claims. Everything left unset
/// takes the configuration's default.
///
/// ```
/// use mcp_jwt::TokenOptions;
///
/// let options = TokenOptions::new()
///     .audience("https://mcp.example/mcp")
///     .scope(["tools:read", "graph:query"])
///     .client_id("my-cli")
///     .ttl_secs(900)
///     .claim("tenant", "acme");
/// assert_eq!(options.ttl_secs, Some(900));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TokenOptions {
    /// The `aud` of this token, replacing the configured audience (an empty list writes no
    /// `aud`).
    pub audience: Option<Vec<String>>,
    /// The scopes the token is limited to (`scope`); unset, it has no `scope` claim.
    pub scope: Option<Vec<String>>,
    /// The OAuth client it is issued to (`client_id`).
    pub client_id: Option<String>,
    /// Its lifetime in seconds, at most the configured maximum
    /// ([`JwtConfig::max_ttl_secs`](crate::JwtConfig::max_ttl_secs)); unset, the configured
    /// `ttl_secs`.
    pub ttl_secs: Option<u64>,
    /// The issue time (`iat` and `nbf`); unset, now.
    pub issued_at: Option<DateTime<Utc>>,
    /// Claims of the embedding service, written as they are. Names of
    /// [`RESERVED_CLAIMS`](crate::RESERVED_CLAIMS) are refused when the token is issued.
    pub claims: BTreeMap<String, Value>,
}

impl TokenOptions {
    /// No options: the configuration's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the token's one audience.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(vec![audience.into()]);
        self
    }

    /// Sets the token's audiences (several, or none to write no `aud`).
    #[must_use]
    pub fn audiences<S: Into<String>>(mut self, audiences: impl IntoIterator<Item = S>) -> Self {
        self.audience = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Limits the token to these scopes.
    #[must_use]
    pub fn scope<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scope = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Names the OAuth client the token is issued to.
    #[must_use]
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the lifetime in seconds.
    #[must_use]
    pub fn ttl_secs(mut self, ttl_secs: u64) -> Self {
        self.ttl_secs = Some(ttl_secs);
        self
    }

    /// Sets the issue time.
    #[must_use]
    pub fn issued_at(mut self, at: DateTime<Utc>) -> Self {
        self.issued_at = Some(at);
        self
    }

    /// Adds a custom claim (any JSON value: a string, number, boolean, array or object; use
    /// `serde_json::to_value` for your own types). A second claim of the same name replaces
    /// the first.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }
}
