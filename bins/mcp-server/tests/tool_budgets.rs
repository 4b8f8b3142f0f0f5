//! Per-user budgets of the tools that use the sandbox, over MCP (rmcp's client, in process) and
//! REST: every tool that runs code draws on `limits.execute_per_minute`, lint on
//! `limits.lint_per_minute`, and every tool of the catalog that reaches the sandbox is limited.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mcp_sandbox::{ExecRequest, ExecResult, Probe, Sandbox};
use mcp_server::config::{Backend, Config, Secret};
use mcp_server::mcp::McpServer;
use mcp_server::state::{AppState, Backends};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// A sandbox that counts its runs (exit 0, nothing printed).
struct CountingSandbox {
    probe: Probe,
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl Sandbox for CountingSandbox {
    async fn run(&self, _: ExecRequest) -> Result<ExecResult, mcp_sandbox::Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let mut result = ExecResult::default();
        result.exit_code = Some(0);
        Ok(result)
    }

    fn probe(&self) -> &Probe {
        &self.probe
    }
}

/// A state with budgets of one call per minute, a counting sandbox (no bubblewrap: lint and
/// test answer 503 once admitted) and an admin token.
async fn one_call_each() -> (AppState, Arc<AtomicUsize>, String) {
    let mut config = Config::default();
    config.storage.backend = Backend::Memory;
    config.auth.jwt_secret = Some(Secret::new("test-secret-of-more-than-thirty-two-bytes"));
    config.limits.execute_per_minute = 1;
    config.limits.lint_per_minute = 1;
    let probe = serde_json::from_value(json!({
        "layers": [], "languages": [], "weaker_isolation_allowed": false, "ready": true
    }))
    .expect("probe shape");
    let runs = Arc::new(AtomicUsize::new(0));
    let sandbox = CountingSandbox {
        probe,
        runs: Arc::clone(&runs),
    };
    let backends = Backends::memory().with_sandbox(Arc::new(sandbox));
    let state = AppState::assemble(config, backends).expect("state assembles");
    let user = state.users.create("root", "not-a-hash").await.unwrap();
    let az = state.authorizer.as_ref().unwrap();
    az.assign_role(&user.id, "admin").await.unwrap();
    let roles = az.roles_of(&user.id).await.unwrap();
    let token = state.issuer.issue(&user.id, roles).unwrap().token;
    (state, runs, token)
}

async fn connect(state: &AppState, token: &str) -> RunningService<RoleClient, ()> {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(server_io);
    let server = McpServer::for_token(state.clone(), token);
    tokio::spawn(mcp_server::mcp::stdio::serve(server, read, write, 1 << 20));
    ().serve(tokio::io::split(client_io))
        .await
        .expect("client connects")
}

async fn call(client: &RunningService<RoleClient, ()>, name: &str, args: &Value) -> CallToolResult {
    let object = args.as_object().cloned().expect("an object");
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(object))
        .await
        .unwrap_or_else(|e| panic!("`{name}` with {args:?}: {e}"))
}

/// The error code of a failed tool result (`None` when it succeeded).
fn error_code(result: &CallToolResult) -> Option<String> {
    if result.is_error != Some(true) {
        return None;
    }
    let content = result.structured_content.as_ref()?;
    content["error"]["code"].as_str().map(str::to_owned)
}

/// Valid arguments for each tool of the catalog. A tool added to the catalog without a sample
/// here fails `every_tool_that_reaches_the_sandbox_is_limited_per_user`.
fn sample(tool: &str) -> Option<Value> {
    Some(match tool {
        "execute_code" => json!({"language": "bash", "code": "echo hi"}),
        "lint_code" => json!({"language": "bash", "code": "echo hi"}),
        "run_tests" => json!({"code": "x = 1", "tests": "def test_x():\n    pass\n"}),
        "generate_code" => json!({"template": "python_function", "parameters": {"name": "f"}}),
        "list_templates" => json!({}),
        "graph_query" => json!({"cypher": "MATCH (n) RETURN n"}),
        "graph_upsert_node" => json!({"label": "Person", "key": "ada"}),
        "graph_upsert_relationship" => json!({
            "from": {"label": "Person", "key": "ada"}, "type": "KNOWS",
            "to": {"label": "Person", "key": "ada"}
        }),
        "graph_delete" => json!({"target": "node", "label": "Person", "key": "nobody"}),
        "audit_query" => json!({"limit": 1}),
        _ => return None,
    })
}

/// Whether a call reached the sandbox: the counting sandbox ran, or (lint and test, which need
/// bubblewrap) it was admitted and then found no bubblewrap sandbox: 503 `unavailable`, which
/// nothing else answers here (every store is in memory).
fn reached_sandbox(result: &CallToolResult, runs_before: usize, runs_after: usize) -> bool {
    runs_after > runs_before || error_code(result).as_deref() == Some("unavailable")
}

#[tokio::test]
async fn every_tool_that_reaches_the_sandbox_is_limited_per_user() {
    let mut limited = Vec::new();
    for tool in mcp_server::ops::catalog::TOOLS {
        // A fresh state per tool: budgets of one call, nothing spent yet.
        let (state, runs, token) = one_call_each().await;
        let client = connect(&state, &token).await;
        let args = sample(tool.name).unwrap_or_else(|| {
            panic!(
                "no sample arguments for the new tool `{}`: add them to sample() in {}",
                tool.name,
                file!()
            )
        });
        let before = runs.load(Ordering::SeqCst);
        let first = call(&client, tool.name, &args).await;
        let after = runs.load(Ordering::SeqCst);
        if !reached_sandbox(&first, before, after) {
            continue;
        }
        let second = call(&client, tool.name, &args).await;
        assert_eq!(
            error_code(&second).as_deref(),
            Some("rate_limited"),
            "`{}` reached the sandbox twice within a budget of one call per minute: {second:?}",
            tool.name
        );
        assert_eq!(runs.load(Ordering::SeqCst), after, "{}", tool.name);
        limited.push(tool.name);
        client.cancel().await.ok();
    }
    limited.sort_unstable();
    assert_eq!(limited, ["execute_code", "lint_code", "run_tests"]);
}

#[tokio::test]
async fn execute_and_test_share_one_budget_and_lint_has_its_own() {
    let (state, runs, token) = one_call_each().await;
    let client = connect(&state, &token).await;
    let execute = sample("execute_code").unwrap();
    assert_eq!(
        error_code(&call(&client, "execute_code", &execute).await),
        None
    );
    // The code-run budget is spent: tests are refused too, without reaching the sandbox.
    let test = call(&client, "run_tests", &sample("run_tests").unwrap()).await;
    assert_eq!(
        error_code(&test).as_deref(),
        Some("rate_limited"),
        "{test:?}"
    );
    let retry = &test.structured_content.as_ref().unwrap()["error"]["retry_after_secs"];
    assert!(
        retry.as_u64().is_some_and(|s| (1..=60).contains(&s)),
        "{retry}"
    );
    // Lint is not charged to code runs (it has its own budget of one).
    let lint = call(&client, "lint_code", &sample("lint_code").unwrap()).await;
    assert_eq!(
        error_code(&lint).as_deref(),
        Some("unavailable"),
        "{lint:?}"
    );
    let lint = call(&client, "lint_code", &sample("lint_code").unwrap()).await;
    assert_eq!(
        error_code(&lint).as_deref(),
        Some("rate_limited"),
        "{lint:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Each refusal is audited with the tool and the limit it hit.
    state.audit.flush(Duration::from_secs(2)).await.unwrap();
    let filter = mcp_audit::AuditFilter::new().event_type(mcp_audit::EventType::RateLimitExceeded);
    let mut refused: Vec<(String, String)> = state
        .audit
        .query(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let limit = e.event.details["limit"].as_str().unwrap_or("").to_owned();
            (e.event.action.unwrap_or_default(), limit)
        })
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            ("lint".to_owned(), "limits.lint_per_minute".to_owned()),
            ("test".to_owned(), "limits.execute_per_minute".to_owned()),
        ]
    );
}
