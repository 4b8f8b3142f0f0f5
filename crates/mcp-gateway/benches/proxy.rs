//! What the gateway adds to a `tools/call`: the same call made directly by an rmcp client and
//! through the gateway, to the same kind of upstream on loopback. Goal: under 1 ms added at
//! the median.
//!
//! - `http`: the Python SDK server of the tests (`tests/upstreams/py_upstream.py`) over
//!   streamable HTTP, tool `add`; one server process, a direct client and the gateway both
//!   connected to it.
//! - `stdio`: `@modelcontextprotocol/server-everything` over stdio, tool `echo`; one process for
//!   the direct client, one for the gateway (a stdio server has one client).
//!
//! Run: `cargo bench -p mcp-gateway --bench proxy` (needs `scripts/install-test-deps`).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_gateway::{CallOptions, Gateway, GatewayConfig, HttpConfig, StdioConfig, UpstreamConfig};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;

#[path = "../tests/support/mod.rs"]
mod support;

fn arguments(v: serde_json::Value) -> JsonObject {
    v.as_object().cloned().unwrap_or_default()
}

async fn gateway(upstream: UpstreamConfig) -> Gateway {
    let mut config = GatewayConfig::default();
    config.upstreams.push(upstream);
    let gw = Gateway::builder(config).start().expect("configuration");
    assert!(gw.ready(support::CONNECT).await, "{:?}", gw.health());
    gw
}

fn proxy(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tools_call");
    group.measurement_time(Duration::from_secs(5));

    // Streamable HTTP, one Python SDK server.
    let server = support::PyHttp::start(&[]);
    let add = arguments(json!({"a": 2, "b": 3}));
    let direct = rt.block_on(async {
        ().serve(StreamableHttpClientTransport::from_uri(server.url()))
            .await
            .expect("direct client")
    });
    group.bench_function("http/direct", |b| {
        b.to_async(&rt).iter(|| async {
            let params = CallToolRequestParams::new("add").with_arguments(add.clone());
            direct.call_tool(params).await.expect("add")
        })
    });
    let gw = rt.block_on(gateway(UpstreamConfig::http(
        "py",
        HttpConfig::new(server.url()),
    )));
    group.bench_function("http/gateway", |b| {
        b.to_async(&rt).iter(|| async {
            gw.call_tool("py__add", Some(add.clone()), CallOptions::default())
                .await
                .expect("add")
        })
    });
    rt.block_on(gw.shutdown());

    // Stdio, server-everything.
    let node = support::which("node");
    let script = support::npm_server("server-everything");
    let echo = arguments(json!({"message": "hi"}));
    let direct = rt.block_on(async {
        let mut child = tokio::process::Command::new(&node)
            .arg(&script)
            .arg("stdio")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let io = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
        (().serve(io).await.expect("direct stdio client"), child)
    });
    group.bench_function("stdio/direct", |b| {
        b.to_async(&rt).iter(|| async {
            let params = CallToolRequestParams::new("echo").with_arguments(echo.clone());
            direct.0.call_tool(params).await.expect("echo")
        })
    });
    let mut stdio = StdioConfig::new(&node, [script.display().to_string(), "stdio".into()]);
    stdio.env.insert("PATH".into(), "/usr/bin:/bin".into());
    let gw = rt.block_on(gateway(UpstreamConfig::stdio("every", stdio)));
    group.bench_function("stdio/gateway", |b| {
        b.to_async(&rt).iter(|| async {
            gw.call_tool("every__echo", Some(echo.clone()), CallOptions::default())
                .await
                .expect("echo")
        })
    });
    rt.block_on(gw.shutdown());
    group.finish();
    drop(direct);
}

criterion_group!(benches, proxy);
criterion_main!(benches);
