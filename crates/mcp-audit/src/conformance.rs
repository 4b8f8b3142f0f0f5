//! The behaviour every [`AuditSink`] must show, as one async function per case (feature
//! `testing`).
//!
//! Mount it in a backend's test file with [`audit_sink_conformance!`](crate::audit_sink_conformance),
//! giving an expression that evaluates to a future of a fresh, empty sink. It is evaluated once
//! per test:
//!
//! ```ignore
//! // tests/memory.rs
//! mcp_audit::audit_sink_conformance!(async { mcp_audit::MemoryAuditSink::new() });
//! ```
//!
//! When the sink needs something kept alive (a temporary directory), wrap both in [`Guarded`].
//! Cases that need access behind the trait (tampering with stored rows) live with each backend.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use mcp_core::StoreError;
use serde_json::json;

use crate::chain::{ChainHead, ChainReport, GENESIS_HASH, compute_hash};
use crate::event::{AuditEvent, EventType};
use crate::sink::{AuditFilter, AuditSink, StoredEvent};

/// Expands to one `#[tokio::test]` per conformance case, each calling the matching function in
/// [`conformance`](crate::conformance) with a sink built by `$make.await`.
///
/// With `optional:` in front, the future resolves to `Option<sink>` and every case returns
/// early on `None` (a backend that is not configured, e.g. no Bolt server; the constructor
/// prints why).
///
/// The calling crate needs `tokio` (features `macros` and `rt-multi-thread`) as a
/// dev-dependency: each case runs on a two-worker multi-thread runtime so concurrent appends
/// really overlap.
#[macro_export]
macro_rules! audit_sink_conformance {
    (optional: $make:expr) => {
        $crate::__audit_sink_cases!($make;
            fresh_sink_has_an_intact_empty_chain,
            appended_event_is_returned_unchanged,
            event_without_optional_fields_round_trips,
            nested_details_and_floats_round_trip_and_verify,
            append_assigns_contiguous_sequence_numbers_from_one,
            batch_append_links_every_event_to_the_one_before,
            separate_appends_continue_the_same_chain,
            stored_hash_follows_the_documented_formula,
            empty_batch_append_stores_nothing,
            query_returns_newest_first,
            query_filters_by_event_type,
            query_filters_by_user,
            query_filters_by_time_range_since_inclusive_until_exclusive,
            query_filters_by_success,
            query_combines_filters,
            query_filters_by_request_id,
            query_pages_with_seq_cursors,
            query_limit_defaults_to_100,
            query_limit_above_1000_is_clamped_to_1000,
            query_limit_zero_returns_nothing,
            verify_chain_is_intact_on_a_populated_chain,
            concurrent_appends_keep_the_chain_valid,
            duplicate_event_id_is_a_conflict_and_stores_nothing_from_the_batch,
            unrepresentable_timestamp_is_invalid_and_stores_nothing,
        );
    };
    ($make:expr) => {
        $crate::audit_sink_conformance!(optional: async {
            ::core::option::Option::Some($make.await)
        });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __audit_sink_cases {
    ($make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ::core::option::Option::Some(sink) = $make.await else { return };
                $crate::conformance::$case(sink).await;
            }
        )*
    };
}

/// A sink plus something that must outlive it (e.g. the `TempDir` holding its database).
pub struct Guarded<S> {
    sink: S,
    _guard: Box<dyn std::any::Any + Send + Sync>,
}

impl<S: AuditSink> Guarded<S> {
    /// Keeps `guard` alive as long as `sink`.
    pub fn new(sink: S, guard: impl std::any::Any + Send + Sync) -> Self {
        Self {
            sink,
            _guard: Box::new(guard),
        }
    }

    /// The wrapped sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }
}

#[async_trait]
impl<S: AuditSink> AuditSink for Guarded<S> {
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        self.sink.append(events).await
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.sink.query(filter).await
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.sink.verify_chain().await
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn event_at(kind: EventType, user: &str, minutes: i64) -> AuditEvent {
    AuditEvent::new(kind)
        .with_user(user)
        .with_timestamp(base_time() + ChronoDuration::minutes(minutes))
}

fn many(n: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| event_at(EventType::DataRead, "bulk", i as i64))
        .collect()
}

async fn assert_intact(sink: &impl AuditSink, expected_len: u64) {
    let report = sink.verify_chain().await.expect("verify_chain");
    assert!(report.is_intact(), "chain broken: {:?}", report.broken);
    assert_eq!(report.checked, expected_len);
    assert_eq!(report.head.seq, expected_len);
}

async fn all(sink: &impl AuditSink) -> Vec<StoredEvent> {
    sink.query(&AuditFilter::new().limit(AuditFilter::MAX_LIMIT))
        .await
        .expect("query")
}

/// A new sink has nothing stored and an intact chain whose head is the genesis hash.
pub async fn fresh_sink_has_an_intact_empty_chain(sink: impl AuditSink) {
    let report = sink.verify_chain().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.checked, 0);
    assert_eq!(report.head, ChainHead::genesis());
    assert!(all(&sink).await.is_empty());
}

/// Every field, including nanoseconds, IP, details and options, comes back as appended.
pub async fn appended_event_is_returned_unchanged(sink: impl AuditSink) {
    let event = AuditEvent::new(EventType::AuthFailure)
        .with_timestamp(base_time() + ChronoDuration::nanoseconds(123_456_789))
        .with_user("alice")
        .with_ip(Some("2001:db8::1".parse().unwrap()))
        .with_user_agent("curl/8.0")
        .with_resource("auth/token")
        .with_action("authenticate")
        .with_success(false)
        .with_detail("method", "password")
        .with_detail("attempt", 3)
        .with_request_id("req-1")
        .with_session_id("sess-1")
        .with_duration_ms(42)
        .with_error_message("bad password");
    let head = sink.append_one(&event).await.unwrap();
    assert_eq!(head.seq, 1);
    let stored = all(&sink).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event, event);
    assert_eq!(stored[0].hash, head.hash);
}

/// An event with every option empty round-trips too.
pub async fn event_without_optional_fields_round_trips(sink: impl AuditSink) {
    let event = AuditEvent::new(EventType::SystemError);
    sink.append_one(&event).await.unwrap();
    assert_eq!(all(&sink).await[0].event, event);
    assert_intact(&sink, 1).await;
}

/// Nested objects, arrays, unicode and awkward floats survive storage exactly, so the chain
/// still verifies.
pub async fn nested_details_and_floats_round_trip_and_verify(sink: impl AuditSink) {
    let event = AuditEvent::new(EventType::GraphQuery)
        .with_detail(
            "z",
            json!({"b": [1, 2.5, {"y": null, "x": "ü\"\n"}], "a": true}),
        )
        .with_detail("third", 0.1 + 0.2)
        .with_detail("tiny", 5e-324)
        .with_detail("big", u64::MAX)
        .with_detail("neg", i64::MIN);
    sink.append_one(&event).await.unwrap();
    assert_eq!(all(&sink).await[0].event, event);
    assert_intact(&sink, 1).await;
}

/// Sequence numbers start at 1 and have no gaps; the first event links to the genesis hash.
pub async fn append_assigns_contiguous_sequence_numbers_from_one(sink: impl AuditSink) {
    for i in 0..5 {
        let head = sink
            .append_one(&event_at(EventType::DataRead, "u", i))
            .await
            .unwrap();
        assert_eq!(head.seq, (i + 1) as u64);
    }
    let mut stored = all(&sink).await;
    stored.reverse();
    let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(stored[0].prev_hash, GENESIS_HASH);
}

/// In a batch, each event's `prev_hash` is the previous event's `hash`, in slice order.
pub async fn batch_append_links_every_event_to_the_one_before(sink: impl AuditSink) {
    let events = many(10);
    let head = sink.append(&events).await.unwrap();
    let mut stored = all(&sink).await;
    stored.reverse();
    assert_eq!(
        head,
        ChainHead {
            seq: 10,
            hash: stored[9].hash.clone()
        }
    );
    for (i, row) in stored.iter().enumerate() {
        assert_eq!(row.event, events[i]);
        let prev = if i == 0 {
            GENESIS_HASH
        } else {
            stored[i - 1].hash.as_str()
        };
        assert_eq!(row.prev_hash, prev);
    }
}

/// A second append links to the head left by the first.
pub async fn separate_appends_continue_the_same_chain(sink: impl AuditSink) {
    let first = sink.append(&many(3)).await.unwrap();
    sink.append(&[event_at(EventType::DataWrite, "u", 99)])
        .await
        .unwrap();
    let newest = &all(&sink).await[0];
    assert_eq!(
        (newest.seq, newest.prev_hash.as_str()),
        (4, first.hash.as_str())
    );
    assert_intact(&sink, 4).await;
}

/// `hash = sha256(prev_hash || canonical_json(event))`, recomputed independently.
pub async fn stored_hash_follows_the_documented_formula(sink: impl AuditSink) {
    let events = many(3);
    sink.append(&events).await.unwrap();
    let mut stored = all(&sink).await;
    stored.reverse();
    let mut prev = GENESIS_HASH.to_owned();
    for row in stored {
        assert_eq!(row.hash, compute_hash(&prev, &row.event));
        assert_eq!(row.hash.len(), 64);
        assert!(
            row.hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        prev = row.hash;
    }
}

/// Appending an empty slice stores nothing and reports the current head.
pub async fn empty_batch_append_stores_nothing(sink: impl AuditSink) {
    assert_eq!(sink.append(&[]).await.unwrap(), ChainHead::genesis());
    let head = sink.append(&many(2)).await.unwrap();
    assert_eq!(sink.append(&[]).await.unwrap(), head);
    assert_eq!(all(&sink).await.len(), 2);
}

/// Results come newest (highest `seq`) first.
pub async fn query_returns_newest_first(sink: impl AuditSink) {
    sink.append(&many(20)).await.unwrap();
    let seqs: Vec<u64> = all(&sink).await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=20).rev().collect::<Vec<u64>>());
}

async fn mixed(sink: &impl AuditSink) -> Vec<AuditEvent> {
    let events = vec![
        event_at(EventType::AuthSuccess, "alice", 0),
        event_at(EventType::AuthFailure, "bob", 1).with_success(false),
        event_at(EventType::DataRead, "alice", 2),
        event_at(EventType::AuthFailure, "alice", 3).with_success(false),
        AuditEvent::new(EventType::SystemError)
            .with_timestamp(base_time() + ChronoDuration::minutes(4)),
        event_at(EventType::DataWrite, "bob", 5),
    ];
    sink.append(&events).await.unwrap();
    events
}

fn ids(rows: &[StoredEvent]) -> Vec<uuid::Uuid> {
    rows.iter().map(|r| r.event.event_id).collect()
}

/// `event_type` keeps only that kind.
pub async fn query_filters_by_event_type(sink: impl AuditSink) {
    let e = mixed(&sink).await;
    let rows = sink
        .query(&AuditFilter::new().event_type(EventType::AuthFailure))
        .await
        .unwrap();
    assert_eq!(ids(&rows), vec![e[3].event_id, e[1].event_id]);
}

/// `user_id` keeps only that user's events (events without a user never match).
pub async fn query_filters_by_user(sink: impl AuditSink) {
    let e = mixed(&sink).await;
    let rows = sink.query(&AuditFilter::new().user("alice")).await.unwrap();
    assert_eq!(
        ids(&rows),
        vec![e[3].event_id, e[2].event_id, e[0].event_id]
    );
}

/// `since` is inclusive and `until` exclusive.
pub async fn query_filters_by_time_range_since_inclusive_until_exclusive(sink: impl AuditSink) {
    let e = mixed(&sink).await;
    let filter = AuditFilter::new()
        .since(base_time() + ChronoDuration::minutes(1))
        .until(base_time() + ChronoDuration::minutes(4));
    let rows = sink.query(&filter).await.unwrap();
    assert_eq!(
        ids(&rows),
        vec![e[3].event_id, e[2].event_id, e[1].event_id]
    );
    let just_after = base_time() + ChronoDuration::minutes(5) + ChronoDuration::nanoseconds(1);
    assert!(
        sink.query(&AuditFilter::new().since(just_after))
            .await
            .unwrap()
            .is_empty()
    );
}

/// `success` keeps only successes or only failures.
pub async fn query_filters_by_success(sink: impl AuditSink) {
    let e = mixed(&sink).await;
    let failed = sink
        .query(&AuditFilter::new().success(false))
        .await
        .unwrap();
    assert_eq!(
        ids(&failed),
        vec![e[4].event_id, e[3].event_id, e[1].event_id]
    );
    let ok = sink.query(&AuditFilter::new().success(true)).await.unwrap();
    assert_eq!(ok.len(), 3);
}

/// Conditions are combined with AND, and the limit applies after filtering.
pub async fn query_combines_filters(sink: impl AuditSink) {
    let e = mixed(&sink).await;
    let filter = AuditFilter::new()
        .user("alice")
        .event_type(EventType::AuthFailure)
        .success(false)
        .since(base_time());
    assert_eq!(
        ids(&sink.query(&filter).await.unwrap()),
        vec![e[3].event_id]
    );
    let rows = sink
        .query(&AuditFilter::new().user("alice").limit(2))
        .await
        .unwrap();
    assert_eq!(ids(&rows), vec![e[3].event_id, e[2].event_id]);
}

/// `request_id` keeps only the events of that request (events without one never match).
pub async fn query_filters_by_request_id(sink: impl AuditSink) {
    let e = mixed(&sink).await;
    let tagged = vec![
        event_at(EventType::AuthzGranted, "alice", 6).with_request_id("req-1"),
        event_at(EventType::CodeExecution, "alice", 7).with_request_id("req-1"),
        event_at(EventType::CodeExecution, "bob", 8).with_request_id("req-2"),
    ];
    sink.append(&tagged).await.unwrap();
    let rows = sink
        .query(&AuditFilter::new().request_id("req-1"))
        .await
        .unwrap();
    assert_eq!(ids(&rows), vec![tagged[1].event_id, tagged[0].event_id]);
    let rows = sink
        .query(&AuditFilter::new().request_id("req-2").user("alice"))
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    assert!(
        sink.query(&AuditFilter::new().request_id("req"))
            .await
            .unwrap()
            .is_empty(),
        "a prefix is not a match"
    );
    assert_eq!(e.len(), 6);
}

/// `before_seq` and `after_seq` are exclusive cursors: pages of the same filter never overlap
/// nor skip an event, even when events share a timestamp.
pub async fn query_pages_with_seq_cursors(sink: impl AuditSink) {
    let same_time: Vec<AuditEvent> = (0..7)
        .map(|_| event_at(EventType::DataRead, "pager", 0))
        .collect();
    sink.append(&same_time).await.unwrap();
    let first = sink.query(&AuditFilter::new().limit(3)).await.unwrap();
    let seqs = |rows: &[StoredEvent]| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&first), vec![7, 6, 5]);
    let second = sink
        .query(&AuditFilter::new().limit(3).before_seq(5))
        .await
        .unwrap();
    assert_eq!(seqs(&second), vec![4, 3, 2]);
    let last = sink
        .query(&AuditFilter::new().limit(3).before_seq(2))
        .await
        .unwrap();
    assert_eq!(seqs(&last), vec![1]);
    let newer = sink.query(&AuditFilter::new().after_seq(5)).await.unwrap();
    assert_eq!(seqs(&newer), vec![7, 6]);
    let window = sink
        .query(&AuditFilter::new().after_seq(2).before_seq(5).user("pager"))
        .await
        .unwrap();
    assert_eq!(seqs(&window), vec![4, 3]);
    assert!(
        sink.query(&AuditFilter::new().after_seq(7))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Without a limit, a query returns the newest 100 events.
pub async fn query_limit_defaults_to_100(sink: impl AuditSink) {
    sink.append(&many(150)).await.unwrap();
    let rows = sink.query(&AuditFilter::new()).await.unwrap();
    assert_eq!(rows.len(), AuditFilter::DEFAULT_LIMIT);
    assert_eq!((rows[0].seq, rows[99].seq), (150, 51));
}

/// A limit above 1000 is clamped to 1000, not refused.
pub async fn query_limit_above_1000_is_clamped_to_1000(sink: impl AuditSink) {
    sink.append(&many(1100)).await.unwrap();
    let rows = sink.query(&AuditFilter::new().limit(5000)).await.unwrap();
    assert_eq!(rows.len(), AuditFilter::MAX_LIMIT);
    assert_eq!(rows[0].seq, 1100);
}

/// A limit of 0 returns no events.
pub async fn query_limit_zero_returns_nothing(sink: impl AuditSink) {
    sink.append(&many(3)).await.unwrap();
    assert!(
        sink.query(&AuditFilter::new().limit(0))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A chain built from singles and batches verifies end to end.
pub async fn verify_chain_is_intact_on_a_populated_chain(sink: impl AuditSink) {
    mixed(&sink).await;
    sink.append(&many(50)).await.unwrap();
    sink.append_one(&AuditEvent::new(EventType::TokenRevoked))
        .await
        .unwrap();
    assert_intact(&sink, 57).await;
}

/// Many tasks appending at once still produce one gap-free, valid chain.
pub async fn concurrent_appends_keep_the_chain_valid(sink: impl AuditSink + 'static) {
    let sink = Arc::new(sink);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let sink = Arc::clone(&sink);
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let user = format!("user-{t}");
                if i % 3 == 0 {
                    let batch = [
                        event_at(EventType::DataWrite, &user, i),
                        event_at(EventType::DataRead, &user, i),
                    ];
                    sink.append(&batch).await.unwrap();
                } else {
                    sink.append_one(&event_at(EventType::DataRead, &user, i))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // 8 tasks × (4 batches of 2 + 6 singles) = 112 events.
    assert_intact(&*sink, 112).await;
    let rows = all(&*sink).await;
    assert_eq!(rows.len(), 112);
    for t in 0..8 {
        let mine = sink
            .query(&AuditFilter::new().user(format!("user-{t}")))
            .await
            .unwrap();
        assert_eq!(mine.len(), 14);
    }
}

/// Re-appending a stored event id is a `Conflict`, and the other events of that batch are not
/// stored either.
pub async fn duplicate_event_id_is_a_conflict_and_stores_nothing_from_the_batch(
    sink: impl AuditSink,
) {
    let first = AuditEvent::new(EventType::DataRead);
    sink.append_one(&first).await.unwrap();
    let batch = [AuditEvent::new(EventType::DataWrite), first.clone()];
    let err = sink.append(&batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    let twice = AuditEvent::new(EventType::DataWrite);
    let err = sink.append(&[twice.clone(), twice]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    assert_eq!(all(&sink).await.len(), 1);
    assert_intact(&sink, 1).await;
}

/// A timestamp outside years 1–9999 is refused as `Invalid` before anything is stored.
pub async fn unrepresentable_timestamp_is_invalid_and_stores_nothing(sink: impl AuditSink) {
    let far = Utc
        .with_ymd_and_hms(10_000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let batch = [
        AuditEvent::new(EventType::DataRead),
        AuditEvent::new(EventType::DataRead).with_timestamp(far),
    ];
    let err = sink.append(&batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "got {err:?}");
    assert!(all(&sink).await.is_empty());
}
