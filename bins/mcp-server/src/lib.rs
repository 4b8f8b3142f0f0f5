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
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tools;
pub mod users;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};

pub use config::Config;
pub use error::ApiError;
pub use server::serve;
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
