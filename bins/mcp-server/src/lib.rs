//! The MCP platform server: an actix-web application that composes the `mcp-*` crates.
//!
//! `main.rs` only parses flags and calls [`run`]; everything else lives here so tests can
//! build the same application.

pub mod cli;
pub mod routes;

use anyhow::Context;

/// Runs the command the flags name.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Serve(args) => serve(args),
    }
}

fn serve(args: cli::ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    )
    .init();
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server = actix_web::HttpServer::new(|| actix_web::App::new().configure(routes::configure))
            .bind((args.host.as_str(), args.port))
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        for addr in server.addrs() {
            tracing::info!(%addr, "listening");
        }
        server.run().await.context("server stopped with an error")
    })
}
