//! Tool results as Rust types: their JSON Schemas (schemars, the serialize contract) are the
//! `outputSchema` of `tools/list`, and every result is passed through its type before it is
//! sent ([`conform`]), so `structuredContent` cannot disagree with the schema.
//!
//! Most results are the library types themselves (`mcp_sandbox::tools::LintReport`,
//! `mcp_graph::Node`, `mcp_audit::StoredEvent`, …; their `schemars` features derive the
//! schemas). The types defined here are the server's own: the `execute_code` answer and the
//! `list_templates`, `graph_delete` and `audit_query` wrappers.
use mcp_sandbox::Language;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use mcp_audit::StoredEvent;
pub use mcp_graph::{Node, QueryResult, Relationship};
pub use mcp_sandbox::tools::{Generated, LintReport, TemplateInfo, TestReport};

/// Passes `value` (a tool's result) through `O`: the JSON `O` serializes to, which is what
/// `O`'s output schema describes. Fails when `value` lacks a field of `O` or has a value of
/// another type.
pub fn conform<O: Serialize + DeserializeOwned>(value: Value) -> Result<Value, serde_json::Error> {
    serde_json::to_value(serde_json::from_value::<O>(value)?)
}

/// `execute_code`: what the run did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Execution {
    /// Exit code 0 and no limit hit.
    pub success: bool,
    /// The language that ran.
    pub language: Language,
    /// Lowercase hex SHA-256 of the code (what the audit log records).
    pub code_sha256: String,
    /// What the run did.
    #[serde(flatten)]
    pub result: mcp_sandbox::ExecResult,
}

/// `list_templates`: the templates.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Templates {
    /// Every template, with its parameters.
    pub templates: Vec<TemplateInfo>,
}

/// `graph_delete`: whether something was deleted.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Deleted {
    /// Whether the thing existed (and is now gone).
    pub deleted: bool,
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
    /// A field `O` would drop or a value it would rewrite fails here.
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
        unchanged::<Execution>(crate::ops::tools::ExecuteResponse {
            success: true,
            language: "python".into(),
            code_sha256: crate::ops::tools::sha256_hex("print('hi')"),
            result,
        });
        let mut killed = mcp_sandbox::ExecResult::default();
        killed.signal = Some(9);
        killed.timed_out = true;
        for language in Language::ALL {
            unchanged::<Execution>(crate::ops::tools::ExecuteResponse {
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
                    mcp_sandbox::tools::ParameterKind::IdentifierList => json!(["a", "b"]),
                    mcp_sandbox::tools::ParameterKind::Text => json!("some text"),
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
        unchanged::<Deleted>(crate::ops::tools::Deleted { deleted: false });
    }

    #[test]
    fn audit_events_of_every_type_pass_through_unchanged() {
        use mcp_audit::EventType;
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

    /// The string values an enumeration's schema allows (`enum`, or `oneOf` of `const`s).
    fn values(schema: &schemars::Schema) -> Vec<String> {
        let schema = schema.as_value();
        let values = match schema.get("enum") {
            Some(values) => values.as_array().unwrap().clone(),
            None => schema["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["const"].clone())
                .collect(),
        };
        values
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    /// Every value of `T`'s schema deserializes into `T`; returns how many there are.
    fn schema_values_parse<T: JsonSchema + DeserializeOwned>() -> usize {
        let values = values(&schemars::schema_for!(T));
        for value in &values {
            let _: T = library(json!(value));
        }
        values.len()
    }

    #[test]
    fn enumeration_schemas_list_every_value_the_library_writes() {
        assert_eq!(schema_values_parse::<Language>(), Language::ALL.len());
        assert_eq!(
            schema_values_parse::<mcp_audit::EventType>(),
            mcp_audit::EventType::ALL.len()
        );
        assert_eq!(schema_values_parse::<mcp_sandbox::tools::Severity>(), 3);
        assert_eq!(
            schema_values_parse::<mcp_sandbox::tools::ParameterKind>(),
            3
        );
        assert_eq!(schema_values_parse::<mcp_sandbox::tools::TestOutcome>(), 4);
    }
}
