//! The `mcp-server` binary: parses flags and turns the result of `run` into an exit code.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mcp_server::cli::Cli::parse();
    match mcp_server::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mcp-server: {err:#}");
            ExitCode::FAILURE
        }
    }
}
