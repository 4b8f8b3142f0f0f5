//! Streamable HTTP at `/mcp`: an own adapter from actix-web to rmcp's streamable-HTTP service.
//!
//! Why not `rmcp-actix-web`: the adapter is small, keeps identity handling in one place (the
//! caller is authenticated here with the REST code and travels in the request extensions), and
//! it is where the fixes rmcp needs live anyway: JSON-RPC errors instead of rmcp's plain-text
//! answers for malformed or oversized messages, sessions bound to the user who opened them and
//! bounded per user ([`sessions`]), the `Host`/`Origin` checks before the token is even looked
//! at, and one JSON shape for every HTTP-level error ([`error`]).
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use mcp_audit::AuditEvent;
use rmcp::model::ErrorCode;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::jsonrpc::{self, Rejected};
use super::{HttpCaller, McpConfig, McpServer};
use crate::auth::{CallContext, authenticate, bearer_token};
use crate::error::ApiError;
use crate::state::AppState;

pub mod error;
pub mod sessions;
mod step_up;

use error::McpHttpError;
use sessions::Sessions;

/// The path of the endpoint.
pub const PATH: &str = "/mcp";
const SESSION_HEADER: &str = "mcp-session-id";
/// Minutes without traffic after which rmcp closes a session.
pub const SESSION_IDLE_MINUTES: u64 = 5;
/// Longest header value copied into an audit event or a message.
const MAX_ECHOED_HEADER: usize = 200;

/// The MCP endpoint's shared state: rmcp's service and session manager, and which user owns
/// each session. Create one per process (sessions must be shared by all workers) and add it as
/// `web::Data<McpHttp>` app data.
pub struct McpHttp {
    service: StreamableHttpService<McpServer, LocalSessionManager>,
    sessions: Sessions,
    config: McpConfig,
}

impl McpHttp {
    /// The endpoint with the given settings.
    pub fn new(config: &McpConfig) -> Self {
        let keep_alive = (config.sse_keep_alive_secs > 0)
            .then(|| Duration::from_secs(config.sse_keep_alive_secs));
        let rmcp_config = StreamableHttpServerConfig::default()
            // Host and Origin are checked here, with the configured lists, before the token.
            .disable_allowed_hosts()
            .disable_allowed_origins()
            // The body is read and bounded here; rmcp gets at most the limit.
            .with_max_request_body_bytes(config.max_message_bytes.saturating_add(1))
            .with_sse_keep_alive(keep_alive);
        let sessions = Arc::new(LocalSessionManager::default());
        let handler = McpServer::for_http().with_config(config);
        let service = StreamableHttpService::new(
            move || Ok(handler.fresh()),
            Arc::clone(&sessions),
            rmcp_config,
        );
        Self {
            service,
            sessions: Sessions::new(sessions, config.max_sessions_per_user),
            config: config.clone(),
        }
    }

    /// The refusal of a `Host` header that is not allowed, or `None`.
    fn check_host(&self, req: &HttpRequest) -> Option<McpHttpError> {
        // HTTP/1.0 without Host: no browser sends that.
        let host = req.headers().get(actix_web::http::header::HOST)?;
        let text = String::from_utf8_lossy(host.as_bytes());
        if host.to_str().is_ok_and(|h| self.config.host_allowed(h)) {
            return None;
        }
        Some(
            McpHttpError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::INVALID_REQUEST,
                "host_not_allowed",
                format!(
                    "Forbidden: Host header `{}` is not allowed at /mcp (DNS-rebinding \
                     protection); if clients reach the server by this name, add it to [mcp] \
                     allowed_hosts",
                    echo(&text)
                ),
            )
            .setting("mcp.allowed_hosts"),
        )
    }

    /// The refusal of an `Origin` header that is not allowed, or `None`.
    fn check_origin(&self, req: &HttpRequest) -> Option<McpHttpError> {
        let origin = req.headers().get(actix_web::http::header::ORIGIN)?;
        if origin.to_str().is_ok_and(|o| self.config.origin_allowed(o)) {
            return None;
        }
        let text = String::from_utf8_lossy(origin.as_bytes());
        Some(
            McpHttpError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::INVALID_REQUEST,
                "origin_not_allowed",
                format!(
                    "Forbidden: Origin `{}` is not allowed at /mcp; to let a browser-based \
                     client on that origin connect, add it to [mcp] allowed_origins (loopback \
                     origins are allowed by default only while the server listens on loopback, \
                     see [mcp] loopback_origins)",
                    echo(&text)
                ),
            )
            .setting("mcp.allowed_origins"),
        )
    }

    /// Audits a refused `Host`/`Origin` as `security_violation` (within the unauthenticated
    /// audit budget: no token is needed to cause one) and answers 403.
    async fn refuse_header(
        &self,
        state: &AppState,
        req: &HttpRequest,
        refusal: McpHttpError,
        header: &'static str,
    ) -> HttpResponse {
        let value = req
            .headers()
            .get(header)
            .map(|v| echo(&String::from_utf8_lossy(v.as_bytes())));
        tracing::warn!(header, value = ?value, "MCP request refused: {} not allowed", header);
        let setting = refusal.setting.unwrap_or_default();
        crate::auth::violations::refused_header(
            state,
            &CallContext::of(req),
            header,
            value.as_deref(),
            setting,
        )
        .await;
        refusal.response()
    }
}

/// At most [`MAX_ECHOED_HEADER`] characters of a header value, without control characters.
fn echo(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_ECHOED_HEADER)
        .collect()
}

/// Registers `/mcp` (GET, POST, DELETE; rmcp answers 405 for the rest).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PATH).route(web::route().to(handle)));
}

/// A message rejected before rmcp, in the `/mcp` error shape (its id kept when it was read).
fn rejected(status: StatusCode, rejected: &Rejected) -> McpHttpError {
    let code = match rejected.code {
        ErrorCode::PARSE_ERROR => "parse_error",
        ErrorCode::INVALID_PARAMS => "invalid_params",
        _ => "invalid_request",
    };
    let message = rejected.response["error"]["message"]
        .as_str()
        .unwrap_or("Invalid Request")
        .to_owned();
    let mut error = McpHttpError::new(status, rejected.code, code, message);
    error.id = rejected.response["id"].clone();
    error
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, McpHttpError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            McpHttpError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::PARSE_ERROR,
                "parse_error",
                format!("Parse error: cannot read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            let mut error = rejected(StatusCode::PAYLOAD_TOO_LARGE, &jsonrpc::too_large(limit));
            error.code = "payload_too_large";
            error.message = format!("{}; the bound is [mcp] max_message_bytes", error.message);
            return Err(error.setting("mcp.max_message_bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn handle(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    match handle_checked(req, payload).await {
        Ok(response) => response,
        Err(err) => error::from_api(&err),
    }
}

/// Whether a message opens a session (an `initialize` request without a session id).
fn opens_session(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("method").and_then(serde_json::Value::as_str) == Some("initialize"))
}

async fn handle_checked(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::NotWired("application state"))?
        .clone();
    let mcp = req
        .app_data::<web::Data<McpHttp>>()
        .ok_or(ApiError::NotWired("MCP endpoint"))?
        .clone();
    if let Some(refusal) = mcp.check_host(&req) {
        return Ok(mcp.refuse_header(&state, &req, refusal, "host").await);
    }
    if let Some(refusal) = mcp.check_origin(&req) {
        return Ok(mcp.refuse_header(&state, &req, refusal, "origin").await);
    }
    let ctx = CallContext::of(&req);
    let principal = authenticate(&state, bearer_token(&req), &ctx).await?;
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut busy = None;
    if let Some(id) = &session {
        let owner = mcp.sessions.owner(id);
        if owner.as_ref().is_some_and(|o| *o != principal.user_id) {
            let event =
                AuditEvent::authorization(principal.user_id.clone(), PATH, "mcp:session", false)
                    .with_detail("reason", "session belongs to another user");
            state.audit(ctx.stamp(event)).await;
            return Ok(error::from_rmcp_text(
                StatusCode::NOT_FOUND,
                "Not Found: Session not found",
            )
            .response());
        }
        busy = mcp.sessions.use_session(id);
    }
    let body = if req.method() == actix_web::http::Method::POST {
        let body = match read_body(payload, mcp.config.max_message_bytes).await {
            Ok(body) => body,
            Err(refusal) => return Ok(refusal.response()),
        };
        if let Err(rejection) = jsonrpc::check(&body) {
            return Ok(rejected(StatusCode::BAD_REQUEST, &rejection).response());
        }
        if let Some(response) = step_up::refusal(&state, &principal, &ctx, &body).await {
            return Ok(response);
        }
        body
    } else {
        Bytes::new()
    };
    let opening = if session.is_none() && opens_session(&body) {
        match mcp.sessions.open(&principal.user_id).await {
            Ok(opening) => Some(opening),
            Err(too_many) => {
                return Ok(McpHttpError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::INVALID_REQUEST,
                    "too_many_sessions",
                    format!(
                        "Too Many Requests: you hold {} open MCP sessions, all in use; end one \
                         (DELETE /mcp with its Mcp-Session-Id) or raise [mcp] \
                         max_sessions_per_user",
                        too_many.max
                    ),
                )
                .setting("mcp.max_sessions_per_user")
                .response());
            }
        }
    } else {
        None
    };

    let mut builder = ::http::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().to_string());
    for (name, value) in req.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    if !req.headers().contains_key(actix_web::http::header::HOST) {
        builder = builder.header("host", "localhost");
    }
    let mut request = builder
        .body(Full::new(body))
        .map_err(|e| ApiError::BadRequest(format!("unusable request: {e}")))?;
    request.extensions_mut().insert(HttpCaller {
        state: state.get_ref().clone(),
        principal,
        ctx,
    });
    let is_delete = req.method() == actix_web::http::Method::DELETE;

    let response = mcp.service.handle(request).await;

    let (parts, body) = response.into_parts();
    if parts.status.is_success() {
        if let Some(opening) = opening
            && let Some(id) = parts
                .headers
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
        {
            opening.opened(id);
            mcp.sessions.prune_sometimes().await;
        } else if is_delete && let Some(id) = &session {
            mcp.sessions.remove(id);
        }
    }
    let body = if parts.status.is_client_error() || parts.status.is_server_error() {
        match error::rewrite_rmcp_error(&parts, body).await {
            Ok(rewritten) => return Ok(rewritten),
            Err(body) => body,
        }
    } else {
        body
    };
    let mut status = StatusCode::from_u16(parts.status.as_u16())
        .map_err(|e| ApiError::internal(format!("rmcp status: {e}")))?;
    if is_delete && status == StatusCode::ACCEPTED {
        // The session is gone when rmcp answers; clients expect 200 or 204 for that.
        status = StatusCode::NO_CONTENT;
    }
    let mut out = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            out.append_header((name.as_str(), value));
        }
    }
    // The session stays busy (not to be closed for a newer one) while its stream is open.
    let stream = body.into_data_stream().inspect(move |_| {
        let _ = &busy;
    });
    Ok(out.streaming(stream))
}
