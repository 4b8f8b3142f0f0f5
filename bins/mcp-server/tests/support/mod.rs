//! Helpers shared by the tests that drive the real `mcp-server` binary.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `add`, an `mcp-server ... users add` command, with `password` on its stdin and asserts
/// that it succeeded.
pub fn add_user(mut add: Command, password: &str) {
    let mut add = add
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("users add starts");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("password written");
    let out = add.wait_with_output().expect("users add runs");
    assert!(
        out.status.success(),
        "users add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A builder of HTTP clients with TLS on ring. reqwest's TLS in this build is rustls without a
/// crypto provider of its own (mcp-gateway configures its own), so a client built without a
/// configured rustls (`reqwest::Client::new()`, rmcp's `from_config`) panics.
pub fn client_builder() -> reqwest::ClientBuilder {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(tls)
}

/// An HTTP client whose requests time out after `timeout`.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    client_builder()
        .timeout(timeout)
        .build()
        .expect("http client")
}

/// An MCP streamable HTTP transport with `config` over a client of [`client_builder`].
pub fn mcp_transport(
    config: rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig,
) -> rmcp::transport::StreamableHttpClientTransport<reqwest::Client> {
    let client = client_builder().build().expect("http client");
    rmcp::transport::StreamableHttpClientTransport::with_client(client, config)
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Polls `base_url`'s `/health` until it answers 2xx, panicking (with `why_exited()`) if the
/// server exits first or it takes longer than `within`.
pub async fn wait_healthy(
    server: &mut Child,
    http: &reqwest::Client,
    base_url: &str,
    within: Duration,
    why_exited: impl Fn() -> String,
) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.try_wait().expect("server status") {
            panic!("server exited with {status}{}", why_exited());
        }
        let health = http.get(format!("{base_url}/health")).send().await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "server did not answer /health");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
