//! The OAuth clients connected to a user's account (issue 14): what the user consented to
//! (remembered consents) and the grants clients hold, listed and revoked by the user and by
//! admins. Revoking ends the consent and every active grant of the client for the user,
//! with their refresh and access tokens; the authorization server audits it
//! (`oauth.consent_revoked`, with `revoked_by`).
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::perm::SystemAdmin;
use crate::auth::{Allowed, CallContext, Principal};
use crate::completion::run_to_completion;
use crate::error::{ApiError, ErrorBody};
use crate::oauth::within;
use crate::state::AppState;

/// A client connected to the account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    /// The client id (a URL for clients described by a metadata document).
    pub client_id: String,
    /// The client's name (self-asserted unless configured); `null` when unknown.
    pub client_name: Option<String>,
    /// The client's home page, when it gave one.
    pub client_uri: Option<String>,
    /// `config`, `dynamic` or `metadata_document`; `null` when the client is no longer known.
    pub source: Option<String>,
    /// The server's own user interface (the console): consent is implied.
    pub first_party: bool,
    /// The hosts of the client's redirect URIs.
    pub redirect_hosts: Vec<String>,
    /// The remembered consent, if the user asked for one.
    pub consent: Option<ConsentView>,
    /// The active grants (each a sign-in that can still get tokens).
    pub grants: Vec<GrantView>,
}

/// A remembered consent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentView {
    /// The consented scopes (permissions).
    pub scopes: Vec<String>,
    /// The consented resources (the MCP endpoint, the REST API).
    pub resources: Vec<String>,
    /// When consent was first given (RFC 3339).
    pub granted_at: String,
    /// When it was last extended (RFC 3339).
    pub updated_at: String,
}

/// An active grant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The resource its tokens are for.
    pub resource: String,
    /// When it began (RFC 3339).
    pub created_at: String,
    /// When it ends at the latest (RFC 3339).
    pub expires_at: String,
}

fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339()
}

fn view(connection: Connection) -> ConnectionView {
    let client = connection.client.as_ref();
    let source = client.and_then(|c| {
        serde_json::to_value(c.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    });
    let mut redirect_hosts: Vec<String> = client
        .map(|c| {
            c.redirect_uris
                .iter()
                .map(|u| mcp_oauth::redirect::redirect_display_host(u))
                .collect()
        })
        .unwrap_or_default();
    redirect_hosts.dedup();
    ConnectionView {
        client_name: client.and_then(|c| c.client_name.clone()),
        client_uri: client.and_then(|c| c.client_uri.clone()),
        source,
        first_party: client.is_some_and(|c| c.first_party),
        redirect_hosts,
        consent: connection.consent.map(|c| ConsentView {
            scopes: c.scope.iter().map(str::to_owned).collect(),
            resources: c.resources,
            granted_at: time(c.granted_at),
            updated_at: time(c.updated_at),
        }),
        grants: connection
            .grants
            .into_iter()
            .map(|g| GrantView {
                scopes: g.scope.iter().map(str::to_owned).collect(),
                resource: g.resource,
                created_at: time(g.created_at),
                expires_at: time(g.expires_at),
            })
            .collect(),
        client_id: connection.client_id,
    }
}

fn nothing_to_revoke() -> ApiError {
    ApiError::NotFound("no consent or active grant of this client for this user".into())
}

fn store_error(err: mcp_oauth::Error) -> ApiError {
    match err {
        mcp_oauth::Error::Store(e) => e.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

/// A token an OAuth client got for the user manages none of the user's connections: only
/// the user's own sign-ins (a password token, the console) do, so that one client cannot
/// see or end the user's other clients.
async fn own_account(server: &AppState, caller: &Principal) -> Result<(), ApiError> {
    let Some(client_id) = caller.claims.client_id.as_deref() else {
        return Ok(());
    };
    let first_party = match &server.oauth {
        Some(oauth) => oauth
            .known_client(client_id)
            .await
            .map_err(store_error)?
            .is_some_and(|c| c.first_party),
        None => false,
    };
    if first_party {
        return Ok(());
    }
    Err(ApiError::PermissionDenied(
        "a token issued to an OAuth client cannot manage the account's OAuth connections; \
         use a token from /auth/token or the console"
            .into(),
    ))
}

/// Without the built-in authorization server no client can be connected: an empty list.
async fn list(state: &AppState, user_id: &str) -> Result<Vec<ConnectionView>, ApiError> {
    let Some(server) = state.oauth.as_ref() else {
        return Ok(Vec::new());
    };
    let connections = server.connections(user_id).await.map_err(store_error)?;
    Ok(connections.into_iter().map(view).collect())
}

async fn revoke(
    state: web::Data<AppState>,
    req: &HttpRequest,
    user_id: String,
    client_id: String,
    revoked_by: String,
) -> Result<HttpResponse, ApiError> {
    let Some(server) = state.oauth.clone() else {
        return Err(nothing_to_revoke());
    };
    let ctx = CallContext::of(req);
    let found = run_to_completion(within(ctx, async move {
        server
            .revoke_consent(&user_id, &client_id, &revoked_by)
            .await
            .map_err(store_error)
    }))
    .await?;
    if found {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(nothing_to_revoke())
    }
}

async fn user_id_of(state: &AppState, username: &str) -> Result<String, ApiError> {
    Ok(state
        .users
        .by_username(username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user `{username}`")))?
        .id)
}

/// The OAuth clients connected to the caller's account (empty when the built-in
/// authorization server is off).
#[utoipa::path(get, path = "/api/v1/me/oauth/consents", tag = "oauth", security(("bearer" = [])),
    responses((status = 200, body = [ConnectionView]),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "a token issued to a third-party OAuth client")))]
pub async fn list_own(
    state: web::Data<AppState>,
    caller: Principal,
) -> Result<web::Json<Vec<ConnectionView>>, ApiError> {
    own_account(&state, &caller).await?;
    Ok(web::Json(list(&state, &caller.user_id).await?))
}

/// Disconnect a client from the caller's account: its remembered consent and every active
/// grant (refresh and access tokens) end.
#[utoipa::path(delete, path = "/api/v1/me/oauth/consents/{client_id}", tag = "oauth",
    params(("client_id" = String, Path, description = "percent-encoded (a URL client id has slashes)")),
    security(("bearer" = [])),
    responses((status = 204, description = "revoked"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "a token issued to a third-party OAuth client"),
    (status = 404, body = ErrorBody, description = "nothing to revoke")))]
pub async fn revoke_own(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Principal,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    own_account(&state, &caller).await?;
    let user_id = caller.user_id.clone();
    revoke(
        state,
        &req,
        user_id.clone(),
        client_id.into_inner(),
        user_id,
    )
    .await
}

/// The OAuth clients connected to a user's account (admin).
#[utoipa::path(get, path = "/api/v1/users/{username}/oauth/consents", tag = "admin",
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = [ConnectionView]),
    (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "no such user")))]
pub async fn list_of_user(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<web::Json<Vec<ConnectionView>>, ApiError> {
    let user_id = user_id_of(&state, &username).await?;
    Ok(web::Json(list(&state, &user_id).await?))
}

/// Disconnect a client from a user's account (admin).
#[utoipa::path(delete, path = "/api/v1/users/{username}/oauth/consents/{client_id}", tag = "admin",
    params(("username" = String, Path),
    ("client_id" = String, Path, description = "percent-encoded (a URL client id has slashes)")),
    security(("bearer" = [])),
    responses((status = 204, description = "revoked"),
    (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "no such user, or nothing to revoke")))]
pub async fn revoke_of_user(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (username, client_id) = path.into_inner();
    let user_id = user_id_of(&state, &username).await?;
    revoke(state, &req, user_id, client_id, auth.principal.user_id).await
}
