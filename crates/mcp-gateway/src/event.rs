//! What the gateway reports: [`GatewayEvent`] and where it goes ([`EventSink`]).

use serde::Serialize;
use tokio::sync::mpsc;

use crate::pin::PinnedDefinition;

/// Something the server should record. [`GatewayEvent::DefinitionChanged`] is a security
/// event: the binary audits it as `security_violation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GatewayEvent {
    /// An upstream connected and its catalog was read.
    UpstreamConnected {
        /// The upstream's namespace.
        namespace: String,
        /// How many tools it offers (withheld ones included).
        tools: usize,
    },
    /// An upstream's connection ended or could not be made; it will be retried.
    UpstreamDisconnected {
        /// The upstream's namespace.
        namespace: String,
        /// Why, for logs.
        reason: String,
    },
    /// A tool was seen for the first time and its definition pinned.
    ToolPinned {
        /// The upstream's namespace.
        namespace: String,
        /// The tool's name at the upstream.
        tool: String,
        /// SHA-256 of the pinned definition.
        hash: String,
    },
    /// An upstream changed a pinned tool's definition ("rug pull"): the tool is withheld until
    /// an admin approves the new definition. Reported once per new definition.
    DefinitionChanged {
        /// The upstream's namespace.
        namespace: String,
        /// The tool's name at the upstream.
        tool: String,
        /// The approved definition (its text is what the audit keeps).
        approved: PinnedDefinition,
        /// The definition the upstream offers now.
        offered: PinnedDefinition,
        /// Top-level fields that differ (`description`, `inputSchema`, …).
        changed_fields: Vec<String>,
    },
    /// An admin approved a changed definition; the tool is served again.
    DefinitionApproved {
        /// The upstream's namespace.
        namespace: String,
        /// The tool's name at the upstream.
        tool: String,
        /// The approved definition.
        approved: PinnedDefinition,
        /// Who approved it.
        by: String,
    },
    /// An admin rejected a changed definition; the tool stays withheld.
    DefinitionRejected {
        /// The upstream's namespace.
        namespace: String,
        /// The tool's name at the upstream.
        tool: String,
        /// SHA-256 of the rejected definition.
        hash: String,
        /// Who rejected it.
        by: String,
    },
}

impl GatewayEvent {
    /// The audit event type the binary records: `security_violation` for a changed
    /// definition, `gateway` for the rest.
    pub fn audit_kind(&self) -> &'static str {
        match self {
            Self::DefinitionChanged { .. } => "security_violation",
            _ => "gateway",
        }
    }
}

/// Receives the gateway's events. Called from the gateway's tasks; must not block (queue the
/// event, e.g. with the audit logger's `try_log`).
pub trait EventSink: Send + Sync {
    /// Takes one event.
    fn emit(&self, event: GatewayEvent);
}

/// Drops every event but logs it at `debug` level (the default sink).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSink;

impl EventSink for LogSink {
    fn emit(&self, event: GatewayEvent) {
        tracing::debug!(?event, "gateway event");
    }
}

/// Sends events into an unbounded channel (tests, and embedders that drain it).
#[derive(Clone, Debug)]
pub struct ChannelSink(mpsc::UnboundedSender<GatewayEvent>);

impl ChannelSink {
    /// A sink and the receiving end of its channel.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<GatewayEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }
}

impl EventSink for ChannelSink {
    fn emit(&self, event: GatewayEvent) {
        let _ = self.0.send(event);
    }
}
