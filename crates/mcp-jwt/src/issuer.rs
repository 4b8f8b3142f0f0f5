//! Signing new tokens with the current key.

use std::fmt;

use chrono::{DateTime, Utc};
use jsonwebtoken::Header;

use crate::claims::Claims;
use crate::config::JwtConfig;
use crate::error::Error;
use crate::keys::{SigningKey, signing_key};

/// A freshly signed token and the claims inside it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWS, for the `Authorization: Bearer` header.
    pub token: String,
    /// What the token says; `claims.jti` and `claims.expires_at()` are what revocation needs.
    pub claims: Claims,
}

/// Signs tokens with the key named by [`JwtConfig::signing_kid`].
pub struct JwtIssuer {
    key: SigningKey,
    header: Header,
    issuer: String,
    audience: Option<String>,
    ttl_secs: u64,
}

impl JwtIssuer {
    /// Checks the configuration and loads the signing key (including a sign-and-verify
    /// check that its private and public halves match).
    pub fn from_config(config: &JwtConfig) -> Result<Self, Error> {
        crate::crypto::install();
        let key = signing_key(config)?;
        let mut header = Header::new(key.algorithm.to_jsonwebtoken());
        header.kid = Some(key.kid.clone());
        Ok(Self {
            key,
            header,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_secs: config.ttl_secs,
        })
    }

    /// Issues a token for `subject` with `roles`, valid from now for the configured TTL
    /// (with `aud` when an audience is configured).
    pub fn issue<I, R>(&self, subject: &str, roles: I) -> Result<IssuedToken, Error>
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.issue_at(subject, roles, Utc::now())
    }

    /// Issues a token as if the time were `now`: `iat` and `nbf` are `now`, `exp` is
    /// `now + ttl`. A `now` before the Unix epoch is refused.
    pub fn issue_at<I, R>(
        &self,
        subject: &str,
        roles: I,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, Error>
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        if subject.is_empty() {
            return Err(Error::Signing {
                reason: "subject must not be empty".to_owned(),
            });
        }
        let now = u64::try_from(now.timestamp()).map_err(|_| Error::Signing {
            reason: "time is before the Unix epoch".to_owned(),
        })?;
        let claims = Claims {
            sub: subject.to_owned(),
            roles: roles.into_iter().map(Into::into).collect(),
            iss: self.issuer.clone(),
            aud: self.audience.iter().cloned().collect(),
            iat: Some(now),
            nbf: Some(now),
            exp: now.saturating_add(self.ttl_secs),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key.key).map_err(|e| {
            Error::Signing {
                reason: e.to_string(),
            }
        })?;
        tracing::debug!(kid = %self.key.kid, jti = %claims.jti, sub = %claims.sub, "issued token");
        Ok(IssuedToken { token, claims })
    }

    /// The `kid` new tokens carry.
    pub fn signing_kid(&self) -> &str {
        &self.key.kid
    }
}

impl fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("kid", &self.key.kid)
            .field("algorithm", &self.key.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}
