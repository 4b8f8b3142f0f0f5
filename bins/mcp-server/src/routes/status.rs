//! The server's own account of itself for operators: build version, the backend of each store,
//! readiness and the sandbox's isolation layers (`system:admin`, since it describes the host).
use std::collections::BTreeMap;

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Allowed;
use crate::auth::perm::SystemAdmin;
use crate::config::{Backend, StoreKind};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `GET /api/v1/status` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// The server's version (from its Cargo package).
    pub version: &'static str,
    /// Each store and its backend (`memory`, `sqlite` or `neo4j`).
    #[schema(value_type = Object)]
    pub backends: BTreeMap<&'static str, Backend>,
    /// Each part and whether it answered (`ok` or `down`), as `/ready` reports it.
    pub checks: BTreeMap<&'static str, String>,
    /// The sandbox's start-up report: each isolation layer and interpreter (`null` without a
    /// sandbox).
    #[schema(value_type = Option<Object>)]
    pub sandbox: Option<mcp_sandbox::Probe>,
    /// Why there is no sandbox, when there is none.
    pub sandbox_error: Option<String>,
}

/// Build version, storage backends, readiness and isolation layers.
#[utoipa::path(get, path = "/api/v1/status", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = Status), (status = 403, body = ErrorBody)))]
pub async fn status(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
) -> Result<web::Json<Status>, ApiError> {
    let storage = &state.config.storage;
    let backends = StoreKind::ALL
        .into_iter()
        .map(|kind| (kind.name(), storage.backend_of(kind)))
        .collect();
    Ok(web::Json(Status {
        version: env!("CARGO_PKG_VERSION"),
        backends,
        checks: crate::state::readiness(&state).await,
        sandbox: state.runners.probe().ok().cloned(),
        sandbox_error: state.runners.probe().err().map(str::to_owned),
    }))
}
