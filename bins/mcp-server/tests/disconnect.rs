//! A client that closes its connection right after sending a write cannot get the write stored
//! without its audit event, against the real binary over a socket (SQLite stores in a temp dir).
//!
//! The server drops the handler of a request whose client went away (HTTP/1 connections do not
//! allow half-closure, so MCP clients can cancel a call by closing it). Each test sends many
//! writes over raw TCP, closing each connection just after the request (with a small, varying
//! pause, so some land before, some during and some after the store write), then checks that
//! every write that was stored has its audit event. Without `completion::run_to_completion`
//! the REST tests fail on most runs (a few of ~130 stored graph upserts or role assignments
//! unaudited). The MCP tests (a 2025-06-18 session over HTTP whose tool-call POSTs are hung up
//! on, and an `mcp-stdio` client that sends calls and closes stdin) passed before too, as rmcp
//! runs session calls on tasks of its own; they guard those paths.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support;

const PASSWORD: &str = "disconnect-test-password";
/// Upper bound of a step that has no reason to be slow (start-up, one request).
const STEP: Duration = Duration::from_secs(60);
/// Writes sent per test.
const ROUNDS: u64 = 150;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-server"));
    cmd.env("MCP_SANDBOX__PARALLELISM", "1")
        .env("MCP_SANDBOX__STANDBY", "false")
        .env("MCP_LOG_LEVEL", "warn");
    cmd
}

/// `mcp-server serve` on SQLite stores, with an admin and the users `user0`…`user{n-1}`
/// (viewers), on a free port; killed on drop.
struct Server {
    child: Child,
    addr: String,
    data_dir: tempfile::TempDir,
    http: reqwest::Client,
}

fn add_user(data_dir: &Path, config: &Path, name: &str, role: &str) {
    let mut add = bin();
    add.arg("--config")
        .arg(config)
        .args(["users", "add", name, "--role", role, "--init"])
        .env("MCP_DATA_DIR", data_dir);
    support::add_user(add, PASSWORD);
}

impl Server {
    async fn start(users: usize) -> Self {
        Self::start_with(users, "").await
    }

    /// [`Self::start`] with `config` as the config file.
    async fn start_with(users: usize, config: &str) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config_file = data_dir.path().join("config.toml");
        std::fs::write(&config_file, config).expect("config written");
        add_user(data_dir.path(), &config_file, "admin", "admin");
        for i in 0..users {
            add_user(data_dir.path(), &config_file, &format!("user{i}"), "viewer");
        }
        let port = support::free_port();
        let child = bin()
            .arg("--config")
            .arg(&config_file)
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
            addr: format!("127.0.0.1:{port}"),
            data_dir,
            http,
        };
        let url = server.url("");
        support::wait_healthy(&mut server.child, &server.http, &url, STEP, String::new).await;
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn token(&self) -> String {
        let res = self
            .http
            .post(self.url("/auth/token"))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .expect("POST /auth/token");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("token JSON");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Sends `method path` with a JSON body on a fresh connection and closes it after `pause`,
    /// without reading the answer.
    async fn send_and_hang_up(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: &Value,
        pause: Duration,
    ) {
        self.send_with_headers_and_hang_up(token, method, path, "", body, pause)
            .await;
    }

    /// [`Self::send_and_hang_up`] with `headers` (each line ending in `\r\n`) added.
    async fn send_with_headers_and_hang_up(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &str,
        body: &Value,
        pause: Duration,
    ) {
        self.send_and_hang_up_when(
            token,
            method,
            path,
            headers,
            body,
            tokio::time::sleep(pause),
        )
        .await;
    }

    /// Sends a `graph_upsert_node` call of the node `label`/`key` (a REST or MCP request, with
    /// `headers`) and hangs up as soon as the node is stored, before reading the answer: on a
    /// machine however loaded, at least this write of a client that hung up is stored.
    async fn upsert_and_hang_up_once_stored(
        &self,
        token: &str,
        path: &str,
        headers: &str,
        body: &Value,
        (label, key): (&str, &str),
    ) {
        let stored = async {
            let deadline = tokio::time::Instant::now() + STEP;
            while !self
                .stored_keys(token, label)
                .await
                .iter()
                .any(|k| k == key)
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{label} {key} was not stored within {STEP:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        self.send_and_hang_up_when(token, "POST", path, headers, body, stored)
            .await;
    }

    /// Sends `method path` on a fresh connection and closes it once `hang_up` completes,
    /// without reading the answer.
    async fn send_and_hang_up_when(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &str,
        body: &Value,
        hang_up: impl std::future::Future<Output = ()>,
    ) {
        let body = body.to_string();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n{body}",
            self.addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        hang_up.await;
        drop(stream);
    }

    /// The stored audit events of `event_type` (the newest 1000), as their `event` objects.
    async fn audit_events(&self, token: &str, event_type: &str) -> Vec<Value> {
        let res = self
            .http
            .get(self.url(&format!("/api/v1/audit?event_type={event_type}&limit=1000")))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/v1/audit");
        assert_eq!(res.status(), 200);
        let events: Vec<Value> = res.json().await.expect("audit JSON");
        events
            .into_iter()
            .map(|e| e.get("event").cloned().unwrap_or(e))
            .collect()
    }

    async fn json(&self, token: &str, method: reqwest::Method, path: &str, body: &Value) -> Value {
        let res = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.expect("JSON answer")
    }
}

impl Server {
    /// The keys of the stored nodes of `label`.
    async fn stored_keys(&self, token: &str, label: &str) -> Vec<String> {
        let found = self
            .json(
                token,
                reqwest::Method::POST,
                "/api/v1/graph/query",
                &json!({"cypher": format!("MATCH (n:{label}) RETURN n"), "limit": 10000}),
            )
            .await;
        found["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| row[0]["node"]["key"].as_str().expect("node key").to_owned())
            .collect()
    }

    /// Checks that every node of `label` has its `upsert_node` audit event, and that there
    /// are some (see [`every_stored_write_is_audited`]).
    async fn every_stored_node_is_audited(&self, token: &str, label: &str) {
        every_stored_write_is_audited(&format!("{label} nodes"), || async {
            let stored = self.stored_keys(token, label).await;
            let audited = self
                .audit_events(token, "graph_upsert")
                .await
                .iter()
                .filter(|e| e["action"] == "upsert_node")
                .filter(|e| e["details"]["target"]["label"] == label)
                .filter_map(|e| e["details"]["target"]["key"].as_str().map(str::to_owned))
                .collect();
            (stored, audited)
        })
        .await;
    }
}

/// Checks that some writes were stored and that each has its audit event; `look` returns the
/// stored writes and the audited ones. Work that outlives its connection may still be under
/// way: it looks again every 300 ms until the same writes are seen twice in a row, each with
/// its event, or until [`STEP`] has passed (then the check fails on what was seen last).
async fn every_stored_write_is_audited<F, Fut>(what: &str, mut look: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (Vec<String>, BTreeSet<String>)>,
{
    let deadline = tokio::time::Instant::now() + STEP;
    let mut previous: Option<Vec<String>> = None;
    loop {
        let (mut stored, audited) = look().await;
        stored.sort_unstable();
        let unaudited: Vec<&String> = stored.iter().filter(|k| !audited.contains(*k)).collect();
        let settled =
            !stored.is_empty() && unaudited.is_empty() && previous.as_ref() == Some(&stored);
        if settled || tokio::time::Instant::now() >= deadline {
            eprintln!("{what}: {} stored, {} audited", stored.len(), audited.len());
            assert!(
                !stored.is_empty(),
                "no {what} stored: the test cannot show anything"
            );
            assert!(
                unaudited.is_empty(),
                "{} of {} stored {what} have no audit event: {unaudited:?}",
                unaudited.len(),
                stored.len()
            );
            return;
        }
        previous = Some(stored);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pause before hanging up that sweeps 0–2.9 ms in 0.1 ms steps.
fn pause_of(round: u64) -> Duration {
    Duration::from_micros((round % 30) * 100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_upsert_whose_client_hangs_up_is_stored_only_with_its_audit_event() {
    let server = Server::start(0).await;
    let token = server.token().await;
    for round in 0..ROUNDS {
        let body =
            json!({"label": "Probe", "key": format!("k{round}"), "properties": {"round": round}});
        server
            .send_and_hang_up(
                &token,
                "POST",
                "/api/v1/graph/nodes",
                &body,
                pause_of(round),
            )
            .await;
    }
    let body = json!({"label": "Probe", "key": "last"});
    server
        .upsert_and_hang_up_once_stored(&token, "/api/v1/graph/nodes", "", &body, ("Probe", "last"))
        .await;
    server.every_stored_node_is_audited(&token, "Probe").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_assignment_whose_client_hangs_up_is_stored_only_with_its_audit_event() {
    // One custom role per round, all given to one user: the roles the user ends up with are
    // the assignments that were stored.
    let roles: String = (0..ROUNDS)
        .map(|i| format!("[roles.r{i}]\ninherits = [\"viewer\"]\n"))
        .collect();
    let server = Server::start_with(1, &roles).await;
    let token = server.token().await;
    // All at once, hanging up 0 to 149 ms later: the writes queue up behind each other, so
    // many clients hang up while their write is still waiting to be stored.
    let bodies: Vec<Value> = (0..ROUNDS)
        .map(|round| json!({"role": format!("r{round}")}))
        .collect();
    futures::future::join_all(bodies.iter().zip(0..).map(|(body, round)| {
        server.send_and_hang_up(
            &token,
            "POST",
            "/api/v1/users/user0/roles",
            body,
            Duration::from_millis(round),
        )
    }))
    .await;
    every_stored_write_is_audited("role assignments to user0", || async {
        let users = server
            .json(&token, reqwest::Method::GET, "/api/v1/users", &json!({}))
            .await;
        let user = users
            .as_array()
            .expect("users")
            .iter()
            .find(|u| u["username"] == "user0")
            .expect("user0 listed");
        let stored = user["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| r.starts_with('r'))
            .map(str::to_owned)
            .collect();
        let audited = server
            .audit_events(&token, "data_write")
            .await
            .iter()
            .filter(|e| e["details"]["target_user"] == "user0")
            .filter_map(|e| {
                e["action"]
                    .as_str()?
                    .strip_prefix("assign_role:")
                    .map(str::to_owned)
            })
            .collect();
        (stored, audited)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_upserts_of_an_mcp_stdio_client_that_closes_stdin_are_stored_only_with_their_audit_events()
 {
    let server = Server::start(0).await;
    let token = server.token().await;
    let mut stdio = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-server"))
        .arg("mcp-stdio")
        .env("MCP_DATA_DIR", server.data_dir.path())
        .env("MCP_SANDBOX__PARALLELISM", "1")
        .env("MCP_SANDBOX__STANDBY", "false")
        .env("MCP_LOG_LEVEL", "warn")
        .env("MCP_TOKEN", &token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mcp-stdio starts");
    let mut lines = vec![
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "hang-up", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ];
    for round in 0..ROUNDS {
        lines.push(
            json!({"jsonrpc": "2.0", "id": round + 1, "method": "tools/call", "params": {
            "name": "graph_upsert_node",
            "arguments": {"label": "StdioProbe", "key": format!("s{round}")}}}),
        );
    }
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut stdin = stdio.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("calls sent");
    // The client leaves with its calls under way: stdin ends and nothing more is read.
    drop(stdin);
    let mut stdout = stdio.stdout.take().expect("stdout");
    let drain = tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink).await;
    });
    let status = tokio::time::timeout(STEP, stdio.wait())
        .await
        .expect("mcp-stdio exits when stdin ends")
        .expect("exit status");
    let _ = drain.await;
    eprintln!("mcp-stdio exited with {status}");
    server
        .every_stored_node_is_audited(&token, "StdioProbe")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_upserts_of_an_mcp_http_client_that_hangs_up_are_stored_only_with_their_audit_events()
{
    let server = Server::start(0).await;
    let token = server.token().await;
    let version = "2025-06-18";
    let init = server
        .http
        .post(server.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "hang-up", "version": "1"}}}),
        )
        .send()
        .await
        .expect("initialize");
    assert!(init.status().is_success(), "{}", init.status());
    let session = init
        .headers()
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .expect("ASCII")
        .to_owned();
    let _ = init.bytes().await;
    let initialized = server
        .http
        .post(server.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", version)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .expect("initialized");
    assert!(
        initialized.status().is_success(),
        "{}",
        initialized.status()
    );
    let headers = format!(
        "Accept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\n\
         Mcp-Protocol-Version: {version}\r\n"
    );
    let bodies: Vec<Value> = (0..ROUNDS)
        .map(|round| {
            json!({"jsonrpc": "2.0", "id": round + 1, "method": "tools/call", "params": {
                "name": "graph_upsert_node",
                "arguments": {"label": "HttpProbe", "key": format!("h{round}")}}})
        })
        .collect();
    futures::future::join_all(bodies.iter().zip(0..).map(|(body, round)| {
        server.send_with_headers_and_hang_up(
            &token,
            "POST",
            "/mcp",
            &headers,
            body,
            Duration::from_millis(round),
        )
    }))
    .await;
    let last = json!({"jsonrpc": "2.0", "id": ROUNDS + 1, "method": "tools/call", "params": {
        "name": "graph_upsert_node", "arguments": {"label": "HttpProbe", "key": "last"}}});
    server
        .upsert_and_hang_up_once_stored(&token, "/mcp", &headers, &last, ("HttpProbe", "last"))
        .await;
    server
        .every_stored_node_is_audited(&token, "HttpProbe")
        .await;
}
