//! `[mcp]` settings.
use serde::{Deserialize, Serialize};

/// The browser origins on loopback, accepted by default when the server listens on loopback.
pub const LOOPBACK_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// Settings of the `/mcp` endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// `Host` header values accepted at `/mcp` (host, or `host:port`); `*` accepts any. Guards
    /// against DNS rebinding: add the names clients use when the server is not on loopback.
    pub allowed_hosts: Vec<String>,
    /// `Origin` header values accepted (`scheme://host[:port]`, or `scheme://host:*` for any
    /// port; `*` accepts any); requests without `Origin` (non-browser clients) always pass.
    pub allowed_origins: Vec<String>,
    /// When the server listens on loopback only (`http.host` is `127.0.0.1`, `localhost` or
    /// `::1`), also accept the loopback browser origins `http://localhost:*`,
    /// `http://127.0.0.1:*` and `http://[::1]:*`, as browser-based MCP clients expect. Never
    /// applies when the server listens on another address.
    pub loopback_origins: bool,
    /// Largest accepted JSON-RPC message, in bytes (HTTP body or stdio line).
    pub max_message_bytes: usize,
    /// Seconds between keep-alive comments on idle SSE streams (0: none).
    pub sse_keep_alive_secs: u64,
    /// Open MCP sessions (handshake clients over HTTP) one user may hold. A new session beyond
    /// it closes the user's least recently used idle session (no request or stream open);
    /// when all are busy, the new one is refused with 429.
    pub max_sessions_per_user: usize,
    /// Items per page of `tools/list`, `resources/list`, `resources/templates/list` and
    /// `prompts/list`; clients follow `nextCursor` for the rest.
    pub page_size: usize,
    /// Milliseconds between two looks at what each session's user may see and at the
    /// resources it subscribed to (list_changed and resources/updated notifications).
    pub watch_interval_ms: u64,
    /// Serve the official conformance suite's fixtures (tools `test_*`, `test://` resources,
    /// prompts `test_*`) to every authenticated caller. Test-only: the setting exists only in
    /// builds with the cargo feature `conformance-fixtures`, which the default build lacks.
    #[cfg(feature = "conformance-fixtures")]
    pub conformance_fixtures: bool,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            loopback_origins: true,
            max_message_bytes: 1024 * 1024,
            sse_keep_alive_secs: 15,
            max_sessions_per_user: 16,
            page_size: 100,
            watch_interval_ms: 2000,
            #[cfg(feature = "conformance-fixtures")]
            conformance_fixtures: false,
        }
    }
}

/// Whether `host` (an `http.host` value) names only the loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl McpConfig {
    /// The settings for a server with `config`: `[mcp]`, plus the configured listen host as an
    /// allowed `Host` when it is a name or a specific address, plus the loopback browser
    /// origins when the server listens on loopback and `loopback_origins` is on, plus the host
    /// of `http.public_url` (the name clients are told to use).
    pub fn for_server(config: &super::Config) -> Self {
        let mut mcp = config.mcp.clone();
        let host = config.http.host.trim();
        let wildcard = matches!(host, "" | "0.0.0.0" | "::" | "[::]");
        if !wildcard && !mcp.allowed_hosts.iter().any(|h| h == host) {
            mcp.allowed_hosts.push(host.to_owned());
        }
        if mcp.loopback_origins && is_loopback_host(host) {
            for origin in LOOPBACK_ORIGINS {
                if !mcp.allowed_origins.iter().any(|o| o == origin) {
                    mcp.allowed_origins.push(origin.to_owned());
                }
            }
        }
        if let Some(public) = config.http.public_url.as_deref().and_then(|u| {
            let authority = u.split_once("://")?.1.trim_end_matches('/');
            Some(authority.to_owned())
        }) && !mcp.allowed_hosts.contains(&public)
        {
            mcp.allowed_hosts.push(public);
        }
        mcp
    }

    /// Whether a `Host` header value is allowed.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default().to_owned(),
            None => host
                .rsplit_once(':')
                .map_or(host.clone(), |(h, _)| h.to_owned()),
        };
        self.allowed_hosts.iter().any(|allowed| {
            let allowed = allowed.trim().to_ascii_lowercase();
            allowed == "*" || allowed == host || allowed == name
        })
    }

    /// Whether an `Origin` header value is allowed: equal to an entry (case-insensitive,
    /// trailing `/` ignored), or matching an entry `scheme://host:*` with any port (or none).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/');
        self.allowed_origins.iter().any(|allowed| {
            let allowed = allowed.trim().trim_end_matches('/');
            if allowed == "*" || allowed.eq_ignore_ascii_case(origin) {
                return true;
            }
            let Some(prefix) = allowed.strip_suffix(":*") else {
                return false;
            };
            let Some(head) = origin.get(..prefix.len()) else {
                return false;
            };
            if !head.eq_ignore_ascii_case(prefix) {
                return false;
            }
            let rest = &origin[prefix.len()..];
            rest.is_empty()
                || rest.strip_prefix(':').is_some_and(|port| {
                    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn server_on(host: &str) -> McpConfig {
        let mut config = Config::default();
        config.http.host = host.into();
        McpConfig::for_server(&config)
    }

    #[test]
    fn loopback_browser_origins_are_accepted_when_listening_on_loopback() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            let mcp = server_on(host);
            for origin in [
                "http://localhost:5173",
                "http://127.0.0.1:6274",
                "http://[::1]:3000",
                "http://localhost",
                "HTTP://LOCALHOST:8080/",
            ] {
                assert!(mcp.origin_allowed(origin), "{host}: {origin}");
            }
        }
    }

    #[test]
    fn loopback_origins_are_refused_when_listening_elsewhere_or_turned_off() {
        for host in ["0.0.0.0", "::", "10.1.2.3", "mcp.example.com"] {
            let mcp = server_on(host);
            assert!(!mcp.origin_allowed("http://localhost:5173"), "{host}");
        }
        let mut config = Config::default();
        config.http.host = "127.0.0.1".into();
        config.mcp.loopback_origins = false;
        assert!(!McpConfig::for_server(&config).origin_allowed("http://localhost:5173"));
    }

    #[test]
    fn a_port_wildcard_matches_ports_only_not_other_hosts_or_schemes() {
        let mcp = server_on("127.0.0.1");
        for origin in [
            "https://localhost:5173",
            "http://localhost.evil.example",
            "http://localhost:5173.evil.example",
            "http://localhost:",
            "http://localhost:80x",
            "http://127.0.0.1.nip.io:80",
            "null",
        ] {
            assert!(!mcp.origin_allowed(origin), "{origin}");
        }
    }

    #[test]
    fn configured_origins_match_exactly_or_by_port_wildcard() {
        let mcp = McpConfig {
            allowed_origins: vec![
                "https://app.example.com".into(),
                "http://dev.example:*".into(),
            ],
            ..McpConfig::default()
        };
        assert!(mcp.origin_allowed("https://app.example.com"));
        assert!(mcp.origin_allowed("http://dev.example:8080"));
        assert!(!mcp.origin_allowed("https://app.example.com:444"));
        assert!(!mcp.origin_allowed("http://localhost:5173"));
    }

    #[test]
    fn hosts_match_by_name_or_name_and_port() {
        let mcp = McpConfig::default();
        assert!(mcp.host_allowed("localhost:8080"));
        assert!(mcp.host_allowed("[::1]:8080"));
        assert!(mcp.host_allowed("127.0.0.1"));
        assert!(!mcp.host_allowed("evil.example"));
        assert!(!mcp.host_allowed("evil.example:8080"));
    }
}
