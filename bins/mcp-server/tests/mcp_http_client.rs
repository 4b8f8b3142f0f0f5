//! rmcp's own client against the real binary over streamable HTTP (`/mcp` on a loopback port):
//! the handshake, per-role tool lists, tool calls with progress, a refusal that is audited,
//! resources, prompts, and a connection without a token.
//!
//! Each test starts `mcp-server serve` on a free port with a fresh data dir (SQLite), adds its
//! users with `mcp-server users add`, and gets their tokens from `POST /auth/token`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, GetPromptRequestParams, JsonObject,
    ProgressNotificationParam, ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::{ClientInitializeError, NotificationContext, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support;

const PASSWORD: &str = "http-client-test-password";
/// Upper bound of any single step, so a hung server fails the test instead of stalling it.
const STEP: Duration = Duration::from_secs(60);
const PERMISSION_DENIED: i32 = -32003;

/// `mcp-server serve` on a free loopback port with its own data dir; killed on drop.
struct Server {
    child: Child,
    url: String,
    data_dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Server {
    fn bin() -> Command {
        Command::new(env!("CARGO_BIN_EXE_mcp-server"))
    }

    fn log_path(dir: &std::path::Path) -> PathBuf {
        dir.join("server.log")
    }

    /// Adds `users` (name, role) to a fresh data dir, then starts the server and waits for
    /// `/health`.
    async fn start(users: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        for (name, role) in users {
            let mut add = Self::bin();
            add.args(["users", "add", name, "--role", role, "--init"])
                .env("MCP_DATA_DIR", data_dir.path())
                .env("MCP_LOG_LEVEL", "warn");
            support::add_user(add, PASSWORD);
        }
        let port = support::free_port();
        let log = std::fs::File::create(Self::log_path(data_dir.path())).expect("log file");
        let child = Self::bin()
            .args(["serve", "--port", &port.to_string()])
            .env("MCP_DATA_DIR", data_dir.path())
            .env("MCP_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("server starts");
        let http = support::http_client(STEP);
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir,
            http,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().expect("server status") {
                panic!("server exited with {status}: {}", self.log_tail());
            }
            let health = self
                .http
                .get(format!("{}/health", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not answer /health: {}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(Self::log_path(self.data_dir.path())).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    async fn token(&self, name: &str) -> String {
        let res = self
            .http
            .post(format!("{}/auth/token", self.url))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .expect("POST /auth/token");
        assert_eq!(res.status(), 200, "token of {name}");
        let body: Value = res.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// `GET /api/v1/audit?event_type=…` as the user of `token`.
    async fn audit(&self, token: &str, event_type: &str) -> Vec<Value> {
        let res = self
            .http
            .get(format!(
                "{}/api/v1/audit?event_type={event_type}&limit=100",
                self.url
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/v1/audit");
        assert_eq!(res.status(), 200);
        res.json().await.expect("audit JSON")
    }

    /// Whether `/ready` reports the sandbox usable (bubblewrap and user namespaces).
    async fn sandbox_ready(&self) -> bool {
        let res = self
            .http
            .get(format!("{}/ready", self.url))
            .send()
            .await
            .expect("GET /ready");
        let body: Value = res.json().await.expect("readiness JSON");
        body["checks"]["sandbox"] == "ok"
    }

    /// rmcp's streamable-HTTP client on `/mcp`, as the user of `token` (none: no header).
    async fn connect(&self, token: Option<&str>) -> Result<Client, ClientInitializeError> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.url));
        if let Some(token) = token {
            config = config.auth_header(token);
        }
        let transport = support::mcp_transport(config);
        let recorder = Recorder::default();
        let service = tokio::time::timeout(STEP, recorder.clone().serve(transport))
            .await
            .expect("the handshake finishes in time")?;
        Ok(Client { service, recorder })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client handler that records progress notifications.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProgressNotificationParam>>>);

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.0.lock().expect("recorder lock").push(params);
    }
}

struct Client {
    service: RunningService<RoleClient, Recorder>,
    recorder: Recorder,
}

impl Client {
    async fn tool_names(&self) -> Vec<String> {
        let tools = tokio::time::timeout(STEP, self.service.list_all_tools())
            .await
            .expect("tools/list in time")
            .expect("tools/list");
        let mut names: Vec<String> = tools.into_iter().map(|t| t.name.to_string()).collect();
        names.sort();
        names
    }

    async fn call(
        &self,
        name: &'static str,
        arguments: Value,
    ) -> Result<CallToolResult, ServiceError> {
        let params = CallToolRequestParams::new(name).with_arguments(object(arguments));
        tokio::time::timeout(STEP, self.service.call_tool(params))
            .await
            .expect("tools/call in time")
    }

    async fn close(self) {
        let _ = tokio::time::timeout(STEP, self.service.cancel()).await;
    }
}

fn object(value: Value) -> JsonObject {
    value.as_object().cloned().expect("an object")
}

fn text_of(contents: &ResourceContents) -> &str {
    match contents {
        ResourceContents::TextResourceContents { text, .. } => text,
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test]
async fn without_a_token_the_client_is_refused_with_401_before_any_session() {
    let server = Server::start(&[]).await;
    let err = match server.connect(None).await {
        Ok(_) => panic!("connected without a token"),
        Err(err) => err,
    };
    let ClientInitializeError::TransportError { error, .. } = &err else {
        panic!("not a transport error: {err:?}")
    };
    let http_error = error
        .error
        .downcast_ref::<StreamableHttpError<reqwest::Error>>()
        .unwrap_or_else(|| panic!("not an HTTP transport error: {err:?}"));
    let StreamableHttpError::AuthRequired(challenge) = http_error else {
        panic!("not a 401: {err:?}")
    };
    // The OAuth resource server's challenge: where the client finds how to get a token.
    assert_eq!(
        challenge.www_authenticate_header,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            server.url
        )
    );
    // The same request by hand shows the status itself.
    let res = server
        .http
        .post(format!("{}/mcp", server.url))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
        .send()
        .await
        .expect("POST /mcp");
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn an_admin_initializes_and_calls_templates_generate_and_execute_with_progress() {
    let server = Server::start(&[("root", "admin")]).await;
    let token = server.token("root").await;
    let client = server.connect(Some(&token)).await.expect("admin connects");
    let info = client
        .service
        .peer_info()
        .expect("server info after the handshake");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("mcp-server")
    );
    assert!(info.capabilities.tools.is_some());
    let tools = client.tool_names().await;
    assert_eq!(tools.len(), 10, "{tools:?}");
    for name in [
        "execute_code",
        "generate_code",
        "list_templates",
        "audit_query",
    ] {
        assert!(tools.iter().any(|t| t == name), "{name} in {tools:?}");
    }

    let templates = client
        .call("list_templates", json!({}))
        .await
        .expect("list_templates");
    assert_eq!(templates.is_error, Some(false));
    let templates = templates.structured_content.expect("structured templates");
    assert!(
        templates["templates"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "python_function")),
        "{templates}"
    );
    let generated = client
        .call(
            "generate_code",
            json!({"template": "python_function", "parameters": {"name": "greet"}}),
        )
        .await
        .expect("generate_code");
    assert_eq!(generated.is_error, Some(false));
    let generated = generated.structured_content.expect("structured code");
    assert!(generated.to_string().contains("def greet"), "{generated}");

    // rmcp's client puts a progress token of its own on every request; the server's progress
    // notifications come back on the POST's SSE stream while the code runs.
    let sandbox_ready = server.sandbox_ready().await;
    let result = client
        .call(
            "execute_code",
            json!({"language": "python", "code": "import time\ntime.sleep(1.2)\nprint('done')"}),
        )
        .await
        .expect("execute_code");
    let out = result
        .structured_content
        .clone()
        .expect("structured output");
    if sandbox_ready {
        assert_eq!(result.is_error, Some(false), "{out}");
        assert_eq!(out["stdout"], "done\n", "{out}");
        assert_eq!(out["success"], true, "{out}");
        let seen = client.recorder.0.lock().expect("recorder lock").clone();
        let messages: Vec<String> = seen
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
        assert!(
            seen.windows(2).all(|w| w[0].progress <= w[1].progress),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .all(|p| p.progress_token == seen[0].progress_token),
            "one token per call: {seen:?}"
        );
    } else {
        // No usable sandbox on this machine: a tool error, not a protocol error.
        eprintln!("sandbox not ready: execute_code output and progress not checked");
        assert_eq!(result.is_error, Some(true), "{out}");
        assert_eq!(out["error"]["code"], "unavailable", "{out}");
    }
    client.close().await;
}

#[tokio::test]
async fn a_viewer_sees_fewer_tools_and_a_refused_call_is_an_mcp_error_audited_as_authz_denied() {
    let server = Server::start(&[("root", "admin"), ("vera", "viewer")]).await;
    let admin_token = server.token("root").await;
    let viewer_token = server.token("vera").await;
    let admin = server
        .connect(Some(&admin_token))
        .await
        .expect("admin connects");
    let admin_tools = admin.tool_names().await;
    admin.close().await;
    let viewer = server
        .connect(Some(&viewer_token))
        .await
        .expect("viewer connects");
    let viewer_tools = viewer.tool_names().await;
    assert_eq!(viewer_tools, ["graph_query", "lint_code"]);
    assert!(viewer_tools.len() < admin_tools.len(), "{admin_tools:?}");

    let err = viewer
        .call(
            "execute_code",
            json!({"language": "python", "code": "print(1)"}),
        )
        .await
        .expect_err("a viewer may not execute code");
    let ServiceError::McpError(err) = err else {
        panic!("not a JSON-RPC error: {err:?}")
    };
    assert_eq!(err.code.0, PERMISSION_DENIED, "{err:?}");
    assert!(err.message.contains("tools:execute"), "{err:?}");
    assert_eq!(err.data, Some(json!({"permission": "tools:execute"})));
    // The session goes on after the refusal.
    let rows = viewer
        .call(
            "graph_query",
            json!({"cypher": "MATCH (n:Person) RETURN n.name AS name"}),
        )
        .await
        .expect("graph_query after a refusal");
    assert_eq!(rows.is_error, Some(false), "{rows:?}");
    viewer.close().await;

    let events = server.audit(&admin_token, "authz_denied").await;
    let denied: Vec<&Value> = events
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["resource"] == "mcp:tools/call:execute_code")
        .collect();
    assert_eq!(denied.len(), 1, "{events:?}");
    assert_eq!(denied[0]["action"], "tools:execute");
    assert_eq!(denied[0]["success"], false);
    assert_eq!(denied[0]["event_type"], "authz_denied");
}

#[tokio::test]
async fn resources_are_read_and_prompts_are_rendered_over_http() {
    let server = Server::start(&[("vera", "viewer")]).await;
    let token = server.token("vera").await;
    let client = server.connect(Some(&token)).await.expect("viewer connects");
    let mut uris: Vec<String> = tokio::time::timeout(STEP, client.service.list_all_resources())
        .await
        .expect("resources/list in time")
        .expect("resources/list")
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    uris.sort();
    assert_eq!(uris, ["mcp-server://graph/stats", "mcp-server://me"]);
    let me = tokio::time::timeout(
        STEP,
        client
            .service
            .read_resource(ReadResourceRequestParams::new("mcp-server://me")),
    )
    .await
    .expect("resources/read in time")
    .expect("resources/read");
    let me: Value = serde_json::from_str(text_of(&me.contents[0])).expect("JSON resource");
    assert_eq!(me["username"], "vera");
    assert_eq!(me["roles"], json!(["viewer"]));
    let refused = tokio::time::timeout(
        STEP,
        client
            .service
            .read_resource(ReadResourceRequestParams::new("mcp-server://templates")),
    )
    .await
    .expect("resources/read in time")
    .expect_err("a viewer may not read templates");
    assert!(
        matches!(&refused, ServiceError::McpError(e) if e.code.0 == PERMISSION_DENIED),
        "{refused:?}"
    );

    let prompt = tokio::time::timeout(
        STEP,
        client.service.get_prompt(
            GetPromptRequestParams::new("graph_exploration")
                .with_arguments(object(json!({"topic": "people"}))),
        ),
    )
    .await
    .expect("prompts/get in time")
    .expect("prompts/get");
    assert!(!prompt.messages.is_empty());
    assert!(
        format!("{:?}", prompt.messages[0]).contains("people"),
        "{prompt:?}"
    );
    client.close().await;
}
