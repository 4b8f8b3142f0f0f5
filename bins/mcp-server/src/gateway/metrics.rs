//! Per-upstream metrics, rendered from the gateway's health at each scrape of `/metrics`:
//! `mcp_gateway_upstream_up`, `…_calls_total`, `…_errors_total`, `…_latency_seconds_total`
//! (with `calls`, the mean latency), `…_connection_failures_total`, `…_tools` and
//! `…_withheld_tools`, each labelled by `namespace` (a fixed set: the configured upstreams).
use mcp_gateway::{UpstreamHealth, UpstreamState};
use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// The Prometheus text of the upstreams' metrics (empty without upstreams).
pub fn render(health: &[UpstreamHealth]) -> String {
    if health.is_empty() {
        return String::new();
    }
    let registry = Registry::new();
    let gauge = |name: &str, help: &str| {
        let g = IntGaugeVec::new(Opts::new(name, help), &["namespace"]).expect("valid metric");
        registry.register(Box::new(g.clone())).expect("unique");
        g
    };
    let counter = |name: &str, help: &str| {
        let c = IntCounterVec::new(Opts::new(name, help), &["namespace"]).expect("valid metric");
        registry.register(Box::new(c.clone())).expect("unique");
        c
    };
    let up = gauge(
        "mcp_gateway_upstream_up",
        "1 when the upstream is connected",
    );
    let tools = gauge("mcp_gateway_upstream_tools", "Tools the upstream offers");
    let withheld = gauge(
        "mcp_gateway_upstream_withheld_tools",
        "Tools withheld because their definition changed",
    );
    let calls = counter(
        "mcp_gateway_upstream_calls_total",
        "Requests routed to the upstream",
    );
    let errors = counter(
        "mcp_gateway_upstream_errors_total",
        "Requests to the upstream that failed (timeouts and transport failures included)",
    );
    let failures = counter(
        "mcp_gateway_upstream_connection_failures_total",
        "Failed connection attempts and ended connections",
    );
    let latency = GaugeVec::new(
        Opts::new(
            "mcp_gateway_upstream_latency_seconds_total",
            "Sum of the durations of the requests to the upstream",
        ),
        &["namespace"],
    )
    .expect("valid metric");
    registry
        .register(Box::new(latency.clone()))
        .expect("unique");
    for h in health {
        let ns = [h.namespace.as_str()];
        up.with_label_values(&ns)
            .set(i64::from(h.state == UpstreamState::Up));
        tools
            .with_label_values(&ns)
            .set(i64::try_from(h.tools).unwrap_or(i64::MAX));
        withheld
            .with_label_values(&ns)
            .set(i64::try_from(h.withheld).unwrap_or(i64::MAX));
        calls.with_label_values(&ns).inc_by(h.calls);
        errors.with_label_values(&ns).inc_by(h.errors);
        failures.with_label_values(&ns).inc_by(h.failures);
        #[allow(clippy::cast_precision_loss)]
        latency
            .with_label_values(&ns)
            .set(h.latency_us_total as f64 / 1e6);
    }
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
