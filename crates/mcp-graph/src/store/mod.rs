//! The [`GraphStore`] trait, the seam every graph backend implements.

pub mod memory;
#[cfg(feature = "neo4j")]
pub mod neo4j;
pub(crate) mod read;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use crate::Result;
use crate::model::{
    Direction, GraphStats, Label, Node, NodeKey, NodeRef, Properties, RelType, Relationship,
};
use crate::query::{QueryResult, ReadQuery};
use async_trait::async_trait;
use std::sync::Arc;

/// The deepest traversal [`GraphStore::neighbors`] accepts.
pub const MAX_DEPTH: usize = 5;

/// A property graph: labelled nodes with a key unique per label, typed relationships between
/// them (at most one of each type from one node to another), and JSON-scalar properties on both.
///
/// Every backend passes the shared conformance suite (`graph_store_conformance!`, feature
/// `testing`). Names are validated by their types ([`Label`], [`RelType`],
/// [`crate::PropertyKey`]), so a backend can write them into queries without quoting.
/// Backend failures are reported as [`crate::Error::Store`].
#[async_trait]
pub trait GraphStore: Send + Sync {
    /// Creates the node, or merges `properties` into the existing one (keys given overwrite,
    /// a null removes the key, other keys stay). Returns the node as stored.
    async fn upsert_node(
        &self,
        label: &Label,
        key: &NodeKey,
        properties: Properties,
    ) -> Result<Node>;

    /// Creates the relationship `from -[rel_type]-> to`, or merges `properties` into the
    /// existing one (same rules as [`GraphStore::upsert_node`]). Both nodes must exist, or
    /// the call fails with `Error::Store(StoreError::NotFound(_))` and writes nothing.
    async fn upsert_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
        properties: Properties,
    ) -> Result<Relationship>;

    /// The node, if it exists.
    async fn get_node(&self, node: &NodeRef) -> Result<Option<Node>>;

    /// Up to `limit` nodes of `label` whose properties equal every entry of `filter` (numbers
    /// compare by value; a null in `filter` matches nothing). `limit` is at most
    /// [`crate::MAX_ROW_LIMIT`]; the order is unspecified.
    async fn find_nodes(
        &self,
        label: &Label,
        filter: &Properties,
        limit: usize,
    ) -> Result<Vec<Node>>;

    /// Distinct nodes reachable from `node` within `depth` hops (1..=[`MAX_DEPTH`]) along
    /// relationships of `rel_type` (any type when `None`) in `direction`, excluding `node`
    /// itself, nearest first, at most `limit` (≤ [`crate::MAX_ROW_LIMIT`]). A missing start
    /// node has no neighbors.
    async fn neighbors(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
        depth: usize,
        limit: usize,
    ) -> Result<Vec<Node>>;

    /// Deletes the node and every relationship at it. Returns whether the node existed.
    async fn delete_node(&self, node: &NodeRef) -> Result<bool>;

    /// Deletes the relationship `from -[rel_type]-> to`. Returns whether it existed.
    async fn delete_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
    ) -> Result<bool>;

    /// Counts of nodes and relationships, in total and per label and type.
    async fn stats(&self) -> Result<GraphStats>;

    /// Runs a read-only Cypher query. Write clauses are refused with
    /// [`crate::Error::WriteInReadQuery`] (see [`crate::ensure_read_only`]); the row limit and
    /// timeout of `query` are enforced. The embedded backends run the Cypher documented in
    /// the crate README and refuse the rest with [`crate::Error::Unsupported`].
    async fn query(&self, query: &ReadQuery) -> Result<QueryResult>;
}

#[async_trait]
impl<T: GraphStore + ?Sized> GraphStore for Arc<T> {
    async fn upsert_node(
        &self,
        label: &Label,
        key: &NodeKey,
        properties: Properties,
    ) -> Result<Node> {
        (**self).upsert_node(label, key, properties).await
    }

    async fn upsert_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
        properties: Properties,
    ) -> Result<Relationship> {
        (**self)
            .upsert_relationship(from, rel_type, to, properties)
            .await
    }

    async fn get_node(&self, node: &NodeRef) -> Result<Option<Node>> {
        (**self).get_node(node).await
    }

    async fn find_nodes(
        &self,
        label: &Label,
        filter: &Properties,
        limit: usize,
    ) -> Result<Vec<Node>> {
        (**self).find_nodes(label, filter, limit).await
    }

    async fn neighbors(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
        depth: usize,
        limit: usize,
    ) -> Result<Vec<Node>> {
        (**self)
            .neighbors(node, rel_type, direction, depth, limit)
            .await
    }

    async fn delete_node(&self, node: &NodeRef) -> Result<bool> {
        (**self).delete_node(node).await
    }

    async fn delete_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
    ) -> Result<bool> {
        (**self).delete_relationship(from, rel_type, to).await
    }

    async fn stats(&self) -> Result<GraphStats> {
        (**self).stats().await
    }

    async fn query(&self, query: &ReadQuery) -> Result<QueryResult> {
        (**self).query(query).await
    }
}
