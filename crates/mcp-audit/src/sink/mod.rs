//! The [`AuditSink`] trait: where audit events are stored, and the types it speaks.
//!
//! Adding a backend in this crate: call `validate` before writing, compute links with
//! [`chain::compute_hash`](crate::chain::compute_hash) under the backend's write lock, walk the
//! stored rows in `seq` order through `chain::ChainVerifier` for `verify_chain`, and mount
//! [`audit_sink_conformance!`](crate::audit_sink_conformance) in `tests/<backend>.rs`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use mcp_core::StoreError;
use serde::{Deserialize, Serialize};

use crate::chain::{ChainHead, ChainReport};
use crate::event::{AuditEvent, EventType};

pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// Where audit events are stored, as one append-only, hash-chained log.
///
/// Implementations must:
/// - assign `seq` 1, 2, 3, … with no gaps, and compute `prev_hash`/`hash` as described in
///   [`crate::chain`] while holding their write lock, so concurrent appends keep the chain valid;
/// - store a batch atomically (all of it or none of it) and in slice order;
/// - refuse an `event_id` that is already stored with [`StoreError::Conflict`], and an event
///   they cannot represent (timestamp outside years 1–9999, `duration_ms` above `i64::MAX`)
///   with [`StoreError::Invalid`], storing nothing from that batch;
/// - report a backend that is down or busy as [`StoreError::Unavailable`].
///
/// The shared behaviour suite is [`audit_sink_conformance!`](crate::audit_sink_conformance)
/// (feature `testing`).
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Appends `events` in order, atomically, and returns the new chain head. An empty slice
    /// stores nothing and returns the current head.
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError>;

    /// Appends one event; shorthand for a one-element [`append`](AuditSink::append).
    async fn append_one(&self, event: &AuditEvent) -> Result<ChainHead, StoreError> {
        self.append(std::slice::from_ref(event)).await
    }

    /// The stored events matching `filter`, newest (highest `seq`) first, at most
    /// [`AuditFilter::effective_limit`] of them.
    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError>;

    /// Re-walks the whole chain and reports the first broken link, if any.
    async fn verify_chain(&self) -> Result<ChainReport, StoreError>;
}

#[async_trait]
impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        (**self).append(events).await
    }

    async fn append_one(&self, event: &AuditEvent) -> Result<ChainHead, StoreError> {
        (**self).append_one(event).await
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).query(filter).await
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        (**self).verify_chain().await
    }
}

/// An event as stored: the event plus its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct StoredEvent {
    /// Position in the chain, starting at 1.
    pub seq: u64,
    /// Hash of the previous event ([`GENESIS_HASH`](crate::chain::GENESIS_HASH) for seq 1).
    #[cfg_attr(
        feature = "schemars",
        schemars(description = "Hash of the previous event (64 zeros for seq 1).")
    )]
    pub prev_hash: String,
    /// This event's chain hash.
    pub hash: String,
    /// The event.
    pub event: AuditEvent,
}

/// Which events [`AuditSink::query`] returns. All conditions must hold (AND).
///
/// Deserializes from query parameters such as
/// `?event_type=auth_failure&user_id=alice&since=2026-01-01T00:00:00Z&success=false&limit=50`;
/// unknown parameters are refused. `before_seq` and `after_seq` are cursors: the next older page
/// starts before the oldest `seq` shown, and a live tail asks for what came after the newest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Only events of this type.
    pub event_type: Option<EventType>,
    /// Only events by this user.
    pub user_id: Option<String>,
    /// Only events with `timestamp >= since` (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Only events with `timestamp < until` (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// Only successful (`true`) or failed (`false`) events.
    pub success: Option<bool>,
    /// Only events of this request (the `X-Request-Id` the server answered with).
    pub request_id: Option<String>,
    /// Only events with `seq < before_seq` (exclusive).
    pub before_seq: Option<u64>,
    /// Only events with `seq > after_seq` (exclusive).
    pub after_seq: Option<u64>,
    /// At most this many events; see [`AuditFilter::effective_limit`].
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// How many events a query returns when no limit is given.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest limit honoured; larger limits are clamped to it (not refused).
    pub const MAX_LIMIT: usize = 1000;

    /// A filter that matches everything (newest 100 events).
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of `event_type`.
    pub fn event_type(mut self, event_type: EventType) -> Self {
        self.event_type = Some(event_type);
        self
    }

    /// Only events by `user_id`.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Only events at or after `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Only events strictly before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Only successful or only failed events.
    pub fn success(mut self, success: bool) -> Self {
        self.success = Some(success);
        self
    }

    /// Only events of the request `request_id`.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Only events stored before `seq` (older than it).
    pub fn before_seq(mut self, seq: u64) -> Self {
        self.before_seq = Some(seq);
        self
    }

    /// Only events stored after `seq` (newer than it).
    pub fn after_seq(mut self, seq: u64) -> Self {
        self.after_seq = Some(seq);
        self
    }

    /// At most `limit` events (clamped to [`AuditFilter::MAX_LIMIT`]).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The limit a sink applies: [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) when unset, clamped to
    /// [`MAX_LIMIT`](Self::MAX_LIMIT). A limit of 0 returns no events.
    pub fn effective_limit(&self) -> usize {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .min(Self::MAX_LIMIT)
    }

    /// Whether a stored event passes every condition except the limit.
    pub fn matches_stored(&self, stored: &StoredEvent) -> bool {
        self.matches_seq(stored.seq) && self.matches(&stored.event)
    }

    /// Whether `seq` lies between [`after_seq`](Self::after_seq) and
    /// [`before_seq`](Self::before_seq).
    pub fn matches_seq(&self, seq: u64) -> bool {
        self.before_seq.is_none_or(|b| seq < b) && self.after_seq.is_none_or(|a| seq > a)
    }

    /// Whether `event` passes every condition on the event itself (all but the `seq` cursors
    /// and the limit).
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.event_type.is_none_or(|t| t == event.event_type)
            && self
                .user_id
                .as_ref()
                .is_none_or(|u| event.user_id.as_ref() == Some(u))
            && self.since.is_none_or(|s| event.timestamp >= s)
            && self.until.is_none_or(|u| event.timestamp < u)
            && self.success.is_none_or(|s| s == event.success)
            && self
                .request_id
                .as_ref()
                .is_none_or(|r| event.request_id.as_ref() == Some(r))
    }
}

/// Refuses events a sink cannot store faithfully. Shared by the backends so they agree.
pub(crate) fn validate(events: &[AuditEvent]) -> Result<(), StoreError> {
    for event in events {
        let year = event.timestamp.year();
        if !(1..=9999).contains(&year) {
            return Err(StoreError::Invalid(format!(
                "event {}: timestamp year {year} is outside 1..=9999",
                event.event_id
            )));
        }
        if event.duration_ms.is_some_and(|d| i64::try_from(d).is_err()) {
            return Err(StoreError::Invalid(format!(
                "event {}: duration_ms exceeds {}",
                event.event_id,
                i64::MAX
            )));
        }
    }
    Ok(())
}

#[cfg(all(test, feature = "schemars"))]
mod schema_tests {
    use super::*;
    use crate::EventType;
    use mcp_core::schema_testing::schema_matches;

    #[test]
    fn stored_event_schemas_describe_the_serialized_fields() {
        let mut event = AuditEvent::new(EventType::CodeExecution).with_detail("language", "bash");
        event.ip_address = Some("::1".parse().unwrap());
        let stored = StoredEvent {
            seq: 1,
            prev_hash: crate::GENESIS_HASH.into(),
            hash: "f".repeat(64),
            event: event.clone(),
        };
        schema_matches(&stored);
        let schema = schema_matches(&event);
        assert_eq!(schema["properties"]["timestamp"]["type"], "string");
        assert_eq!(schema["properties"]["timestamp"]["format"], "date-time");
        assert_eq!(schema["properties"]["event_id"]["type"], "string");
    }
}
