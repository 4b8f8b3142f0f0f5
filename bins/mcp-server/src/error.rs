//! The one application error and its one conversion to HTTP.
//!
//! Every error response has the shape `{"error": {"code", "message", "request_id"}}`. A 5xx body
//! says "Something went wrong"; the details go to the log.
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use mcp_core::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (bad JSON syntax, bad query parameters).
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but its content is refused (wrong types, unknown fields).
    #[error("{0}")]
    Unprocessable(String),
    /// The body is larger than the configured limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not `application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// No token, or a token that does not verify (expired, bad signature, revoked, unknown key).
    #[error("missing or invalid token")]
    InvalidToken,
    /// User name or password wrong (the same for both).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The current password given with a password change is wrong (the token is fine, so not
    /// a 401: a client must not take it for a signed-out session).
    #[error("the current password is wrong")]
    WrongPassword,
    /// The caller lacks a permission.
    #[error("Permission denied: {0}")]
    PermissionDenied(String),
    /// The caller's roles grant the permission but the token's scopes do not: a client can get
    /// a token with that scope (OAuth step-up, `WWW-Authenticate: Bearer
    /// error="insufficient_scope"`).
    #[error("Permission denied: the token's scope does not include {0}")]
    InsufficientScope(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The write conflicts with what exists.
    #[error("{0}")]
    Conflict(String),
    /// Too many requests; retry after the given number of seconds.
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// The request took longer than the configured timeout.
    #[error("the request took too long")]
    Timeout,
    /// Too much of this work is under way (password checks); retry after the given number of
    /// seconds.
    #[error("the server is busy, retry in {retry_after_secs} s")]
    Busy {
        /// Seconds to wait before a retry.
        retry_after_secs: u64,
    },
    /// An upstream MCP server (the gateway) answered with an error of its own; the message
    /// (redacted) is shown.
    #[error("{0}")]
    BadGateway(String),
    /// A store or the sandbox is down or busy.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The sandbox cannot run code on this host (a required isolation layer, an interpreter
    /// or a checker is missing, or it did not start). The message names the cause and the fix
    /// for administrators; others get a generic line (see [`SandboxOutage`]).
    #[error("{0}")]
    SandboxUnavailable(Box<SandboxOutage>),
    /// The work was done but its audit event could not be made durable in time (the audit
    /// store is slow or down); the message says what happened and is shown to the caller.
    #[error("{0}")]
    AuditUnavailable(String),
    /// A part the route needs (e.g. the authorizer) is not wired into the app.
    #[error("{0} is not configured")]
    NotWired(&'static str),
    /// Anything else; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why the sandbox cannot run code, and what an operator does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOutage {
    /// What is missing or failed (e.g. "the isolation layer rlimits is unavailable: …").
    pub cause: String,
    /// What to change (packages, host settings, `sandbox.*` keys), then restart.
    pub fix: String,
    /// Whether the caller may see `cause` and `fix` (administrators); others get a generic
    /// line.
    pub detailed: bool,
}

impl SandboxOutage {
    /// The generic line for callers who are not administrators.
    pub const GENERIC: &'static str = "code cannot run on this server right now because its \
        sandbox is unavailable; an administrator sees the cause and the fix (GET /ready, the \
        server log)";
}

impl std::fmt::Display for SandboxOutage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detailed {
            write!(
                f,
                "the sandbox cannot run code: {}. Fix: {}",
                self.cause, self.fix
            )
        } else {
            f.write_str(Self::GENERIC)
        }
    }
}

impl ApiError {
    /// Shows a sandbox outage's cause and fix only to an administrator (`admin`); any other
    /// error is returned as it is.
    #[must_use]
    pub fn shown_to(self, admin: bool) -> Self {
        match self {
            Self::SandboxUnavailable(mut outage) => {
                if !admin {
                    tracing::warn!(cause = %outage.cause, fix = %outage.fix, "code run refused: the sandbox is unavailable");
                }
                outage.detailed = admin;
                Self::SandboxUnavailable(outage)
            }
            other => other,
        }
    }
}

/// The error body.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error's fields.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`invalid_token`, `permission_denied`, …).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The request id (also in the `X-Request-Id` header).
    pub request_id: String,
}

impl ApiError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unprocessable(_) => "invalid_input",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidToken => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::WrongPassword => "wrong_password",
            Self::PermissionDenied(_) => "permission_denied",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Timeout => "timeout",
            Self::Busy { .. } => "busy",
            Self::Unavailable(_) => "unavailable",
            Self::SandboxUnavailable(_) => "sandbox_unavailable",
            Self::AuditUnavailable(_) => "audit_unavailable",
            Self::BadGateway(_) => "upstream_error",
            Self::NotWired(_) | Self::Internal(_) => "internal",
        }
    }

    /// Wraps any error as [`ApiError::Internal`].
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(m) => Self::NotFound(m),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Invalid(m) => Self::Unprocessable(m),
            StoreError::Unavailable { message, .. } => Self::Unavailable(message),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidToken | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied(_) | Self::InsufficientScope(_) | Self::WrongPassword => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout
            | Self::Busy { .. }
            | Self::Unavailable(_)
            | Self::SandboxUnavailable(_)
            | Self::AuditUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::NotWired(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.response_with_id(request_id::current().unwrap_or_default())
    }
}

impl ApiError {
    /// The error response with a given request id.
    pub fn response_with_id(&self, request_id: String) -> HttpResponse {
        let status = self.status_code();
        let message = if status.is_server_error()
            && !matches!(
                self,
                Self::Timeout
                    | Self::Busy { .. }
                    | Self::AuditUnavailable(_)
                    | Self::BadGateway(_)
                    | Self::SandboxUnavailable(_)
            ) {
            tracing::error!(error = %mcp_core::bounded::text(&self.to_string()), "request failed");
            match self {
                Self::Unavailable(_) => "Service unavailable".to_owned(),
                _ => "Something went wrong".to_owned(),
            }
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                request_id,
            },
        };
        let mut res = HttpResponse::build(status).json(body);
        if let Self::RateLimited { retry_after_secs } | Self::Busy { retry_after_secs } = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if matches!(self, Self::InvalidToken) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::InsufficientScope(scope) = self {
            // The OAuth challenge layer adds `resource_metadata` (it knows the public URL).
            let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
        }
        res
    }
}

/// Maps an `mcp_rbac` error: store failures by kind, an unknown role 422, the rest 500.
pub fn rbac_error(err: mcp_rbac::Error) -> ApiError {
    match err {
        mcp_rbac::Error::Store(e) => e.into(),
        e @ (mcp_rbac::Error::UnknownRole { .. } | mcp_rbac::Error::InvalidRoleName { .. }) => {
            ApiError::Unprocessable(e.to_string())
        }
        other => ApiError::internal(other),
    }
}

/// 415 unless the request says `Content-Type: application/json`.
pub fn require_json(req: &actix_web::HttpRequest) -> Result<(), ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Maps the JSON extractor's failures to 400/413/415/422.
pub fn json_error(err: actix_web::error::JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge { limit },
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Deserialize(e) => serde_error(&e),
        other => ApiError::BadRequest(format!("cannot read the request body: {other}")),
    }
}

/// Classifies a `serde_json` error: syntax → 400, content → 422.
pub fn serde_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ApiError::Unprocessable(format!("invalid request body: {e}")),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::BadRequest(format!("malformed JSON: {e}"))
        }
    }
}

/// Maps the query extractor's failures to 400.
pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::BadRequest(format!("invalid query parameters: {err}"))
}

/// Maps path-parameter failures to 400.
pub fn path_error(err: actix_web::error::PathError) -> ApiError {
    ApiError::BadRequest(format!("invalid path parameter: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_details() {
        let res = ApiError::Internal("db password is hunter2".into()).error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::to_bytes(res.into_body());
        let bytes = futures_lite_block_on(body).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("Something went wrong") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let res = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .error_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "7");
    }

    #[test]
    fn permission_denied_names_the_permission() {
        assert_eq!(
            ApiError::PermissionDenied("tools:execute".into()).to_string(),
            "Permission denied: tools:execute"
        );
    }

    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
