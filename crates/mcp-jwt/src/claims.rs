//! The claims this crate writes and reads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::Error;

/// The least-privileged role, given to a validly signed token that has no `roles` claim.
pub const DEFAULT_ROLE: &str = "viewer";

/// The claims this crate writes or reads itself. A custom claim may not use these names
/// ([`Error::ReservedClaim`]), and they never appear in [`Claims::custom`].
pub const RESERVED_CLAIMS: &[&str] = &[
    "sub",
    "roles",
    "iss",
    "aud",
    "iat",
    "nbf",
    "exp",
    "jti",
    "scope",
    "client_id",
];

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
    /// The scopes the token is limited to (RFC 8693 `scope`, written as one space-separated
    /// string; an array of strings is read too). `None`: the token has no `scope` claim and is
    /// limited only by its subject's roles. `Some` with no scopes: it allows nothing that
    /// needs a scope.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "space_separated"
    )]
    pub scope: Option<Vec<String>>,
    /// The OAuth client the token was issued to (RFC 9068 `client_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Every other claim, as JSON: those an embedding service added when issuing
    /// ([`TokenOptions::claim`](crate::TokenOptions::claim)) and any others the token carries.
    /// Read one with [`custom_claim`](Self::custom_claim).
    #[serde(flatten)]
    pub custom: BTreeMap<String, Value>,
}

impl Claims {
    /// Claims with a subject, issuer, expiry (Unix seconds) and token id, and nothing else
    /// (no roles, audience, scope or custom claims): for describing a token verified by other
    /// means, such as an external identity provider's, in the same shape.
    pub fn new(
        sub: impl Into<String>,
        iss: impl Into<String>,
        exp: u64,
        jti: impl Into<String>,
    ) -> Self {
        Self {
            sub: sub.into(),
            roles: Vec::new(),
            iss: iss.into(),
            aud: Vec::new(),
            iat: None,
            nbf: None,
            exp,
            jti: jti.into(),
            scope: None,
            client_id: None,
            custom: BTreeMap::new(),
        }
    }

    /// The expiry as a timestamp (saturating at chrono's maximum for absurd values).
    pub fn expires_at(&self) -> DateTime<Utc> {
        i64::try_from(self.exp)
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// A custom claim as `T`: `Ok(None)` when the token does not carry it,
    /// [`Error::Malformed`] when it is not a `T`.
    pub fn custom_claim<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        self.custom
            .get(name)
            .map(|value| {
                T::deserialize(value).map_err(|e| {
                    Error::malformed(format!("claim `{name}` has an unexpected shape: {e}"))
                })
            })
            .transpose()
    }

    /// Whether the token's scopes allow `scope`: always when the token has no `scope` claim,
    /// otherwise only when it lists it.
    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|s| s == scope))
    }
}

fn space_separated<S: Serializer>(scope: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
    match scope {
        Some(scopes) => s.serialize_str(&scopes.join(" ")),
        None => s.serialize_none(),
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

/// What a received token's `aud` looked like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AudienceShape {
    /// No `aud`.
    Absent,
    /// A string or an array of strings.
    Named,
    /// Something else (a number, an object, an array with a non-string).
    Unreadable,
}

/// `scope` as received: a space-separated string (RFC 8693 §4.2), or an array of strings as
/// some providers write it. Any other shape is a malformed token.
#[derive(Deserialize)]
#[serde(untagged)]
enum ReceivedScope {
    Text(String),
    List(Vec<String>),
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
    #[serde(default)]
    scope: Option<ReceivedScope>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(flatten)]
    custom: BTreeMap<String, Value>,
}

/// `roles` absent is `None`; present it must be an array of strings (not `null`).
fn roles_if_present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Vec::<String>::deserialize(d).map(Some)
}

impl ReceivedClaims {
    /// Whether `aud` is absent, a string or an array of strings (even an empty one), or of
    /// another shape.
    pub(crate) fn audience_shape(&self) -> AudienceShape {
        match self.aud {
            None => AudienceShape::Absent,
            Some(ReceivedAudience::One(_) | ReceivedAudience::Many(_)) => AudienceShape::Named,
            Some(ReceivedAudience::Other(_)) => AudienceShape::Unreadable,
        }
    }

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
            scope: self.scope.map(|scope| match scope {
                ReceivedScope::Text(text) => {
                    text.split_ascii_whitespace().map(str::to_owned).collect()
                }
                ReceivedScope::List(list) => list,
            }),
            client_id: self.client_id,
            custom: self.custom,
        })
    }
}
