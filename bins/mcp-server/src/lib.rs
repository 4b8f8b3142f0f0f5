//! The MCP platform server: an actix-web application that composes the `mcp-*` crates.
//!
//! `main.rs` only parses flags and calls [`run`]. [`app`] builds the same application the
//! server runs, so tests drive it with `actix_web::test::init_service(app(state))`.
#![deny(missing_docs)]

pub mod access;
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
pub mod ops;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod users;

#[cfg(test)]
mod layers;

pub use config::Config;
pub use error::ApiError;
pub use server::{app, serve};
pub use state::AppState;

/// Runs the command the flags name.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    if let cli::Command::Completions { shell } = cli.command {
        let mut command = <cli::Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "mcp-server", &mut std::io::stdout());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref(), &cli.overrides())?;
    match cli.command {
        cli::Command::Config(cli::ConfigCommand::Check) => {
            print!("{}", config.to_masked_toml());
            Ok(())
        }
        cli::Command::Routes => {
            for line in access::table_json_lines() {
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
