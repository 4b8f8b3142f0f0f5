//! Users and roles (`system:admin`).
//!
//! Each change runs to completion, store writes and audit event together, even if the client
//! hangs up meanwhile (see [`crate::completion`]).
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_audit::{AuditEvent, EventType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::perm::SystemAdmin;
use crate::auth::{Allowed, CallContext};
use crate::body::JsonBody;
use crate::completion::run_to_completion;
use crate::error::{ApiError, ErrorBody, rbac_error};
use crate::state::AppState;
use crate::users::{self, User};

/// A user with their roles.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Stable id.
    pub id: String,
    /// Log-in name.
    pub username: String,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// When the user was created (RFC 3339).
    pub created_at: String,
    /// The user's roles.
    pub roles: Vec<String>,
}

async fn view(state: &AppState, user: User) -> Result<UserView, ApiError> {
    let authorizer = state.authorizer()?;
    let roles = authorizer.roles_of(&user.id).await.map_err(rbac_error)?;
    Ok(UserView {
        id: user.id,
        username: user.username,
        disabled: user.disabled,
        created_at: user.created_at.to_rfc3339(),
        roles,
    })
}

async fn find(state: &AppState, username: &str) -> Result<User, ApiError> {
    state
        .users
        .by_username(username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user `{username}`")))
}

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Log-in name: 1–64 of letters, digits, `.`, `_`, `@`, `-`.
    pub username: String,
    /// Password: at least 8 characters.
    pub password: String,
    /// Roles to assign (default: none, which means `viewer`).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `POST /api/v1/users/{username}/roles` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRole {
    /// The role to give.
    pub role: String,
}

/// `POST /api/v1/users/{username}/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The new password: 8 to 1024 characters.
    pub password: String,
}

/// A role of the policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    /// Name.
    pub name: String,
    /// Roles it inherits from.
    pub inherits: Vec<String>,
    /// Every permission it grants, inherited ones included.
    pub permissions: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
}

async fn audit_admin(
    state: &AppState,
    ctx: &CallContext,
    caller: &str,
    action: &str,
    target: &str,
) {
    audit_admin_with(state, ctx, caller, action, target, serde_json::Map::new()).await;
}

/// [`audit_admin`] with more `details` (such as the roles a new user got).
async fn audit_admin_with(
    state: &AppState,
    ctx: &CallContext,
    caller: &str,
    action: &str,
    target: &str,
    extra: serde_json::Map<String, serde_json::Value>,
) {
    let mut event = AuditEvent::new(EventType::DataWrite)
        .with_user(caller.to_owned())
        .with_action(action.to_owned())
        .with_detail("target_user", target.to_owned());
    for (key, value) in extra {
        event = event.with_detail(key, value);
    }
    state.audit(ctx.stamp(event)).await;
}

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<UserView>>, ApiError> {
    let mut out = Vec::new();
    for user in state.users.list().await? {
        out.push(view(&state, user).await?);
    }
    Ok(web::Json(out))
}

/// Create a user, optionally with roles.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = CreateUser,
    security(("bearer" = [])), responses(
    (status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let ctx = CallContext::of(&req);
    let caller = auth.principal.user_id;
    let created = run_to_completion(async move {
        let authorizer = state.authorizer()?;
        if let Some(unknown) = body.roles.iter().find(|r| !authorizer.policy().has_role(r)) {
            return Err(ApiError::Unprocessable(format!("unknown role `{unknown}`")));
        }
        let user = users::create_user_with(
            &*state.users,
            &state.passwords,
            &body.username,
            &body.password,
        )
        .await?;
        for role in &body.roles {
            authorizer
                .assign_role(&user.id, role)
                .await
                .map_err(rbac_error)?;
        }
        let view = view(&state, user).await?;
        // What was granted: the roles the account holds now, not only those asked for.
        let mut extra = serde_json::Map::new();
        extra.insert("target_user_id".into(), view.id.clone().into());
        extra.insert("roles".into(), serde_json::json!(view.roles));
        audit_admin_with(&state, &ctx, &caller, "create_user", &view.username, extra).await;
        Ok(view)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

async fn set_disabled(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: String,
    disabled: bool,
) -> Result<web::Json<UserView>, ApiError> {
    let ctx = CallContext::of(&req);
    let caller = auth.principal.user_id;
    let view = run_to_completion(async move {
        let user = find(&state, &username).await?;
        if disabled && user.id == caller {
            return Err(ApiError::Conflict(
                "an administrator cannot disable their own account; another administrator can"
                    .into(),
            ));
        }
        let user = state.users.set_disabled(&user.id, disabled).await?;
        let action = if disabled {
            "disable_user"
        } else {
            "enable_user"
        };
        audit_admin(&state, &ctx, &caller, action, &username).await;
        view(&state, user).await
    })
    .await?;
    Ok(web::Json(view))
}

/// Disable a user: they can no longer log in, and their tokens stop working. An administrator
/// cannot disable their own account (409).
#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "admin",
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the caller's own account")))]
pub async fn disable_user(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<web::Json<UserView>, ApiError> {
    set_disabled(auth, req, state, username.into_inner(), true).await
}

/// Enable a disabled user.
#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "admin",
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn enable_user(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<web::Json<UserView>, ApiError> {
    set_disabled(auth, req, state, username.into_inner(), false).await
}

/// Lift a user's log-in lock-out: every lock and failure count of the name, on this instance
/// at once and on the others at their next log-in attempt (through the user store).
#[utoipa::path(post, path = "/api/v1/users/{username}/unlock", tag = "admin",
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
pub async fn unlock_user(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<web::Json<UserView>, ApiError> {
    let ctx = CallContext::of(&req);
    let caller = auth.principal.user_id;
    let username = username.into_inner();
    let view = run_to_completion(async move {
        let user = find(&state, &username).await?;
        state.users.record_unlock(&user.id).await?;
        state.login_guard.unlock(&user.username).await;
        audit_admin(&state, &ctx, &caller, "unlock_user", &username).await;
        view(&state, user).await
    })
    .await?;
    Ok(web::Json(view))
}

/// Set a user's password (an administrator's reset): every session the user had ends, so
/// their tokens stop working; a log-in lock-out stays until it is lifted (`unlock`). Not for
/// the caller's own account (409: `POST /api/v1/me/password` asks for the current password).
#[utoipa::path(post, path = "/api/v1/users/{username}/password", tag = "admin",
    params(("username" = String, Path)), request_body = ResetPassword, security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the caller's own account: use POST /api/v1/me/password"),
        (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
    body: JsonBody<ResetPassword>,
) -> Result<web::Json<UserView>, ApiError> {
    let ctx = CallContext::of(&req);
    let caller = auth.principal.user_id;
    let username = username.into_inner();
    let password = body.into_inner().password;
    let view = run_to_completion(async move {
        let user = find(&state, &username).await?;
        if user.id == caller {
            return Err(ApiError::Conflict(
                "this is your own account: change your password with POST /api/v1/me/password \
                 (it asks for the current one)"
                    .into(),
            ));
        }
        users::validate_password(&password)?;
        let hash = state.passwords.hash(password).await?;
        state.users.set_password_hash(&user.id, &hash).await?;
        let mut extra = serde_json::Map::new();
        extra.insert("target_user_id".into(), user.id.clone().into());
        audit_admin_with(&state, &ctx, &caller, "reset_password", &username, extra).await;
        view(&state, user).await
    })
    .await?;
    Ok(web::Json(view))
}

/// Delete a user: their sessions end (every token stops working), their roles are taken, and
/// the account is removed; the name can be given to a new account, which gets a new id.
/// Audit events keep the old id. An administrator cannot delete their own account (409).
#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "admin",
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the caller's own account")))]
pub async fn delete_user(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = CallContext::of(&req);
    let caller = auth.principal.user_id;
    let username = username.into_inner();
    run_to_completion(async move {
        let user = find(&state, &username).await?;
        if user.id == caller {
            return Err(ApiError::Conflict(
                "an administrator cannot delete their own account; another administrator can"
                    .into(),
            ));
        }
        let authorizer = state.authorizer()?;
        let taken = users::delete_user(&*state.users, authorizer, &user)
            .await
            .map_err(|e| match e {
                users::DeleteError::Store(e) => ApiError::from(e),
                users::DeleteError::Roles(e) => rbac_error(e),
            })?;
        let mut extra = serde_json::Map::new();
        extra.insert("target_user_id".into(), user.id.clone().into());
        extra.insert("roles".into(), serde_json::json!(taken));
        audit_admin_with(&state, &ctx, &caller, "delete_user", &username, extra).await;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give a user a role.
#[utoipa::path(post, path = "/api/v1/users/{username}/roles", tag = "admin",
    params(("username" = String, Path)), request_body = AssignRole, security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign_role(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
    body: JsonBody<AssignRole>,
) -> Result<web::Json<UserView>, ApiError> {
    change_role(
        auth,
        req,
        state,
        username.into_inner(),
        body.into_inner().role,
        true,
    )
    .await
}

/// Gives (`assign`) or takes a role, audited as `assign_role:<role>` or `revoke_role:<role>`.
async fn change_role(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: String,
    role: String,
    assign: bool,
) -> Result<web::Json<UserView>, ApiError> {
    let ctx = CallContext::of(&req);
    let caller = auth.principal.user_id;
    let view = run_to_completion(async move {
        let user = find(&state, &username).await?;
        let authorizer = state.authorizer()?;
        if !assign && user.id == caller {
            keeps_admin(authorizer, &user.id, &role).await?;
        }
        let (changed, verb) = if assign {
            (authorizer.assign_role(&user.id, &role).await, "assign_role")
        } else {
            (authorizer.revoke_role(&user.id, &role).await, "revoke_role")
        };
        let changed = changed.map_err(rbac_error)?;
        if !assign && changed {
            // Tokens issued while the user held the role stop working.
            state.users.invalidate_tokens(&user.id).await?;
        }
        audit_admin(&state, &ctx, &caller, &format!("{verb}:{role}"), &username).await;
        view(&state, user).await
    })
    .await?;
    Ok(web::Json(view))
}

/// Refuses (409) taking `role` from the caller when the roles left would not grant
/// `system:admin`: an administrator cannot lock themselves out of administration.
async fn keeps_admin(
    authorizer: &mcp_rbac::Authorizer,
    caller: &str,
    role: &str,
) -> Result<(), ApiError> {
    let left: Vec<String> = authorizer
        .roles_of(caller)
        .await
        .map_err(rbac_error)?
        .into_iter()
        .filter(|r| r != role)
        .collect();
    if authorizer
        .policy()
        .allows(&left, &mcp_rbac::Permission::SYSTEM_ADMIN)
    {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "taking `{role}` from your own account would take away your system:admin; another \
         administrator can"
    )))
}

/// Take a role from a user (the user's tokens stop working). An administrator cannot take
/// from their own account the last role that grants them `system:admin` (409).
#[utoipa::path(delete, path = "/api/v1/users/{username}/roles/{role}", tag = "admin",
    params(("username" = String, Path), ("role" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "it would take the caller's own system:admin"),
        (status = 422, body = ErrorBody, description = "not a role name")))]
pub async fn revoke_role(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<UserView>, ApiError> {
    let (username, role) = path.into_inner();
    change_role(auth, req, state, username, role, false).await
}

/// List the roles of the policy with their permissions.
#[utoipa::path(get, path = "/api/v1/roles", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [RoleView]), (status = 403, body = ErrorBody)))]
pub async fn list_roles(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<RoleView>>, ApiError> {
    let authorizer = state.authorizer()?;
    let policy = authorizer.policy();
    let roles = policy
        .roles()
        .map(|name| RoleView {
            name: name.to_owned(),
            inherits: policy
                .parents_of(name)
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
            permissions: policy
                .permissions_of(&[name])
                .iter()
                .map(ToString::to_string)
                .collect(),
            description: policy.description_of(name).map(str::to_owned),
        })
        .collect();
    Ok(web::Json(roles))
}
