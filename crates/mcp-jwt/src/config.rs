//! Plain serde configuration: issuer, lifetimes, bounds and keys.

use std::fmt;

use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The default token lifetime: 24 hours.
pub const DEFAULT_TTL_SECS: u64 = 24 * 60 * 60;
/// The default clock-skew allowance for `exp` and `nbf`: 60 seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// The default bound on a token's length, checked before any parsing: 8 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The shortest HMAC secret accepted for HS256, in bytes (RFC 7518 §3.2).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;
/// The longest leeway accepted, so clock arithmetic can never overflow: one day.
pub const MAX_LEEWAY_SECS: u64 = 24 * 60 * 60;
/// The longest lifetime accepted: one year.
pub const MAX_TTL_SECS: u64 = 366 * 24 * 60 * 60;
/// Default [`JwtConfig::verified_cache_entries`].
pub const DEFAULT_VERIFIED_CACHE_ENTRIES: usize = 10_000;
/// Largest accepted [`JwtConfig::verified_cache_entries`].
pub const MAX_VERIFIED_CACHE_ENTRIES: usize = 1_000_000;

/// A signature algorithm this crate supports. Each key is pinned to exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 over a shared secret (the default).
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256; keys from PEM.
    RS256,
    /// Ed25519 signatures; keys from PEM.
    EdDSA,
}

impl Algorithm {
    /// The JOSE name of the algorithm, as it appears in a token's `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn from_jose(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Self::HS256),
            "RS256" => Some(Self::RS256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::HS256 => jsonwebtoken::Algorithm::HS256,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Secret text (an HMAC secret or a private key PEM).
///
/// Its memory is wiped on drop, `Debug` never shows it, and equality is constant-time.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps secret text.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret's bytes. Avoid copying them anywhere that outlives the call.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose().ct_eq(other.expose()).into()
    }
}

impl Eq for Secret {}

/// One key, identified by its `kid` and pinned to one algorithm.
///
/// * `HS256`: set `secret` (at least 32 bytes); no PEMs.
/// * `RS256` and `EdDSA`: set `public_key_pem` (SPKI, `-----BEGIN PUBLIC KEY-----`) to
///   verify, and also `private_key_pem` (PKCS#8) if this key signs; no `secret`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeyConfig {
    /// The key id written into and looked up from the token header.
    pub kid: String,
    /// The only algorithm this key is used with.
    pub algorithm: Algorithm,
    /// The HMAC secret, for `HS256`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The private key PEM, for signing with `RS256` or `EdDSA`.
    #[serde(default)]
    pub private_key_pem: Option<Secret>,
    /// The public key PEM, for verifying `RS256` or `EdDSA`.
    #[serde(default)]
    pub public_key_pem: Option<String>,
}

impl KeyConfig {
    /// An `HS256` key from a shared secret.
    pub fn hs256(kid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Self {
            kid: kid.into(),
            algorithm: Algorithm::HS256,
            secret: Some(secret.into()),
            private_key_pem: None,
            public_key_pem: None,
        }
    }

    /// An `RS256` key from PEM text; pass `private_key_pem` only where this key signs.
    pub fn rs256(
        kid: impl Into<String>,
        public_key_pem: impl Into<String>,
        private_key_pem: Option<Secret>,
    ) -> Self {
        Self::asymmetric(
            kid.into(),
            Algorithm::RS256,
            public_key_pem.into(),
            private_key_pem,
        )
    }

    /// An `EdDSA` (Ed25519) key from PEM text; pass `private_key_pem` only where this key
    /// signs.
    pub fn eddsa(
        kid: impl Into<String>,
        public_key_pem: impl Into<String>,
        private_key_pem: Option<Secret>,
    ) -> Self {
        Self::asymmetric(
            kid.into(),
            Algorithm::EdDSA,
            public_key_pem.into(),
            private_key_pem,
        )
    }

    fn asymmetric(
        kid: String,
        algorithm: Algorithm,
        public_key_pem: String,
        private_key_pem: Option<Secret>,
    ) -> Self {
        Self {
            kid,
            algorithm,
            secret: None,
            private_key_pem,
            public_key_pem: Some(public_key_pem),
        }
    }
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("has_secret", &self.secret.is_some())
            .field("has_private_key", &self.private_key_pem.is_some())
            .field("has_public_key", &self.public_key_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Token issuance and verification settings.
///
/// Rotation: add the new key, point `signing_kid` at it, and keep the old key configured
/// until every token it signed has expired (`ttl_secs + leeway_secs`); then remove it.
///
/// ```
/// let config: mcp_jwt::JwtConfig = serde_json::from_str(r#"{
///     "issuer": "https://mcp.example",
///     "signing_kid": "2026-11",
///     "keys": [{ "kid": "2026-11", "algorithm": "HS256",
///                "secret": "a secret of at least thirty-two bytes!" }]
/// }"#)?;
/// assert_eq!(config.ttl_secs, 24 * 60 * 60);
/// assert!(!format!("{config:?}").contains("thirty-two"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtConfig {
    /// The `iss` written into issued tokens and required of verified ones.
    pub issuer: String,
    /// The `kid` of the key new tokens are signed with. Needed only to issue.
    #[serde(default)]
    pub signing_kid: Option<String>,
    /// Token lifetime in seconds (default 24 h): what a token gets unless its issuer asks for
    /// another lifetime ([`TokenOptions::ttl_secs`](crate::TokenOptions::ttl_secs)).
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
    /// Longest lifetime one token may be given, in seconds (default: `ttl_secs`). A request
    /// for more is refused with [`Error::TtlTooLong`](crate::Error::TtlTooLong).
    #[serde(default)]
    pub max_ttl_secs: Option<u64>,
    /// Allowed clock skew for `exp` and `nbf`, in seconds (default 60).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Longest token accepted, in bytes, checked before parsing (default 8 KiB).
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// The `aud` written into issued tokens and, when set, required of verified ones: a
    /// token without `aud`, or whose `aud` (a string or an array of strings) does not
    /// contain this value, is refused. Unset (the default): no `aud` is written or checked.
    #[serde(default)]
    pub audience: Option<String>,
    /// Further audiences a verified token may name, for tokens issued with their own
    /// audience ([`TokenOptions::audience`](crate::TokenOptions::audience), for example the
    /// resource of an OAuth access token). Once `audience` or this list is set, a token's
    /// `aud`, when present, must contain one of them ([`Error::WrongAudience`](crate::Error::WrongAudience)
    /// otherwise); a token without `aud` is refused only when `audience` is set.
    #[serde(default)]
    pub accepted_audiences: Vec<String>,
    /// Every key tokens may be verified with, including the signing key.
    pub keys: Vec<KeyConfig>,
    /// How many verified tokens the verifier remembers (default 10,000; 0: none), so a token
    /// presented again is not decoded and its signature not checked again. Expiry, `nbf` and
    /// revocation are still checked on every use; see
    /// [`JwtVerifier`](crate::JwtVerifier#verified-token-cache).
    #[serde(default = "default_verified_cache_entries")]
    pub verified_cache_entries: usize,
}

fn default_verified_cache_entries() -> usize {
    DEFAULT_VERIFIED_CACHE_ENTRIES
}

fn default_ttl() -> u64 {
    DEFAULT_TTL_SECS
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY_SECS
}

fn default_max_token_bytes() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}

impl JwtConfig {
    /// A configuration with default lifetime, leeway and size bound that signs with
    /// `signing_kid`.
    pub fn new(
        issuer: impl Into<String>,
        signing_kid: impl Into<String>,
        keys: Vec<KeyConfig>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            signing_kid: Some(signing_kid.into()),
            ttl_secs: DEFAULT_TTL_SECS,
            max_ttl_secs: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            audience: None,
            accepted_audiences: Vec::new(),
            keys,
            verified_cache_entries: DEFAULT_VERIFIED_CACHE_ENTRIES,
        }
    }

    /// Adds audiences a verified token may name besides [`audience`](Self::audience).
    #[must_use]
    pub fn with_accepted_audiences<S: Into<String>>(
        mut self,
        audiences: impl IntoIterator<Item = S>,
    ) -> Self {
        self.accepted_audiences
            .extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Sets the longest lifetime one token may be given, in seconds.
    #[must_use]
    pub fn with_max_ttl_secs(mut self, max_ttl_secs: u64) -> Self {
        self.max_ttl_secs = Some(max_ttl_secs);
        self
    }

    /// The longest lifetime one token may be given: `max_ttl_secs`, else `ttl_secs`.
    pub fn effective_max_ttl_secs(&self) -> u64 {
        self.max_ttl_secs.unwrap_or(self.ttl_secs)
    }

    /// Sets the audience written into and required of tokens.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the token lifetime in seconds.
    #[must_use]
    pub fn with_ttl_secs(mut self, ttl_secs: u64) -> Self {
        self.ttl_secs = ttl_secs;
        self
    }

    /// Sets the allowed clock skew in seconds.
    #[must_use]
    pub fn with_leeway_secs(mut self, leeway_secs: u64) -> Self {
        self.leeway_secs = leeway_secs;
        self
    }

    /// Sets the longest token accepted, in bytes.
    #[must_use]
    pub fn with_max_token_bytes(mut self, max_token_bytes: usize) -> Self {
        self.max_token_bytes = max_token_bytes;
        self
    }

    /// Sets how many verified tokens the verifier remembers (0: none).
    #[must_use]
    pub fn with_verified_cache_entries(mut self, entries: usize) -> Self {
        self.verified_cache_entries = entries;
        self
    }
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("issuer", &self.issuer)
            .field("signing_kid", &self.signing_kid)
            .field("ttl_secs", &self.ttl_secs)
            .field("max_ttl_secs", &self.max_ttl_secs)
            .field("leeway_secs", &self.leeway_secs)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("audience", &self.audience)
            .field("accepted_audiences", &self.accepted_audiences)
            .field("keys", &self.keys)
            .field("verified_cache_entries", &self.verified_cache_entries)
            .finish()
    }
}
