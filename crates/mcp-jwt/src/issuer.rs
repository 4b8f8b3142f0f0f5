//! Signing new tokens with the current key.

use std::fmt;

use chrono::{DateTime, Utc};
use jsonwebtoken::Header;

use crate::claims::{Claims, RESERVED_CLAIMS};
use crate::config::JwtConfig;
use crate::error::Error;
use crate::keys::{SigningKey, signing_key};
use crate::options::TokenOptions;

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
    max_ttl_secs: u64,
    max_token_bytes: usize,
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
            max_ttl_secs: config.effective_max_ttl_secs(),
            max_token_bytes: config.max_token_bytes,
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
        self.issue_with(subject, roles, TokenOptions::new().issued_at(now))
    }

    /// Issues a token for `subject` with `roles` and the per-token `options`: its own
    /// audience, scopes, client id, lifetime (at most the configured maximum, else
    /// [`Error::TtlTooLong`]), issue time and custom claims (a reserved name is
    /// [`Error::ReservedClaim`]). A token that would be longer than the configured
    /// `max_token_bytes`, and so could never verify, is refused with [`Error::Signing`].
    pub fn issue_with<I, R>(
        &self,
        subject: &str,
        roles: I,
        options: TokenOptions,
    ) -> Result<IssuedToken, Error>
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        let signing = |reason: &str| Error::Signing {
            reason: reason.to_owned(),
        };
        if subject.is_empty() {
            return Err(signing("subject must not be empty"));
        }
        if let Some(name) = options
            .claims
            .keys()
            .find(|name| RESERVED_CLAIMS.contains(&name.as_str()))
        {
            return Err(Error::ReservedClaim {
                claim: name.clone(),
            });
        }
        let ttl = options.ttl_secs.unwrap_or(self.ttl_secs);
        if ttl == 0 || ttl > self.max_ttl_secs {
            return Err(Error::TtlTooLong {
                requested: ttl,
                max: self.max_ttl_secs,
            });
        }
        let now = options.issued_at.unwrap_or_else(Utc::now);
        let now =
            u64::try_from(now.timestamp()).map_err(|_| signing("time is before the Unix epoch"))?;
        let aud = match options.audience {
            Some(list) => {
                if list.iter().any(|a| a.trim().is_empty()) {
                    return Err(signing("an audience must not be empty"));
                }
                list
            }
            None => self.audience.iter().cloned().collect(),
        };
        if options.scope.iter().flatten().any(|s| {
            s.is_empty() || s.contains(|c: char| c.is_ascii_whitespace() || c.is_control())
        }) {
            return Err(signing("a scope must be non-empty and contain no spaces"));
        }
        let claims = Claims {
            sub: subject.to_owned(),
            roles: roles.into_iter().map(Into::into).collect(),
            iss: self.issuer.clone(),
            aud,
            iat: Some(now),
            nbf: Some(now),
            exp: now.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
            scope: options.scope,
            client_id: options.client_id,
            custom: options.claims,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key.key).map_err(|e| {
            Error::Signing {
                reason: e.to_string(),
            }
        })?;
        if token.len() > self.max_token_bytes {
            return Err(Error::Signing {
                reason: format!(
                    "the token would be {} bytes, more than max_token_bytes ({})",
                    token.len(),
                    self.max_token_bytes
                ),
            });
        }
        tracing::debug!(kid = %self.key.kid, jti = %claims.jti, sub = %claims.sub, "issued token");
        Ok(IssuedToken { token, claims })
    }

    /// The longest lifetime one token may be given, in seconds.
    pub fn max_ttl_secs(&self) -> u64 {
        self.max_ttl_secs
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
            .field("max_ttl_secs", &self.max_ttl_secs)
            .finish_non_exhaustive()
    }
}
