//! SQLite graph store on a 100k-node graph: single-node upserts, 2-hop traversal, and Cypher
//! queries on the embedded engine (the goals of issue 19: a 2-hop neighbourhood from a node by
//! key under 1 ms, a count grouped by label under 50 ms, `*1..3` from one node under 10 ms).
//!
//! Setup (not measured by criterion, printed once): 100,000 `Person` nodes, each with three
//! outgoing `KNOWS` relationships to pseudo-random other nodes (300,000 in all), written with
//! `SqliteGraphStore::upsert_batch` in transactions of 10,000 nodes or relationships. The
//! database is a real file in a temporary directory (WAL mode).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_graph::{
    Direction, GraphStore, Label, Node, NodeKey, NodeRef, RelType, Relationship, SqliteGraphStore,
    properties_from_json,
};
use serde_json::json;

const NODES: u64 = 100_000;
const DEGREE: u64 = 3;
const CHUNK: usize = 10_000;

fn person(i: u64) -> NodeRef {
    NodeRef::new(
        Label::new("Person").expect("label"),
        NodeKey::new(format!("p{i}")).expect("key"),
    )
}

/// A deterministic spread of targets (no RNG needed): multiplicative hashing modulo `NODES`.
fn target(i: u64, j: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761)
        .wrapping_add(j.wrapping_mul(40_503))
        .wrapping_add(j + 1))
        % NODES
}

async fn build(store: &SqliteGraphStore) {
    let started = Instant::now();
    let nodes: Vec<Node> = (0..NODES)
        .map(|i| {
            let r = person(i);
            Node {
                label: r.label,
                key: r.key,
                properties: properties_from_json(json!({"n": i, "name": format!("person {i}")}))
                    .expect("props"),
            }
        })
        .collect();
    for chunk in nodes.chunks(CHUNK) {
        store
            .upsert_batch(chunk.to_vec(), Vec::new())
            .await
            .expect("nodes");
    }
    let knows = RelType::new("KNOWS").expect("type");
    let rels: Vec<Relationship> = (0..NODES)
        .flat_map(|i| (0..DEGREE).map(move |j| (i, target(i, j))))
        .filter(|(i, t)| i != t)
        .map(|(i, t)| Relationship {
            from: person(i),
            rel_type: knows.clone(),
            to: person(t),
            properties: Default::default(),
        })
        .collect();
    for chunk in rels.chunks(CHUNK) {
        store
            .upsert_batch(Vec::new(), chunk.to_vec())
            .await
            .expect("relationships");
    }
    let stats = store.stats().await.expect("stats");
    eprintln!(
        "setup: {} nodes, {} relationships in {:.1?} (upsert_batch, {CHUNK} per transaction)",
        stats.nodes,
        stats.relationships,
        started.elapsed()
    );
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = runtime
        .block_on(SqliteGraphStore::open(dir.path().join("graph.db")))
        .expect("open");
    runtime.block_on(build(&store));

    let label = Label::new("Person").expect("label");
    let counter = AtomicU64::new(0);
    let next = || counter.fetch_add(7_919, Ordering::Relaxed) % NODES;

    c.bench_function("sqlite_100k/upsert_node_existing", |b| {
        b.to_async(&runtime).iter(|| async {
            let r = person(next());
            let props = properties_from_json(json!({"seen": true})).expect("props");
            black_box(
                store
                    .upsert_node(&label, &r.key, props)
                    .await
                    .expect("upsert"),
            )
        })
    });

    let fresh = AtomicU64::new(NODES);
    c.bench_function("sqlite_100k/upsert_node_new", |b| {
        b.to_async(&runtime).iter(|| async {
            let r = person(fresh.fetch_add(1, Ordering::Relaxed));
            let props = properties_from_json(json!({"name": "new"})).expect("props");
            black_box(
                store
                    .upsert_node(&label, &r.key, props)
                    .await
                    .expect("upsert"),
            )
        })
    });

    for (name, direction) in [("outgoing", Direction::Outgoing), ("both", Direction::Both)] {
        c.bench_function(&format!("sqlite_100k/neighbors_2hop_{name}"), |b| {
            b.to_async(&runtime).iter(|| async {
                let found = store
                    .neighbors(&person(next()), None, direction, 2, 100)
                    .await
                    .expect("neighbors");
                black_box(found)
            })
        });
    }

    let cypher = |name: &str, text: &'static str| (name.to_owned(), text);
    for (name, text) in [
        cypher(
            "cypher_2hop_by_key",
            "MATCH (a:Person {__mcp_key: $key})-[:KNOWS]->()-[:KNOWS]->(c) RETURN c",
        ),
        cypher(
            "cypher_2hop_neighbourhood_both_ways",
            "MATCH (a:Person {__mcp_key: $key})-[:KNOWS*1..2]-(c) RETURN DISTINCT c.name",
        ),
        cypher(
            "cypher_varlen_1_3_by_key",
            "MATCH (a:Person {__mcp_key: $key})-[:KNOWS*1..3]->(c) RETURN c.name",
        ),
    ] {
        c.bench_function(&format!("sqlite_100k/{name}"), |b| {
            b.to_async(&runtime).iter(|| async {
                let q = mcp_graph::ReadQuery::new(text)
                    .param("key", format!("p{}", next()))
                    .limit(10_000);
                black_box(store.query(&q).await.expect("query"))
            })
        });
    }

    let mut group = c.benchmark_group("sqlite_100k_scans");
    group.sample_size(10);
    for (name, text) in [
        (
            "cypher_count_by_label",
            "MATCH (n) RETURN labels(n) AS label, count(*) AS n",
        ),
        ("cypher_count_all", "MATCH (n) RETURN count(n) AS n"),
        (
            "cypher_filter_scan",
            "MATCH (p:Person) WHERE p.n % 1000 = 7 RETURN count(*) AS n",
        ),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(
                    store
                        .query(&mcp_graph::ReadQuery::new(text))
                        .await
                        .expect("query"),
                )
            })
        });
    }
    group.finish();

    c.bench_function("sqlite_100k/query_one_hop", |b| {
        b.to_async(&runtime).iter(|| async {
            let q = mcp_graph::ReadQuery::new(
                "MATCH (a:Person {n: $n})-[:KNOWS]->(b:Person) RETURN b.name",
            )
            .param("n", next() as i64);
            black_box(store.query(&q).await.expect("query"))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
