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
    /// Each part and whether it answered (`ok` or an error).
    pub checks: std::collections::BTreeMap<&'static str, String>,
}

/// Readiness: each store and the sandbox answer. 503 when a required part is down.
#[utoipa::path(get, path = "/ready", tag = "system", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let checks = crate::state::readiness(&state).await;
    let all_ok = checks.values().all(|v| v == "ok");
    let body = Readiness {
        status: if all_ok { "ready" } else { "not_ready" },
        checks,
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
        .body(state.metrics.render())
}
