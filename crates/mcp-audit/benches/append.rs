//! Append throughput: single events and batches, to the memory and SQLite sinks, plus the
//! logger end to end (log then flush) into SQLite. Goal: at least 50 000 events/s to SQLite
//! with batching.
//!
//! Run: `cargo bench -p mcp-audit --bench append -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mcp_audit::{
    AuditEvent, AuditLogger, AuditLoggerConfig, AuditSink, EventType, MemoryAuditSink,
    SqliteAuditSink,
};

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

fn runtime() -> tokio::runtime::Runtime {
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
    for n in [1usize, 100, 1000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("batch_{n}"), |b| {
            b.to_async(&rt).iter_batched(
                || events(n),
                |batch| {
                    let sink = &sink;
                    async move { sink.append(&batch).await.unwrap() }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
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
    let n = 1000;
    let mut group = c.benchmark_group("logger/sqlite");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("log_1000_then_flush", |b| {
        b.to_async(&rt).iter_batched(
            || events(n),
            |batch| {
                let logger = &logger;
                async move {
                    for event in batch {
                        logger.log(event).await;
                    }
                    logger.flush(Duration::from_secs(60)).await.unwrap();
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, memory, sqlite, logger);
criterion_main!(benches);
