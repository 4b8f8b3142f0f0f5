//! The caller's own account: changing one's password.
use actix_web::{HttpRequest, web};
use mcp_audit::{AuditEvent, EventType};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{TokenResponse, issue_for};
use crate::auth::{CallContext, Principal};
use crate::body::JsonBody;
use crate::completion::run_to_completion;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::users;

/// `POST /api/v1/me/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password the account has now.
    pub current_password: String,
    /// The new password: 8 to 1024 characters, not the current one.
    pub new_password: String,
}

/// Change one's own password.
///
/// The current password is checked like a log-in (the same lock-out, the same bounded Argon2
/// work, the failure audited as `auth_failure`): a wrong one is 403 `wrong_password`, too many
/// wrong ones lock the name out (429 with `Retry-After`). On success every session of the
/// account ends, the presented token included, and the answer carries a new token.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = ChangePassword,
    security(("bearer" = [])), responses(
    (status = 200, body = TokenResponse, description = "changed; a new token (the old ones no longer work)"),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "wrong current password"),
    (status = 422, body = ErrorBody, description = "the new password breaks the rules"),
    (status = 429, body = ErrorBody, description = "locked out; see Retry-After")))]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    body: JsonBody<ChangePassword>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let ctx = CallContext::of(&req);
    let body = body.into_inner();
    // The rules first: a refused new password costs no password check and no lock-out step.
    users::validate_password(&body.new_password)?;
    if body.new_password == body.current_password {
        return Err(ApiError::Unprocessable(
            "the new password is the current one".into(),
        ));
    }
    let issued = run_to_completion(async move {
        let user = state
            .users
            .by_id(&caller.user_id)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        let user =
            crate::auth::login::check_password(&state, &ctx, &user.username, body.current_password)
                .await
                .map_err(|e| match e {
                    ApiError::InvalidCredentials => ApiError::WrongPassword,
                    other => other,
                })?;
        let hash = state.passwords.hash(body.new_password).await?;
        state.users.set_password_hash(&user.id, &hash).await?;
        // Re-read: the new token must postdate the end of the old sessions.
        let user = state
            .users
            .by_id(&user.id)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        let (issued, jti) = issue_for(&state, &user).await?;
        let event = AuditEvent::new(EventType::DataWrite)
            .with_user(user.id.clone())
            .with_action("change_password")
            .with_detail("target_user", user.username.clone())
            .with_detail("jti", jti);
        state.audit(ctx.stamp(event)).await;
        Ok::<_, ApiError>(issued)
    })
    .await?;
    Ok(web::Json(issued))
}
