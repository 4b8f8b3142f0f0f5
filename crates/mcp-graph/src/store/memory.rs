//! [`MemoryGraphStore`]: the reference backend, kept in process memory.

use crate::model::{
    Direction, GraphStats, Label, Node, NodeKey, NodeRef, Properties, RelType, Relationship,
    merge_properties,
};
use crate::query::{QueryResult, ReadQuery, run_subset};
use crate::store::GraphStore;
use crate::store::read::{self, GraphRead, matches_filter};
use crate::{Error, Result};
use async_trait::async_trait;
use mcp_core::StoreError;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A graph held in memory, for tests and embedding. Cheap to create; nothing is persisted.
///
/// Queries use the embedded Cypher subset documented in the crate README.
#[derive(Debug, Default)]
pub struct MemoryGraphStore {
    graph: RwLock<Graph>,
}

#[derive(Debug, Default)]
struct Graph {
    /// Properties of each node, by label then key.
    nodes: BTreeMap<Label, BTreeMap<NodeKey, Properties>>,
    /// Outgoing relationships: start node → (type, end node) → properties.
    outgoing: BTreeMap<NodeRef, BTreeMap<(RelType, NodeRef), Properties>>,
    /// Incoming relationships: end node → (type, start node).
    incoming: BTreeMap<NodeRef, BTreeSet<(RelType, NodeRef)>>,
}

impl MemoryGraphStore {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic cannot leave the graph half-updated (every update is a few infallible map
    // operations), so a poisoned lock is safe to keep using.
    fn read(&self) -> RwLockReadGuard<'_, Graph> {
        self.graph.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Graph> {
        self.graph.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Graph {
    fn contains(&self, node: &NodeRef) -> bool {
        self.nodes
            .get(&node.label)
            .is_some_and(|keys| keys.contains_key(&node.key))
    }
}

fn not_found(node: &NodeRef) -> Error {
    Error::Store(StoreError::NotFound(format!("node {node}")))
}

impl GraphRead for Graph {
    fn node(&self, node: &NodeRef) -> Result<Option<Node>> {
        let properties = self
            .nodes
            .get(&node.label)
            .and_then(|keys| keys.get(&node.key));
        Ok(properties.map(|p| Node {
            label: node.label.clone(),
            key: node.key.clone(),
            properties: p.clone(),
        }))
    }

    fn scan(
        &self,
        label: &Label,
        filter: &Properties,
        visit: &mut dyn FnMut(Node) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        for (key, properties) in self.nodes.get(label).into_iter().flatten() {
            if !matches_filter(properties, filter) {
                continue;
            }
            let node = Node {
                label: label.clone(),
                key: key.clone(),
                properties: properties.clone(),
            };
            if visit(node)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn relationships(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
    ) -> Result<Vec<Relationship>> {
        let wanted = |t: &RelType| rel_type.is_none_or(|w| w == t);
        let mut found = Vec::new();
        if direction.includes_outgoing() {
            for ((t, to), properties) in self.outgoing.get(node).into_iter().flatten() {
                if wanted(t) {
                    found.push(Relationship {
                        from: node.clone(),
                        rel_type: t.clone(),
                        to: to.clone(),
                        properties: properties.clone(),
                    });
                }
            }
        }
        if direction.includes_incoming() {
            for (t, from) in self.incoming.get(node).into_iter().flatten() {
                if !wanted(t) || (direction == Direction::Both && from == node) {
                    continue; // a self-loop was already listed as outgoing
                }
                let properties = self
                    .outgoing
                    .get(from)
                    .and_then(|out| out.get(&(t.clone(), node.clone())));
                found.push(Relationship {
                    from: from.clone(),
                    rel_type: t.clone(),
                    to: node.clone(),
                    properties: properties.cloned().unwrap_or_default(),
                });
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl GraphStore for MemoryGraphStore {
    async fn upsert_node(
        &self,
        label: &Label,
        key: &NodeKey,
        properties: Properties,
    ) -> Result<Node> {
        let mut graph = self.write();
        let stored = graph
            .nodes
            .entry(label.clone())
            .or_default()
            .entry(key.clone())
            .or_default();
        merge_properties(stored, properties);
        Ok(Node {
            label: label.clone(),
            key: key.clone(),
            properties: stored.clone(),
        })
    }

    async fn upsert_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
        properties: Properties,
    ) -> Result<Relationship> {
        let mut graph = self.write();
        for end in [from, to] {
            if !graph.contains(end) {
                return Err(not_found(end));
            }
        }
        let stored = graph
            .outgoing
            .entry(from.clone())
            .or_default()
            .entry((rel_type.clone(), to.clone()))
            .or_default();
        merge_properties(stored, properties);
        let properties = stored.clone();
        graph
            .incoming
            .entry(to.clone())
            .or_default()
            .insert((rel_type.clone(), from.clone()));
        Ok(Relationship {
            from: from.clone(),
            rel_type: rel_type.clone(),
            to: to.clone(),
            properties,
        })
    }

    async fn get_node(&self, node: &NodeRef) -> Result<Option<Node>> {
        self.read().node(node)
    }

    async fn find_nodes(
        &self,
        label: &Label,
        filter: &Properties,
        limit: usize,
    ) -> Result<Vec<Node>> {
        read::find_nodes(&*self.read(), label, filter, limit)
    }

    async fn neighbors(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
        depth: usize,
        limit: usize,
    ) -> Result<Vec<Node>> {
        read::neighbors(&*self.read(), node, rel_type, direction, depth, limit)
    }

    async fn delete_node(&self, node: &NodeRef) -> Result<bool> {
        let mut graph = self.write();
        let Some(keys) = graph.nodes.get_mut(&node.label) else {
            return Ok(false);
        };
        if keys.remove(&node.key).is_none() {
            return Ok(false);
        }
        if keys.is_empty() {
            graph.nodes.remove(&node.label);
        }
        for (t, to) in graph.outgoing.remove(node).unwrap_or_default().into_keys() {
            if let Some(set) = graph.incoming.get_mut(&to) {
                set.remove(&(t, node.clone()));
            }
        }
        for (t, from) in graph.incoming.remove(node).unwrap_or_default() {
            if let Some(out) = graph.outgoing.get_mut(&from) {
                out.remove(&(t, node.clone()));
            }
        }
        graph.outgoing.retain(|_, out| !out.is_empty());
        graph.incoming.retain(|_, inc| !inc.is_empty());
        Ok(true)
    }

    async fn delete_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
    ) -> Result<bool> {
        let mut graph = self.write();
        let edge = (rel_type.clone(), to.clone());
        let Some(out) = graph.outgoing.get_mut(from) else {
            return Ok(false);
        };
        if out.remove(&edge).is_none() {
            return Ok(false);
        }
        if out.is_empty() {
            graph.outgoing.remove(from);
        }
        if let Some(inc) = graph.incoming.get_mut(to) {
            inc.remove(&(rel_type.clone(), from.clone()));
            if inc.is_empty() {
                graph.incoming.remove(to);
            }
        }
        Ok(true)
    }

    async fn stats(&self) -> Result<GraphStats> {
        let graph = self.read();
        let mut stats = GraphStats::default();
        for (label, keys) in &graph.nodes {
            stats.nodes += keys.len() as u64;
            stats.labels.insert(label.clone(), keys.len() as u64);
        }
        for (t, _) in graph.outgoing.values().flat_map(BTreeMap::keys) {
            stats.relationships += 1;
            *stats.rel_types.entry(t.clone()).or_default() += 1;
        }
        Ok(stats)
    }

    async fn query(&self, query: &ReadQuery) -> Result<QueryResult> {
        run_subset(&*self.read(), query)
    }
}
