//! Cancellation with rmcp's own client against the real binary and the real sandbox: a call of
//! `execute_code` running `sleep 30.<n>` is cancelled once its process exists
//! (`RequestHandle::cancel`, which sends `notifications/cancelled` or, on 2026-07-28 HTTP,
//! closes the request's stream), over streamable HTTP (`serve`) and stdio (`mcp-stdio`).
//!
//! The server has one sandbox slot, so a run still going would hold the next call up for the rest
//! of its 30 s. Each test checks that the `sleep` process is gone and that the next call runs,
//! both well before the 30 s (bounds, not speed goals), and that the run is audited as
//! `cancelled`. Without a usable sandbox on the machine the tests say so and stop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ClientRequest, JsonObject, Request, ServerResult};
use rmcp::service::{PeerRequestOptions, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support;

const PASSWORD: &str = "cancel-test-password";
/// Upper bound of a step that has no reason to be slow (start-up, a handshake).
const STEP: Duration = Duration::from_secs(60);
/// "Well before the 30 s the run would take".
const WELL_BEFORE: Duration = Duration::from_secs(15);

/// `mcp-server serve` with one sandbox slot, an admin, on a free port; killed on drop.
struct Server {
    child: Child,
    url: String,
    data_dir: tempfile::TempDir,
    http: reqwest::Client,
}

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-server"));
    cmd.env("MCP_SANDBOX__PARALLELISM", "1")
        .env("MCP_LOG_LEVEL", "warn");
    cmd
}

impl Server {
    async fn start() -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut add = bin();
        add.args(["users", "add", "admin", "--role", "admin", "--init"])
            .env("MCP_DATA_DIR", data_dir.path());
        support::add_user(add, PASSWORD);
        let port = support::free_port();
        let child = bin()
            .args(["serve", "--port", &port.to_string()])
            .env("MCP_DATA_DIR", data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let http = support::http_client(STEP);
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir,
            http,
        };
        support::wait_healthy(
            &mut server.child,
            &server.http,
            &server.url,
            STEP,
            String::new,
        )
        .await;
        server
    }

    async fn token(&self) -> String {
        let res = self
            .http
            .post(format!("{}/auth/token", self.url))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .expect("POST /auth/token");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("token JSON");
        body["access_token"].as_str().expect("token").to_owned()
    }

    async fn sandbox_ready(&self) -> bool {
        let res = self.http.get(format!("{}/ready", self.url)).send().await;
        let body: Value = res.expect("GET /ready").json().await.expect("JSON");
        body["checks"]["sandbox"] == "ok"
    }

    /// The `code_execution` events of `code` whose outcome is `cancelled`.
    async fn cancelled_runs(&self, token: &str, code: &str) -> Vec<Value> {
        let res = self
            .http
            .get(format!(
                "{}/api/v1/audit?event_type=code_execution&limit=50",
                self.url
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/v1/audit");
        let events: Vec<Value> = res.json().await.expect("audit JSON");
        let sha = mcp_server::ops::tools::sha256_hex(code);
        events
            .into_iter()
            .map(|e| e.get("event").cloned().unwrap_or(e))
            .filter(|e| {
                e["details"]["code_sha256"] == sha.as_str()
                    && e["details"]["outcome"] == "cancelled"
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a `sleep <arg>` process exists on this host (the sandbox's PID namespace is inside
/// the host's, so its processes are listed in /proc).
fn sleeping(arg: &str) -> bool {
    let want = format!("sleep\0{arg}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).ends_with(&want))
    })
}

async fn wait_until(within: Duration, predicate: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if predicate() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    predicate()
}

fn call_request(arguments: Value) -> ClientRequest {
    let arguments: JsonObject = arguments.as_object().cloned().expect("an object");
    ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new("execute_code").with_arguments(arguments),
    ))
}

/// Starts `sleep 30.<n>`, cancels it once its process exists, and checks that the process goes,
/// that the next call (same client, one slot) answers, and that the run is audited.
async fn cancel_a_sleep_run(client: &RunningService<RoleClient, ()>, server: &Server, token: &str) {
    let arg = unique_sleep_arg();
    let code = format!("sleep {arg}\necho never\n");
    let handle = client
        .peer()
        .send_cancellable_request(
            call_request(json!({
                "language": "bash", "code": code, "limits": {"wall_time_ms": 45000}
            })),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("tools/call sent");
    assert!(
        wait_until(STEP, || sleeping(&arg)).await,
        "the run did not start"
    );
    let cancelled = Instant::now();
    handle
        .cancel(Some("test".into()))
        .await
        .expect("cancellation sent");
    assert!(
        wait_until(WELL_BEFORE, || !sleeping(&arg)).await,
        "the sandbox process outlived the cancellation"
    );
    let next = tokio::time::timeout(
        WELL_BEFORE,
        client.peer().send_request(call_request(
            json!({"language": "bash", "code": "echo next"}),
        )),
    )
    .await
    .expect("the next call ran well before the cancelled run would have ended")
    .expect("the next call answers");
    let ServerResult::CallToolResult(next) = next else {
        panic!("not a tool result: {next:?}");
    };
    let out = next.structured_content.expect("structured content");
    assert_eq!(out["stdout"], "next\n", "{out}");
    assert!(cancelled.elapsed() < WELL_BEFORE);
    let audited = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let runs = server.cancelled_runs(token, &code).await;
            if !runs.is_empty() || Instant::now() > deadline {
                break runs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["success"], false);
}

/// `30.<pid><nanoseconds><counter>`: 30 s, as an argument no other process has.
fn unique_sleep_arg() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("30.{}{nanos:09}{n}", std::process::id())
}

#[tokio::test]
async fn a_call_cancelled_over_http_kills_its_sandbox_run_and_frees_the_slot() {
    let server = Server::start().await;
    if !server.sandbox_ready().await {
        eprintln!("sandbox not ready on this machine: cancellation not checked");
        return;
    }
    let token = server.token().await;
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", server.url))
        .auth_header(token.clone());
    let client = tokio::time::timeout(STEP, ().serve(support::mcp_transport(config)))
        .await
        .expect("handshake in time")
        .expect("client connects");
    cancel_a_sleep_run(&client, &server, &token).await;
    let _ = client.cancel().await;
}

#[tokio::test]
async fn a_call_cancelled_over_stdio_kills_its_sandbox_run_and_frees_the_slot() {
    let server = Server::start().await;
    if !server.sandbox_ready().await {
        eprintln!("sandbox not ready on this machine: cancellation not checked");
        return;
    }
    let token = server.token().await;
    let mut stdio = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-server"))
        .arg("mcp-stdio")
        .env("MCP_DATA_DIR", server.data_dir.path())
        .env("MCP_SANDBOX__PARALLELISM", "1")
        .env("MCP_LOG_LEVEL", "warn")
        .env("MCP_TOKEN", &token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mcp-stdio starts");
    let io = (
        stdio.stdout.take().expect("stdout"),
        stdio.stdin.take().expect("stdin"),
    );
    let client = tokio::time::timeout(STEP, ().serve(io))
        .await
        .expect("handshake in time")
        .expect("client connects");
    cancel_a_sleep_run(&client, &server, &token).await;
    let _ = client.cancel().await;
    let _ = stdio.wait().await;
}
