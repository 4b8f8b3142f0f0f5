//! MCP prompts: a code review and a knowledge-graph exploration.
use rmcp::model::{
    ErrorData, GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role,
};
use serde_json::Value;

use crate::access::{self, Rule};
use crate::auth::Principal;
use crate::state::AppState;

/// One prompt.
pub struct PromptSpec {
    /// Its name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Arguments: name, description, required.
    pub arguments: &'static [(&'static str, &'static str, bool)],
    /// The rule of the REST route of the tool the prompt leads to; its permission is required.
    pub rule: &'static Rule,
}

/// Every prompt.
pub const PROMPTS: &[PromptSpec] = &[
    PromptSpec {
        name: "code_review",
        description: "Review a piece of code: lint it with lint_code, then comment on \
                      correctness, security and style.",
        arguments: &[
            ("code", "The code to review.", true),
            (
                "language",
                "python, javascript or bash (default python).",
                false,
            ),
            ("focus", "What to look at most (e.g. security).", false),
        ],
        rule: &access::LINT,
    },
    PromptSpec {
        name: "graph_exploration",
        description: "Explore the knowledge graph around a topic with graph_query.",
        arguments: &[
            (
                "topic",
                "What to explore (a label, a key or a question).",
                true,
            ),
            ("depth", "How many hops to follow (default 2).", false),
        ],
        rule: &access::GRAPH_QUERY,
    },
];

/// The prompt called `name`.
pub fn find(name: &str) -> Option<&'static PromptSpec> {
    PROMPTS.iter().find(|p| p.name == name)
}

/// The prompts `who` may use.
pub fn list(state: &AppState, who: &Principal) -> Vec<Prompt> {
    PROMPTS
        .iter()
        .filter(|p| super::tools::visible(state, who, p.rule))
        .map(|p| {
            let args = p
                .arguments
                .iter()
                .map(|(name, description, required)| {
                    PromptArgument::new(*name)
                        .with_description(*description)
                        .with_required(*required)
                })
                .collect();
            Prompt::new(p.name, Some(p.description), Some(args))
        })
        .collect()
}

fn arg<'a>(args: &'a JsonObject, name: &str) -> Option<&'a str> {
    args.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Fills in a prompt (permission already checked). A missing required argument is -32602.
pub fn render(spec: &PromptSpec, args: JsonObject) -> Result<GetPromptResult, ErrorData> {
    for (name, _, required) in spec.arguments {
        if *required && arg(&args, name).is_none() {
            return Err(ErrorData::invalid_params(
                format!("prompt {} needs the argument `{name}`", spec.name),
                None,
            ));
        }
    }
    if let Some(unknown) = args
        .keys()
        .find(|k| !spec.arguments.iter().any(|(n, _, _)| n == k))
    {
        return Err(ErrorData::invalid_params(
            format!("prompt {} has no argument `{unknown}`", spec.name),
            None,
        ));
    }
    let text = match spec.name {
        "code_review" => {
            let language = arg(&args, "language").unwrap_or("python");
            let focus = arg(&args, "focus").unwrap_or("correctness, security and readability");
            let code = arg(&args, "code").unwrap_or_default();
            format!(
                "Review the following {language} code. First call the `lint_code` tool with \
                 language \"{language}\" and this code, then explain each finding and anything \
                 the linter cannot see, focusing on {focus}. Suggest concrete fixes.\n\n\
                 ```{language}\n{code}\n```"
            )
        }
        "graph_exploration" => {
            let topic = arg(&args, "topic").unwrap_or_default();
            let depth = arg(&args, "depth").unwrap_or("2");
            format!(
                "Explore the knowledge graph around \"{topic}\". Read the \
                 `mcp-server://graph/stats` resource for its size, then use the read-only \
                 `graph_query` tool: find matching nodes (e.g. `MATCH (n) WHERE n.name CONTAINS \
                 $topic RETURN n LIMIT 25`), follow relationships up to {depth} hops, and \
                 summarize what you find with the queries you ran."
            )
        }
        other => {
            return Err(ErrorData::internal_error(
                format!("prompt {other} has no template"),
                None,
            ));
        }
    };
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = Some(spec.description.to_owned());
    Ok(result)
}
