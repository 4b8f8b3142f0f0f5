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
#[allow(deprecated)]
// logging: deprecated by SEP-2577 in rmcp, part of every revision we serve
use rmcp::model::LoggingLevel;
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

mod completion;
mod confirm;
#[cfg_attr(feature = "conformance-fixtures", path = "fixtures/enabled.rs")]
#[cfg_attr(not(feature = "conformance-fixtures"), path = "fixtures/disabled.rs")]
mod fixtures;
pub mod http;
pub mod jsonrpc;
pub mod logging;
pub mod output;
mod pages;
pub mod params;
mod prompts;
mod resources;
pub mod session;
pub mod stdio;
pub mod tools;
mod upstream;
pub mod watch;

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

/// The protocol revisions the server accepts (each one tested for what differs): a client
/// asking `initialize` for another one is answered with 2025-11-25, the newest with a
/// handshake, and decides whether to go on.
pub const ACCEPTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// The protocol versions the server accepts, newest first.
pub fn supported_versions() -> Vec<&'static str> {
    let mut versions: Vec<&'static str> = ACCEPTED_VERSIONS
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

/// The MCP server handler: one per session (or per request for stateless HTTP clients).
#[derive(Clone)]
pub struct McpServer {
    identity: Identity,
    session: Arc<session::Session>,
    /// Serve the conformance suite's fixtures (only ever true with the cargo feature
    /// `conformance-fixtures` and `[mcp] conformance_fixtures`).
    fixtures: bool,
    /// Items per page of the lists (`[mcp] page_size`).
    page_size: usize,
    /// Interval of the change watcher (`[mcp] watch_interval_ms`).
    watch_interval: std::time::Duration,
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
            session: Arc::default(),
            fixtures: false,
            page_size: McpConfig::default().page_size,
            watch_interval: std::time::Duration::from_millis(
                McpConfig::default().watch_interval_ms,
            ),
        }
    }

    /// A handler for one local client: every request acts as the user of `token`.
    pub fn for_token(state: AppState, token: impl Into<String>) -> Self {
        Self {
            identity: Identity::Token(Arc::new((state, token.into()))),
            session: Arc::default(),
            fixtures: false,
            page_size: McpConfig::default().page_size,
            watch_interval: std::time::Duration::from_millis(
                McpConfig::default().watch_interval_ms,
            ),
        }
    }

    /// A handler like this one with a session of its own (rmcp makes one per session).
    #[must_use]
    pub fn fresh(&self) -> Self {
        Self {
            session: Arc::default(),
            ..self.clone()
        }
    }

    /// The handler with the `[mcp]` settings that shape it (the conformance fixtures, in
    /// builds that have them).
    #[must_use]
    pub fn with_config(self, config: &McpConfig) -> Self {
        #[cfg(feature = "conformance-fixtures")]
        let fixtures = config.conformance_fixtures;
        #[cfg(not(feature = "conformance-fixtures"))]
        let fixtures = {
            let _ = config;
            false
        };
        Self {
            fixtures,
            page_size: config.page_size,
            watch_interval: std::time::Duration::from_millis(config.watch_interval_ms.max(50)),
            ..self
        }
    }

    /// The caller of `rctx`; the first request of a handshake session also starts the
    /// session's change watcher ([`watch`]).
    async fn caller(
        &self,
        rctx: &RequestContext<RoleServer>,
        route: String,
    ) -> Result<Caller, ErrorData> {
        let caller = self.resolve(rctx, route).await?;
        if handshake(rctx) && self.session.start_watching() {
            watch::spawn(
                caller.state.clone(),
                caller.principal.clone(),
                rctx.peer.clone(),
                &self.session,
                self.watch_interval,
            );
        }
        Ok(caller)
    }

    async fn resolve(
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
                    request_id: crate::request_id::new(),
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

/// Whether `rctx` belongs to a handshake session (a revision before 2026-07-28: a session that
/// lives across requests and may get server-to-client requests). rmcp gives stateless
/// 2026-07-28 HTTP requests peer info too, so the revision decides.
fn handshake(rctx: &RequestContext<RoleServer>) -> bool {
    rctx.protocol_version()
        .is_some_and(|v| v.as_str() < ProtocolVersion::V_2026_07_28.as_str())
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
        && !matches!(
            err,
            ApiError::Timeout | ApiError::AuditUnavailable(_) | ApiError::SandboxUnavailable(_)
        ) {
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

/// What the server offers: tools, resources (with subscriptions), prompts, logging and
/// completions.
#[allow(deprecated)] // logging: deprecated by SEP-2577 in rmcp, part of every revision we serve
fn capabilities() -> ServerCapabilities {
    let mut caps = ServerCapabilities::builder()
        .enable_logging()
        .enable_completions()
        .enable_prompts()
        .enable_resources()
        .enable_tools()
        .build();
    if let Some(resources) = caps.resources.as_mut() {
        resources.subscribe = Some(true);
        resources.list_changed = Some(true);
    }
    if let Some(tools) = caps.tools.as_mut() {
        tools.list_changed = Some(true);
    }
    if let Some(prompts) = caps.prompts.as_mut() {
        prompts.list_changed = Some(true);
    }
    caps
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            capabilities(),
        )
        .with_protocol_version(ProtocolVersion::LATEST)
        .with_server_info(Implementation::new("mcp-server", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Secure MCP platform: sandboxed code execution, linting, tests, code templates and a \
             knowledge graph. Tools shown are the ones your roles allow.",
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ACCEPTED_VERSIONS)
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
        request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&rctx, "mcp:tools/list".into()).await?;
        let mut tools: Vec<_> = tools::catalog()
            .iter()
            .filter(|t| tools::visible(&caller.state, &caller.principal, t.tool.rule))
            .map(tools::ToolSpec::to_tool)
            .collect();
        tools.extend(gateway::visible_tools(&caller.state, &caller.principal));
        if self.fixtures {
            tools.extend(fixtures::tools());
        }
        let (tools, next) = pages::page(tools, request.as_ref(), self.page_size)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    #[allow(deprecated)] // LoggingLevel: deprecated by SEP-2577 in rmcp
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
        let logger = logging::Logger::new(&self.session, &rctx);
        if self.fixtures
            && let Some(result) = fixtures::call(
                &name,
                request.arguments.as_ref().unwrap_or(&Default::default()),
                &rctx,
                &logger,
            )
            .await
        {
            return result.map(Into::into);
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
        if spec.tool.name == "graph_delete"
            && let Some(unconfirmed) =
                confirm::graph_delete(&caller, &rctx, &args, request.input_responses.as_ref()).await
        {
            return Ok(unconfirmed);
        }
        let reports_run = logging::RUN_TOOLS.contains(&spec.tool.name);
        if reports_run {
            logger
                .log(
                    LoggingLevel::Info,
                    json!({ "event": "run_started", "tool": name }),
                )
                .await;
        }
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
        match &result {
            Ok(value) if reports_run => {
                let (level, data) = logging::run_finished(&name, value);
                logger.log(level, data).await;
            }
            Err(tools::CallError::Failed(err)) => {
                let data = json!({ "event": "tool_failed", "tool": name, "code": err.code() });
                logger.log(LoggingLevel::Warning, data).await;
            }
            _ => {}
        }
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
        request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&rctx, "mcp:resources/list".into()).await?;
        let mut list = resources::list(&caller.state, &caller.principal);
        list.extend(gateway::visible_resources(&caller.state, &caller.principal));
        if self.fixtures {
            list.extend(fixtures::resources());
        }
        let (list, next) = pages::page(list, request.as_ref(), self.page_size)?;
        let mut result = ListResourcesResult::with_all_items(list);
        result.next_cursor = next;
        Ok(result)
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
        if resources::find(&uri).is_none()
            && resources::resolve(&uri).is_none()
            && gateway::is_upstream_resource(&caller.state, &uri)
        {
            return upstream::read_resource(&caller, &uri, &rctx).await;
        }
        if self.fixtures
            && let Some(result) = fixtures::read(&uri)
        {
            return Ok(result.into());
        }
        let contents = if let Some(spec) = resources::find(&uri) {
            require(&caller, spec.rule).await?;
            resources::read(&caller.state, &caller.principal, spec).await
        } else if let Some((spec, vars)) = resources::resolve(&uri) {
            require(&caller, spec.rule).await?;
            resources::read_template(&caller.state, spec, &vars, &uri).await
        } else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {uri}"),
                Some(json!({ "uri": uri })),
            ));
        }
        .map_err(api_to_rpc)?;
        Ok(rmcp::model::ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let caller = self.caller(&rctx, "mcp:prompts/list".into()).await?;
        let mut list = prompts::list(&caller.state, &caller.principal);
        list.extend(gateway::visible_prompts(&caller.state, &caller.principal));
        if self.fixtures {
            list.extend(fixtures::prompts());
        }
        let (list, next) = pages::page(list, request.as_ref(), self.page_size)?;
        let mut result = ListPromptsResult::with_all_items(list);
        result.next_cursor = next;
        Ok(result)
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
        let args = request.arguments.unwrap_or_default();
        if self.fixtures
            && let Some(result) = fixtures::get_prompt(&name, &args)
        {
            return result.map(Into::into);
        }
        let spec = prompts::find(&name)
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown prompt: {name}"), None))?;
        require(&caller, spec.rule).await?;
        Ok(prompts::render(spec, args)?.into())
    }

    #[allow(deprecated)] // logging/setLevel: deprecated by SEP-2577 in rmcp
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        rctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.caller(&rctx, "mcp:logging/setLevel".into()).await?;
        self.session.set_level(request.level);
        Ok(())
    }

    async fn complete(
        &self,
        request: rmcp::model::CompleteRequestParams,
        rctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, ErrorData> {
        let caller = self.caller(&rctx, "mcp:completion/complete".into()).await?;
        completion::complete(&caller, self.fixtures, &request).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        rctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, ErrorData> {
        let caller = self
            .caller(&rctx, "mcp:resources/templates/list".into())
            .await?;
        let mut list = resources::templates(&caller.state, &caller.principal);
        list.extend(gateway::visible_resource_templates(
            &caller.state,
            &caller.principal,
        ));
        if self.fixtures {
            list.extend(fixtures::templates());
        }
        let (list, next) = pages::page(list, request.as_ref(), self.page_size)?;
        let mut result = rmcp::model::ListResourceTemplatesResult::with_all_items(list);
        result.next_cursor = next;
        Ok(result)
    }

    #[allow(deprecated)] // resources/subscribe: legacy-only in rmcp, part of 2025-03-26..2025-11-25
    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        rctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let uri = request.uri;
        let caller = self
            .caller(&rctx, format!("mcp:resources/subscribe:{uri}"))
            .await?;
        let fixture = self.fixtures && fixtures::read(&uri).is_some();
        if !fixture {
            let rule = resources::find(&uri)
                .map(|r| r.rule)
                .or_else(|| resources::resolve(&uri).map(|(t, _)| t.rule))
                .ok_or_else(|| {
                    ErrorData::resource_not_found(
                        format!("no resource {uri}"),
                        Some(json!({ "uri": uri })),
                    )
                })?;
            require(&caller, rule).await?;
        }
        let seen = watch::fingerprint(&caller.state, &caller.principal, &uri).await;
        self.session.subscribe(&uri, seen).map_err(|_| {
            ErrorData::invalid_params(
                format!(
                    "this session already holds {} subscriptions; unsubscribe from one first",
                    session::MAX_SUBSCRIPTIONS
                ),
                None,
            )
        })
    }

    #[allow(deprecated)] // resources/unsubscribe: legacy-only in rmcp
    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        rctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.caller(&rctx, format!("mcp:resources/unsubscribe:{}", request.uri))
            .await?;
        self.session.unsubscribe(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        // Every kind is offered; each resource is watched only while the caller may read it.
        Some(requested.clone())
    }

    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), ErrorData> {
        let caller = self
            .resolve(context.request_context(), "mcp:subscriptions/listen".into())
            .await?;
        let target = watch::Target::Listen(context.sink().clone());
        watch::run(
            caller.state,
            caller.principal,
            target,
            self.watch_interval,
            context.cancelled(),
        )
        .await;
        Ok(())
    }
}
