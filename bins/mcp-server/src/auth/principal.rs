//! The caller: a verified token of an enabled user, with the user's current roles.
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use mcp_audit::{AuditEvent, EventType};
use serde::Serialize;

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
    /// Client IP (the TCP peer).
    pub ip: Option<IpAddr>,
    /// Route pattern or tool name.
    pub route: String,
    /// The request id.
    pub request_id: String,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

impl CallContext {
    /// The context of an HTTP request.
    pub fn of(req: &HttpRequest) -> Self {
        Self {
            ip: req.peer_addr().map(|a| a.ip()),
            route: req.match_pattern().unwrap_or_else(|| req.path().to_owned()),
            request_id: request_id::current().unwrap_or_default(),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect()),
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
        .to_str()
        .ok()?;
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
        tracing::info!(reason, %detail, "token refused");
        ApiError::InvalidToken
    };
    let Some(token) = token else {
        return Err(fail("missing_token", "no bearer token".into()));
    };
    let claims = match state.verifier.verify(token).await {
        Ok(claims) => claims,
        Err(mcp_jwt::Error::Store(e)) => {
            tracing::error!(error = %e, "revocation store failed");
            return Err(ApiError::Unavailable("token revocation store".into()));
        }
        Err(e) => {
            if matches!(e, mcp_jwt::Error::Revoked) {
                let event = AuditEvent::new(EventType::TokenValidation)
                    .with_success(false)
                    .with_error_message("revoked token presented");
                state.audit(ctx.stamp(event)).await;
            }
            return Err(fail("invalid_token", e.to_string()));
        }
    };
    let user = match state.users.by_id(&claims.sub).await? {
        Some(user) if !user.disabled => user,
        Some(_) => return Err(fail("user_disabled", claims.sub)),
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
