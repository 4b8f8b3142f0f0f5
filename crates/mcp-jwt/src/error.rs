//! The one error type of this crate.

use mcp_core::StoreError;

/// Why a token was refused, or why a configuration or key could not be used.
///
/// Every verification failure is its own variant so the caller can log the exact reason,
/// while still answering the client with one generic "invalid token". None of these is
/// ever turned into a downgraded (for example role-less) principal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token's `exp` is in the past (beyond the configured leeway).
    #[error("token expired")]
    Expired,
    /// The token's `nbf` is in the future (beyond the configured leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// The signature does not match the header and payload for the named key.
    #[error("token signature is invalid")]
    BadSignature,
    /// The token's `iss` is not the configured issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// An audience is configured and the token's `aud` does not contain it. (A token with
    /// no `aud` at all, or one that is neither a string nor an array of strings, is
    /// [`Error::MissingClaim`].)
    #[error("token audience is not accepted")]
    WrongAudience,
    /// The token is not a well-formed JWT for this verifier: wrong number of segments,
    /// bad base64url, a header or payload that is not a JSON object, a claim of the wrong
    /// type (such as `roles` that is not an array of strings), or a missing `kid`.
    #[error("malformed token: {reason}")]
    Malformed {
        /// What was wrong, for logs.
        reason: String,
    },
    /// A claim this verifier requires (`exp`, `iss`, `sub`, `jti`, and `aud` when an
    /// audience is configured) is absent.
    #[error("token lacks the required claim `{claim}`")]
    MissingClaim {
        /// The name of the missing claim.
        claim: String,
    },
    /// The header names a key id that is not configured (for example a key that was
    /// rotated out).
    #[error("unknown signing key id `{kid}`")]
    UnknownKey {
        /// The `kid` from the token header.
        kid: String,
    },
    /// The token's `jti` is in the revocation store.
    #[error("token has been revoked")]
    Revoked,
    /// The header's `alg` is not the algorithm pinned for the key it names, or not one
    /// this crate supports at all (this covers `none` and algorithm-confusion attempts).
    #[error("algorithm `{alg}` is not accepted")]
    UnsupportedAlgorithm {
        /// The `alg` from the token header.
        alg: String,
    },
    /// The token is longer than the configured bound and was refused before parsing.
    #[error("token is {len} bytes, more than the allowed {max}")]
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The revocation store failed; the token's status is unknown, so it is refused.
    #[error("revocation store failed")]
    Store(#[source] StoreError),
    /// The configuration is invalid (for example no keys, a duplicate `kid`, or a
    /// signing key id that is not configured).
    #[error("invalid JWT configuration: {reason}")]
    Config {
        /// What was wrong.
        reason: String,
    },
    /// A configured key could not be used (bad PEM, HMAC secret too short, private and
    /// public key that do not match, ...).
    #[error("invalid key `{kid}`: {reason}")]
    Key {
        /// The `kid` of the offending key.
        kid: String,
        /// What was wrong.
        reason: String,
    },
    /// A custom claim passed to the issuer uses a name this crate writes itself
    /// ([`RESERVED_CLAIMS`](crate::RESERVED_CLAIMS)).
    #[error("`{claim}` is a reserved claim and cannot be set as a custom claim")]
    ReservedClaim {
        /// The reserved name.
        claim: String,
    },
    /// A token was asked for a lifetime of zero or longer than the configured maximum.
    #[error("a token lifetime of {requested} s is not allowed (1 to {max} s)")]
    TtlTooLong {
        /// The lifetime asked for, in seconds.
        requested: u64,
        /// The configured maximum, in seconds.
        max: u64,
    },
    /// Signing a token failed.
    #[error("signing failed: {reason}")]
    Signing {
        /// What failed.
        reason: String,
    },
}

impl Error {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config {
            reason: reason.into(),
        }
    }

    pub(crate) fn key(kid: &str, reason: impl Into<String>) -> Self {
        Self::Key {
            kid: kid.to_owned(),
            reason: reason.into(),
        }
    }

    /// Maps an error from `jsonwebtoken::decode` to ours. Only called after our own header
    /// checks, so algorithm and key-id problems were already reported precisely.
    pub(crate) fn from_decode(err: jsonwebtoken::errors::Error, kid: &str) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match err.into_kind() {
            K::ExpiredSignature => Self::Expired,
            K::ImmatureSignature => Self::NotYetValid,
            K::InvalidSignature => Self::BadSignature,
            K::InvalidIssuer => Self::WrongIssuer,
            K::InvalidAudience => Self::WrongAudience,
            K::MissingRequiredClaim(claim) => Self::MissingClaim { claim },
            K::InvalidAlgorithm | K::MissingAlgorithm | K::UnsupportedAlgorithm => {
                Self::UnsupportedAlgorithm {
                    alg: "unexpected".to_owned(),
                }
            }
            K::InvalidClaimFormat(claim) => {
                Self::malformed(format!("claim `{claim}` has the wrong type"))
            }
            K::Base64(e) => Self::malformed(format!("bad base64url: {e}")),
            K::Json(e) => Self::malformed(format!("bad JSON: {e}")),
            K::Utf8(e) => Self::malformed(format!("bad UTF-8: {e}")),
            kind @ (K::InvalidEcdsaKey
            | K::InvalidEddsaKey
            | K::InvalidRsaKey(_)
            | K::InvalidKeyFormat
            | K::Provider(_)) => Self::key(kid, format!("{kind:?}")),
            other => Self::malformed(format!("{other:?}")),
        }
    }
}
