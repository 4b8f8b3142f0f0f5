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
    storage(config, sources, &mut r, cfg!(feature = "neo4j"));
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

/// The storage checks; `neo4j_compiled` says whether this build has the Neo4j backends.
fn storage(config: &Config, sources: &Sources, r: &mut Report, neo4j_compiled: bool) {
    let on_neo4j: Vec<StoreKind> = StoreKind::ALL
        .into_iter()
        .filter(|s| config.storage.backend_of(*s) == Backend::Neo4j)
        .collect();
    if !on_neo4j.is_empty() && !neo4j_compiled {
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

/// What `serve`'s start-up probe of the sandbox finds on this host (`config check` only; `serve`
/// probes when it starts): starts one sandbox as `serve` does, in a runtime dir and cgroups
/// that are removed again. A missing required isolation layer is a host problem (code runs
/// would be refused, `/ready` would say why), named with its fix; a missing optional layer, or
/// a required one that `sandbox.allow_weaker_isolation` lets runs go without, is a warning.
/// Nothing is probed when the settings or the programs are already reported missing.
pub async fn probe_sandbox(config: &Config, r: &mut Report) {
    let sb = &config.sandbox;
    if sb.validate().is_err() || !sb.bwrap.is_file() || !sb.shell.is_file() {
        return;
    }
    let sandbox = match mcp_sandbox::BwrapSandbox::from_config(sb.clone()).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            r.host_problems.push(format!(
                "sandbox: it does not start on this host ({e}): code runs are refused"
            ));
            return;
        }
    };
    let probe = mcp_sandbox::Sandbox::probe(&sandbox);
    for layer in probe.layers.iter().filter(|l| !l.available) {
        let line = format!(
            "sandbox layer {}: {} (fix: {})",
            layer.layer.name(),
            layer.detail,
            crate::state::runners::layer_fix(layer.layer)
        );
        if layer.required && !probe.ready {
            r.host_problems
                .push(format!("{line}: code runs are refused (503)"));
        } else if layer.required {
            r.warnings.push(format!(
                "{line}: runs go without it, as sandbox.allow_weaker_isolation allows"
            ));
        } else {
            r.warnings
                .push(format!("{line}: optional, runs go without it"));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(env: &[(&str, &str)]) -> crate::config::Loaded {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load_unvalidated(None, &env, &crate::config::Overrides::default()).unwrap()
    }

    /// The default build has no Neo4j backends (`--features neo4j` adds them): a configuration
    /// that asks for them is a problem naming the setting and the feature, not a start-up
    /// failure further on. (The tests' binary has every feature, so this runs here.)
    #[test]
    fn a_backend_this_build_lacks_is_a_problem_naming_the_setting_and_the_feature() {
        let l = loaded(&[
            ("MCP_STORAGE_BACKEND", "neo4j"),
            ("MCP_NEO4J_URI", "bolt://db.example:7687"),
            ("MCP_NEO4J_PASSWORD", "secret-secret"),
            ("MCP_NEO4J_GRAPH_DATABASE", "graph"),
        ]);
        let mut without = Report::default();
        storage(&l.config, &l.sources, &mut without, false);
        let [problem] = &without.problems[..] else {
            panic!("{:?}", without.problems)
        };
        assert!(
            problem.contains("not compiled into this build"),
            "{problem}"
        );
        assert!(problem.contains("--features neo4j"), "{problem}");
        assert!(problem.contains("MCP_STORAGE_BACKEND"), "{problem}");
        let mut with = Report::default();
        storage(&l.config, &l.sources, &mut with, true);
        assert!(with.problems.is_empty(), "{:?}", with.problems);
    }
}
