//! Liveness, readiness and metrics.
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// `GET /health` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// `GET /ready` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every required part answers, else `not_ready`.
    pub status: &'static str,
    /// Each part and whether it answered (`ok` or an error). Upstreams configured as
    /// `required` are parts (`upstream:<namespace>`).
    pub checks: std::collections::BTreeMap<&'static str, String>,
    /// The state of every gateway upstream (`up`, `connecting`, `down`, …), required or not;
    /// absent without upstreams.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub upstreams: std::collections::BTreeMap<String, String>,
}

/// Readiness: each store and the sandbox answer. 503 when a required part is down.
#[utoipa::path(get, path = "/ready", tag = "system", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = crate::state::readiness(&state).await;
    let mut upstreams = std::collections::BTreeMap::new();
    if let Some(u) = state.gateway.as_deref() {
        for (key, ok) in u.required_checks() {
            checks.insert(key, if ok { "ok" } else { "down" }.to_owned());
        }
        for h in u.gateway().health() {
            let value = serde_json::to_value(h.state).unwrap_or_default();
            upstreams.insert(h.namespace, value.as_str().unwrap_or("unknown").to_owned());
        }
    }
    let all_ok = checks.values().all(|v| v == "ok");
    let body = Readiness {
        status: if all_ok { "ready" } else { "not_ready" },
        checks,
        upstreams,
    };
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let depth = i64::try_from(state.audit.queue_depth()).unwrap_or(i64::MAX);
    state.metrics.audit_queue_depth.set(depth);
    if let Some(stats) = state.runners.stats() {
        state.metrics.sync_sandbox(stats);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(match state.gateway.as_deref() {
            Some(u) => {
                state.metrics.render() + &crate::gateway::metrics::render(&u.gateway().health())
            }
            None => state.metrics.render(),
        })
}
