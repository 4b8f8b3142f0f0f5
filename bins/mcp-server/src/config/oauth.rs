//! `[oauth]` settings: the built-in OAuth 2.1 authorization server and trusted external
//! identity providers, plus `http.public_url`, the canonical URL both depend on.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// The pre-registered public client of the web console (PKCE, no secret).
pub const CONSOLE_CLIENT_ID: &str = "console";
/// The console's redirect path under the public URL.
pub const CONSOLE_REDIRECT_PATH: &str = "/console/";

/// What each built-in scope lets a client do, as the consent page says it.
pub const SCOPE_DESCRIPTIONS: &[(&str, &str)] = &[
    ("tools:read", "see the tools and their descriptions"),
    ("tools:lint", "lint code"),
    ("tools:execute", "run code in the sandbox"),
    ("tools:test", "run test suites in the sandbox"),
    ("tools:generate", "generate code from templates"),
    ("graph:query", "read the knowledge graph"),
    (
        "graph:upsert",
        "create and change nodes and relationships of the knowledge graph",
    ),
    (
        "graph:delete",
        "delete nodes and relationships of the knowledge graph",
    ),
    (
        "system:admin",
        "administer the server: users, roles, keys, the audit log",
    ),
];

/// `[oauth]`: how MCP clients that speak OAuth get tokens.
///
/// The resource server (audience-bound tokens, `WWW-Authenticate` challenges, Protected
/// Resource Metadata) is always on once the public URL is known; these keys configure the
/// built-in authorization server and the external issuers whose tokens are accepted too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// Run the built-in authorization server (default `true`; needs the public URL).
    pub enabled: bool,
    /// Lifetime of the access tokens it issues, in seconds (default: `auth.token_ttl_secs`,
    /// at most one hour); at most `auth.token_ttl_secs`.
    pub access_token_ttl_secs: Option<u64>,
    /// Scopes granted when a client asks for none (default `["tools:read"]`).
    pub default_scopes: Vec<String>,
    /// Refuse authorization and token requests without a `resource` (RFC 8707).
    pub require_resource: bool,
    /// Authorization code lifetime in seconds (default 60, at most 600).
    pub code_ttl_secs: u64,
    /// Lifetime of each refresh token in seconds (default 30 days); every use rotates it.
    pub refresh_token_ttl_secs: u64,
    /// Absolute lifetime of a grant in seconds (default 90 days): then the user logs in again.
    pub grant_max_secs: u64,
    /// Time a user has to finish the log-in and consent pages, in seconds (default 600).
    pub page_ttl_secs: u64,
    /// The key of the pages' signed state and CSRF tokens (at least 32 bytes; env
    /// `MCP_OAUTH_PAGE_SECRET`). Unset: random per process, so every instance behind a load
    /// balancer needs the same configured value.
    pub page_secret: Option<Secret>,
    /// The name shown on the log-in and consent pages (default "MCP server").
    pub display_name: Option<String>,
    /// Register the web console as a first-party public client (`console`, redirect exactly
    /// `<public_url>/console/`, PKCE, every scope the user's roles allow, no consent page).
    /// Default `true`.
    pub console_client: bool,
    /// Clients registered in configuration (`[[oauth.clients]]`).
    pub clients: Vec<OAuthClientConfig>,
    /// Dynamic Client Registration (RFC 7591): `enabled` (default true), `max_clients`
    /// (default 10,000), `initial_access_token` (env
    /// `MCP_OAUTH__DYNAMIC_REGISTRATION__INITIAL_ACCESS_TOKEN`).
    pub dynamic_registration: mcp_oauth::DynamicRegistrationConfig,
    /// Client ID Metadata Documents (client ids that are https URLs): `enabled`,
    /// `allow_private_addresses`, `max_bytes`, `timeout_ms`, `cache_ttl_secs`,
    /// `failure_cache_secs`, `cache_capacity`.
    pub client_metadata_documents: mcp_oauth::ClientMetadataDocumentConfig,
    /// CA certificates (PEM or DER files) trusted, besides the system's, when fetching client
    /// metadata documents and the keys of external issuers (an identity provider behind an
    /// internal CA).
    pub extra_ca_files: Vec<PathBuf>,
    /// Trusted external issuers (`[[oauth.external_issuers]]`): their access tokens are
    /// accepted, with roles mapped from a claim. See docs/oauth.md.
    pub external_issuers: Vec<mcp_oauth::external::ExternalIssuerConfig>,
    /// Per-address limits of the endpoints anyone can call (`[oauth.rate_limits]`).
    pub rate_limits: OAuthRateLimits,
}

/// `[oauth.rate_limits]`: requests per minute per client address (an IPv6 address counts by
/// its /64) at the endpoints anyone can call; over it, 429 with `Retry-After`. `0` turns a
/// limit off. The address is the one `http.trusted_proxies` yields (the peer otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthRateLimits {
    /// `POST /oauth/register` (default 10).
    pub register_per_minute: u32,
    /// `POST /oauth/token` and `POST /oauth/revoke` together (default 120).
    pub token_per_minute: u32,
    /// The browser endpoints `GET /oauth/authorize`, `POST /oauth/login` and
    /// `POST /oauth/consent` together (default 120: a sign-in takes two or three). An
    /// authorization or token request fetches at most one client metadata document.
    pub pages_per_minute: u32,
    /// How many addresses are counted at most when the counts are in memory
    /// (`limits.counters`; default 50,000; memory stays bounded): when that many are being
    /// counted, further addresses share one allowance per limit.
    pub tracked_addresses: usize,
}

impl Default for OAuthRateLimits {
    fn default() -> Self {
        Self {
            register_per_minute: 10,
            token_per_minute: 120,
            pages_per_minute: 120,
            tracked_addresses: 50_000,
        }
    }
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            access_token_ttl_secs: None,
            default_scopes: vec!["tools:read".into()],
            require_resource: false,
            code_ttl_secs: 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            grant_max_secs: 90 * 24 * 3600,
            page_ttl_secs: 600,
            page_secret: None,
            display_name: None,
            console_client: true,
            clients: Vec::new(),
            dynamic_registration: mcp_oauth::DynamicRegistrationConfig::default(),
            client_metadata_documents: mcp_oauth::ClientMetadataDocumentConfig::default(),
            extra_ca_files: Vec::new(),
            external_issuers: Vec::new(),
            rate_limits: OAuthRateLimits::default(),
        }
    }
}

/// One client registered in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientConfig {
    /// The client id (not an `https://` URL: those name metadata documents).
    pub client_id: String,
    /// The environment variable holding the secret of a confidential client (at least 32
    /// bytes); unset: a public client, which must use PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// Redirect URIs, matched exactly (loopback `http://` ones with any port).
    pub redirect_uris: Vec<String>,
    /// The name shown on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The scopes the client may get (default: every scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Whether the client gets refresh tokens (default `true`).
    #[serde(default = "yes")]
    pub refresh_tokens: bool,
}

fn yes() -> bool {
    true
}

/// The longest default access-token lifetime: one hour.
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 3600;

impl OAuthConfig {
    /// The lifetime of OAuth access tokens, given the longest token lifetime `max`
    /// (`auth.token_ttl_secs`).
    pub fn access_token_ttl(&self, max: u64) -> u64 {
        self.access_token_ttl_secs
            .unwrap_or_else(|| max.min(DEFAULT_ACCESS_TOKEN_TTL_SECS))
    }

    /// The authorization server's library configuration for the issuer `public_url`, the
    /// resources `resources` (the first is the default audience) and the scopes `scopes`;
    /// `env` reads the client secrets' variables.
    pub fn library_config(
        &self,
        public_url: &str,
        resources: &[String],
        scopes: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<mcp_oauth::OAuthConfig, ConfigError> {
        let mut config = mcp_oauth::OAuthConfig::new(public_url, scopes.iter().cloned())
            .with_resources(resources.iter().cloned())
            .with_default_scopes(self.default_scopes.iter().cloned());
        config.require_resource = self.require_resource;
        config.code_ttl_secs = self.code_ttl_secs;
        config.refresh_token_ttl_secs = self.refresh_token_ttl_secs;
        config.grant_max_secs = self.grant_max_secs;
        config.page_ttl_secs = self.page_ttl_secs;
        config.page_secret = self
            .page_secret
            .as_ref()
            .map(|s| mcp_oauth::Secret::new(s.expose()));
        config.display_name.clone_from(&self.display_name);
        config.dynamic_registration = self.dynamic_registration.clone();
        config.client_metadata_documents = self.client_metadata_documents.clone();
        config.service_documentation = None;
        for (scope, text) in SCOPE_DESCRIPTIONS {
            if scopes.iter().any(|s| s == scope) {
                config
                    .scope_descriptions
                    .insert((*scope).to_owned(), (*text).to_owned());
            }
        }
        if self.console_client
            && !self
                .clients
                .iter()
                .any(|c| c.client_id == CONSOLE_CLIENT_ID)
        {
            let mut console = mcp_oauth::StaticClientConfig::public(
                CONSOLE_CLIENT_ID,
                [format!("{public_url}{CONSOLE_REDIRECT_PATH}")],
            );
            console.client_name = Some("Web console".into());
            console.scopes = Some(scopes.to_vec());
            console = console.first_party();
            config = config.with_client(console);
        }
        for client in &self.clients {
            let mut c = mcp_oauth::StaticClientConfig::public(
                client.client_id.clone(),
                client.redirect_uris.iter().cloned(),
            );
            c.client_name.clone_from(&client.client_name);
            c.scopes.clone_from(&client.scopes);
            c.refresh_tokens = client.refresh_tokens;
            if let Some(var) = &client.client_secret_env {
                let secret = env(var).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "oauth.clients `{}`: the environment variable {var} (client_secret_env) \
                         is not set",
                        client.client_id
                    ))
                })?;
                c = c.with_secret(secret.trim());
            }
            config = config.with_client(c);
        }
        config
            .check()
            .map_err(|e| ConfigError::Invalid(format!("[oauth]: {e}")))?;
        Ok(config)
    }

    /// Checks what serde cannot, without reading the environment: every external issuer, and
    /// that the access-token lifetime fits `max` (`auth.token_ttl_secs`).
    pub fn validate(&self, max_token_ttl: u64) -> Result<(), ConfigError> {
        // The default follows auth.token_ttl_secs, whose own check reports a bad value.
        if let Some(ttl) = self.access_token_ttl_secs
            && (ttl == 0 || ttl > max_token_ttl)
        {
            return Err(ConfigError::Invalid(format!(
                "oauth.access_token_ttl_secs must be between 1 and auth.token_ttl_secs \
                 ({max_token_ttl})"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for client in &self.clients {
            if !seen.insert(client.client_id.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "oauth.clients: client id `{}` is configured twice",
                    client.client_id
                )));
            }
        }
        Ok(())
    }
}

/// Checks `http.public_url`: `https://host[:port]`, or `http://` on a loopback host, with no
/// path, query, fragment or user info. Returns it without a trailing `/`.
pub fn check_public_url(value: &str) -> Result<String, ConfigError> {
    let invalid = |why: &str| {
        Err(ConfigError::Invalid(format!(
            "http.public_url `{value}` {why}"
        )))
    };
    let trimmed = value.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return invalid("must be an absolute URL such as https://mcp.example.com");
    };
    if rest.is_empty()
        || rest.contains(['/', '?', '#', '@'])
        || !rest.bytes().all(|b| (0x21..=0x7E).contains(&b))
    {
        return invalid(
            "must be scheme://host[:port] only: no path (the server is not mounted under a \
             prefix), query, fragment or user info",
        );
    }
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => rest.rsplit_once(':').map_or(rest, |(h, _)| h),
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(trimmed.to_owned()),
        "http" if is_loopback(host) => Ok(trimmed.to_owned()),
        _ => invalid("must be https:// (http:// only on a loopback host, for development)"),
    }
}

/// Whether `host` (a name or an address, IPv6 without brackets) is loopback.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_origins_on_https_or_loopback_http() {
        assert_eq!(
            check_public_url("https://mcp.example.com/").unwrap(),
            "https://mcp.example.com"
        );
        for ok in [
            "https://mcp.example.com:8443",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(check_public_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://mcp.example.com",
            "https://mcp.example.com/base",
            "https://mcp.example.com?x=1",
            "https://u@mcp.example.com",
            "mcp.example.com",
            "ftp://mcp.example.com",
            "https://",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn access_tokens_live_at_most_as_long_as_any_token() {
        let oauth = OAuthConfig::default();
        assert_eq!(oauth.access_token_ttl(86_400), 3600);
        assert_eq!(oauth.access_token_ttl(600), 600);
        assert!(oauth.validate(600).is_ok());
        let longer = OAuthConfig {
            access_token_ttl_secs: Some(7200),
            ..OAuthConfig::default()
        };
        assert!(longer.validate(3600).is_err());
        assert!(longer.validate(7200).is_ok());
    }

    #[test]
    fn the_console_is_a_preregistered_public_client_and_client_secrets_come_from_the_environment() {
        let mut oauth = OAuthConfig::default();
        oauth.clients.push(OAuthClientConfig {
            client_id: "ci-bot".into(),
            client_secret_env: Some("CI_BOT_SECRET".into()),
            redirect_uris: vec!["https://ci.example/cb".into()],
            client_name: None,
            scopes: Some(vec!["tools:read".into()]),
            refresh_tokens: false,
        });
        let resources = ["http://127.0.0.1:8080/mcp".to_owned()];
        let scopes = ["tools:read".to_owned(), "tools:execute".to_owned()];
        let missing = oauth
            .library_config("http://127.0.0.1:8080", &resources, &scopes, &|_| None)
            .unwrap_err();
        assert!(missing.to_string().contains("CI_BOT_SECRET"), "{missing}");
        let secret = "a-client-secret-of-at-least-32-bytes!!";
        let config = oauth
            .library_config("http://127.0.0.1:8080", &resources, &scopes, &|name| {
                (name == "CI_BOT_SECRET").then(|| secret.to_owned())
            })
            .unwrap();
        let ids: Vec<&str> = config
            .clients
            .iter()
            .map(|c| c.client_id.as_str())
            .collect();
        assert_eq!(ids, ["console", "ci-bot"]);
        assert_eq!(
            config.clients[0].redirect_uris,
            ["http://127.0.0.1:8080/console/"]
        );
        assert!(config.clients[0].client_secret.is_none());
        assert!(config.clients[0].first_party && !config.clients[1].first_party);
        assert_eq!(config.clients[0].scopes.as_deref(), Some(&scopes[..]));
        assert!(config.clients[1].client_secret.is_some());
        assert!(!format!("{config:?}").contains(secret));
    }
}
