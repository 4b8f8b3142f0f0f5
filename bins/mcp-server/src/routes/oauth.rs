//! OAuth 2.1 for MCP clients: the Protected Resource Metadata (RFC 9728) of the two resources
//! (`crate::resource_server`).
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

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
