//! Code tools: execute, lint, test, generate, templates, the tool list.
use std::sync::OnceLock;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::access::Access;
use crate::auth::perm::{ToolsExecute, ToolsGenerate, ToolsLint, ToolsRead, ToolsTest};
use crate::auth::{Allowed, CallContext};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use crate::ops::tools::{self, ExecuteRequest, ExecuteResponse};
use crate::ops::{catalog, gateway};
use crate::state::AppState;
use mcp_sandbox::tools::{GenerateRequest, LintRequest, TemplateInfo, TestRequest};

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
    body: JsonBody<ExecuteRequest>,
) -> Result<web::Json<Value>, ApiError> {
    let ctx = CallContext::of(&req);
    Ok(web::Json(gateway::own_output(
        &state,
        &tools::execute(&state, &auth.principal, &ctx, body.into_inner()).await?,
    )?))
}

/// Lint code: `{"language": "python", "code": "…"}` → diagnostics.
#[utoipa::path(post, path = "/api/v1/lint", tag = "tools", request_body = Object,
    security(("bearer" = [])), responses(
    (status = 200, description = "lint report", body = Object),
    (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lint(
    auth: Allowed<ToolsLint>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<LintRequest>,
) -> Result<web::Json<Value>, ApiError> {
    let ctx = CallContext::of(&req);
    Ok(web::Json(gateway::own_output(
        &state,
        &tools::lint(&state, &auth.principal, &ctx, body.into_inner()).await?,
    )?))
}

/// Run pytest tests against code: `{"code": "…", "tests": "…"}` → per-test outcomes.
#[utoipa::path(post, path = "/api/v1/test", tag = "tools", request_body = Object,
    security(("bearer" = [])), responses(
    (status = 200, description = "test report", body = Object),
    (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn test(
    auth: Allowed<ToolsTest>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<TestRequest>,
) -> Result<web::Json<Value>, ApiError> {
    let ctx = CallContext::of(&req);
    Ok(web::Json(gateway::own_output(
        &state,
        &tools::test(&state, &auth.principal, &ctx, body.into_inner()).await?,
    )?))
}

/// Render a template: `{"template": "…", "parameters": {…}}` → generated code.
#[utoipa::path(post, path = "/api/v1/generate", tag = "tools", request_body = Object,
    security(("bearer" = [])), responses(
    (status = 200, description = "generated code", body = Object),
    (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn generate(
    auth: Allowed<ToolsGenerate>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonBody<GenerateRequest>,
) -> Result<web::Json<Value>, ApiError> {
    let ctx = CallContext::of(&req);
    Ok(web::Json(gateway::own_output(
        &state,
        &tools::generate(&state, &auth.principal, &ctx, body.into_inner()).await?,
    )?))
}

/// List the code templates and their parameters.
#[utoipa::path(get, path = "/api/v1/templates", tag = "tools",
    security(("bearer" = [])), responses(
    (status = 200, description = "templates", body = [Object]), (status = 403, body = ErrorBody)))]
pub async fn templates(
    _: Allowed<ToolsGenerate>,
    state: web::Data<AppState>,
) -> web::Json<Vec<TemplateInfo>> {
    web::Json(tools::templates(&state))
}

/// A tool.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolInfo {
    /// Name (as over MCP).
    pub name: &'static str,
    /// The permission calling it requires.
    pub permission: String,
}

/// List the tools (named as over MCP) and the permission each requires.
#[utoipa::path(get, path = "/api/v1/tools", tag = "tools",
    security(("bearer" = [])), responses((status = 200, body = [ToolInfo]), (status = 403, body = ErrorBody)))]
pub async fn list(_: Allowed<ToolsRead>) -> HttpResponse {
    // The list is the same for every caller and never changes while the server runs: it is
    // written once (the guard still authenticates, authorizes and audits every request).
    static BODY: OnceLock<Bytes> = OnceLock::new();
    let body = BODY.get_or_init(|| {
        let tools: Vec<ToolInfo> = catalog::TOOLS
            .iter()
            .filter_map(|t| match &t.rule.access {
                Access::Permission(p) => Some(ToolInfo {
                    name: t.name,
                    permission: p.to_string(),
                }),
                _ => None,
            })
            .collect();
        // A list of plain strings always serialises.
        Bytes::from(serde_json::to_vec(&tools).unwrap_or_default())
    });
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body.clone())
}
