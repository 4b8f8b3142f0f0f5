//! Prometheus metrics, kept in a registry per app (so tests don't share counters).
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route pattern, method and status.
    pub requests: IntCounterVec,
    /// Request latency by route pattern, method and status.
    pub latency: HistogramVec,
    /// Failed authentications by reason (`missing_token`, `invalid_token`, `user_disabled`,
    /// `unknown_user`, `token_predates_change`, `invalid_credentials`, `locked_out`, `busy`).
    pub auth_failures: IntCounterVec,
    /// Audit events of unauthenticated callers not stored for the budget, by kind.
    pub audit_suppressed: IntCounterVec,
    /// Permission denials by permission.
    pub permission_denials: IntCounterVec,
    /// Code executions by language and outcome.
    pub executions: IntCounterVec,
    /// Audit events waiting to be written.
    pub audit_queue_depth: IntGauge,
    /// Sandbox runs in progress or waiting.
    pub sandbox_queue: IntGauge,
    /// Sandbox runs by how they got their sandbox (`standby` or `cold`).
    pub sandbox_runs: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "mcp_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("mcp_http_request_duration_seconds", "HTTP request latency"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "mcp_auth_failures_total",
                "Failed authentications by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let audit_suppressed = IntCounterVec::new(
            Opts::new(
                "mcp_audit_suppressed_total",
                "Audit events of unauthenticated callers over the per-minute budget, by kind",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let permission_denials = IntCounterVec::new(
            Opts::new(
                "mcp_permission_denials_total",
                "Permission denials by permission",
            ),
            &["permission"],
        )
        .expect("valid metric");
        let executions = IntCounterVec::new(
            Opts::new(
                "mcp_executions_total",
                "Code executions by language and outcome",
            ),
            &["language", "outcome"],
        )
        .expect("valid metric");
        let audit_queue_depth = IntGauge::new(
            "mcp_audit_queue_depth",
            "Audit events waiting to be written",
        )
        .expect("valid metric");
        let sandbox_queue =
            IntGauge::new("mcp_sandbox_queue", "Sandbox runs in progress").expect("valid metric");
        let sandbox_runs = IntCounterVec::new(
            Opts::new(
                "mcp_sandbox_runs_total",
                "Sandbox runs by how their sandbox was started: standby (ahead of the run) or cold",
            ),
            &["sandbox"],
        )
        .expect("valid metric");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(auth_failures.clone()),
            Box::new(audit_suppressed.clone()),
            Box::new(permission_denials.clone()),
            Box::new(executions.clone()),
            Box::new(audit_queue_depth.clone()),
            Box::new(sandbox_queue.clone()),
            Box::new(sandbox_runs.clone()),
        ] {
            registry.register(m).expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            latency,
            auth_failures,
            audit_suppressed,
            permission_denials,
            executions,
            audit_queue_depth,
            sandbox_queue,
            sandbox_runs,
        }
    }

    /// Brings `mcp_sandbox_runs_total` up to the sandbox's own counts.
    pub fn sync_sandbox(&self, stats: mcp_sandbox::SandboxStats) {
        for (label, now) in [
            ("standby", stats.runs_from_standby),
            ("cold", stats.runs_started_cold),
        ] {
            let counter = self.sandbox_runs.with_label_values(&[label]);
            counter.inc_by(now.saturating_sub(counter.get()));
        }
    }

    /// Records one finished request. Every label value comes from a fixed set: `route` is a
    /// pattern of the route table (or `unmatched`, which the caller passes for anything else),
    /// the method one of [`METHODS`] or `other`, the status a number from 100 to 599 or `other`.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = if (100..600).contains(&status) {
            status.to_string()
        } else {
            "other".to_owned()
        };
        let labels = [route, method_label(method), status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The HTTP methods that are label values of their own; any other becomes `other`.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// `method` if it is one of [`METHODS`], else `other`.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_has_request_counts_by_route_and_status() {
        let m = Metrics::new();
        m.observe_request("/health", "GET", 200, 0.001);
        m.executions.with_label_values(&["python", "success"]).inc();
        let text = m.render();
        assert!(
            text.contains(
                r#"mcp_http_requests_total{method="GET",route="/health",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("mcp_http_request_duration_seconds_bucket"));
        assert!(text.contains(r#"mcp_executions_total{language="python",outcome="success"} 1"#));
    }

    #[test]
    fn unknown_methods_and_odd_statuses_collapse_into_one_label_value() {
        let m = Metrics::new();
        for i in 0..50 {
            m.observe_request("unmatched", &format!("BREW{i}"), 400, 0.001);
        }
        m.observe_request("unmatched", "GET", 999, 0.001);
        let text = m.render();
        assert!(
            text.contains(
                r#"mcp_http_requests_total{method="other",route="unmatched",status="400"} 50"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_http_requests_total{method="GET",route="unmatched",status="other"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains("BREW"), "{text}");
    }

    #[test]
    fn sandbox_run_counts_follow_the_sandbox() {
        let m = Metrics::new();
        let mut stats = mcp_sandbox::SandboxStats::default();
        stats.runs_from_standby = 5;
        stats.runs_started_cold = 2;
        m.sync_sandbox(stats);
        m.sync_sandbox(stats);
        let text = m.render();
        assert!(
            text.contains(r#"mcp_sandbox_runs_total{sandbox="standby"} 5"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_sandbox_runs_total{sandbox="cold"} 2"#),
            "{text}"
        );
    }
}
