//! The shape of every error `/mcp` answers at the HTTP level: a JSON-RPC error response (the MCP
//! transport specification's "JSON-RPC error response that has no id") whose `error.data` is the
//! REST error object (`code`, `message`, `request_id`) plus, when a server setting decides the
//! answer, the `setting` to change:
//!
//! ```json
//! {"jsonrpc": "2.0", "id": null, "error": {"code": -32600,
//!   "message": "Forbidden: Origin https://app.example is not allowed at /mcp; add it to [mcp] allowed_origins",
//!   "data": {"code": "origin_not_allowed", "message": "…", "request_id": "…",
//!            "setting": "mcp.allowed_origins"}}}
//! ```
//!
//! Errors rmcp answers in plain text (406, 415, 405, an unknown session, …) are rewritten into it;
//! JSON-RPC errors of the protocol itself keep their own shape (docs/mcp.md, "Errors").
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use rmcp::model::ErrorCode;
use serde_json::{Value, json};

use super::super::UNAUTHENTICATED;
use crate::error::ApiError;
use crate::request_id;

/// One HTTP-level error of `/mcp`.
#[derive(Debug, Clone)]
pub struct McpHttpError {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON-RPC error code.
    pub rpc_code: ErrorCode,
    /// The JSON-RPC id of the message, when it was read.
    pub id: Value,
    /// The REST error code (`origin_not_allowed`, `not_acceptable`, …).
    pub code: &'static str,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The configuration key that decides this answer, if any (`mcp.allowed_origins`).
    pub setting: Option<&'static str>,
}

impl McpHttpError {
    /// An error with a null id and no setting.
    pub fn new(
        status: StatusCode,
        rpc_code: ErrorCode,
        code: &'static str,
        message: String,
    ) -> Self {
        Self {
            status,
            rpc_code,
            id: Value::Null,
            code,
            message,
            setting: None,
        }
    }

    /// Names the setting that decides the answer.
    pub fn setting(mut self, key: &'static str) -> Self {
        self.setting = Some(key);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let request_id = request_id::current().unwrap_or_default();
        let mut data = json!({
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        });
        if let Some(setting) = self.setting {
            data["setting"] = json!(setting);
        }
        json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": { "code": self.rpc_code.0, "message": self.message, "data": data },
        })
    }

    /// The response.
    pub fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body())
    }
}

/// The REST-level error `err` (401 with its `WWW-Authenticate`, 429 with `Retry-After`, 5xx with
/// details hidden) in the `/mcp` shape: status and headers of the REST answer, the body above.
pub fn from_api(err: &ApiError) -> HttpResponse {
    let rest = err.error_response();
    let status = rest.status();
    let rpc_code = match err {
        ApiError::InvalidToken => UNAUTHENTICATED,
        _ if status.is_server_error() => ErrorCode::INTERNAL_ERROR,
        _ => ErrorCode::INVALID_REQUEST,
    };
    let message = match err {
        ApiError::InvalidToken => "Unauthorized: missing or invalid token; send `Authorization: \
                                   Bearer <token>` (POST /auth/token, or `mcp-server tokens issue`)"
            .to_owned(),
        _ if status.is_server_error() => match err {
            ApiError::Unavailable(_) => "Service unavailable".to_owned(),
            ApiError::Timeout | ApiError::AuditUnavailable(_) => err.to_string(),
            _ => "Something went wrong".to_owned(),
        },
        _ => err.to_string(),
    };
    let error = McpHttpError::new(status, rpc_code, err.code(), message);
    let mut out = HttpResponse::build(status);
    for (name, value) in rest.headers() {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            out.append_header((name.clone(), value.clone()));
        }
    }
    out.json(error.body())
}

/// The body of rmcp's responses.
pub type RmcpBody = BoxBody<Bytes, std::convert::Infallible>;

/// Largest error body of rmcp read for rewriting (its bodies are one line).
const RMCP_BODY_LIMIT: usize = 64 * 1024;

/// The error rmcp answered with `status` and a plain-text `text`, in the `/mcp` shape.
pub fn from_rmcp_text(status: StatusCode, text: &str) -> McpHttpError {
    let text = text.trim();
    let (code, message, setting) = match status {
        StatusCode::NOT_ACCEPTABLE => (
            "not_acceptable",
            format!(
                "{text}; send `Accept: application/json, text/event-stream` on POST and \
                 `Accept: text/event-stream` on GET (a client setting, not a server one)"
            ),
            None,
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            format!("{text}; send `Content-Type: application/json`"),
            None,
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!(
                "{text}: /mcp takes POST (messages), GET (the server's event stream of a \
                 session) and DELETE (end a session)"
            ),
            None,
        ),
        StatusCode::NOT_FOUND => (
            "session_not_found",
            format!(
                "{text}: the session ended (DELETE, {} minutes without traffic, a restart, a \
                 newer session of the same user beyond [mcp] max_sessions_per_user), or this \
                 instance never had it (a load balancer without session affinity); send \
                 `initialize` without `Mcp-Session-Id` to open a new one",
                super::SESSION_IDLE_MINUTES
            ),
            Some("mcp.max_sessions_per_user"),
        ),
        StatusCode::BAD_REQUEST if text.contains("MCP-Protocol-Version") => (
            "unsupported_protocol_version",
            format!(
                "{text}; supported versions: {}",
                super::super::supported_versions().join(", ")
            ),
            None,
        ),
        StatusCode::BAD_REQUEST => ("bad_request", text.to_owned(), None),
        StatusCode::UNAUTHORIZED => ("invalid_token", text.to_owned(), None),
        StatusCode::FORBIDDEN => ("forbidden", text.to_owned(), None),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            text.to_owned(),
            Some("mcp.max_message_bytes"),
        ),
        s if s.is_server_error() => ("internal", "Something went wrong".to_owned(), None),
        _ => ("bad_request", text.to_owned(), None),
    };
    if status.is_server_error() {
        tracing::error!(%status, error = %text, "rmcp answered /mcp with an error");
    }
    let rpc_code = if status.is_server_error() {
        ErrorCode::INTERNAL_ERROR
    } else {
        ErrorCode::INVALID_REQUEST
    };
    let error = McpHttpError::new(status, rpc_code, code, message);
    match setting {
        Some(key) => error.setting(key),
        None => error,
    }
}

/// Rewrites an error response of rmcp that is not JSON into the `/mcp` shape, keeping its
/// status and its headers (`Allow`, …); JSON answers (JSON-RPC errors) pass unchanged.
pub async fn rewrite_rmcp_error(
    parts: &::http::response::Parts,
    body: RmcpBody,
) -> Result<HttpResponse, RmcpBody> {
    let is_json = parts
        .headers
        .get(::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json") || ct.starts_with("text/event-stream"));
    if is_json {
        return Err(body);
    }
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match http_body_util::Limited::new(body, RMCP_BODY_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let error = from_rmcp_text(status, &text);
    let mut out = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        if name == ::http::header::CONTENT_LENGTH || name == ::http::header::CONTENT_TYPE {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            out.append_header((name.as_str(), value));
        }
    }
    Ok(out.json(error.body()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_a_json_rpc_error_carrying_the_rest_error_and_the_setting() {
        let body = McpHttpError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::INVALID_REQUEST,
            "origin_not_allowed",
            "Forbidden".into(),
        )
        .setting("mcp.allowed_origins")
        .body();
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["id"], Value::Null);
        assert_eq!(body["error"]["code"], -32600);
        assert_eq!(body["error"]["data"]["code"], "origin_not_allowed");
        assert_eq!(body["error"]["data"]["message"], "Forbidden");
        assert_eq!(body["error"]["data"]["setting"], "mcp.allowed_origins");
        assert!(body["error"]["data"]["request_id"].is_string());
    }

    #[test]
    fn plain_text_answers_of_rmcp_name_what_to_change() {
        let e = from_rmcp_text(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: Client must accept",
        );
        assert_eq!(e.code, "not_acceptable");
        assert!(
            e.message
                .contains("Accept: application/json, text/event-stream")
        );
        let e = from_rmcp_text(StatusCode::NOT_FOUND, "Not Found: Session not found");
        assert_eq!(e.code, "session_not_found");
        assert!(e.message.contains("initialize"));
        let e = from_rmcp_text(StatusCode::INTERNAL_SERVER_ERROR, "secret detail");
        assert!(!e.message.contains("secret"));
    }

    #[test]
    fn a_rest_401_keeps_its_status_and_www_authenticate() {
        let res = from_api(&ApiError::InvalidToken);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
