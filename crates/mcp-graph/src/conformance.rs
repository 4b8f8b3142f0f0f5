//! The behaviour every [`GraphStore`] backend must show (feature `testing`).
//!
//! Mount it in a backend's test file with [`graph_store_conformance!`](crate::graph_store_conformance),
//! which expands to one `#[tokio::test]` per case (the test crate needs `tokio` with the
//! `macros` and `rt` features). Every case gets a fresh, empty store from the given expression.
//!
//! ```ignore
//! // tests/memory.rs
//! mcp_graph::graph_store_conformance!(async { mcp_graph::MemoryGraphStore::new() });
//!
//! // tests/neo4j.rs: an `Option` store skips every case when it is `None` (no server set up).
//! mcp_graph::graph_store_conformance!(optional: async { connect_from_env().await });
//! ```
//!
//! The cases come in two groups, which can also be mounted alone with `core:` or `query:`
//! (e.g. `graph_store_conformance!(optional core: …)`):
//! - `core`: the typed API (upserts, lookups, traversal, deletion, stats, validation, Unicode);
//! - `query`: read-only queries in plain Cypher, which every backend
//!   also accepts (results are compared without relying on row order);
//! - `embedded`: not part of the default set; for backends that run the embedded engine
//!   (memory, SQLite), checks that Cypher it does not run is refused as `Unsupported`.

use crate::{
    Direction, Error, GraphStore, Label, MAX_DEPTH, MAX_ROW_LIMIT, Node, NodeKey, NodeRef,
    Properties, QueryResult, QueryValue, ReadQuery, RelType, Value, properties_from_json,
};
use mcp_core::StoreError;
use serde_json::json;

/// Expands to one `#[tokio::test]` per conformance case, each with a fresh store.
///
/// Forms: `graph_store_conformance!(async { store })` mounts the `core` and `query` cases;
/// `core: …`, `query: …` or `embedded: …` mounts one group; an `optional` prefix (`optional: …`,
/// `optional core: …`, `optional query: …`) takes an expression producing `Option<store>` and
/// skips the case when it is `None`.
#[macro_export]
macro_rules! graph_store_conformance {
    (optional core: $make:expr) => {
        $crate::__graph_store_cases!(optional $make; core);
    };
    (optional query: $make:expr) => {
        $crate::__graph_store_cases!(optional $make; query);
    };
    (optional: $make:expr) => {
        $crate::__graph_store_cases!(optional $make; core);
        $crate::__graph_store_cases!(optional $make; query);
    };
    (core: $make:expr) => {
        $crate::__graph_store_cases!(required $make; core);
    };
    (query: $make:expr) => {
        $crate::__graph_store_cases!(required $make; query);
    };
    (embedded: $make:expr) => {
        $crate::__graph_store_cases!(required $make; embedded);
    };
    ($make:expr) => {
        $crate::__graph_store_cases!(required $make; core);
        $crate::__graph_store_cases!(required $make; query);
    };
}

/// Lists the cases of each group (implementation detail of `graph_store_conformance!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __graph_store_cases {
    ($mode:ident $make:expr; core) => {
        $crate::__graph_store_cases!(@each $mode $make;
            upsert_then_get_returns_the_node,
            get_of_a_missing_node_is_none,
            upsert_merges_properties_and_null_removes_a_key,
            same_key_under_different_labels_is_a_different_node,
            find_nodes_filters_by_equality_and_respects_the_limit,
            find_nodes_limit_above_the_maximum_is_refused,
            relationship_needs_both_endpoints_to_exist,
            relationship_upsert_keeps_one_per_type_and_merges_properties,
            neighbors_at_depth_one_and_two,
            neighbors_follow_the_requested_direction,
            neighbors_filter_by_relationship_type,
            neighbors_exclude_the_start_and_respect_the_limit,
            neighbors_depth_outside_the_allowed_range_is_refused,
            deleting_a_node_detaches_its_relationships,
            deleting_a_relationship_keeps_its_nodes,
            stats_count_nodes_and_relationships_by_label_and_type,
            bad_names_and_nested_values_are_refused_before_reaching_the_store,
            unicode_keys_and_values_round_trip,
            concurrent_upserts_from_many_tasks_all_land,
        );
    };
    ($mode:ident $make:expr; query) => {
        $crate::__graph_store_cases!(@each $mode $make;
            query_matches_a_label_with_a_property_map_and_parameters,
            query_where_conditions_filter_rows,
            query_one_hop_returns_both_ends_in_each_direction,
            query_row_limit_and_limit_clause_are_enforced,
            query_write_clauses_are_refused_and_change_nothing,
            query_unicode_parameters_match,
            query_past_its_timeout_fails_with_timeout,
        );
    };
    ($mode:ident $make:expr; embedded) => {
        $crate::__graph_store_cases!(@each $mode $make;
            embedded_subset_refuses_other_cypher_as_unsupported,
            embedded_subset_reports_a_missing_parameter,
        );
    };
    (@each required $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let store = $make.await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
    (@each optional $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                match $make.await {
                    Some(store) => $crate::conformance::$case(store).await,
                    None => eprintln!("skipped {}: no store configured", stringify!($case)),
                }
            }
        )*
    };
}

/// A store plus something to keep alive (and drop after it), such as the temporary directory
/// holding an SQLite file or a handle that cleans up a test database. Implements
/// [`GraphStore`] by delegating to the store.
///
/// ```ignore
/// async fn fresh_store() -> Guarded<SqliteGraphStore, tempfile::TempDir> {
///     let dir = tempfile::tempdir().unwrap();
///     let store = SqliteGraphStore::open(dir.path().join("graph.db")).await.unwrap();
///     Guarded::new(store, dir)
/// }
/// ```
#[derive(Debug)]
pub struct Guarded<S, G> {
    // Fields drop in order: the store closes before the guard is dropped.
    store: S,
    guard: G,
}

impl<S, G> Guarded<S, G> {
    /// Wraps `store`, keeping `guard` until the store has been dropped.
    pub fn new(store: S, guard: G) -> Self {
        Self { store, guard }
    }

    /// The guard.
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

impl<S, G> std::ops::Deref for Guarded<S, G> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.store
    }
}

#[async_trait::async_trait]
impl<S: GraphStore, G: Send + Sync> GraphStore for Guarded<S, G> {
    async fn upsert_node(
        &self,
        label: &Label,
        key: &NodeKey,
        properties: Properties,
    ) -> crate::Result<Node> {
        self.store.upsert_node(label, key, properties).await
    }

    async fn upsert_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
        properties: Properties,
    ) -> crate::Result<crate::Relationship> {
        self.store
            .upsert_relationship(from, rel_type, to, properties)
            .await
    }

    async fn get_node(&self, node: &NodeRef) -> crate::Result<Option<Node>> {
        self.store.get_node(node).await
    }

    async fn find_nodes(
        &self,
        label: &Label,
        filter: &Properties,
        limit: usize,
    ) -> crate::Result<Vec<Node>> {
        self.store.find_nodes(label, filter, limit).await
    }

    async fn neighbors(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
        depth: usize,
        limit: usize,
    ) -> crate::Result<Vec<Node>> {
        self.store
            .neighbors(node, rel_type, direction, depth, limit)
            .await
    }

    async fn delete_node(&self, node: &NodeRef) -> crate::Result<bool> {
        self.store.delete_node(node).await
    }

    async fn delete_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
    ) -> crate::Result<bool> {
        self.store.delete_relationship(from, rel_type, to).await
    }

    async fn stats(&self) -> crate::Result<crate::GraphStats> {
        self.store.stats().await
    }

    async fn query(&self, query: &ReadQuery) -> crate::Result<QueryResult> {
        self.store.query(query).await
    }
}

fn label(name: &str) -> Label {
    Label::new(name).expect("valid label")
}

fn rel(name: &str) -> RelType {
    RelType::new(name).expect("valid relationship type")
}

fn key(text: &str) -> NodeKey {
    NodeKey::new(text).expect("valid key")
}

fn node(label_name: &str, key_text: &str) -> NodeRef {
    NodeRef::new(label(label_name), key(key_text))
}

fn props(json: serde_json::Value) -> Properties {
    properties_from_json(json).expect("valid properties")
}

async fn put<S: GraphStore>(store: &S, at: &NodeRef, json: serde_json::Value) -> Node {
    store
        .upsert_node(&at.label, &at.key, props(json))
        .await
        .expect("upsert node")
}

async fn link<S: GraphStore>(store: &S, from: &NodeRef, rel_type: &str, to: &NodeRef) {
    store
        .upsert_relationship(from, &rel(rel_type), to, Properties::new())
        .await
        .expect("upsert relationship");
}

fn keys(nodes: &[Node]) -> Vec<String> {
    let mut keys: Vec<String> = nodes.iter().map(|n| n.key.to_string()).collect();
    keys.sort();
    keys
}

/// `a -KNOWS-> b -KNOWS-> c -KNOWS-> d`, `a -LIKES-> e`, `f -KNOWS-> a`, all `Person` except `e: Thing`.
async fn chain<S: GraphStore>(store: &S) {
    for k in ["a", "b", "c", "d", "f"] {
        put(store, &node("Person", k), json!({"name": k})).await;
    }
    put(store, &node("Thing", "e"), json!({"name": "e"})).await;
    link(store, &node("Person", "a"), "KNOWS", &node("Person", "b")).await;
    link(store, &node("Person", "b"), "KNOWS", &node("Person", "c")).await;
    link(store, &node("Person", "c"), "KNOWS", &node("Person", "d")).await;
    link(store, &node("Person", "a"), "LIKES", &node("Thing", "e")).await;
    link(store, &node("Person", "f"), "KNOWS", &node("Person", "a")).await;
}

async fn neighbor_keys<S: GraphStore>(
    store: &S,
    rel_type: Option<&str>,
    direction: Direction,
    depth: usize,
) -> Vec<String> {
    let rel_type = rel_type.map(rel);
    let found = store
        .neighbors(
            &node("Person", "a"),
            rel_type.as_ref(),
            direction,
            depth,
            100,
        )
        .await
        .expect("neighbors");
    keys(&found)
}

/// A node that was upserted can be read back with its label, key and properties.
pub async fn upsert_then_get_returns_the_node<S: GraphStore>(store: S) {
    let ada = node("Person", "ada");
    let written = put(
        &store,
        &ada,
        json!({"name": "Ada", "born": 1815, "tags": ["math"], "active": true}),
    )
    .await;
    let read = store
        .get_node(&ada)
        .await
        .expect("get")
        .expect("node exists");
    assert_eq!(read, written);
    assert_eq!(read.label, ada.label);
    assert_eq!(read.key, ada.key);
    assert_eq!(
        read.properties,
        props(json!({"name": "Ada", "born": 1815, "tags": ["math"], "active": true}))
    );
}

/// Reading a node that was never written gives `None`, not an error.
pub async fn get_of_a_missing_node_is_none<S: GraphStore>(store: S) {
    assert!(
        store
            .get_node(&node("Person", "nobody"))
            .await
            .expect("get")
            .is_none()
    );
}

/// A second upsert merges: given keys overwrite, a null removes its key, other keys stay.
pub async fn upsert_merges_properties_and_null_removes_a_key<S: GraphStore>(store: S) {
    let n = node("Person", "ada");
    put(
        &store,
        &n,
        json!({"name": "Ada", "born": 1815, "city": "London"}),
    )
    .await;
    let merged = put(
        &store,
        &n,
        json!({"born": 1816, "city": null, "title": "Countess"}),
    )
    .await;
    let expected = props(json!({"name": "Ada", "born": 1816, "title": "Countess"}));
    assert_eq!(merged.properties, expected);
    assert_eq!(
        store
            .get_node(&n)
            .await
            .expect("get")
            .expect("exists")
            .properties,
        expected
    );
    let created_with_null = put(&store, &node("Person", "bob"), json!({"a": 1, "b": null})).await;
    assert_eq!(created_with_null.properties, props(json!({"a": 1})));
    assert_eq!(store.stats().await.expect("stats").nodes, 2);
}

/// Keys are unique per label only: the same key under two labels names two nodes.
pub async fn same_key_under_different_labels_is_a_different_node<S: GraphStore>(store: S) {
    put(&store, &node("Person", "x"), json!({"kind": "person"})).await;
    put(&store, &node("City", "x"), json!({"kind": "city"})).await;
    let person = store
        .get_node(&node("Person", "x"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(person.properties, props(json!({"kind": "person"})));
    assert_eq!(store.stats().await.expect("stats").nodes, 2);
}

/// `find_nodes` returns the nodes of one label whose properties equal the filter, at most `limit`.
pub async fn find_nodes_filters_by_equality_and_respects_the_limit<S: GraphStore>(store: S) {
    for (k, city, age) in [
        ("a", "Paris", 30),
        ("b", "Paris", 40),
        ("c", "Rome", 30),
        ("d", "Paris", 30),
    ] {
        put(
            &store,
            &node("Person", k),
            json!({"city": city, "age": age}),
        )
        .await;
    }
    put(
        &store,
        &node("Robot", "r"),
        json!({"city": "Paris", "age": 30}),
    )
    .await;
    let person = label("Person");

    let paris = store
        .find_nodes(&person, &props(json!({"city": "Paris"})), 100)
        .await
        .expect("find");
    assert_eq!(keys(&paris), ["a", "b", "d"]);
    let paris_30 = store
        .find_nodes(&person, &props(json!({"city": "Paris", "age": 30})), 100)
        .await
        .expect("find");
    assert_eq!(keys(&paris_30), ["a", "d"]);
    let by_float = store
        .find_nodes(&person, &props(json!({"age": 30.0})), 100)
        .await
        .expect("find");
    assert_eq!(keys(&by_float), ["a", "c", "d"], "numbers compare by value");
    let all = store
        .find_nodes(&person, &Properties::new(), 100)
        .await
        .expect("find");
    assert_eq!(all.len(), 4);
    let two = store
        .find_nodes(&person, &props(json!({"city": "Paris"})), 2)
        .await
        .expect("find");
    assert_eq!(two.len(), 2);
    assert!(
        two.iter()
            .all(|n| n.properties.get("city") == Some(&Value::from("Paris")))
    );
    let none = store
        .find_nodes(&person, &props(json!({"city": "Oslo"})), 100)
        .await
        .expect("find");
    assert!(none.is_empty());
}

/// A `find_nodes` limit above `MAX_ROW_LIMIT` is refused with `InvalidLimit`.
pub async fn find_nodes_limit_above_the_maximum_is_refused<S: GraphStore>(store: S) {
    let err = store
        .find_nodes(&label("Person"), &Properties::new(), MAX_ROW_LIMIT + 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidLimit { .. }), "{err:?}");
}

/// A relationship to or from a missing node fails with `NotFound` and writes nothing.
pub async fn relationship_needs_both_endpoints_to_exist<S: GraphStore>(store: S) {
    let a = node("Person", "a");
    put(&store, &a, json!({})).await;
    let ghost = node("Person", "ghost");
    for (from, to) in [(&a, &ghost), (&ghost, &a)] {
        let err = store
            .upsert_relationship(from, &rel("KNOWS"), to, Properties::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Store(StoreError::NotFound(_))),
            "{err:?}"
        );
        assert!(err.is_not_found());
    }
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.nodes, stats.relationships), (1, 0));
}

/// Upserting the same relationship twice keeps one and merges its properties; another type is another relationship.
pub async fn relationship_upsert_keeps_one_per_type_and_merges_properties<S: GraphStore>(store: S) {
    let (a, b) = (node("Person", "a"), node("Person", "b"));
    put(&store, &a, json!({})).await;
    put(&store, &b, json!({})).await;
    let knows = rel("KNOWS");
    store
        .upsert_relationship(&a, &knows, &b, props(json!({"since": 2020, "via": "work"})))
        .await
        .expect("first");
    let merged = store
        .upsert_relationship(&a, &knows, &b, props(json!({"since": 2021, "via": null})))
        .await
        .expect("second");
    assert_eq!(merged.from, a);
    assert_eq!(merged.to, b);
    assert_eq!(merged.rel_type, knows);
    assert_eq!(merged.properties, props(json!({"since": 2021})));
    link(&store, &a, "LIKES", &b).await;
    link(&store, &b, "KNOWS", &a).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.relationships, 3);
    assert_eq!(stats.rel_types.get(&knows), Some(&2));
}

/// Depth 1 gives direct neighbors; depth 2 adds their neighbors, each node once.
pub async fn neighbors_at_depth_one_and_two<S: GraphStore>(store: S) {
    chain(&store).await;
    assert_eq!(
        neighbor_keys(&store, None, Direction::Outgoing, 1).await,
        ["b", "e"]
    );
    assert_eq!(
        neighbor_keys(&store, None, Direction::Outgoing, 2).await,
        ["b", "c", "e"]
    );
    assert_eq!(
        neighbor_keys(&store, None, Direction::Outgoing, 3).await,
        ["b", "c", "d", "e"]
    );
    // Nearest first: with a limit of 2 at depth 3, the two direct neighbors come back.
    let nearest = store
        .neighbors(&node("Person", "a"), None, Direction::Outgoing, 3, 2)
        .await
        .expect("neighbors");
    assert_eq!(keys(&nearest), ["b", "e"]);
    let e = nearest
        .iter()
        .find(|n| n.key.as_str() == "e")
        .expect("e found");
    assert_eq!(e.label, label("Thing"));
    assert_eq!(e.properties, props(json!({"name": "e"})));
}

/// Outgoing, incoming and both directions follow relationships the right way.
pub async fn neighbors_follow_the_requested_direction<S: GraphStore>(store: S) {
    chain(&store).await;
    assert_eq!(
        neighbor_keys(&store, None, Direction::Incoming, 1).await,
        ["f"]
    );
    assert_eq!(
        neighbor_keys(&store, None, Direction::Both, 1).await,
        ["b", "e", "f"]
    );
    assert_eq!(
        neighbor_keys(&store, None, Direction::Incoming, 2).await,
        ["f"]
    );
    let from_c = store
        .neighbors(&node("Person", "c"), None, Direction::Incoming, 2, 100)
        .await
        .expect("neighbors");
    assert_eq!(keys(&from_c), ["a", "b"]);
}

/// A relationship type restricts the traversal to relationships of that type.
pub async fn neighbors_filter_by_relationship_type<S: GraphStore>(store: S) {
    chain(&store).await;
    assert_eq!(
        neighbor_keys(&store, Some("KNOWS"), Direction::Outgoing, 2).await,
        ["b", "c"]
    );
    assert_eq!(
        neighbor_keys(&store, Some("LIKES"), Direction::Outgoing, 2).await,
        ["e"]
    );
    assert!(
        neighbor_keys(&store, Some("OWNS"), Direction::Both, 5)
            .await
            .is_empty()
    );
}

/// Cycles never return the start node or a node twice, and `limit` caps the result.
pub async fn neighbors_exclude_the_start_and_respect_the_limit<S: GraphStore>(store: S) {
    let hub = node("Person", "hub");
    put(&store, &hub, json!({})).await;
    for i in 0..10 {
        let spoke = node("Person", &format!("s{i}"));
        put(&store, &spoke, json!({})).await;
        link(&store, &hub, "KNOWS", &spoke).await;
        link(&store, &spoke, "KNOWS", &hub).await;
    }
    let all = store
        .neighbors(&hub, None, Direction::Both, MAX_DEPTH, 100)
        .await
        .expect("neighbors");
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|n| n.key.as_str() != "hub"));
    let three = store
        .neighbors(&hub, None, Direction::Both, 2, 3)
        .await
        .expect("neighbors");
    assert_eq!(three.len(), 3);
    let missing = store
        .neighbors(&node("Person", "nobody"), None, Direction::Both, 1, 10)
        .await
        .expect("neighbors");
    assert!(missing.is_empty());
}

/// Depth 0 and depths above `MAX_DEPTH` are refused with `InvalidDepth`.
pub async fn neighbors_depth_outside_the_allowed_range_is_refused<S: GraphStore>(store: S) {
    let a = node("Person", "a");
    put(&store, &a, json!({})).await;
    for depth in [0, MAX_DEPTH + 1] {
        let err = store
            .neighbors(&a, None, Direction::Both, depth, 10)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidDepth { depth: d, max: MAX_DEPTH } if d == depth),
            "{err:?}"
        );
    }
}

/// Deleting a node removes every relationship at it; deleting it again reports `false`.
pub async fn deleting_a_node_detaches_its_relationships<S: GraphStore>(store: S) {
    chain(&store).await;
    let a = node("Person", "a");
    assert!(store.delete_node(&a).await.expect("delete"));
    assert!(store.get_node(&a).await.expect("get").is_none());
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.nodes, stats.relationships), (5, 2), "{stats:?}");
    let b_in = store
        .neighbors(&node("Person", "b"), None, Direction::Incoming, 1, 10)
        .await
        .expect("neighbors");
    assert!(b_in.is_empty());
    assert!(!store.delete_node(&a).await.expect("delete again"));
    // The node can be created again, without its old relationships.
    put(&store, &a, json!({})).await;
    assert!(
        neighbor_keys(&store, None, Direction::Both, 1)
            .await
            .is_empty()
    );
}

/// Deleting a relationship removes only that relationship.
pub async fn deleting_a_relationship_keeps_its_nodes<S: GraphStore>(store: S) {
    chain(&store).await;
    let (a, b) = (node("Person", "a"), node("Person", "b"));
    assert!(
        store
            .delete_relationship(&a, &rel("KNOWS"), &b)
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_relationship(&a, &rel("KNOWS"), &b)
            .await
            .expect("delete again")
    );
    assert!(
        !store
            .delete_relationship(&b, &rel("KNOWS"), &a)
            .await
            .expect("wrong direction")
    );
    assert!(
        !store
            .delete_relationship(&a, &rel("KNOWS"), &node("Person", "ghost"))
            .await
            .expect("missing end")
    );
    assert!(store.get_node(&b).await.expect("get").is_some());
    assert_eq!(
        neighbor_keys(&store, None, Direction::Outgoing, 1).await,
        ["e"]
    );
    assert_eq!(store.stats().await.expect("stats").relationships, 4);
}

/// Stats count nodes and relationships in total, per label and per type.
pub async fn stats_count_nodes_and_relationships_by_label_and_type<S: GraphStore>(store: S) {
    let empty = store.stats().await.expect("stats");
    assert_eq!((empty.nodes, empty.relationships), (0, 0));
    assert!(empty.labels.is_empty() && empty.rel_types.is_empty());
    chain(&store).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.nodes, 6);
    assert_eq!(stats.relationships, 5);
    assert_eq!(stats.labels.get(&label("Person")), Some(&5));
    assert_eq!(stats.labels.get(&label("Thing")), Some(&1));
    assert_eq!(stats.rel_types.get(&rel("KNOWS")), Some(&4));
    assert_eq!(stats.rel_types.get(&rel("LIKES")), Some(&1));
    assert_eq!(stats.labels.len(), 2);
}

/// Invalid labels, types, keys and nested values are refused by the model types, with clear errors.
pub async fn bad_names_and_nested_values_are_refused_before_reaching_the_store<S: GraphStore>(
    store: S,
) {
    let err = Label::new("Person) DETACH DELETE n //").unwrap_err();
    assert!(err.to_string().contains("invalid label"), "{err}");
    assert!(matches!(
        RelType::new("HAS-PART"),
        Err(Error::InvalidIdentifier {
            kind: "relationship type",
            ..
        })
    ));
    assert!(matches!(NodeKey::new(""), Err(Error::InvalidKey { .. })));
    let err = properties_from_json(json!({"address": {"city": "Paris"}})).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidValue { key: Some(k), .. } if k == "address"),
        "{err:?}"
    );
    assert!(err.to_string().contains("objects"), "{err}");
    assert!(properties_from_json(json!({"matrix": [[1, 2], [3, 4]]})).is_err());
    assert!(properties_from_json(json!({"bad key": 1})).is_err());
    assert_eq!(store.stats().await.expect("stats").nodes, 0);
}

/// Unicode keys and values are stored and returned unchanged.
pub async fn unicode_keys_and_values_round_trip<S: GraphStore>(store: S) {
    let n = node("City", "東京 – Zoë 🚀");
    let json =
        json!({"name": "naïve café ✓", "aliases": ["Tōkyō", "Токио", "طوكيو"], "emoji": "👩‍💻"});
    put(&store, &n, json.clone()).await;
    let read = store.get_node(&n).await.expect("get").expect("exists");
    assert_eq!(read.key.as_str(), "東京 – Zoë 🚀");
    assert_eq!(read.properties, props(json));
    let found = store
        .find_nodes(&label("City"), &props(json!({"name": "naïve café ✓"})), 10)
        .await
        .expect("find");
    assert_eq!(keys(&found), ["東京 – Zoë 🚀"]);
    let other = node("City", "Zürich");
    put(&store, &other, json!({})).await;
    link(&store, &n, "TWIN", &other).await;
    let twins = store
        .neighbors(&n, Some(&rel("TWIN")), Direction::Outgoing, 1, 10)
        .await
        .expect("neighbors");
    assert_eq!(keys(&twins), ["Zürich"]);
}

/// Upserts from many tasks at once (through an `Arc`) all land, with nothing lost or doubled.
pub async fn concurrent_upserts_from_many_tasks_all_land<S: GraphStore + 'static>(store: S) {
    let store = std::sync::Arc::new(store);
    let hub = node("Hub", "hub");
    put(&store, &hub, json!({})).await;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = std::sync::Arc::clone(&store);
            let hub = hub.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    let n = node("Item", &format!("t{t}-{i}"));
                    put(&store, &n, json!({"task": t, "i": i})).await;
                    // Every task also bumps the same shared node.
                    put(&store, &hub, json!({format!("t{t}"): i})).await;
                    link(&store, &n, "IN", &hub).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task finished");
    }
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.nodes, stats.relationships), (161, 160));
    let hub_node = store.get_node(&hub).await.expect("get").expect("exists");
    assert_eq!(
        hub_node.properties.len(),
        8,
        "every task's last write is kept"
    );
    let members = store
        .neighbors(&hub, Some(&rel("IN")), Direction::Incoming, 1, 1000)
        .await
        .expect("neighbors");
    assert_eq!(members.len(), 160);
}

fn sorted_rows(result: &QueryResult) -> Vec<String> {
    let mut rows: Vec<String> = result
        .rows
        .iter()
        .map(|row| serde_json::to_string(row).expect("rows serialize"))
        .collect();
    rows.sort();
    rows
}

fn value_rows(result: &QueryResult) -> Vec<Vec<serde_json::Value>> {
    let mut rows: Vec<Vec<serde_json::Value>> = result
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    QueryValue::Value(v) => v.clone(),
                    other => panic!("expected a plain value, got {other:?}"),
                })
                .collect()
        })
        .collect();
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap_or_default());
    rows
}

async fn people<S: GraphStore>(store: &S) {
    for (k, name, age, city) in [
        ("ada", "Ada", json!(36), json!("London")),
        ("alan", "Alan", json!(41), json!("Wilmslow")),
        ("grace", "Grace", json!(85), json!("Arlington")),
        ("kid", "Kid", json!(9), json!(null)),
    ] {
        put(
            store,
            &node("Person", k),
            json!({"name": name, "age": age, "city": city}),
        )
        .await;
    }
}

async fn run<S: GraphStore>(store: &S, query: ReadQuery) -> QueryResult {
    let text = query.cypher.clone();
    store
        .query(&query)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `MATCH (n:Label {k: $p}) RETURN n, n.prop` finds nodes by label and properties, with parameters.
pub async fn query_matches_a_label_with_a_property_map_and_parameters<S: GraphStore>(store: S) {
    people(&store).await;
    put(&store, &node("Robot", "ada"), json!({"name": "Ada"})).await;
    let result = run(
        &store,
        ReadQuery::new("MATCH (p:Person {name: $name}) RETURN p, p.age AS age, p.missing")
            .param("name", "Ada"),
    )
    .await;
    assert_eq!(result.columns, ["p", "age", "p.missing"]);
    assert_eq!(result.rows.len(), 1);
    let expected = store
        .get_node(&node("Person", "ada"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        result.rows[0],
        vec![
            QueryValue::Node(expected),
            QueryValue::Value(json!(36)),
            QueryValue::Value(json!(null))
        ]
    );
    assert!(!result.truncated);

    let literal = run(
        &store,
        ReadQuery::new("MATCH (p:Person {age: 41}) RETURN p.name"),
    )
    .await;
    assert_eq!(value_rows(&literal), [[json!("Alan")]]);
    let none = run(
        &store,
        ReadQuery::new("MATCH (p:Person {name: 'Nobody'}) RETURN p"),
    )
    .await;
    assert!(none.rows.is_empty());
    assert_eq!(none.columns, ["p"]);
}

/// `WHERE` with `=`, `<>`, `<`, `>=`, `IS NULL` and `AND` keeps only the matching rows.
pub async fn query_where_conditions_filter_rows<S: GraphStore>(store: S) {
    people(&store).await;
    let names = |rows: &QueryResult| {
        value_rows(rows)
            .into_iter()
            .map(|r| r[0].clone())
            .collect::<Vec<_>>()
    };
    let cases: [(&str, Vec<serde_json::Value>); 6] = [
        (
            "MATCH (p:Person) WHERE p.age >= 36 AND p.age < 85 RETURN p.name",
            vec![json!("Ada"), json!("Alan")],
        ),
        (
            "MATCH (p:Person) WHERE p.city = 'London' RETURN p.name",
            vec![json!("Ada")],
        ),
        (
            "MATCH (p:Person) WHERE p.city <> 'London' RETURN p.name",
            vec![json!("Alan"), json!("Grace")],
        ),
        (
            "MATCH (p:Person) WHERE p.city IS NULL RETURN p.name",
            vec![json!("Kid")],
        ),
        (
            "MATCH (p:Person) WHERE p.name > $min RETURN p.name",
            vec![json!("Alan"), json!("Grace"), json!("Kid")],
        ),
        ("MATCH (p:Person) WHERE p.age > 100 RETURN p.name", vec![]),
    ];
    for (cypher, expected) in cases {
        let result = run(&store, ReadQuery::new(cypher).param("min", "Ada")).await;
        assert_eq!(names(&result), expected, "{cypher}");
    }
}

/// A one-hop pattern returns both ends, following the arrow's direction and type.
pub async fn query_one_hop_returns_both_ends_in_each_direction<S: GraphStore>(store: S) {
    chain(&store).await;
    let (a, b) = (node("Person", "a"), node("Person", "b"));
    store
        .upsert_relationship(&a, &rel("KNOWS"), &b, props(json!({"since": 1999})))
        .await
        .expect("upsert");

    let out = run(
        &store,
        ReadQuery::new(
            "MATCH (x:Person {name: 'a'})-[r:KNOWS]->(y:Person) RETURN x.name, r.since, y",
        ),
    )
    .await;
    assert_eq!(out.columns, ["x.name", "r.since", "y"]);
    let b_node = store.get_node(&b).await.expect("get").expect("exists");
    assert_eq!(
        out.rows,
        vec![vec![
            QueryValue::Value(json!("a")),
            QueryValue::Value(json!(1999)),
            QueryValue::Node(b_node)
        ]]
    );

    let incoming = run(
        &store,
        ReadQuery::new("MATCH (x:Person {name: 'a'})<-[:KNOWS]-(y) RETURN y.name"),
    )
    .await;
    assert_eq!(value_rows(&incoming), [[json!("f")]]);
    let any_type = run(
        &store,
        ReadQuery::new("MATCH (x:Person {name: 'a'})-[]->(y) RETURN y.name"),
    )
    .await;
    assert_eq!(value_rows(&any_type), [[json!("b")], [json!("e")]]);
    let both = run(
        &store,
        ReadQuery::new("MATCH (x:Person {name: 'a'})-[:KNOWS]-(y:Person) RETURN y.name"),
    )
    .await;
    assert_eq!(value_rows(&both), [[json!("b")], [json!("f")]]);
    let all_knows = run(
        &store,
        ReadQuery::new(
            "MATCH (x:Person)-[:KNOWS]->(y:Person) WHERE y.name <> 'd' RETURN x.name, y.name",
        ),
    )
    .await;
    assert_eq!(
        value_rows(&all_knows),
        [
            [json!("a"), json!("b")],
            [json!("b"), json!("c")],
            [json!("f"), json!("a")]
        ]
    );
}

/// The request's row limit truncates (and says so); a `LIMIT` clause below it does not.
pub async fn query_row_limit_and_limit_clause_are_enforced<S: GraphStore>(store: S) {
    for i in 0..12 {
        put(&store, &node("Item", &format!("i{i:02}")), json!({"n": i})).await;
    }
    let capped = run(&store, ReadQuery::new("MATCH (i:Item) RETURN i.n").limit(5)).await;
    assert_eq!(capped.rows.len(), 5);
    assert!(capped.truncated);
    let clause = run(
        &store,
        ReadQuery::new("MATCH (i:Item) RETURN i.n LIMIT 3").limit(5),
    )
    .await;
    assert_eq!(clause.rows.len(), 3);
    assert!(!clause.truncated);
    let exact = run(
        &store,
        ReadQuery::new("MATCH (i:Item) RETURN i.n").limit(12),
    )
    .await;
    assert_eq!(exact.rows.len(), 12);
    assert!(!exact.truncated);
    let default = run(&store, ReadQuery::new("MATCH (i:Item) RETURN i")).await;
    assert_eq!(default.rows.len(), 12);
    let err = store
        .query(&ReadQuery::new("MATCH (i:Item) RETURN i").limit(MAX_ROW_LIMIT + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidLimit { .. }), "{err:?}");
}

/// Write clauses are refused with `WriteInReadQuery`, and the graph is unchanged afterwards.
pub async fn query_write_clauses_are_refused_and_change_nothing<S: GraphStore>(store: S) {
    people(&store).await;
    let before = sorted_rows(&run(&store, ReadQuery::new("MATCH (p:Person) RETURN p")).await);
    for (cypher, clause) in [
        ("CREATE (n:Person {name: 'Eve'})", "CREATE"),
        ("MATCH (p:Person) SET p.age = 0 RETURN p", "SET"),
        ("MATCH (p:Person) DETACH DELETE p", "DETACH"),
        ("MATCH (p:Person) DELETE p", "DELETE"),
        ("MERGE (n:Person {name: 'Eve'}) RETURN n", "MERGE"),
        ("MATCH (p:Person) REMOVE p.age RETURN p", "REMOVE"),
        ("CALL db.labels()", "CALL"),
        (
            "LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line",
            "LOAD",
        ),
        (
            "MATCH (p:Person) WHERE p.name = 'x' /* hidden */ create (q:Person {name: 'y'}) RETURN q",
            "CREATE",
        ),
    ] {
        match store.query(&ReadQuery::new(cypher)).await {
            Err(Error::WriteInReadQuery { clause: c }) => assert_eq!(c, clause, "{cypher}"),
            other => panic!("{cypher}: expected WriteInReadQuery, got {other:?}"),
        }
    }
    let after = sorted_rows(&run(&store, ReadQuery::new("MATCH (p:Person) RETURN p")).await);
    assert_eq!(before, after);
    assert_eq!(store.stats().await.expect("stats").nodes, 4);
    // Keywords inside strings are data, not clauses.
    let data = run(
        &store,
        ReadQuery::new("MATCH (p:Person) WHERE p.name = 'DELETE me' RETURN p"),
    )
    .await;
    assert!(data.rows.is_empty());
}

/// Unicode parameters and literals match Unicode property values.
pub async fn query_unicode_parameters_match<S: GraphStore>(store: S) {
    put(
        &store,
        &node("City", "tokyo"),
        json!({"name": "東京", "note": "naïve ✓"}),
    )
    .await;
    let by_param = run(
        &store,
        ReadQuery::new("MATCH (c:City {name: $n}) RETURN c.note").param("n", "東京"),
    )
    .await;
    assert_eq!(value_rows(&by_param), [[json!("naïve ✓")]]);
    let by_literal = run(
        &store,
        ReadQuery::new("MATCH (c:City) WHERE c.note = 'naïve ✓' RETURN c.name"),
    )
    .await;
    assert_eq!(value_rows(&by_literal), [[json!("東京")]]);
}

/// A query whose timeout has already passed fails with `Timeout` instead of returning rows.
pub async fn query_past_its_timeout_fails_with_timeout<S: GraphStore>(store: S) {
    people(&store).await;
    let query = ReadQuery::new("MATCH (p:Person) RETURN p").timeout(std::time::Duration::ZERO);
    let err = store.query(&query).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

/// Valid Cypher the embedded engine does not run is refused with `Unsupported`, naming it.
pub async fn embedded_subset_refuses_other_cypher_as_unsupported<S: GraphStore>(store: S) {
    people(&store).await;
    for (cypher, feature) in [
        ("MATCH (p:Person|Robot) RETURN p", "label expressions"),
        ("RETURN date() AS today", "temporal"),
        ("RETURN apoc.text.join(['a'], ',') AS s", "apoc.text.join"),
        ("MATCH (p:Person) RETURN COUNT { (p)-->() } AS c", "COUNT"),
        ("USE other MATCH (n) RETURN n", "USE"),
        (
            "MATCH (p:Person) RETURN nosuchfunction(p) AS x",
            "nosuchfunction",
        ),
    ] {
        match store.query(&ReadQuery::new(cypher)).await {
            Err(Error::Unsupported { feature: f }) => assert!(f.contains(feature), "{cypher}: {f}"),
            other => panic!("{cypher}: expected Unsupported, got {other:?}"),
        }
    }
}

/// A `$parameter` without a value is reported by name.
pub async fn embedded_subset_reports_a_missing_parameter<S: GraphStore>(store: S) {
    people(&store).await;
    let err = store
        .query(&ReadQuery::new("MATCH (p:Person {name: $who}) RETURN p"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingParameter { name } if name == "who"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "missing query parameter $who");
}
