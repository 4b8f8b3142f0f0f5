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

mcp_audit::audit_sink_conformance!(optional: fresh_sink("audit_conformance"));

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

#[tokio::test]
async fn a_large_batch_is_stored_whole_in_chain_order() {
    let Some(sink) = fresh_sink("audit_packed_batch").await else {
        return;
    };
    // Sizes from a few bytes to about 2 KiB, with quotes and backslashes (escaped on FalkorDB):
    // packed several to a query there, one query on Neo4j.
    let events: Vec<AuditEvent> = (0..150)
        .map(|i| {
            AuditEvent::new(EventType::DataWrite)
                .with_user(format!("user-{i}"))
                .with_detail("i", i)
                .with_detail("text", "a'b\\c ".repeat((i * 7) % 300))
        })
        .collect();
    let head = sink.append(&events).await.expect("append");
    let stored = sink
        .query(&AuditFilter::new().limit(1000))
        .await
        .expect("query");
    assert_eq!(stored.len(), 150);
    let mut by_seq: Vec<_> = stored.iter().map(|s| (s.seq, s.event.event_id)).collect();
    by_seq.sort_unstable();
    let first = by_seq[0].0;
    assert_eq!(head.seq, first + 149);
    for (k, (seq, id)) in by_seq.iter().enumerate() {
        assert_eq!(*seq, first + u64::try_from(k).expect("small"));
        assert_eq!(
            *id, events[k].event_id,
            "event {k} is stored at its place in the chain"
        );
    }
    let report = sink.verify_chain().await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 150);
}
