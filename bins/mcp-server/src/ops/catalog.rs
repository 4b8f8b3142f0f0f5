//! The tools the server offers, named as over MCP, each with the rule of the permission table
//! ([`crate::access`]) of the REST route it mirrors. MCP lists and calls them (adding their
//! input and output schemas); `GET /api/v1/tools` lists them with their permissions.
use crate::access::{self, Rule};

/// One tool.
#[derive(Debug)]
pub struct Tool {
    /// The tool's name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// The rule of the REST route it mirrors; its access is the tool's.
    pub rule: &'static Rule,
    /// Whether it only reads.
    pub read_only: bool,
    /// Whether it may destroy data (a client should confirm first).
    pub destructive: bool,
    /// Whether it sends progress notifications while it runs (when the caller asks).
    pub reports_progress: bool,
}

macro_rules! tools {
    ($($(#[$doc:meta])* $const:ident = $name:literal, $rule:path, read_only: $ro:literal, destructive: $de:literal, progress: $pr:literal, $desc:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $const: Tool = Tool {
                name: $name,
                description: $desc,
                rule: &$rule,
                read_only: $ro,
                destructive: $de,
                reports_progress: $pr,
            };
        )*
        /// Every tool, in listing order.
        pub const TOOLS: &[Tool] = &[$($const),*];
    };
}

tools! {
    /// `execute_code`.
    EXECUTE_CODE = "execute_code", access::EXECUTE, read_only: false, destructive: false, progress: true,
        "Run a Python, JavaScript or Bash program in the isolated sandbox; returns stdout, stderr, exit code and resource use. Rate-limited per user.";
    /// `lint_code`.
    LINT_CODE = "lint_code", access::LINT, read_only: true, destructive: false, progress: false,
        "Lint a program (ruff for Python, node --check for JavaScript, shellcheck for Bash) and return the diagnostics. Rate-limited per user.";
    /// `run_tests`.
    RUN_TESTS = "run_tests", access::TEST, read_only: false, destructive: false, progress: true,
        "Run pytest tests against Python code in the sandbox; returns per-test outcomes. Rate-limited per user, together with execute_code.";
    /// `generate_code`.
    GENERATE_CODE = "generate_code", access::GENERATE, read_only: true, destructive: false, progress: false,
        "Render a code template with parameters (see list_templates).";
    /// `list_templates`.
    LIST_TEMPLATES = "list_templates", access::TEMPLATES, read_only: true, destructive: false, progress: false,
        "List the code templates and their parameters.";
    /// `graph_query`.
    GRAPH_QUERY = "graph_query", access::GRAPH_QUERY, read_only: true, destructive: false, progress: false,
        "Run a read-only Cypher query on the knowledge graph.";
    /// `graph_upsert_node`.
    GRAPH_UPSERT_NODE = "graph_upsert_node", access::GRAPH_UPSERT_NODES, read_only: false, destructive: false, progress: false,
        "Create or update a node of the knowledge graph.";
    /// `graph_upsert_relationship`.
    GRAPH_UPSERT_RELATIONSHIP = "graph_upsert_relationship", access::GRAPH_UPSERT_RELATIONSHIPS, read_only: false, destructive: false, progress: false,
        "Create or update a relationship between two existing nodes.";
    /// `graph_delete`.
    GRAPH_DELETE = "graph_delete", access::GRAPH_DELETE_NODES, read_only: false, destructive: true, progress: false,
        "Delete a node (with its relationships) or one relationship.";
    /// `audit_query`.
    AUDIT_QUERY = "audit_query", access::AUDIT_QUERY, read_only: true, destructive: false, progress: false,
        "Query the audit log, newest first.";
}

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Access;

    #[test]
    fn every_tool_requires_a_permission_of_the_permission_table() {
        for tool in TOOLS {
            let rule = access::rule(&tool.rule.method, tool.rule.path);
            assert!(
                matches!(rule.map(|r| &r.access), Some(Access::Permission(_))),
                "{tool:?}"
            );
        }
    }

    #[test]
    fn no_two_tools_share_a_name() {
        for (i, a) in TOOLS.iter().enumerate() {
            assert!(TOOLS[i + 1..].iter().all(|b| b.name != a.name), "{a:?}");
        }
    }
}
