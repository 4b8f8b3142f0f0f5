//! The audit-sink conformance suite over real Bolt (FalkorDB from `./scripts/test`, or Neo4j),
//! and delivery through a Bolt server outage. Skips with a message when no server is
//! configured, unless `MCP_TEST_BOLT_REQUIRED=1`.

use std::path::Path;
use std::time::Duration;

use mcp_audit::sink::neo4j::Neo4jAuditSink;
use mcp_audit::{AuditEvent, AuditFilter, AuditLogger, AuditLoggerConfig, AuditSink, EventType};
use mcp_core::bolt::BoltServer;
use mcp_core::bolt::testing::{PrivateFalkorDb, bolt_test_config};

async fn fresh_sink(test: &str) -> Option<Neo4jAuditSink> {
    let config = bolt_test_config(test)?;
    Some(
        Neo4jAuditSink::connect(config)
            .await
            .expect("connect to the Bolt test server"),
    )
}

/// `audit_sink_conformance!` has no form that skips without a server, so the cases are
/// mounted here one by one (same list as the macro; keep in sync).
macro_rules! conformance_or_skip {
    ($($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(sink) = fresh_sink(stringify!($case)).await else { return };
                mcp_audit::conformance::$case(sink).await;
            }
        )+
    };
}

conformance_or_skip!(
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
    query_limit_defaults_to_100,
    query_limit_above_1000_is_clamped_to_1000,
    query_limit_zero_returns_nothing,
    verify_chain_is_intact_on_a_populated_chain,
    concurrent_appends_keep_the_chain_valid,
    duplicate_event_id_is_a_conflict_and_stores_nothing_from_the_batch,
    unrepresentable_timestamp_is_invalid_and_stores_nothing,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_loses_nothing_when_the_bolt_server_stops_mid_stream_and_comes_back() {
    let Some(shared) = bolt_test_config("audit_outage") else {
        return;
    };
    if shared.server != BoltServer::FalkorDb {
        println!(
            "SKIPPED: the outage test controls a FalkorDB process of its own; server is {:?}",
            shared.server
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let server = PrivateFalkorDb::start(&root, dir.path());
    server.persist_on_shutdown();
    let sink = Neo4jAuditSink::connect(server.config("audit_outage"))
        .await
        .expect("connect");
    let spill = dir.path().join("spill.jsonl");
    let logger = AuditLogger::new(
        sink,
        AuditLoggerConfig::default()
            .queue_capacity(64)
            .batch_size(16)
            .spill_path(&spill)
            .retry_backoff(Duration::from_millis(50), Duration::from_millis(500))
            .append_timeout(Duration::from_secs(5)),
    )
    .expect("logger");

    let event = |i: usize| {
        AuditEvent::new(EventType::DataRead)
            .with_user(format!("user-{i}"))
            .with_detail("i", i)
    };
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(logger.log(event(i)).await);
    }
    // Stop the server while the worker is still writing.
    server.stop();
    for i in 40..200 {
        ids.push(logger.log(event(i)).await);
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(logger.queue_depth() > 0, "events wait for the server");
    server.restart();
    logger
        .flush(Duration::from_secs(60))
        .await
        .expect("everything delivered after the restart");

    let sink = logger.sink().expect("sink");
    let stored = sink
        .query(&AuditFilter::new().limit(1000))
        .await
        .expect("query");
    let mut stored_ids: Vec<_> = stored.iter().map(|s| s.event.event_id).collect();
    stored_ids.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        stored_ids, expected,
        "every logged event is stored exactly once"
    );
    let report = sink.verify_chain().await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 200);
    let stats = logger.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
}
