//! What the query engine reads from an embedded backend: nodes and relationships by internal
//! id, with properties decoded only when a query looks at them.

use crate::model::{Direction, Label, NodeKey, NodeRef, Properties, RelType};
use crate::{Error, Result};
use mcp_core::StoreError;
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

/// Properties as stored: decoded already (memory) or JSON text decoded on first use (SQLite).
#[derive(Debug)]
pub(crate) enum LazyProps {
    Decoded(Properties),
    Json(String, OnceLock<Properties>),
}

impl LazyProps {
    pub(crate) fn json(text: String) -> Self {
        Self::Json(text, OnceLock::new())
    }

    pub(crate) fn get(&self) -> Result<&Properties> {
        match self {
            Self::Decoded(p) => Ok(p),
            Self::Json(text, cell) => {
                if let Some(p) = cell.get() {
                    return Ok(p);
                }
                let decoded: Properties = serde_json::from_str(text).map_err(|e| {
                    Error::Store(StoreError::backend("stored properties are not valid", e))
                })?;
                Ok(cell.get_or_init(|| decoded))
            }
        }
    }
}

/// A node as the engine sees it.
#[derive(Debug)]
pub(crate) struct NodeData {
    pub id: u64,
    pub label: Label,
    pub key: NodeKey,
    pub props: LazyProps,
}

impl NodeData {
    pub(crate) fn to_ref(&self) -> NodeRef {
        NodeRef::new(self.label.clone(), self.key.clone())
    }
}

/// A relationship as the engine sees it.
#[derive(Debug)]
pub(crate) struct RelData {
    pub id: u64,
    pub rel_type: RelType,
    pub from: u64,
    pub to: u64,
    pub props: LazyProps,
}

/// Visits one item; `Break` stops the walk.
pub(crate) type Visit<'a, T> = &'a mut dyn FnMut(T) -> Result<ControlFlow<()>>;

/// Read access for the query engine (synchronous: SQLite runs it on a blocking thread, memory
/// under its read lock). Internal ids are stable for the duration of one query.
pub(crate) trait QueryGraph {
    /// Every node, or every node of `label`, until `visit` breaks.
    fn scan(&self, label: Option<&Label>, visit: Visit<'_, Arc<NodeData>>) -> Result<()>;

    /// The node with this label and key.
    fn lookup(&self, label: &Label, key: &NodeKey) -> Result<Option<Arc<NodeData>>>;

    /// The node with this internal id.
    fn node(&self, id: u64) -> Result<Option<Arc<NodeData>>>;

    /// The relationships at `node` in `direction` (of one of `types`, or any type when empty),
    /// each with the node at its other end. With [`Direction::Both`], a self-loop comes once.
    fn expand(
        &self,
        node: u64,
        direction: Direction,
        types: &[RelType],
        visit: Visit<'_, (Arc<RelData>, Arc<NodeData>)>,
    ) -> Result<()>;

    /// For each label (or only `label`), the number of its nodes and one of them, from the
    /// label index rather than a scan.
    fn label_counts(&self, label: Option<&Label>) -> Result<Vec<(u64, Arc<NodeData>)>>;
}
