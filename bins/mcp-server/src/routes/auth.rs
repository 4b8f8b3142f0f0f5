//! Tokens: log in, revoke, who am I.
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_audit::{AuditEvent, EventType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{CallContext, Principal, authorize, bearer_token};
use crate::body::JsonBody;
use crate::completion::run_to_completion;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `POST /auth/token` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Log-in name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// An issued access token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT, for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Log in: trade a user name and password for an access token.
///
/// Unknown user, wrong password and disabled user give the same 401 after the same argon2 work.
/// A locked-out name, address or pair gets 429 with `Retry-After`; too many password checks
/// at once, 503 `busy` with `Retry-After` (see SECURITY.md, "Log-in lock-out").
#[utoipa::path(post, path = "/auth/token", tag = "auth", request_body = TokenRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = ErrorBody, description = "invalid username or password"),
    (status = 429, body = ErrorBody, description = "locked out; see Retry-After"),
    (status = 503, body = ErrorBody, description = "too many log-ins at once; see Retry-After")))]
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<TokenRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let ctx = CallContext::of(&req);
    // Failures counted, events audited: all of it happens even if the client hangs up.
    let issued = run_to_completion(log_in(state.into_inner(), ctx, body.into_inner())).await?;
    Ok(web::Json(issued))
}

async fn log_in(
    state: std::sync::Arc<AppState>,
    ctx: CallContext,
    request: TokenRequest,
) -> Result<TokenResponse, ApiError> {
    let TokenRequest { username, password } = request;
    let user = crate::auth::login::check_password(&state, &ctx, &username, password).await?;
    let (issued, jti) = issue_for(&state, &user).await?;
    let event = AuditEvent::authentication(user.id.clone(), true, ctx.ip)
        .with_detail("username", user.username.clone())
        .with_detail("jti", jti);
    state.audit(ctx.stamp(event)).await;
    Ok(issued)
}

/// Issues an access token for `user` with their current roles; returns it with its `jti`.
pub(crate) async fn issue_for(
    state: &AppState,
    user: &crate::users::User,
) -> Result<(TokenResponse, String), ApiError> {
    let authorizer = state.authorizer()?;
    let roles = authorizer
        .roles_of(&user.id)
        .await
        .map_err(crate::error::rbac_error)?;
    let now = chrono::Utc::now();
    let issued = state
        .issuer
        .issue_at(&user.id, roles, user.token_issue_time(now))
        .map_err(ApiError::internal)?;
    let expires_in = u64::try_from((issued.claims.expires_at() - now).num_seconds()).unwrap_or(0);
    let response = TokenResponse {
        access_token: issued.token,
        token_type: "bearer".into(),
        expires_in,
    };
    Ok((response, issued.claims.jti))
}

/// `POST /auth/revoke` body (optional: an empty body revokes the caller's own token).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The token to revoke; another user's token needs `system:admin`.
    pub token: Option<String>,
}

/// `POST /auth/revoke` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Always `true`.
    pub revoked: bool,
    /// The revoked token's id.
    pub jti: String,
}

/// Revoke the caller's token, or (with `system:admin`) any token.
#[utoipa::path(post, path = "/auth/revoke", tag = "auth", request_body(content = Option<RevokeRequest>),
    security(("bearer" = [])), responses(
    (status = 200, body = Revoked),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeRequest::default()
    } else {
        crate::error::require_json(&req)?;
        crate::body::parse_object::<RevokeRequest>(&body)?
    };
    let ctx = CallContext::of(&req);
    let own = bearer_token(&req).unwrap_or_default().to_owned();
    // The revocation and its audit event happen together even if the client hangs up.
    let revoked = run_to_completion(revoke_token(state.into_inner(), ctx, caller, own, request));
    Ok(HttpResponse::Ok().json(revoked.await?))
}

async fn revoke_token(
    state: std::sync::Arc<AppState>,
    ctx: CallContext,
    caller: Principal,
    own: String,
    request: RevokeRequest,
) -> Result<Revoked, ApiError> {
    let claims = match request.token.as_deref() {
        None => caller.claims.clone(),
        Some(t) if t == own => caller.claims.clone(),
        Some(other) => {
            authorize(&state, &caller, &mcp_rbac::Permission::SYSTEM_ADMIN, &ctx).await?;
            match state.verifier.verify(other).await {
                Ok(claims) => claims,
                Err(mcp_jwt::Error::Revoked) => {
                    return Err(ApiError::Conflict("token is already revoked".into()));
                }
                Err(e) => {
                    return Err(ApiError::Unprocessable(format!(
                        "cannot revoke that token: {e}"
                    )));
                }
            }
        }
    };
    state.verifier.revoke(&claims).await.map_err(|e| match e {
        mcp_jwt::Error::Store(s) => ApiError::from(s),
        other => ApiError::internal(other),
    })?;
    let event = AuditEvent::new(EventType::TokenRevoked)
        .with_user(caller.user_id.clone())
        .with_action("revoke")
        .with_detail("jti", claims.jti.clone())
        .with_detail("token_subject", claims.sub.clone());
    state.audit(ctx.stamp(event)).await;
    Ok(Revoked {
        revoked: true,
        jti: claims.jti,
    })
}

/// The raw request body, with size and read errors in the API's error shape (413/400).
pub struct RawBody(pub web::Bytes);

impl actix_web::FromRequest for RawBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(256 * 1024, |s| s.config.http.body_limit_bytes);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            match bytes.await {
                Ok(bytes) => Ok(RawBody(bytes)),
                Err(err) => {
                    let too_large = err.as_response_error().status_code()
                        == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE;
                    Err(if too_large {
                        ApiError::PayloadTooLarge { limit }
                    } else {
                        ApiError::BadRequest(format!("cannot read the request body: {err}"))
                    })
                }
            }
        })
    }
}

/// `GET /api/v1/me` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// The user's id.
    pub user_id: String,
    /// The user's log-in name.
    pub username: String,
    /// The user's roles.
    pub roles: Vec<String>,
    /// Every permission the roles grant, sorted.
    pub permissions: Vec<String>,
    /// When the presented token expires (RFC 3339).
    pub token_expires_at: String,
    /// The server's build version (what `mcp-server --version` prints), for every signed-in
    /// user (the console's footer); unauthenticated callers do not learn it.
    pub server_version: String,
}

/// Who am I: the caller, their roles and permissions.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(state: web::Data<AppState>, caller: Principal) -> Result<web::Json<Me>, ApiError> {
    let authorizer = state.authorizer()?;
    let permissions = authorizer
        .policy()
        .permissions_of(&caller.roles)
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    Ok(web::Json(Me {
        token_expires_at: caller.claims.expires_at().to_rfc3339(),
        user_id: caller.user_id,
        username: caller.username,
        roles: caller.roles,
        permissions,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
    }))
}
