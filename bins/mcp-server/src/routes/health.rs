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

/// The sandbox in the `GET /ready` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxReadiness {
    /// `ok` when code can run, else `unavailable`.
    pub state: &'static str,
    /// Why code cannot run (absent when it can).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What to change, then restart (absent when code can run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Every isolation layer the start-up probe checked (none when the sandbox did not start).
    pub layers: Vec<LayerReadiness>,
    /// Each language and whether its interpreter was found (`ok` or `unavailable`).
    pub languages: std::collections::BTreeMap<String, &'static str>,
    /// `sandbox.allow_weaker_isolation`: code runs although a required layer is missing.
    pub weaker_isolation_allowed: bool,
}

/// One isolation layer in the `GET /ready` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LayerReadiness {
    /// The layer (`bubblewrap`, `user_namespace`, `seccomp`, `rlimits`, `cgroup_memory`, …).
    pub layer: String,
    /// `ok` or `unavailable`.
    pub state: &'static str,
    /// Whether code runs are refused without it (unless weaker isolation is allowed).
    pub required: bool,
    /// Why it is unavailable (absent when it works).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What makes it available (absent when it works).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<&'static str>,
}

/// One store in the `GET /ready` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreReadiness {
    /// Its backend (`memory`, `sqlite`, `neo4j`).
    #[schema(value_type = String)]
    pub backend: crate::config::Backend,
    /// `ok` when it answered, else `down` (the cause is in the server log).
    pub state: String,
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
    /// Each store with its backend and state.
    pub storage: std::collections::BTreeMap<&'static str, StoreReadiness>,
    /// The sandbox: each isolation layer with its state, and when code cannot run, why and
    /// the fix.
    pub sandbox: SandboxReadiness,
}

fn sandbox_readiness(state: &AppState) -> SandboxReadiness {
    let outage = state.runners.outage();
    let (layers, languages, weaker) = match state.runners.probe() {
        Ok(probe) => (
            probe
                .layers
                .iter()
                .map(|l| LayerReadiness {
                    layer: l.layer.name(),
                    state: if l.available { "ok" } else { "unavailable" },
                    required: l.required,
                    reason: (!l.available).then(|| l.detail.clone()),
                    fix: (!l.available).then(|| crate::state::runners::layer_fix(l.layer)),
                })
                .collect(),
            probe
                .languages
                .iter()
                .map(|l| {
                    let state = if l.available { "ok" } else { "unavailable" };
                    (l.language.to_string(), state)
                })
                .collect(),
            probe.weaker_isolation_allowed,
        ),
        Err(_) => (
            Vec::new(),
            std::collections::BTreeMap::new(),
            state.config.sandbox.allow_weaker_isolation,
        ),
    };
    SandboxReadiness {
        state: if outage.is_some() {
            "unavailable"
        } else {
            "ok"
        },
        reason: outage.as_ref().map(|o| o.cause.clone()),
        fix: outage.map(|o| o.fix),
        layers,
        languages,
        weaker_isolation_allowed: weaker,
    }
}

/// Readiness: each store (with its backend) and the sandbox (each isolation layer with its
/// state; when code cannot run, why and the fix) answer. 503 when a required part is down.
/// Public, like any readiness probe: it names which layers the host lacks, never secrets.
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
    let storage = crate::config::StoreKind::ALL
        .into_iter()
        .map(|kind| {
            let store = StoreReadiness {
                backend: state.config.storage.backend_of(kind),
                state: checks.get(kind.name()).cloned().unwrap_or_default(),
            };
            (kind.name(), store)
        })
        .collect();
    let body = Readiness {
        status: if all_ok { "ready" } else { "not_ready" },
        checks,
        upstreams,
        storage,
        sandbox: sandbox_readiness(&state),
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
