//! The audit log operations (`system:admin`): the query of `GET /api/v1/audit` and the MCP
//! tool `audit_query`, and the chain check.
use mcp_audit::{AuditFilter, ChainReport, EventType, StoredEvent};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::query;
use crate::state::AppState;
use crate::users::UserStore;

/// Query parameters of `GET /api/v1/audit` (all optional, combined with AND).
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this event type (`code_execution`, `auth_failure`, `authz_denied`, …).
    #[serde(default)]
    pub event_type: Option<String>,
    /// Only events of this user: a user id, or a log-in name (of a user that exists now).
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "query::rfc3339")]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events before this time (RFC 3339).
    #[serde(default, deserialize_with = "query::rfc3339")]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only successful (`true`) or failed (`false`) events.
    #[serde(default, deserialize_with = "query::boolean")]
    pub success: Option<bool>,
    /// Only events of this request (the `X-Request-Id` of its answer; 1–128 characters of
    /// `A-Z a-z 0-9 . _ : -`).
    #[serde(default)]
    pub request_id: Option<String>,
    /// Only events older than this `seq`: the cursor of the next older page.
    #[serde(default, deserialize_with = "query::seq")]
    pub before_seq: Option<u64>,
    /// Only events newer than this `seq`: the cursor of a live tail.
    #[serde(default, deserialize_with = "query::seq")]
    pub after_seq: Option<u64>,
    /// At most this many events, newest first (default 100, at most 1000).
    #[serde(default, deserialize_with = "query::audit_limit")]
    pub limit: Option<usize>,
}

/// An event type from its name, or 400 naming the parameter and every valid name.
pub fn parse_event_type(name: &str) -> Result<EventType, ApiError> {
    name.parse().map_err(|_| {
        let valid: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::BadRequest(format!(
            "query parameter `event_type`: unknown value `{}`; valid values: {}",
            name.chars().take(64).collect::<String>(),
            valid.join(", ")
        ))
    })
}

/// A request id as the server hands them out, or 400 naming the parameter and the rule.
pub fn parse_request_id(id: String) -> Result<String, ApiError> {
    let sane = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if sane {
        Ok(id)
    } else {
        Err(ApiError::BadRequest(
            "query parameter `request_id`: expected 1 to 128 characters of A-Z a-z 0-9 . _ : -"
                .to_owned(),
        ))
    }
}

/// The user id events are filed under for `user`: `user` itself when a user has that id (or
/// none has that name: an old id, or `cli`), else the id of the user named `user`.
pub async fn resolve_user(users: &dyn UserStore, user: &str) -> Result<String, ApiError> {
    if users.by_id(user).await?.is_some() {
        return Ok(user.to_owned());
    }
    Ok(match users.by_username(user).await? {
        Some(found) => found.id,
        None => user.to_owned(),
    })
}

impl AuditQuery {
    /// The filter, with a log-in name in `user_id` turned into the user's id.
    pub async fn into_filter(self, users: &dyn UserStore) -> Result<AuditFilter, ApiError> {
        let mut filter = AuditFilter::new();
        if let Some(t) = self.event_type {
            filter = filter.event_type(parse_event_type(&t)?);
        }
        if let Some(u) = self.user_id {
            filter = filter.user(resolve_user(users, &u).await?);
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
        if let Some(r) = self.request_id {
            filter = filter.request_id(parse_request_id(r)?);
        }
        if let Some(b) = self.before_seq {
            filter = filter.before_seq(b);
        }
        if let Some(a) = self.after_seq {
            filter = filter.after_seq(a);
        }
        if let Some(l) = self.limit {
            filter = filter.limit(l);
        }
        Ok(filter)
    }
}

/// Maps an audit store error.
pub fn audit_error(err: mcp_audit::Error) -> ApiError {
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
    let filter = query.into_filter(&*state.users).await?;
    // Best effort: include what was just logged (the caller's own authz event, for one).
    let _ = state.audit.flush(std::time::Duration::from_secs(2)).await;
    state.audit.query(&filter).await.map_err(audit_error)
}

/// The audit log's hash-chain report, after writing what is still queued.
pub async fn verify(state: &AppState) -> Result<ChainReport, ApiError> {
    let _ = state.audit.flush(std::time::Duration::from_secs(2)).await;
    state.audit.verify_chain().await.map_err(audit_error)
}
