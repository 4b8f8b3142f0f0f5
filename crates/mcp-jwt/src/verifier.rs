//! Verifying tokens against the configured keys and the revocation store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
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
pub struct JwtVerifier {
    keys: HashMap<String, VerifyingKey>,
    audience: Option<String>,
    accepted_audiences: Vec<String>,
    max_token_bytes: usize,
    leeway_secs: u64,
    store: Arc<dyn RevocationStore>,
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
        })
    }

    /// Verifies `token` (the compact JWS, without any `Bearer ` prefix) and returns its
    /// claims. Any failure is an error; a token is never accepted with reduced rights.
    pub async fn verify(&self, token: &str) -> Result<Claims, Error> {
        let claims = self.verify_without_revocation(token)?;
        match self.store.is_revoked(&claims.jti).await {
            Ok(false) => Ok(claims),
            Ok(true) => Err(Error::Revoked),
            Err(e) => Err(Error::Store(e)),
        }
    }

    /// Everything [`verify`](Self::verify) checks except the revocation store.
    fn verify_without_revocation(&self, token: &str) -> Result<Claims, Error> {
        if token.len() > self.max_token_bytes {
            return Err(Error::TooLarge {
                len: token.len(),
                max: self.max_token_bytes,
            });
        }
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
