//! `AuditLogger`: typed helpers, tracing output, and delivery through outages, a full queue
//! and concurrent writers.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mcp_audit::{
    AuditEvent, AuditFilter, AuditLogger, AuditLoggerConfig, AuditSink, ChainHead, ChainReport,
    Error, EventType, MemoryAuditSink, SqliteAuditSink, StoreError, StoredEvent,
};
use uuid::Uuid;

const FLUSH: Duration = Duration::from_secs(10);

/// A memory sink whose availability the test switches off and on (a fault-injecting fake).
#[derive(Default)]
struct FlakySink {
    inner: MemoryAuditSink,
    down: AtomicBool,
}

impl FlakySink {
    fn down() -> Arc<Self> {
        let sink = Arc::new(Self::default());
        sink.set_down(true);
        sink
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("injected outage"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl AuditSink for FlakySink {
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        self.check()?;
        self.inner.append(events).await
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.check()?;
        self.inner.query(filter).await
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.check()?;
        self.inner.verify_chain().await
    }
}

fn fast_retry() -> AuditLoggerConfig {
    AuditLoggerConfig::default().retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
}

fn memory_logger() -> (Arc<MemoryAuditSink>, AuditLogger) {
    let sink = Arc::new(MemoryAuditSink::new());
    let logger = AuditLogger::new(Arc::clone(&sink), fast_retry()).unwrap();
    (sink, logger)
}

/// Everything stored, oldest first.
async fn stored_oldest_first(sink: &impl AuditSink) -> Vec<StoredEvent> {
    let mut rows = sink
        .query(&AuditFilter::new().limit(AuditFilter::MAX_LIMIT))
        .await
        .unwrap();
    rows.reverse();
    rows
}

/// The ids of everything stored, oldest first.
async fn stored_ids_oldest_first(sink: &impl AuditSink) -> Vec<Uuid> {
    stored_oldest_first(sink)
        .await
        .iter()
        .map(|r| r.event.event_id)
        .collect()
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures `tracing` output on this thread while the guard lives.
fn capture_tracing() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_target(true)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn log_authentication_success() {
    let (sink, logger) = memory_logger();
    let id = logger
        .log_authentication("alice", true, ip("10.0.0.7"), None)
        .await;
    logger.flush(FLUSH).await.unwrap();
    let rows = stored_oldest_first(&*sink).await;
    let e = &rows[0].event;
    assert_eq!(e.event_id, id);
    assert_eq!(e.event_type, EventType::AuthSuccess);
    assert_eq!(
        (e.user_id.as_deref(), e.ip_address),
        (Some("alice"), ip("10.0.0.7"))
    );
    assert_eq!(e.action.as_deref(), Some("authenticate"));
    assert!(e.success);
    assert_eq!(e.error_message, None);
}

#[tokio::test]
async fn log_authentication_failure() {
    let (sink, logger) = memory_logger();
    logger
        .log_authentication("mallory", false, ip("203.0.113.9"), Some("bad password"))
        .await;
    logger.flush(FLUSH).await.unwrap();
    let e = &stored_oldest_first(&*sink).await[0].event;
    assert_eq!(e.event_type, EventType::AuthFailure);
    assert!(!e.success);
    assert_eq!(e.error_message.as_deref(), Some("bad password"));
    assert_eq!(e.ip_address, ip("203.0.113.9"));
}

#[tokio::test]
async fn log_authorization_granted() {
    let (sink, logger) = memory_logger();
    logger
        .log_authorization(
            "alice",
            "tools/run_code",
            "tools:call",
            true,
            Some("role developer"),
        )
        .await;
    logger.flush(FLUSH).await.unwrap();
    let e = &stored_oldest_first(&*sink).await[0].event;
    assert_eq!(e.event_type, EventType::AuthzGranted);
    assert_eq!(e.resource.as_deref(), Some("tools/run_code"));
    assert_eq!(e.action.as_deref(), Some("tools:call"));
    assert_eq!(e.details["reason"], "role developer");
    assert!(e.success);
}

#[tokio::test]
async fn log_authorization_denied() {
    let (sink, logger) = memory_logger();
    logger
        .log_authorization(
            "bob",
            "graph",
            "graph:delete",
            false,
            Some("missing permission"),
        )
        .await;
    logger.flush(FLUSH).await.unwrap();
    let e = &stored_oldest_first(&*sink).await[0].event;
    assert_eq!(e.event_type, EventType::AuthzDenied);
    assert!(!e.success);
    assert_eq!(e.details["reason"], "missing permission");
    let denied = sink
        .query(&AuditFilter::new().event_type(EventType::AuthzDenied))
        .await
        .unwrap();
    assert_eq!(denied.len(), 1);
}

#[tokio::test]
async fn log_code_execution() {
    let (captured, _guard) = capture_tracing();
    let (sink, logger) = memory_logger();
    let code = "import os; print(os.environ['API_KEY'])";
    logger
        .log_code_execution("alice", "python", code, Some(1), Duration::from_millis(250))
        .await;
    logger.flush(FLUSH).await.unwrap();
    let row = &stored_oldest_first(&*sink).await[0];
    let e = &row.event;
    assert_eq!(e.event_type, EventType::CodeExecution);
    assert_eq!(
        e.details["code_sha256"],
        "6fbdfed2c0f7c0ebc9fe5473d5ee7c9f142ad88d02cd5c7de97465a11e9c9b04"
    );
    assert_eq!(e.details["language"], "python");
    assert_eq!(e.details["exit_code"], 1);
    assert_eq!(e.details["code_bytes"], code.len());
    assert_eq!(e.duration_ms, Some(250));
    assert!(!e.success, "a non-zero exit is a failure");
    let stored_json = serde_json::to_string(row).unwrap();
    assert!(!stored_json.contains("API_KEY") && !stored_json.contains("os.environ"));
    let logged = captured.text();
    assert!(logged.contains("6fbdfed2c0f7c0eb"), "{logged}");
    assert!(
        !logged.contains("API_KEY"),
        "code leaked into logs: {logged}"
    );
}

#[tokio::test]
async fn log_security_violation() {
    let (sink, logger) = memory_logger();
    logger
        .log_security_violation(
            Some("eve"),
            "sandbox_escape",
            "tried to open /etc/shadow",
            ip("192.0.2.1"),
        )
        .await;
    logger
        .log_security_violation(None, "path_traversal", "../../ in tool argument", None)
        .await;
    logger.flush(FLUSH).await.unwrap();
    let rows = stored_oldest_first(&*sink).await;
    let e = &rows[0].event;
    assert_eq!(e.event_type, EventType::SecurityViolation);
    assert!(!e.success);
    assert_eq!(e.user_id.as_deref(), Some("eve"));
    assert_eq!(e.details["violation"], "sandbox_escape");
    assert_eq!(
        e.error_message.as_deref(),
        Some("tried to open /etc/shadow")
    );
    assert_eq!(e.ip_address, ip("192.0.2.1"));
    assert_eq!(rows[1].event.user_id, None);
}

async fn log_mixed(logger: &AuditLogger) -> Vec<Uuid> {
    vec![
        logger.log_authentication("alice", true, None, None).await,
        logger
            .log_authentication("bob", false, None, Some("expired"))
            .await,
        logger
            .log_authorization("alice", "graph", "graph:read", true, None)
            .await,
        logger
            .log(AuditEvent::new(EventType::DataWrite).with_user("bob"))
            .await,
        logger
            .log_code_execution("alice", "rust", "fn main() {}", Some(0), Duration::ZERO)
            .await,
    ]
}

#[tokio::test]
async fn query_audit_log_no_filters() {
    let (_sink, logger) = memory_logger();
    let ids = log_mixed(&logger).await;
    logger.flush(FLUSH).await.unwrap();
    let rows = logger.query(&AuditFilter::new()).await.unwrap();
    let got: Vec<Uuid> = rows.iter().map(|r| r.event.event_id).collect();
    assert_eq!(
        got,
        ids.into_iter().rev().collect::<Vec<_>>(),
        "all events, newest first"
    );
    assert!(logger.verify_chain().await.unwrap().is_intact());
}

#[tokio::test]
async fn query_audit_log_with_filters() {
    let (_sink, logger) = memory_logger();
    let ids = log_mixed(&logger).await;
    logger.flush(FLUSH).await.unwrap();
    let alice = logger
        .query(&AuditFilter::new().user("alice"))
        .await
        .unwrap();
    assert_eq!(
        alice.iter().map(|r| r.event.event_id).collect::<Vec<_>>(),
        [ids[4], ids[2], ids[0]]
    );
    let failures = logger
        .query(&AuditFilter::new().success(false))
        .await
        .unwrap();
    assert_eq!(
        failures
            .iter()
            .map(|r| r.event.event_id)
            .collect::<Vec<_>>(),
        [ids[1]]
    );
    let filter = AuditFilter::new()
        .event_type(EventType::AuthSuccess)
        .user("alice")
        .limit(1);
    let rows = logger.query(&filter).await.unwrap();
    assert_eq!(rows[0].event.event_id, ids[0]);
    let from_query_string: AuditFilter =
        serde_json::from_value(serde_json::json!({"event_type": "data_write", "user_id": "bob"}))
            .unwrap();
    assert_eq!(
        logger.query(&from_query_string).await.unwrap()[0]
            .event
            .event_id,
        ids[3]
    );
}

#[tokio::test]
async fn audit_logger_without_store() {
    let (captured, _guard) = capture_tracing();
    let logger = AuditLogger::without_sink();
    let id = logger
        .log_authentication("alice", false, ip("10.1.2.3"), Some("bad otp"))
        .await;
    assert_eq!(logger.queue_depth(), 0);
    logger.flush(Duration::ZERO).await.unwrap();
    assert!(matches!(
        logger.query(&AuditFilter::new()).await,
        Err(Error::NoSink)
    ));
    let logged = captured.text();
    let line = logged
        .lines()
        .find(|l| l.contains(&id.to_string()))
        .expect("event logged");
    assert!(line.contains(" audit: "), "target is `audit`: {line}");
    let json = &line[line.find('{').unwrap()..];
    let event: AuditEvent = serde_json::from_str(json).expect("the line carries the event as JSON");
    assert_eq!(
        (event.event_id, event.event_type),
        (id, EventType::AuthFailure)
    );
}

#[tokio::test]
async fn audit_event_persistence_failure() {
    let sink = FlakySink::down();
    let logger = AuditLogger::new(Arc::clone(&sink), fast_retry()).unwrap();
    let id = tokio::time::timeout(
        Duration::from_secs(5),
        logger.log_authentication("alice", true, None, None),
    )
    .await
    .expect("logging does not wait for a failing sink");
    assert_ne!(id, Uuid::nil());
    assert_eq!(logger.queue_depth(), 1, "the event stays queued");
    let err = logger.flush(Duration::from_millis(100)).await.unwrap_err();
    assert!(
        matches!(err, Error::FlushTimeout { pending: 1, .. }),
        "{err:?}"
    );
    assert!(sink.inner.is_empty());
    assert_eq!(logger.stats().dropped, 0);
}

#[tokio::test]
async fn sink_outage_then_recovery_stores_every_event_in_logged_order() {
    let sink = FlakySink::down();
    let logger = AuditLogger::new(Arc::clone(&sink), fast_retry().batch_size(7)).unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            logger
                .log(AuditEvent::new(EventType::DataRead).with_detail("i", i))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(60)).await; // several failed retries
    assert_eq!(logger.queue_depth(), 30);
    sink.set_down(false);
    for i in 30..40 {
        ids.push(
            logger
                .log(AuditEvent::new(EventType::DataRead).with_detail("i", i))
                .await,
        );
    }
    logger.flush(FLUSH).await.unwrap();
    let stored = stored_ids_oldest_first(&*sink).await;
    assert_eq!(stored, ids);
    assert!(sink.verify_chain().await.unwrap().is_intact());
    assert_eq!(logger.stats(), mcp_audit::LoggerStats::default());
}

#[tokio::test]
async fn full_queue_spills_to_file_and_replays_in_order_after_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("audit-spill.jsonl");
    let sink = FlakySink::down();
    let config = fast_retry()
        .queue_capacity(4)
        .batch_size(3)
        .enqueue_timeout(Duration::ZERO)
        .spill_path(&spill);
    let logger = AuditLogger::new(Arc::clone(&sink), config).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            logger
                .log(AuditEvent::new(EventType::GraphUpsert).with_detail("i", i))
                .await,
        );
    }
    let stats = logger.stats();
    assert_eq!((stats.queued, stats.spilled, stats.dropped), (4, 16, 0));
    let lines = std::fs::read_to_string(&spill).unwrap();
    assert_eq!(lines.lines().count(), 16);
    let first_spilled: AuditEvent = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first_spilled.event_id, ids[4]);

    sink.set_down(false);
    // Logged while the backlog drains: must land after everything spilled.
    for i in 20..30 {
        ids.push(
            logger
                .log(AuditEvent::new(EventType::GraphUpsert).with_detail("i", i))
                .await,
        );
    }
    logger.flush(FLUSH).await.unwrap();
    let stored = stored_ids_oldest_first(&*sink).await;
    assert_eq!(stored, ids);
    assert!(sink.verify_chain().await.unwrap().is_intact());
    assert_eq!(
        std::fs::metadata(&spill).unwrap().len(),
        0,
        "spill file emptied once replayed"
    );
    assert_eq!(logger.queue_depth(), 0);
}

#[tokio::test]
async fn spill_file_left_by_an_earlier_run_is_replayed_before_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("audit-spill.jsonl");
    let old: Vec<AuditEvent> = (0..3)
        .map(|_| AuditEvent::new(EventType::DataDelete))
        .collect();
    let mut file = std::fs::File::create(&spill).unwrap();
    for e in &old {
        writeln!(file, "{}", serde_json::to_string(e).unwrap()).unwrap();
    }
    write!(file, "{{\"event_id\": \"cut short by a cra").unwrap();
    drop(file);

    let sink = Arc::new(MemoryAuditSink::new());
    let logger = AuditLogger::new(Arc::clone(&sink), fast_retry().spill_path(&spill)).unwrap();
    let new = logger.log(AuditEvent::new(EventType::DataRead)).await;
    logger.flush(FLUSH).await.unwrap();
    let stored = stored_ids_oldest_first(&*sink).await;
    let mut expected: Vec<Uuid> = old.iter().map(|e| e.event_id).collect();
    expected.push(new);
    assert_eq!(stored, expected);
    assert_eq!(
        logger.stats().dropped,
        1,
        "the truncated line is reported, not stored"
    );
}

#[tokio::test]
async fn full_queue_without_spill_file_drops_and_counts() {
    let sink = FlakySink::down();
    let config = fast_retry()
        .queue_capacity(2)
        .enqueue_timeout(Duration::from_millis(1));
    let logger = AuditLogger::new(Arc::clone(&sink), config).unwrap();
    for _ in 0..5 {
        logger.log(AuditEvent::new(EventType::DataRead)).await;
    }
    let stats = logger.stats();
    assert_eq!((stats.queued, stats.spilled, stats.dropped), (2, 0, 3));
}

#[tokio::test]
async fn refused_event_is_skipped_without_blocking_the_ones_behind_it() {
    let (sink, logger) = memory_logger();
    let dup = AuditEvent::new(EventType::DataWrite);
    let a = logger.log(dup.clone()).await;
    logger.log(dup).await; // same event_id: the sink answers Conflict
    let b = logger.log(AuditEvent::new(EventType::DataRead)).await;
    logger.flush(FLUSH).await.unwrap();
    let stored = stored_ids_oldest_first(&*sink).await;
    assert_eq!(stored, [a, b]);
    assert_eq!(logger.stats().rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_from_many_tasks_keep_the_sqlite_chain_valid() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(
        SqliteAuditSink::open(dir.path().join("audit.db"))
            .await
            .unwrap(),
    );
    let logger = AuditLogger::new(Arc::clone(&sink), fast_retry().batch_size(64)).unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let logger = logger.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let event = AuditEvent::new(EventType::DataRead)
                    .with_user(format!("task-{t}"))
                    .with_detail("i", i);
                ids.push(logger.log(event).await);
            }
            ids
        }));
    }
    let mut per_task = Vec::new();
    for task in tasks {
        per_task.push(task.await.unwrap());
    }
    logger.flush(FLUSH).await.unwrap();
    let report = sink.verify_chain().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.head.seq, 800);
    for (t, ids) in per_task.iter().enumerate() {
        let mut rows = sink
            .query(&AuditFilter::new().user(format!("task-{t}")))
            .await
            .unwrap();
        rows.reverse();
        let stored: Vec<Uuid> = rows.iter().map(|r| r.event.event_id).collect();
        assert_eq!(&stored, ids, "each task's events keep their order");
    }
}

#[test]
fn logger_outside_a_runtime_is_a_clear_error() {
    let err = AuditLogger::new(MemoryAuditSink::new(), AuditLoggerConfig::default()).unwrap_err();
    assert!(matches!(err, Error::NoRuntime), "{err:?}");
}

#[tokio::test]
async fn invalid_config_is_refused() {
    let err = AuditLogger::new(
        MemoryAuditSink::new(),
        AuditLoggerConfig::default().batch_size(0),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
}

/// A memory sink that records the size of every append.
#[derive(Default)]
struct BatchRecorder {
    inner: MemoryAuditSink,
    batches: Mutex<Vec<usize>>,
}

#[async_trait]
impl AuditSink for BatchRecorder {
    async fn append(&self, events: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        self.batches.lock().unwrap().push(events.len());
        self.inner.append(events).await
    }

    async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.query(filter).await
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.inner.verify_chain().await
    }
}

#[tokio::test]
async fn events_logged_while_the_writer_lets_a_small_batch_grow_are_appended_with_it() {
    let sink = Arc::new(BatchRecorder::default());
    // The default configuration: a 2 ms batch delay.
    let logger = AuditLogger::new(Arc::clone(&sink), AuditLoggerConfig::default()).unwrap();
    let mut logged = vec![logger.log(AuditEvent::new(EventType::DataRead)).await];
    // The writer wakes for the first event and starts waiting for more (this test's runtime
    // has one thread, so nothing else runs until the test awaits again).
    tokio::task::yield_now().await;
    for _ in 0..9 {
        logged.push(logger.log(AuditEvent::new(EventType::DataRead)).await);
    }
    logger.flush(FLUSH).await.unwrap();
    assert_eq!(*sink.batches.lock().unwrap(), [10], "one append of all ten");
    let stored = stored_ids_oldest_first(&sink.inner).await;
    assert_eq!(stored, logged);
}

#[tokio::test]
async fn without_a_batch_delay_the_writer_appends_what_is_queued_at_once() {
    let sink = Arc::new(BatchRecorder::default());
    let config = AuditLoggerConfig::default().batch_delay(Duration::ZERO);
    let logger = AuditLogger::new(Arc::clone(&sink), config).unwrap();
    logger.log(AuditEvent::new(EventType::DataRead)).await;
    tokio::task::yield_now().await;
    for _ in 0..9 {
        logger.log(AuditEvent::new(EventType::DataRead)).await;
    }
    logger.flush(FLUSH).await.unwrap();
    assert_eq!(*sink.batches.lock().unwrap(), [1, 9]);
}

#[tokio::test]
async fn log_durable_does_not_wait_for_the_batch_delay() {
    let sink = Arc::new(BatchRecorder::default());
    // The longest delay allowed; the durable caller gives up well before it would end.
    let config = AuditLoggerConfig::default().batch_delay(Duration::from_millis(1_000));
    let logger = AuditLogger::new(Arc::clone(&sink), config).unwrap();
    let before = logger.log(AuditEvent::new(EventType::DataRead)).await;
    let id = logger
        .log_durable(
            AuditEvent::new(EventType::CodeExecution),
            Duration::from_millis(900),
        )
        .await
        .unwrap();
    let stored = stored_ids_oldest_first(&sink.inner).await;
    assert_eq!(stored, [before, id]);
}

#[tokio::test]
async fn a_batch_delay_above_one_second_is_refused() {
    let config = AuditLoggerConfig::default().batch_delay(Duration::from_millis(1_001));
    let err = AuditLogger::new(MemoryAuditSink::new(), config).unwrap_err();
    assert!(
        err.to_string()
            .contains("batch_delay_ms must be at most 1000"),
        "{err}"
    );
}

#[tokio::test]
async fn log_durable_returns_only_once_the_sink_has_the_event() {
    let sink = FlakySink::down();
    let logger = AuditLogger::new(Arc::clone(&sink), fast_retry()).unwrap();
    let before = logger.log(AuditEvent::new(EventType::DataRead)).await;
    let reviver = {
        let sink = Arc::clone(&sink);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(80)).await;
            sink.set_down(false);
        })
    };
    let event = AuditEvent::new(EventType::CodeExecution);
    let expected = event.event_id;
    let id = logger
        .log_durable(event, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(id, expected);
    // No flush: the event must already be in the sink, after the one logged before it.
    let stored = stored_ids_oldest_first(&sink.inner).await;
    assert_eq!(stored, [before, id]);
    reviver.await.unwrap();
}

#[tokio::test]
async fn log_durable_with_the_sink_down_times_out_and_the_event_is_still_stored_later_in_order() {
    let sink = FlakySink::down();
    let logger = AuditLogger::new(Arc::clone(&sink), fast_retry()).unwrap();
    let first = logger.log(AuditEvent::new(EventType::DataRead)).await;
    let event = AuditEvent::new(EventType::CodeExecution);
    let durable = event.event_id;
    let err = logger
        .log_durable(event, Duration::from_millis(50))
        .await
        .unwrap_err();
    match &err {
        Error::DurableTimeout { event_id, waited } => {
            assert_eq!(*event_id, durable);
            assert!(*waited >= Duration::from_millis(50));
        }
        other => panic!("expected DurableTimeout, got {other:?}"),
    }
    assert!(err.to_string().contains("not stored within"), "{err}");
    assert_eq!(logger.queue_depth(), 2, "the event stays queued");
    sink.set_down(false);
    let last = logger.log(AuditEvent::new(EventType::DataWrite)).await;
    logger.flush(FLUSH).await.unwrap();
    let stored = stored_ids_oldest_first(&*sink).await;
    assert_eq!(stored, [first, durable, last]);
}

#[tokio::test]
async fn log_durable_of_an_event_the_sink_refuses_reports_not_stored() {
    let (sink, logger) = memory_logger();
    let dup = AuditEvent::new(EventType::DataWrite);
    let id = logger
        .log_durable(dup.clone(), Duration::from_secs(10))
        .await
        .unwrap();
    let err = logger
        .log_durable(dup, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotStored { event_id, reason } if *event_id == id && reason.contains("refused")),
        "{err:?}"
    );
    assert_eq!(stored_oldest_first(&*sink).await.len(), 1);
}

#[tokio::test]
async fn log_durable_with_a_full_queue_returns_once_the_event_is_in_the_spill_file() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("audit-spill.jsonl");
    let sink = FlakySink::down();
    let config = fast_retry()
        .queue_capacity(1)
        .enqueue_timeout(Duration::ZERO)
        .spill_path(&spill);
    let logger = AuditLogger::new(Arc::clone(&sink), config).unwrap();
    let first = logger.log(AuditEvent::new(EventType::DataRead)).await;
    let id = logger
        .log_durable(
            AuditEvent::new(EventType::CodeExecution),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let lines = std::fs::read_to_string(&spill).unwrap();
    let spilled: AuditEvent = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(spilled.event_id, id);
    sink.set_down(false);
    logger.flush(FLUSH).await.unwrap();
    let stored = stored_ids_oldest_first(&*sink).await;
    assert_eq!(stored, [first, id]);
}

#[tokio::test]
async fn log_durable_without_a_sink_returns_at_once() {
    let logger = AuditLogger::without_sink();
    let event = AuditEvent::new(EventType::CodeExecution);
    let expected = event.event_id;
    assert_eq!(
        logger.log_durable(event, Duration::ZERO).await.unwrap(),
        expected
    );
}
