//! OAuth step-up at `/mcp`: a `tools/call` whose tool the caller's roles allow but whose
//! token's scopes do not is answered with HTTP 403 and `WWW-Authenticate: Bearer
//! error="insufficient_scope", scope="…"` (after the usual audited refusal), so that an OAuth
//! client gets a token with that scope and retries (the MCP authorization spec's scope
//! step-up). The resource-metadata URL is added by `crate::oauth::challenge`.
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::access::Access;
use crate::auth::{CallContext, Principal};
use crate::error::ApiError;
use crate::mcp::{PERMISSION_DENIED, jsonrpc, tools};
use crate::state::AppState;

/// The 403 for `body` when it is such a call; `None` for everything else (it goes on).
pub async fn refusal(
    state: &AppState,
    principal: &Principal,
    ctx: &CallContext,
    body: &[u8],
) -> Option<HttpResponse> {
    // Tokens without scopes (from /auth/token) are limited by roles only.
    principal.claims.scope.as_ref()?;
    let message: Value = serde_json::from_slice(body).ok()?;
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return None;
    }
    let name = message.pointer("/params/name").and_then(Value::as_str)?;
    let Access::Permission(permission) = &tools::find(name)?.tool.rule.access else {
        return None;
    };
    let roles_allow = state
        .authorizer
        .as_ref()
        .is_some_and(|a| a.policy().allows(&principal.roles, permission));
    if !roles_allow || principal.claims.allows_scope(permission.as_str()) {
        return None;
    }
    let err = crate::auth::authorize(state, principal, permission, ctx)
        .await
        .err()?;
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let mut response = HttpResponse::build(StatusCode::FORBIDDEN).json(jsonrpc::error_response(
        id,
        PERMISSION_DENIED,
        &err.to_string(),
    ));
    if let ApiError::InsufficientScope(scope) = &err
        && let Ok(value) = HeaderValue::from_str(&format!(
            "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
        ))
    {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    Some(response)
}
