//! Command-line flags (parsed here, validated by [`crate::config::Config::load`]).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Backend, LogFormat, Overrides};

/// The MCP platform server.
///
/// Settings come from a TOML file (`--config` or `MCP_CONFIG`), overridden by `MCP_...`
/// environment variables, overridden by these flags. `mcp-server config check` prints the result.
///
/// The data directory (SQLite files, generated JWT secret) is resolved once, from `--data-dir`,
/// `MCP_DATA_DIR`, the config file or the default `./data`, and every command says which one it
/// uses. Only `serve` (or `users add --init`) creates a new one.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-server",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    /// The TOML config file [env: MCP_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the SQLite files and the generated JWT secret [env: MCP_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Backend of every store: memory, sqlite or neo4j [env: MCP_STORAGE_BACKEND]
    #[arg(long, global = true, value_enum)]
    pub storage: Option<BackendArg>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A storage backend, as a flag value.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    /// In memory.
    Memory,
    /// SQLite files in the data dir.
    Sqlite,
    /// A Neo4j server.
    Neo4j,
}

/// A log format, as a flag value.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable.
    Text,
    /// JSON lines.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Show roles and assign them.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Issue and revoke tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Review the pinned tool definitions of the gateway's upstreams.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Print the route table (method, path, required access) as JSON lines.
    Routes,
    /// Serve MCP over stdin/stdout for a local agent, as the user of a token.
    McpStdio(McpStdioArgs),
    /// Print a shell completion script to stdout, e.g.
    /// `mcp-server completions bash > /etc/bash_completion.d/mcp-server`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Flags of `mcp-stdio`.
#[derive(Debug, Args)]
pub struct McpStdioArgs {
    /// The access token (from `tokens issue` or `POST /auth/token`); every request acts as its
    /// user, with that user's current roles.
    #[arg(long, env = "MCP_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: MCP_HOST]
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (0: any free port; the chosen one is logged) [env: MCP_PORT]
    #[arg(long)]
    pub port: Option<u16>,
    /// Log line format [env: MCP_LOG_FORMAT]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user. The password (8 to 1024 characters) is asked for twice on a terminal, else
    /// read from the first line of stdin.
    Add {
        /// Log-in name: 1 to 64 of letters, digits, `.`, `_`, `@`, `-`.
        username: String,
        /// Roles to assign (repeatable), e.g. `--role admin`.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Create a new store in the data directory if it has none (the first admin of a new
        /// installation); without it the command refuses a data directory with no store.
        #[arg(long)]
        init: bool,
    },
    /// List users with their roles (a table with a header, or JSON).
    List {
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user (log-in and existing tokens stop working).
    Disable {
        /// Log-in name.
        username: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Log-in name.
        username: String,
    },
    /// Lift a user's log-in lock-out (a running server applies it at the user's next log-in
    /// attempt).
    Unlock {
        /// Log-in name.
        username: String,
    },
    /// Set a new password (8 to 1024 characters; asked for twice on a terminal, else read
    /// from the first line of stdin).
    Passwd {
        /// Log-in name.
        username: String,
    },
    /// Delete a user: their tokens stop working, their roles are taken and the account is
    /// removed (the name can be used again; audit events keep the old id). Asks for the name
    /// again on a terminal; elsewhere it needs --yes.
    Delete {
        /// Log-in name.
        username: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `roles` subcommands.
#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// List the roles of the policy and their permissions.
    List,
    /// Give a user a role.
    Assign {
        /// Log-in name.
        username: String,
        /// Role.
        role: String,
    },
    /// Take a role from a user.
    Revoke {
        /// Log-in name.
        username: String,
        /// Role.
        role: String,
    },
}

/// `tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue a token for a user (printed to stdout).
    Issue {
        /// Log-in name.
        username: String,
    },
    /// Revoke a token (read from the argument, or stdin when it is `-`).
    Revoke {
        /// The token.
        token: String,
    },
}

/// `gateway` subcommands: decisions on changed tool definitions, in the pin store a server
/// shares (a running server serves an approved tool again within seconds).
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// List the pinned tool definitions; those awaiting a decision are marked `pending`.
    Pins {
        /// Print JSON (the records, with the approved and pending texts) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve the changed definition HASH of a withheld tool.
    Approve {
        /// The upstream's namespace.
        namespace: String,
        /// The tool, as the upstream names it.
        tool: String,
        /// The SHA-256 of the pending definition (from `gateway pins`).
        hash: String,
    },
    /// Reject the changed definition HASH: the tool stays withheld.
    Reject {
        /// The upstream's namespace.
        namespace: String,
        /// The tool, as the upstream names it.
        tool: String,
        /// The SHA-256 of the pending definition.
        hash: String,
    },
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit log's hash chain; exits non-zero when it is broken, missing or empty.
    Verify,
    /// List events, newest first, with the filters of `GET /api/v1/audit`.
    List {
        /// Filters.
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// At most this many events (1 to 1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AuditFormat::Jsonl)]
        format: AuditFormat,
    },
    /// Export every matching event, oldest first (no limit), to stdout or a file.
    Export {
        /// Filters.
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AuditFormat::Jsonl)]
        format: AuditFormat,
        /// Write to this file (created, mode 0600; an existing file is refused) instead of
        /// stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// The filters of `audit list` and `audit export` (all optional, combined with AND), as in
/// `GET /api/v1/audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditFilterArgs {
    /// Only this event type (code_execution, auth_failure, authz_denied, data_write, …).
    #[arg(long, value_parser = parse_event_type)]
    pub event_type: Option<mcp_audit::EventType>,
    /// Only events of this user: a user id or a log-in name.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only successful (true) or failed (false) events.
    #[arg(long, value_name = "BOOL")]
    pub success: Option<bool>,
    /// Only events of this request (the X-Request-Id of its answer).
    #[arg(long, value_parser = parse_request_id, value_name = "ID")]
    pub request_id: Option<String>,
    /// Only events older than this seq (the next older page of `audit list`).
    #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(u64).range(..=i64::MAX as u64))]
    pub before_seq: Option<u64>,
    /// Only events newer than this seq (e.g. what came since the last event exported).
    #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(u64).range(..=i64::MAX as u64))]
    pub after_seq: Option<u64>,
}

/// How `audit list` / `audit export` print events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// One JSON object per line (the stored event with its seq and hashes).
    Jsonl,
    /// CSV with a header row; `details` as a JSON object in one column.
    Csv,
}

fn parse_event_type(text: &str) -> Result<mcp_audit::EventType, String> {
    text.parse().map_err(|_| {
        let valid: Vec<&str> = mcp_audit::EventType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect();
        format!("unknown event type; valid: {}", valid.join(", "))
    })
}

fn parse_request_id(text: &str) -> Result<String, String> {
    crate::ops::audit::parse_request_id(text.to_owned()).map_err(|_| {
        "expected 1 to 128 characters of A-Z a-z 0-9 . _ : - (the X-Request-Id of an answer)"
            .to_owned()
    })
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{e}: expected an RFC 3339 time such as 2026-01-31T12:00:00Z"))
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate and print the effective configuration, secrets masked.
    Check,
}

impl Cli {
    /// The flag layer of the configuration.
    pub fn overrides(&self) -> Overrides {
        let mut o = Overrides {
            data_dir: self.data_dir.clone(),
            backend: self.storage.map(|b| match b {
                BackendArg::Memory => Backend::Memory,
                BackendArg::Sqlite => Backend::Sqlite,
                BackendArg::Neo4j => Backend::Neo4j,
            }),
            ..Overrides::default()
        };
        if let Command::Serve(args) = &self.command {
            o.host.clone_from(&args.host);
            o.port = args.port;
            o.log_format = args.log_format.map(|f| match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            });
        }
        o
    }
}
