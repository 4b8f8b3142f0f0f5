//! The MCP platform server: an actix-web application that composes the `mcp-*` crates.
//!
//! `main.rs` only parses flags and calls [`run`]. [`app`] builds the same application the
//! server runs, so tests drive it with `actix_web::test::init_service(app(state))`.
#![deny(missing_docs)]

pub mod auth;
pub mod body;
pub mod cli;
mod commands;
pub mod completion;
pub mod config;
pub mod error;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod request_id;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod tools;
pub mod users;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use anyhow::Context;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

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
        .wrap(actix_web::middleware::from_fn(middleware::observe))
}

/// Runs the command the flags name.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref(), &cli.overrides())?;
    match cli.command {
        cli::Command::Config(cli::ConfigCommand::Check) => {
            print!("{}", config.to_masked_toml());
            Ok(())
        }
        cli::Command::Routes => {
            for line in routes::table_json_lines() {
                println!("{line}");
            }
            Ok(())
        }
        cli::Command::Serve(_) => {
            telemetry::init(&config.log);
            actix_web::rt::System::new().block_on(serve(config))
        }
        cli::Command::McpStdio(args) => {
            // Logs go to stderr; stdout carries the protocol.
            telemetry::init(&config.log);
            actix_web::rt::System::new().block_on(mcp::stdio::main(config, args.token))
        }
        command => {
            telemetry::init(&config::LogConfig {
                level: "warn".into(),
                ..config.log.clone()
            });
            actix_web::rt::System::new().block_on(commands::run(config, command))
        }
    }
}

/// Starts the server and runs it until SIGINT/SIGTERM; then stops accepting, lets in-flight
/// requests finish (bounded by `http.shutdown_timeout_secs`) and flushes the audit queue.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let http = config.http.clone();
    let state = AppState::connect(config).await?;
    commands::bootstrap_admin(&state).await?;
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
    for addr in server.addrs() {
        tracing::info!(%addr, "listening");
    }
    // actix-web handles SIGINT/SIGTERM itself: graceful stop with the shutdown timeout.
    server.run().await.context("server stopped with an error")?;
    tracing::info!("server stopped; flushing the audit log");
    let flush = Duration::from_secs(http.shutdown_timeout_secs.max(1));
    if let Err(e) = state.audit.flush(flush).await {
        tracing::error!(error = %e, "audit events not stored before exit");
    }
    Ok(())
}
