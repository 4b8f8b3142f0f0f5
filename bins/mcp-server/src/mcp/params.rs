//! Tool inputs as Rust types: their JSON Schemas (schemars) are what `tools/list` shows, and
//! arguments are deserialized into them, so schema and parser cannot disagree.
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Per-run limit overrides; each at most the configured maximum.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time of the run, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_time_ms: Option<u64>,
    /// CPU time, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_time_secs: Option<u64>,
    /// Memory, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Processes and threads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
    /// Open files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_open_files: Option<u64>,
    /// Size of one written file, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_file_size_bytes: Option<u64>,
    /// Bytes in the work dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_dir_bytes: Option<u64>,
    /// Bytes of stdout plus stderr kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
}

/// A language the sandbox runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python 3.
    Python,
    /// JavaScript (Node.js).
    Javascript,
    /// Bash.
    Bash,
}

/// `execute_code`: run a program in the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCode {
    /// The program's language.
    pub language: Language,
    /// The program.
    pub code: String,
    /// Bytes for the program's stdin.
    #[serde(default)]
    pub stdin: String,
    /// Limit overrides.
    #[serde(default)]
    pub limits: Limits,
    /// Extra read-only files in the work dir (relative path to content).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// `lint_code`: lint a program (ruff, node --check, shellcheck).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LintCode {
    /// The program's language.
    pub language: Language,
    /// The program.
    pub code: String,
}

/// `run_tests`: run pytest tests against Python code in the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunTests {
    /// The code under test, stored as `<module>.py`.
    pub code: String,
    /// The tests, stored as `test_<module>.py`; they `import <module>`.
    pub tests: String,
    /// Module name of the code (default `solution`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Limit overrides.
    #[serde(default)]
    pub limits: Limits,
    /// Extra files in the work dir (fixtures, data).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// `generate_code`: render a code template (see `list_templates`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateCode {
    /// Template name.
    pub template: String,
    /// Parameter values.
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

/// `list_templates`: no arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}

/// `graph_query`: a read-only Cypher query.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    /// A read-only Cypher query (write clauses are refused).
    pub cypher: String,
    /// Values of `$name` placeholders.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Row limit (default 100, at most 10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A node, by label and key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeId {
    /// The node's label.
    pub label: String,
    /// The node's key (unique per label).
    pub key: String,
}

/// `graph_upsert_node`: create or update a node.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertNode {
    /// The node's label.
    pub label: String,
    /// The node's key (unique per label).
    pub key: String,
    /// Properties to set (a `null` removes the key).
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// `graph_upsert_relationship`: create or update a relationship between existing nodes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertRelationship {
    /// Start node.
    pub from: NodeId,
    /// Relationship type.
    #[serde(rename = "type")]
    pub rel_type: String,
    /// End node.
    pub to: NodeId,
    /// Properties to set.
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// `graph_delete`: delete a node (with its relationships) or one relationship.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "target", rename_all = "snake_case", deny_unknown_fields)]
pub enum GraphDelete {
    /// Delete a node and its relationships.
    Node {
        /// The node's label.
        label: String,
        /// The node's key.
        key: String,
    },
    /// Delete one relationship.
    Relationship {
        /// Start node.
        from: NodeId,
        /// Relationship type.
        #[serde(rename = "type")]
        rel_type: String,
        /// End node.
        to: NodeId,
    },
}

/// `audit_query`: read the audit log (all filters optional, combined with AND).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this event type (`code_execution`, `authz_denied`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Only events of this user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only successful (`true`) or failed (`false`) events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// At most this many events, newest first (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}
