//! An issuer's signing keys: discovery, the JWKS fetch, caching, rate-limited refetch, and
//! signature checks with `ring` (RSA PKCS#1 v1.5 SHA-256 with keys of 2048 to 8192 bits,
//! ECDSA P-256 SHA-256, Ed25519).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;
use url::Url;

use super::{ExternalAlgorithm, ExternalIssuerConfig, ExternalTokenError};
use crate::error::Error;
use crate::fetch::{FetchPolicy, HttpFetch};

/// Largest discovery document or JWKS read, in bytes.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Most keys kept from one JWKS.
const MAX_KEYS: usize = 100;

/// A public key as published, ready to check signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PublicKey {
    /// RSA modulus and exponent (big-endian).
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (`04 || x || y`).
    P256(Vec<u8>),
    /// An Ed25519 public key.
    Ed25519(Vec<u8>),
}

impl PublicKey {
    /// Whether `sig` is a valid signature of `message` under this key with `alg`.
    pub(super) fn verifies(&self, alg: ExternalAlgorithm, message: &[u8], sig: &[u8]) -> bool {
        match (self, alg) {
            (Self::Rsa { n, e }, ExternalAlgorithm::RS256) => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            (Self::P256(point), ExternalAlgorithm::ES256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (Self::Ed25519(x), ExternalAlgorithm::EdDSA) => {
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(message, sig)
                    .is_ok()
            }
            _ => false,
        }
    }
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: ExternalAlgorithm,
    key: PublicKey,
}

#[derive(Default)]
struct Cached {
    keys: Arc<Vec<Key>>,
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct Fetching {
    jwks_uri: Option<Url>,
    last_attempt: Option<Instant>,
}

/// The keys of one issuer.
pub(super) struct KeySet {
    pub(super) config: ExternalIssuerConfig,
    fetcher: Arc<dyn HttpFetch>,
    policy: FetchPolicy,
    cached: RwLock<Cached>,
    /// Held while fetching, so that one fetch runs at a time per issuer.
    fetching: tokio::sync::Mutex<Fetching>,
}

impl KeySet {
    pub(super) fn new(
        config: ExternalIssuerConfig,
        fetcher: Arc<dyn HttpFetch>,
    ) -> Result<Self, Error> {
        let jwks_uri = match &config.jwks_uri {
            Some(uri) => {
                Some(Url::parse(uri).map_err(|e| Error::config(format!("jwks_uri {uri:?}: {e}")))?)
            }
            None => None,
        };
        // Issuers are configured by the operator: private addresses (an in-house Keycloak)
        // are allowed; plain http only to loopback and only when configured.
        let policy = FetchPolicy::public(
            MAX_DOCUMENT_BYTES,
            Duration::from_millis(config.fetch_timeout_ms),
        )
        .allowing_private_addresses(true)
        .allowing_loopback_http(config.allow_insecure_loopback_http);
        Ok(Self {
            config,
            fetcher,
            policy,
            cached: RwLock::new(Cached::default()),
            fetching: tokio::sync::Mutex::new(Fetching {
                jwks_uri,
                last_attempt: None,
            }),
        })
    }

    fn snapshot(&self) -> (Arc<Vec<Key>>, Option<Instant>) {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        (Arc::clone(&cached.keys), cached.fetched_at)
    }

    fn fresh(&self, fetched_at: Option<Instant>) -> bool {
        fetched_at.is_some_and(|t| t.elapsed() < Duration::from_secs(self.config.jwks_cache_secs))
    }

    /// The key for a token's `kid` and algorithm, fetching the JWKS when it is missing or
    /// stale, or (at most once per `min_refetch_secs`) when the `kid` is unknown.
    pub(super) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: ExternalAlgorithm,
    ) -> Result<PublicKey, ExternalTokenError> {
        let (keys, fetched_at) = self.snapshot();
        let found = find(&keys, kid, alg)?;
        if let Some(key) = &found
            && self.fresh(fetched_at)
        {
            return Ok(key.clone());
        }
        // Stale, missing, or unknown kid: one fetch at a time.
        let mut fetching = self.fetching.lock().await;
        let (keys, fetched_at) = self.snapshot();
        if let Some(key) = find(&keys, kid, alg)?
            && self.fresh(fetched_at)
        {
            return Ok(key);
        }
        let may_fetch = fetching
            .last_attempt
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(self.config.min_refetch_secs));
        if may_fetch {
            fetching.last_attempt = Some(Instant::now());
            match self.fetch_keys(&mut fetching).await {
                Ok(new_keys) => {
                    let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
                    cached.keys = Arc::new(new_keys);
                    cached.fetched_at = Some(Instant::now());
                }
                Err(reason) => {
                    tracing::warn!(issuer = %self.config.issuer, %reason, "fetching the keys of an external issuer failed");
                    if keys.is_empty() {
                        return Err(ExternalTokenError::KeysUnavailable(reason));
                    }
                }
            }
        }
        let (keys, _) = self.snapshot();
        // A stale key still verifies if the provider cannot be reached right now.
        match find(&keys, kid, alg)?.or(found) {
            Some(key) => Ok(key),
            None => Err(ExternalTokenError::UnknownKey(
                kid.map(crate::params::shorten).unwrap_or_default(),
            )),
        }
    }

    async fn fetch_keys(&self, fetching: &mut Fetching) -> Result<Vec<Key>, String> {
        let jwks_uri = match &fetching.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                fetching.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let document = self
            .fetcher
            .get(&jwks_uri, &self.policy)
            .await
            .map_err(|e| format!("JWKS {jwks_uri}: {e}"))?;
        parse_jwks(&document.body)
    }

    /// The `jwks_uri` of the issuer's discovery document (OpenID, then RFC 8414).
    async fn discover(&self) -> Result<Url, String> {
        let issuer = &self.config.issuer;
        let base = issuer.trim_end_matches('/');
        let mut candidates = vec![format!("{base}/.well-known/openid-configuration")];
        if let Ok(url) = Url::parse(base) {
            let path = url.path().trim_end_matches('/');
            candidates.push(format!(
                "{}/.well-known/oauth-authorization-server{path}",
                url.origin().ascii_serialization()
            ));
        }
        let mut errors = Vec::new();
        for candidate in candidates {
            let Ok(url) = Url::parse(&candidate) else {
                continue;
            };
            match self.fetcher.get(&url, &self.policy).await {
                Ok(doc) => {
                    let json: Value = serde_json::from_slice(&doc.body)
                        .map_err(|e| format!("{url}: not JSON: {e}"))?;
                    if json.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
                        return Err(format!("{url}: the document names another issuer"));
                    }
                    let jwks = json
                        .get("jwks_uri")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("{url}: no jwks_uri"))?;
                    return Url::parse(jwks).map_err(|e| format!("{url}: jwks_uri: {e}"));
                }
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        Err(format!("discovery failed: {}", errors.join("; ")))
    }
}

/// The key for `kid` and `alg`: by `kid` when the token names one, else the only key of
/// that algorithm. A `kid` whose key has another algorithm is refused.
fn find(
    keys: &[Key],
    kid: Option<&str>,
    alg: ExternalAlgorithm,
) -> Result<Option<PublicKey>, ExternalTokenError> {
    match kid {
        Some(kid) => match keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
            Some(k) if k.alg == alg => Ok(Some(k.key.clone())),
            Some(_) => Err(ExternalTokenError::UnsupportedAlgorithm(
                "the key named by kid is for another algorithm".into(),
            )),
            None => Ok(None),
        },
        None => {
            let mut matching = keys.iter().filter(|k| k.alg == alg);
            match (matching.next(), matching.next()) {
                (Some(only), None) => Ok(Some(only.key.clone())),
                (Some(_), Some(_)) => Err(ExternalTokenError::Malformed(
                    "the token has no kid and the issuer has several keys".into(),
                )),
                (None, _) => Ok(None),
            }
        }
    }
}

fn b64_field(entry: &Value, name: &str) -> Option<Vec<u8>> {
    entry
        .get(name)
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
        .filter(|b| !b.is_empty())
}

/// One JWK as a signature key, or `None` for anything else (encryption keys, symmetric keys,
/// other curves, malformed entries).
fn parse_key(entry: &Value) -> Option<Key> {
    if entry
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    let kty = entry.get("kty").and_then(Value::as_str)?;
    let crv = entry.get("crv").and_then(Value::as_str).unwrap_or_default();
    let declared = entry.get("alg").and_then(Value::as_str);
    let (alg, key) = match (kty, crv, declared) {
        ("RSA", _, None | Some("RS256")) => {
            let (n, e) = (b64_field(entry, "n")?, b64_field(entry, "e")?);
            (ExternalAlgorithm::RS256, PublicKey::Rsa { n, e })
        }
        ("EC", "P-256", None | Some("ES256")) => {
            let (x, y) = (b64_field(entry, "x")?, b64_field(entry, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = vec![4u8];
            point.extend(x);
            point.extend(y);
            (ExternalAlgorithm::ES256, PublicKey::P256(point))
        }
        ("OKP", "Ed25519", None | Some("EdDSA" | "Ed25519")) => {
            let x = b64_field(entry, "x")?;
            if x.len() != 32 {
                return None;
            }
            (ExternalAlgorithm::EdDSA, PublicKey::Ed25519(x))
        }
        _ => return None,
    };
    Some(Key {
        kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
        alg,
        key,
    })
}

/// The signature keys of a JWKS.
fn parse_jwks(body: &[u8]) -> Result<Vec<Key>, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
    let entries = json
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("JWKS has no keys array")?;
    Ok(entries
        .iter()
        .take(MAX_KEYS)
        .filter_map(parse_key)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_parsing_keeps_only_signature_keys_of_supported_kinds() {
        let jwks = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "RSA", "kid": "rs-wrong-alg", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "kid": "short", "x": "AA", "y": "AA"},
            "not an object",
        ]});
        let keys = parse_jwks(jwks.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["ed"]);
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"nope").is_err());
    }

    #[test]
    fn rfc_8037_ed25519_example_verifies() {
        // RFC 8037 A.4: the JWS "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc".
        let key = parse_key(&serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }))
        .unwrap();
        let sig = URL_SAFE_NO_PAD
            .decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
            .unwrap();
        let input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert!(key.key.verifies(ExternalAlgorithm::EdDSA, input, &sig));
        assert!(
            !key.key
                .verifies(ExternalAlgorithm::EdDSA, b"tampered", &sig)
        );
        assert!(!key.key.verifies(ExternalAlgorithm::RS256, input, &sig));
    }
}
