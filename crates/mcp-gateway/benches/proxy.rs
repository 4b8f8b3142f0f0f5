//! What the gateway adds to a `tools/call`: the same call made directly by an rmcp client and
//! through the gateway, to the same kind of upstream on loopback. Goal: under 1 ms added at
//! the median.
//!
//! - `http`: an rmcp server in this process (tool `add`) over streamable HTTP on loopback (hyper,
//!   `TCP_NODELAY`); a direct client and the gateway both connected to it. (The Python SDK
//!   server of the tests ends each SSE response stream about 45 ms after its answer, which
//!   hides what the proxying costs; see docs/performance.md.)
//! - `stdio`: `@modelcontextprotocol/server-everything` over stdio, tool `echo`; one process for
//!   the direct client, one for the gateway (a stdio server has one client).
//!
//! Run: `cargo bench -p mcp-gateway --bench proxy` (needs `scripts/install-test-deps`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_gateway::{CallOptions, Gateway, GatewayConfig, HttpConfig, StdioConfig, UpstreamConfig};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
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

/// The upstream: one tool, `add`.
#[derive(Clone)]
struct Adder;

impl ServerHandler for Adder {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _rctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}});
        let schema = Arc::new(schema.as_object().cloned().unwrap_or_default());
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "add",
            "Adds two integers.",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _rctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let n = |k: &str| args.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0);
        let sum = n("a") + n("b");
        Ok(CallToolResult::success(vec![ContentBlock::text(sum.to_string())]).into())
    }
}

/// Serves [`Adder`] over streamable HTTP on a loopback port; returns the endpoint URL.
async fn rust_upstream() -> String {
    let service = StreamableHttpService::new(
        || Ok(Adder),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let _ = tcp.set_nodelay(true);
            let service = service.clone();
            tokio::spawn(async move {
                let serve = hyper::service::service_fn(move |req| {
                    let service = service.clone();
                    async move { Ok::<_, Infallible>(service.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), serve)
                    .await;
            });
        }
    });
    format!("http://{addr}/mcp")
}

fn proxy(c: &mut Criterion) {
    // The direct client is reqwest's default one, whose rustls needs a process-wide provider
    // in this build (the gateway configures its own).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tools_call");
    group.measurement_time(Duration::from_secs(5));

    // Streamable HTTP, one rmcp server in this process.
    let url = rt.block_on(rust_upstream());
    let add = arguments(json!({"a": 2, "b": 3}));
    let direct = rt.block_on(async {
        ().serve(StreamableHttpClientTransport::from_uri(url.clone()))
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
        HttpConfig::new(url.clone()),
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
