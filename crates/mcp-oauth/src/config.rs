//! Plain serde configuration of the authorization server, validated by
//! [`AuthorizationServer`](crate::AuthorizationServer)'s builder.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Error;
use crate::redirect::is_loopback_host;
use crate::secret::Secret;

/// Default lifetime of an authorization code: 60 seconds.
pub const DEFAULT_CODE_TTL_SECS: u64 = 60;
/// Longest authorization code lifetime accepted: 10 minutes (RFC 6749 §4.1.2).
pub const MAX_CODE_TTL_SECS: u64 = 600;
/// Default lifetime of each refresh token (renewed by every rotation): 30 days.
pub const DEFAULT_REFRESH_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;
/// Default absolute lifetime of a grant (a refresh token family): 90 days, after which the
/// user logs in again.
pub const DEFAULT_GRANT_MAX_SECS: u64 = 90 * 24 * 3600;
/// Default time a user has to finish the log-in and consent pages: 10 minutes.
pub const DEFAULT_PAGE_TTL_SECS: u64 = 600;
/// Shortest accepted page secret and client secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The authorization server's configuration (the `[oauth]` section of the server's file).
///
/// ```
/// let config: mcp_oauth::OAuthConfig = toml::from_str(r#"
///     issuer = "https://mcp.example.com"
///     scopes_supported = ["tools:read", "tools:execute"]
///     default_scopes = ["tools:read"]
/// "#)?;
/// assert_eq!(config.code_ttl_secs, 60);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OAuthConfig {
    /// The issuer identifier and base URL: the server's public URL (from configuration,
    /// never from a Host header), `https://`, or `http://` on a loopback host for
    /// development. Endpoints live under `{issuer}/oauth/`.
    pub issuer: String,
    /// The resources (RFC 8707 resource indicators) tokens may be issued for, i.e. the
    /// audiences. Default: `["{issuer}/mcp"]`. The first is used when a request names none.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Refuse authorization and token requests that name no `resource` (the MCP
    /// specification requires clients to send it). Default `false`: the first resource.
    #[serde(default)]
    pub require_resource: bool,
    /// Every scope a client may ask for (published in the metadata).
    pub scopes_supported: Vec<String>,
    /// The scopes requested when a client names none (and registered none).
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Descriptions of scopes shown on the consent page.
    #[serde(default)]
    pub scope_descriptions: BTreeMap<String, String>,
    /// Authorization code lifetime in seconds (default 60, at most 600).
    #[serde(default = "default_code_ttl")]
    pub code_ttl_secs: u64,
    /// Lifetime of each refresh token in seconds; every rotation issues a new one (default
    /// 30 days).
    #[serde(default = "default_refresh_ttl")]
    pub refresh_token_ttl_secs: u64,
    /// Absolute lifetime of a grant in seconds: no refresh token of the grant outlives it
    /// (default 90 days).
    #[serde(default = "default_grant_max")]
    pub grant_max_secs: u64,
    /// Time to finish the log-in and consent pages, in seconds (default 600).
    #[serde(default = "default_page_ttl")]
    pub page_ttl_secs: u64,
    /// The key that signs the pages' hidden state and CSRF tokens (at least 32 bytes). Unset:
    /// a random key per process (pages in flight fail after a restart; every instance
    /// behind a load balancer needs the same configured key).
    #[serde(default)]
    pub page_secret: Option<Secret>,
    /// Clients registered in configuration.
    #[serde(default)]
    pub clients: Vec<StaticClientConfig>,
    /// Dynamic Client Registration (RFC 7591).
    #[serde(default)]
    pub dynamic_registration: DynamicRegistrationConfig,
    /// Client ID Metadata Documents (client ids that are https URLs).
    #[serde(default)]
    pub client_metadata_documents: ClientMetadataDocumentConfig,
    /// A URL of human-readable documentation, published in the metadata.
    #[serde(default)]
    pub service_documentation: Option<String>,
    /// The name shown on the pages (default "MCP server").
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_code_ttl() -> u64 {
    DEFAULT_CODE_TTL_SECS
}
fn default_refresh_ttl() -> u64 {
    DEFAULT_REFRESH_TOKEN_TTL_SECS
}
fn default_grant_max() -> u64 {
    DEFAULT_GRANT_MAX_SECS
}
fn default_page_ttl() -> u64 {
    DEFAULT_PAGE_TTL_SECS
}
fn yes() -> bool {
    true
}

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("issuer", &self.issuer)
            .field("resources", &self.resources)
            .field("scopes_supported", &self.scopes_supported)
            .field("default_scopes", &self.default_scopes)
            .field("code_ttl_secs", &self.code_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("grant_max_secs", &self.grant_max_secs)
            .field("has_page_secret", &self.page_secret.is_some())
            .field("clients", &self.clients)
            .field("dynamic_registration", &self.dynamic_registration)
            .field("client_metadata_documents", &self.client_metadata_documents)
            .finish_non_exhaustive()
    }
}

impl OAuthConfig {
    /// A configuration with defaults for everything but the issuer and the scopes.
    pub fn new<S: Into<String>>(
        issuer: impl Into<String>,
        scopes_supported: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            resources: Vec::new(),
            require_resource: false,
            scopes_supported: scopes_supported.into_iter().map(Into::into).collect(),
            default_scopes: Vec::new(),
            scope_descriptions: BTreeMap::new(),
            code_ttl_secs: DEFAULT_CODE_TTL_SECS,
            refresh_token_ttl_secs: DEFAULT_REFRESH_TOKEN_TTL_SECS,
            grant_max_secs: DEFAULT_GRANT_MAX_SECS,
            page_ttl_secs: DEFAULT_PAGE_TTL_SECS,
            page_secret: None,
            clients: Vec::new(),
            dynamic_registration: DynamicRegistrationConfig::default(),
            client_metadata_documents: ClientMetadataDocumentConfig::default(),
            service_documentation: None,
            display_name: None,
        }
    }

    /// Sets the resources (audiences).
    #[must_use]
    pub fn with_resources<S: Into<String>>(
        mut self,
        resources: impl IntoIterator<Item = S>,
    ) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the default scopes.
    #[must_use]
    pub fn with_default_scopes<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.default_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a client registered in configuration.
    #[must_use]
    pub fn with_client(mut self, client: StaticClientConfig) -> Self {
        self.clients.push(client);
        self
    }

    /// Checks everything [`AuthorizationServer::builder`](crate::AuthorizationServer::builder)'s
    /// `build` checks about the configuration (URLs, scopes, lifetimes, secrets, clients),
    /// without building a server: for a `config check` command.
    pub fn check(&self) -> Result<(), Error> {
        crate::server::check_config(self)
    }

    /// Sets the page key.
    #[must_use]
    pub fn with_page_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.page_secret = Some(secret.into());
        self
    }
}

/// A client registered in configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StaticClientConfig {
    /// The client id (not an `https://` URL: those name metadata documents).
    pub client_id: String,
    /// The secret of a confidential client (at least 32 bytes); unset: a public client,
    /// which must use PKCE and cannot authenticate.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The redirect URIs, matched exactly (loopback `http://` with any port).
    pub redirect_uris: Vec<String>,
    /// The name shown on the consent page.
    #[serde(default)]
    pub client_name: Option<String>,
    /// The scopes this client may get (default: every supported scope).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Whether the client may use refresh tokens (default `true`).
    #[serde(default = "yes")]
    pub refresh_tokens: bool,
    /// The application's own user interface (default `false`): consent is implied, so the
    /// log-in page is followed by the redirect with a code, never by a consent page. Only for
    /// public clients whose redirect URIs the operator controls.
    #[serde(default)]
    pub first_party: bool,
}

impl StaticClientConfig {
    /// A public client with redirect URIs.
    pub fn public<S: Into<String>>(
        client_id: impl Into<String>,
        redirect_uris: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            client_name: None,
            scopes: None,
            refresh_tokens: true,
            first_party: false,
        }
    }

    /// Makes the client first-party: consent implied, no consent page.
    #[must_use]
    pub fn first_party(mut self) -> Self {
        self.first_party = true;
        self
    }

    /// Makes the client confidential with this secret.
    #[must_use]
    pub fn with_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets the name shown on the consent page.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }
}

impl fmt::Debug for StaticClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticClientConfig")
            .field("client_id", &self.client_id)
            .field("has_secret", &self.client_secret.is_some())
            .field("redirect_uris", &self.redirect_uris)
            .field("client_name", &self.client_name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Dynamic Client Registration (RFC 7591) settings. Serialized with the token masked.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DynamicRegistrationConfig {
    /// Whether `POST {issuer}/oauth/register` is open (default `true`: MCP clients such as
    /// Claude Desktop and VS Code register this way).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The most clients kept; registrations beyond it are refused (default 10,000).
    #[serde(default = "default_max_clients")]
    pub max_clients: u64,
    /// When set, registration requires `Authorization: Bearer <this token>` (RFC 7591
    /// initial access token); at least 32 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_access_token: Option<Secret>,
}

fn default_max_clients() -> u64 {
    10_000
}

impl Default for DynamicRegistrationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_clients: default_max_clients(),
            initial_access_token: None,
        }
    }
}

impl fmt::Debug for DynamicRegistrationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicRegistrationConfig")
            .field("enabled", &self.enabled)
            .field("max_clients", &self.max_clients)
            .field(
                "has_initial_access_token",
                &self.initial_access_token.is_some(),
            )
            .finish()
    }
}

/// Client ID Metadata Document settings: a client id that is an `https://` URL names a JSON
/// document the server fetches.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientMetadataDocumentConfig {
    /// Whether such client ids are accepted (default `true`; needs a fetcher).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Allow documents on loopback, private, link-local and other non-public addresses
    /// (default `false`: that would let anyone make the server fetch from its own network).
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Largest document read, in bytes (default 5 KiB).
    #[serde(default = "default_document_bytes")]
    pub max_bytes: usize,
    /// Time allowed for resolving, connecting and reading, in milliseconds (default 5,000).
    #[serde(default = "default_document_timeout")]
    pub timeout_ms: u64,
    /// How long a fetched document is used, in seconds (default 300).
    #[serde(default = "default_document_cache")]
    pub cache_ttl_secs: u64,
    /// How long a failed fetch is remembered (and not retried), in seconds (default 60).
    #[serde(default = "default_failure_cache")]
    pub failure_cache_secs: u64,
    /// Most documents (and failures) cached (default 1,024).
    #[serde(default = "default_cache_capacity")]
    pub cache_capacity: usize,
}

fn default_document_bytes() -> usize {
    5 * 1024
}
fn default_document_timeout() -> u64 {
    5_000
}
fn default_document_cache() -> u64 {
    300
}
fn default_failure_cache() -> u64 {
    60
}
fn default_cache_capacity() -> usize {
    1024
}

impl Default for ClientMetadataDocumentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_private_addresses: false,
            max_bytes: default_document_bytes(),
            timeout_ms: default_document_timeout(),
            cache_ttl_secs: default_document_cache(),
            failure_cache_secs: default_failure_cache(),
            cache_capacity: default_cache_capacity(),
        }
    }
}

/// Checks a base URL (issuer, resource): absolute `https://`, or `http://` on a loopback
/// host; no user info, query or fragment. Returns it without a trailing `/`.
pub(crate) fn check_base_url(what: &str, value: &str) -> Result<String, Error> {
    let trimmed = value.trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|e| Error::config(format!("{what} `{value}`: {e}")))?;
    let host = url.host_str().unwrap_or("");
    let scheme_ok = match url.scheme() {
        "https" => !host.is_empty(),
        "http" => is_loopback_host(host),
        _ => false,
    };
    if !scheme_ok {
        return Err(Error::config(format!(
            "{what} `{value}` must be https:// (or http:// on a loopback host for development)"
        )));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || trimmed.contains(['?', '#', '@'])
        || !trimmed.bytes().all(|b| (0x21..=0x7E).contains(&b))
    {
        return Err(Error::config(format!(
            "{what} `{value}` must not have user info, a query, a fragment or unusual characters"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_or_loopback_http() {
        assert_eq!(
            check_base_url("issuer", "https://mcp.example/").unwrap(),
            "https://mcp.example"
        );
        assert!(check_base_url("issuer", "http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("issuer", "https://mcp.example/base").is_ok());
        for bad in [
            "http://mcp.example",
            "ftp://mcp.example",
            "https://mcp.example?x=1",
            "https://u@mcp.example",
            "https://mcp.example#f",
            "mcp.example",
        ] {
            assert!(check_base_url("issuer", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_and_secrets_not_printed() {
        let err = toml::from_str::<OAuthConfig>(
            "issuer = \"https://x.example\"\nscopes_supported = []\ncode_ttl = 5",
        );
        assert!(err.is_err());
        let config: OAuthConfig = toml::from_str(
            "issuer = \"https://x.example\"\nscopes_supported = [\"a\"]\npage_secret = \"very-secret-very-secret-very-secret\"\n[[clients]]\nclient_id = \"c\"\nclient_secret = \"another-secret-another-secret-xx\"\nredirect_uris = [\"https://c.example/cb\"]",
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(!shown.contains("another-secret"), "{shown}");
    }
}
