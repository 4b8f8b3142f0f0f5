//! Append throughput: single events and batches, to the memory, SQLite and (with the `neo4j`
//! feature and a Bolt server in `MCP_TEST_NEO4J_URI`) Bolt sinks, plus the logger end to end
//! (log then flush) into SQLite. Goal: at least 50 000 events/s to SQLite with batching.
//!
//! `logger/enqueue` is the cost a request pays per audit event: building the server's
//! `authz_granted` event and handing it to [`AuditLogger::try_log`], with the logger's writer
//! draining the queue on another thread (into a sink that discards, so only the logger's
//! own work is measured).
//!
//! Run: `cargo bench -p mcp-audit --all-features --bench append -- --warm-up-time 1 --measurement-time 3`
//! (start a Bolt server first with `./scripts/bolt-server start DIR && source DIR/env`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use mcp_audit::{
    AuditEvent, AuditFilter, AuditLogger, AuditLoggerConfig, AuditSink, ChainHead, ChainReport,
    EventType, MemoryAuditSink, SqliteAuditSink, StoreError, StoredEvent,
};
use tokio::runtime::Runtime;

fn events(n: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            AuditEvent::new(EventType::DataRead)
                .with_user("bench-user")
                .with_ip("10.0.0.1".parse().ok())
                .with_resource("graph:node/42")
                .with_action("read")
                .with_request_id(format!("req-{i}"))
                .with_detail("rows", i)
                .with_duration_ms(3)
        })
        .collect()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("append/memory");
    for n in [1usize, 100, 1000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("batch_{n}"), |b| {
            // A fresh sink per iteration keeps memory bounded; it is dropped outside the timing.
            b.to_async(&rt).iter_batched(
                || (MemoryAuditSink::new(), events(n)),
                |(sink, batch)| async move {
                    sink.append(&batch).await.unwrap();
                    sink
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let sink = rt
        .block_on(SqliteAuditSink::open(dir.path().join("bench.db")))
        .unwrap();
    let mut group = c.benchmark_group("append/sqlite");
    // Every iteration grows the database: few samples keep it near a realistic size.
    group.sample_size(10);
    batches(&mut group, &rt, &sink);
    group.finish();
}

/// `batch_1`, `batch_100`, `batch_1000`: one `append` of that many events to `sink`.
fn batches(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, sink: &impl AuditSink) {
    for n in [1usize, 100, 1000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("batch_{n}"), |b| {
            b.to_async(rt).iter_batched(
                || events(n),
                |batch| async move { sink.append(&batch).await.unwrap() },
                BatchSize::SmallInput,
            );
        });
    }
}

/// `name`: 1000 events logged one by one through `logger` (its worker batches them), then a
/// flush.
fn log_then_flush(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    logger: &AuditLogger,
    name: &str,
) {
    let n = 1000;
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            || events(n),
            |batch| async move {
                for event in batch {
                    logger.log(event).await;
                }
                logger.flush(Duration::from_secs(60)).await.unwrap();
            },
            BatchSize::SmallInput,
        );
    });
}

fn logger(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(
        rt.block_on(SqliteAuditSink::open(dir.path().join("logger.db")))
            .unwrap(),
    );
    let logger = {
        let _enter = rt.enter();
        AuditLogger::new(Arc::clone(&sink), AuditLoggerConfig::default()).unwrap()
    };
    let mut group = c.benchmark_group("logger/sqlite");
    group.sample_size(10);
    log_then_flush(&mut group, &rt, &logger, "log_1000_then_flush");
    group.finish();
}

/// A sink that takes every batch and keeps nothing: the logger's own cost, without a store's.
struct Discard;

#[async_trait]
impl AuditSink for Discard {
    async fn append(&self, _: &[AuditEvent]) -> Result<ChainHead, StoreError> {
        Ok(ChainHead::genesis())
    }

    async fn query(&self, _: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(Vec::new())
    }

    async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        Ok(ChainReport {
            checked: 0,
            head: ChainHead::genesis(),
            broken: None,
        })
    }
}

/// The event the server records for every guarded request (`Allowed<P>`): an `authz_granted`
/// with the request's context and the decision's reason.
fn guarded_read_event() -> AuditEvent {
    AuditEvent::authorization(
        "0198e7b2-52c1-7a3e-9d4f-1c2b3a4d5e6f",
        "/api/v1/tools",
        "tools:read",
        true,
    )
    .with_detail("username", "bench-user")
    .with_detail("reason", "granted by role developer")
    .with_ip("127.0.0.1".parse().ok())
    .with_request_id("0198e7b2-52c1-7a3e-9d4f-1c2b3a4d5e70")
    .with_user_agent("wrk")
}

fn enqueue(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("logger/enqueue");
    group.throughput(Throughput::Elements(1));
    let logger = {
        let _enter = rt.enter();
        // Room for every event of a run, so `try_log` never finds the queue full.
        let config = AuditLoggerConfig::default().queue_capacity(50_000_000);
        AuditLogger::new(Discard, config).unwrap()
    };
    group.bench_function("try_log", |b| {
        b.iter(|| logger.try_log(guarded_read_event()).unwrap());
    });
    rt.block_on(logger.flush(Duration::from_secs(60))).unwrap();
    group.finish();
}

/// Appends over real Bolt. Skipped, with the harness's printed reason, without a Bolt server.
#[cfg(feature = "neo4j")]
fn bolt(c: &mut Criterion) {
    let Some(config) = mcp_core::bolt::testing::bolt_test_config("bench_append") else {
        return;
    };
    let rt = runtime();
    let sink = rt
        .block_on(mcp_audit::sink::neo4j::Neo4jAuditSink::connect(config))
        .unwrap();
    let mut group = c.benchmark_group("append/bolt");
    group.sample_size(10);
    batches(&mut group, &rt, &sink);
    // The server's path: events logged one by one, batched by the logger's worker.
    let logger = rt.block_on(async {
        AuditLogger::new(Arc::new(sink), AuditLoggerConfig::default()).unwrap()
    });
    log_then_flush(&mut group, &rt, &logger, "logger_1000_then_flush");
    group.finish();
}

#[cfg(not(feature = "neo4j"))]
fn bolt(_: &mut Criterion) {
    println!("append/bolt: SKIPPED (built without the neo4j feature)");
}

criterion_group!(benches, enqueue, memory, sqlite, logger, bolt);
criterion_main!(benches);
