//! `mcp-server serve`: the application ([`app`]), the HTTP server's start and its orderly end.
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use anyhow::Context;

use crate::config::Config;
use crate::state::AppState;
use crate::{commands, completion, error, mcp, middleware, oauth, routes};

/// The application: routes from the table, the request middleware, JSON/query error mapping.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.config.http.body_limit_bytes;
    App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(move |err, _| error::json_error(err, limit).into()),
        )
        .app_data(web::PayloadConfig::default().limit(limit))
        .app_data(
            web::QueryConfig::default().error_handler(|err, _| error::query_error(err).into()),
        )
        .app_data(web::PathConfig::default().error_handler(|err, _| error::path_error(err).into()))
        .configure(routes::configure)
        .configure(mcp::http::configure)
        .default_service(web::to(routes::not_found))
        .wrap(actix_web::middleware::from_fn(oauth::challenge))
        .wrap(actix_web::middleware::from_fn(middleware::observe))
}

/// Starts the server and runs it until SIGINT/SIGTERM (see [`run`]).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let state = oauth::attach(AppState::connect(config).await?)?;
    oauth::spawn_upkeep(&state);
    commands::bootstrap_admin(&state).await?;
    let (server, addrs) = bind(&state)?;
    for addr in addrs {
        tracing::info!(%addr, "listening");
    }
    run(server, state).await
}

/// The HTTP server of `state`, listening on `http.host:http.port`, and the addresses it
/// listens on. It serves once awaited; use [`run`] for the orderly end.
pub fn bind(state: &AppState) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
    let http = state.config.http.clone();
    let data = web::Data::new(state.clone());
    // One MCP endpoint for all workers, so its sessions are shared.
    let mcp = web::Data::new(mcp::McpHttp::new(&mcp::McpConfig::for_server(
        &state.config,
    )));
    let mut server = actix_web::HttpServer::new(move || app(data.clone()).app_data(mcp.clone()))
        .shutdown_timeout(http.shutdown_timeout_secs)
        // A client that closes its connection while its request runs is gone: drop the
        // handler (an MCP 2026-07-28 client cancels a call by closing its POST, and dropping
        // the call stops its sandbox run). HTTP clients do not half-close to wait for answers.
        .h1_allow_half_closed(false)
        // Streamed responses (MCP's server-sent events) are written in several pieces; without
        // TCP_NODELAY the last one waits for the client's delayed ACK (about 40 ms a call).
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .bind((http.host.as_str(), http.port))
        .with_context(|| format!("cannot listen on {}:{}", http.host, http.port))?;
    if http.workers > 0 {
        server = server.workers(http.workers);
    }
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

/// Runs `server` (from [`bind`]) until it is stopped (SIGINT/SIGTERM, or its handle), then ends
/// in order: in-flight requests get `http.shutdown_timeout_secs` to finish, the operations whose
/// clients hung up get [`completion::DRAIN_TIMEOUT`] (their writes and audit events), and then
/// the audit queue is flushed.
///
/// The operations that run to completion run on a runtime of their own (one thread per HTTP
/// worker), which lives until they are drained: the worker threads stop, with the tasks,
/// timers and connections of their runtimes, when the server does.
pub async fn run(server: Server, state: AppState) -> anyhow::Result<()> {
    let http = &state.config.http;
    let threads = match http.workers {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let finishing = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("mcp-finish")
        .enable_all()
        .build()
        .context("cannot start the runtime of operations that run to completion")?;
    let finish_there = completion::finish_on(finishing.handle().clone());
    // actix-web handles SIGINT/SIGTERM itself: graceful stop with the shutdown timeout.
    let result = server.await.context("server stopped with an error");
    tracing::info!("server stopped; finishing the operations of clients that hung up");
    completion::drain(completion::DRAIN_TIMEOUT).await;
    drop(finish_there);
    if let Some(gateway) = &state.gateway {
        tracing::info!("stopping the gateway's upstreams");
        gateway.shutdown().await;
    }
    tracing::info!("flushing the audit log");
    let flush = Duration::from_secs(http.shutdown_timeout_secs.max(1));
    if let Err(e) = state.audit.flush(flush).await {
        tracing::error!(error = %e, "audit events not stored before exit");
    }
    // Whatever is still running there after the drain timeout is abandoned.
    finishing.shutdown_background();
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use mcp_audit::{AuditFilter, AuditSink, EventType, MemoryAuditSink};
    use mcp_graph::{
        Direction, GraphStats, GraphStore, Label, MemoryGraphStore, Node, NodeKey, NodeRef,
        Properties, QueryResult, ReadQuery, RelType, Relationship,
    };
    use tokio::io::AsyncWriteExt;
    use tokio::sync::Notify;

    use super::*;
    use crate::config::{Backend, Secret};
    use crate::state::Backends;

    /// A graph whose node upserts say that they started, then take [`SlowGraph::DELAY`].
    struct SlowGraph {
        inner: MemoryGraphStore,
        started: Arc<Notify>,
    }

    impl SlowGraph {
        const DELAY: Duration = Duration::from_millis(1500);
    }

    #[async_trait]
    impl GraphStore for SlowGraph {
        async fn upsert_node(
            &self,
            label: &Label,
            key: &NodeKey,
            properties: Properties,
        ) -> mcp_graph::Result<Node> {
            self.started.notify_one();
            tokio::time::sleep(Self::DELAY).await;
            self.inner.upsert_node(label, key, properties).await
        }

        async fn upsert_relationship(
            &self,
            from: &NodeRef,
            rel_type: &RelType,
            to: &NodeRef,
            properties: Properties,
        ) -> mcp_graph::Result<Relationship> {
            self.inner
                .upsert_relationship(from, rel_type, to, properties)
                .await
        }

        async fn get_node(&self, node: &NodeRef) -> mcp_graph::Result<Option<Node>> {
            self.inner.get_node(node).await
        }

        async fn find_nodes(
            &self,
            label: &Label,
            filter: &Properties,
            limit: usize,
        ) -> mcp_graph::Result<Vec<Node>> {
            self.inner.find_nodes(label, filter, limit).await
        }

        async fn neighbors(
            &self,
            node: &NodeRef,
            rel_type: Option<&RelType>,
            direction: Direction,
            depth: usize,
            limit: usize,
        ) -> mcp_graph::Result<Vec<Node>> {
            self.inner
                .neighbors(node, rel_type, direction, depth, limit)
                .await
        }

        async fn delete_node(&self, node: &NodeRef) -> mcp_graph::Result<bool> {
            self.inner.delete_node(node).await
        }

        async fn delete_relationship(
            &self,
            from: &NodeRef,
            rel_type: &RelType,
            to: &NodeRef,
        ) -> mcp_graph::Result<bool> {
            self.inner.delete_relationship(from, rel_type, to).await
        }

        async fn stats(&self) -> mcp_graph::Result<GraphStats> {
            self.inner.stats().await
        }

        async fn query(&self, query: &ReadQuery) -> mcp_graph::Result<QueryResult> {
            self.inner.query(query).await
        }
    }

    /// Within `STEP` or the test fails.
    const STEP: Duration = Duration::from_secs(20);

    #[actix_web::test]
    async fn a_write_whose_client_hung_up_is_stored_and_audited_before_the_server_exits() {
        let mut config = Config::default();
        config.storage.backend = Backend::Memory;
        config.auth.jwt_secret = Some(Secret::new("test-secret-of-more-than-thirty-two-bytes"));
        config.http.host = "127.0.0.1".into();
        config.http.port = 0;
        config.http.workers = 1;
        config.http.shutdown_timeout_secs = 1;
        let started = Arc::new(Notify::new());
        let audit = Arc::new(MemoryAuditSink::new());
        let graph = Arc::new(SlowGraph {
            inner: MemoryGraphStore::new(),
            started: Arc::clone(&started),
        });
        let mut backends = Backends::memory();
        backends.audit = Arc::clone(&audit) as Arc<dyn AuditSink>;
        backends.graph = Arc::clone(&graph) as Arc<dyn GraphStore>;
        let state = AppState::assemble(config, backends).expect("state assembles");
        let user = state
            .users
            .create("admin", "not-a-hash")
            .await
            .expect("user");
        let az = state.authorizer().expect("authorizer");
        az.assign_role(&user.id, mcp_rbac::role::ADMIN)
            .await
            .expect("role");
        let roles = az.roles_of(&user.id).await.expect("roles");
        let token = state.issuer.issue(&user.id, roles).expect("token").token;

        let (server, addrs) = bind(&state).expect("server binds");
        let handle = server.handle();
        let serving = actix_web::rt::spawn(run(server, state.clone()));

        // Send a node upsert and hang up while the store write is under way.
        let body = r#"{"label": "Person", "key": "ada"}"#;
        let request = format!(
            "POST /api/v1/graph/nodes HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut conn = tokio::net::TcpStream::connect(addrs[0])
            .await
            .expect("connects");
        conn.write_all(request.as_bytes()).await.expect("sent");
        tokio::time::timeout(STEP, started.notified())
            .await
            .expect("the upsert started");
        drop(conn);
        // The worker sees the hang-up and drops the handler; then the server is told to stop,
        // as SIGTERM does, while the upsert still has most of its delay to go.
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::time::timeout(STEP, handle.stop(true))
            .await
            .expect("the server stops");
        tokio::time::timeout(STEP, serving)
            .await
            .expect("run returns")
            .expect("run did not panic")
            .expect("run ends without error");

        let ada = NodeRef::parse("Person", "ada").expect("node ref");
        assert!(
            graph.inner.get_node(&ada).await.expect("read").is_some(),
            "the node was stored"
        );
        let events = audit
            .query(&AuditFilter::new().event_type(EventType::GraphUpsert))
            .await
            .expect("audit query");
        assert_eq!(events.len(), 1, "the upsert is audited: {events:?}");
    }
}
