//! The caller: a verified token of an enabled user, with the user's current roles.
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use mcp_audit::{AuditEvent, EventType};
use serde::Serialize;
use sha2::Digest;

use crate::error::ApiError;
use crate::request_id;
use crate::state::AppState;

/// Who is calling: set by a verified bearer token.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    /// The user's stable id (the token's `sub`).
    pub user_id: String,
    /// The user's log-in name.
    pub username: String,
    /// The user's roles now (from the role store, not the token, so a revoked role counts at
    /// once).
    pub roles: Vec<String>,
    /// The verified token's claims (`jti`, expiry).
    #[serde(skip)]
    pub claims: mcp_jwt::Claims,
}

/// Where a call comes from, for audit events.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Client IP: the TCP peer, or behind a trusted proxy the address it forwarded
    /// ([`crate::auth::client_addr::client_ip`]).
    pub ip: Option<IpAddr>,
    /// Route pattern or tool name.
    pub route: String,
    /// The request id.
    pub request_id: String,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

impl CallContext {
    /// The context of an HTTP request. The client-chosen parts (a path that matched no route,
    /// the user agent) are bounded by the one rule of `mcp_core::bounded`.
    pub fn of(req: &HttpRequest) -> Self {
        let ip = match req.app_data::<web::Data<AppState>>() {
            Some(state) => super::client_addr::client_ip(req, &state.config.http.trusted_proxies),
            None => req.peer_addr().map(|a| a.ip()),
        };
        Self {
            ip,
            route: req
                .match_pattern()
                .unwrap_or_else(|| mcp_core::bounded::text(req.path()).into_owned()),
            request_id: request_id::current().unwrap_or_default(),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| mcp_core::bounded::text(s).into_owned()),
        }
    }

    /// Fills an audit event's request fields.
    pub fn stamp(&self, event: AuditEvent) -> AuditEvent {
        let mut event = event
            .with_ip(self.ip)
            .with_request_id(self.request_id.clone());
        if event.resource.is_none() {
            event = event.with_resource(self.route.clone());
        }
        match &self.user_agent {
            Some(ua) => event.with_user_agent(ua.clone()),
            None => event,
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .as_bytes();
    // What `HeaderValue::to_str` accepts (visible ASCII and tab), checked without a branch per
    // byte: a token is a few hundred bytes and this runs on every guarded request.
    let visible = value.iter().fold(true, |ok, &b| {
        ok & (matches!(b, 0x20..=0x7e) | (b == b'\t'))
    });
    if !visible {
        return None;
    }
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Verifies a bearer token and loads its user. Every failure is the same 401 to the client; the
/// reason goes to the log and the `mcp_auth_failures_total` metric. A failing revocation store
/// gives 503 (the token's status is unknown, so it is not accepted). It only reads until its
/// decision; a refusal's audit event goes through [`AppState::audit`], which records it even if
/// the client hangs up right then.
pub async fn authenticate(
    state: &AppState,
    token: Option<&str>,
    ctx: &CallContext,
) -> Result<Principal, ApiError> {
    let fail = |reason: &'static str, detail: String| {
        state
            .metrics
            .auth_failures
            .with_label_values(&[reason])
            .inc();
        tracing::info!(reason, detail = %mcp_core::bounded::text(&detail), "token refused");
        ApiError::InvalidToken
    };
    let Some(token) = token else {
        return Err(fail("missing_token", "no bearer token".into()));
    };
    // A token of a trusted external issuer is verified by that issuer's keys only.
    if let Some(result) = super::external::authenticate(state, ctx, token).await {
        return result;
    }
    let claims = match state.verifier.verify(token).await {
        Ok(claims) => claims,
        Err(mcp_jwt::Error::Store(e)) => {
            tracing::error!(error = %e, "revocation store failed");
            return Err(ApiError::Unavailable("token revocation store".into()));
        }
        Err(e) => {
            audit_refused_token(state, ctx, token, &e).await;
            return Err(fail("invalid_token", e.to_string()));
        }
    };
    let user = match state.users.by_id(&claims.sub).await? {
        Some(user) if user.disabled => return Err(fail("user_disabled", claims.sub)),
        Some(user) if !user.accepts_token_issued_at(claims.iat) => {
            // Issued before a password change, a disable or a role removal.
            return Err(fail("token_predates_change", claims.sub));
        }
        Some(user) => user,
        None => return Err(fail("unknown_user", claims.sub)),
    };
    let authorizer = state.authorizer()?;
    let roles = authorizer
        .roles_of(&user.id)
        .await
        .map_err(crate::error::rbac_error)?;
    Ok(Principal {
        user_id: user.id,
        username: user.username,
        roles,
        claims,
    })
}

/// A short reason for a refused token, from a fixed set (audit details and logs).
fn refusal_reason(err: &mcp_jwt::Error) -> &'static str {
    use mcp_jwt::Error as E;
    match err {
        E::Expired => "expired",
        E::NotYetValid => "not_yet_valid",
        E::BadSignature => "bad_signature",
        E::UnknownKey { .. } => "unknown_key",
        E::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
        E::WrongIssuer => "wrong_issuer",
        E::WrongAudience => "wrong_audience",
        E::Malformed { .. } => "malformed",
        E::MissingClaim { .. } => "missing_claim",
        E::TooLarge { .. } => "too_large",
        E::Revoked => "revoked",
        _ => "other",
    }
}

/// Audits a token the verifier refused, within the unauthenticated audit budget: a
/// `token_validation` failure with the reason and the token's fingerprint (the first 16 hex
/// digits of its SHA-256, never the token), and for a token that looks forged (bad signature,
/// unknown key, refused algorithm) a `security_violation` (`forged_token`) as well.
async fn audit_refused_token(
    state: &AppState,
    ctx: &CallContext,
    token: &str,
    err: &mcp_jwt::Error,
) {
    use crate::state::audit_budget::kind::TOKEN_REFUSED;
    let reason = refusal_reason(err);
    let digest = sha2::Sha256::digest(token.as_bytes());
    let fingerprint = hex::encode(&digest[..8]);
    let event = AuditEvent::new(EventType::TokenValidation)
        .with_success(false)
        .with_action("verify_token")
        .with_error_message(err.to_string())
        .with_detail("reason", reason)
        .with_detail("token_sha256_prefix", fingerprint.clone());
    state
        .audit_unauthenticated(TOKEN_REFUSED, ctx.stamp(event))
        .await;
    if matches!(
        reason,
        "bad_signature" | "unknown_key" | "unsupported_algorithm"
    ) {
        let event = AuditEvent::security_violation(
            None,
            "forged_token",
            format!(
                "a token that does not verify with any configured key was presented ({reason})"
            ),
        )
        .with_detail("reason", reason)
        .with_detail("token_sha256_prefix", fingerprint);
        state
            .audit_unauthenticated(TOKEN_REFUSED, ctx.stamp(event))
            .await;
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(p) = req.extensions().get::<Principal>() {
                return Ok(p.clone());
            }
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(ApiError::NotWired("application state"))?;
            let ctx = CallContext::of(&req);
            let principal = authenticate(state, bearer_token(&req), &ctx).await?;
            req.extensions_mut().insert(principal.clone());
            Ok(principal)
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{AUTHORIZATION, HeaderValue};
    use actix_web::test::TestRequest;

    use super::bearer_token;

    fn token_of(value: HeaderValue) -> Option<String> {
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, value))
            .to_http_request();
        bearer_token(&req).map(str::to_owned)
    }

    #[test]
    fn the_token_of_a_bearer_header_is_found_whatever_the_scheme_case() {
        assert_eq!(
            token_of(HeaderValue::from_static("Bearer abc.def.ghi")).as_deref(),
            Some("abc.def.ghi")
        );
        assert_eq!(
            token_of(HeaderValue::from_static("bEaReR  abc\t")).as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn other_schemes_empty_tokens_and_missing_headers_give_none() {
        assert_eq!(token_of(HeaderValue::from_static("Basic abc")), None);
        assert_eq!(token_of(HeaderValue::from_static("Bearer ")), None);
        assert_eq!(token_of(HeaderValue::from_static("Bearer")), None);
        let req = TestRequest::default().to_http_request();
        assert_eq!(bearer_token(&req), None);
    }

    #[test]
    fn a_header_with_bytes_beyond_visible_ascii_gives_none_as_header_value_to_str_does() {
        for value in [&b"Bearer abc\xe9def"[..], b"Bearer \xc3\xa9t\xc3\xa9"] {
            let value = HeaderValue::from_bytes(value).unwrap();
            assert!(value.to_str().is_err());
            assert_eq!(token_of(value), None);
        }
    }
}
