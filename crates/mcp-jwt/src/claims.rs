//! The claims this crate writes and reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;

/// The least-privileged role, given to a validly signed token that has no `roles` claim.
pub const DEFAULT_ROLE: &str = "viewer";

/// The claims of an issued or verified token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Claims {
    /// Subject: who the token speaks for.
    pub sub: String,
    /// Role names. A verified token without a `roles` claim gets `["viewer"]`.
    pub roles: Vec<String>,
    /// Issuer.
    pub iss: String,
    /// Issued at, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Unique token id, the handle for revocation.
    pub jti: String,
}

impl Claims {
    /// The expiry as a timestamp (saturating at chrono's maximum for absurd values).
    pub fn expires_at(&self) -> DateTime<Utc> {
        i64::try_from(self.exp)
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The payload as received. Registered claims are optional here so that a missing one is
/// reported as [`Error::MissingClaim`] by validation rather than as a JSON error; once
/// validation passed they are present.
#[derive(Deserialize)]
pub(crate) struct ReceivedClaims {
    sub: Option<String>,
    #[serde(default, deserialize_with = "roles_if_present")]
    roles: Option<Vec<String>>,
    iss: Option<String>,
    iat: Option<u64>,
    nbf: Option<u64>,
    exp: Option<u64>,
    jti: Option<String>,
}

/// `roles` absent is `None`; present it must be an array of strings (not `null`).
fn roles_if_present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Vec::<String>::deserialize(d).map(Some)
}

impl ReceivedClaims {
    pub(crate) fn into_claims(self) -> Result<Claims, Error> {
        let missing = |claim: &str| Error::MissingClaim {
            claim: claim.to_owned(),
        };
        Ok(Claims {
            sub: self.sub.ok_or_else(|| missing("sub"))?,
            roles: self.roles.unwrap_or_else(|| vec![DEFAULT_ROLE.to_owned()]),
            iss: self.iss.ok_or_else(|| missing("iss"))?,
            iat: self.iat,
            nbf: self.nbf,
            exp: self.exp.ok_or_else(|| missing("exp"))?,
            jti: self
                .jti
                .filter(|j| !j.is_empty())
                .ok_or_else(|| missing("jti"))?,
        })
    }
}
