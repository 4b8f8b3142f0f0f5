//! The read primitives the embedded backends share, and the traversal built on them.

use crate::model::{Direction, Label, Node, NodeRef, Properties, RelType, Relationship};
use crate::query::{Deadline, check_limit};
use crate::{Error, MAX_DEPTH, Result};
use std::collections::HashSet;
use std::ops::ControlFlow;

/// What the embedded backends expose to the shared traversal and query code (synchronous:
/// SQLite runs it on a blocking thread, memory under its read lock).
pub(crate) trait GraphRead {
    /// The node, if it exists.
    fn node(&self, node: &NodeRef) -> Result<Option<Node>>;

    /// Calls `visit` with each node of `label` whose properties include every entry of
    /// `filter` (by [`crate::Value`] equality), until `visit` breaks.
    fn scan(
        &self,
        label: &Label,
        filter: &Properties,
        visit: &mut dyn FnMut(Node) -> Result<ControlFlow<()>>,
    ) -> Result<()>;

    /// The relationships at `node` in `direction`, optionally of one type. With
    /// [`Direction::Both`], a self-loop is listed once.
    fn relationships(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
    ) -> Result<Vec<Relationship>>;
}

/// Whether `properties` include every entry of `filter` (a null in `filter` matches nothing).
pub(crate) fn matches_filter(properties: &Properties, filter: &Properties) -> bool {
    filter
        .iter()
        .all(|(k, v)| !v.is_null() && properties.get(k) == Some(v))
}

/// Checks a traversal depth.
pub(crate) fn check_depth(depth: usize) -> Result<()> {
    if depth == 0 || depth > MAX_DEPTH {
        return Err(Error::InvalidDepth {
            depth,
            max: MAX_DEPTH,
        });
    }
    Ok(())
}

/// `find_nodes` over [`GraphRead::scan`].
pub(crate) fn find_nodes(
    source: &dyn GraphRead,
    label: &Label,
    filter: &Properties,
    limit: usize,
) -> Result<Vec<Node>> {
    check_limit(limit)?;
    let mut found = Vec::new();
    if limit == 0 || filter.values().any(|v| v.is_null()) {
        return Ok(found);
    }
    source.scan(label, filter, &mut |node| {
        found.push(node);
        Ok(if found.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    Ok(found)
}

/// Breadth-first search: distinct nodes within `depth` hops of `start`, nearest first,
/// excluding `start`. A missing start node has no neighbors.
pub(crate) fn neighbors(
    source: &dyn GraphRead,
    start: &NodeRef,
    rel_type: Option<&RelType>,
    direction: Direction,
    depth: usize,
    limit: usize,
) -> Result<Vec<Node>> {
    check_depth(depth)?;
    check_limit(limit)?;
    let mut seen: HashSet<NodeRef> = HashSet::from([start.clone()]);
    let mut found: Vec<NodeRef> = Vec::new();
    let mut frontier = vec![start.clone()];
    'levels: for _ in 0..depth {
        let mut next = Vec::new();
        for node in &frontier {
            for rel in source.relationships(node, rel_type, direction)? {
                let other = if rel.from == *node { rel.to } else { rel.from };
                if found.len() >= limit {
                    break 'levels;
                }
                if seen.insert(other.clone()) {
                    found.push(other.clone());
                    next.push(other);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    found.truncate(limit);
    let mut nodes = Vec::with_capacity(found.len());
    for node in &found {
        nodes.extend(source.node(node)?);
    }
    Ok(nodes)
}

/// Runs a scan that gives up at `deadline`.
pub(crate) fn scan_until(
    source: &dyn GraphRead,
    label: &Label,
    filter: &Properties,
    deadline: Deadline,
    visit: &mut dyn FnMut(Node) -> Result<ControlFlow<()>>,
) -> Result<()> {
    source.scan(label, filter, &mut |node| {
        deadline.check()?;
        visit(node)
    })
}
