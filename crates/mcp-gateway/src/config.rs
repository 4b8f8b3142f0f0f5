//! Configuration: plain serde data, validated by [`GatewayConfig::validate`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::launcher::{Grants, ProcessLimits};
use crate::pin::validate_namespace;
use crate::{Error, RedactionConfig};

/// The gateway: its upstreams and the settings they share.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// The upstream MCP servers.
    pub upstreams: Vec<UpstreamConfig>,
    /// Detectors applied to upstream results.
    pub redaction: RedactionConfig,
}

/// One upstream MCP server: exactly one of `stdio` and `http`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UpstreamConfig {
    /// Prefix of its tools, prompts and resources: 1 to 32 of `a-z`, `0-9`, `-`.
    pub namespace: String,
    /// A local command spoken to over stdin/stdout.
    #[serde(default)]
    pub stdio: Option<StdioConfig>,
    /// A streamable HTTP endpoint.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// Longest wait for one request's answer (default 60 s). Progress does not extend it.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// Longest wait for the connection and handshake (default 30 s).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Delay before the first reconnection after a failure (default 0.5 s); doubles on each
    /// failure in a row up to `restart_max_ms`.
    #[serde(default = "default_restart_initial_ms")]
    pub restart_initial_ms: u64,
    /// Longest delay between reconnections (default 30 s).
    #[serde(default = "default_restart_max_ms")]
    pub restart_max_ms: u64,
    /// Apply redaction to this upstream's results (default true).
    #[serde(default = "yes")]
    pub redact: bool,
    /// How long a connected upstream may go without answering anything before the gateway
    /// pings it (default 30 s; 0: never). One that does not answer the ping within
    /// `ping_timeout_ms` is marked down and reconnected, without waiting for a call to time out.
    #[serde(default = "default_ping_interval_ms")]
    pub ping_interval_ms: u64,
    /// Longest wait for the answer to a ping (default 10 s).
    #[serde(default = "default_ping_timeout_ms")]
    pub ping_timeout_ms: u64,
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

impl UpstreamConfig {
    /// A stdio upstream with default timeouts.
    pub fn stdio(namespace: impl Into<String>, stdio: StdioConfig) -> Self {
        Self::new(namespace, Some(stdio), None)
    }

    /// An HTTP upstream with default timeouts.
    pub fn http(namespace: impl Into<String>, http: HttpConfig) -> Self {
        Self::new(namespace, None, Some(http))
    }

    fn new(
        namespace: impl Into<String>,
        stdio: Option<StdioConfig>,
        http: Option<HttpConfig>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            stdio,
            http,
            call_timeout_ms: default_call_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            restart_initial_ms: default_restart_initial_ms(),
            restart_max_ms: default_restart_max_ms(),
            redact: true,
            ping_interval_ms: default_ping_interval_ms(),
            ping_timeout_ms: default_ping_timeout_ms(),
        }
    }

    /// [`UpstreamConfig::call_timeout_ms`] as a duration.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// [`UpstreamConfig::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// [`UpstreamConfig::ping_interval_ms`] as a duration; `None` when pings are off.
    pub fn ping_interval(&self) -> Option<Duration> {
        (self.ping_interval_ms > 0).then(|| Duration::from_millis(self.ping_interval_ms))
    }

    /// [`UpstreamConfig::ping_timeout_ms`] as a duration.
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }

    fn validate(&self) -> Result<(), Error> {
        validate_namespace(&self.namespace).map_err(|e| Error::Config(e.to_string()))?;
        let ns = &self.namespace;
        for (name, v) in [
            ("call_timeout_ms", self.call_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("restart_initial_ms", self.restart_initial_ms),
            ("restart_max_ms", self.restart_max_ms),
            ("ping_timeout_ms", self.ping_timeout_ms),
        ] {
            if v == 0 || v > 24 * 3600 * 1000 {
                return Err(Error::Config(format!(
                    "upstream `{ns}`: {name} must be between 1 ms and 24 h"
                )));
            }
        }
        if self.ping_interval_ms > 24 * 3600 * 1000 {
            return Err(Error::Config(format!(
                "upstream `{ns}`: ping_interval_ms must be at most 24 h (0: no pings)"
            )));
        }
        if self.restart_initial_ms > self.restart_max_ms {
            return Err(Error::Config(format!(
                "upstream `{ns}`: restart_initial_ms is above restart_max_ms"
            )));
        }
        match (&self.stdio, &self.http) {
            (Some(stdio), None) => stdio.validate(ns),
            (None, Some(http)) => http.validate(ns),
            _ => Err(Error::Config(format!(
                "upstream `{ns}` needs exactly one of `stdio` and `http`"
            ))),
        }
    }
}

/// A local command speaking MCP over stdin/stdout.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StdioConfig {
    /// The program (absolute path recommended: the environment is not inherited).
    pub command: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its whole environment (values may be secrets: they are not printed by `Debug`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Its working directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Host files and network it may use (enforced by an isolating launcher).
    #[serde(default)]
    pub grants: Grants,
    /// Its resource limits (enforced by an isolating launcher).
    #[serde(default)]
    pub limits: ProcessLimits,
}

impl StdioConfig {
    /// `command` with `args`, an empty environment, no grants and default limits.
    pub fn new(
        command: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
            grants: Grants::default(),
            limits: ProcessLimits::default(),
        }
    }

    fn validate(&self, ns: &str) -> Result<(), Error> {
        if self.command.as_os_str().is_empty() {
            return Err(Error::Config(format!(
                "upstream `{ns}`: stdio.command is empty"
            )));
        }
        for path in self.grants.read_only.iter().chain(&self.grants.read_write) {
            if !path.is_absolute() {
                return Err(Error::Config(format!(
                    "upstream `{ns}`: granted path {} must be absolute",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for StdioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioConfig")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("grants", &self.grants)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A streamable HTTP upstream, reached only at `url`'s origin (redirects are not followed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The MCP endpoint, `http://` or `https://`, without credentials in it.
    pub url: String,
    /// A static bearer token sent as `Authorization: Bearer …`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// Other static headers (e.g. `X-Api-Key`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// OAuth 2.0 client credentials for the upstream's own authorization server.
    #[serde(default)]
    pub oauth: Option<ClientCredentials>,
    /// A PEM file of CA certificates trusted, besides the platform's trust store, for the
    /// upstream's and its token endpoint's TLS certificates (an internal CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A PEM file of the certificate chain the gateway presents to the upstream (and its token
    /// endpoint) when asked for one (mutual TLS); needs `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The PEM file of the private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl HttpConfig {
    /// An endpoint without authentication.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            bearer_token: None,
            headers: BTreeMap::new(),
            oauth: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }

    fn validate(&self, ns: &str) -> Result<(), Error> {
        let url = parse_url(ns, "http.url", &self.url)?;
        if url.host_str().is_none() {
            return Err(Error::Config(format!(
                "upstream `{ns}`: http.url has no host"
            )));
        }
        if let Some(path) = &self.ca_file {
            crate::upstream::read_ca_file(path)
                .map_err(|e| Error::Config(format!("upstream `{ns}`: http.ca_file: {e}")))?;
        }
        if self.client_cert.is_some() || self.client_key.is_some() {
            crate::upstream::tls_config(self).map_err(|e| {
                Error::Config(format!(
                    "upstream `{ns}`: http.client_cert / http.client_key: {e}"
                ))
            })?;
        }
        if self.bearer_token.is_some() && self.oauth.is_some() {
            return Err(Error::Config(format!(
                "upstream `{ns}`: set either http.bearer_token or http.oauth, not both"
            )));
        }
        let mut seen = BTreeSet::new();
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            let reserved = [
                "authorization",
                "accept",
                "content-type",
                "host",
                "mcp-session-id",
                "mcp-protocol-version",
                "last-event-id",
            ];
            if reserved.contains(&lower.as_str()) {
                return Err(Error::Config(format!(
                    "upstream `{ns}`: header `{name}` cannot be set (use bearer_token for Authorization)"
                )));
            }
            if !seen.insert(lower)
                || http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(value).is_err()
            {
                return Err(Error::Config(format!(
                    "upstream `{ns}`: header `{name}` is invalid or repeated"
                )));
            }
        }
        if let Some(oauth) = &self.oauth {
            let token = parse_url(ns, "http.oauth.token_url", &oauth.token_url)?;
            let loopback = token.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
                    || h == "[::1]"
            });
            if token.scheme() != "https" && !loopback {
                return Err(Error::Config(format!(
                    "upstream `{ns}`: http.oauth.token_url must be https (or loopback)"
                )));
            }
            if oauth.client_id.is_empty() || oauth.client_secret.is_empty() {
                return Err(Error::Config(format!(
                    "upstream `{ns}`: http.oauth needs client_id and client_secret"
                )));
            }
        }
        Ok(())
    }
}

fn parse_url(ns: &str, what: &str, text: &str) -> Result<Url, Error> {
    let url = Url::parse(text)
        .map_err(|e| Error::Config(format!("upstream `{ns}`: {what} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "upstream `{ns}`: {what} must be http:// or https://"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(format!(
            "upstream `{ns}`: {what} must not hold credentials"
        )));
    }
    Ok(url)
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("url", &self.url)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("oauth", &self.oauth)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

/// The OAuth 2.0 client credentials grant (RFC 6749 §4.4) at a configured token endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The token endpoint (https, or http on loopback).
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (sent in the request body; never printed).
    pub client_secret: String,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// RFC 8707 `resource` to ask a token for (the upstream's URL, usually).
    #[serde(default)]
    pub resource: Option<String>,
    /// `audience` parameter, for servers that want one.
    #[serde(default)]
    pub audience: Option<String>,
}

impl ClientCredentials {
    /// Credentials for `token_url`.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: Vec::new(),
            resource: None,
            audience: None,
        }
    }
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .finish()
    }
}

impl GatewayConfig {
    /// Checks every upstream (namespaces unique and valid, exactly one transport, URLs,
    /// headers, timeouts) and the redaction detectors.
    pub fn validate(&self) -> Result<(), Error> {
        let mut namespaces = BTreeSet::new();
        for upstream in &self.upstreams {
            upstream.validate()?;
            if !namespaces.insert(upstream.namespace.as_str()) {
                return Err(Error::Config(format!(
                    "namespace `{}` is used by two upstreams",
                    upstream.namespace
                )));
            }
        }
        crate::Redactor::from_config(&self.redaction)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> GatewayConfig {
        GatewayConfig {
            upstreams: vec![UpstreamConfig::http("api", HttpConfig::new(url))],
            ..GatewayConfig::default()
        }
    }

    #[test]
    fn a_valid_configuration_passes() {
        http("http://127.0.0.1:8080/mcp").validate().unwrap();
        let stdio = GatewayConfig {
            upstreams: vec![UpstreamConfig::stdio(
                "fs",
                StdioConfig::new("/usr/bin/node", ["server.js"]),
            )],
            ..GatewayConfig::default()
        };
        stdio.validate().unwrap();
    }

    #[test]
    fn bad_urls_and_duplicate_namespaces_are_refused() {
        for url in [
            "ftp://x/mcp",
            "not a url",
            "http://user:pw@host/mcp",
            "file:///tmp",
        ] {
            assert!(http(url).validate().is_err(), "{url}");
        }
        let mut twice = http("http://127.0.0.1:1/mcp");
        twice.upstreams.push(twice.upstreams[0].clone());
        assert!(
            twice
                .validate()
                .unwrap_err()
                .to_string()
                .contains("two upstreams")
        );
        let mut both = http("http://127.0.0.1:1/mcp");
        both.upstreams[0].stdio = Some(StdioConfig::new("/bin/true", Vec::<String>::new()));
        assert!(both.validate().is_err());
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = http("https://upstream.example/mcp");
        c.validate().unwrap();
        let h = c.upstreams[0].http.as_mut().unwrap();
        h.ca_file = Some(dir.path().join("missing.pem"));
        assert!(c.validate().unwrap_err().to_string().contains("ca_file"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        c.upstreams[0].http.as_mut().unwrap().ca_file = Some(empty);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn reserved_headers_and_plain_http_token_endpoints_are_refused() {
        let mut c = http("http://127.0.0.1:1/mcp");
        let h = c.upstreams[0].http.as_mut().unwrap();
        h.headers.insert("Authorization".into(), "Bearer x".into());
        assert!(c.validate().is_err());
        let mut c = http("http://127.0.0.1:1/mcp");
        let h = c.upstreams[0].http.as_mut().unwrap();
        h.oauth = Some(ClientCredentials::new(
            "http://auth.example/token",
            "id",
            "secret",
        ));
        assert!(c.validate().unwrap_err().to_string().contains("https"));
        let h = c.upstreams[0].http.as_mut().unwrap();
        h.oauth = Some(ClientCredentials::new(
            "http://127.0.0.1:9/token",
            "id",
            "secret",
        ));
        c.validate().unwrap();
    }

    #[test]
    fn secrets_do_not_reach_debug_output() {
        let mut h = HttpConfig::new("http://127.0.0.1:1/mcp");
        h.bearer_token = Some("tok-123".into());
        h.headers.insert("X-Api-Key".into(), "key-456".into());
        h.oauth = Some(ClientCredentials::new(
            "http://127.0.0.1:9/t",
            "id",
            "sec-789",
        ));
        let mut s = StdioConfig::new("/bin/x", Vec::<String>::new());
        s.env.insert("TOKEN".into(), "env-000".into());
        let text = format!("{h:?} {s:?}");
        for secret in ["tok-123", "key-456", "sec-789", "env-000"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<GatewayConfig>(r#"{"upstream": []}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
