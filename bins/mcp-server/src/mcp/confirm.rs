//! Confirmation before a destructive call: `graph_delete` of a node that has relationships
//! asks the client (an elicitation form with one boolean) when the client declared the
//! elicitation capability: a handshake client (2025-06-18, 2025-11-25) gets an
//! `elicitation/create` request during the call; a 2026-07-28 client, which takes no
//! server-to-client requests, gets an `InputRequiredResult` carrying the same form and retries
//! the call with the answer in `inputResponses`. Only an accepted form with `confirm: true`
//! goes on; a decline, a cancel or `false` leaves the graph as it was and answers a tool error
//! `not_confirmed`. Clients without elicitation delete as before: the call itself is the
//! consent.
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, CallToolResult, ElicitRequestParams, ElicitResult, ElicitationAction,
    InputRequest, InputRequiredResult, InputResponses, JsonObject,
};
use rmcp::service::RequestContext;
use serde_json::{Value, json};

use super::Caller;

/// How long the user has to answer.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The key of the confirmation in `inputRequests` / `inputResponses`.
const INPUT_KEY: &str = "confirm_delete";

/// Whether the client of `rctx` handles form elicitation (declared in its handshake, or in the
/// request's `_meta` for 2026-07-28).
fn client_elicits(rctx: &RequestContext<RoleServer>) -> bool {
    rctx.client_capabilities().is_some_and(|caps| {
        caps.elicitation
            .as_ref()
            .is_some_and(|e| e.form.is_some() || e.url.is_none())
    })
}

/// Whether `rctx` is a 2026-07-28 request (no server-to-client requests).
fn inline(rctx: &RequestContext<RoleServer>) -> bool {
    !super::handshake(rctx)
}

fn refusal(why: String) -> CallToolResponse {
    CallToolResult::structured_error(json!({
        "error": { "code": "not_confirmed", "message": why }
    }))
    .into()
}

/// The verdict of an elicitation answer: `None` to go on, or the refusal.
fn verdict(result: &ElicitResult) -> Option<CallToolResponse> {
    let confirmed = result.action == ElicitationAction::Accept
        && result
            .content
            .as_ref()
            .and_then(|c| c.get("confirm"))
            .and_then(Value::as_bool)
            == Some(true);
    if confirmed {
        return None;
    }
    let action = serde_json::to_value(&result.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Some(refusal(format!(
        "the user did not confirm the deletion ({action}); nothing was deleted"
    )))
}

/// `None` when the call may go on, or the answer that ends it: the question (2026-07-28) or
/// a tool error `not_confirmed`.
pub async fn graph_delete(
    caller: &Caller,
    rctx: &RequestContext<RoleServer>,
    args: &JsonObject,
    responses: Option<&InputResponses>,
) -> Option<CallToolResponse> {
    if !client_elicits(rctx) || args.get("target").and_then(Value::as_str) != Some("node") {
        return None;
    }
    if inline(rctx)
        && let Some(answer) = responses.and_then(|r| r.get(INPUT_KEY))
    {
        // The retry of a 2026-07-28 client with the user's answer.
        return match serde_json::from_value::<ElicitResult>(answer.clone()) {
            Ok(result) => verdict(&result),
            Err(e) => Some(refusal(format!(
                "the answer to the confirmation is not an elicitation result ({e}); nothing \
                 was deleted"
            ))),
        };
    }
    let (Some(label), Some(key)) = (
        args.get("label").and_then(Value::as_str),
        args.get("key").and_then(Value::as_str),
    ) else {
        return None;
    };
    let node = mcp_graph::NodeRef::parse(label, key).ok()?;
    let graph = caller.state.graph().ok()?;
    let connected = graph
        .neighbors(
            &node,
            None,
            mcp_graph::Direction::Both,
            1,
            mcp_graph::MAX_ROW_LIMIT,
        )
        .await
        .ok()?
        .len();
    if connected == 0 {
        return None;
    }
    let more = if connected >= mcp_graph::MAX_ROW_LIMIT {
        " or more"
    } else {
        ""
    };
    let message = format!(
        "graph_delete will delete the node {label}/{key} and every relationship at it \
         (it is connected to {connected}{more} other nodes). Delete it?"
    );
    let params: ElicitRequestParams = serde_json::from_value(json!({
        "mode": "form",
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {
                "confirm": {
                    "type": "boolean",
                    "title": "Delete",
                    "description": "Delete the node and its relationships",
                    "default": false
                }
            },
            "required": ["confirm"]
        }
    }))
    .ok()?;
    if inline(rctx) {
        let request: InputRequest = serde_json::from_value(json!({
            "method": "elicitation/create",
            "params": serde_json::to_value(&params).ok()?,
        }))
        .ok()?;
        let requests = [(INPUT_KEY.to_owned(), request)].into_iter().collect();
        return Some(InputRequiredResult::new(Some(requests), None).into());
    }
    match rctx
        .peer
        .create_elicitation_with_timeout(params, Some(ANSWER_TIMEOUT))
        .await
    {
        Ok(result) => verdict(&result),
        Err(e) => {
            tracing::info!(error = %e, "deletion not confirmed: elicitation failed");
            Some(refusal(
                "the deletion could not be confirmed (no answer from the client); nothing was \
                 deleted"
                    .to_owned(),
            ))
        }
    }
}
