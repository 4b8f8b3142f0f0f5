//! The Model Context Protocol endpoint, built on the official Rust SDK (`rmcp`).
//!
//! One [`McpServer`] handler serves both transports:
//! - Streamable HTTP at `/mcp` on the same actix-web server ([`http`]): a small adapter that
//!   authenticates the bearer token, checks `Host`/`Origin`, answers malformed or oversized
//!   messages with JSON-RPC errors, binds sessions to the user who opened them, and hands the
//!   request to rmcp's streamable-HTTP service with the caller in the request extensions;
//! - stdio ([`stdio`]): `mcp-server mcp-stdio --token <jwt>`, the identity is the token's.
//!
//! Tools, resources and prompts each name the rule of the permission table
//! ([`crate::access`]) of the REST route they mirror, so MCP and REST share one permission
//! table, and tools run the same operations ([`crate::ops`]) with the same rate limits and
//! audit events. `tools/list` (and the resource and prompt lists) show only what the
//! caller's roles allow; calling something else is refused with [`PERMISSION_DENIED`] and
//! audited as `authz_denied`.
//!
//! Cancellation: rmcp cancels a request's `RequestContext::ct` on `notifications/cancelled`
//! (and when a 2026-07-28 HTTP client closes the request's POST) and drops the answer; the
//! sandbox tools race their run against it, so the run is killed and audited as `cancelled`.
use std::borrow::Cow;
use std::sync::Arc;

use mcp_rbac::Permission;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CustomRequest, CustomResult,
    ErrorCode, ErrorData, GetPromptRequestParams, GetPromptResponse, Implementation,
    ListPromptsResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use serde_json::json;

use crate::access::{Access, Rule};
use crate::auth::{CallContext, Principal};
use crate::error::ApiError;
use crate::ops::gateway;
use crate::state::AppState;

pub mod http;
pub mod jsonrpc;
pub mod output;
pub mod params;
mod prompts;
mod resources;
pub mod stdio;
pub mod tools;
mod upstream;

pub use crate::config::McpConfig;
pub use http::McpHttp;

/// JSON-RPC error code: no valid token (over stdio; HTTP answers 401 before JSON-RPC).
pub const UNAUTHENTICATED: ErrorCode = ErrorCode(-32001);
/// JSON-RPC error code: the caller's roles do not grant the permission the tool, resource or
/// prompt requires. `data.permission` names it.
pub const PERMISSION_DENIED: ErrorCode = ErrorCode(-32003);
/// JSON-RPC error code: the store behind a request is unavailable (retry later).
pub const UNAVAILABLE: ErrorCode = ErrorCode(-32004);
/// JSON-RPC error code of a request the client cancelled. Never seen by a client: rmcp drops
/// the answer to a cancelled request, as the MCP specification asks.
pub const REQUEST_CANCELLED: ErrorCode = ErrorCode(-32800);

/// The protocol versions the server accepts, newest first.
pub fn supported_versions() -> Vec<&'static str> {
    let mut versions: Vec<&'static str> = ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .map(ProtocolVersion::as_str)
        .collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    versions
}

/// The caller of one MCP request, as the HTTP adapter puts it into the request extensions.
#[derive(Clone)]
pub struct HttpCaller {
    /// The application state.
    pub state: AppState,
    /// The authenticated caller.
    pub principal: Principal,
    /// Request fields for audit events.
    pub ctx: CallContext,
}

/// Where the caller of a request comes from.
#[derive(Clone)]
enum Identity {
    /// From the HTTP request the adapter authenticated ([`HttpCaller`] in the extensions).
    Http,
    /// From the token given to `mcp-stdio`, verified again for each request (so revoking it,
    /// disabling the user or changing roles takes effect at once).
    Token(Arc<(AppState, String)>),
}

/// The MCP server handler.
#[derive(Clone)]
pub struct McpServer {
    identity: Identity,
}

/// A resolved caller.
struct Caller {
    state: AppState,
    principal: Principal,
    ctx: CallContext,
}

impl McpServer {
    /// A handler for HTTP: the caller of each request is the [`HttpCaller`] the adapter set.
    pub fn for_http() -> Self {
        Self {
            identity: Identity::Http,
        }
    }

    /// A handler for one local client: every request acts as the user of `token`.
    pub fn for_token(state: AppState, token: impl Into<String>) -> Self {
        Self {
            identity: Identity::Token(Arc::new((state, token.into()))),
        }
    }

    async fn caller(
        &self,
        rctx: &RequestContext<RoleServer>,
        route: String,
    ) -> Result<Caller, ErrorData> {
        match &self.identity {
            Identity::Http => {
                let caller = rctx
                    .extensions
                    .get::<::http::request::Parts>()
                    .and_then(|parts| parts.extensions.get::<HttpCaller>())
                    .ok_or_else(|| {
                        tracing::error!("MCP request without an authenticated caller");
                        ErrorData::new(UNAUTHENTICATED, "missing or invalid token", None)
                    })?;
                let mut ctx = caller.ctx.clone();
                ctx.route = route;
                Ok(Caller {
                    state: caller.state.clone(),
                    principal: caller.principal.clone(),
                    ctx,
                })
            }
            Identity::Token(identity) => {
                let (state, token) = &**identity;
                let ctx = CallContext {
                    route,
                    request_id: uuid::Uuid::new_v4().to_string(),
                    user_agent: Some("mcp-stdio".into()),
                    ip: None,
                };
                let principal = crate::auth::authenticate(state, Some(token), &ctx)
                    .await
                    .map_err(api_to_rpc)?;
                Ok(Caller {
                    state: state.clone(),
                    principal,
                    ctx,
                })
            }
        }
    }
}

/// Maps an error that ends a request (not a tool failure) to a JSON-RPC error.
fn api_to_rpc(err: ApiError) -> ErrorData {
    match &err {
        ApiError::InvalidToken => ErrorData::new(UNAUTHENTICATED, err.to_string(), None),
        ApiError::PermissionDenied(p) => ErrorData::new(
            PERMISSION_DENIED,
            err.to_string(),
            Some(json!({ "permission": p })),
        ),
        ApiError::InsufficientScope(p) => ErrorData::new(
            PERMISSION_DENIED,
            err.to_string(),
            Some(json!({ "permission": p, "error": "insufficient_scope", "scope": p })),
        ),
        ApiError::Unavailable(_) | ApiError::Timeout => {
            tracing::error!(error = %err, "MCP request failed");
            ErrorData::new(UNAVAILABLE, "Service unavailable", None)
        }
        ApiError::AuditUnavailable(m) => {
            tracing::error!(error = %err, "MCP request failed");
            ErrorData::new(UNAVAILABLE, m.clone(), None)
        }
        ApiError::NotFound(m) => ErrorData::resource_not_found(m.clone(), None),
        ApiError::BadRequest(m) | ApiError::Unprocessable(m) => {
            ErrorData::invalid_params(m.clone(), None)
        }
        _ => {
            tracing::error!(error = %err, "MCP request failed");
            ErrorData::internal_error("Something went wrong", None)
        }
    }
}

/// The JSON shape of a failed tool run (`structuredContent` of an `isError` result), with
/// server-side details hidden as in REST error bodies.
fn tool_failure(err: &ApiError) -> CallToolResult {
    use actix_web::ResponseError;
    let status = err.status_code();
    let message = if status.is_server_error()
        && !matches!(err, ApiError::Timeout | ApiError::AuditUnavailable(_))
    {
        tracing::error!(error = %err, "tool failed");
        if matches!(err, ApiError::Unavailable(_)) {
            "Service unavailable".to_owned()
        } else {
            "Something went wrong".to_owned()
        }
    } else {
        err.to_string()
    };
    let mut error = json!({ "code": err.code(), "message": message });
    if let ApiError::RateLimited { retry_after_secs } = err {
        error["retry_after_secs"] = json!(retry_after_secs);
    }
    CallToolResult::structured_error(json!({ "error": error }))
}

/// Checks (and audits) the permission `rule` requires.
async fn require(caller: &Caller, rule: &Rule) -> Result<(), ErrorData> {
    match &rule.access {
        Access::Public | Access::Authenticated => Ok(()),
        Access::Permission(p) => authorize(caller, p).await,
    }
}

async fn authorize(caller: &Caller, permission: &Permission) -> Result<(), ErrorData> {
    crate::auth::authorize(&caller.state, &caller.principal, permission, &caller.ctx)
        .await
        .map_err(api_to_rpc)
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_protocol_version(ProtocolVersion::LATEST)
        .with_server_info(Implementation::new("mcp-server", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Secure MCP platform: sandboxed code execution, linting, tests, code templates and a \
             knowledge graph. Tools shown are the ones your roles allow.",
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _rctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {}", request.method),
            None,
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&rctx, "mcp:tools/list".into()).await?;
        let mut tools: Vec<_> = tools::catalog()
            .iter()
            .filter(|t| tools::visible(&caller.state, &caller.principal, t.tool.rule))
            .map(tools::ToolSpec::to_tool)
            .collect();
        tools.extend(gateway::visible_tools(&caller.state, &caller.principal));
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        rctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let caller = self.caller(&rctx, format!("mcp:tools/call:{name}")).await?;
        if tools::find(&name).is_none() && gateway::is_upstream_tool(&caller.state, &name) {
            return upstream::call_tool(&caller, request, &rctx).await;
        }
        let spec = tools::find(&name)
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown tool: {name}"), None))?;
        require(&caller, spec.tool.rule).await?;
        let progress = spec
            .tool
            .reports_progress
            .then(|| rctx.meta.get_progress_token())
            .flatten()
            .map(|token| tools::Progress {
                peer: rctx.peer.clone(),
                token,
            });
        let args = request.arguments.unwrap_or_default();
        // rmcp cancels `ct` on `notifications/cancelled` for this request (stdio, HTTP with a
        // session), when a 2026-07-28 HTTP client closes the request's stream, and when the
        // session ends; it then drops whatever this handler answers.
        let result = tools::call(
            &caller.state,
            &caller.principal,
            &caller.ctx,
            spec,
            args,
            progress.as_ref(),
            rctx.ct.cancelled(),
        )
        .await;
        match result {
            Ok(mut value) => {
                gateway::redact_own_output(&caller.state, &mut value);
                Ok(CallToolResult::structured(value).into())
            }
            Err(tools::CallError::InvalidArguments(message)) => {
                Err(ErrorData::invalid_params(message, None))
            }
            Err(tools::CallError::Failed(err)) => Ok(tool_failure(&err).into()),
            Err(tools::CallError::Cancelled) => {
                tracing::info!(tool = %name, request = %rctx.id, "tool call cancelled by the client");
                Err(ErrorData::new(REQUEST_CANCELLED, "Request cancelled", None))
            }
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&rctx, "mcp:resources/list".into()).await?;
        let mut list = resources::list(&caller.state, &caller.principal);
        list.extend(gateway::visible_resources(&caller.state, &caller.principal));
        Ok(ListResourcesResult::with_all_items(list))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, ErrorData> {
        let caller = self
            .caller(&rctx, "mcp:resources/templates/list".into())
            .await?;
        Ok(rmcp::model::ListResourceTemplatesResult::with_all_items(
            gateway::visible_resource_templates(&caller.state, &caller.principal),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        rctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let caller = self
            .caller(&rctx, format!("mcp:resources/read:{uri}"))
            .await?;
        if resources::find(&uri).is_none() && gateway::is_upstream_resource(&caller.state, &uri) {
            return upstream::read_resource(&caller, &uri, &rctx).await;
        }
        let spec = resources::find(&uri).ok_or_else(|| {
            ErrorData::resource_not_found(format!("no resource {uri}"), Some(json!({ "uri": uri })))
        })?;
        require(&caller, spec.rule).await?;
        let contents = resources::read(&caller.state, &caller.principal, spec)
            .await
            .map_err(api_to_rpc)?;
        Ok(rmcp::model::ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let caller = self.caller(&rctx, "mcp:prompts/list".into()).await?;
        let mut list = prompts::list(&caller.state, &caller.principal);
        list.extend(gateway::visible_prompts(&caller.state, &caller.principal));
        Ok(ListPromptsResult::with_all_items(list))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        rctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let name = request.name.clone();
        let caller = self
            .caller(&rctx, format!("mcp:prompts/get:{name}"))
            .await?;
        if prompts::find(&name).is_none() && gateway::is_upstream_prompt(&caller.state, &name) {
            return upstream::get_prompt(&caller, request, &rctx).await;
        }
        let spec = prompts::find(&name)
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown prompt: {name}"), None))?;
        require(&caller, spec.rule).await?;
        Ok(prompts::render(spec, request.arguments.unwrap_or_default())?.into())
    }
}
