use std::time::Duration;

use mcp_core::StoreError;

/// Everything that can go wrong in `mcp-audit` outside a sink call.
///
/// Sinks themselves report [`StoreError`]; this enum wraps it where the logger or a helper
/// surfaces a sink failure, and adds the crate's own failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string did not name any [`EventType`](crate::EventType) (e.g. a bad query parameter).
    #[error("unknown audit event type {0:?}")]
    UnknownEventType(String),
    /// The logger configuration was refused.
    #[error("invalid audit logger configuration: {0}")]
    InvalidConfig(String),
    /// The logger was created outside a tokio runtime, so its background writer cannot run.
    #[error("the audit logger needs a tokio runtime to start its background writer")]
    NoRuntime,
    /// The spill file could not be opened or prepared.
    #[error("audit spill file {path}: {source}")]
    Spill {
        /// The configured spill file.
        path: std::path::PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// [`AuditLogger::flush`](crate::AuditLogger::flush) gave up before every event was stored.
    #[error("audit flush timed out after {waited:?} with {pending} event(s) not yet stored")]
    FlushTimeout {
        /// How long the flush waited.
        waited: Duration,
        /// Events still queued in memory or in the spill file.
        pending: usize,
    },
    /// [`AuditLogger::log_durable`](crate::AuditLogger::log_durable) gave up waiting: the event
    /// is not stored yet. It stays queued and is still delivered later, in order.
    #[error(
        "audit event {event_id} not stored within {waited:?}: the audit sink is slow or down (the event stays queued)"
    )]
    DurableTimeout {
        /// The event waited for.
        event_id: uuid::Uuid,
        /// How long the call waited.
        waited: std::time::Duration,
    },
    /// The event waited for by [`AuditLogger::log_durable`](crate::AuditLogger::log_durable)
    /// will never be stored: the sink refused it for good, or it was dropped (queue full and
    /// no usable spill file).
    #[error("audit event {event_id} was not stored: {reason}")]
    NotStored {
        /// The event.
        event_id: uuid::Uuid,
        /// Why (refused by the sink, or dropped).
        reason: String,
    },
    /// The logger has no sink, so there is nothing to query.
    #[error("the audit logger has no sink to query")]
    NoSink,
    /// A sink call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
