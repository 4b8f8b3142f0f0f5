//! [`Error`]: everything the gateway can refuse or fail with.

use std::time::Duration;

use mcp_core::StoreError;

/// A gateway failure. The binary maps each variant to its JSON-RPC or HTTP error; none of
/// them carries a secret (upstream error messages are redacted before they get here).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (checked before anything starts).
    #[error("invalid gateway configuration: {0}")]
    Config(String),
    /// No upstream serves a tool, prompt or resource of that name (or it is not namespaced).
    #[error("unknown {kind} `{name}`")]
    Unknown {
        /// `tool`, `prompt`, `resource` or `upstream`.
        kind: &'static str,
        /// The name or URI asked for.
        name: String,
    },
    /// The tool's definition changed since it was pinned; it is withheld until an admin
    /// approves the new definition.
    #[error(
        "tool `{tool}` of upstream `{namespace}` is withheld: its definition changed and awaits approval"
    )]
    Withheld {
        /// The upstream's namespace.
        namespace: String,
        /// The tool's name at the upstream.
        tool: String,
    },
    /// The upstream is not connected (starting, restarting or failing).
    #[error("upstream `{namespace}` is unavailable: {reason}")]
    Unavailable {
        /// The upstream's namespace.
        namespace: String,
        /// Why, for logs.
        reason: String,
    },
    /// The upstream did not answer in time; the request was cancelled at the upstream.
    #[error("upstream `{namespace}` did not answer within {after:?}")]
    Timeout {
        /// The upstream's namespace.
        namespace: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The caller cancelled the request; the upstream was told.
    #[error("the request was cancelled")]
    Cancelled,
    /// The upstream answered with a JSON-RPC error (its message redacted).
    #[error("upstream `{namespace}` answered with error {code}: {message}")]
    Upstream {
        /// The upstream's namespace.
        namespace: String,
        /// The JSON-RPC error code.
        code: i32,
        /// The error message, redacted.
        message: String,
    },
    /// The connection to the upstream failed during the request.
    #[error("upstream `{namespace}` failed: {message}")]
    Transport {
        /// The upstream's namespace.
        namespace: String,
        /// What failed, for logs.
        message: String,
    },
    /// The pin store failed, or refused an approval (e.g. [`StoreError::Conflict`] when the
    /// definition changed again since it was reviewed).
    #[error(transparent)]
    Store(#[from] StoreError),
}
