//! Tokens from external identity providers (Keycloak, Entra ID, Okta, Auth0, …): the
//! resource server accepts access tokens from configured issuers, verified with the keys the
//! issuer publishes.
//!
//! - Keys come from the issuer's JWKS, found through OpenID discovery
//!   (`{issuer}/.well-known/openid-configuration`, then RFC 8414's
//!   `/.well-known/oauth-authorization-server{path}`) unless `jwks_uri` is configured. The
//!   discovered document must name the configured issuer.
//! - Keys are cached for `jwks_cache_secs`; a token signed with an unknown `kid` (a key
//!   rotation at the provider) triggers a refetch, at most once per `min_refetch_secs`, so a
//!   flood of forged `kid`s cannot make the server hammer the provider.
//! - Only RS256, ES256 (P-256) and EdDSA (Ed25519) are accepted, each issuer limited to the
//!   algorithms it is configured with; `none`, HMAC and symmetric JWKS keys never are.
//! - `iss` must be the configured issuer exactly, `aud` must contain a configured audience
//!   (the resource's URL), `exp` is required, `nbf` checked, with a leeway.
//! - A claim (`roles_claim`, a top-level name or a dotted path such as `realm_access.roles`)
//!   is mapped to local roles through `role_map`; values without a mapping are ignored.

mod jwks;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;
use crate::fetch::HttpFetch;
use crate::scope::ScopeSet;
use jwks::KeySet;

/// Longest token accepted, in bytes, checked before any parsing.
pub const MAX_EXTERNAL_TOKEN_BYTES: usize = 16 * 1024;

/// An algorithm an external issuer may sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[non_exhaustive]
pub enum ExternalAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl ExternalAlgorithm {
    fn from_jose(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }
}

fn default_algorithms() -> Vec<ExternalAlgorithm> {
    vec![
        ExternalAlgorithm::RS256,
        ExternalAlgorithm::ES256,
        ExternalAlgorithm::EdDSA,
    ]
}
fn default_leeway() -> u64 {
    60
}
fn default_cache() -> u64 {
    3600
}
fn default_refetch() -> u64 {
    60
}
fn default_timeout() -> u64 {
    5_000
}

/// One trusted external issuer (an `[[oauth.external_issuers]]` entry of the server).
///
/// ```
/// let keycloak: mcp_oauth::external::ExternalIssuerConfig = toml::from_str(r#"
///     issuer = "https://sso.example.com/realms/platform"
///     audiences = ["https://mcp.example.com/mcp"]
///     roles_claim = "realm_access.roles"
///     role_map = { "mcp-admins" = ["admin"], "mcp-devs" = ["developer"] }
///     default_roles = ["viewer"]
/// "#)?;
/// assert_eq!(keycloak.min_refetch_secs, 60);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExternalIssuerConfig {
    /// The issuer identifier, compared with `iss` exactly (keep a trailing `/` if the
    /// provider writes one, as Auth0 does).
    pub issuer: String,
    /// Accepted audiences: `aud` must contain one (normally the resource's URL).
    pub audiences: Vec<String>,
    /// The JWKS URL; unset: discovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Accepted algorithms (default RS256, ES256, EdDSA).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<ExternalAlgorithm>,
    /// The claim holding group or role names: a top-level claim name, else a dotted path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_claim: Option<String>,
    /// Claim value → local roles.
    #[serde(default)]
    pub role_map: BTreeMap<String, Vec<String>>,
    /// Roles of a user none of whose claim values is mapped.
    #[serde(default)]
    pub default_roles: Vec<String>,
    /// Allowed clock skew for `exp` and `nbf`, in seconds (default 60, at most 300).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// How long fetched keys are used before they are fetched again, in seconds (default
    /// 3600).
    #[serde(default = "default_cache")]
    pub jwks_cache_secs: u64,
    /// Shortest time between two fetches of the keys, in seconds (default 60).
    #[serde(default = "default_refetch")]
    pub min_refetch_secs: u64,
    /// Time allowed for each discovery or JWKS fetch, in milliseconds (default 5,000).
    #[serde(default = "default_timeout")]
    pub fetch_timeout_ms: u64,
    /// Allow plain `http://` to a loopback issuer (a provider on the same machine, for
    /// development and tests). Default `false`.
    #[serde(default)]
    pub allow_insecure_loopback_http: bool,
}

impl ExternalIssuerConfig {
    /// An issuer accepting `audience`, with the defaults.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            jwks_uri: None,
            algorithms: default_algorithms(),
            roles_claim: None,
            role_map: BTreeMap::new(),
            default_roles: Vec::new(),
            leeway_secs: default_leeway(),
            jwks_cache_secs: default_cache(),
            min_refetch_secs: default_refetch(),
            fetch_timeout_ms: default_timeout(),
            allow_insecure_loopback_http: false,
        }
    }

    /// Maps the values of `claim` through `map`.
    #[must_use]
    pub fn with_roles(
        mut self,
        claim: impl Into<String>,
        map: BTreeMap<String, Vec<String>>,
    ) -> Self {
        self.roles_claim = Some(claim.into());
        self.role_map = map;
        self
    }

    /// Sets the shortest time between two key fetches.
    #[must_use]
    pub fn with_min_refetch_secs(mut self, secs: u64) -> Self {
        self.min_refetch_secs = secs;
        self
    }

    /// Allows plain `http://` to a loopback issuer.
    #[must_use]
    pub fn allowing_insecure_loopback_http(mut self) -> Self {
        self.allow_insecure_loopback_http = true;
        self
    }
}

/// Who an external token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExternalIdentity {
    /// The issuer.
    pub issuer: String,
    /// The subject (`sub`): unique within the issuer only.
    pub subject: String,
    /// Local roles from the role mapping (or the defaults).
    pub roles: Vec<String>,
    /// The token's scopes (`scope`, or `scp` as Entra ID writes it); empty when absent.
    pub scopes: ScopeSet,
    /// The client the token was issued to (`azp` or `client_id`), if named.
    pub client_id: Option<String>,
    /// The expiry (Unix seconds).
    pub expires_at: i64,
}

/// Why an external token was refused. The server answers all of them with the same 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExternalTokenError {
    /// Not a well-formed JWT.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Longer than [`MAX_EXTERNAL_TOKEN_BYTES`].
    #[error("token too large")]
    TooLarge,
    /// `iss` is not a configured issuer.
    #[error("token issuer is not trusted")]
    UnknownIssuer,
    /// The algorithm is not accepted for this issuer (includes `none` and HMAC).
    #[error("algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// No published key has this `kid` (even after a refetch, or a refetch was too soon).
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` contains no configured audience.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// A required claim is missing.
    #[error("missing claim {0}")]
    MissingClaim(String),
    /// The issuer's keys could not be fetched.
    #[error("issuer keys unavailable: {0}")]
    KeysUnavailable(String),
}

/// Verifies tokens of the configured external issuers.
pub struct ExternalVerifier {
    issuers: Vec<Arc<KeySet>>,
}

impl std::fmt::Debug for ExternalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalVerifier")
            .field("issuers", &self.issuers().collect::<Vec<_>>())
            .finish()
    }
}

impl ExternalVerifier {
    /// Checks the configurations; keys are fetched on first use.
    pub fn new(
        configs: Vec<ExternalIssuerConfig>,
        fetcher: Arc<dyn HttpFetch>,
    ) -> Result<Self, Error> {
        let mut issuers = Vec::new();
        for config in configs {
            check_config(&config)?;
            if issuers
                .iter()
                .any(|i: &Arc<KeySet>| i.config.issuer == config.issuer)
            {
                return Err(Error::config(format!(
                    "external issuer {:?} is configured twice",
                    config.issuer
                )));
            }
            issuers.push(Arc::new(KeySet::new(config, Arc::clone(&fetcher))?));
        }
        Ok(Self { issuers })
    }

    /// The configured issuers (for the protected resource metadata).
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(|i| i.config.issuer.as_str())
    }

    /// The issuer a token claims to come from, if it is one of ours; nothing is verified.
    /// Lets the server send a token to this verifier or to its own.
    pub fn claimed_issuer(&self, token: &str) -> Option<&str> {
        let iss = unverified_payload(token)
            .ok()?
            .get("iss")?
            .as_str()?
            .to_owned();
        self.issuers().find(|i| *i == iss)
    }

    /// Verifies a token (without any `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<ExternalIdentity, ExternalTokenError> {
        if token.len() > MAX_EXTERNAL_TOKEN_BYTES {
            return Err(ExternalTokenError::TooLarge);
        }
        let payload = unverified_payload(token)?;
        let raw_header = unverified_segment(token, 0)?;
        if raw_header.get("crit").is_some() {
            return Err(ExternalTokenError::Malformed(
                "critical header extensions are not supported".into(),
            ));
        }
        let alg_name = raw_header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let kid = raw_header.get("kid").and_then(Value::as_str);
        let iss = payload
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| ExternalTokenError::MissingClaim("iss".into()))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or(ExternalTokenError::UnknownIssuer)?;
        let alg = ExternalAlgorithm::from_jose(&alg_name)
            .filter(|a| issuer.config.algorithms.contains(a))
            .ok_or_else(|| {
                ExternalTokenError::UnsupportedAlgorithm(crate::params::shorten(&alg_name))
            })?;
        let key = issuer.key_for(kid, alg).await?;
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| ExternalTokenError::Malformed("not a JWT".into()))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| ExternalTokenError::Malformed("bad base64url signature".into()))?;
        if !key.verifies(alg, signing_input.as_bytes(), &signature) {
            return Err(ExternalTokenError::BadSignature);
        }
        let claims = Value::Object(payload);
        check_claims(&issuer.config, &claims, chrono::Utc::now().timestamp())?;
        identity(&issuer.config, &claims)
    }
}

fn check_config(config: &ExternalIssuerConfig) -> Result<(), Error> {
    let name = &config.issuer;
    let url = url::Url::parse(name)
        .map_err(|e| Error::config(format!("external issuer {name:?}: {e}")))?;
    let loopback = url
        .host_str()
        .is_some_and(crate::redirect::is_loopback_host)
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if config.allow_insecure_loopback_http && loopback => {}
        _ => {
            return Err(Error::config(format!(
                "external issuer {name:?} must be https:// (http:// only on loopback with allow_insecure_loopback_http)"
            )));
        }
    }
    if config.audiences.is_empty() || config.audiences.iter().any(String::is_empty) {
        return Err(Error::config(format!(
            "external issuer {name:?} needs at least one audience"
        )));
    }
    if config.algorithms.is_empty() {
        return Err(Error::config(format!(
            "external issuer {name:?} needs at least one algorithm"
        )));
    }
    if config.leeway_secs > 300 {
        return Err(Error::config(format!(
            "external issuer {name:?}: leeway_secs is at most 300"
        )));
    }
    if config.min_refetch_secs == 0 && config.jwks_cache_secs == 0 {
        return Err(Error::config(format!(
            "external issuer {name:?}: min_refetch_secs and jwks_cache_secs cannot both be 0"
        )));
    }
    if config.fetch_timeout_ms == 0 || config.fetch_timeout_ms > 60_000 {
        return Err(Error::config(format!(
            "external issuer {name:?}: fetch_timeout_ms must be 1 to 60000"
        )));
    }
    Ok(())
}

fn unverified_segment(
    token: &str,
    index: usize,
) -> Result<serde_json::Map<String, Value>, ExternalTokenError> {
    let segment = token
        .split('.')
        .nth(index)
        .ok_or_else(|| ExternalTokenError::Malformed("not a JWT".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ExternalTokenError::Malformed("bad base64url".into()))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ExternalTokenError::Malformed("not a JSON object".into())),
    }
}

fn unverified_payload(token: &str) -> Result<serde_json::Map<String, Value>, ExternalTokenError> {
    if token.split('.').count() != 3 {
        return Err(ExternalTokenError::Malformed(
            "a JWT has three segments".into(),
        ));
    }
    unverified_segment(token, 1)
}

/// A time claim as whole seconds (integers, or numbers with a fraction, as some providers
/// write them).
fn seconds(claims: &Value, name: &str) -> Result<Option<i64>, ExternalTokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or_else(|| ExternalTokenError::Malformed(format!("claim {name} is not a number"))),
    }
}

/// `exp` (required), `nbf` (if present) with the leeway, `aud` containing a configured
/// audience, and `sub`. The issuer was matched before the key was chosen.
fn check_claims(
    config: &ExternalIssuerConfig,
    claims: &Value,
    now: i64,
) -> Result<(), ExternalTokenError> {
    let leeway = i64::try_from(config.leeway_secs).unwrap_or(0);
    let exp =
        seconds(claims, "exp")?.ok_or_else(|| ExternalTokenError::MissingClaim("exp".into()))?;
    if now > exp.saturating_add(leeway) {
        return Err(ExternalTokenError::Expired);
    }
    if let Some(nbf) = seconds(claims, "nbf")?
        && now.saturating_add(leeway) < nbf
    {
        return Err(ExternalTokenError::NotYetValid);
    }
    let audiences = match claims.get("aud") {
        None | Some(Value::Null) => return Err(ExternalTokenError::MissingClaim("aud".into())),
        other => strings(other),
    };
    if !audiences.iter().any(|a| config.audiences.contains(a)) {
        return Err(ExternalTokenError::WrongAudience);
    }
    Ok(())
}

/// A claim by top-level name, else by dotted path.
fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    name.split('.').try_fold(claims, |v, part| v.get(part))
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn identity(
    config: &ExternalIssuerConfig,
    claims: &Value,
) -> Result<ExternalIdentity, ExternalTokenError> {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ExternalTokenError::MissingClaim("sub".into()))?
        .to_owned();
    let mut roles: Vec<String> = Vec::new();
    if let Some(name) = &config.roles_claim {
        for value in strings(claim(claims, name)) {
            for role in config.role_map.get(&value).into_iter().flatten() {
                if !roles.contains(role) {
                    roles.push(role.clone());
                }
            }
        }
    }
    if roles.is_empty() {
        roles = config.default_roles.clone();
    }
    let scope_values = match claims.get("scope") {
        Some(Value::String(s)) => s.split(' ').map(str::to_owned).collect(),
        other => strings(other.or_else(|| claims.get("scp")))
            .into_iter()
            .flat_map(|s| s.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
    };
    let scopes = ScopeSet::try_from_iter(scope_values.iter().filter(|s| !s.is_empty()))
        .map_err(|e| ExternalTokenError::Malformed(format!("scope: {e}")))?;
    let client_id = ["azp", "client_id"]
        .iter()
        .find_map(|c| claims.get(*c).and_then(Value::as_str))
        .map(str::to_owned);
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| ExternalTokenError::MissingClaim("exp".into()))?;
    Ok(ExternalIdentity {
        issuer: config.issuer.clone(),
        subject,
        roles,
        scopes,
        client_id,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_found_by_name_then_by_path() {
        let claims = serde_json::json!({
            "groups": ["a", "b"],
            "realm_access": {"roles": ["r1"]},
            "https://example.com/roles": ["x"],
        });
        assert_eq!(strings(claim(&claims, "groups")), ["a", "b"]);
        assert_eq!(strings(claim(&claims, "realm_access.roles")), ["r1"]);
        assert_eq!(strings(claim(&claims, "https://example.com/roles")), ["x"]);
        assert!(claim(&claims, "nope.deeper").is_none());
    }

    #[test]
    fn roles_are_mapped_and_unmapped_values_ignored() {
        let mut config =
            ExternalIssuerConfig::new("https://idp.example", "https://mcp.example/mcp");
        config.roles_claim = Some("groups".into());
        config.role_map.insert("ops".into(), vec!["admin".into()]);
        config
            .role_map
            .insert("devs".into(), vec!["developer".into(), "viewer".into()]);
        config.default_roles = vec!["viewer".into()];
        let claims = serde_json::json!({"sub": "s", "exp": 1, "groups": ["devs", "unknown", "ops"], "scp": "a b"});
        let id = identity(&config, &claims).unwrap();
        assert_eq!(id.roles, ["developer", "viewer", "admin"]);
        assert_eq!(id.scopes.to_string(), "a b");
        let none = serde_json::json!({"sub": "s", "exp": 1, "groups": ["unknown"]});
        assert_eq!(identity(&config, &none).unwrap().roles, ["viewer"]);
        let no_sub = serde_json::json!({"exp": 1});
        assert_eq!(
            identity(&config, &no_sub),
            Err(ExternalTokenError::MissingClaim("sub".into()))
        );
    }

    #[test]
    fn insecure_issuers_are_refused_unless_loopback_and_allowed() {
        let ok = ExternalIssuerConfig::new("https://idp.example", "aud");
        assert!(check_config(&ok).is_ok());
        let http = ExternalIssuerConfig::new("http://idp.example", "aud")
            .allowing_insecure_loopback_http();
        assert!(check_config(&http).is_err());
        let local = ExternalIssuerConfig::new("http://127.0.0.1:9000", "aud");
        assert!(check_config(&local).is_err());
        assert!(check_config(&local.allowing_insecure_loopback_http()).is_ok());
        let mut no_aud = ExternalIssuerConfig::new("https://idp.example", "aud");
        no_aud.audiences.clear();
        assert!(check_config(&no_aud).is_err());
    }
}
