//! Errors: the protocol errors answered to clients ([`ErrorResponse`]) and the crate's own
//! [`Error`] for configuration, storage and fetching.

use serde::Serialize;

use crate::http::HttpResponse;

/// An OAuth error code, as written in the `error` member of an error response.
///
/// From RFC 6749 (§4.1.2.1, §5.2), RFC 6750 (§3.1), RFC 7009 (§2.2.1), RFC 7591 (§3.2.2) and
/// RFC 8707 (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// A parameter is missing, repeated, malformed or not supported.
    InvalidRequest,
    /// Client authentication failed, or the client is unknown (HTTP 401).
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked, already used, was issued to
    /// another client, or its PKCE verifier or redirect URI does not match.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// The requested scope is invalid, unknown, or exceeds what was granted.
    InvalidScope,
    /// The resource owner (or the server) denied the request.
    AccessDenied,
    /// The server failed (HTTP 500); details are in the server's log, not in the response.
    ServerError,
    /// The server is overloaded or a dependency is down (HTTP 503).
    TemporarilyUnavailable,
    /// The `resource` indicator is invalid or names a resource this server does not serve.
    InvalidTarget,
    /// A redirect URI in a registration request is not acceptable.
    InvalidRedirectUri,
    /// A field of a registration request is not acceptable.
    InvalidClientMetadata,
    /// The token type cannot be revoked.
    UnsupportedTokenType,
    /// The access token is missing, expired, revoked or otherwise invalid (HTTP 401).
    InvalidToken,
    /// The access token lacks a scope the request needs (HTTP 403).
    InsufficientScope,
    /// The `request` parameter (request objects) is not supported.
    RequestNotSupported,
    /// The `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// `prompt=none` was asked, but the user must log in (OpenID Connect Core §3.1.2.6).
    LoginRequired,
}

impl ErrorCode {
    /// The code as written on the wire, e.g. `invalid_grant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::LoginRequired => "login_required",
        }
    }

    /// The HTTP status that goes with the code: 401 for `invalid_client` and
    /// `invalid_token`, 403 for `insufficient_scope`, 500 for `server_error`, 503 for
    /// `temporarily_unavailable`, 400 for the rest.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error response: the JSON body `{"error": …, "error_description": …}`, its HTTP
/// status, and for `invalid_client` with HTTP Basic the `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The error code.
    pub error: ErrorCode,
    /// A human-readable explanation for the client developer (never secrets or internals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The HTTP status to answer with.
    #[serde(skip)]
    pub status: u16,
    /// The `WWW-Authenticate` header value to send, if any.
    #[serde(skip)]
    pub www_authenticate: Option<String>,
}

impl ErrorResponse {
    /// An error with the code's usual status and a description.
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: Some(description.into()),
            status: error.status(),
            www_authenticate: None,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `server_error` (500) with a generic description; log the cause before calling.
    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the server failed; try again later")
    }

    /// `temporarily_unavailable` (503) with a generic description.
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the server is temporarily unavailable; try again later",
        )
    }

    /// Overrides the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets the `WWW-Authenticate` challenge.
    #[must_use]
    pub fn with_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.www_authenticate = Some(challenge.into());
        self
    }

    /// The JSON body with `Cache-Control: no-store`, the status and the challenge.
    pub fn to_http(&self) -> HttpResponse {
        let body = serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"error\":\"{}\"}}", self.error.as_str()));
        let mut response = HttpResponse::json(self.status, body);
        if let Some(challenge) = &self.www_authenticate {
            response.push_header("WWW-Authenticate", challenge.clone());
        }
        response
    }

    /// Maps a storage failure: transient ones to 503, the rest to 500 (logged here).
    pub(crate) fn from_store(what: &str, err: &mcp_core::StoreError) -> Self {
        if err.is_transient() {
            tracing::warn!(error = %err, "oauth store unavailable during {what}");
            Self::unavailable()
        } else {
            tracing::error!(error = %err, "oauth store failed during {what}");
            Self::server_error()
        }
    }
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{}: {d}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for ErrorResponse {}

/// Why the authorization server or the external-token verifier could not be built or could
/// not complete an operation that is not a client's protocol error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the field.
    #[error("invalid OAuth configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error("oauth store failed")]
    Store(#[from] mcp_core::StoreError),
}

impl Error {
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config(reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_have_their_rfc_statuses() {
        assert_eq!(ErrorCode::InvalidClient.status(), 401);
        assert_eq!(ErrorCode::InvalidGrant.status(), 400);
        assert_eq!(ErrorCode::InsufficientScope.status(), 403);
        assert_eq!(ErrorCode::ServerError.status(), 500);
        assert_eq!(ErrorCode::TemporarilyUnavailable.status(), 503);
    }

    #[test]
    fn error_response_serializes_as_rfc_6749_json() {
        let err = ErrorResponse::new(ErrorCode::InvalidGrant, "code already used");
        let http = err.to_http();
        assert_eq!(http.status, 400);
        let body: serde_json::Value = serde_json::from_str(&http.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_grant", "error_description": "code already used"})
        );
        assert_eq!(http.header("cache-control"), Some("no-store"));
    }

    #[test]
    fn code_names_match_their_serde_names() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidTarget,
            ErrorCode::InvalidClientMetadata,
            ErrorCode::RequestUriNotSupported,
        ] {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
        }
    }
}
