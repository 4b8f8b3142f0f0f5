//! The Bolt client against a real server (FalkorDB from `./scripts/test`, or Neo4j).

use std::time::{Duration, Instant};

use mcp_core::bolt::testing::bolt_test_config;
use mcp_core::bolt::{Access, BoltClient};

fn client(test: &str) -> Option<BoltClient> {
    bolt_test_config(test).map(|c| BoltClient::connect(c).expect("valid test config"))
}

#[tokio::test]
async fn written_values_are_read_back_with_parameters() {
    let Some(db) = client("written_values_are_read_back") else {
        return;
    };
    db.run(
        db.query("MERGE (n:Item {key: $key}) SET n.size = $size")
            .param("key", "a")
            .param("size", 3),
    )
    .await
    .unwrap();
    let rows = db
        .read(
            db.query("MATCH (n:Item {key: $key}) RETURN n.size AS size")
                .param("key", "a"),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i64>("size").unwrap(), 3);
}

#[tokio::test]
async fn each_test_graph_is_isolated_from_the_others() {
    let (Some(a), Some(b)) = (client("isolated_a"), client("isolated_b")) else {
        return;
    };
    a.run(a.query("CREATE (:Only {v: 1})")).await.unwrap();
    let in_b = b
        .read(b.query("MATCH (n:Only) RETURN count(n) AS c"))
        .await
        .unwrap();
    assert_eq!(in_b[0].get::<i64>("c").unwrap(), 0);
    let in_a = a
        .read(a.query("MATCH (n:Only) RETURN count(n) AS c"))
        .await
        .unwrap();
    assert_eq!(in_a[0].get::<i64>("c").unwrap(), 1);
}

#[tokio::test]
async fn a_failing_query_errors_quickly_and_the_next_query_works() {
    let Some(db) = client("failing_query_recovers") else {
        return;
    };
    for _ in 0..3 {
        let started = Instant::now();
        let err = db.run(db.query("RETURN nosuchvariable")).await.unwrap_err();
        assert!(!err.is_transient(), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        let rows = db.read(db.query("RETURN 41 + 1 AS x")).await.unwrap();
        assert_eq!(rows[0].get::<i64>("x").unwrap(), 42);
    }
}

#[tokio::test]
async fn row_limit_keeps_the_first_rows_and_reports_truncation() {
    let Some(db) = client("row_limit") else {
        return;
    };
    let rows = db
        .fetch(
            db.query("UNWIND range(1, 10) AS i RETURN i"),
            Access::Read,
            4,
        )
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 4);
    assert!(rows.truncated);
    let rows = db
        .fetch(
            db.query("UNWIND range(1, 3) AS i RETURN i"),
            Access::Read,
            4,
        )
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 3);
    assert!(!rows.truncated);
}

#[tokio::test]
async fn indexes_and_unique_keys_can_be_ensured_twice() {
    let Some(db) = client("ensure_index_twice") else {
        return;
    };
    db.ensure_index("Thing", "name").await.unwrap();
    db.ensure_index("Thing", "name").await.unwrap();
    db.ensure_unique("Thing", "key").await.unwrap();
    db.ensure_unique("Thing", "key").await.unwrap();
    db.ping().await.unwrap();
}

#[tokio::test]
async fn many_concurrent_queries_share_the_pool() {
    let Some(db) = client("concurrent_queries") else {
        return;
    };
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.run(db.query("MERGE (n:N {i: $i})").param("i", i))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rows = db
        .read(db.query("MATCH (n:N) RETURN count(n) AS c"))
        .await
        .unwrap();
    assert_eq!(rows[0].get::<i64>("c").unwrap(), 32);
}

#[tokio::test]
async fn strings_with_quotes_and_backslashes_round_trip_verbatim() {
    let Some(db) = client("strings_round_trip") else {
        return;
    };
    let tricky = [
        "it's",
        r"back\slash",
        r"\'",
        "x' RETURN 1 AS pwned //",
        "\"double\"",
        "line\nbreak",
        "ü€😀",
        "`tick`",
    ];
    for value in tricky {
        db.run(db.query("CREATE (:S {v: $v})").param("v", value))
            .await
            .unwrap();
        let rows = db
            .read(
                db.query("MATCH (s:S {v: $v}) RETURN s.v AS v")
                    .param("v", value),
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{value:?}");
        assert_eq!(rows[0].get::<String>("v").unwrap(), value);
    }
    let rows = db
        .read(db.query("MATCH (s:S) RETURN count(s) AS c"))
        .await
        .unwrap();
    assert_eq!(rows[0].get::<i64>("c").unwrap(), tricky.len() as i64);
}

#[tokio::test]
async fn a_value_of_four_kib_is_stored_on_neo4j_or_refused_on_falkordb() {
    let Some(db) = client("four_kib_value") else {
        return;
    };
    let big = "x".repeat(4096);
    let result = db
        .run(db.query("CREATE (:Big {v: $v})").param("v", big.as_str()))
        .await;
    match db.server() {
        mcp_core::bolt::BoltServer::FalkorDb => {
            assert!(
                matches!(result, Err(mcp_core::StoreError::Invalid(_))),
                "{result:?}"
            );
        }
        _ => result.unwrap(),
    }
    // Either way the server is still up.
    db.ping().await.unwrap();
}

#[tokio::test]
async fn a_query_of_exactly_the_size_cap_runs_and_one_byte_more_is_refused_on_falkordb() {
    use mcp_core::bolt::neo4rs::{BoltNull, BoltType};
    use mcp_core::bolt::{MAX_QUERY_TEXT, query_text_len};
    let Some(db) = client("size_cap_boundary") else {
        return;
    };
    let numbers = vec![i64::MIN, -1, 0, 7, i64::MAX];
    let mixed = BoltType::List(
        vec![
            BoltType::from(-2.5f64),
            BoltType::from(false),
            BoltType::Null(BoltNull),
            BoltType::from(r"it's \ odd"),
        ]
        .into(),
    );
    let query = |s: &str| {
        db.query("RETURN $n AS n, $m AS m, size($s) AS len")
            .param("n", numbers.clone())
            .param("m", mixed.clone())
            .param("s", s)
    };
    // Pad with characters that render escaped (two bytes each) and plain ones.
    let mut text = "'\\".repeat(300);
    let short = query_text_len(&query(&text));
    text.push_str(&"x".repeat(MAX_QUERY_TEXT - short));
    assert_eq!(query_text_len(&query(&text)), MAX_QUERY_TEXT);
    let rows = db.read(query(&text)).await.unwrap();
    assert_eq!(rows[0].get::<Vec<i64>>("n").unwrap(), numbers);
    assert_eq!(
        rows[0].get::<i64>("len").unwrap(),
        i64::try_from(text.chars().count()).unwrap()
    );
    text.push('x');
    let over = db.read(query(&text)).await;
    match db.server() {
        mcp_core::bolt::BoltServer::FalkorDb => {
            assert!(
                matches!(over, Err(mcp_core::StoreError::Invalid(_))),
                "{over:?}"
            );
        }
        _ => assert_eq!(over.unwrap().len(), 1),
    }
    // The server is still up.
    db.ping().await.unwrap();
}

#[tokio::test]
async fn the_pool_recovers_after_the_server_restarts() {
    use mcp_core::bolt::testing::PrivateFalkorDb;
    let Some(shared) = bolt_test_config("pool_recovers") else {
        return;
    };
    if shared.server != mcp_core::bolt::BoltServer::FalkorDb {
        println!("SKIPPED: this test restarts a FalkorDB process of its own");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let server = PrivateFalkorDb::start(&root, dir.path());
    let db = BoltClient::connect(server.config("recovers")).unwrap();
    db.run(db.query("CREATE (:Before)")).await.unwrap();

    server.stop();
    let err = db.ping().await.unwrap_err();
    assert!(err.is_transient(), "server down is Unavailable: {err:?}");

    server.restart();
    // The pooled connections died with the server; the next queries get new ones.
    let mut answered = false;
    for _ in 0..20 {
        if db.ping().await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the client reconnects once the server is back");
    db.run(db.query("CREATE (:After)")).await.unwrap();
}
