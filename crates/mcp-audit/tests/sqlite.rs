//! The shared conformance suite against a SQLite file in a temporary directory, plus what only
//! SQLite can show: tampering with rows on disk, reopening, migrations and several writers.

use std::sync::Arc;

use mcp_audit::conformance::Guarded;
use mcp_audit::{AuditEvent, AuditFilter, AuditSink, BreakReason, EventType, SqliteAuditSink};
use tempfile::TempDir;

mcp_audit::audit_sink_conformance!(async {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAuditSink::open(dir.path().join("audit.db"))
        .await
        .unwrap();
    Guarded::new(sink, dir)
});

async fn populated() -> (TempDir, SqliteAuditSink, Vec<AuditEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAuditSink::open(dir.path().join("audit.db"))
        .await
        .unwrap();
    let events: Vec<AuditEvent> = (0..5)
        .map(|i| AuditEvent::new(EventType::DataRead).with_user(format!("u{i}")))
        .collect();
    sink.append(&events).await.unwrap();
    (dir, sink, events)
}

fn raw(sink: &SqliteAuditSink) -> rusqlite::Connection {
    rusqlite::Connection::open(sink.path()).unwrap()
}

#[tokio::test]
async fn row_edited_on_disk_is_reported_as_the_first_broken_link() {
    let (_dir, sink, events) = populated().await;
    let changed = raw(&sink)
        .execute(
            "UPDATE audit_events SET user_id = 'mallory' WHERE seq IN (3, 4)",
            [],
        )
        .unwrap();
    assert_eq!(changed, 2);
    let report = sink.verify_chain().await.unwrap();
    let broken = report.broken.expect("tampering detected");
    assert_eq!((broken.seq, broken.event_id), (3, Some(events[2].event_id)));
    assert!(
        matches!(broken.reason, BreakReason::HashMismatch { .. }),
        "{broken}"
    );
    assert_eq!((report.checked, report.head.seq), (3, 2));
}

#[tokio::test]
async fn edited_details_json_is_detected() {
    let (_dir, sink, events) = populated().await;
    raw(&sink)
        .execute(
            "UPDATE audit_events SET details = '{\"x\":1}' WHERE seq = 5",
            [],
        )
        .unwrap();
    let broken = sink.verify_chain().await.unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.event_id), (5, Some(events[4].event_id)));
}

#[tokio::test]
async fn deleted_row_is_reported_as_a_sequence_gap() {
    let (_dir, sink, events) = populated().await;
    raw(&sink)
        .execute("DELETE FROM audit_events WHERE seq = 2", [])
        .unwrap();
    let broken = sink.verify_chain().await.unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.event_id), (3, Some(events[2].event_id)));
    assert_eq!(
        broken.reason,
        BreakReason::SequenceGap {
            expected: 2,
            found: 3
        }
    );
}

#[tokio::test]
async fn rewritten_prev_hash_is_reported() {
    let (_dir, sink, _) = populated().await;
    raw(&sink)
        .execute("UPDATE audit_events SET prev_hash = hash WHERE seq = 4", [])
        .unwrap();
    let broken = sink.verify_chain().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 4);
    assert!(matches!(
        broken.reason,
        BreakReason::PrevHashMismatch { .. }
    ));
}

#[tokio::test]
async fn unreadable_row_is_reported_not_an_error() {
    let (_dir, sink, events) = populated().await;
    raw(&sink)
        .execute(
            "UPDATE audit_events SET event_type = 'bogus' WHERE seq = 1",
            [],
        )
        .unwrap();
    let broken = sink.verify_chain().await.unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.event_id), (1, Some(events[0].event_id)));
    match broken.reason {
        BreakReason::Unreadable { message } => assert!(message.contains("bogus"), "{message}"),
        other => panic!("expected Unreadable, got {other:?}"),
    }
    let err = sink.query(&AuditFilter::new()).await.unwrap_err();
    assert!(err.to_string().contains("seq 1 is unreadable"), "{err}");
}

#[tokio::test]
async fn reopened_database_keeps_and_extends_the_chain() {
    let (dir, sink, events) = populated().await;
    drop(sink);
    let reopened = SqliteAuditSink::open(dir.path().join("audit.db"))
        .await
        .unwrap();
    let head = reopened
        .append_one(&AuditEvent::new(EventType::DataWrite))
        .await
        .unwrap();
    assert_eq!(head.seq, 6);
    let rows = reopened.query(&AuditFilter::new()).await.unwrap();
    assert_eq!(rows[5].event, events[0]);
    assert!(reopened.verify_chain().await.unwrap().is_intact());
}

#[tokio::test]
async fn open_creates_schema_indexes_and_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAuditSink::open(dir.path().join("audit.db"))
        .await
        .unwrap();
    let conn = raw(&sink);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    let indexes: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        indexes,
        [
            "audit_events_event_type",
            "audit_events_request_id",
            "audit_events_timestamp",
            "audit_events_user_id"
        ]
    );
}

#[tokio::test]
async fn database_of_schema_version_1_gains_the_request_id_index_and_keeps_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let sink = SqliteAuditSink::open(&path).await.unwrap();
    let event = AuditEvent::new(EventType::CodeExecution).with_request_id("req-old");
    sink.append_one(&event).await.unwrap();
    {
        let conn = raw(&sink);
        conn.execute_batch("DROP INDEX audit_events_request_id; PRAGMA user_version = 1;")
            .unwrap();
    }
    drop(sink);
    let reopened = SqliteAuditSink::open(&path).await.unwrap();
    {
        let conn = raw(&reopened);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'audit_events_request_id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1);
    }
    let rows = reopened
        .query(&AuditFilter::new().request_id("req-old"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event, event);
    assert!(reopened.verify_chain().await.unwrap().is_intact());
}

#[tokio::test]
async fn database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteAuditSink::open(&path).await.unwrap_err();
    assert!(matches!(err, mcp_audit::StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[tokio::test]
async fn unopenable_path_is_reported_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteAuditSink::open(dir.path().join("missing/dir/audit.db"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sinks_on_one_file_keep_one_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = Arc::new(SqliteAuditSink::open(&path).await.unwrap());
    let b = Arc::new(SqliteAuditSink::open(&path).await.unwrap());
    let mut tasks = Vec::new();
    for (i, sink) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let batch = [
                    AuditEvent::new(EventType::DataWrite).with_user(format!("w{i}")),
                    AuditEvent::new(EventType::DataRead).with_user(format!("w{i}")),
                ];
                sink.append(&batch).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = a.verify_chain().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.head.seq, 200);
    assert_eq!(b.verify_chain().await.unwrap(), report);
}

#[tokio::test]
async fn in_memory_database_path_is_refused() {
    let err = SqliteAuditSink::open(":memory:").await.unwrap_err();
    assert!(matches!(err, mcp_audit::StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("MemoryAuditSink"), "{err}");
}

/// Rewrites one stored column of row `seq` with `sql_value` (an SQL expression).
fn rewrite(sink: &SqliteAuditSink, column: &str, sql_value: &str, seq: i64) {
    let changed = raw(sink)
        .execute(
            &format!("UPDATE audit_events SET {column} = {sql_value} WHERE seq = ?1"),
            [seq],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

async fn broken_seq(sink: &SqliteAuditSink) -> Option<u64> {
    sink.verify_chain().await.unwrap().broken.map(|b| b.seq)
}

#[tokio::test]
async fn a_timestamp_rewritten_to_another_offset_with_the_same_instant_breaks_the_chain() {
    let (_dir, sink, events) = populated().await;
    let instant = events[2].timestamp;
    let shifted = instant
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&shifted).unwrap(),
        instant
    );
    rewrite(&sink, "timestamp", &format!("'{shifted}'"), 3);
    assert_eq!(broken_seq(&sink).await, Some(3));
}

#[tokio::test]
async fn an_event_id_rewritten_in_upper_case_breaks_the_chain() {
    let (_dir, sink, _) = populated().await;
    rewrite(&sink, "event_id", "upper(event_id)", 2);
    assert_eq!(broken_seq(&sink).await, Some(2));
}

#[tokio::test]
async fn details_re_serialised_with_the_same_meaning_break_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAuditSink::open(dir.path().join("audit.db"))
        .await
        .unwrap();
    let event = AuditEvent::new(EventType::DataRead)
        .with_detail("a", 1)
        .with_detail("b", "two");
    sink.append_one(&event).await.unwrap();
    // Same object: other key order, spacing, an escaped letter.
    rewrite(&sink, "details", r#"'{ "b": "t\u0077o", "a": 1 }'"#, 1);
    let rows = sink.query(&AuditFilter::new()).await.unwrap();
    assert_eq!(rows[0].event, event, "the meaning is the same");
    assert_eq!(broken_seq(&sink).await, Some(1));
}

#[tokio::test]
async fn an_ip_address_rewritten_in_another_notation_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SqliteAuditSink::open(dir.path().join("audit.db"))
        .await
        .unwrap();
    let event = AuditEvent::new(EventType::DataRead).with_ip(Some("2001:db8::1".parse().unwrap()));
    sink.append_one(&event).await.unwrap();
    rewrite(&sink, "ip_address", "'2001:0db8:0:0:0:0:0:1'", 1);
    assert_eq!(broken_seq(&sink).await, Some(1));
}

#[tokio::test]
async fn time_filters_compare_instants_even_for_a_row_stored_with_an_offset() {
    let (_dir, sink, events) = populated().await;
    let instant = events[2].timestamp;
    // The same instant written with +10:00: as text it sorts ten hours later.
    let shifted = instant
        .with_timezone(&chrono::FixedOffset::east_opt(10 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
    rewrite(&sink, "timestamp", &format!("'{shifted}'"), 3);
    let later = instant + chrono::Duration::hours(1);
    let rows = sink.query(&AuditFilter::new().since(later)).await.unwrap();
    assert!(
        rows.iter().all(|r| r.event.timestamp >= later),
        "an event an hour before `since` was returned: {rows:?}"
    );
}

#[tokio::test]
async fn the_writer_does_not_checkpoint_the_wal_every_1000_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let sink = SqliteAuditSink::open(&path).await.unwrap();
    let wal = dir.path().join("audit.db-wal");
    // One transaction per append; each dirties the last page of the table and of its indexes,
    // so 300 appends write well over 1,000 WAL frames but fewer than 4,000.
    for i in 0..300 {
        let event = AuditEvent::new(EventType::DataRead).with_user(format!("u{i}"));
        sink.append(&[event]).await.unwrap();
    }
    let frames = (std::fs::metadata(&wal).unwrap().len() - 32) / (4096 + 24);
    // SQLite's default (1,000) would have checkpointed and rewound the WAL by now.
    assert!(frames > 1_100, "{frames} WAL frames");
    assert!(frames < 4_000, "{frames} WAL frames");
    assert!(sink.verify_chain().await.unwrap().is_intact());
}

#[tokio::test]
async fn appended_events_reach_the_database_file_through_background_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let sink = SqliteAuditSink::open(&path).await.unwrap();
    let empty = std::fs::metadata(&path).unwrap().len();
    // About 4,200 WAL pages: past the background checkpoint's 4,000 (estimated), far below
    // the 16,000 at which the writer would checkpoint by itself.
    for i in 0..600 {
        let event = AuditEvent::new(EventType::DataRead).with_user(format!("u{i}"));
        sink.append(&[event]).await.unwrap();
    }
    // The checkpoint runs beside the appends; wait for it to copy the pages.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut size = std::fs::metadata(&path).unwrap().len();
    while size < empty + 20 * 4096 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        size = std::fs::metadata(&path).unwrap().len();
    }
    assert!(
        size >= empty + 20 * 4096,
        "database file {size} bytes (empty: {empty}): no checkpoint copied the WAL into it"
    );
    let report = sink.verify_chain().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.checked, 600);
    // A fresh connection reads every event, from the database file and the WAL.
    drop(sink);
    let reopened = SqliteAuditSink::open(&path).await.unwrap();
    assert_eq!(reopened.verify_chain().await.unwrap().checked, 600);
}
