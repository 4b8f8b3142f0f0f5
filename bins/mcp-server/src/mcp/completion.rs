//! `completion/complete`: suggestions for prompt arguments and resource-template variables
//! (languages, focus areas, graph labels, node keys, audit event ids, code template names) by
//! prefix, filtered by the caller's permissions: a prompt or template the caller may not use
//! gets no suggestions (and no audit event: clients ask on every keystroke).
use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, ErrorData, Reference};

use super::tools::visible;
use super::{Caller, api_to_rpc, fixtures, prompts, resources};

/// Languages of the sandbox tools.
const LANGUAGES: &[&str] = &["python", "javascript", "bash"];
/// Focus areas of `code_review`.
const FOCUS: &[&str] = &[
    "correctness",
    "security",
    "performance",
    "readability",
    "style",
];
/// Depths of `graph_exploration`.
const DEPTHS: &[&str] = &["1", "2", "3"];
/// Newest audit events whose ids are offered.
const AUDIT_IDS_OFFERED: usize = 100;

/// The completion of `values` that start with `prefix` (case-insensitive), at most
/// [`CompletionInfo::MAX_VALUES`], with the total count.
pub fn by_prefix(values: impl IntoIterator<Item = String>, prefix: &str) -> CompletionInfo {
    let prefix = prefix.to_lowercase();
    let mut matching: Vec<String> = values
        .into_iter()
        .filter(|v| v.to_lowercase().starts_with(&prefix))
        .collect();
    matching.sort();
    matching.dedup();
    let total = matching.len();
    matching.truncate(CompletionInfo::MAX_VALUES);
    let has_more = total > matching.len();
    CompletionInfo::with_pagination(matching, u32::try_from(total).ok(), has_more)
        .unwrap_or_default()
}

fn owned(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// Answers one `completion/complete` request.
pub async fn complete(
    caller: &Caller,
    fixtures_on: bool,
    request: &CompleteRequestParams,
) -> Result<CompleteResult, ErrorData> {
    let argument = request.argument.name.as_str();
    let prefix = request.argument.value.as_str();
    let context = |name: &str| {
        request
            .context
            .as_ref()
            .and_then(|c| c.arguments.as_ref())
            .and_then(|args| args.get(name))
            .cloned()
    };
    let reference = match &request.r#ref {
        Reference::Prompt(p) => p.name.as_str(),
        Reference::Resource(r) => r.uri.as_str(),
        _ => return Err(ErrorData::invalid_params("unknown reference type", None)),
    };
    if fixtures_on && let Some(values) = fixtures::complete(reference, argument, prefix) {
        return Ok(CompleteResult::new(by_prefix(values, prefix)));
    }
    let values = match &request.r#ref {
        Reference::Prompt(p) => {
            let spec = prompts::find(&p.name).ok_or_else(|| {
                ErrorData::invalid_params(format!("unknown prompt: {}", p.name), None)
            })?;
            if !spec.arguments.iter().any(|(name, _, _)| *name == argument) {
                return Err(ErrorData::invalid_params(
                    format!("prompt {} has no argument `{argument}`", p.name),
                    None,
                ));
            }
            if !visible(&caller.state, &caller.principal, spec.rule) {
                Vec::new()
            } else {
                match (spec.name, argument) {
                    ("code_review", "language") => owned(LANGUAGES),
                    ("code_review", "focus") => owned(FOCUS),
                    ("graph_exploration", "topic") => graph_labels(caller).await?,
                    ("graph_exploration", "depth") => owned(DEPTHS),
                    _ => Vec::new(),
                }
            }
        }
        Reference::Resource(r) => {
            let spec = resources::find_template(&r.uri).ok_or_else(|| {
                ErrorData::invalid_params(format!("unknown resource template: {}", r.uri), None)
            })?;
            if !spec.uri_template.contains(&format!("{{{argument}}}")) {
                return Err(ErrorData::invalid_params(
                    format!("resource template {} has no variable `{argument}`", r.uri),
                    None,
                ));
            }
            if !visible(&caller.state, &caller.principal, spec.rule) {
                Vec::new()
            } else {
                match (spec.name, argument) {
                    ("graph-node", "label") => graph_labels(caller).await?,
                    ("graph-node", "key") => match context("label") {
                        Some(label) => node_keys(caller, &label, prefix).await?,
                        None => Vec::new(),
                    },
                    ("audit-event", "id") => audit_ids(caller).await?,
                    ("code-template", "name") => crate::ops::tools::templates(&caller.state)
                        .into_iter()
                        .map(|t| t.name)
                        .collect(),
                    _ => Vec::new(),
                }
            }
        }
        _ => Vec::new(),
    };
    Ok(CompleteResult::new(by_prefix(values, prefix)))
}

async fn graph_labels(caller: &Caller) -> Result<Vec<String>, ErrorData> {
    let stats = crate::ops::tools::graph_stats(&caller.state)
        .await
        .map_err(api_to_rpc)?;
    Ok(stats.labels.keys().map(|l| l.as_str().to_owned()).collect())
}

/// Keys of nodes labelled `label` starting with `prefix`, among the first
/// [`mcp_graph::MAX_ROW_LIMIT`] nodes of the label the store returns.
async fn node_keys(caller: &Caller, label: &str, prefix: &str) -> Result<Vec<String>, ErrorData> {
    let Ok(label) = mcp_graph::Label::new(label) else {
        return Ok(Vec::new());
    };
    let graph = caller.state.graph().map_err(api_to_rpc)?;
    let nodes = graph
        .find_nodes(
            &label,
            &mcp_graph::Properties::default(),
            mcp_graph::MAX_ROW_LIMIT,
        )
        .await
        .map_err(|e| api_to_rpc(crate::ops::tools::graph_error(e)))?;
    let prefix = prefix.to_lowercase();
    Ok(nodes
        .into_iter()
        .map(|n| n.key.as_str().to_owned())
        .filter(|k| k.to_lowercase().starts_with(&prefix))
        .collect())
}

async fn audit_ids(caller: &Caller) -> Result<Vec<String>, ErrorData> {
    let mut filter = mcp_audit::AuditFilter::new();
    filter.limit = Some(AUDIT_IDS_OFFERED);
    let events = caller
        .state
        .audit
        .query(&filter)
        .await
        .map_err(|e| api_to_rpc(crate::ops::audit::audit_error(e)))?;
    Ok(events
        .into_iter()
        .map(|e| e.event.event_id.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_filters_by_prefix_sorts_and_counts() {
        let c = by_prefix(owned(&["python", "bash", "Perl", "php"]), "p");
        assert_eq!(c.values, ["Perl", "php", "python"]);
        assert_eq!(c.total, Some(3));
        assert_eq!(c.has_more, Some(false));
        let many = (0..150).map(|i| format!("k{i:03}"));
        let c = by_prefix(many, "k");
        assert_eq!(c.values.len(), CompletionInfo::MAX_VALUES);
        assert_eq!(c.total, Some(150));
        assert_eq!(c.has_more, Some(true));
    }
}
