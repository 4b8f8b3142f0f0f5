//! The gateway's upstream tools, resources and prompts over MCP: the operations of
//! [`crate::ops::gateway`] with the request's cancellation (rmcp's `ct`) and progress (the
//! upstream's notifications forwarded under the client's own progress token).
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorCode, ErrorData, GetPromptRequestParams,
    GetPromptResponse, ReadResourceResponse, ResultType,
};
use rmcp::service::RequestContext;

use super::{Caller, REQUEST_CANCELLED, api_to_rpc, tool_failure};
use crate::error::ApiError;
use crate::ops::gateway::{self as calls, CallError};
use mcp_gateway::CallOptions;

/// Cancellation and progress of one request.
fn options(rctx: &RequestContext<RoleServer>) -> CallOptions {
    let mut options = CallOptions::default().with_cancel(rctx.ct.clone());
    if let Some(token) = rctx.meta.get_progress_token() {
        let peer = rctx.peer.clone();
        options = options.with_progress(move |mut p| {
            let peer = peer.clone();
            p.progress_token = token.clone();
            Box::pin(async move {
                if let Err(e) = peer.notify_progress(p).await {
                    tracing::debug!(error = %e, "progress notification not delivered");
                }
            })
        });
    }
    options
}

/// A refusal before the upstream answered: unknown names and permission denials are
/// JSON-RPC errors (as for the server's own tools); the rest is the tool's error result.
enum Refusal {
    Rpc(ErrorData),
    Result(ApiError),
}

fn refusal(err: CallError) -> Refusal {
    match err {
        CallError::Refused(e @ (ApiError::PermissionDenied(_) | ApiError::InvalidToken)) => {
            Refusal::Rpc(api_to_rpc(e))
        }
        CallError::Refused(ApiError::NotFound(m)) => {
            Refusal::Rpc(ErrorData::invalid_params(m, None))
        }
        CallError::Refused(e) => Refusal::Result(e),
        CallError::Upstream { code, message } => {
            Refusal::Rpc(ErrorData::new(ErrorCode(code), message, None))
        }
        CallError::Cancelled => {
            Refusal::Rpc(ErrorData::new(REQUEST_CANCELLED, "Request cancelled", None))
        }
    }
}

/// Calls an upstream tool for the caller.
pub(super) async fn call_tool(
    caller: &Caller,
    request: CallToolRequestParams,
    rctx: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let result = calls::call_tool(
        &caller.state,
        &caller.principal,
        &caller.ctx,
        &request.name,
        request.arguments,
        options(rctx),
    )
    .await;
    match result {
        Ok(mut out) => {
            // A result from an upstream on an older protocol has no `resultType`; this
            // server speaks the newest one (rmcp strips it again for older clients).
            out.value.result_type = Some(ResultType::COMPLETE);
            Ok(out.value.into())
        }
        Err(e) => match refusal(e) {
            Refusal::Rpc(e) => Err(e),
            Refusal::Result(e) => Ok(tool_failure(&e).into()),
        },
    }
}

fn rpc_only(err: CallError) -> ErrorData {
    match refusal(err) {
        Refusal::Rpc(e) => e,
        Refusal::Result(e) => api_to_rpc(e),
    }
}

/// Reads an upstream resource for the caller.
pub(super) async fn read_resource(
    caller: &Caller,
    uri: &str,
    rctx: &RequestContext<RoleServer>,
) -> Result<ReadResourceResponse, ErrorData> {
    let out = calls::read_resource(
        &caller.state,
        &caller.principal,
        &caller.ctx,
        uri,
        options(rctx),
    )
    .await
    .map_err(rpc_only)?;
    let mut value = out.value;
    value.result_type = Some(ResultType::COMPLETE);
    Ok(value.into())
}

/// Gets an upstream prompt for the caller.
pub(super) async fn get_prompt(
    caller: &Caller,
    request: GetPromptRequestParams,
    rctx: &RequestContext<RoleServer>,
) -> Result<GetPromptResponse, ErrorData> {
    let arguments = request.arguments;
    let out = calls::get_prompt(
        &caller.state,
        &caller.principal,
        &caller.ctx,
        &request.name,
        arguments,
        options(rctx),
    )
    .await
    .map_err(rpc_only)?;
    let mut value = out.value;
    value.result_type = Some(ResultType::COMPLETE);
    Ok(value.into())
}
