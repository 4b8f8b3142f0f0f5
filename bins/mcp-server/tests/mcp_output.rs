//! Structured tool output with rmcp's own client: every tool lists an `outputSchema`, and the
//! `structuredContent` of each successful call conforms to it (checked by a small JSON Schema
//! validator below: rmcp's client does not validate). Errors keep their `{"error": …}` shape.
use std::sync::Arc;

use async_trait::async_trait;
use mcp_sandbox::{ExecRequest, ExecResult, Probe, Sandbox};
use mcp_server::config::{Backend, Config, Secret};
use mcp_server::mcp::McpServer;
use mcp_server::state::{AppState, Backends};
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// A sandbox that "runs" anything: exit 0, the code echoed on stdout.
struct EchoSandbox(Probe);

#[async_trait]
impl Sandbox for EchoSandbox {
    async fn run(&self, request: ExecRequest) -> Result<ExecResult, mcp_sandbox::Error> {
        let mut result = ExecResult::default();
        result.exit_code = Some(0);
        result.stdout = request.code;
        result.duration_ms = 3;
        Ok(result)
    }

    fn probe(&self) -> &Probe {
        &self.0
    }
}

fn state() -> AppState {
    let mut config = Config::default();
    config.storage.backend = Backend::Memory;
    config.auth.jwt_secret = Some(Secret::new("test-secret-of-more-than-thirty-two-bytes"));
    let probe = serde_json::from_value(json!({
        "layers": [], "languages": [], "weaker_isolation_allowed": false, "ready": true
    }))
    .expect("probe shape");
    let backends = Backends::memory().with_sandbox(Arc::new(EchoSandbox(probe)));
    AppState::assemble(config, backends).expect("state assembles")
}

async fn admin_token(state: &AppState) -> String {
    let user = state.users.create("root", "not-a-hash").await.unwrap();
    let az = state.authorizer.as_ref().unwrap();
    az.assign_role(&user.id, "admin").await.unwrap();
    let roles = az.roles_of(&user.id).await.unwrap();
    state.issuer.issue(&user.id, roles).unwrap().token
}

/// rmcp's client over an in-process pipe served by the same code as `mcp-stdio`.
async fn connect(state: &AppState, token: &str) -> RunningService<RoleClient, ()> {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(server_io);
    let server = McpServer::for_token(state.clone(), token);
    tokio::spawn(mcp_server::mcp::stdio::serve(server, read, write, 1 << 20));
    ().serve(tokio::io::split(client_io))
        .await
        .expect("client connects")
}

/// The ways `value` breaks `schema` (JSON Schema 2020-12, the keywords schemars writes:
/// `$ref` into `$defs`, `type`, `enum`, `const`, `required`, `properties`,
/// `additionalProperties`, `items`, `oneOf`, `anyOf`, `minimum`).
fn violations(root: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let schema = match schema {
        Value::Bool(true) => return out,
        Value::Bool(false) => return vec![format!("{at}: nothing is allowed here")],
        Value::Object(s) => s,
        other => return vec![format!("{at}: not a schema: {other}")],
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(root, |node, key| &node[key]))
            .filter(|t| !t.is_null());
        match target {
            Some(target) => out.extend(violations(root, target, value, at)),
            None => out.push(format!("{at}: unresolved $ref {reference}")),
        }
    }
    if let Some(kinds) = schema.get("type") {
        let kinds: Vec<&str> = match kinds {
            Value::String(k) => vec![k.as_str()],
            Value::Array(ks) => ks.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = |kind: &str| match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            _ => false,
        };
        if !kinds.iter().any(|k| fits(k)) {
            out.push(format!("{at}: {value} is not of type {kinds:?}"));
            return out;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {values:?}"));
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        out.push(format!("{at}: {value} is not {expected}"));
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && n < min
    {
        out.push(format!("{at}: {n} is below {min}"));
    }
    if let Some(object) = value.as_object() {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(key) {
                out.push(format!("{at}: missing required field {key}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            let path = format!("{at}.{key}");
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(property), _) => out.extend(violations(root, property, item, &path)),
                (None, Some(extra)) => out.extend(violations(root, extra, item, &path)),
                (None, None) => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            out.extend(violations(root, items, item, &format!("{at}[{i}]")));
        }
    }
    if let Some(choices) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = choices
            .iter()
            .filter(|c| violations(root, c, value, at).is_empty())
            .count();
        if matching != 1 {
            out.push(format!("{at}: {value} matches {matching} of oneOf, not 1"));
        }
    }
    if let Some(choices) = schema.get("anyOf").and_then(Value::as_array)
        && !choices
            .iter()
            .any(|c| violations(root, c, value, at).is_empty())
    {
        out.push(format!("{at}: {value} matches none of anyOf"));
    }
    out
}

fn assert_conforms(tool: &Tool, result: &CallToolResult) {
    assert_eq!(result.is_error, Some(false), "{}: {result:?}", tool.name);
    let schema = Value::Object(
        tool.output_schema
            .as_deref()
            .cloned()
            .expect("an output schema"),
    );
    let content = result
        .structured_content
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no structuredContent", tool.name));
    let broken = violations(&schema, &schema, content, "$");
    assert!(broken.is_empty(), "{}: {broken:#?}\n{content:#}", tool.name);
    // The check has teeth: without any one of its fields, the result no longer conforms.
    for key in content.as_object().unwrap().keys() {
        let mut partial = content.clone();
        partial.as_object_mut().unwrap().remove(key);
        let broken = violations(&schema, &schema, &partial, "$");
        assert!(!broken.is_empty(), "{}: {key} is not required", tool.name);
    }
    // The same JSON as text, for clients without structured output.
    let text = result.content[0].as_text().expect("a text block");
    assert_eq!(&serde_json::from_str::<Value>(&text.text).unwrap(), content);
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("an object")
}

#[test]
fn the_validator_finds_what_breaks_a_schema() {
    let schema = json!({
        "type": "object", "required": ["a", "b"],
        "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"type": ["integer", "null"], "minimum": 0}},
        "$defs": {"A": {"oneOf": [
            {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"], "additionalProperties": false},
            {"type": "string", "enum": ["p", "q"]}
        ]}}
    });
    let check = |v: Value| violations(&schema, &schema, &v, "$");
    assert!(check(json!({"a": {"x": "s"}, "b": null})).is_empty());
    assert!(check(json!({"a": "p", "b": 3})).is_empty());
    assert_eq!(check(json!({"a": "p"})).len(), 1);
    assert_eq!(check(json!({"a": "r", "b": 1})).len(), 1);
    assert_eq!(check(json!({"a": {"x": "s", "y": 1}, "b": 1})).len(), 1);
    assert_eq!(check(json!({"a": "p", "b": -1})).len(), 1);
    assert_eq!(check(json!({"a": "p", "b": 1.5})).len(), 1);
    assert_eq!(check(json!([])).len(), 1);
}

#[tokio::test]
async fn every_tool_declares_an_object_output_schema() {
    let state = state();
    let client = connect(&state, &admin_token(&state).await).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 10);
    for tool in &tools {
        let schema = tool.output_schema.as_deref().expect("an output schema");
        assert_eq!(schema["type"], "object", "{}", tool.name);
        assert!(
            schema["properties"]
                .as_object()
                .is_some_and(|p| !p.is_empty()),
            "{}: {schema:?}",
            tool.name
        );
        assert!(
            schema
                .get("$schema")
                .and_then(Value::as_str)
                .is_some_and(|s| s.contains("2020-12")),
            "{}",
            tool.name
        );
    }
    let execute = tools.iter().find(|t| t.name == "execute_code").unwrap();
    let schema = execute.output_schema.as_deref().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for field in [
        "success",
        "stdout",
        "stderr",
        "exit_code",
        "timed_out",
        "duration_ms",
    ] {
        assert!(required.contains(&field), "{field} in {required:?}");
    }
    assert!(schema["properties"]["stdout"]["description"].is_string());
}

#[tokio::test]
async fn the_structured_content_of_every_successful_call_conforms_to_the_tool_output_schema() {
    let state = state();
    let client = connect(&state, &admin_token(&state).await).await;
    let tools = client.list_all_tools().await.unwrap();
    let calls = [
        (
            "execute_code",
            json!({"language": "bash", "code": "echo hi"}),
        ),
        ("list_templates", json!({})),
        (
            "generate_code",
            json!({"template": "python_function", "parameters": {"name": "greet"}}),
        ),
        (
            "graph_upsert_node",
            json!({"label": "Person", "key": "ada", "properties": {"name": "Ada", "born": 1815}}),
        ),
        (
            "graph_upsert_node",
            json!({"label": "Person", "key": "alan", "properties": {"tags": ["a", "b"]}}),
        ),
        (
            "graph_upsert_relationship",
            json!({"from": {"label": "Person", "key": "ada"}, "type": "KNOWS",
                   "to": {"label": "Person", "key": "alan"}, "properties": {"since": 1840}}),
        ),
        (
            "graph_query",
            json!({"cypher": "MATCH (a:Person)-[r:KNOWS]->(b) RETURN a, r, b.name AS name, b.missing"}),
        ),
        (
            "graph_delete",
            json!({"target": "relationship", "from": {"label": "Person", "key": "ada"},
                   "type": "KNOWS", "to": {"label": "Person", "key": "alan"}}),
        ),
        (
            "graph_delete",
            json!({"target": "node", "label": "Person", "key": "nobody"}),
        ),
        ("audit_query", json!({"limit": 50})),
    ];
    let mut called = std::collections::BTreeSet::new();
    for (name, input) in calls {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        let result = client
            .call_tool(CallToolRequestParams::new(name).with_arguments(args(input)))
            .await
            .unwrap();
        assert_conforms(tool, &result);
        called.insert(name);
    }
    // lint_code and run_tests need the real sandbox: the Python end-to-end tests call them.
    assert_eq!(called.len(), 8, "{called:?}");
    let query = client
        .call_tool(
            CallToolRequestParams::new("graph_query").with_arguments(args(
                json!({"cypher": "MATCH (a:Person) RETURN a.name AS name"}),
            )),
        )
        .await
        .unwrap();
    let rows = query.structured_content.unwrap()["rows"].clone();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.contains(&json!([{"value": "Ada"}])), "{rows:?}");
    assert!(rows.contains(&json!([{"value": null}])), "{rows:?}");
}

#[tokio::test]
async fn a_failed_call_keeps_the_error_shape_instead_of_the_output_schema() {
    let state = state();
    let client = connect(&state, &admin_token(&state).await).await;
    for (name, input) in [
        (
            "graph_query",
            json!({"cypher": "MATCH (n) DETACH DELETE n"}),
        ),
        ("lint_code", json!({"language": "python", "code": "x = 1"})),
    ] {
        let result = client
            .call_tool(CallToolRequestParams::new(name).with_arguments(args(input)))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(true), "{name}");
        let content = result.structured_content.unwrap();
        let error = content["error"].as_object().expect("an error object");
        assert!(error["code"].is_string() && error["message"].is_string());
        assert_eq!(content.as_object().unwrap().len(), 1, "{content}");
    }
}
