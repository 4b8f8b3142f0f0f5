//! `[gateway]`: other MCP servers (upstreams) behind the platform's guard.
//!
//! The server's own keys wrap the library's (`mcp_gateway::GatewayConfig`): secrets are
//! [`Secret`]s (masked by `config check`) or the names of environment variables that hold them
//! (`*_env`), stdio upstreams run in the sandbox unless `dangerous_no_sandbox` says otherwise,
//! and each upstream may be `required` for `/ready` and carry its own rate limit.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Backend, ConfigError, Secret};

/// `[gateway]`: the upstream MCP servers and the settings they share.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The upstreams (`[[gateway.upstreams]]`).
    pub upstreams: Vec<UpstreamConfig>,
    /// Detectors applied to upstream results and to the details of gateway audit events.
    pub redaction: mcp_gateway::RedactionConfig,
    /// Also redact the results of the server's own tools (MCP and REST) before they reach
    /// the client. Default false.
    pub redact_tool_outputs: bool,
    /// Calls to upstreams (tools, resources, prompts) per user per minute, all upstreams
    /// together, counted in `limits.counters` (on a shared store the budget holds across every
    /// instance; see docs/gateway.md, "Budgets and several instances"). Default 600.
    pub calls_per_minute: u32,
    /// Backend of the pinned tool definitions; default `storage.backend` (SQLite:
    /// `<data_dir>/gateway.sqlite3`).
    pub pins: Option<Backend>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            upstreams: Vec::new(),
            redaction: mcp_gateway::RedactionConfig::default(),
            redact_tool_outputs: false,
            calls_per_minute: 600,
            pins: None,
        }
    }
}

/// One upstream (`[[gateway.upstreams]]`): exactly one of `stdio` and `http`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Prefix of its tools and prompts (`<namespace>__<name>`) and resources
    /// (`<namespace>+<uri>`), and the middle of its permissions (`upstream:<namespace>:<tool>`):
    /// 1 to 32 of `a-z`, `0-9`, `-`, starting with a letter.
    pub namespace: String,
    /// A local command spoken to over stdin/stdout, run in the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdio: Option<StdioConfig>,
    /// A streamable HTTP endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
    /// Longest wait for one request's answer (default 60 000).
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// Longest wait for the connection and handshake (default 30 000).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// First delay before reconnecting after a failure (default 500), doubled per failure.
    #[serde(default = "default_restart_initial_ms")]
    pub restart_initial_ms: u64,
    /// Longest delay between reconnections (default 30 000).
    #[serde(default = "default_restart_max_ms")]
    pub restart_max_ms: u64,
    /// Redact this upstream's results (default true).
    #[serde(default = "yes")]
    pub redact: bool,
    /// How long a connected upstream may go without answering before it is pinged (default
    /// 30 000; 0: never). No answer within `ping_timeout_ms`: marked down and reconnected.
    #[serde(default = "default_ping_interval_ms")]
    pub ping_interval_ms: u64,
    /// Longest wait for the answer to a ping (default 10 000).
    #[serde(default = "default_ping_timeout_ms")]
    pub ping_timeout_ms: u64,
    /// Whether `/ready` fails while this upstream is down (default false: the platform serves
    /// without it and `/ready` reports it).
    #[serde(default)]
    pub required: bool,
    /// Calls to this upstream per user per minute, on top of `gateway.calls_per_minute`
    /// (counted in `limits.counters`, like it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_per_minute: Option<u32>,
}

fn default_call_timeout_ms() -> u64 {
    60_000
}
fn default_connect_timeout_ms() -> u64 {
    30_000
}
fn default_restart_initial_ms() -> u64 {
    500
}
fn default_restart_max_ms() -> u64 {
    30_000
}
fn default_ping_interval_ms() -> u64 {
    30_000
}
fn default_ping_timeout_ms() -> u64 {
    10_000
}
fn yes() -> bool {
    true
}

/// A stdio upstream: the program, what it may touch, its limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdioConfig {
    /// The program; an absolute path (it is run without the server's environment).
    pub command: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment (values are masked by `config check`); nothing else is inherited.
    #[serde(default)]
    pub env: BTreeMap<String, Secret>,
    /// Variables set from the server's environment: name inside → variable of the server.
    #[serde(default)]
    pub env_from: BTreeMap<String, String>,
    /// Its working directory (default: its private `/tmp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Host paths it may read (`read_only`) or write (`read_write`), and whether it may use
    /// the network (`network`, default false). Nothing else of the host is visible.
    #[serde(default)]
    pub grants: mcp_gateway::Grants,
    /// Its resource limits (memory, processes, open files, file size, `/tmp` size).
    #[serde(default)]
    pub limits: mcp_gateway::ProcessLimits,
    /// DANGEROUS: run it as a plain child process with the server's own rights, files and
    /// network, instead of in the sandbox. Only for a program you trust as much as the
    /// server itself.
    #[serde(default)]
    pub dangerous_no_sandbox: bool,
}

/// A streamable HTTP upstream, reached only at the origin of `url` (no redirects).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The MCP endpoint, `https://…` (or `http://…` on loopback or a trusted network).
    pub url: String,
    /// A static bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// The environment variable holding the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// Static headers (e.g. `X-Api-Key`); values are masked by `config check`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Headers set from the server's environment: header → variable of the server.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// OAuth 2.0 client credentials for the upstream's authorization server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthConfig>,
    /// A PEM file of CA certificates trusted besides the system's, for the upstream's (and
    /// its token endpoint's) certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate chain presented to the upstream (and its token endpoint) when it asks
    /// for one (mutual TLS); needs `client_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`; keep it readable by the server's user only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

/// OAuth 2.0 client credentials (RFC 6749 §4.4) at a configured token endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The token endpoint (https, or http on loopback).
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// The environment variable holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// RFC 8707 `resource` to ask a token for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `audience` parameter, for servers that want one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// Looks up a variable of the server's environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(format!("gateway: {message}"))
}

/// A secret given either inline or by the name of an environment variable.
fn secret(
    ns: &str,
    key: &str,
    inline: Option<&Secret>,
    var: Option<&str>,
    env: EnvLookup<'_>,
) -> Result<Option<String>, ConfigError> {
    match (inline, var) {
        (Some(_), Some(_)) => Err(invalid(format!(
            "upstream `{ns}`: set {key} or {key}_env, not both"
        ))),
        (Some(s), None) => Ok(Some(s.expose().to_owned())),
        (None, Some(var)) => from_env(ns, key, var, env).map(Some),
        (None, None) => Ok(None),
    }
}

fn from_env(ns: &str, key: &str, var: &str, env: EnvLookup<'_>) -> Result<String, ConfigError> {
    env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
        invalid(format!(
            "upstream `{ns}`: {key} names the environment variable {var}, which is not set"
        ))
    })
}

impl GatewayConfig {
    /// Whether any upstream is configured.
    pub fn is_enabled(&self) -> bool {
        !self.upstreams.is_empty()
    }

    /// The library's configuration, with the secrets read (inline or from `env`).
    pub fn to_library(
        &self,
        env: EnvLookup<'_>,
    ) -> Result<mcp_gateway::GatewayConfig, ConfigError> {
        let mut out = mcp_gateway::GatewayConfig::default();
        out.redaction = self.redaction.clone();
        for u in &self.upstreams {
            out.upstreams.push(u.to_library(env)?);
        }
        Ok(out)
    }

    /// Checks what can be checked without the environment: every upstream (namespaces,
    /// transports, URLs, headers, timeouts), the detectors and the limits. Variables named by
    /// `*_env` keys are read at start-up.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.calls_per_minute == 0 {
            return Err(invalid("calls_per_minute must be at least 1".into()));
        }
        for u in &self.upstreams {
            if u.calls_per_minute == Some(0) {
                return Err(invalid(format!(
                    "upstream `{}`: calls_per_minute must be at least 1",
                    u.namespace
                )));
            }
            if let Some(stdio) = &u.stdio
                && !stdio.command.is_absolute()
            {
                return Err(invalid(format!(
                    "upstream `{}`: stdio.command must be an absolute path (upstreams do not \
                     inherit the server's PATH)",
                    u.namespace
                )));
            }
        }
        let placeholder = |_: &str| Some("placeholder".to_owned());
        self.to_library(&placeholder)?.validate().map_err(|e| {
            invalid(
                e.to_string()
                    .trim_start_matches("invalid gateway configuration: ")
                    .to_owned(),
            )
        })
    }
}

impl UpstreamConfig {
    /// Whether this stdio upstream runs in the sandbox (every stdio upstream unless
    /// `dangerous_no_sandbox`).
    pub fn sandboxed(&self) -> bool {
        self.stdio.as_ref().is_some_and(|s| !s.dangerous_no_sandbox)
    }

    fn to_library(&self, env: EnvLookup<'_>) -> Result<mcp_gateway::UpstreamConfig, ConfigError> {
        let ns = self.namespace.as_str();
        let mut out = match (&self.stdio, &self.http) {
            (Some(stdio), None) => {
                let mut s = mcp_gateway::StdioConfig::new(&stdio.command, stdio.args.clone());
                for (name, value) in &stdio.env {
                    s.env.insert(name.clone(), value.expose().to_owned());
                }
                for (name, var) in &stdio.env_from {
                    let value = from_env(ns, &format!("stdio.env_from.{name}"), var, env)?;
                    s.env.insert(name.clone(), value);
                }
                s.cwd.clone_from(&stdio.cwd);
                s.grants = stdio.grants.clone();
                s.limits = stdio.limits.clone();
                mcp_gateway::UpstreamConfig::stdio(ns, s)
            }
            (None, Some(http)) => mcp_gateway::UpstreamConfig::http(ns, http.to_library(ns, env)?),
            _ => {
                return Err(invalid(format!(
                    "upstream `{ns}` needs exactly one of [gateway.upstreams.stdio] and \
                     [gateway.upstreams.http]"
                )));
            }
        };
        out.call_timeout_ms = self.call_timeout_ms;
        out.connect_timeout_ms = self.connect_timeout_ms;
        out.restart_initial_ms = self.restart_initial_ms;
        out.restart_max_ms = self.restart_max_ms;
        out.redact = self.redact;
        out.ping_interval_ms = self.ping_interval_ms;
        out.ping_timeout_ms = self.ping_timeout_ms;
        Ok(out)
    }
}

impl HttpConfig {
    fn to_library(
        &self,
        ns: &str,
        env: EnvLookup<'_>,
    ) -> Result<mcp_gateway::HttpConfig, ConfigError> {
        let mut out = mcp_gateway::HttpConfig::new(self.url.clone());
        out.ca_file.clone_from(&self.ca_file);
        out.client_cert.clone_from(&self.client_cert);
        out.client_key.clone_from(&self.client_key);
        out.bearer_token = secret(
            ns,
            "http.bearer_token",
            self.bearer_token.as_ref(),
            self.bearer_token_env.as_deref(),
            env,
        )?;
        for (name, value) in &self.headers {
            out.headers.insert(name.clone(), value.expose().to_owned());
        }
        for (name, var) in &self.headers_env {
            if self.headers.contains_key(name) {
                return Err(invalid(format!(
                    "upstream `{ns}`: header `{name}` is in both http.headers and http.headers_env"
                )));
            }
            let value = from_env(ns, &format!("http.headers_env.{name}"), var, env)?;
            out.headers.insert(name.clone(), value);
        }
        if let Some(o) = &self.oauth {
            let client_secret = secret(
                ns,
                "http.oauth.client_secret",
                o.client_secret.as_ref(),
                o.client_secret_env.as_deref(),
                env,
            )?
            .ok_or_else(|| {
                invalid(format!(
                    "upstream `{ns}`: http.oauth needs client_secret or client_secret_env"
                ))
            })?;
            let mut c = mcp_gateway::ClientCredentials::new(
                o.token_url.clone(),
                o.client_id.clone(),
                client_secret,
            );
            c.scopes.clone_from(&o.scopes);
            c.resource.clone_from(&o.resource);
            c.audience.clone_from(&o.audience);
            out.oauth = Some(c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> GatewayConfig {
        #[derive(Deserialize)]
        struct Root {
            gateway: GatewayConfig,
        }
        toml::from_str::<Root>(text).expect("valid TOML").gateway
    }

    const EXAMPLE: &str = r#"
        [gateway]
        calls_per_minute = 100
        [gateway.redaction]
        disabled = ["email"]

        [[gateway.upstreams]]
        namespace = "docs"
        required = true
        [gateway.upstreams.stdio]
        command = "/usr/bin/node"
        args = ["/opt/mcp/server-filesystem/dist/index.js", "/srv/docs"]
        env = { NODE_OPTIONS = "--max-old-space-size=256" }
        env_from = { GITHUB_TOKEN = "DOCS_GITHUB_TOKEN" }
        grants = { read_only = ["/opt/mcp", "/srv/docs"] }

        [[gateway.upstreams]]
        namespace = "tickets"
        calls_per_minute = 30
        [gateway.upstreams.http]
        url = "http://127.0.0.1:8931/mcp"
        headers_env = { X-Api-Key = "TICKETS_KEY" }
        oauth = { token_url = "http://127.0.0.1:8931/token", client_id = "platform", client_secret_env = "TICKETS_SECRET" }
    "#;

    fn env(name: &str) -> Option<String> {
        match name {
            "DOCS_GITHUB_TOKEN" => Some("ghp-token".into()),
            "TICKETS_KEY" => Some("key-123".into()),
            "TICKETS_SECRET" => Some("secret-456".into()),
            _ => None,
        }
    }

    #[test]
    fn an_example_configuration_becomes_the_library_configuration_with_secrets_read() {
        let config = parse(EXAMPLE);
        config.validate().unwrap();
        assert!(config.upstreams[0].sandboxed() && !config.upstreams[1].sandboxed());
        let lib = config.to_library(&env).unwrap();
        lib.validate().unwrap();
        let docs = lib.upstreams[0].stdio.as_ref().unwrap();
        assert_eq!(docs.env["GITHUB_TOKEN"], "ghp-token");
        assert_eq!(docs.env["NODE_OPTIONS"], "--max-old-space-size=256");
        let tickets = lib.upstreams[1].http.as_ref().unwrap();
        assert_eq!(tickets.headers["X-Api-Key"], "key-123");
        assert_eq!(tickets.oauth.as_ref().unwrap().client_secret, "secret-456");
    }

    #[test]
    fn a_missing_variable_is_named_at_start_up() {
        let config = parse(EXAMPLE);
        let err = config.to_library(&|_| None).unwrap_err().to_string();
        assert!(err.contains("DOCS_GITHUB_TOKEN"), "{err}");
        assert!(err.contains("upstream `docs`"), "{err}");
    }

    #[test]
    fn secrets_are_masked_when_the_configuration_is_printed() {
        let mut config = parse(EXAMPLE);
        let http = config.upstreams[1].http.as_mut().unwrap();
        http.bearer_token = None;
        http.headers
            .insert("X-Other".into(), Secret::new("inline-789"));
        let text = toml::to_string(&config).unwrap();
        assert!(
            !text.contains("inline-789") && !text.contains("--max-old"),
            "{text}"
        );
        assert!(
            text.contains("TICKETS_SECRET"),
            "variable names are not secret: {text}"
        );
    }

    #[test]
    fn bad_upstreams_are_refused_with_their_namespace() {
        let cases = [
            (
                "namespace = \"Bad\"\n[gateway.upstreams.stdio]\ncommand = \"/bin/x\"",
                "Bad",
            ),
            ("namespace = \"x\"", "exactly one"),
            (
                "namespace = \"x\"\n[gateway.upstreams.stdio]\ncommand = \"node\"",
                "absolute",
            ),
            (
                "namespace = \"x\"\ncalls_per_minute = 0\n[gateway.upstreams.stdio]\ncommand = \"/bin/x\"",
                "at least 1",
            ),
            (
                "namespace = \"x\"\n[gateway.upstreams.http]\nurl = \"ftp://h/mcp\"",
                "http",
            ),
            (
                "namespace = \"x\"\n[gateway.upstreams.http]\nurl = \"http://h/mcp\"\nbearer_token = \"a\"\nbearer_token_env = \"B\"",
                "not both",
            ),
            (
                "namespace = \"x\"\n[gateway.upstreams.http]\nurl = \"http://h/mcp\"\noauth = { token_url = \"http://127.0.0.1/t\", client_id = \"c\" }",
                "client_secret",
            ),
        ];
        for (upstream, expected) in cases {
            let config = parse(&format!("[[gateway.upstreams]]\n{upstream}\n"));
            let err = config.validate().expect_err(upstream).to_string();
            assert!(err.contains(expected), "{upstream}: {err}");
            assert!(err.starts_with("invalid configuration: gateway: "), "{err}");
        }
        let twice = parse(
            "[[gateway.upstreams]]\nnamespace = \"a\"\n[gateway.upstreams.stdio]\ncommand = \"/bin/x\"\n\
             [[gateway.upstreams]]\nnamespace = \"a\"\n[gateway.upstreams.stdio]\ncommand = \"/bin/y\"\n",
        );
        assert!(
            twice
                .validate()
                .unwrap_err()
                .to_string()
                .contains("two upstreams")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Root {
            gateway: GatewayConfig,
        }
        let err = toml::from_str::<Root>(
            "[[gateway.upstreams]]\nnamespace = \"a\"\n[gateway.upstreams.stdio]\ncommand = \"/bin/x\"\nsandbox = false\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `sandbox`"), "{err}");
    }
}
