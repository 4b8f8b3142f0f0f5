//! The gateway wired into the server: upstream MCP servers (`[gateway]`) behind the same
//! guard as the server's own tools.
//!
//! [`Upstreams`] owns the library's [`mcp_gateway::Gateway`] (connections, the namespaced
//! catalog, pinned definitions, redaction) and what the server adds: the per-user rate limits
//! of upstream calls ([`budgets`], counted in the shared counter store, so they hold across
//! instances) and which upstreams `/ready` requires. The operations in
//! [`crate::ops::gateway`] check
//! the caller's `upstream:<namespace>:<tool>` permission, take one call from the caller's
//! budget, call the upstream and audit the call; REST (`routes::gateway`) and MCP (`mcp`)
//! both go through them. Gateway events (connections, pins, changed definitions) become audit
//! events through [`events::AuditEventSink`].
//!
//! Stdio upstreams are started by [`launcher::UpstreamLauncher`] in the sandbox. The gateway's
//! supervisor tasks run on the runtime that calls [`Upstreams::start`], which must live as long
//! as the server (the actix system's runtime): bubblewrap's `--die-with-parent` follows the
//! thread that started the process.
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mcp_audit::AuditLogger;
use mcp_gateway::{Gateway, PinStore, Redactor};
use mcp_limits::{CounterStore, StoreError};
use mcp_sandbox::BwrapSandbox;

use crate::config::GatewayConfig;

pub mod budgets;
pub mod decisions;
pub mod events;
pub mod launcher;
pub mod metrics;

/// How often a running server looks for decisions made outside it (the `gateway approve`
/// command, another instance sharing the pin store).
pub const SYNC_EVERY: Duration = Duration::from_secs(2);

/// The configured upstreams and the server's limits on them.
pub struct Upstreams {
    gateway: Gateway,
    budgets: budgets::UpstreamBudgets,
    required: BTreeSet<String>,
    /// `upstream:<namespace>` of each required upstream: keys of `/ready`'s checks, made
    /// once (the set is fixed by the configuration).
    ready_keys: Vec<(&'static str, String)>,
    redact_tool_outputs: bool,
}

impl Upstreams {
    /// Starts the upstreams of `gw` (none: `None`), connecting in the background; stdio
    /// upstreams run in `sandbox`, definitions are pinned in `pins`, gateway events are
    /// audited through `audit`, and the callers' budgets are counted in `counters`.
    pub fn start(
        gw: &GatewayConfig,
        pins: Arc<dyn PinStore>,
        audit: AuditLogger,
        sandbox: Result<Arc<BwrapSandbox>, String>,
        counters: Arc<dyn CounterStore>,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        if !gw.is_enabled() {
            return Ok(None);
        }
        let library = gw.to_library(&|name| std::env::var(name).ok())?;
        let redactor = Arc::new(Redactor::from_config(&library.redaction)?);
        let plain: BTreeSet<String> = gw
            .upstreams
            .iter()
            .filter(|u| u.stdio.as_ref().is_some_and(|s| s.dangerous_no_sandbox))
            .map(|u| u.namespace.clone())
            .collect();
        for ns in &plain {
            tracing::warn!(upstream = %ns, "DANGEROUS: this stdio upstream runs outside the sandbox (dangerous_no_sandbox)");
        }
        let gateway = Gateway::builder(library)
            .launcher(Arc::new(launcher::UpstreamLauncher::new(sandbox, plain)))
            .pin_store(pins)
            .events(Arc::new(events::AuditEventSink::new(audit, redactor)))
            .start()?;
        let upstreams = Arc::new(Self {
            gateway,
            budgets: budgets::UpstreamBudgets::new(gw, counters),
            required: gw
                .upstreams
                .iter()
                .filter(|u| u.required)
                .map(|u| u.namespace.clone())
                .collect(),
            ready_keys: gw
                .upstreams
                .iter()
                .filter(|u| u.required)
                .map(|u| {
                    let key: &'static str =
                        Box::leak(format!("upstream:{}", u.namespace).into_boxed_str());
                    (key, u.namespace.clone())
                })
                .collect(),
            redact_tool_outputs: gw.redact_tool_outputs,
        });
        let weak = Arc::downgrade(&upstreams);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(u) = weak.upgrade() else { return };
                if let Err(e) = u.gateway.sync_decisions().await {
                    tracing::warn!(error = %e, "reading gateway decisions failed");
                }
            }
        });
        Ok(Some(upstreams))
    }

    /// The library's gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Takes one call from `user`'s budget for all upstreams and for `namespace`'s own, or
    /// says which is spent and how long to wait; the outer error is the counter store's.
    pub async fn admit(
        &self,
        user: &str,
        namespace: &str,
    ) -> Result<Result<(), budgets::OverBudget>, StoreError> {
        self.budgets.admit(user, namespace).await
    }

    /// Whether `/ready` needs `namespace` up.
    pub fn is_required(&self, namespace: &str) -> bool {
        self.required.contains(namespace)
    }

    /// `/ready`'s check of each required upstream: its key and whether it is up.
    pub fn required_checks(&self) -> Vec<(&'static str, bool)> {
        let health = self.gateway.health();
        self.ready_keys
            .iter()
            .map(|(key, ns)| {
                let up = health
                    .iter()
                    .any(|h| h.namespace == *ns && h.state == mcp_gateway::UpstreamState::Up);
                (*key, up)
            })
            .collect()
    }

    /// Whether the server's own tool results are redacted too.
    pub fn redacts_tool_outputs(&self) -> bool {
        self.redact_tool_outputs
    }

    /// Stops every upstream.
    pub async fn shutdown(&self) {
        self.gateway.shutdown().await;
    }
}
