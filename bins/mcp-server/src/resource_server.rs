//! The OAuth resource server: which resources this server is (RFC 8707 audiences), their
//! Protected Resource Metadata (RFC 9728), the `WWW-Authenticate` challenges of 401 and 403
//! answers, the scopes clients may ask for, and the verifier of external issuers' tokens.
//!
//! Two resources, both under the configured public URL (never the `Host` header):
//!
//! | resource | metadata | challenged on |
//! |---|---|---|
//! | `<public_url>/mcp` (the default audience) | `/.well-known/oauth-protected-resource/mcp` | `/mcp` |
//! | `<public_url>` (the REST API) | `/.well-known/oauth-protected-resource` | every other path |
//!
//! A token bound to either is accepted on both (they are one server with one permission
//! model); a token bound to anything else is refused (`mcp_jwt::Error::WrongAudience`).
//!
//! Scopes are the permission names, one to one (`tools:execute` allows what the permission
//! `tools:execute` allows); a token's effective permissions are its scopes intersected with
//! its user's roles (`crate::auth::authorize`).
use std::sync::Arc;

use anyhow::Context;
use mcp_oauth::external::ExternalVerifier;
use mcp_oauth::fetch::{GuardedFetcher, HttpFetch};
use mcp_oauth::{BearerError, ProtectedResource, ScopeSet};
use mcp_rbac::{Permission, Policy};

use crate::config::Config;

/// The path of the MCP endpoint (its resource is `<public_url>/mcp`).
const MCP_PATH: &str = "/mcp";

/// The resource server's settings and verifiers, derived from the configuration at start-up.
pub struct ResourceServer {
    public_url: String,
    mcp: ProtectedResource,
    api: ProtectedResource,
    scopes: ScopeSet,
    external: Option<ExternalVerifier>,
    fetcher: Option<Arc<GuardedFetcher>>,
}

impl std::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("public_url", &self.public_url)
            .field(
                "authorization_servers",
                &self.mcp.metadata().authorization_servers,
            )
            .finish_non_exhaustive()
    }
}

/// The scopes clients may ask for: every concrete permission of the policy (the built-in ones
/// and those custom roles name), wildcards left out.
pub fn supported_scopes(policy: &Policy) -> ScopeSet {
    let roles: Vec<&str> = policy.roles().collect();
    let names = Permission::BUILTIN
        .into_iter()
        .chain(policy.permissions_of(&roles))
        .filter(|p| !p.is_wildcard() && !p.is_all())
        .map(|p| p.as_str().to_owned());
    ScopeSet::try_from_iter(names).unwrap_or_default()
}

impl ResourceServer {
    /// The resource server of `config`, or `None` when the public URL is unknown (see
    /// [`Config::public_url`]) or no authorization server is configured (the built-in one is
    /// off and no external issuer is trusted): then 401 answers carry a plain `Bearer`
    /// challenge and no metadata is published.
    pub fn from_config(config: &Config, policy: &Policy) -> anyhow::Result<Option<Self>> {
        let oauth = &config.oauth;
        let Some(public_url) = config.public_url() else {
            if oauth.enabled || !oauth.external_issuers.is_empty() {
                tracing::warn!(
                    host = %config.http.host,
                    "OAuth is off: the public URL is unknown (set http.public_url, MCP_PUBLIC_URL); \
                     MCP clients that discover authorization from a 401 cannot connect"
                );
            }
            return Ok(None);
        };
        // Built here only for external issuers: the authorization server builds one for client
        // metadata documents when it starts (`https_client`), so plain test states need none.
        let fetcher = if oauth.external_issuers.is_empty() {
            None
        } else {
            Some(Arc::new(https_client(&oauth.extra_ca_files)?))
        };
        let external = if oauth.external_issuers.is_empty() {
            None
        } else {
            let fetch: Arc<dyn HttpFetch> = fetcher
                .clone()
                .context("external issuers need an HTTPS client")?;
            Some(
                ExternalVerifier::new(oauth.external_issuers.clone(), fetch)
                    .context("[[oauth.external_issuers]]")?,
            )
        };
        let mut servers = Vec::new();
        if oauth.enabled {
            servers.push(public_url.clone());
        }
        if let Some(external) = &external {
            servers.extend(external.issuers().map(str::to_owned));
        }
        if servers.is_empty() {
            tracing::info!(
                "no authorization server: oauth.enabled is false and no external issuer is \
                 configured; only tokens from /auth/token are accepted"
            );
            return Ok(None);
        }
        let scopes = supported_scopes(policy);
        let resource = |url: String| {
            ProtectedResource::new(&url, servers.clone(), scopes.clone())
                .map(|r| r.with_name("MCP server"))
                .with_context(|| format!("resource {url}"))
        };
        Ok(Some(Self {
            mcp: resource(format!("{public_url}{MCP_PATH}"))?,
            api: resource(public_url.clone())?,
            public_url,
            scopes,
            external,
            fetcher,
        }))
    }

    /// The canonical public URL.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The MCP endpoint's resource.
    pub fn mcp(&self) -> &ProtectedResource {
        &self.mcp
    }

    /// The REST API's resource (the public URL itself).
    pub fn api(&self) -> &ProtectedResource {
        &self.api
    }

    /// The resource a request path belongs to.
    pub fn resource_of(&self, path: &str) -> &ProtectedResource {
        if path == MCP_PATH || path.starts_with("/mcp/") {
            &self.mcp
        } else {
            &self.api
        }
    }

    /// Every scope clients may ask for.
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// The verifier of trusted external issuers' tokens, when any is configured.
    pub fn external(&self) -> Option<&ExternalVerifier> {
        self.external.as_ref()
    }

    /// The HTTPS client (SSRF-guarded) of the external issuers, when any is configured.
    pub fn fetcher(&self) -> Option<Arc<GuardedFetcher>> {
        self.fetcher.clone()
    }

    /// The `WWW-Authenticate` value of a 401 for `path`: `error="invalid_token"` when a token
    /// was presented, the scope the route needs when known, and the resource's metadata URL.
    pub fn unauthorized_challenge(
        &self,
        path: &str,
        token_presented: bool,
        needed: Option<&str>,
    ) -> String {
        let error = token_presented.then_some(BearerError::InvalidToken);
        let scope = needed.and_then(|s| ScopeSet::parse(s).ok());
        self.resource_of(path)
            .unauthorized_challenge_with_scope(error, scope.as_ref())
    }

    /// The `WWW-Authenticate` value of a 403 for a token lacking the scope `needed` (step-up).
    pub fn insufficient_scope_challenge(&self, path: &str, needed: &str) -> String {
        let scope = ScopeSet::parse(needed).unwrap_or_default();
        self.resource_of(path).insufficient_scope_challenge(&scope)
    }
}

/// The SSRF-guarded HTTPS client, trusting the system's CAs and `extra_ca_files` (PEM or DER).
pub fn https_client(extra_ca_files: &[std::path::PathBuf]) -> anyhow::Result<GuardedFetcher> {
    let mut roots = Vec::new();
    for path in extra_ca_files {
        let bytes = std::fs::read(path)
            .with_context(|| format!("oauth.extra_ca_files: cannot read {}", path.display()))?;
        let found = certificates(&bytes);
        anyhow::ensure!(
            !found.is_empty(),
            "oauth.extra_ca_files: {} holds no certificate (PEM or DER)",
            path.display()
        );
        roots.extend(found);
    }
    GuardedFetcher::with_extra_roots(roots).context("HTTPS client for OAuth fetches")
}

/// The certificates of a PEM file (every `CERTIFICATE` block), or the file itself as DER.
fn certificates(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return vec![bytes.to_vec()];
    };
    if !text.contains("-----BEGIN") {
        return vec![bytes.to_vec()];
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let Some(end) = body.find("-----END CERTIFICATE-----") else {
            break;
        };
        let b64: String = body[..end].split_whitespace().collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &body[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(public_url: Option<&str>) -> Config {
        let mut config = Config::default();
        config.http.public_url = public_url.map(str::to_owned);
        config
    }

    #[test]
    fn scopes_are_the_concrete_permissions() {
        let scopes = supported_scopes(&Policy::builtin());
        assert!(scopes.contains("tools:execute") && scopes.contains("system:admin"));
        assert_eq!(scopes.iter().count(), Permission::BUILTIN.len());
        assert!(!scopes.iter().any(|s| s.contains('*')));
    }

    #[test]
    fn challenges_name_the_resource_of_the_path_from_the_configured_url() {
        let rs = ResourceServer::from_config(
            &config(Some("https://mcp.example.com")),
            &Policy::builtin(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(rs.mcp().resource(), "https://mcp.example.com/mcp");
        assert_eq!(rs.api().resource(), "https://mcp.example.com");
        assert_eq!(
            rs.unauthorized_challenge("/mcp", false, None),
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(
            rs.unauthorized_challenge("/api/v1/execute", true, Some("tools:execute")),
            "Bearer error=\"invalid_token\", scope=\"tools:execute\", resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource\""
        );
        assert_eq!(
            rs.insufficient_scope_challenge("/mcp", "tools:execute"),
            "Bearer error=\"insufficient_scope\", scope=\"tools:execute\", resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(
            rs.mcp().metadata().authorization_servers,
            ["https://mcp.example.com"]
        );
    }

    #[test]
    fn without_a_public_url_or_an_authorization_server_there_is_no_resource_server() {
        let mut c = config(None);
        c.http.host = "0.0.0.0".into();
        assert!(
            ResourceServer::from_config(&c, &Policy::builtin())
                .unwrap()
                .is_none()
        );
        // On loopback with a fixed port the URL is known.
        c.http.host = "127.0.0.1".into();
        c.http.port = 8123;
        let rs = ResourceServer::from_config(&c, &Policy::builtin())
            .unwrap()
            .unwrap();
        assert_eq!(rs.public_url(), "http://127.0.0.1:8123");
        c.oauth.enabled = false;
        assert!(
            ResourceServer::from_config(&c, &Policy::builtin())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn pem_bundles_and_der_files_give_their_certificates() {
        use base64::Engine as _;
        let der = b"\x30\x03\x02\x01\x01".to_vec();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!(
            "junk\n-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(certificates(pem.as_bytes()), vec![der.clone(), der.clone()]);
        assert_eq!(certificates(&der), vec![der]);
    }
}
