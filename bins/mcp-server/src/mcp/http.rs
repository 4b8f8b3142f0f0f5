//! Streamable HTTP at `/mcp`: an own adapter from actix-web to rmcp's streamable-HTTP service.
//!
//! Why not `rmcp-actix-web`: the adapter is small, keeps identity handling in one place (the
//! caller is authenticated here with the REST code and travels in the request extensions), and
//! it is where the fixes rmcp needs live anyway: JSON-RPC errors instead of rmcp's plain-text
//! answers for malformed or oversized messages, sessions bound to the user who opened them, and
//! the `Host`/`Origin` checks before the token is even looked at.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use mcp_audit::AuditEvent;
use rmcp::model::ErrorCode;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;

use super::jsonrpc::{self, Rejected};
use super::{HttpCaller, McpConfig, McpServer};
use crate::auth::{CallContext, authenticate, bearer_token};
use crate::error::ApiError;
use crate::state::AppState;

/// The path of the endpoint.
pub const PATH: &str = "/mcp";
const SESSION_HEADER: &str = "mcp-session-id";

/// The MCP endpoint's shared state: rmcp's service and session manager, and which user owns
/// each session. Create one per process (sessions must be shared by all workers) and add it as
/// `web::Data<McpHttp>` app data.
pub struct McpHttp {
    service: StreamableHttpService<McpServer, LocalSessionManager>,
    sessions: Arc<LocalSessionManager>,
    owners: Mutex<HashMap<String, String>>,
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
        let service = StreamableHttpService::new(
            || Ok(McpServer::for_http()),
            Arc::clone(&sessions),
            rmcp_config,
        );
        Self {
            service,
            sessions,
            owners: Mutex::new(HashMap::new()),
            config: config.clone(),
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets owners of sessions rmcp has closed (idle timeout).
    async fn prune(&self) {
        let ids: Vec<String> = self.owners().keys().cloned().collect();
        for id in ids {
            let alive = self
                .sessions
                .has_session(&id.clone().into())
                .await
                .unwrap_or(true);
            if !alive {
                self.owners().remove(&id);
            }
        }
    }

    fn host_allowed(&self, req: &HttpRequest) -> bool {
        let Some(host) = req
            .headers()
            .get(actix_web::http::header::HOST)
            .and_then(|h| h.to_str().ok())
        else {
            // HTTP/1.0 without Host: no browser sends that.
            return true;
        };
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default().to_owned(),
            None => host
                .rsplit_once(':')
                .map_or(host.clone(), |(h, _)| h.to_owned()),
        };
        self.config.allowed_hosts.iter().any(|allowed| {
            let allowed = allowed.trim().to_ascii_lowercase();
            allowed == "*" || allowed == host || allowed == name
        })
    }

    fn origin_allowed(&self, req: &HttpRequest) -> bool {
        let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim().trim_end_matches('/');
        self.config
            .allowed_origins
            .iter()
            .any(|a| a == "*" || a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// Registers `/mcp` (GET, POST, DELETE; rmcp answers 405 for the rest).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PATH).route(web::route().to(handle)));
}

fn rpc_error(status: StatusCode, rejected: &Rejected) -> HttpResponse {
    HttpResponse::build(status).json(&rejected.response)
}

fn refuse(status: StatusCode, code: ErrorCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(jsonrpc::error_response(Value::Null, code, message))
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, HttpResponse> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::PARSE_ERROR,
                &format!("Parse error: cannot read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &jsonrpc::too_large(limit),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn handle(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::NotWired("application state"))?
        .clone();
    let mcp = req
        .app_data::<web::Data<McpHttp>>()
        .ok_or(ApiError::NotWired("MCP endpoint"))?
        .clone();
    let ctx = CallContext::of(&req);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if !mcp.host_allowed(&req) {
        let host = header("host");
        tracing::warn!(host = ?host.as_deref().map(mcp_core::bounded::text), "MCP request with a Host not allowed (DNS rebinding?)");
        crate::auth::violations::refused_header(&state, &ctx, "host", host.as_deref()).await;
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::INVALID_REQUEST,
            "Forbidden: Host header is not allowed",
        ));
    }
    if !mcp.origin_allowed(&req) {
        let origin = header("origin");
        tracing::warn!(origin = ?origin.as_deref().map(mcp_core::bounded::text), "MCP request from an Origin not allowed");
        crate::auth::violations::refused_header(&state, &ctx, "origin", origin.as_deref()).await;
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::INVALID_REQUEST,
            "Forbidden: Origin header is not allowed",
        ));
    }
    let principal = authenticate(&state, bearer_token(&req), &ctx).await?;
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session {
        let owner = mcp.owners().get(id).cloned();
        if owner.is_some_and(|o| o != principal.user_id) {
            let event =
                AuditEvent::authorization(principal.user_id.clone(), PATH, "mcp:session", false)
                    .with_detail("reason", "session belongs to another user");
            state.audit(ctx.stamp(event)).await;
            return Ok(refuse(
                StatusCode::NOT_FOUND,
                ErrorCode::INVALID_REQUEST,
                "Not Found: Session not found",
            ));
        }
    }
    let body = if req.method() == actix_web::http::Method::POST {
        let body = match read_body(payload, mcp.config.max_message_bytes).await {
            Ok(body) => body,
            Err(response) => return Ok(response),
        };
        if let Err(rejected) = jsonrpc::check(&body) {
            return Ok(rpc_error(StatusCode::BAD_REQUEST, &rejected));
        }
        body
    } else {
        Bytes::new()
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
    let user_id = principal.user_id.clone();
    request.extensions_mut().insert(HttpCaller {
        state: state.get_ref().clone(),
        principal,
        ctx,
    });
    let is_delete = req.method() == actix_web::http::Method::DELETE;

    let response = mcp.service.handle(request).await;

    let (parts, body) = response.into_parts();
    if parts.status.is_success() {
        if session.is_none()
            && let Some(id) = parts
                .headers
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
        {
            let count = {
                let mut owners = mcp.owners();
                owners.insert(id.to_owned(), user_id);
                owners.len()
            };
            if count % 256 == 0 {
                mcp.prune().await;
            }
        } else if is_delete && let Some(id) = &session {
            mcp.owners().remove(id);
        }
    }
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
    Ok(out.streaming(body.into_data_stream()))
}
