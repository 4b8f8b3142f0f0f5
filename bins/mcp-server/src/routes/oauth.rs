//! OAuth 2.1 for MCP clients: the Protected Resource Metadata (RFC 9728) of the two resources
//! (`crate::resource_server`) and the endpoints of the built-in authorization server
//! (`mcp-oauth`, set up by `crate::oauth::attach`). The answers are the crate's, copied as
//! they are (status, headers such as the pages' Content-Security-Policy, body).
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use mcp_oauth::AuthorizationServer;
use mcp_oauth::event::Endpoint;

use crate::auth::CallContext;
use crate::error::ApiError;
use crate::limits::retry_after_secs;
use crate::oauth::within;
use crate::oauth_limits::OAuthBudget;
use crate::routes::auth::RawBody;
use crate::state::AppState;

/// Longest form body of the log-in, consent, token and revocation endpoints.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Longest Dynamic Client Registration request.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

/// Copies a framework-free answer of `mcp-oauth` onto an actix response.
pub fn to_actix(answer: &mcp_oauth::HttpResponse) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        response.append_header((name.as_str(), value.as_str()));
    }
    response.body(answer.body.clone())
}

fn not_configured() -> ApiError {
    ApiError::NotFound(
        "OAuth is not configured on this server (set http.public_url; see docs/oauth.md)".into(),
    )
}

fn server(state: &AppState) -> Result<AuthorizationServer, ApiError> {
    state.oauth.clone().ok_or_else(|| {
        ApiError::NotFound(
            "the built-in OAuth authorization server is off (oauth.enabled, http.public_url; \
             see docs/oauth.md)"
                .into(),
        )
    })
}

fn header(req: &HttpRequest, name: actix_web::http::header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The answer for a request over its address's allowance (`[oauth.rate_limits]`), if it is:
/// 429 with `Retry-After`, before any work.
async fn throttled(
    req: &HttpRequest,
    state: &AppState,
    endpoint: Endpoint,
) -> Option<HttpResponse> {
    let (Some(server), Some(limits)) = (state.oauth.as_ref(), state.oauth_limits.as_ref()) else {
        return None;
    };
    let budget = match endpoint {
        Endpoint::Register => OAuthBudget::Register,
        Endpoint::Token | Endpoint::Revoke => OAuthBudget::Token,
        _ => OAuthBudget::Pages,
    };
    let ctx = CallContext::of(req);
    let wait = limits.admit(budget, ctx.ip).await.err()?;
    let answer = within(
        ctx,
        server.too_many_requests(endpoint, retry_after_secs(wait)),
    )
    .await;
    Some(to_actix(&answer))
}

/// Browser-based MCP clients call the token, revocation and registration endpoints from
/// another origin; those use no cookies, so any origin may read the answers.
fn cross_origin(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        actix_web::http::header::HeaderValue::from_static("*"),
    );
    response
}

/// Protected Resource Metadata of the REST API (resource `<public_url>`).
#[utoipa::path(get, path = "/.well-known/oauth-protected-resource", tag = "oauth", responses(
    (status = 200, description = "RFC 9728 metadata"), (status = 404, description = "OAuth is off")))]
pub async fn api_metadata(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rs = state.resource_server.as_ref().ok_or_else(not_configured)?;
    Ok(to_actix(&rs.api().metadata_response()))
}

/// Protected Resource Metadata of the MCP endpoint (resource `<public_url>/mcp`).
#[utoipa::path(get, path = "/.well-known/oauth-protected-resource/mcp", tag = "oauth", responses(
    (status = 200, description = "RFC 9728 metadata"), (status = 404, description = "OAuth is off")))]
pub async fn mcp_metadata(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rs = state.resource_server.as_ref().ok_or_else(not_configured)?;
    Ok(to_actix(&rs.mcp().metadata_response()))
}

/// Authorization Server Metadata (RFC 8414; the same document at the OpenID discovery path).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses(
    (status = 200, description = "RFC 8414 metadata"), (status = 404, description = "the built-in authorization server is off")))]
pub async fn server_metadata(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(to_actix(&server(&state)?.metadata().to_http()))
}

/// The Authorization Server Metadata at the OpenID discovery path (some clients look there).
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth", responses(
    (status = 200, description = "RFC 8414 metadata"), (status = 404, description = "the built-in authorization server is off")))]
pub async fn openid_configuration(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    server_metadata(state).await
}

/// The authorization request (browser): checks it and shows the log-in page.
#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth", responses(
    (status = 200, description = "the log-in page (HTML)"),
    (status = 302, description = "to the client's redirect URI with an error"),
    (status = 400, description = "an error page (bad client or redirect URI: never redirected)"),
    (status = 429, description = "too many requests from this address (an error page, Retry-After)")))]
pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = req.query_string().to_owned();
    let how = Served::new(Endpoint::Authorize, None);
    serve(
        &req,
        &state,
        how,
        query,
        |server, query, cookie| async move {
            server.authorize(&query, cookie.as_deref()).await.to_http()
        },
    )
    .await
}

/// The log-in form (user name and password; lock-out and audit as for `/auth/token`).
#[utoipa::path(post, path = "/oauth/login", tag = "oauth", responses(
    (status = 200, description = "the consent page"),
    (status = 303, description = "to the client's redirect URI"),
    (status = 401, description = "the log-in page again"),
    (status = 429, description = "locked out, or too many requests from this address (Retry-After)")))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    // The password check, its lock-out bookkeeping and audit happen even if the client hangs up.
    let how = Served::new(Endpoint::Login, Some(MAX_FORM_BYTES)).to_completion();
    serve(&req, &state, how, body.0, |server, body, cookie| async move {
        server.log_in(&body, cookie.as_deref()).await.to_http()
    })
    .await
}

/// The consent form (allow or deny, optionally remembered).
#[utoipa::path(post, path = "/oauth/consent", tag = "oauth", responses(
    (status = 303, description = "to the client's redirect URI"),
    (status = 400, description = "an error page (bad CSRF token or expired form)"),
    (status = 429, description = "too many requests from this address (an error page, Retry-After)")))]
pub async fn consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let how = Served::new(Endpoint::Consent, Some(MAX_FORM_BYTES));
    serve(&req, &state, how, body.0, |server, body, cookie| async move {
        server.consent(&body, cookie.as_deref()).await.to_http()
    })
    .await
}

/// The token endpoint: `authorization_code` (with the PKCE verifier) and `refresh_token`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth", responses(
    (status = 200, description = "access token, refresh token"),
    (status = 400, description = "RFC 6749 error"), (status = 401, description = "invalid_client"),
    (status = 429, description = "temporarily_unavailable: too many requests from this address (Retry-After)")))]
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let how = Served::new(Endpoint::Token, Some(MAX_FORM_BYTES)).to_completion();
    serve(&req, &state, how, body.0, |server, body, auth| async move {
        match server.token(&body, auth.as_deref()).await {
            Ok(tokens) => tokens.to_http(),
            Err(error) => error.to_http(),
        }
    })
    .await
}

/// Token revocation (RFC 7009): a refresh token ends its grant; an access token is revoked.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth", responses(
    (status = 200, description = "revoked (also for an unknown token)"),
    (status = 400, description = "RFC 6749 error"),
    (status = 429, description = "temporarily_unavailable: too many requests from this address (Retry-After)")))]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let how = Served::new(Endpoint::Revoke, Some(MAX_FORM_BYTES)).to_completion();
    serve(&req, &state, how, body.0, |server, body, auth| async move {
        match server.revoke(&body, auth.as_deref()).await {
            Ok(()) => AuthorizationServer::revocation_response(),
            Err(error) => error.to_http(),
        }
    })
    .await
}

/// How an endpoint of the authorization server is served by [`serve`].
#[derive(Clone, Copy)]
struct Served {
    endpoint: Endpoint,
    /// The longest body (`None`: the query string, bounded by the request head's limit).
    limit: Option<usize>,
    /// Whether the answer is worked out even when the client hangs up (password checks,
    /// grants, audit events).
    to_completion: bool,
}

impl Served {
    fn new(endpoint: Endpoint, limit: Option<usize>) -> Self {
        Self {
            endpoint,
            limit,
            to_completion: false,
        }
    }

    fn to_completion(self) -> Self {
        Self {
            to_completion: true,
            ..self
        }
    }

    /// The token, revocation and registration endpoints, called by MCP clients (with the
    /// `Authorization` header, from any origin); the others are browser pages (with cookies).
    fn for_clients(self) -> bool {
        !matches!(
            self.endpoint,
            Endpoint::Authorize | Endpoint::Login | Endpoint::Consent
        )
    }
}

/// Serves an endpoint of the authorization server: a body over its limit is 413, an off
/// server 404, an address over its allowance 429 (before any work); otherwise `answer` gets
/// the server, the input and the request's credentials (the `Authorization` header for the
/// client endpoints, which answer any origin; the cookie for the pages) and runs in the
/// request's context.
async fn serve<I, F, Fut>(
    req: &HttpRequest,
    state: &AppState,
    how: Served,
    input: I,
    answer: F,
) -> Result<HttpResponse, ApiError>
where
    I: AsRef<[u8]>,
    F: FnOnce(AuthorizationServer, I, Option<String>) -> Fut,
    Fut: std::future::Future<Output = mcp_oauth::HttpResponse> + Send + 'static,
{
    if let Some(limit) = how.limit
        && input.as_ref().len() > limit
    {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let server = server(state)?;
    let finish = |response| {
        if how.for_clients() {
            cross_origin(response)
        } else {
            response
        }
    };
    if let Some(answer) = throttled(req, state, how.endpoint).await {
        return Ok(finish(answer));
    }
    let credentials = header(
        req,
        if how.for_clients() {
            AUTHORIZATION
        } else {
            COOKIE
        },
    );
    let work = within(CallContext::of(req), answer(server, input, credentials));
    let answer = if how.to_completion {
        crate::completion::run_to_completion(async move { Ok(work.await) }).await?
    } else {
        work.await
    };
    Ok(finish(to_actix(&answer)))
}

/// Dynamic Client Registration (RFC 7591).
#[utoipa::path(post, path = "/oauth/register", tag = "oauth", responses(
    (status = 201, description = "the registered client"),
    (status = 400, description = "invalid_redirect_uri or invalid_client_metadata"),
    (status = 429, description = "temporarily_unavailable: too many requests from this address (Retry-After)")))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let how = Served::new(Endpoint::Register, Some(MAX_REGISTRATION_BYTES));
    serve(&req, &state, how, body.0, |server, body, auth| async move {
        match server.register(&body, auth.as_deref()).await {
            Ok(client) => client.to_http(),
            Err(error) => error.to_http(),
        }
    })
    .await
}

/// CORS preflight of the token endpoint.
#[utoipa::path(options, path = "/oauth/token", tag = "oauth",
    responses((status = 204, description = "CORS preflight")))]
pub async fn token_preflight() -> HttpResponse {
    preflight()
}

/// CORS preflight of the revocation endpoint.
#[utoipa::path(options, path = "/oauth/revoke", tag = "oauth",
    responses((status = 204, description = "CORS preflight")))]
pub async fn revoke_preflight() -> HttpResponse {
    preflight()
}

/// CORS preflight of the registration endpoint.
#[utoipa::path(options, path = "/oauth/register", tag = "oauth",
    responses((status = 204, description = "CORS preflight")))]
pub async fn register_preflight() -> HttpResponse {
    preflight()
}

/// CORS preflight of the token, revocation and registration endpoints.
fn preflight() -> HttpResponse {
    cross_origin(
        HttpResponse::NoContent()
            .insert_header(("Access-Control-Allow-Methods", "POST, OPTIONS"))
            .insert_header((
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type, MCP-Protocol-Version",
            ))
            .insert_header(("Access-Control-Max-Age", "86400"))
            .finish(),
    )
}
