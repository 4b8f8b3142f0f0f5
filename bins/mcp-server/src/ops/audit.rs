//! The audit log operations (`system:admin`): the query of `GET /api/v1/audit` and the MCP
//! tool `audit_query`, and the chain check.
use mcp_audit::{AuditFilter, ChainReport, StoredEvent};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::state::AppState;

/// Query parameters of `GET /api/v1/audit` (all optional, combined with AND).
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this event type (`code_execution`, `auth_failure`, `authz_denied`, …).
    pub event_type: Option<String>,
    /// Only events of this user id.
    pub user_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events before this time (RFC 3339).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only successful (`true`) or failed (`false`) events.
    pub success: Option<bool>,
    /// At most this many events, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
}

impl AuditQuery {
    fn into_filter(self) -> Result<AuditFilter, ApiError> {
        let mut filter = AuditFilter::new();
        if let Some(t) = self.event_type {
            let t = t
                .parse()
                .map_err(|e: mcp_audit::Error| ApiError::BadRequest(e.to_string()))?;
            filter = filter.event_type(t);
        }
        if let Some(u) = self.user_id {
            filter = filter.user(u);
        }
        if let Some(s) = self.since {
            filter = filter.since(s);
        }
        if let Some(u) = self.until {
            filter = filter.until(u);
        }
        if let Some(s) = self.success {
            filter = filter.success(s);
        }
        if let Some(l) = self.limit {
            filter = filter.limit(l);
        }
        Ok(filter)
    }
}

fn audit_error(err: mcp_audit::Error) -> ApiError {
    match err {
        mcp_audit::Error::Store(e) => e.into(),
        other => ApiError::internal(other),
    }
}

/// The events `query` selects, newest first, after writing what is still queued (REST and MCP).
pub async fn query_events(
    state: &AppState,
    query: AuditQuery,
) -> Result<Vec<StoredEvent>, ApiError> {
    let filter = query.into_filter()?;
    // Best effort: include what was just logged (the caller's own authz event, for one).
    let _ = state.audit.flush(std::time::Duration::from_secs(2)).await;
    state.audit.query(&filter).await.map_err(audit_error)
}

/// The audit log's hash-chain report, after writing what is still queued.
pub async fn verify(state: &AppState) -> Result<ChainReport, ApiError> {
    let _ = state.audit.flush(std::time::Duration::from_secs(2)).await;
    state.audit.verify_chain().await.map_err(audit_error)
}
