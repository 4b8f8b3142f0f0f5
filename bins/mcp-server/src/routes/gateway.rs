//! The gateway over REST: the upstream tools, resources and prompts the caller may use, calls
//! to them (the operations of [`crate::ops::gateway`], as over MCP), and for admins the
//! upstreams' health and the pinned definitions awaiting a decision.
use std::collections::BTreeMap;

use actix_web::{HttpRequest, web};
use mcp_gateway::{CallOptions, PinRecord, UpstreamHealth};
use rmcp::model::{
    CallToolResult, GetPromptResult, JsonObject, Prompt, ReadResourceResult, Resource,
    ResourceTemplate,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::perm::SystemAdmin;
use crate::auth::{Allowed, CallContext, Principal};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use crate::gateway::decisions;
use crate::ops::gateway as calls;
use crate::state::AppState;

/// An upstream tool the caller may call.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamTool {
    /// Its name in the catalog (`<namespace>__<tool>`), as over MCP.
    pub name: String,
    /// The upstream's namespace.
    pub namespace: String,
    /// The permission calling it requires.
    pub permission: String,
    /// The rest of the definition, as the upstream sent it (`description`, `inputSchema`, …).
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// List the upstream tools the caller's roles allow (withheld tools are not listed).
#[utoipa::path(get, path = "/api/v1/gateway/tools", tag = "gateway",
    security(("bearer" = [])), responses((status = 200, body = [UpstreamTool]), (status = 401, body = ErrorBody)))]
pub async fn tools(state: web::Data<AppState>, who: Principal) -> web::Json<Vec<UpstreamTool>> {
    let mut out = Vec::new();
    for tool in calls::visible_tools(&state, &who) {
        let Some((ns, name)) = mcp_gateway::names::split(&tool.name) else {
            continue;
        };
        out.push(UpstreamTool {
            namespace: ns.to_owned(),
            permission: calls::tool_permission(ns, name).to_string(),
            name: tool.name.to_string(),
            definition: serde_json::to_value(&tool).unwrap_or_default(),
        });
    }
    web::Json(out)
}

/// Call an upstream tool; the body is its arguments (a JSON object). The answer is the
/// upstream's `tools/call` result (redacted), also when the tool reports an error (`isError`).
#[utoipa::path(post, path = "/api/v1/gateway/tools/{name}", tag = "gateway",
    params(("name" = String, Path, description = "`<namespace>__<tool>`")),
    request_body = Object, security(("bearer" = [])), responses(
    (status = 200, description = "the tool's result", body = Object),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "withheld: its definition changed and awaits approval"),
    (status = 429, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn call_tool(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
    body: JsonBody<JsonObject>,
) -> Result<web::Json<CallToolResult>, ApiError> {
    let ctx = CallContext::of(&req);
    let out = calls::call_tool(
        &state,
        &who,
        &ctx,
        &name,
        Some(body.into_inner()),
        CallOptions::default(),
    )
    .await
    .map_err(calls::CallError::into_api)?;
    Ok(web::Json(out.value))
}

/// The upstream resources and resource templates the caller may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamResources {
    /// Resources (URIs `<namespace>+<uri>`).
    #[schema(value_type = [Object])]
    pub resources: Vec<Resource>,
    /// Resource templates (URI templates `<namespace>+<template>`).
    #[schema(value_type = [Object])]
    pub templates: Vec<ResourceTemplate>,
}

/// List the upstream resources the caller's roles allow.
#[utoipa::path(get, path = "/api/v1/gateway/resources", tag = "gateway",
    security(("bearer" = [])), responses((status = 200, body = UpstreamResources), (status = 401, body = ErrorBody)))]
pub async fn resources(state: web::Data<AppState>, who: Principal) -> web::Json<UpstreamResources> {
    web::Json(UpstreamResources {
        resources: calls::visible_resources(&state, &who),
        templates: calls::visible_resource_templates(&state, &who),
    })
}

/// Which resource to read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadResource {
    /// The resource's URI in the catalog (`<namespace>+<uri>`).
    pub uri: String,
}

/// Read an upstream resource (contents redacted).
#[utoipa::path(post, path = "/api/v1/gateway/resources/read", tag = "gateway",
    request_body = ReadResource, security(("bearer" = [])), responses(
    (status = 200, description = "the upstream's `resources/read` result", body = Object),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn read_resource(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
    body: JsonBody<ReadResource>,
) -> Result<web::Json<ReadResourceResult>, ApiError> {
    let ctx = CallContext::of(&req);
    let uri = body.into_inner().uri;
    let out = calls::read_resource(&state, &who, &ctx, &uri, CallOptions::default())
        .await
        .map_err(calls::CallError::into_api)?;
    Ok(web::Json(out.value))
}

/// List the upstream prompts the caller's roles allow.
#[utoipa::path(get, path = "/api/v1/gateway/prompts", tag = "gateway",
    security(("bearer" = [])), responses((status = 200, body = [Object]), (status = 401, body = ErrorBody)))]
pub async fn prompts(state: web::Data<AppState>, who: Principal) -> web::Json<Vec<Prompt>> {
    web::Json(calls::visible_prompts(&state, &who))
}

/// Get an upstream prompt; the body is its arguments (a JSON object of strings).
#[utoipa::path(post, path = "/api/v1/gateway/prompts/{name}", tag = "gateway",
    params(("name" = String, Path, description = "`<namespace>__<prompt>`")),
    request_body = Object, security(("bearer" = [])), responses(
    (status = 200, description = "the upstream's `prompts/get` result", body = Object),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn get_prompt(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
    name: web::Path<String>,
    body: JsonBody<JsonObject>,
) -> Result<web::Json<GetPromptResult>, ApiError> {
    let ctx = CallContext::of(&req);
    let out = calls::get_prompt(
        &state,
        &who,
        &ctx,
        &name,
        Some(body.into_inner()),
        CallOptions::default(),
    )
    .await
    .map_err(calls::CallError::into_api)?;
    Ok(web::Json(out.value))
}

/// The upstreams' health: state, counters, tools.
#[utoipa::path(get, path = "/api/v1/gateway/upstreams", tag = "gateway",
    security(("bearer" = [])), responses((status = 200, body = [Object]), (status = 403, body = ErrorBody)))]
pub async fn upstreams(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
) -> web::Json<Vec<UpstreamHealth>> {
    web::Json(
        state
            .gateway
            .as_deref()
            .map(|u| u.gateway().health())
            .unwrap_or_default(),
    )
}

/// The pinned definitions: every record, and among them those with a changed definition
/// waiting for a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pins {
    /// Records with a pending (changed) definition: the tool is withheld.
    #[schema(value_type = [Object])]
    pub pending: Vec<PinRecord>,
    /// Every pinned tool, by namespace.
    #[schema(value_type = Object)]
    pub pins: BTreeMap<String, Vec<PinRecord>>,
}

/// The pinned tool definitions and the changed ones awaiting approval.
#[utoipa::path(get, path = "/api/v1/gateway/pins", tag = "gateway",
    security(("bearer" = [])), responses((status = 200, body = Pins), (status = 403, body = ErrorBody)))]
pub async fn pins(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
) -> Result<web::Json<Pins>, ApiError> {
    let Some(u) = state.gateway.as_deref() else {
        return Ok(web::Json(Pins {
            pending: Vec::new(),
            pins: BTreeMap::new(),
        }));
    };
    let records = u.gateway().pins().store().list(None).await?;
    let mut pins: BTreeMap<String, Vec<PinRecord>> = BTreeMap::new();
    let pending = records
        .iter()
        .filter(|r| r.pending.is_some())
        .cloned()
        .collect();
    for r in records {
        pins.entry(r.namespace.clone()).or_default().push(r);
    }
    Ok(web::Json(Pins { pending, pins }))
}

/// A decision on a changed definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The SHA-256 of the definition decided on (the record's `pending.hash`; to approve a
    /// definition rejected earlier, its `rejected.hash`). A definition that changed again since
    /// it was reviewed has another hash: 409.
    pub hash: String,
}

/// Approve the changed definition of a withheld tool: it is served again and the audit keeps
/// the approved text.
#[utoipa::path(post, path = "/api/v1/gateway/pins/{namespace}/{tool}/approve", tag = "gateway",
    params(("namespace" = String, Path), ("tool" = String, Path)), request_body = Decision,
    security(("bearer" = [])), responses(
    (status = 200, description = "the record after the decision", body = Object),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "no pending definition with that hash")))]
pub async fn approve(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: JsonBody<Decision>,
) -> Result<web::Json<PinRecord>, ApiError> {
    decide(auth, req, state, path, body, true).await
}

/// Reject the changed definition of a withheld tool: it stays withheld while the upstream
/// offers it.
#[utoipa::path(post, path = "/api/v1/gateway/pins/{namespace}/{tool}/reject", tag = "gateway",
    params(("namespace" = String, Path), ("tool" = String, Path)), request_body = Decision,
    security(("bearer" = [])), responses(
    (status = 200, description = "the record after the decision", body = Object),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: JsonBody<Decision>,
) -> Result<web::Json<PinRecord>, ApiError> {
    decide(auth, req, state, path, body, false).await
}

async fn decide(
    auth: Allowed<SystemAdmin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: JsonBody<Decision>,
    approve: bool,
) -> Result<web::Json<PinRecord>, ApiError> {
    let ctx = CallContext::of(&req);
    let (namespace, tool) = path.into_inner();
    let hash = body.into_inner().hash;
    let u = state
        .gateway
        .as_deref()
        .ok_or_else(|| ApiError::NotFound(format!("no upstream `{namespace}`")))?;
    let by = auth.principal.username.clone();
    let result = if approve {
        u.gateway().approve(&namespace, &tool, &hash, &by).await
    } else {
        u.gateway().reject(&namespace, &tool, &hash, &by).await
    };
    let record = result.map_err(decisions::error)?;
    let event = decisions::event(&record, &hash, &auth.principal.user_id, approve);
    state.audit(ctx.stamp(event)).await;
    Ok(web::Json(record))
}
