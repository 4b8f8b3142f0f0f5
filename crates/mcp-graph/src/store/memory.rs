//! [`MemoryGraphStore`]: the reference backend, kept in process memory.

use crate::model::{
    Direction, GraphStats, Label, Node, NodeKey, NodeRef, Properties, RelType, Relationship,
    merge_properties,
};
use crate::query::graph::{LazyProps, NodeData, QueryGraph, RelData, Visit};
use crate::query::{QueryResult, ReadQuery, run_embedded};
use crate::store::GraphStore;
use crate::store::read::{self, GraphRead, matches_filter};
use crate::{Error, Result};
use async_trait::async_trait;
use mcp_core::StoreError;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A graph held in memory, for tests and embedding. Cheap to create; nothing is persisted.
///
/// Queries run on the embedded Cypher engine (see the crate README), on a blocking thread
/// under a read lock, so a long query delays writers until it ends (at most its timeout).
#[derive(Debug, Default)]
pub struct MemoryGraphStore {
    graph: Arc<RwLock<Graph>>,
}

#[derive(Debug, Default)]
struct Graph {
    next_id: u64,
    /// Nodes by internal id (ids grow, so this is insertion order).
    nodes: BTreeMap<u64, Arc<NodeData>>,
    /// Node ids by label, then key.
    index: BTreeMap<Label, BTreeMap<NodeKey, u64>>,
    rels: BTreeMap<u64, Arc<RelData>>,
    /// Start node → (type, end node) → relationship id.
    outgoing: HashMap<u64, BTreeMap<(RelType, u64), u64>>,
    /// End node → (type, start node) → relationship id.
    incoming: HashMap<u64, BTreeMap<(RelType, u64), u64>>,
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

fn not_found(node: &NodeRef) -> Error {
    Error::Store(StoreError::NotFound(format!("node {node}")))
}

fn decoded(props: &LazyProps) -> &Properties {
    match props {
        LazyProps::Decoded(p) => p,
        // The memory store only holds decoded properties.
        LazyProps::Json(..) => unreachable!("memory store properties are decoded"),
    }
}

impl Graph {
    fn id_of(&self, node: &NodeRef) -> Option<u64> {
        self.index.get(&node.label)?.get(&node.key).copied()
    }

    fn node_ref(&self, id: u64) -> Option<NodeRef> {
        self.nodes.get(&id).map(|n| n.to_ref())
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn relationship(&self, rel: &RelData) -> Option<Relationship> {
        Some(Relationship {
            from: self.node_ref(rel.from)?,
            rel_type: rel.rel_type.clone(),
            to: self.node_ref(rel.to)?,
            properties: decoded(&rel.props).clone(),
        })
    }

    /// Relationship ids at `node` in `direction`, optionally of one of `types`. With
    /// [`Direction::Both`], a self-loop is listed once.
    fn rel_ids(&self, node: u64, direction: Direction, types: &[RelType]) -> Vec<u64> {
        let wanted = |t: &RelType| types.is_empty() || types.contains(t);
        let mut ids = Vec::new();
        if direction.includes_outgoing() {
            for ((t, _), id) in self.outgoing.get(&node).into_iter().flatten() {
                if wanted(t) {
                    ids.push(*id);
                }
            }
        }
        if direction.includes_incoming() {
            for ((t, from), id) in self.incoming.get(&node).into_iter().flatten() {
                if wanted(t) && !(direction == Direction::Both && *from == node) {
                    ids.push(*id);
                }
            }
        }
        ids
    }
}

fn node_of(data: &NodeData) -> Node {
    Node {
        label: data.label.clone(),
        key: data.key.clone(),
        properties: decoded(&data.props).clone(),
    }
}

impl GraphRead for Graph {
    fn node(&self, node: &NodeRef) -> Result<Option<Node>> {
        Ok(self
            .id_of(node)
            .and_then(|id| self.nodes.get(&id))
            .map(|n| node_of(n)))
    }

    fn scan(
        &self,
        label: &Label,
        filter: &Properties,
        visit: &mut dyn FnMut(Node) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        for id in self.index.get(label).into_iter().flat_map(BTreeMap::values) {
            let Some(data) = self.nodes.get(id) else {
                continue;
            };
            if !matches_filter(decoded(&data.props), filter) {
                continue;
            }
            if visit(node_of(data))?.is_break() {
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
        let Some(id) = self.id_of(node) else {
            return Ok(Vec::new());
        };
        let types: Vec<RelType> = rel_type.into_iter().cloned().collect();
        Ok(self
            .rel_ids(id, direction, &types)
            .into_iter()
            .filter_map(|r| self.rels.get(&r).and_then(|r| self.relationship(r)))
            .collect())
    }
}

impl QueryGraph for Graph {
    fn label_counts(&self, label: Option<&Label>) -> Result<Vec<(u64, Arc<NodeData>)>> {
        Ok(self
            .index
            .iter()
            .filter(|(l, _)| label.is_none_or(|want| want == *l))
            .filter_map(|(_, keys)| {
                let first = keys.values().next()?;
                Some((keys.len() as u64, Arc::clone(self.nodes.get(first)?)))
            })
            .collect())
    }

    fn scan(&self, label: Option<&Label>, visit: Visit<'_, Arc<NodeData>>) -> Result<()> {
        match label {
            Some(label) => {
                for id in self.index.get(label).into_iter().flat_map(BTreeMap::values) {
                    if let Some(n) = self.nodes.get(id)
                        && visit(Arc::clone(n))?.is_break()
                    {
                        break;
                    }
                }
            }
            None => {
                for n in self.nodes.values() {
                    if visit(Arc::clone(n))?.is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, label: &Label, key: &NodeKey) -> Result<Option<Arc<NodeData>>> {
        Ok(self
            .index
            .get(label)
            .and_then(|keys| keys.get(key))
            .and_then(|id| self.nodes.get(id))
            .cloned())
    }

    fn node(&self, id: u64) -> Result<Option<Arc<NodeData>>> {
        Ok(self.nodes.get(&id).cloned())
    }

    fn expand(
        &self,
        node: u64,
        direction: Direction,
        types: &[RelType],
        visit: Visit<'_, (Arc<RelData>, Arc<NodeData>)>,
    ) -> Result<()> {
        for id in self.rel_ids(node, direction, types) {
            let Some(rel) = self.rels.get(&id) else {
                continue;
            };
            let other = if rel.from == node { rel.to } else { rel.from };
            if let Some(other) = self.nodes.get(&other)
                && visit((Arc::clone(rel), Arc::clone(other)))?.is_break()
            {
                break;
            }
        }
        Ok(())
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
        let existing = graph
            .index
            .get(label)
            .and_then(|keys| keys.get(key))
            .copied();
        let (id, mut stored) = match existing {
            Some(id) => (
                id,
                graph
                    .nodes
                    .get(&id)
                    .map(|n| decoded(&n.props).clone())
                    .unwrap_or_default(),
            ),
            None => (graph.next_id(), Properties::new()),
        };
        merge_properties(&mut stored, properties);
        let node = Node {
            label: label.clone(),
            key: key.clone(),
            properties: stored.clone(),
        };
        graph.nodes.insert(
            id,
            Arc::new(NodeData {
                id,
                label: label.clone(),
                key: key.clone(),
                props: LazyProps::Decoded(stored),
            }),
        );
        graph
            .index
            .entry(label.clone())
            .or_default()
            .insert(key.clone(), id);
        Ok(node)
    }

    async fn upsert_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
        properties: Properties,
    ) -> Result<Relationship> {
        let mut graph = self.write();
        let from_id = graph.id_of(from).ok_or_else(|| not_found(from))?;
        let to_id = graph.id_of(to).ok_or_else(|| not_found(to))?;
        let edge = (rel_type.clone(), to_id);
        let existing = graph
            .outgoing
            .get(&from_id)
            .and_then(|out| out.get(&edge))
            .copied();
        let (id, mut stored) = match existing {
            Some(id) => (
                id,
                graph
                    .rels
                    .get(&id)
                    .map(|r| decoded(&r.props).clone())
                    .unwrap_or_default(),
            ),
            None => (graph.next_id(), Properties::new()),
        };
        merge_properties(&mut stored, properties);
        graph.rels.insert(
            id,
            Arc::new(RelData {
                id,
                rel_type: rel_type.clone(),
                from: from_id,
                to: to_id,
                props: LazyProps::Decoded(stored.clone()),
            }),
        );
        graph.outgoing.entry(from_id).or_default().insert(edge, id);
        graph
            .incoming
            .entry(to_id)
            .or_default()
            .insert((rel_type.clone(), from_id), id);
        Ok(Relationship {
            from: from.clone(),
            rel_type: rel_type.clone(),
            to: to.clone(),
            properties: stored,
        })
    }

    async fn get_node(&self, node: &NodeRef) -> Result<Option<Node>> {
        GraphRead::node(&*self.read(), node)
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
        let Some(id) = graph.id_of(node) else {
            return Ok(false);
        };
        if let Some(keys) = graph.index.get_mut(&node.label) {
            keys.remove(&node.key);
            if keys.is_empty() {
                graph.index.remove(&node.label);
            }
        }
        graph.nodes.remove(&id);
        for ((t, to), rel) in graph.outgoing.remove(&id).unwrap_or_default() {
            graph.rels.remove(&rel);
            if let Some(set) = graph.incoming.get_mut(&to) {
                set.remove(&(t, id));
            }
        }
        for ((t, from), rel) in graph.incoming.remove(&id).unwrap_or_default() {
            graph.rels.remove(&rel);
            if let Some(out) = graph.outgoing.get_mut(&from) {
                out.remove(&(t, id));
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
        let (Some(from_id), Some(to_id)) = (graph.id_of(from), graph.id_of(to)) else {
            return Ok(false);
        };
        let Some(out) = graph.outgoing.get_mut(&from_id) else {
            return Ok(false);
        };
        let Some(rel) = out.remove(&(rel_type.clone(), to_id)) else {
            return Ok(false);
        };
        if out.is_empty() {
            graph.outgoing.remove(&from_id);
        }
        if let Some(inc) = graph.incoming.get_mut(&to_id) {
            inc.remove(&(rel_type.clone(), from_id));
            if inc.is_empty() {
                graph.incoming.remove(&to_id);
            }
        }
        graph.rels.remove(&rel);
        Ok(true)
    }

    async fn stats(&self) -> Result<GraphStats> {
        let graph = self.read();
        let mut stats = GraphStats::default();
        for (label, keys) in &graph.index {
            stats.nodes += keys.len() as u64;
            stats.labels.insert(label.clone(), keys.len() as u64);
        }
        for rel in graph.rels.values() {
            stats.relationships += 1;
            *stats.rel_types.entry(rel.rel_type.clone()).or_default() += 1;
        }
        Ok(stats)
    }

    async fn query(&self, query: &ReadQuery) -> Result<QueryResult> {
        let graph = Arc::clone(&self.graph);
        let query = query.clone();
        tokio::task::spawn_blocking(move || {
            let graph = graph.read().unwrap_or_else(PoisonError::into_inner);
            run_embedded(&*graph, &query)
        })
        .await
        .map_err(|e| Error::Store(StoreError::backend("query task failed", e)))?
    }
}
