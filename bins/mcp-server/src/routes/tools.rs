//! Code tools: execute, lint, test, generate, templates, the tool list.
use actix_web::{HttpRequest, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::perm::{ToolsExecute, ToolsGenerate, ToolsLint, ToolsRead, ToolsTest};
use crate::auth::{Allowed, CallContext};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::tools::{self, ExecuteRequest, ExecuteResponse};

/// Run code in the sandbox (rate-limited per user; audited with the code's SHA-256).
#[utoipa::path(post, path = "/api/v1/execute", tag = "tools", request_body = ExecuteRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = ExecuteResponse),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody, description = "see Retry-After")))]
pub async fn execute(
    auth: Allowed<ToolsExecute>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ExecuteRequest>,
) -> Result<web::Json<ExecuteResponse>, ApiError> {
    let ctx = CallContext::of(&req);
    Ok(web::Json(
        tools::execute(&state, &auth.principal, &ctx, body.into_inner()).await?,
    ))
}

/// Lint code.
#[utoipa::path(post, path = "/api/v1/lint", tag = "tools", request_body = Object,
    security(("bearer" = [])), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn lint(
    _: Allowed<ToolsLint>,
    _body: web::Json<serde_json::Value>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    Err(ApiError::Unavailable(
        "the lint tool is not available in this build".into(),
    ))
}

/// Run tests in the sandbox.
#[utoipa::path(post, path = "/api/v1/test", tag = "tools", request_body = Object,
    security(("bearer" = [])), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn test(
    _: Allowed<ToolsTest>,
    _body: web::Json<serde_json::Value>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    Err(ApiError::Unavailable(
        "the test tool is not available in this build".into(),
    ))
}

/// Generate code from a template.
#[utoipa::path(post, path = "/api/v1/generate", tag = "tools", request_body = Object,
    security(("bearer" = [])), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn generate(
    _: Allowed<ToolsGenerate>,
    _body: web::Json<serde_json::Value>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    Err(ApiError::Unavailable(
        "the generate tool is not available in this build".into(),
    ))
}

/// List code templates.
#[utoipa::path(get, path = "/api/v1/templates", tag = "tools",
    security(("bearer" = [])), responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub async fn templates(
    _: Allowed<ToolsGenerate>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    Err(ApiError::Unavailable(
        "templates are not available in this build".into(),
    ))
}

/// A tool.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolInfo {
    /// Name (as over MCP).
    pub name: &'static str,
    /// The permission calling it requires.
    pub permission: String,
}

/// List the tools and the permission each requires.
#[utoipa::path(get, path = "/api/v1/tools", tag = "tools",
    security(("bearer" = [])), responses((status = 200, body = [ToolInfo]), (status = 403, body = ErrorBody)))]
pub async fn list(_: Allowed<ToolsRead>) -> web::Json<Vec<ToolInfo>> {
    web::Json(
        tools::TOOL_PERMISSIONS
            .iter()
            .map(|(name, perm)| ToolInfo {
                name,
                permission: perm.to_string(),
            })
            .collect(),
    )
}
