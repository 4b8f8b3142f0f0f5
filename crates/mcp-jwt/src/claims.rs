//! The claims this crate writes and reads.

use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// Audiences: written as one string when there is one, left out when there is none.
    /// Read from a string or an array of strings (other shapes read as none; a verifier
    /// with a configured audience refuses them).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "one_or_many")]
    pub aud: Vec<String>,
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

fn one_or_many<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

/// `aud` as received: RFC 7519 allows a string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum ReceivedAudience {
    One(String),
    Many(Vec<String>),
    Other(IgnoredAny),
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
    #[serde(default)]
    aud: Option<ReceivedAudience>,
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
            aud: match self.aud {
                Some(ReceivedAudience::One(aud)) => vec![aud],
                Some(ReceivedAudience::Many(aud)) => aud,
                Some(ReceivedAudience::Other(_)) | None => Vec::new(),
            },
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
