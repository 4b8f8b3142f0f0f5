//! The administrative subcommands (`users`, `roles`, `tokens`, `audit`), working on the stores
//! directly, and the first-start bootstrap of an admin user.
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use mcp_audit::{AuditEvent, AuditFilter, EventType, StoredEvent};

use crate::cli::{
    AuditCommand, AuditFilterArgs, AuditFormat, Command, GatewayCommand, RolesCommand,
    TokensCommand, UsersCommand,
};
use crate::config::{Backend, Config, Origin, Sources, StoreKind};
use crate::data_dir;
use crate::state::{self, AppState, Backends};
use crate::users;

/// Environment variable with the first admin's password (used once, on an empty user store).
pub const BOOTSTRAP_PASSWORD_ENV: &str = "MCP_BOOTSTRAP_ADMIN_PASSWORD";
/// Environment variable with the first admin's name (default `admin`).
pub const BOOTSTRAP_USER_ENV: &str = "MCP_BOOTSTRAP_ADMIN_USER";

async fn state(config: Config) -> anyhow::Result<AppState> {
    let backends = Backends::connect(&config, false).await?;
    AppState::assemble_with(config, backends, false)
}

/// The stores a command reads or changes.
fn stores_of(command: &Command) -> &'static [StoreKind] {
    match command {
        Command::Audit(_) | Command::Gateway(_) => &[StoreKind::Audit],
        _ => &[
            StoreKind::Users,
            StoreKind::Roles,
            StoreKind::Tokens,
            StoreKind::Audit,
        ],
    }
}

/// Refuses a command on a store kept in memory: its change would vanish when it exits.
fn refuse_memory(config: &Config, sources: &Sources, command: &Command) -> anyhow::Result<()> {
    let in_memory: Vec<&str> = stores_of(command)
        .iter()
        .filter(|s| config.storage.backend_of(**s) == Backend::Memory)
        .map(|s| s.name())
        .collect();
    if in_memory.is_empty() {
        return Ok(());
    }
    let origin = match sources.origin("storage.backend") {
        Origin::Default => String::new(),
        origin => format!(" ({origin})"),
    };
    bail!(
        "the {} store{} {} in memory{origin}: an administrative command works on the stores \
         a server uses, and a store in memory lives only as long as this command, so anything \
         it did would vanish. Run it with the server's storage settings (--data-dir for SQLite, \
         or [storage.neo4j]); to manage a server that keeps its stores in memory, use its REST \
         API (/api/v1/users, /api/v1/audit)",
        in_memory.join(", "),
        if in_memory.len() == 1 { "" } else { "s" },
        if in_memory.len() == 1 { "is" } else { "are" },
    )
}

fn authorizer(state: &AppState) -> anyhow::Result<&mcp_rbac::Authorizer> {
    state
        .authorizer
        .as_ref()
        .context("authorizer not configured")
}

async fn find(state: &AppState, username: &str) -> anyhow::Result<users::User> {
    state
        .users
        .by_username(username)
        .await?
        .with_context(|| format!("no user `{username}`"))
}

/// Runs an administrative subcommand: says which data directory it uses, refuses stores in
/// memory and a data directory without a store (unless `users add --init`).
pub async fn run(config: Config, sources: &Sources, command: Command) -> anyhow::Result<()> {
    if data_dir::is_used(&config) {
        eprintln!("mcp-server: {}", data_dir::describe(&config, sources));
    }
    refuse_memory(&config, sources, &command)?;
    let init = matches!(
        command,
        Command::Users(UsersCommand::Add { init: true, .. })
    );
    data_dir::require_store(&config, init)?;
    match command {
        Command::Audit(AuditCommand::Verify) => return verify_audit(&config).await,
        Command::Audit(AuditCommand::List {
            filter,
            limit,
            format,
        }) => return list_audit(&config, &filter, Some(usize::from(limit)), format).await,
        Command::Audit(AuditCommand::Export {
            filter,
            format,
            output,
        }) => return export_audit(&config, &filter, format, output.as_deref()).await,
        Command::Gateway(command) => return gateway_command(config, command).await,
        _ => {}
    }
    let state = state(config).await?;
    let result = run_on(&state, command).await;
    let _ = state.audit.flush(std::time::Duration::from_secs(5)).await;
    result
}

async fn cli_event(state: &AppState, action: &str, target: &str) {
    let event = AuditEvent::new(EventType::DataWrite)
        .with_user("cli")
        .with_action(action.to_owned())
        .with_resource("cli")
        .with_detail("target", target.to_owned());
    state.audit(event).await;
}

async fn run_on(state: &AppState, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Users(UsersCommand::Add {
            username, roles, ..
        }) => {
            let az = authorizer(state)?;
            if let Some(unknown) = roles.iter().find(|r| !az.policy().has_role(r)) {
                bail!("unknown role `{unknown}`");
            }
            let password = read_password(&format!("Password for {username}: "))?;
            let user =
                users::create_user_with(&*state.users, &state.passwords, &username, &password)
                    .await?;
            for role in &roles {
                az.assign_role(&user.id, role).await?;
            }
            let roles = az.roles_of(&user.id).await?;
            let event = AuditEvent::new(EventType::DataWrite)
                .with_user("cli")
                .with_action("create_user")
                .with_resource("cli")
                .with_detail("target", username.clone())
                .with_detail("target_user_id", user.id.clone())
                .with_detail("roles", roles.clone());
            state.audit(event).await;
            println!(
                "created user {username} ({}) with roles {}",
                user.id,
                roles.join(", ")
            );
        }
        Command::Users(UsersCommand::List { json }) => {
            let az = authorizer(state)?;
            let mut rows = Vec::new();
            for user in state.users.list().await? {
                let roles = az.roles_of(&user.id).await?;
                rows.push(serde_json::json!({
                    "username": user.username,
                    "id": user.id,
                    "roles": roles,
                    "disabled": user.disabled,
                    "created_at": user.created_at.to_rfc3339(),
                }));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", user_table(&rows));
            }
        }
        Command::Users(UsersCommand::Disable { username }) => {
            let user = find(state, &username).await?;
            state.users.set_disabled(&user.id, true).await?;
            cli_event(state, "disable_user", &username).await;
            println!("disabled {username}");
        }
        Command::Users(UsersCommand::Enable { username }) => {
            let user = find(state, &username).await?;
            state.users.set_disabled(&user.id, false).await?;
            cli_event(state, "enable_user", &username).await;
            println!("enabled {username}");
        }
        Command::Users(UsersCommand::Unlock { username }) => {
            let user = find(state, &username).await?;
            state.users.record_unlock(&user.id).await?;
            cli_event(state, "unlock_user", &username).await;
            println!("unlocked {username}");
        }
        Command::Users(UsersCommand::Passwd { username }) => {
            let user = find(state, &username).await?;
            let password = read_password(&format!("New password for {username}: "))?;
            let hash =
                tokio::task::spawn_blocking(move || users::hash_password(&password)).await??;
            state.users.set_password_hash(&user.id, &hash).await?;
            cli_event(state, "set_password", &username).await;
            println!("password of {username} changed");
        }
        Command::Users(UsersCommand::Delete { username, yes }) => {
            let user = find(state, &username).await?;
            if !yes {
                confirm_delete(&username)?;
            }
            let taken = users::delete_user(&*state.users, authorizer(state)?, &user).await?;
            let event = AuditEvent::new(EventType::DataWrite)
                .with_user("cli")
                .with_action("delete_user")
                .with_resource("cli")
                .with_detail("target", username.clone())
                .with_detail("target_user_id", user.id.clone())
                .with_detail("roles", serde_json::json!(taken));
            state.audit(event).await;
            println!(
                "deleted user {username} ({}); roles taken: {}",
                user.id,
                if taken.is_empty() {
                    "none".to_owned()
                } else {
                    taken.join(", ")
                }
            );
        }
        Command::Roles(RolesCommand::List) => {
            let policy = authorizer(state)?.policy();
            for role in policy.roles() {
                let perms: Vec<String> = policy
                    .permissions_of(&[role])
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                println!("{role}\t{}", perms.join(","));
            }
        }
        Command::Roles(RolesCommand::Assign { username, role }) => {
            let user = find(state, &username).await?;
            authorizer(state)?.assign_role(&user.id, &role).await?;
            cli_event(state, &format!("assign_role:{role}"), &username).await;
            println!("{username} has role {role}");
        }
        Command::Roles(RolesCommand::Revoke { username, role }) => {
            let user = find(state, &username).await?;
            if authorizer(state)?.revoke_role(&user.id, &role).await? {
                // Tokens issued while the user held the role stop working.
                state.users.invalidate_tokens(&user.id).await?;
            }
            cli_event(state, &format!("revoke_role:{role}"), &username).await;
            println!("{username} no longer has role {role}");
        }
        Command::Tokens(TokensCommand::Issue { username }) => {
            let user = find(state, &username).await?;
            if user.disabled {
                bail!("user `{username}` is disabled");
            }
            let roles = authorizer(state)?.roles_of(&user.id).await?;
            let at = user.token_issue_time(chrono::Utc::now());
            let issued = state.issuer.issue_at(&user.id, roles, at)?;
            cli_event(state, "issue_token", &username).await;
            println!("{}", issued.token);
        }
        Command::Tokens(TokensCommand::Revoke { token }) => {
            let token = if token == "-" {
                std::io::stdin()
                    .lock()
                    .lines()
                    .next()
                    .transpose()?
                    .unwrap_or_default()
            } else {
                token
            };
            let claims = state
                .verifier
                .verify(token.trim())
                .await
                .context("cannot revoke")?;
            state.verifier.revoke(&claims).await?;
            let event = AuditEvent::new(EventType::TokenRevoked)
                .with_user("cli")
                .with_detail("jti", claims.jti.clone());
            state.audit(event).await;
            println!("revoked token {}", claims.jti);
        }
        Command::Serve(_)
        | Command::Config(_)
        | Command::McpStdio(_)
        | Command::Routes
        | Command::Completions { .. }
        | Command::Audit(_)
        | Command::Gateway(_) => {
            unreachable!("handled in run")
        }
    }
    Ok(())
}

/// `gateway pins|approve|reject`, on the pin store the configuration names; decisions are
/// audited like those made over REST (user `cli`).
async fn gateway_command(config: Config, command: GatewayCommand) -> anyhow::Result<()> {
    let pins = mcp_gateway::Pins::new(crate::state::gateway_pin_store(&config).await?);
    let (namespace, tool, hash, approve) = match command {
        GatewayCommand::Pins { json } => {
            let records = pins.store().list(None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else {
                println!("NAMESPACE\tTOOL\tSTATE\tAPPROVED\tPENDING");
                for r in records {
                    let state = if r.pending.is_some() {
                        "pending"
                    } else {
                        "pinned"
                    };
                    let pending = r.pending.as_ref().map_or("-", |p| p.hash.as_str());
                    println!(
                        "{}\t{}\t{state}\t{}\t{pending}",
                        r.namespace, r.tool, r.approved.hash
                    );
                }
            }
            return Ok(());
        }
        GatewayCommand::Approve {
            namespace,
            tool,
            hash,
        } => (namespace, tool, hash, true),
        GatewayCommand::Reject {
            namespace,
            tool,
            hash,
        } => (namespace, tool, hash, false),
    };
    let result = if approve {
        pins.approve(&namespace, &tool, &hash, "cli").await
    } else {
        pins.reject(&namespace, &tool, &hash, "cli").await
    };
    let record = result.map_err(|e| anyhow::anyhow!(crate::gateway::decisions::error(e.into())))?;
    let state = state(config).await?;
    state
        .audit(crate::gateway::decisions::event(
            &record, &hash, "cli", approve,
        ))
        .await;
    let _ = state.audit.flush(std::time::Duration::from_secs(5)).await;
    println!(
        "{} definition {hash} of {namespace}/{tool}",
        if approve { "approved" } else { "rejected" }
    );
    Ok(())
}

/// The `users list` table: a header line, then one aligned line per user.
fn user_table(rows: &[serde_json::Value]) -> String {
    let header = ["USERNAME", "ID", "ROLES", "STATUS", "CREATED"];
    let mut lines: Vec<[String; 5]> = vec![header.map(str::to_owned)];
    for row in rows {
        let roles: Vec<&str> = row["roles"]
            .as_array()
            .map(|r| r.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        let status = if row["disabled"].as_bool() == Some(true) {
            "disabled"
        } else {
            "enabled"
        };
        let text = |key: &str| row[key].as_str().unwrap_or_default().to_owned();
        lines.push([
            text("username"),
            text("id"),
            if roles.is_empty() {
                "-".to_owned()
            } else {
                roles.join(",")
            },
            status.to_owned(),
            text("created_at"),
        ]);
    }
    let mut widths = [0usize; 5];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Asks for the user name again on a terminal; refuses elsewhere (a script says `--yes`).
fn confirm_delete(username: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "deleting `{username}` needs confirmation: run it on a terminal, or add --yes \
             (`users delete {username} --yes`)"
        );
    }
    eprint!(
        "Delete user {username}, end their sessions and take their roles? Type the name to confirm: "
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != username {
        bail!("not confirmed; nothing changed");
    }
    Ok(())
}

/// The password rules, said before a password is typed.
fn password_rules() -> String {
    format!(
        "The password needs at least {} characters (at most {}).",
        users::MIN_PASSWORD_LEN,
        users::MAX_PASSWORD_LEN
    )
}

/// `audit verify`: reads the audit store alone (nothing is created or written); a missing or
/// empty log is an error, since "0 events checked" proves nothing.
async fn verify_audit(config: &Config) -> anyhow::Result<()> {
    let sink = state::open_audit_store(config).await?;
    let report = sink.verify_chain().await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(broken) = report.broken {
        bail!("{broken}");
    }
    if report.checked == 0 {
        bail!(
            "the audit log is empty: nothing to verify (is this the data directory or database \
             the server uses?)"
        );
    }
    Ok(())
}

/// The filter of `audit list` / `audit export`, with a log-in name in `--user` turned into
/// the user's id (the user store is opened only then).
async fn audit_filter(config: &Config, args: &AuditFilterArgs) -> anyhow::Result<AuditFilter> {
    let mut filter = AuditFilter::new();
    if let Some(t) = args.event_type {
        filter = filter.event_type(t);
    }
    if let Some(user) = &args.user {
        let users = state::open_user_store(config).await?;
        let id = crate::ops::audit::resolve_user(&*users, user)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        filter = filter.user(id);
    }
    if let Some(t) = args.since {
        filter = filter.since(t);
    }
    if let Some(t) = args.until {
        filter = filter.until(t);
    }
    if let Some(s) = args.success {
        filter = filter.success(s);
    }
    if let Some(id) = &args.request_id {
        filter = filter.request_id(id.clone());
    }
    if let Some(seq) = args.before_seq {
        filter = filter.before_seq(seq);
    }
    if let Some(seq) = args.after_seq {
        filter = filter.after_seq(seq);
    }
    Ok(filter)
}

/// `audit list`: the newest matching events, at most `limit`.
async fn list_audit(
    config: &Config,
    args: &AuditFilterArgs,
    limit: Option<usize>,
    format: AuditFormat,
) -> anyhow::Result<()> {
    let sink = state::open_audit_store(config).await?;
    let mut filter = audit_filter(config, args).await?;
    if let Some(limit) = limit {
        filter = filter.limit(limit);
    }
    let events = sink.query(&filter).await?;
    let mut out = AuditWriter::new(Box::new(std::io::stdout().lock()), format)?;
    for event in &events {
        out.write(event)?;
    }
    out.finish()
}

/// `audit export`: every matching event, oldest first, read in pages of the largest limit.
async fn export_audit(
    config: &Config,
    args: &AuditFilterArgs,
    format: AuditFormat,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let sink = state::open_audit_store(config).await?;
    let filter = audit_filter(config, args).await?;
    // Pages go back in time (a query answers newest first); an event at a page's oldest
    // timestamp may be in the next page too, so pages overlap by that instant and repeats
    // are dropped by seq.
    let mut events: Vec<StoredEvent> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut until = filter.until;
    loop {
        let mut page_filter = filter.clone().limit(AuditFilter::MAX_LIMIT);
        page_filter.until = until;
        let page = sink.query(&page_filter).await?;
        let full = page.len() == AuditFilter::MAX_LIMIT;
        let oldest = page.last().map(|e| e.event.timestamp);
        let before = events.len();
        events.extend(page.into_iter().filter(|e| seen.insert(e.seq)));
        match oldest {
            Some(t) if full && events.len() > before => {
                until = Some(t + chrono::Duration::nanoseconds(1));
            }
            Some(_) if full => bail!(
                "more than {} events share one timestamp; export them with narrower \
                 --since/--until",
                AuditFilter::MAX_LIMIT
            ),
            _ => break,
        }
    }
    events.sort_by_key(|e| e.seq);
    let sink_out: Box<dyn std::io::Write> = match output {
        Some(path) => Box::new(create_private_file(path)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = AuditWriter::new(sink_out, format)?;
    for event in &events {
        out.write(event)?;
    }
    out.finish()?;
    if let Some(path) = output {
        eprintln!(
            "mcp-server: exported {} events to {}",
            events.len(),
            path.display()
        );
    }
    Ok(())
}

/// A new file, mode 0600; an existing one is refused (an export is never overwritten).
fn create_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// The CSV columns of an exported event.
const CSV_HEADER: [&str; 17] = [
    "seq",
    "timestamp",
    "event_type",
    "user_id",
    "success",
    "action",
    "resource",
    "ip_address",
    "user_agent",
    "request_id",
    "session_id",
    "duration_ms",
    "error_message",
    "details",
    "event_id",
    "prev_hash",
    "hash",
];

/// Writes stored events as JSON lines or CSV.
enum AuditWriter {
    Jsonl(std::io::BufWriter<Box<dyn std::io::Write>>),
    Csv(Box<csv::Writer<Box<dyn std::io::Write>>>),
}

impl AuditWriter {
    fn new(out: Box<dyn std::io::Write>, format: AuditFormat) -> anyhow::Result<Self> {
        Ok(match format {
            AuditFormat::Jsonl => Self::Jsonl(std::io::BufWriter::new(out)),
            AuditFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(CSV_HEADER)?;
                Self::Csv(Box::new(w))
            }
        })
    }

    fn write(&mut self, stored: &StoredEvent) -> anyhow::Result<()> {
        match self {
            Self::Jsonl(w) => {
                serde_json::to_writer(&mut *w, stored)?;
                w.write_all(b"\n")?;
            }
            Self::Csv(w) => {
                let e = &stored.event;
                let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                w.write_record([
                    stored.seq.to_string(),
                    e.timestamp.to_rfc3339(),
                    e.event_type.as_str().to_owned(),
                    opt(&e.user_id),
                    e.success.to_string(),
                    opt(&e.action),
                    opt(&e.resource),
                    e.ip_address.map(|ip| ip.to_string()).unwrap_or_default(),
                    opt(&e.user_agent),
                    opt(&e.request_id),
                    opt(&e.session_id),
                    e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
                    opt(&e.error_message),
                    serde_json::to_string(&e.details)?,
                    e.event_id.to_string(),
                    stored.prev_hash.clone(),
                    stored.hash.clone(),
                ])?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Jsonl(mut w) => w.flush()?,
            Self::Csv(mut w) => w.flush()?,
        }
        Ok(())
    }
}

/// A password from the terminal (the rules said first, asked twice) or the first line of
/// stdin; checked against the rules either way.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    let password = read_password_unchecked(prompt)?;
    users::validate_password(&password)?;
    Ok(password)
}

fn read_password_unchecked(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprintln!("{}", password_rules());
        let mut first = rpassword::prompt_password(prompt)?;
        while let Err(why) = users::validate_password(&first) {
            eprintln!("{why}; try again.");
            first = rpassword::prompt_password(prompt)?;
        }
        let second = rpassword::prompt_password("Repeat: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        Ok(first)
    } else {
        let line = std::io::stdin()
            .lock()
            .lines()
            .next()
            .transpose()?
            .unwrap_or_default();
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on stdin ({})", password_rules());
        }
        Ok(password)
    }
}

/// On an empty user store: creates the admin from `MCP_BOOTSTRAP_ADMIN_PASSWORD`, or logs how
/// to create one. Never creates a default password.
pub async fn bootstrap_admin(state: &AppState) -> anyhow::Result<()> {
    if !state.users.list().await?.is_empty() {
        return Ok(());
    }
    let Ok(password) = std::env::var(BOOTSTRAP_PASSWORD_ENV) else {
        tracing::warn!(
            "no users yet: create an admin with `mcp-server users add <name> --role admin` \
             (password from a prompt or stdin), or start once with {BOOTSTRAP_PASSWORD_ENV} set"
        );
        return Ok(());
    };
    let username = std::env::var(BOOTSTRAP_USER_ENV).unwrap_or_else(|_| "admin".to_owned());
    let user = users::create_user_with(&*state.users, &state.passwords, &username, &password)
        .await
        .with_context(|| {
            format!("cannot create the bootstrap admin from {BOOTSTRAP_PASSWORD_ENV}")
        })?;
    authorizer(state)?
        .assign_role(&user.id, mcp_rbac::role::ADMIN)
        .await?;
    let event = AuditEvent::new(EventType::DataWrite)
        .with_user("cli")
        .with_action("bootstrap_admin")
        .with_resource("cli")
        .with_detail("target", username.clone())
        .with_detail("target_user_id", user.id.clone())
        .with_detail("roles", vec![mcp_rbac::role::ADMIN]);
    state.audit(event).await;
    tracing::warn!(
        %username,
        "created the admin user from {BOOTSTRAP_PASSWORD_ENV}; unset it now (it is used only on an empty user store)"
    );
    Ok(())
}
