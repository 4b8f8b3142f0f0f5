//! The read primitives the embedded backends share, the traversal built on them, and the
//! argument checks of every backend.

use crate::model::{Direction, Label, Node, NodeRef, Properties, RelType, Relationship};
use crate::query::check_limit;
use crate::{Error, MAX_DEPTH, Result};
use std::collections::HashSet;
use std::hash::Hash;
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

/// Checks the arguments of [`crate::GraphStore::neighbors`].
pub(crate) fn check_traversal(depth: usize, limit: usize) -> Result<()> {
    check_depth(depth)?;
    check_limit(limit)
}

/// Checks the limit of [`crate::GraphStore::find_nodes`], and tells whether the answer is empty
/// without looking: a zero limit, or a null in `filter` (which matches nothing).
pub(crate) fn finds_nothing(filter: &Properties, limit: usize) -> Result<bool> {
    check_limit(limit)?;
    Ok(limit == 0 || filter.values().any(|v| v.is_null()))
}

/// `find_nodes` over [`GraphRead::scan`].
pub(crate) fn find_nodes(
    source: &dyn GraphRead,
    label: &Label,
    filter: &Properties,
    limit: usize,
) -> Result<Vec<Node>> {
    let mut found = Vec::new();
    if finds_nothing(filter, limit)? {
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

/// Breadth-first search: the distinct nodes within `depth` hops of `start`, nearest first,
/// excluding `start`, at most `limit`. `adjacent(node, out)` appends the nodes one hop from
/// `node` to `out` (duplicates allowed); within a level, nodes keep the order it gives them.
pub(crate) fn breadth_first<N: Clone + Eq + Hash>(
    start: N,
    depth: usize,
    limit: usize,
    mut adjacent: impl FnMut(&N, &mut Vec<N>) -> Result<()>,
) -> Result<Vec<N>> {
    let mut seen: HashSet<N> = HashSet::from([start.clone()]);
    let mut found: Vec<N> = Vec::new();
    let mut frontier = vec![start];
    let mut hop = Vec::new();
    'levels: for _ in 0..depth {
        let mut next = Vec::new();
        for node in &frontier {
            hop.clear();
            adjacent(node, &mut hop)?;
            for other in hop.drain(..) {
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
    Ok(found)
}

/// `neighbors` over [`GraphRead::relationships`]. A missing start node has no neighbors.
pub(crate) fn neighbors(
    source: &dyn GraphRead,
    start: &NodeRef,
    rel_type: Option<&RelType>,
    direction: Direction,
    depth: usize,
    limit: usize,
) -> Result<Vec<Node>> {
    check_traversal(depth, limit)?;
    let found = breadth_first(start.clone(), depth, limit, |node, out| {
        for rel in source.relationships(node, rel_type, direction)? {
            out.push(if rel.from == *node { rel.to } else { rel.from });
        }
        Ok(())
    })?;
    let mut nodes = Vec::with_capacity(found.len());
    for node in &found {
        nodes.extend(source.node(node)?);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `breadth_first` over a small graph of numbers: 0 -> 1, 2; 1 -> 0, 3; 2 -> 3, 4; 3 -> 5.
    fn search(depth: usize, limit: usize) -> Vec<u32> {
        let adjacent = |n: &u32, out: &mut Vec<u32>| {
            out.extend_from_slice(match n {
                0 => &[1, 2],
                1 => &[0, 3],
                2 => &[3, 4],
                3 => &[5],
                _ => &[],
            });
            Ok(())
        };
        breadth_first(0, depth, limit, adjacent).unwrap()
    }

    #[test]
    fn breadth_first_lists_distinct_nodes_nearest_first_without_the_start() {
        assert_eq!(search(1, 100), [1, 2]);
        assert_eq!(search(2, 100), [1, 2, 3, 4]);
        assert_eq!(search(5, 100), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn breadth_first_stops_at_the_limit() {
        assert_eq!(search(5, 3), [1, 2, 3]);
        assert_eq!(search(5, 0), Vec::<u32>::new());
    }

    #[test]
    fn breadth_first_passes_on_the_first_error() {
        let failing = |_: &u32, _: &mut Vec<u32>| Err(Error::unsupported("no reads today"));
        assert!(breadth_first(0, 2, 10, failing).is_err());
    }

    #[test]
    fn a_null_in_the_filter_or_a_zero_limit_finds_nothing() {
        let mut filter = Properties::new();
        assert!(!finds_nothing(&filter, 10).unwrap());
        assert!(finds_nothing(&filter, 0).unwrap());
        filter.insert(
            crate::PropertyKey::new("name").unwrap(),
            crate::Value::null(),
        );
        assert!(finds_nothing(&filter, 10).unwrap());
        assert!(finds_nothing(&filter, crate::MAX_ROW_LIMIT + 1).is_err());
    }

    #[test]
    fn traversal_arguments_out_of_range_are_errors() {
        assert!(check_traversal(1, 0).is_ok());
        assert!(check_traversal(MAX_DEPTH, crate::MAX_ROW_LIMIT).is_ok());
        assert!(check_traversal(0, 10).is_err());
        assert!(check_traversal(MAX_DEPTH + 1, 10).is_err());
        assert!(check_traversal(1, crate::MAX_ROW_LIMIT + 1).is_err());
    }
}
