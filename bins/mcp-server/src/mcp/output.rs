//! Tool results as Rust types: their JSON Schemas (schemars, the serialize contract) are the
//! `outputSchema` of `tools/list`, and every result is passed through its type before it is
//! sent ([`conform`]), so `structuredContent` cannot disagree with the schema.
//!
//! The service functions return the library types (`mcp_sandbox::ExecResult`,
//! `mcp_graph::Node`, `mcp_audit::StoredEvent`, …), which do not derive `JsonSchema`; the types
//! here have the same field names and serialized form (checked by the tests below, which also
//! refuse a field these types would drop). Enumerations keep the library type, so every variant
//! it has passes through; their schemas list the values (`Language` and `EventType` from the
//! library's `ALL`).
use mcp_audit::EventType;
use mcp_sandbox::Language;
use mcp_sandbox::tools::{ParameterKind, Severity, TestOutcome};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Passes `value` (a tool's result) through `O`: the JSON `O` serializes to, which is what
/// `O`'s output schema describes. Fails when `value` lacks a field of `O` or has a value of
/// another type.
pub fn conform<O: Serialize + DeserializeOwned>(value: Value) -> Result<Value, serde_json::Error> {
    serde_json::to_value(serde_json::from_value::<O>(value)?)
}

fn strings(description: &str, values: impl IntoIterator<Item = &'static str>) -> Schema {
    let values: Vec<&str> = values.into_iter().collect();
    json_schema!({ "type": "string", "enum": values, "description": description })
}

fn language_schema(_: &mut SchemaGenerator) -> Schema {
    strings("A sandbox language.", Language::ALL.map(Language::as_str))
}

fn event_type_schema(_: &mut SchemaGenerator) -> Schema {
    strings(
        "An audit event type.",
        EventType::ALL.map(EventType::as_str),
    )
}

fn severity_schema(_: &mut SchemaGenerator) -> Schema {
    strings("How serious a finding is.", ["error", "warning", "info"])
}

fn outcome_schema(_: &mut SchemaGenerator) -> Schema {
    strings(
        "The outcome of one test.",
        ["passed", "failed", "error", "skipped"],
    )
}

fn parameter_kind_schema(_: &mut SchemaGenerator) -> Schema {
    strings(
        "The type of a template parameter.",
        ["identifier", "identifier_list", "text"],
    )
}

/// `execute_code`: what the run did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Execution {
    /// Exit code 0 and no limit hit.
    pub success: bool,
    /// The language that ran.
    #[schemars(schema_with = "language_schema")]
    pub language: Language,
    /// Lowercase hex SHA-256 of the code (what the audit log records).
    pub code_sha256: String,
    /// Standard output (invalid UTF-8 replaced), at most `max_output_bytes` with stderr.
    pub stdout: String,
    /// Standard error (invalid UTF-8 replaced), counted with stdout against `max_output_bytes`.
    pub stderr: String,
    /// Exit code, when the program exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended the program, when one did (SIGKILL after a timeout or OOM,
    /// SIGXCPU after the CPU limit, SIGXFSZ after the file size limit, …).
    pub signal: Option<i32>,
    /// The wall-time limit ran out and the whole process tree was killed.
    pub timed_out: bool,
    /// Output went over `max_output_bytes`: it was cut there and the run was killed.
    pub truncated: bool,
    /// The memory limit was reached and a process of the run was killed.
    pub oom_killed: bool,
    /// Wall time from start to exit, in milliseconds.
    pub duration_ms: u64,
    /// Peak memory of the run, when measured.
    pub peak_memory_bytes: Option<u64>,
}

/// One lint finding.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Diagnostic {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The checker's rule code (`F401`, `SC2086`, `SyntaxError`, …).
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// How serious it is.
    #[schemars(schema_with = "severity_schema")]
    pub severity: Severity,
    /// The checker that reported it (`ruff`, `python-compile`, `node`, `bash`, `shellcheck`).
    pub source: String,
}

/// `lint_code`: the findings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct LintReport {
    /// The language linted.
    #[schemars(schema_with = "language_schema")]
    pub language: Language,
    /// The checkers that ran.
    pub tools: Vec<String>,
    /// No diagnostic has severity `error`.
    pub ok: bool,
    /// Findings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// One test (or a collection error).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct TestCase {
    /// pytest node id, e.g. `test_solution.py::test_add`.
    pub name: String,
    /// What happened.
    #[schemars(schema_with = "outcome_schema")]
    pub outcome: TestOutcome,
    /// How long the test body ran, in milliseconds.
    pub duration_ms: f64,
    /// The failure report, for failed and errored tests.
    pub message: Option<String>,
}

/// `run_tests`: the pytest run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct TestReport {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed.
    pub failed: u32,
    /// Setup, teardown and collection errors.
    pub errors: u32,
    /// Skipped tests.
    pub skipped: u32,
    /// Every test with its outcome and duration.
    pub tests: Vec<TestCase>,
    /// pytest's exit status (0 all passed, 1 failures, 2 interrupted, 5 no tests, …), when it
    /// finished.
    pub exit_code: Option<i32>,
    /// The wall-time limit ran out.
    pub timed_out: bool,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: u64,
    /// pytest's console output (stdout then stderr), without the machine-readable report.
    pub output: String,
}

/// `generate_code`: the rendered template.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Generated {
    /// The template used.
    pub template: String,
    /// Language of `code`.
    #[schemars(schema_with = "language_schema")]
    pub language: Language,
    /// A suggested file name.
    pub file_name: String,
    /// The code.
    pub code: String,
}

/// A parameter a template takes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct ParameterInfo {
    /// Parameter name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its type.
    #[schemars(schema_with = "parameter_kind_schema")]
    pub kind: ParameterKind,
    /// Whether it must be given.
    pub required: bool,
    /// The value used when it is not given (optional parameters only).
    pub default: Option<Value>,
}

/// A code template.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct TemplateInfo {
    /// Template name.
    pub name: String,
    /// Language of the generated code.
    #[schemars(schema_with = "language_schema")]
    pub language: Language,
    /// What it generates.
    pub description: String,
    /// Its parameters.
    pub parameters: Vec<ParameterInfo>,
}

/// `list_templates`: the templates.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Templates {
    /// Every template, with its parameters.
    pub templates: Vec<TemplateInfo>,
}

/// A node, by label and key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct NodeRef {
    /// The node's label.
    pub label: String,
    /// The node's key, unique among nodes with this label.
    pub key: String,
}

/// A stored node (the result of `graph_upsert_node`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Node {
    /// The node's label.
    pub label: String,
    /// The node's key.
    pub key: String,
    /// The node's properties (never containing nulls).
    pub properties: Map<String, Value>,
}

/// A stored relationship (the result of `graph_upsert_relationship`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Relationship {
    /// The start node.
    pub from: NodeRef,
    /// The relationship type.
    pub rel_type: String,
    /// The end node.
    pub to: NodeRef,
    /// The relationship's properties (never containing nulls).
    pub properties: Map<String, Value>,
}

/// One cell of a query result: an object with exactly one of `node`, `relationship`, `value`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryValue {
    /// A node, as returned by `RETURN n`.
    Node(Node),
    /// A relationship, as returned by `RETURN r`.
    Relationship(Relationship),
    /// Any other value (`RETURN n.name`); `null` for a missing property.
    Value(Value),
}

/// `graph_query`: the rows.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct QueryResult {
    /// Column names: the `AS` alias, or the expression as written (`n`, `n.name`).
    pub columns: Vec<String>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<QueryValue>>,
    /// Whether more rows matched than the row limit allowed.
    pub truncated: bool,
}

/// `graph_delete`: whether something was deleted.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Deleted {
    /// Whether the thing existed (and is now gone).
    pub deleted: bool,
}

/// An audit event.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct AuditEvent {
    /// Unique id of this event (a UUID).
    pub event_id: String,
    /// What kind of event this is.
    #[schemars(schema_with = "event_type_schema")]
    pub event_type: EventType,
    /// When it happened (RFC 3339, UTC).
    pub timestamp: String,
    /// Who did it, when known.
    pub user_id: Option<String>,
    /// The client address, when known.
    pub ip_address: Option<String>,
    /// The client's user agent, when known.
    pub user_agent: Option<String>,
    /// What was acted on (e.g. `tools/execute`, `graph:node/42`).
    pub resource: Option<String>,
    /// What was done (e.g. `authenticate`, `execute`).
    pub action: Option<String>,
    /// Whether the action succeeded.
    pub success: bool,
    /// Structured context (never secrets or source code).
    pub details: Map<String, Value>,
    /// The request that caused the event, for correlation.
    pub request_id: Option<String>,
    /// The session the request belonged to.
    pub session_id: Option<String>,
    /// How long the action took, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Why the action failed, when it did.
    pub error_message: Option<String>,
}

/// An audit event as stored: the event and its place in the hash chain.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct StoredEvent {
    /// Position in the chain, starting at 1.
    pub seq: u64,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// This event's chain hash.
    pub hash: String,
    /// The event.
    pub event: AuditEvent,
}

/// `audit_query`: the events, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct AuditEvents {
    /// The events the filters select, newest first.
    pub events: Vec<StoredEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `raw` (a library value's JSON) passes through `O` unchanged: same fields, same values.
    /// Under test the types here refuse unknown fields, so a field the library added and `O`
    /// would drop fails here.
    fn unchanged<O: Serialize + DeserializeOwned>(raw: impl Serialize) {
        let raw = serde_json::to_value(raw).unwrap();
        let out = conform::<O>(raw.clone()).unwrap_or_else(|e| panic!("{e}: {raw}"));
        assert_eq!(out, raw);
    }

    /// A library value from its JSON (for types that cannot be built outside their crate).
    fn library<T: DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn execute_results_pass_through_unchanged() {
        let mut result = mcp_sandbox::ExecResult::default();
        result.stdout = "hi\n".into();
        result.exit_code = Some(0);
        result.peak_memory_bytes = Some(1 << 20);
        unchanged::<Execution>(crate::tools::ExecuteResponse {
            success: true,
            language: "python".into(),
            code_sha256: crate::tools::sha256_hex("print('hi')"),
            result,
        });
        let mut killed = mcp_sandbox::ExecResult::default();
        killed.signal = Some(9);
        killed.timed_out = true;
        for language in Language::ALL {
            unchanged::<Execution>(crate::tools::ExecuteResponse {
                success: false,
                language: language.as_str().into(),
                code_sha256: String::new(),
                result: killed.clone(),
            });
        }
    }

    #[test]
    fn lint_reports_pass_through_unchanged() {
        let report: mcp_sandbox::tools::LintReport = library(json!({
            "language": "python", "tools": ["ruff"], "ok": false,
            "diagnostics": [
                {"line": 1, "column": 8, "code": "F401", "message": "`os` imported but unused",
                 "severity": "warning", "source": "ruff"},
                {"line": 2, "column": 1, "code": "SyntaxError", "message": "invalid syntax",
                 "severity": "error", "source": "python-compile"},
                {"line": 3, "column": 1, "code": "I001", "message": "unsorted",
                 "severity": "info", "source": "ruff"},
            ],
        }));
        unchanged::<LintReport>(report);
    }

    #[test]
    fn test_reports_pass_through_unchanged() {
        let report: mcp_sandbox::tools::TestReport = library(json!({
            "passed": 1, "failed": 1, "errors": 1, "skipped": 1,
            "tests": [
                {"name": "test_s.py::test_a", "outcome": "passed", "duration_ms": 0.5, "message": null},
                {"name": "test_s.py::test_b", "outcome": "failed", "duration_ms": 1.0, "message": "assert 1 == 2"},
                {"name": "test_s.py", "outcome": "error", "duration_ms": 0.0, "message": "ImportError"},
                {"name": "test_s.py::test_d", "outcome": "skipped", "duration_ms": 0.0, "message": null},
            ],
            "exit_code": 1, "timed_out": false, "duration_ms": 812, "output": "1 failed",
        }));
        unchanged::<TestReport>(report);
        let timed_out: mcp_sandbox::tools::TestReport = library(json!({
            "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "tests": [],
            "exit_code": null, "timed_out": true, "duration_ms": 5000, "output": "",
        }));
        unchanged::<TestReport>(timed_out);
    }

    #[test]
    fn templates_and_generated_code_pass_through_unchanged() {
        let generator = mcp_sandbox::tools::Generator::builtin();
        let templates = generator.templates();
        assert!(!templates.is_empty());
        unchanged::<Templates>(json!({ "templates": templates }));
        for template in templates {
            let mut request = mcp_sandbox::tools::GenerateRequest::new(&template.name);
            for p in template.parameters.iter().filter(|p| p.required) {
                let value = match p.kind {
                    ParameterKind::IdentifierList => json!(["a", "b"]),
                    ParameterKind::Text => json!("some text"),
                    _ => json!("name"),
                };
                request = request.with(&p.name, value);
            }
            let generated = generator.generate(&request).unwrap();
            unchanged::<Generated>(generated);
        }
    }

    fn node(label: &str, key: &str) -> mcp_graph::Node {
        library(
            json!({"label": label, "key": key, "properties": {"name": key, "born": 1815, "tags": ["a"]}}),
        )
    }

    #[test]
    fn graph_results_pass_through_unchanged() {
        let ada = node("Person", "ada");
        unchanged::<Node>(&ada);
        let knows: mcp_graph::Relationship = library(json!({
            "from": {"label": "Person", "key": "ada"}, "rel_type": "KNOWS",
            "to": {"label": "Person", "key": "alan"}, "properties": {"since": 1840.5},
        }));
        unchanged::<Relationship>(&knows);
        let rows = mcp_graph::QueryResult {
            columns: vec!["n".into(), "r".into(), "n.name".into(), "missing".into()],
            rows: vec![vec![
                mcp_graph::QueryValue::Node(ada),
                mcp_graph::QueryValue::Relationship(knows),
                mcp_graph::QueryValue::Value(json!("ada")),
                mcp_graph::QueryValue::Value(Value::Null),
            ]],
            truncated: true,
        };
        unchanged::<QueryResult>(rows);
        unchanged::<Deleted>(crate::tools::Deleted { deleted: false });
    }

    #[test]
    fn audit_events_of_every_type_pass_through_unchanged() {
        let events: Vec<mcp_audit::StoredEvent> = EventType::ALL
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut event = mcp_audit::AuditEvent::new(t)
                    .with_detail("outcome", "cancelled")
                    .with_error_message("stopped");
                event.user_id = Some("u1".into());
                event.ip_address = Some("::1".parse().unwrap());
                event.duration_ms = Some(7);
                mcp_audit::StoredEvent {
                    seq: i as u64 + 1,
                    prev_hash: "0".repeat(64),
                    hash: "f".repeat(64),
                    event,
                }
            })
            .collect();
        unchanged::<AuditEvents>(json!({ "events": events }));
        let bare = mcp_audit::StoredEvent {
            seq: 1,
            prev_hash: String::new(),
            hash: String::new(),
            event: mcp_audit::AuditEvent::new(EventType::AuthFailure),
        };
        unchanged::<AuditEvents>(json!({ "events": [bare] }));
    }

    #[test]
    fn a_result_without_a_field_of_its_schema_is_refused() {
        let err = conform::<Deleted>(json!({})).unwrap_err();
        assert!(err.to_string().contains("deleted"), "{err}");
        assert!(conform::<Execution>(json!({"success": "yes"})).is_err());
    }

    #[test]
    fn enumeration_schemas_list_every_value_the_library_writes() {
        let values = |schema: Schema| -> Vec<String> {
            schema.as_value()["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let mut generator = SchemaGenerator::default();
        for value in values(severity_schema(&mut generator)) {
            let _: Severity = library(json!(value));
        }
        for value in values(outcome_schema(&mut generator)) {
            let _: TestOutcome = library(json!(value));
        }
        for value in values(parameter_kind_schema(&mut generator)) {
            let _: ParameterKind = library(json!(value));
        }
        assert_eq!(
            values(language_schema(&mut generator)).len(),
            Language::ALL.len()
        );
        assert_eq!(
            values(event_type_schema(&mut generator)).len(),
            EventType::ALL.len()
        );
    }
}
