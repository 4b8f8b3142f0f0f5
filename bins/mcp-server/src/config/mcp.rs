//! `[mcp]` settings.
use serde::{Deserialize, Serialize};

/// Settings of the `/mcp` endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// `Host` header values accepted at `/mcp` (host, or `host:port`); `*` accepts any. Guards
    /// against DNS rebinding: add the names clients use when the server is not on loopback.
    pub allowed_hosts: Vec<String>,
    /// `Origin` header values accepted (`scheme://host[:port]`); requests without `Origin`
    /// (non-browser clients) always pass. Empty: every browser origin is refused.
    pub allowed_origins: Vec<String>,
    /// Largest accepted JSON-RPC message, in bytes (HTTP body or stdio line).
    pub max_message_bytes: usize,
    /// Seconds between keep-alive comments on idle SSE streams (0: none).
    pub sse_keep_alive_secs: u64,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            max_message_bytes: 1024 * 1024,
            sse_keep_alive_secs: 15,
        }
    }
}

impl McpConfig {
    /// The settings for a server with `config`: `[mcp]`, plus the configured listen host as an
    /// allowed `Host` when it is a name or a specific address.
    pub fn for_server(config: &super::Config) -> Self {
        let mut mcp = config.mcp.clone();
        let host = config.http.host.trim();
        let wildcard = matches!(host, "" | "0.0.0.0" | "::" | "[::]");
        if !wildcard && !mcp.allowed_hosts.iter().any(|h| h == host) {
            mcp.allowed_hosts.push(host.to_owned());
        }
        mcp
    }
}
