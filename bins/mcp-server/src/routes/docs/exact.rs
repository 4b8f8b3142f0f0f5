//! Makes the generated OpenAPI document exact: every status each route can answer, with the
//! error schema; request and response bodies typed from the types the handlers read and write
//! (the library types through their `schemars` schemas), carrying the validators' rules
//! (patterns, lengths, enums, bounds); an example per operation.
//!
//! The handlers' `#[utoipa::path]` attributes say what is particular to each route; this pass
//! adds what follows from the route table and the server's set-up, so it cannot be forgotten on
//! a new route: the access checks (401, 403), the body rules (400, 413, 415, 422), the query
//! rules (400), path parameters (404), the request timeout and stores being down (503).
use mcp_sandbox::Limits;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::access::Access;
use crate::routes::endpoints;

/// What of the server's configuration the document states.
pub(super) struct Facts<'a> {
    /// The highest sandbox limits a request may ask for (`sandbox.max_limits`).
    pub max_limits: &'a Limits,
    /// The roles of the policy (what `roles` in a request may name).
    pub roles: Vec<String>,
    /// The code templates (what `generate` takes).
    pub templates: &'a [mcp_sandbox::tools::TemplateInfo],
}

/// Applies every rule of this module to `doc` (the document utoipa generated, as JSON).
pub(super) fn finish(doc: &mut Value, facts: &Facts<'_>) {
    add_library_schemas(doc);
    type_bodies(doc);
    add_rules(doc, facts);
    add_error_responses(doc);
    super::protocol::describe(doc);
    add_examples(doc);
}

// ------------------------------------------------------------------------------------------
// Library types, through schemars

fn settings(deserialize: bool) -> SchemaSettings {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas/".into();
        s.meta_schema = None;
    });
    if deserialize {
        settings.for_deserialize()
    } else {
        settings.for_serialize()
    }
}

fn define<T: JsonSchema>(generator: &mut SchemaGenerator, schemas: &mut Map<String, Value>) {
    let name = T::schema_name().into_owned();
    let schema = generator.subschema_for::<T>();
    // Inlined types (such as validated strings) have no definition of their own.
    if !schema.as_object().is_some_and(|o| o.contains_key("$ref")) {
        schemas.insert(name, schema.to_value());
    }
}

/// Adds the schemas of the library types the REST routes read (as deserialized) and write (as
/// serialized) to `components.schemas`.
fn add_library_schemas(doc: &mut Value) {
    let mut schemas = Map::new();
    let mut requests = SchemaGenerator::new(settings(true));
    define::<mcp_sandbox::Language>(&mut requests, &mut schemas);
    define::<mcp_sandbox::RequestLimits>(&mut requests, &mut schemas);
    define::<mcp_sandbox::tools::LintRequest>(&mut requests, &mut schemas);
    define::<mcp_sandbox::tools::TestRequest>(&mut requests, &mut schemas);
    define::<mcp_sandbox::tools::GenerateRequest>(&mut requests, &mut schemas);
    schemas.extend(requests.take_definitions(true));
    let mut responses = SchemaGenerator::new(settings(false));
    define::<mcp_sandbox::ExecResult>(&mut responses, &mut schemas);
    define::<mcp_sandbox::tools::LintReport>(&mut responses, &mut schemas);
    define::<mcp_sandbox::tools::TestReport>(&mut responses, &mut schemas);
    define::<mcp_sandbox::tools::Generated>(&mut responses, &mut schemas);
    define::<mcp_sandbox::tools::TemplateInfo>(&mut responses, &mut schemas);
    define::<mcp_graph::QueryResult>(&mut responses, &mut schemas);
    define::<mcp_graph::GraphStats>(&mut responses, &mut schemas);
    define::<mcp_graph::Node>(&mut responses, &mut schemas);
    define::<mcp_graph::Relationship>(&mut responses, &mut schemas);
    define::<mcp_audit::StoredEvent>(&mut responses, &mut schemas);
    define::<mcp_audit::ChainReport>(&mut responses, &mut schemas);
    schemas.extend(responses.take_definitions(true));
    let components = doc["components"]["schemas"]
        .as_object_mut()
        .expect("utoipa writes components.schemas");
    for (name, schema) in schemas {
        components.entry(name).or_insert(schema);
    }
}

pub(super) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(super) fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// The operation `method` (lower case) `path`, if documented.
pub(super) fn operation<'a>(doc: &'a mut Value, method: &str, path: &str) -> Option<&'a mut Value> {
    doc.get_mut("paths")?.get_mut(path)?.get_mut(method)
}

/// Bodies the handlers' attributes leave as bare objects, typed by the schemas of the types the
/// handlers read and write.
fn type_bodies(doc: &mut Value) {
    let bodies: &[(&str, &str, Option<&str>, Value)] = &[
        (
            "post",
            "/api/v1/lint",
            Some("LintRequest"),
            schema_ref("LintReport"),
        ),
        (
            "post",
            "/api/v1/test",
            Some("TestRequest"),
            schema_ref("TestReport"),
        ),
        (
            "post",
            "/api/v1/generate",
            Some("GenerateRequest"),
            schema_ref("Generated"),
        ),
        (
            "get",
            "/api/v1/templates",
            None,
            json!({"type": "array", "items": schema_ref("TemplateInfo")}),
        ),
        (
            "post",
            "/api/v1/graph/query",
            None,
            schema_ref("QueryResult"),
        ),
        ("get", "/api/v1/graph/stats", None, schema_ref("GraphStats")),
        ("post", "/api/v1/graph/nodes", None, schema_ref("Node")),
        (
            "post",
            "/api/v1/graph/relationships",
            None,
            schema_ref("Relationship"),
        ),
        (
            "get",
            "/api/v1/audit",
            None,
            json!({"type": "array", "items": schema_ref("StoredEvent")}),
        ),
        (
            "get",
            "/api/v1/audit/verify",
            None,
            schema_ref("ChainReport"),
        ),
    ];
    for (method, path, request, response) in bodies {
        let Some(op) = operation(doc, method, path) else {
            continue;
        };
        if let Some(request) = request {
            op["requestBody"] =
                json!({ "required": true, "content": json_content(schema_ref(request)) });
        }
        let ok = if *method == "post" && op["responses"].get("201").is_some() {
            "201"
        } else {
            "200"
        };
        let description = op["responses"][ok]["description"].clone();
        op["responses"][ok] =
            json!({ "description": description, "content": json_content(response.clone()) });
    }
    // `execute` answers its own fields and those of the run, flattened into one object.
    if let Some(schema) = doc["components"]["schemas"].get_mut("ExecuteResponse") {
        let own = schema.clone();
        *schema = json!({ "allOf": [own, schema_ref("ExecResult")] });
        if let Some(props) = schema["allOf"][0].get_mut("properties") {
            props.as_object_mut().map(|p| p.remove("result"));
        }
        if let Some(required) = schema["allOf"][0]
            .get_mut("required")
            .and_then(Value::as_array_mut)
        {
            required.retain(|r| r != "result");
        }
    }
    // `POST /auth/revoke` takes no body or a `RevokeRequest` (not `null`).
    if let Some(op) = operation(doc, "post", "/auth/revoke") {
        op["requestBody"] =
            json!({ "required": false, "content": json_content(schema_ref("RevokeRequest")) });
    }
}

// ------------------------------------------------------------------------------------------
// Validators' rules

/// `users::validate_username`, as a pattern.
const USERNAME: &str = "^[A-Za-z0-9._@-]{1,64}$";
/// `mcp_graph`'s identifiers (labels, relationship types, property keys).
const IDENTIFIER: &str = "^[A-Za-z_][A-Za-z0-9_]{0,63}$";

fn username() -> Value {
    json!({ "type": "string", "pattern": USERNAME, "description": "1 to 64 of letters, digits, `.`, `_`, `@`, `-`" })
}

fn new_password() -> Value {
    json!({
        "type": "string",
        "minLength": crate::users::MIN_PASSWORD_LEN,
        "maxLength": crate::users::MAX_PASSWORD_LEN,
        "description": format!("{} to {} characters", crate::users::MIN_PASSWORD_LEN, crate::users::MAX_PASSWORD_LEN),
    })
}

/// The files of a run as `mcp_sandbox`'s `validate_file_name` accepts them: at most 256, each a
/// relative path of 1 to 255 bytes with no empty, `.` or `..` component, no backslash and no
/// control character. (Two rules are not stated: a path may not run through another file of
/// the request, nor name a file the sandbox places itself.)
fn files() -> Value {
    const C: &str = r"[^/\\\x00-\x1f\x7f-\x9f]";
    const C1: &str = r"[^/.\\\x00-\x1f\x7f-\x9f]";
    let component = format!(r"(?:{C1}{C}*|\.{C1}{C}*|\.\.{C}+)");
    json!({
        "type": "object",
        "maxProperties": 256,
        "propertyNames": {
            "type": "string", "minLength": 1, "maxLength": 255,
            "pattern": format!("^{component}(?:/{component})*$"),
        },
        "additionalProperties": { "type": "string" },
        "description": "relative path → content; a path has no empty, `.` or `..` component, no backslash, no control character",
    })
}

fn identifier(what: &str) -> Value {
    json!({ "type": "string", "pattern": IDENTIFIER, "description": what })
}

fn node_key() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": mcp_graph::model::MAX_KEY_LEN, "description": "the node's key (unique per label)" })
}

/// A property value as `mcp_graph::Value` accepts it: a scalar, or an array of one kind of
/// scalar; `null` removes the key. Integers between 2^63 and 2^64 - 1 are refused (they do not
/// fit in 64 signed bits); larger or smaller ones are read as floats, as JSON parsers do.
fn property_value() -> Value {
    let too_big = json!({ "type": "integer", "minimum": 1u64 << 63, "maximum": u64::MAX });
    let int = json!({ "type": "integer", "not": too_big });
    let number = json!({ "type": "number", "not": too_big });
    json!({ "anyOf": [
        { "type": "null" }, { "type": "boolean" }, number, { "type": "string" },
        { "type": "array", "items": { "type": "boolean" } },
        { "type": "array", "items": int },
        { "type": "array", "items": { "type": "number", "not": { "type": "integer" } } },
        { "type": "array", "items": { "type": "string" } },
    ]})
}

fn properties() -> Value {
    json!({
        "type": "object",
        "propertyNames": { "pattern": IDENTIFIER },
        "additionalProperties": property_value(),
        "description": "property keys are identifiers; values are scalars or arrays of one kind of scalar; `null` removes the key",
    })
}

fn set_property(doc: &mut Value, schema: &str, property: &str, rule: Value) {
    if let Some(slot) = doc["components"]["schemas"]
        .get_mut(schema)
        .and_then(|s| s.get_mut("properties"))
        .and_then(|p| p.get_mut(property))
    {
        let description = slot.get("description").cloned();
        *slot = rule;
        if let (Some(description), Some(obj)) = (description, slot.as_object_mut()) {
            obj.entry("description").or_insert(description);
        }
    }
}

fn set_parameter(doc: &mut Value, method: &str, path: &str, name: &str, rule: Value) {
    let Some(params) = operation(doc, method, path)
        .and_then(|op| op.get_mut("parameters"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for param in params.iter_mut().filter(|p| p["name"] == name) {
        param["schema"] = rule.clone();
    }
}

fn add_rules(doc: &mut Value, facts: &Facts<'_>) {
    // Accounts.
    set_property(doc, "CreateUser", "username", username());
    set_property(doc, "CreateUser", "password", new_password());
    let role = json!({ "type": "string", "enum": facts.roles });
    set_property(
        doc,
        "CreateUser",
        "roles",
        json!({ "type": "array", "items": role }),
    );
    set_property(doc, "AssignRole", "role", role);
    set_property(doc, "ResetPassword", "password", new_password());
    set_property(doc, "ChangePassword", "new_password", new_password());
    let paths: Vec<(String, String)> = endpoints()
        .iter()
        .filter(|e| e.path.contains("{username}"))
        .map(|e| (e.method.as_str().to_ascii_lowercase(), e.path.to_owned()))
        .collect();
    for (method, path) in &paths {
        set_parameter(doc, method, path, "username", username());
    }
    set_parameter(
        doc,
        "delete",
        "/api/v1/users/{username}/roles/{role}",
        "role",
        json!({
            "type": "string",
            "pattern": format!("^[a-z0-9_-]{{1,{}}}$", mcp_rbac::role::MAX_ROLE_NAME_LEN),
            "description": "a role name: a-z, 0-9, `_` and `-` (also one the policy no longer defines)",
        }),
    );
    // Code tools.
    set_property(doc, "ExecuteRequest", "language", schema_ref("Language"));
    set_property(doc, "ExecuteRequest", "limits", schema_ref("RequestLimits"));
    set_property(doc, "ExecuteRequest", "files", files());
    set_property(doc, "TestRequest", "files", files());
    limit_bounds(doc, facts.max_limits);
    generate_rules(doc, facts.templates);
    // The knowledge graph.
    for schema in ["NodeId", "UpsertNode"] {
        set_property(doc, schema, "label", identifier("the node's label"));
        set_property(doc, schema, "key", node_key());
    }
    for schema in ["UpsertRelationship", "DeleteRelationship"] {
        set_property(doc, schema, "type", identifier("the relationship type"));
    }
    for schema in ["UpsertNode", "UpsertRelationship"] {
        set_property(doc, schema, "properties", properties());
    }
    set_property(
        doc,
        "GraphQueryRequest",
        "limit",
        json!({
            "type": ["integer", "null"], "minimum": 0, "maximum": mcp_graph::MAX_ROW_LIMIT,
        }),
    );
    set_property(
        doc,
        "GraphQueryRequest",
        "params",
        json!({ "type": "object", "description": "values of `$name` placeholders" }),
    );
    for (method, path) in [
        ("delete", "/api/v1/graph/nodes"),
        ("get", "/api/v1/graph/neighborhood"),
    ] {
        set_parameter(doc, method, path, "label", identifier("the node's label"));
        set_parameter(doc, method, path, "key", node_key());
    }
    set_parameter(
        doc,
        "get",
        "/api/v1/graph/neighborhood",
        "limit",
        json!({
            "type": "integer", "minimum": 1, "maximum": crate::routes::neighborhood::MAX_LIMIT,
        }),
    );
    // The audit log.
    let types: Vec<&str> = mcp_audit::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    set_parameter(
        doc,
        "get",
        "/api/v1/audit",
        "event_type",
        json!({ "type": "string", "enum": types }),
    );
    for time in ["since", "until"] {
        set_parameter(
            doc,
            "get",
            "/api/v1/audit",
            time,
            json!({ "type": "string", "format": "date-time" }),
        );
    }
    set_parameter(
        doc,
        "get",
        "/api/v1/audit",
        "success",
        json!({ "type": "boolean" }),
    );
    set_parameter(
        doc,
        "get",
        "/api/v1/audit",
        "request_id",
        json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" }),
    );
    set_parameter(
        doc,
        "get",
        "/api/v1/audit",
        "limit",
        json!({
            "type": "integer", "minimum": 0, "maximum": crate::query::AUDIT_LIMIT_MAX,
        }),
    );
}

/// A `text` template parameter: one line without quotes, backslashes, `$`, `*` or braces.
const ONE_LINE: &str = r#"^[^\x00-\x1f\x7f-\x9f"'`\\$*{}]*$"#;

/// `GenerateRequest`: one shape per template, with its parameters (names, kinds, which are
/// required). Names are further checked against the target language's reserved words and the
/// names its runtime gives a meaning (422).
fn generate_rules(doc: &mut Value, templates: &[mcp_sandbox::tools::TemplateInfo]) {
    use mcp_sandbox::tools::ParameterKind;
    let name = json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$" });
    let shapes: Vec<Value> = templates
        .iter()
        .map(|t| {
            let mut props = Map::new();
            let mut required = Vec::new();
            for p in &t.parameters {
                let kind = match p.kind {
                    ParameterKind::Identifier => name.clone(),
                    ParameterKind::IdentifierList => json!({ "type": "array", "items": name }),
                    _ => json!({ "type": "string", "maxLength": 200, "pattern": ONE_LINE }),
                };
                let mut schema = kind;
                schema["description"] = json!(p.description);
                props.insert(p.name.clone(), schema);
                if p.required {
                    required.push(p.name.clone());
                }
            }
            json!({
                "type": "object",
                "title": t.name,
                "properties": {
                    "template": { "const": t.name },
                    "parameters": { "type": "object", "properties": props, "required": required, "additionalProperties": false },
                },
                "required": ["template", "parameters"],
                "additionalProperties": false,
            })
        })
        .collect();
    if let Some(schema) = doc["components"]["schemas"].get_mut("GenerateRequest") {
        let description = schema.get("description").cloned().unwrap_or(Value::Null);
        *schema = json!({ "oneOf": shapes, "description": description });
    }
}

/// `RequestLimits`: each override at least what the sandbox accepts and at most the configured
/// maximum (`sandbox.max_limits`).
fn limit_bounds(doc: &mut Value, max: &Limits) {
    let minimum = |name: &str| -> u64 {
        match name {
            "memory_bytes" => 16 * 1024 * 1024,
            "max_processes" => 4,
            "max_open_files" => 16,
            _ => 1,
        }
    };
    let Ok(Value::Object(max)) = serde_json::to_value(max) else {
        return;
    };
    let Some(props) = doc["components"]["schemas"]["RequestLimits"]
        .get_mut("properties")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, schema) in props.iter_mut() {
        let Some(top) = max.get(name).and_then(Value::as_u64) else {
            continue;
        };
        let description = schema.get("description").cloned().unwrap_or(Value::Null);
        *schema = json!({
            "type": ["integer", "null"], "minimum": minimum(name), "maximum": top,
            "description": description,
        });
    }
}

// ------------------------------------------------------------------------------------------
// Error responses

pub(super) fn error_response(status: u16) -> Value {
    let description = match status {
        400 => "malformed JSON, or a query parameter that does not parse (the message names it)",
        401 => "no token, or one that does not verify (`invalid_token`)",
        403 => "the token's user lacks the permission (`permission_denied`)",
        404 => "the thing named does not exist (`not_found`)",
        409 => "the change conflicts with what exists (`conflict`)",
        413 => "the body is larger than `http.body_limit_bytes` (`payload_too_large`)",
        415 => "the body is not `Content-Type: application/json` (`unsupported_media_type`)",
        422 => {
            "the body is well-formed but refused: wrong types, unknown fields, broken rules (`invalid_input`)"
        }
        429 => "over a rate limit or locked out; see `Retry-After` (`rate_limited`)",
        _ => {
            "the request took longer than `http.request_timeout_secs`, or a store or the sandbox is unavailable (`timeout`, `unavailable`, `busy`)"
        }
    };
    json!({ "description": description, "content": json_content(schema_ref("ErrorBody")) })
}

/// Routes with a per-user budget or a log-in lock-out.
const RATE_LIMITED: &[(&str, &str)] = &[
    ("POST", "/auth/token"),
    ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/execute"),
    ("POST", "/api/v1/lint"),
    ("POST", "/api/v1/test"),
    ("POST", "/api/v1/generate"),
];

fn add_error_responses(doc: &mut Value) {
    for e in endpoints()
        .iter()
        .filter(|e| !super::protocol::is_protocol(e.path))
    {
        let method = e.method.as_str().to_ascii_lowercase();
        let Some(op) = operation(doc, &method, e.path) else {
            continue;
        };
        let params = op
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let takes = |place: &str| params.iter().any(|p| p["in"] == place);
        let mut codes = Vec::new();
        match e.access {
            Access::Public => {}
            Access::Authenticated => codes.push(401),
            Access::Permission(_) => codes.extend([401, 403]),
        }
        if op.get("requestBody").is_some() {
            codes.extend([400, 413, 415, 422]);
        }
        if takes("query") {
            // 400 for a value that does not parse, 422 for a label or key that breaks its rule.
            codes.extend([400, 422]);
        }
        if RATE_LIMITED.contains(&(e.method.as_str(), e.path)) {
            codes.push(429);
        }
        if takes("path") {
            codes.push(404);
        }
        codes.push(503);
        let responses = op["responses"].as_object_mut().expect("responses");
        for code in codes {
            let key = code.to_string();
            match responses.get_mut(&key) {
                // A route's own description stays; the schema is the error schema.
                Some(existing) => {
                    if existing.get("content").is_none() {
                        existing["content"] = json_content(schema_ref("ErrorBody"));
                    }
                }
                None => {
                    responses.insert(key, error_response(code));
                }
            }
        }
        // Errors the handlers' attributes list without a body get the error schema too.
        for (code, response) in responses.iter_mut() {
            if (code.starts_with('4') || code.starts_with('5')) && response.get("content").is_none()
            {
                response["content"] = json_content(schema_ref("ErrorBody"));
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Examples

/// One example per operation: of its request body, else of its parameters, else of its answer.
fn add_examples(doc: &mut Value) {
    let bodies: &[(&str, &str, Value)] = &[
        (
            "post",
            "/auth/token",
            json!({"username": "dana", "password": "a long password"}),
        ),
        (
            "post",
            "/auth/revoke",
            json!({"token": "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}),
        ),
        (
            "post",
            "/api/v1/me/password",
            json!({"current_password": "a long password", "new_password": "an even longer one"}),
        ),
        (
            "post",
            "/api/v1/execute",
            json!({"language": "python", "code": "print(input())", "stdin": "hello", "limits": {"wall_time_ms": 5000}}),
        ),
        (
            "post",
            "/api/v1/lint",
            json!({"language": "python", "code": "import os\nx = 1\n"}),
        ),
        (
            "post",
            "/api/v1/test",
            json!({"code": "def add(a, b):\n    return a + b\n", "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"}),
        ),
        (
            "post",
            "/api/v1/generate",
            json!({"template": "python_function", "parameters": {"name": "add", "params": ["a", "b"]}}),
        ),
        (
            "post",
            "/api/v1/graph/query",
            json!({"cypher": "MATCH (p:Person)-[:KNOWS]->(f) WHERE p.name = $name RETURN f.name", "params": {"name": "Ada"}, "limit": 10}),
        ),
        (
            "post",
            "/api/v1/graph/nodes",
            json!({"label": "Person", "key": "ada", "properties": {"name": "Ada Lovelace", "born": 1815, "tags": ["math"]}}),
        ),
        (
            "post",
            "/api/v1/graph/relationships",
            json!({"from": {"label": "Person", "key": "ada"}, "type": "KNOWS", "to": {"label": "Person", "key": "charles"}, "properties": {"since": 1833}}),
        ),
        (
            "delete",
            "/api/v1/graph/relationships",
            json!({"from": {"label": "Person", "key": "ada"}, "type": "KNOWS", "to": {"label": "Person", "key": "charles"}}),
        ),
        (
            "post",
            "/api/v1/users",
            json!({"username": "dana", "password": "a long password", "roles": ["developer"]}),
        ),
        (
            "post",
            "/api/v1/users/{username}/roles",
            json!({"role": "developer"}),
        ),
        (
            "post",
            "/api/v1/users/{username}/password",
            json!({"password": "a new long password"}),
        ),
    ];
    for (method, path, example) in bodies {
        if let Some(op) = operation(doc, method, path) {
            op["requestBody"]["content"]["application/json"]["example"] = example.clone();
        }
    }
    let params: &[(&str, &str, &str, Value)] = &[
        ("get", "/api/v1/audit", "event_type", json!("authz_denied")),
        ("get", "/api/v1/audit", "user_id", json!("dana")),
        (
            "get",
            "/api/v1/audit",
            "since",
            json!("2026-01-31T12:00:00Z"),
        ),
        ("get", "/api/v1/audit", "limit", json!(50)),
        (
            "get",
            "/api/v1/graph/neighborhood",
            "label",
            json!("Person"),
        ),
        ("get", "/api/v1/graph/neighborhood", "key", json!("ada")),
        ("get", "/api/v1/graph/neighborhood", "limit", json!(20)),
        ("delete", "/api/v1/graph/nodes", "label", json!("Person")),
        ("delete", "/api/v1/graph/nodes", "key", json!("ada")),
        ("get", "/console/{file}", "file", json!("app.js")),
    ];
    for (method, path, name, example) in params {
        if let Some(list) = operation(doc, method, path)
            .and_then(|op| op.get_mut("parameters"))
            .and_then(Value::as_array_mut)
        {
            for p in list.iter_mut().filter(|p| p["name"] == *name) {
                p["example"] = example.clone();
            }
        }
    }
    let paths: Vec<(String, String)> = endpoints()
        .iter()
        .map(|e| (e.method.as_str().to_ascii_lowercase(), e.path.to_owned()))
        .collect();
    for (method, path) in &paths {
        let Some(op) = operation(doc, method, path) else {
            continue;
        };
        if let Some(list) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            for p in list.iter_mut() {
                match p["name"].as_str() {
                    Some("username") => p["example"] = json!("dana"),
                    Some("role") => p["example"] = json!("developer"),
                    _ => {}
                }
            }
        }
        let has_example = op["requestBody"]["content"]["application/json"]
            .get("example")
            .is_some()
            || op["parameters"]
                .as_array()
                .is_some_and(|l| l.iter().any(|p| p.get("example").is_some()));
        let Some(example) = answer_example(method, path).filter(|_| !has_example) else {
            continue;
        };
        for ok in ["200", "201"] {
            if let Some(json) = op["responses"]
                .get_mut(ok)
                .and_then(|r| r.get_mut("content"))
                .and_then(|c| c.get_mut("application/json"))
            {
                json["example"] = example.clone();
            }
        }
    }
}

/// An example answer of the operations that take no input.
fn answer_example(method: &str, path: &str) -> Option<Value> {
    let user = json!({"id": "6f1c2b9e-3d4a-4f5b-8c7d-1e2f3a4b5c6d", "username": "dana", "disabled": false,
        "created_at": "2026-01-31T12:00:00+00:00", "roles": ["developer"]});
    Some(match (method, path) {
        ("get", "/health") => json!({"status": "ok"}),
        ("get", "/ready") => {
            let store = json!({"backend": "sqlite", "state": "ok"});
            json!({"status": "ready",
                "checks": {"audit": "ok", "graph": "ok", "roles": "ok", "sandbox": "ok", "tokens": "ok", "users": "ok"},
                "storage": {"audit": store, "graph": store, "roles": store, "tokens": store, "users": store},
                "sandbox": {"state": "ok",
                    "layers": [{"layer": "bubblewrap", "state": "ok", "required": true},
                        {"layer": "rlimits", "state": "ok", "required": true},
                        {"layer": "cgroup_cpu", "state": "unavailable", "required": false,
                         "reason": "no writable cpu cgroup", "fix": "give the server a writable cgroup v1 hierarchy …"}],
                    "languages": {"bash": "ok", "javascript": "ok", "python": "ok"},
                    "weaker_isolation_allowed": false}})
        }
        ("get", "/api/v1/me") => {
            json!({"user_id": "6f1c2b9e-3d4a-4f5b-8c7d-1e2f3a4b5c6d", "username": "dana",
            "roles": ["developer"], "permissions": ["tools:execute", "tools:read"], "token_expires_at": "2026-01-31T13:00:00+00:00",
            "server_version": "0.1.0"})
        }
        ("get", "/api/v1/users") => json!([user]),
        ("get", "/api/v1/roles") => {
            json!([{"name": "viewer", "inherits": [], "permissions": ["tools:read"], "description": "read-only"}])
        }
        ("get", "/api/v1/tools") => {
            json!([{"name": "execute_code", "permission": "tools:execute"}])
        }
        ("get", "/api/v1/templates") => {
            json!([{"name": "python_function", "language": "python", "description": "a function",
            "parameters": [{"name": "name", "description": "its name", "kind": "identifier", "required": true, "default": null}]}])
        }
        ("get", "/api/v1/graph/stats") => {
            json!({"nodes": 2, "relationships": 1, "labels": {"Person": 2}, "rel_types": {"KNOWS": 1}})
        }
        ("get", "/api/v1/audit/verify") => {
            json!({"checked": 1234, "head": {"seq": 1234, "hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}, "broken": null})
        }
        _ => return None,
    })
}
