//! The shared conformance suite and tamper detection, against the in-memory sink.

use mcp_audit::{AuditEvent, AuditSink, BreakReason, EventType, MemoryAuditSink};

mcp_audit::audit_sink_conformance!(async { MemoryAuditSink::new() });

async fn populated() -> (MemoryAuditSink, Vec<AuditEvent>) {
    let sink = MemoryAuditSink::new();
    let events: Vec<AuditEvent> = (0..5)
        .map(|i| AuditEvent::new(EventType::DataRead).with_user(format!("u{i}")))
        .collect();
    sink.append(&events).await.unwrap();
    (sink, events)
}

#[tokio::test]
async fn altered_event_is_reported_as_the_first_broken_link() {
    let (sink, events) = populated().await;
    assert!(sink.dangerous_edit_stored(3, |row| row.event.user_id = Some("mallory".into())));
    let report = sink.verify_chain().await.unwrap();
    let broken = report.broken.expect("tampering detected");
    assert_eq!((broken.seq, broken.event_id), (3, Some(events[2].event_id)));
    assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));
    assert_eq!((report.checked, report.head.seq), (3, 2));
}

#[tokio::test]
async fn rehashed_event_breaks_the_next_link() {
    let (sink, events) = populated().await;
    sink.dangerous_edit_stored(2, |row| {
        row.event.success = false;
        row.hash = mcp_audit::chain::compute_hash(&row.prev_hash, &row.event);
    });
    let broken = sink.verify_chain().await.unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.event_id), (3, Some(events[2].event_id)));
    assert!(matches!(
        broken.reason,
        BreakReason::PrevHashMismatch { .. }
    ));
}

#[tokio::test]
async fn removed_event_is_reported_as_a_sequence_gap() {
    let (sink, _) = populated().await;
    assert!(sink.dangerous_remove_stored(2));
    let broken = sink.verify_chain().await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert_eq!(
        broken.reason,
        BreakReason::SequenceGap {
            expected: 2,
            found: 3
        }
    );
    assert_eq!(
        broken.to_string().split(':').next().unwrap(),
        format!(
            "audit chain broken at seq 3 (event {})",
            broken.event_id.unwrap()
        )
    );
}
