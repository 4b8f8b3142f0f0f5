//! The audit log (`system:admin`).
use actix_web::web;
use mcp_audit::{ChainReport, StoredEvent};

use crate::auth::Allowed;
use crate::auth::perm::SystemAdmin;
use crate::error::{ApiError, ErrorBody};
use crate::ops::audit::{self, AuditQuery};
use crate::query::Query;
use crate::state::AppState;

/// Query the audit log. Events still in the queue are written first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])), responses(
    (status = 200, description = "stored events, newest first", body = [Object]),
    (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn query(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
    params: Query<AuditQuery>,
) -> Result<web::Json<Vec<StoredEvent>>, ApiError> {
    Ok(web::Json(
        audit::query_events(&state, params.into_inner()).await?,
    ))
}

/// Verify the audit log's hash chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "chain report", body = Object), (status = 403, body = ErrorBody)))]
pub async fn verify(
    _: Allowed<SystemAdmin>,
    state: web::Data<AppState>,
) -> Result<web::Json<ChainReport>, ApiError> {
    Ok(web::Json(audit::verify(&state).await?))
}
