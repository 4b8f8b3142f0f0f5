//! Calls to upstreams, the same whichever transport they came by: the caller's
//! `upstream:<namespace>:<tool>` permission is checked (a refusal audited as `authz_denied`),
//! one call is taken from the caller's budget (`gateway.calls_per_minute`, and the upstream's
//! own, counted in the shared counter store; a failing store refuses the call with 503), the
//! upstream is called with the transport's cancellation and progress, and the call is
//! audited as `upstream_call`: caller, SHA-256 of the arguments, outcome, duration and what was
//! redacted (counts, never the secret).
//!
//! Reading a resource or getting a prompt needs the whole upstream (`upstream:<namespace>:*`):
//! resources and prompts have no tool name to grant.
use std::time::Instant;

use mcp_audit::{AuditEvent, EventType};
use mcp_gateway::{CallOptions, Gateway, Redacted, RedactionCounts};
use mcp_rbac::Permission;
use rmcp::model::{
    CallToolResult, GetPromptResult, JsonObject, Prompt, ReadResourceResult, Resource,
    ResourceTemplate, Tool,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{CallContext, Principal};
use crate::error::ApiError;
use crate::gateway::events::{counts_json, redact_details};
use crate::gateway::{Upstreams, budgets};
use crate::limits::retry_after_secs;
use crate::state::AppState;

/// Why an upstream call did not produce an answer.
#[derive(Debug)]
pub enum CallError {
    /// Refused before the upstream was asked (unknown, not allowed, over budget, withheld,
    /// upstream down), or failed there (timeout, transport); the error says which.
    Refused(ApiError),
    /// The upstream answered with a JSON-RPC error (its message redacted); passed on as is.
    Upstream {
        /// The JSON-RPC error code.
        code: i32,
        /// The redacted message.
        message: String,
    },
    /// The client cancelled the call; the upstream was told and nothing is answered.
    Cancelled,
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        Self::Refused(e)
    }
}

impl CallError {
    /// The REST error: an upstream's own JSON-RPC error is a 502 naming its code.
    pub fn into_api(self) -> ApiError {
        match self {
            Self::Refused(e) => e,
            Self::Upstream { code, message } => ApiError::BadGateway(format!(
                "the upstream answered with error {code}: {message}"
            )),
            Self::Cancelled => ApiError::Unavailable("the request was cancelled".into()),
        }
    }
}

/// The gateway, or 404 (no upstream is configured, so no upstream name exists).
fn upstreams<'a>(state: &'a AppState, what: &str) -> Result<&'a Upstreams, ApiError> {
    state
        .gateway
        .as_deref()
        .ok_or_else(|| ApiError::NotFound(format!("unknown {what}")))
}

/// The permission a tool of upstream `namespace` requires: `upstream:<namespace>:<tool>`, or
/// the whole upstream for a tool whose name a permission cannot spell.
pub fn tool_permission(namespace: &str, tool: &str) -> Permission {
    Permission::upstream(namespace, tool)
        .or_else(|_| Permission::upstream_any(namespace))
        .unwrap_or_else(|_| Permission::all())
}

/// The permission of an upstream's resources and prompts: `upstream:<namespace>:*`.
pub fn upstream_permission(namespace: &str) -> Permission {
    Permission::upstream_any(namespace).unwrap_or_else(|_| Permission::all())
}

fn allowed(state: &AppState, who: &Principal, permission: &Permission) -> bool {
    state
        .authorizer
        .as_ref()
        .is_some_and(|a| a.policy().check(&who.roles, permission).is_allowed())
}

/// The items of one of the gateway's lists that `who` may see: `permission` names the one each
/// item needs (`None`: not listed). Empty without a gateway.
fn visible<T>(
    state: &AppState,
    who: &Principal,
    list: impl FnOnce(&Gateway) -> Vec<T>,
    permission: impl Fn(&Gateway, &T) -> Option<Permission>,
) -> Vec<T> {
    let Some(u) = state.gateway.as_deref() else {
        return Vec::new();
    };
    let gateway = u.gateway();
    list(gateway)
        .into_iter()
        .filter(|item| permission(gateway, item).is_some_and(|p| allowed(state, who, &p)))
        .collect()
}

/// The upstream tools `who` may call, named `<namespace>__<tool>` (withheld tools are not
/// listed). Empty without a gateway.
pub fn visible_tools(state: &AppState, who: &Principal) -> Vec<Tool> {
    visible(state, who, Gateway::list_tools, |g, t| {
        let (ns, tool) = g.resolve_tool(&t.name).ok()?;
        Some(tool_permission(ns, tool))
    })
}

fn namespace_of_uri(uri: &str) -> &str {
    mcp_gateway::names::split_uri(uri).map_or("", |(ns, _)| ns)
}

/// The upstream resources `who` may read (URIs `<namespace>+<uri>`).
pub fn visible_resources(state: &AppState, who: &Principal) -> Vec<Resource> {
    visible(state, who, Gateway::list_resources, |_, r| {
        Some(upstream_permission(namespace_of_uri(&r.uri)))
    })
}

/// The upstream resource templates `who` may read.
pub fn visible_resource_templates(state: &AppState, who: &Principal) -> Vec<ResourceTemplate> {
    visible(state, who, Gateway::list_resource_templates, |_, t| {
        Some(upstream_permission(namespace_of_uri(&t.uri_template)))
    })
}

/// The upstream prompts `who` may get (names `<namespace>__<prompt>`).
pub fn visible_prompts(state: &AppState, who: &Principal) -> Vec<Prompt> {
    visible(state, who, Gateway::list_prompts, |_, p| {
        let (ns, _) = mcp_gateway::names::split(&p.name)?;
        Some(upstream_permission(ns))
    })
}

/// Whether `name` is the name of an upstream tool (`<namespace>__<tool>` of a configured
/// upstream), so the MCP layer routes it here instead of answering "unknown tool".
pub fn is_upstream_tool(state: &AppState, name: &str) -> bool {
    state
        .gateway
        .as_deref()
        .is_some_and(|u| u.gateway().resolve_tool(name).is_ok())
}

/// Whether `uri` names a resource of a configured upstream (`<namespace>+<uri>`).
pub fn is_upstream_resource(state: &AppState, uri: &str) -> bool {
    state.gateway.as_deref().is_some_and(|u| {
        mcp_gateway::names::split_uri(uri)
            .is_some_and(|(ns, _)| u.gateway().namespaces().any(|n| n == ns))
    })
}

/// Whether `name` names a prompt of a configured upstream (`<namespace>__<prompt>`).
pub fn is_upstream_prompt(state: &AppState, name: &str) -> bool {
    state.gateway.as_deref().is_some_and(|u| {
        mcp_gateway::names::split(name)
            .is_some_and(|(ns, _)| u.gateway().namespaces().any(|n| n == ns))
    })
}

/// Lowercase hex SHA-256 of the arguments as JSON (`{}` when there are none).
pub fn arguments_sha256(arguments: Option<&JsonObject>) -> String {
    let text = match arguments {
        Some(a) => serde_json::to_string(a).unwrap_or_default(),
        None => "{}".to_owned(),
    };
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What an upstream call is: for permissions, the audit event and the metrics.
struct Call<'a> {
    /// `tools/call`, `resources/read` or `prompts/get`.
    method: &'static str,
    namespace: &'a str,
    /// The tool, prompt or resource URI at the upstream.
    name: &'a str,
    permission: Permission,
    arguments_sha256: String,
}

/// Checks permission and budget; the refusals are audited.
async fn admit(
    state: &AppState,
    u: &Upstreams,
    who: &Principal,
    ctx: &CallContext,
    call: &Call<'_>,
) -> Result<(), ApiError> {
    crate::auth::authorize(state, who, &call.permission, ctx).await?;
    match u.admit(&who.user_id, call.namespace).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(over)) => {
            let mut event = AuditEvent::new(EventType::RateLimitExceeded)
                .with_user(who.user_id.clone())
                .with_action(call.method)
                .with_resource(call.permission.to_string())
                .with_detail("limit", over.limit);
            if over.limit == budgets::ONE_UPSTREAM {
                event = event.with_detail("namespace", call.namespace);
            }
            state.audit(ctx.stamp(event)).await;
            Err(ApiError::RateLimited {
                retry_after_secs: retry_after_secs(over.wait),
            })
        }
        Err(e) => {
            tracing::error!(error = %e, upstream = call.namespace,
                "the rate-limit counter store failed: upstream call refused");
            let event = AuditEvent::new(EventType::UpstreamCall)
                .with_user(who.user_id.clone())
                .with_action(call.method)
                .with_resource(call.permission.to_string())
                .with_success(false)
                .with_detail("namespace", call.namespace)
                .with_detail("name", call.name)
                .with_detail("arguments_sha256", call.arguments_sha256.as_str())
                .with_detail("outcome", "limits_unavailable")
                .with_error_message(e.to_string());
            state.audit(ctx.stamp(event)).await;
            Err(ApiError::Unavailable(
                "the rate-limit counters cannot be read; try again later".into(),
            ))
        }
    }
}

/// The outcome of a call, for its audit event.
fn outcome<T>(result: &Result<Redacted<T>, mcp_gateway::Error>, is_error: bool) -> &'static str {
    use mcp_gateway::Error as E;
    match result {
        Ok(_) if is_error => "tool_error",
        Ok(_) => "ok",
        Err(E::Cancelled) => "cancelled",
        Err(E::Timeout { .. }) => "timeout",
        Err(E::Withheld { .. }) => "withheld",
        Err(E::Unavailable { .. }) => "unavailable",
        Err(E::Upstream { .. }) => "upstream_error",
        Err(E::Unknown { .. }) => "unknown",
        Err(_) => "failed",
    }
}

/// Audits a finished call.
async fn audit_call<T>(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    call: &Call<'_>,
    started: Instant,
    result: &Result<Redacted<T>, mcp_gateway::Error>,
    is_error: bool,
) {
    let redactor = state.gateway.as_deref().map(|u| u.gateway().redactor());
    let mut details = Map::new();
    details.insert("namespace".into(), json!(call.namespace));
    details.insert("name".into(), json!(call.name));
    details.insert("arguments_sha256".into(), json!(call.arguments_sha256));
    details.insert("outcome".into(), json!(outcome(result, is_error)));
    let mut error = result.as_ref().err().map(ToString::to_string);
    if let Some(redactor) = redactor {
        redact_details(redactor, &mut details, error.as_mut());
    }
    if let Ok(r) = result
        && !r.redactions.is_empty()
    {
        details.insert("result_redactions".into(), counts_json(&r.redactions));
    }
    let mut event = AuditEvent::new(EventType::UpstreamCall)
        .with_user(who.user_id.clone())
        .with_action(call.method)
        .with_resource(call.permission.to_string())
        .with_success(result.is_ok() && !is_error)
        .with_duration(started.elapsed())
        .with_details(details);
    if let Some(error) = error {
        event = event.with_error_message(error);
    }
    state.audit(ctx.stamp(event)).await;
}

/// Maps a gateway failure (already audited) to the caller's error.
fn failure(err: mcp_gateway::Error) -> CallError {
    use mcp_gateway::Error as E;
    match err {
        E::Unknown { .. } => CallError::Refused(ApiError::NotFound(err.to_string())),
        E::Withheld { .. } => CallError::Refused(ApiError::Conflict(err.to_string())),
        E::Unavailable { namespace, .. } => CallError::Refused(ApiError::Unavailable(format!(
            "upstream `{namespace}` is not connected"
        ))),
        E::Timeout { .. } => CallError::Refused(ApiError::Timeout),
        E::Cancelled => CallError::Cancelled,
        E::Upstream { code, message, .. } => CallError::Upstream { code, message },
        E::Transport { namespace, .. } => CallError::Refused(ApiError::Unavailable(format!(
            "upstream `{namespace}` failed during the request"
        ))),
        E::Store(e) => CallError::Refused(e.into()),
        other => CallError::Refused(ApiError::internal(other)),
    }
}

async fn run<T>(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    call: Call<'_>,
    is_error: impl Fn(&T) -> bool,
    work: impl Future<Output = Result<Redacted<T>, mcp_gateway::Error>>,
) -> Result<Redacted<T>, CallError> {
    let u = upstreams(state, "upstream")?;
    admit(state, u, who, ctx, &call).await?;
    let started = Instant::now();
    let result = work.await;
    let tool_error = result.as_ref().is_ok_and(|r| is_error(&r.value));
    audit_call(state, who, ctx, &call, started, &result, tool_error).await;
    result.map_err(failure)
}

/// Calls the upstream tool `name` (`<namespace>__<tool>`) for `who`.
pub async fn call_tool(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    name: &str,
    arguments: Option<JsonObject>,
    options: CallOptions,
) -> Result<Redacted<CallToolResult>, CallError> {
    let gateway: &Gateway = upstreams(state, &format!("tool {name}"))?.gateway();
    let (namespace, tool) = gateway
        .resolve_tool(name)
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    let call = Call {
        method: "tools/call",
        namespace,
        name: tool,
        permission: tool_permission(namespace, tool),
        arguments_sha256: arguments_sha256(arguments.as_ref()),
    };
    let work = gateway.call_tool(name, arguments, options);
    run(
        state,
        who,
        ctx,
        call,
        |r: &CallToolResult| r.is_error == Some(true),
        work,
    )
    .await
}

/// Reads the upstream resource `uri` (`<namespace>+<uri>`) for `who`.
pub async fn read_resource(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    uri: &str,
    options: CallOptions,
) -> Result<Redacted<ReadResourceResult>, CallError> {
    let gateway = upstreams(state, &format!("resource {uri}"))?.gateway();
    let (namespace, inner) = mcp_gateway::names::split_uri(uri)
        .filter(|(ns, _)| gateway.namespaces().any(|n| n == *ns))
        .ok_or_else(|| ApiError::NotFound(format!("unknown resource `{uri}`")))?;
    let call = Call {
        method: "resources/read",
        namespace,
        name: inner,
        permission: upstream_permission(namespace),
        arguments_sha256: arguments_sha256(None),
    };
    let work = gateway.read_resource(uri, options);
    run(state, who, ctx, call, |_| false, work).await
}

/// Gets the upstream prompt `name` (`<namespace>__<prompt>`) for `who`.
pub async fn get_prompt(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    name: &str,
    arguments: Option<JsonObject>,
    options: CallOptions,
) -> Result<Redacted<GetPromptResult>, CallError> {
    let gateway = upstreams(state, &format!("prompt {name}"))?.gateway();
    let (namespace, prompt) = mcp_gateway::names::split(name)
        .filter(|(ns, _)| gateway.namespaces().any(|n| n == *ns))
        .ok_or_else(|| ApiError::NotFound(format!("unknown prompt `{name}`")))?;
    let call = Call {
        method: "prompts/get",
        namespace,
        name: prompt,
        permission: upstream_permission(namespace),
        arguments_sha256: arguments_sha256(arguments.as_ref()),
    };
    let work = gateway.get_prompt(name, arguments, options);
    run(state, who, ctx, call, |_| false, work).await
}

/// Redacts one of the server's own tool results when `gateway.redact_tool_outputs` is on;
/// returns the counts (empty when off).
pub fn redact_own_output(state: &AppState, value: &mut Value) -> RedactionCounts {
    match state.gateway.as_deref() {
        Some(u) if u.redacts_tool_outputs() => u.gateway().redactor().redact_json(value),
        _ => RedactionCounts::default(),
    }
}

/// One of the server's own tool results over REST as JSON, redacted as over MCP when
/// `gateway.redact_tool_outputs` is on.
pub fn own_output<T: serde::Serialize>(state: &AppState, out: &T) -> Result<Value, ApiError> {
    let mut value = serde_json::to_value(out)
        .map_err(|e| ApiError::internal(format!("tool result is not JSON: {e}")))?;
    redact_own_output(state, &mut value);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_permission_names_the_tool_or_else_the_whole_upstream() {
        assert_eq!(
            tool_permission("fs", "read_file").as_str(),
            "upstream:fs:read_file"
        );
        assert_eq!(tool_permission("fs", "read file").as_str(), "upstream:fs:*");
        assert_eq!(upstream_permission("fs").as_str(), "upstream:fs:*");
    }

    #[test]
    fn the_argument_digest_is_the_sha256_of_the_json() {
        let mut args = JsonObject::new();
        args.insert("a".into(), json!(1));
        assert_eq!(
            arguments_sha256(Some(&args)),
            hex::encode(Sha256::digest(br#"{"a":1}"#))
        );
        assert_eq!(arguments_sha256(None), hex::encode(Sha256::digest(b"{}")));
    }
}
