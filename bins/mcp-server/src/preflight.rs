//! The checks `serve` runs before it starts, also run by `config check`: every value problem,
//! a backend this build lacks, a Neo4j log-in without password, token keys that do not load,
//! roles that do not form a policy, sandbox settings and the programs the sandbox needs.
//!
//! Problems stop `serve` (and make `config check` fail), except the host's: a missing
//! bubblewrap leaves `serve` running with code runs refused (503, `/ready` says why), so for
//! `serve` it is a warning, while `config check` counts it as a problem.
use std::path::Path;

use crate::config::{Backend, Config, Sources, StoreKind};
use crate::data_dir;
use crate::state;

/// What the checks found.
#[derive(Debug, Default)]
pub struct Report {
    /// Settings `serve` refuses.
    pub problems: Vec<String>,
    /// Host problems: `serve` runs without the part they break.
    pub host_problems: Vec<String>,
    /// Things that work but may surprise.
    pub warnings: Vec<String>,
}

/// Runs every check. Reads files and variables; creates and writes nothing.
pub fn check(config: &Config, sources: &Sources) -> Report {
    let mut r = Report {
        problems: config
            .problems()
            .iter()
            .map(|p| p.explain(sources))
            .collect(),
        ..Report::default()
    };
    storage(config, sources, &mut r);
    if let Err(e) = state::check_token_keys(config) {
        r.problems.push(format!("token keys: {e:#}"));
    }
    let mut roles = mcp_rbac::RolesConfig::default();
    for (name, role) in &config.roles {
        roles = roles.with_role(name.clone(), role.clone());
    }
    match mcp_rbac::Policy::from_config(&roles) {
        Ok(policy) => oauth(config, &policy, &mut r),
        Err(e) => r
            .problems
            .push(format!("roles: {e} ({})", sources.origin("roles"))),
    }
    sandbox(config, sources, &mut r);
    r
}

/// What `serve` builds of `[oauth]` before it listens: the resource server (external issuers,
/// extra CA files) and the built-in authorization server's configuration, with the client
/// secrets read from their environment variables.
fn oauth(config: &Config, policy: &mcp_rbac::Policy, r: &mut Report) {
    let rs = match crate::resource_server::ResourceServer::from_config(config, policy) {
        Ok(Some(rs)) => rs,
        Ok(None) => return,
        Err(e) => {
            r.problems.push(format!("[oauth]: {e:#}"));
            return;
        }
    };
    if !config.oauth.enabled {
        return;
    }
    let scopes: Vec<String> = rs.scopes().iter().map(str::to_owned).collect();
    if let Err(e) = config.oauth.library_config(
        rs.public_url(),
        &config.oauth_resources(),
        &scopes,
        &|name| std::env::var(name).ok(),
    ) {
        r.problems.push(e.to_string());
    }
    if config.oauth.client_metadata_documents.enabled
        && rs.fetcher().is_none()
        && let Err(e) = crate::resource_server::https_client(&config.oauth.extra_ca_files)
    {
        r.problems.push(format!("oauth.extra_ca_files: {e:#}"));
    }
}

fn storage(config: &Config, sources: &Sources, r: &mut Report) {
    let on_neo4j: Vec<StoreKind> = StoreKind::ALL
        .into_iter()
        .filter(|s| config.storage.backend_of(*s) == Backend::Neo4j)
        .collect();
    if !on_neo4j.is_empty() && !cfg!(feature = "neo4j") {
        let key = on_neo4j
            .iter()
            .map(|s| format!("storage.{}", s.name()))
            .find(|k| sources.origin(k) != crate::config::Origin::Default)
            .unwrap_or_else(|| "storage.backend".to_owned());
        r.problems.push(format!(
            "{}: storage backend `neo4j` is not compiled into this build (rebuild with \
             `--features neo4j`, or choose sqlite)",
            sources.describe(&key)
        ));
    }
    if let Some(neo) = &config.storage.neo4j
        && !on_neo4j.is_empty()
        && !neo.server.eq_ignore_ascii_case("falkordb")
        && neo.password.is_unset()
    {
        r.problems.push(
            "storage.neo4j.password is unset: Neo4j refuses a log-in without one; set \
             MCP_NEO4J_PASSWORD (or storage.neo4j.password)"
                .to_owned(),
        );
    }
    let shared = config.storage.stores_sharing_the_graph_database();
    if !shared.is_empty() {
        let names: Vec<&str> = shared.iter().map(|s| s.name()).collect();
        r.warnings.push(format!(
            "storage.neo4j.dangerous_allow_shared_graph_database is set: the {} stores share \
             the graph's database, readable by every graph:query caller",
            names.join(", ")
        ));
    }
    if data_dir::is_used(config) && !config.storage.data_dir.is_dir() {
        r.warnings.push(format!(
            "the {} does not exist yet: `serve` creates it (mode 0700)",
            data_dir::describe(config, sources)
        ));
    }
}

fn sandbox(config: &Config, sources: &Sources, r: &mut Report) {
    let sb = &config.sandbox;
    if let Err(e) = sb.validate() {
        let message = e.to_string();
        // "… limit memory_bytes = …": point at the limit where it was set.
        let limit = message
            .split("limit ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default();
        let key = [
            format!("sandbox.default_limits.{limit}"),
            format!("sandbox.max_limits.{limit}"),
        ]
        .into_iter()
        .find(|k| !limit.is_empty() && sources.origin(k) != crate::config::Origin::Default)
        .unwrap_or_else(|| "sandbox".to_owned());
        r.problems.push(format!(
            "sandbox: {message}: code runs would be refused ({})",
            sources.origin(&key)
        ));
    }
    let missing = |p: &Path| !p.is_file();
    if missing(&sb.bwrap) {
        r.host_problems.push(format!(
            "sandbox.bwrap: {} not found: code runs are refused (install bubblewrap, or set \
             sandbox.bwrap)",
            sb.bwrap.display()
        ));
    }
    if missing(&sb.shell) {
        r.host_problems.push(format!(
            "sandbox.shell: {} not found: code runs are refused",
            sb.shell.display()
        ));
    }
    let i = &sb.interpreters;
    for (key, path, what) in [
        ("python", &i.python, "Python runs and run_tests"),
        ("node", &i.node, "JavaScript runs"),
        ("bash", &i.bash, "Bash runs"),
    ] {
        if missing(path) {
            r.warnings.push(format!(
                "sandbox.interpreters.{key}: {} not found: {what} are refused (503)",
                path.display()
            ));
        }
    }
    if missing(&i.shellcheck) {
        r.warnings.push(format!(
            "sandbox.interpreters.shellcheck: {} not found: Bash lint runs `bash -n` only",
            i.shellcheck.display()
        ));
    }
    if sb.find_ruff().is_none() {
        r.warnings.push(
            "sandbox.interpreters.ruff: ruff not found (not set, not on PATH): Python lint \
             falls back to compile(), syntax errors only (install ruff or set \
             sandbox.interpreters.ruff)"
                .to_owned(),
        );
    }
}

impl Report {
    /// The report for people, one line per finding.
    pub fn text(&self, host_is_problem: bool) -> String {
        let mut out = String::new();
        let host_label = if host_is_problem {
            "problem"
        } else {
            "warning"
        };
        for p in &self.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        for p in &self.host_problems {
            out.push_str(&format!("{host_label}: {p}\n"));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}
