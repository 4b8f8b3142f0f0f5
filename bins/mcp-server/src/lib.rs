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
pub mod data_dir;
pub mod error;
pub mod gateway;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod oauth_limits;
pub mod ops;
pub mod preflight;
pub mod query;
pub mod request_id;
pub mod resource_server;
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
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config::Loaded { config, sources } =
        Config::load_unvalidated(cli.config.as_deref(), &env, &cli.overrides())?;
    match cli.command {
        cli::Command::Config(cli::ConfigCommand::Check) => config_check(&config, &sources),
        cli::Command::Routes => {
            for line in access::table_json_lines() {
                println!("{line}");
            }
            Ok(())
        }
        cli::Command::Serve(_) => {
            telemetry::init(&config.log);
            let report = preflight::check(&config, &sources);
            if !report.problems.is_empty() {
                return Err(config::ConfigError::Problems(report.problems).into());
            }
            for warning in report.host_problems.iter().chain(&report.warnings) {
                tracing::warn!("{warning}");
            }
            let lock = data_dir::lock_for_serve(&config)?;
            if data_dir::is_used(&config) {
                tracing::info!("{}", data_dir::describe(&config, &sources));
            }
            let served = actix_web::rt::System::new().block_on(serve(config));
            drop(lock);
            served
        }
        cli::Command::McpStdio(args) => {
            config.validate_with(&sources)?;
            // On stderr: stdout carries the protocol.
            if data_dir::is_used(&config) {
                eprintln!("mcp-server: {}", data_dir::describe(&config, &sources));
            }
            data_dir::require_store(&config, false)?;
            // Logs go to stderr; stdout carries the protocol.
            telemetry::init(&config.log);
            // One client, whose token is revoked elsewhere (the server, `tokens revoke`): read
            // the revocation store for each request, so a revocation ends the session at once.
            let mut config = config;
            config.auth.revocation_cache_ttl_ms = 0;
            actix_web::rt::System::new().block_on(mcp::stdio::main(config, args.token))
        }
        command => {
            config.validate_with(&sources)?;
            telemetry::init(&config::LogConfig {
                level: "warn".into(),
                ..config.log.clone()
            });
            actix_web::rt::System::new().block_on(commands::run(config, &sources, command))
        }
    }
}

/// `config check`: the effective configuration (secrets masked) on stdout, then every problem
/// `serve` would meet on stderr (its start-up probe of the sandbox included); fails when there
/// is one.
fn config_check(config: &Config, sources: &config::Sources) -> anyhow::Result<()> {
    if data_dir::is_used(config) {
        eprintln!("mcp-server: {}", data_dir::describe(config, sources));
    }
    let mut report = preflight::check(config, sources);
    actix_web::rt::System::new().block_on(preflight::probe_sandbox(config, &mut report));
    print!("{}", config.to_masked_toml());
    eprint!("{}", report.text(true));
    let problems = report.problems.len() + report.host_problems.len();
    if problems > 0 {
        anyhow::bail!(
            "config check found {problems} problem{} (listed above)",
            if problems == 1 { "" } else { "s" }
        );
    }
    eprintln!(
        "config check: ok ({} warning{})",
        report.warnings.len(),
        if report.warnings.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
