//! Verifying tokens against the configured keys and the revocation store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use mcp_core::cache::TtlCache;
use serde::Deserialize;

use crate::claims::{AudienceShape, Claims, ReceivedClaims};
use crate::config::{Algorithm, JwtConfig};
use crate::error::Error;
use crate::keys::{VerifyingKey, verifying_keys};
use crate::store::RevocationStore;

/// Verifies tokens signed by any configured key, and checks them against a
/// [`RevocationStore`].
///
/// The checks, in order: size bound; three base64url segments; a JSON header whose `alg`
/// is supported and whose `kid` is configured; `alg` equal to the algorithm pinned for that
/// key (the token never chooses the algorithm); signature; `exp`, `iss`, `sub` present;
/// `exp`, `nbf` and `iss` valid (with leeway); `jti` present; claim types (`roles` must be
/// an array of strings when present, `scope` a string or an array of strings); the audience
/// ([`JwtConfig::audience`], [`JwtConfig::accepted_audiences`]); and finally the revocation
/// store.
///
/// # Verified-token cache
///
/// A token that passed every check but the revocation store is remembered, keyed by the
/// SHA-256 of the whole token, with its claims (custom claims and per-token lifetime
/// included), for at most [`VERIFIED_CACHE_TTL`](Self::VERIFIED_CACHE_TTL) and at most
/// [`JwtConfig::verified_cache_entries`] tokens (0 turns the cache off). When the same token
/// is presented again, decoding, the signature check and the claim checks that cannot change
/// are skipped; these still run on every use:
///
/// - the size bound, and `exp` and `nbf` against the current time, with the same leeway, so
///   an expired token is refused whether it is remembered or not;
/// - the revocation store, exactly as for a token seen for the first time.
///
/// Any other token, including one that differs from a remembered token by a single byte, is
/// verified in full. Only tokens that verified are remembered, so callers without a valid
/// token cannot grow the cache. The cache belongs to this verifier, whose keys, issuer,
/// audiences and leeway are fixed when it is built: a verifier built from a changed key set
/// (rotation, a new secret) starts with an empty cache.
pub struct JwtVerifier {
    keys: HashMap<String, VerifyingKey>,
    audience: Option<String>,
    accepted_audiences: Vec<String>,
    max_token_bytes: usize,
    leeway_secs: u64,
    store: Arc<dyn RevocationStore>,
    /// SHA-256 of a token -> its claims, for tokens that passed every check but revocation.
    verified: TtlCache<[u8; 32], Arc<Claims>>,
}

/// The header fields we look at before choosing a key. Everything else is left to
/// `jsonwebtoken`, which parses the header again under the pinned algorithm.
#[derive(Deserialize)]
struct ReceivedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl JwtVerifier {
    /// How long a verified token is remembered at most (it is checked for expiry on every
    /// use regardless).
    pub const VERIFIED_CACHE_TTL: StdDuration = StdDuration::from_secs(10 * 60);

    /// Checks the configuration, loads every key, and uses `store` for revocation.
    pub fn from_config(config: &JwtConfig, store: Arc<dyn RevocationStore>) -> Result<Self, Error> {
        crate::crypto::install();
        Ok(Self {
            keys: verifying_keys(config)?,
            audience: config.audience.clone(),
            accepted_audiences: config.accepted_audiences.clone(),
            max_token_bytes: config.max_token_bytes,
            leeway_secs: config.leeway_secs,
            store,
            verified: TtlCache::new(Self::VERIFIED_CACHE_TTL, config.verified_cache_entries),
        })
    }

    /// Verifies `token` (the compact JWS, without any `Bearer ` prefix) and returns its
    /// claims. Any failure is an error; a token is never accepted with reduced rights.
    pub async fn verify(&self, token: &str) -> Result<Claims, Error> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
            .await
    }

    /// [`verify`](Self::verify) at `now` (Unix seconds) for a token found in the cache; a
    /// token verified in full is checked against the system clock by `jsonwebtoken`.
    async fn verify_at(&self, token: &str, now: u64) -> Result<Claims, Error> {
        let claims = self.verify_without_revocation(token, now)?;
        match self.store.is_revoked(&claims.jti).await {
            Ok(false) => Ok(claims),
            Ok(true) => Err(Error::Revoked),
            Err(e) => Err(Error::Store(e)),
        }
    }

    /// How many verified tokens are remembered now (expired ones included until they are
    /// dropped).
    pub fn verified_cache_len(&self) -> usize {
        self.verified.len()
    }

    /// Everything [`verify`](Self::verify) checks except the revocation store, from the
    /// cache when `token` verified before.
    fn verify_without_revocation(&self, token: &str, now: u64) -> Result<Claims, Error> {
        if token.len() > self.max_token_bytes {
            return Err(Error::TooLarge {
                len: token.len(),
                max: self.max_token_bytes,
            });
        }
        if !self.verified.is_enabled() {
            return self.decode(token);
        }
        let mut digest = [0_u8; 32];
        digest.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref(),
        );
        if let Some(claims) = self.verified.get(&digest) {
            return match self.check_times(&claims, now) {
                Ok(()) => Ok(Claims::clone(&claims)),
                Err(e) => {
                    // It can only become valid again by not being expired: drop it.
                    if matches!(e, Error::Expired) {
                        self.verified.invalidate(&digest);
                    }
                    Err(e)
                }
            };
        }
        let stamp = self.verified.stamp();
        let claims = self.decode(token)?;
        self.verified
            .insert(digest, Arc::new(claims.clone()), stamp);
        Ok(claims)
    }

    /// The time checks `jsonwebtoken` makes, for a remembered token: `exp` before `now`
    /// minus the leeway is [`Error::Expired`], `nbf` after `now` plus the leeway
    /// [`Error::NotYetValid`].
    fn check_times(&self, claims: &Claims, now: u64) -> Result<(), Error> {
        if claims.exp < now.saturating_sub(self.leeway_secs) {
            return Err(Error::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway_secs))
        {
            return Err(Error::NotYetValid);
        }
        Ok(())
    }

    /// Verifies `token` in full (everything but the size bound and revocation).
    fn decode(&self, token: &str) -> Result<Claims, Error> {
        let mut segments = token.split('.');
        let (Some(header), Some(_payload), Some(_signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Error::malformed(
                "a JWT has exactly three dot-separated segments",
            ));
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|e| Error::malformed(format!("header is not base64url: {e}")))?;
        let header: ReceivedHeader = serde_json::from_slice(&header)
            .map_err(|e| Error::malformed(format!("header is not a JWS header object: {e}")))?;
        if header.crit.is_some() {
            return Err(Error::malformed(
                "critical header extensions are not supported",
            ));
        }
        let Some(alg) = Algorithm::from_jose(&header.alg) else {
            return Err(Error::UnsupportedAlgorithm {
                alg: for_log(header.alg),
            });
        };
        let kid = header
            .kid
            .ok_or_else(|| Error::malformed("header has no kid"))?;
        let Some(key) = self.keys.get(&kid) else {
            return Err(Error::UnknownKey { kid: for_log(kid) });
        };
        if alg != key.algorithm {
            return Err(Error::UnsupportedAlgorithm {
                alg: for_log(header.alg),
            });
        }
        let data = jsonwebtoken::decode::<ReceivedClaims>(token, &key.key, &key.validation)
            .map_err(|e| Error::from_decode(e, &kid))?;
        let shape = data.claims.audience_shape();
        let claims = data.claims.into_claims()?;
        self.check_audience(&claims, shape)?;
        Ok(claims)
    }

    /// With an audience configured (or accepted), an `aud` must name one of them; a missing
    /// `aud` is refused only when [`JwtConfig::audience`] is set, an unreadable one always.
    fn check_audience(&self, claims: &Claims, shape: AudienceShape) -> Result<(), Error> {
        if self.audience.is_none() && self.accepted_audiences.is_empty() {
            return Ok(());
        }
        let missing = || Error::MissingClaim {
            claim: "aud".to_owned(),
        };
        match shape {
            AudienceShape::Named => {}
            AudienceShape::Absent if self.audience.is_none() => return Ok(()),
            AudienceShape::Absent | AudienceShape::Unreadable => return Err(missing()),
        }
        let accepted = |aud: &String| {
            self.audience.as_ref() == Some(aud) || self.accepted_audiences.contains(aud)
        };
        if claims.aud.iter().any(accepted) {
            Ok(())
        } else {
            Err(Error::WrongAudience)
        }
    }

    /// Revokes a verified token until it expires.
    pub async fn revoke(&self, claims: &Claims) -> Result<(), Error> {
        self.store
            .revoke(&claims.jti, claims.expires_at())
            .await
            .map_err(Error::Store)
    }

    /// Drops revocations of tokens that can no longer verify anyway (expired for longer
    /// than the leeway). Returns how many were removed.
    pub async fn purge_expired_revocations(&self) -> Result<u64, Error> {
        // The leeway was bounded by `from_config`, so these conversions cannot fail.
        let leeway = i64::try_from(self.leeway_secs)
            .ok()
            .and_then(Duration::try_seconds);
        let now = Utc::now();
        let cutoff = leeway
            .and_then(|l| now.checked_sub_signed(l))
            .unwrap_or(now);
        self.store.purge_expired(cutoff).await.map_err(Error::Store)
    }

    /// The configured key ids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// Header values end up in logs: bound their length and escape control characters.
fn for_log(value: String) -> String {
    const MAX_CHARS: usize = 128;
    if value.len() <= MAX_CHARS && !value.chars().any(char::is_control) {
        return value;
    }
    let mut shown: String = value
        .chars()
        .take(MAX_CHARS)
        .flat_map(char::escape_default)
        .collect();
    if value.chars().count() > MAX_CHARS {
        shown.push('…');
    }
    shown
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.kids().collect();
        kids.sort_unstable();
        f.debug_struct("JwtVerifier")
            .field("kids", &kids)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyConfig;
    use crate::store::memory::MemoryRevocationStore;
    use crate::{JwtIssuer, TokenOptions};

    const SECRET: &str = "a-unit-test-secret-of-at-least-32-bytes";

    fn config() -> JwtConfig {
        JwtConfig::new(
            "https://mcp.test",
            "k1",
            vec![KeyConfig::hs256("k1", SECRET)],
        )
        .with_ttl_secs(3600)
        .with_max_ttl_secs(7200)
    }

    fn verifier_with(config: &JwtConfig) -> (JwtVerifier, Arc<MemoryRevocationStore>) {
        let store = Arc::new(MemoryRevocationStore::new());
        let verifier = JwtVerifier::from_config(config, Arc::clone(&store) as _).unwrap();
        (verifier, store)
    }

    fn issue(config: &JwtConfig) -> String {
        JwtIssuer::from_config(config)
            .unwrap()
            .issue("alice", ["operator"])
            .unwrap()
            .token
    }

    #[tokio::test]
    async fn a_remembered_token_is_refused_once_expired() {
        let config = config();
        let (verifier, _) = verifier_with(&config);
        let token = issue(&config);
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.verified_cache_len(), 1);
        // Still within the leeway after `exp`: accepted, as a full verification would.
        let last_ok = claims.exp + config.leeway_secs;
        assert_eq!(verifier.verify_at(&token, last_ok).await.unwrap(), claims);
        assert!(matches!(
            verifier.verify_at(&token, last_ok + 1).await,
            Err(Error::Expired)
        ));
        // An expired token is forgotten, and the full check refuses it as well.
        assert_eq!(verifier.verified_cache_len(), 0);
    }

    #[tokio::test]
    async fn a_remembered_token_before_its_nbf_is_refused() {
        let config = config();
        let (verifier, _) = verifier_with(&config);
        let token = issue(&config);
        let claims = verifier.verify(&token).await.unwrap();
        let nbf = claims.nbf.expect("issued tokens carry nbf");
        let first_ok = nbf - config.leeway_secs;
        assert!(verifier.verify_at(&token, first_ok).await.is_ok());
        assert!(matches!(
            verifier.verify_at(&token, first_ok - 1).await,
            Err(Error::NotYetValid)
        ));
    }

    #[tokio::test]
    async fn a_token_altered_in_any_byte_is_verified_in_full_not_taken_from_the_cache() {
        let config = config();
        let (verifier, _) = verifier_with(&config);
        let token = issue(&config);
        verifier.verify(&token).await.unwrap();
        let first_dot = token.find('.').unwrap();
        let last_dot = token.rfind('.').unwrap();
        // One byte in the header, the payload, the signature; and the last byte.
        for at in [first_dot - 2, first_dot + 5, last_dot + 5, token.len() - 1] {
            let mut altered = token.clone().into_bytes();
            altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).unwrap();
            assert!(
                verifier.verify(&altered).await.is_err(),
                "altered at byte {at} was accepted"
            );
        }
        // A prefix of a remembered token is not that token either.
        assert!(verifier.verify(&token[..token.len() - 1]).await.is_err());
        assert_eq!(verifier.verified_cache_len(), 1);
    }

    #[tokio::test]
    async fn a_remembered_token_revoked_behind_the_verifiers_back_is_refused() {
        let config = config();
        let (verifier, store) = verifier_with(&config);
        let token = issue(&config);
        let claims = verifier.verify(&token).await.unwrap();
        store
            .revoke(&claims.jti, claims.expires_at())
            .await
            .unwrap();
        assert!(matches!(verifier.verify(&token).await, Err(Error::Revoked)));
        assert!(matches!(verifier.verify(&token).await, Err(Error::Revoked)));
    }

    #[tokio::test]
    async fn custom_claims_and_lifetime_come_back_the_same_from_the_cache() {
        let config = config();
        let (verifier, _) = verifier_with(&config);
        let issued = JwtIssuer::from_config(&config)
            .unwrap()
            .issue_with(
                "alice",
                ["operator"],
                TokenOptions::new()
                    .ttl_secs(90)
                    .scope(["tools:read"])
                    .client_id("cli")
                    .claim("tenant", serde_json::json!({"id": 7})),
            )
            .unwrap();
        let first = verifier.verify(&issued.token).await.unwrap();
        let again = verifier.verify(&issued.token).await.unwrap();
        assert_eq!(first, again);
        assert_eq!(again.exp, again.iat.unwrap() + 90);
        assert_eq!(again.scope.as_deref(), Some(&["tools:read".to_owned()][..]));
        assert_eq!(again.client_id.as_deref(), Some("cli"));
        let tenant: Option<serde_json::Value> = again.custom_claim("tenant").unwrap();
        assert_eq!(tenant, Some(serde_json::json!({"id": 7})));
    }

    #[tokio::test]
    async fn only_tokens_that_verified_are_remembered() {
        let config = config();
        let (verifier, _) = verifier_with(&config);
        let token = issue(&config);
        let mut forged = token.clone();
        forged.push('x');
        for bad in ["", "a.b.c", forged.as_str()] {
            assert!(verifier.verify(bad).await.is_err());
        }
        let expired = JwtIssuer::from_config(&config)
            .unwrap()
            .issue_at("alice", ["operator"], Utc::now() - Duration::days(3))
            .unwrap();
        assert!(matches!(
            verifier.verify(&expired.token).await,
            Err(Error::Expired)
        ));
        assert_eq!(verifier.verified_cache_len(), 0);
    }

    #[tokio::test]
    async fn a_verifier_with_another_secret_refuses_a_token_another_verifier_remembers() {
        let config = config();
        let (verifier, _) = verifier_with(&config);
        let token = issue(&config);
        verifier.verify(&token).await.unwrap();
        let rotated = JwtConfig::new(
            "https://mcp.test",
            "k1",
            vec![KeyConfig::hs256(
                "k1",
                "another-unit-test-secret-of-32-bytes!!",
            )],
        );
        let (other, _) = verifier_with(&rotated);
        assert!(matches!(
            other.verify(&token).await,
            Err(Error::BadSignature)
        ));
    }

    #[tokio::test]
    async fn with_zero_entries_nothing_is_remembered_and_tokens_still_verify() {
        let config = config().with_verified_cache_entries(0);
        let (verifier, _) = verifier_with(&config);
        let token = issue(&config);
        verifier.verify(&token).await.unwrap();
        verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.verified_cache_len(), 0);
    }

    #[tokio::test]
    async fn the_cache_holds_at_most_the_configured_number_of_tokens() {
        let config = config().with_verified_cache_entries(3);
        let (verifier, _) = verifier_with(&config);
        for _ in 0..5 {
            verifier.verify(&issue(&config)).await.unwrap();
        }
        assert_eq!(verifier.verified_cache_len(), 3);
    }

    #[test]
    fn more_than_the_largest_cache_is_a_config_error() {
        let config = config().with_verified_cache_entries(crate::MAX_VERIFIED_CACHE_ENTRIES + 1);
        let store = Arc::new(MemoryRevocationStore::new());
        assert!(matches!(
            JwtVerifier::from_config(&config, store),
            Err(Error::Config { .. })
        ));
    }
}
