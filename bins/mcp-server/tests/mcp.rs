//! MCP with rmcp's own client: the tool, resource and prompt flows over the stdio transport
//! (in process, through the same line filter `mcp-stdio` uses), and the HTTP adapter's checks
//! at `/mcp` through actix's test service.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{test, web};
use async_trait::async_trait;
use mcp_sandbox::{ExecRequest, ExecResult, Probe, Sandbox};
use mcp_server::config::{Backend, Config, Secret};
use mcp_server::mcp::{McpConfig, McpHttp, McpServer};
use mcp_server::state::{AppState, Backends};
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ErrorCode, GetPromptRequestParams, JsonObject,
    NumberOrString, ProgressNotificationParam, ProgressToken, ReadResourceRequestParams, Request,
    RequestMetaObject, ServerResult,
};
use rmcp::service::{NotificationContext, RunningService, ServiceError};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

/// A sandbox that prints what `print("…")` prints and sleeps 1.2 s for `sleep`.
struct FakeSandbox(Probe);

#[async_trait]
impl Sandbox for FakeSandbox {
    async fn run(&self, request: ExecRequest) -> Result<ExecResult, mcp_sandbox::Error> {
        let code = request.code.trim();
        if code == "sleep" {
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        let mut result = ExecResult::default();
        result.exit_code = Some(0);
        if let Some(text) = code
            .strip_prefix("print(\"")
            .and_then(|c| c.strip_suffix("\")"))
        {
            result.stdout = format!("{text}\n");
        }
        Ok(result)
    }

    fn probe(&self) -> &Probe {
        &self.0
    }
}

fn state() -> AppState {
    state_with(|_| {})
}

fn state_with(adjust: impl FnOnce(&mut Config)) -> AppState {
    let mut config = Config::default();
    adjust(&mut config);
    config.storage.backend = Backend::Memory;
    config.auth.jwt_secret = Some(Secret::new("test-secret-of-more-than-thirty-two-bytes"));
    let probe = serde_json::from_value(json!({
        "layers": [], "languages": [], "weaker_isolation_allowed": false, "ready": true
    }))
    .expect("probe shape");
    let backends = Backends::memory().with_sandbox(Arc::new(FakeSandbox(probe)));
    AppState::assemble(config, backends).expect("state assembles")
}

async fn token(state: &AppState, name: &str, role: &str) -> String {
    let user = state.users.create(name, "not-a-hash").await.unwrap();
    let az = state.authorizer.as_ref().unwrap();
    az.assign_role(&user.id, role).await.unwrap();
    let roles = az.roles_of(&user.id).await.unwrap();
    state.issuer.issue(&user.id, roles).unwrap().token
}

/// A client that records progress notifications.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProgressNotificationParam>>>);

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params);
    }
}

/// rmcp's client connected to the server as the user of `token`, over an in-process pipe
/// served by the same code as `mcp-stdio`.
async fn connect(
    state: &AppState,
    token: &str,
) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(server_io);
    let server = McpServer::for_token(state.clone(), token);
    tokio::spawn(mcp_server::mcp::stdio::serve(server, read, write, 1 << 20));
    let recorder = Recorder::default();
    let client = recorder
        .clone()
        .serve(tokio::io::split(client_io))
        .await
        .expect("client connects");
    (client, recorder)
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("an object")
}

async fn call(
    client: &RunningService<RoleClient, Recorder>,
    name: &'static str,
    arguments: Value,
) -> Result<rmcp::model::CallToolResult, ServiceError> {
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(args(arguments)))
        .await
}

fn rpc_code(err: ServiceError) -> i32 {
    match err {
        ServiceError::McpError(e) => e.code.0,
        other => panic!("not a JSON-RPC error: {other:?}"),
    }
}

#[tokio::test]
async fn a_viewer_lists_fewer_tools_than_an_admin() {
    let state = state();
    let admin = token(&state, "root", "admin").await;
    let viewer = token(&state, "vera", "viewer").await;
    let (client, _) = connect(&state, &admin).await;
    let admin_tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(admin_tools.len(), 10, "{admin_tools:?}");
    let (client, _) = connect(&state, &viewer).await;
    let viewer_tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(viewer_tools, ["lint_code", "graph_query"]);
}

#[tokio::test]
async fn an_admin_calls_every_tool_and_gets_structured_results() {
    let state = state();
    let admin = token(&state, "root", "admin").await;
    let (client, _) = connect(&state, &admin).await;
    let out = call(
        &client,
        "execute_code",
        json!({"language": "python", "code": "print(\"hi\")"}),
    )
    .await
    .unwrap();
    assert_eq!(out.structured_content.as_ref().unwrap()["stdout"], "hi\n");
    // Without the bubblewrap sandbox, lint and tests are a tool error, not a protocol error.
    for (name, input) in [
        ("lint_code", json!({"language": "python", "code": "x = 1"})),
        (
            "run_tests",
            json!({"code": "x = 1", "tests": "def test_x(): pass"}),
        ),
    ] {
        let out = call(&client, name, input).await.unwrap();
        assert_eq!(out.is_error, Some(true), "{name}");
        assert_eq!(
            out.structured_content.unwrap()["error"]["code"],
            "unavailable"
        );
    }
    let templates = call(&client, "list_templates", json!({})).await.unwrap();
    assert!(
        templates.structured_content.unwrap()["templates"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let generated = call(
        &client,
        "generate_code",
        json!({"template": "python_function", "parameters": {"name": "greet"}}),
    )
    .await
    .unwrap();
    assert!(
        generated
            .structured_content
            .unwrap()
            .to_string()
            .contains("def greet")
    );
    for (label, key) in [("Person", "ada"), ("Person", "alan")] {
        let out = call(
            &client,
            "graph_upsert_node",
            json!({"label": label, "key": key, "properties": {"name": key}}),
        )
        .await
        .unwrap();
        assert_eq!(out.is_error, Some(false));
    }
    let rel = json!({"from": {"label": "Person", "key": "ada"}, "type": "KNOWS", "to": {"label": "Person", "key": "alan"}});
    assert_eq!(
        call(&client, "graph_upsert_relationship", rel.clone())
            .await
            .unwrap()
            .is_error,
        Some(false)
    );
    let rows = call(
        &client,
        "graph_query",
        json!({"cypher": "MATCH (a:Person)-[:KNOWS]->(b) RETURN b.name AS name"}),
    )
    .await
    .unwrap();
    assert!(
        rows.structured_content
            .unwrap()
            .to_string()
            .contains("alan")
    );
    let mut delete = rel;
    delete["target"] = json!("relationship");
    let out = call(&client, "graph_delete", delete).await.unwrap();
    assert_eq!(out.structured_content.unwrap(), json!({"deleted": true}));
    let out = call(
        &client,
        "graph_delete",
        json!({"target": "node", "label": "Person", "key": "ada"}),
    )
    .await
    .unwrap();
    assert_eq!(out.structured_content.unwrap(), json!({"deleted": true}));
    let events = call(
        &client,
        "audit_query",
        json!({"event_type": "code_execution"}),
    )
    .await
    .unwrap();
    assert_eq!(
        events.structured_content.unwrap()["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_tool_the_roles_do_not_allow_is_refused_and_audited_as_authz_denied() {
    let state = state();
    let viewer = token(&state, "vera", "viewer").await;
    let (client, _) = connect(&state, &viewer).await;
    let err = call(
        &client,
        "execute_code",
        json!({"language": "python", "code": "print(\"x\")"}),
    )
    .await
    .unwrap_err();
    assert_eq!(rpc_code(err), -32003);
    state.audit.flush(Duration::from_secs(2)).await.unwrap();
    let filter = mcp_audit::AuditFilter::new().event_type(mcp_audit::EventType::AuthzDenied);
    let events = state.audit.query(&filter).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event.resource.as_deref() == Some("mcp:tools/call:execute_code")),
        "{events:?}"
    );
    // The session goes on.
    assert!(
        call(
            &client,
            "graph_query",
            json!({"cypher": "MATCH (n) RETURN n"})
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn execute_code_shares_the_rest_rate_limit_and_reports_it_as_a_tool_error() {
    let state = state_with(|c| c.limits.execute_per_minute = 1);
    let admin = token(&state, "root", "admin").await;
    let (client, _) = connect(&state, &admin).await;
    let input = json!({"language": "python", "code": "print(\"x\")"});
    assert_eq!(
        call(&client, "execute_code", input.clone())
            .await
            .unwrap()
            .is_error,
        Some(false)
    );
    let limited = call(&client, "execute_code", input).await.unwrap();
    assert_eq!(limited.is_error, Some(true));
    let error = &limited.structured_content.unwrap()["error"];
    assert_eq!(error["code"], "rate_limited");
    assert!(error["retry_after_secs"].as_u64().is_some_and(|s| s >= 1));
    state.audit.flush(Duration::from_secs(2)).await.unwrap();
    let filter = mcp_audit::AuditFilter::new().event_type(mcp_audit::EventType::RateLimitExceeded);
    assert_eq!(state.audit.query(&filter).await.unwrap().len(), 1);
}

/// An audit store that is down: every append fails as unavailable.
#[derive(Default)]
struct DownAuditSink(mcp_audit::MemoryAuditSink);

#[async_trait]
impl mcp_audit::AuditSink for DownAuditSink {
    async fn append(
        &self,
        _: &[mcp_audit::AuditEvent],
    ) -> Result<mcp_audit::ChainHead, mcp_audit::StoreError> {
        Err(mcp_audit::StoreError::unavailable("injected audit outage"))
    }

    async fn query(
        &self,
        filter: &mcp_audit::AuditFilter,
    ) -> Result<Vec<mcp_audit::StoredEvent>, mcp_audit::StoreError> {
        self.0.query(filter).await
    }

    async fn verify_chain(&self) -> Result<mcp_audit::ChainReport, mcp_audit::StoreError> {
        self.0.verify_chain().await
    }
}

#[tokio::test]
async fn execute_code_whose_audit_event_cannot_be_stored_is_a_tool_error_saying_the_code_ran() {
    let mut config = Config::default();
    config.storage.backend = Backend::Memory;
    config.auth.jwt_secret = Some(Secret::new("test-secret-of-more-than-thirty-two-bytes"));
    config.audit.durable_timeout_ms = 100;
    let probe = serde_json::from_value(json!({
        "layers": [], "languages": [], "weaker_isolation_allowed": false, "ready": true
    }))
    .expect("probe shape");
    let mut backends = Backends::memory().with_sandbox(Arc::new(FakeSandbox(probe)));
    backends.audit = Arc::new(DownAuditSink::default());
    let state = AppState::assemble(config, backends).expect("state assembles");
    let admin = token(&state, "root", "admin").await;
    let (client, _) = connect(&state, &admin).await;
    let result = call(
        &client,
        "execute_code",
        json!({"language": "python", "code": "print(\"x\")"}),
    )
    .await
    .unwrap();
    assert_eq!(result.is_error, Some(true));
    let error = &result.structured_content.unwrap()["error"];
    assert_eq!(error["code"], "audit_unavailable");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("the code was executed"), "{message}");
}

#[tokio::test]
async fn bad_calls_get_json_rpc_errors_and_the_session_survives() {
    let state = state();
    let admin = token(&state, "root", "admin").await;
    let (client, _) = connect(&state, &admin).await;
    assert_eq!(
        rpc_code(call(&client, "no_such_tool", json!({})).await.unwrap_err()),
        -32602
    );
    assert_eq!(
        rpc_code(
            call(&client, "graph_query", json!({"cypher": 1}))
                .await
                .unwrap_err()
        ),
        -32602
    );
    assert_eq!(
        rpc_code(
            call(&client, "list_templates", json!({"x": 1}))
                .await
                .unwrap_err()
        ),
        -32602
    );
    let unknown = client
        .send_request(ClientRequest::CustomRequest(
            rmcp::model::CustomRequest::new("no/such", None),
        ))
        .await
        .unwrap_err();
    let ServiceError::McpError(unknown) = unknown else {
        panic!("{unknown:?}")
    };
    assert_eq!(unknown.code, ErrorCode::METHOD_NOT_FOUND);
    assert_eq!(unknown.message, "Method not found: no/such");
    assert!(call(&client, "list_templates", json!({})).await.is_ok());
}

#[tokio::test]
async fn resources_and_prompts_follow_the_roles() {
    let state = state();
    let viewer = token(&state, "vera", "viewer").await;
    let (client, _) = connect(&state, &viewer).await;
    let uris: Vec<String> = client
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(uris, ["mcp-server://graph/stats", "mcp-server://me"]);
    let me = client
        .read_resource(ReadResourceRequestParams::new("mcp-server://me"))
        .await
        .unwrap();
    let text = match &me.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let me: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(me["username"], "vera");
    assert_eq!(me["roles"], json!(["viewer"]));
    let err = client
        .read_resource(ReadResourceRequestParams::new("mcp-server://templates"))
        .await
        .unwrap_err();
    assert_eq!(rpc_code(err), -32003);
    let prompt = client
        .get_prompt(
            GetPromptRequestParams::new("graph_exploration")
                .with_arguments(args(json!({"topic": "people"}))),
        )
        .await
        .unwrap();
    assert!(format!("{:?}", prompt.messages[0]).contains("people"));
}

#[tokio::test]
async fn execute_code_reports_progress_while_it_runs() {
    let state = state();
    let admin = token(&state, "root", "admin").await;
    let (client, recorder) = connect(&state, &admin).await;
    let mut params = CallToolRequestParams::new("execute_code")
        .with_arguments(args(json!({"language": "bash", "code": "sleep"})));
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::String("p1".into()),
    )));
    let result = client
        .send_request(ClientRequest::CallToolRequest(Request::new(params)))
        .await
        .unwrap();
    assert!(
        matches!(result, ServerResult::CallToolResult(_)),
        "{result:?}"
    );
    let seen = recorder.0.lock().unwrap().clone();
    let messages: Vec<_> = seen
        .iter()
        .map(|p| p.message.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        messages.first().map(String::as_str),
        Some("started"),
        "{messages:?}"
    );
    assert_eq!(
        messages.last().map(String::as_str),
        Some("finished"),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m == "running"), "{messages:?}");
    assert!(seen.windows(2).all(|w| w[0].progress <= w[1].progress));
}

#[tokio::test]
async fn a_revoked_token_ends_access_on_an_open_session() {
    let state = state();
    let admin = token(&state, "root", "admin").await;
    let (client, _) = connect(&state, &admin).await;
    assert!(client.list_all_tools().await.is_ok());
    let claims = state.verifier.verify(&admin).await.unwrap();
    state.verifier.revoke(&claims).await.unwrap();
    let err = client.list_tools(None).await.unwrap_err();
    assert_eq!(rpc_code(err), -32001);
}

// ---- HTTP adapter ----

const ACCEPT: &str = "application/json, text/event-stream";
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

macro_rules! http_app {
    ($state:expr) => {
        test::init_service(
            mcp_server::app(web::Data::new($state.clone()))
                .app_data(web::Data::new(McpHttp::new(&McpConfig::default()))),
        )
        .await
    };
}

fn post(body: &str, token: Option<&str>) -> test::TestRequest {
    let mut req = test::TestRequest::post()
        .uri("/mcp")
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", ACCEPT))
        .insert_header(("host", "localhost"))
        .set_payload(body.to_owned());
    if let Some(token) = token {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    req
}

#[actix_web::test]
async fn http_without_a_token_is_401_with_www_authenticate() {
    let state = state();
    let app = http_app!(state);
    let res = test::call_service(&app, post(INITIALIZE, None).to_request()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        "Bearer resource_metadata=\"http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp\""
    );
}

#[actix_web::test]
async fn http_malformed_and_oversized_messages_get_json_rpc_errors() {
    let state = state();
    let admin = token(&state, "root", "admin").await;
    let app = http_app!(state);
    let res = test::call_service(&app, post("{\"jsonrpc\":", Some(&admin)).to_request()).await;
    assert_eq!(res.status(), 400);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["error"]["code"], -32700);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 << 20));
    let res = test::call_service(&app, post(&big, Some(&admin)).to_request()).await;
    assert_eq!(res.status(), 413);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["error"]["code"], -32600);
}

#[actix_web::test]
async fn http_sessions_belong_to_the_user_who_opened_them() {
    let state = state();
    let owner = token(&state, "olga", "developer").await;
    let other = token(&state, "mallory", "admin").await;
    let app = http_app!(state);
    let res = test::call_service(&app, post(INITIALIZE, Some(&owner)).to_request()).await;
    assert_eq!(res.status(), 200);
    let session = res
        .headers()
        .get("mcp-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let _ = test::read_body(res).await;
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let res = test::call_service(
        &app,
        post(list, Some(&other))
            .insert_header(("mcp-session-id", session.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = test::call_service(
        &app,
        post(list, Some(&owner))
            .insert_header(("mcp-session-id", session.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn http_foreign_origin_and_host_are_refused() {
    let state = state();
    let admin = token(&state, "root", "admin").await;
    let app = http_app!(state);
    let res = test::call_service(
        &app,
        post(INITIALIZE, Some(&admin))
            .insert_header(("origin", "https://evil.example"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = test::call_service(
        &app,
        post(INITIALIZE, Some(&admin))
            .insert_header(("host", "evil.example"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 403);
}
