//! The graph data model: validated names, property values, nodes and relationships.

mod ident;
mod value;

pub use ident::{Label, MAX_IDENTIFIER_LEN, MAX_KEY_LEN, NodeKey, PropertyKey, RelType};
pub(crate) use value::merge_properties;
pub use value::{Properties, Value, properties_from_json};

use crate::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies one node: its label and its key (unique per label).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NodeRef {
    /// The node's label.
    pub label: Label,
    /// The node's key, unique among nodes with this label.
    pub key: NodeKey,
}

impl NodeRef {
    /// A reference from already validated parts.
    pub fn new(label: Label, key: NodeKey) -> Self {
        Self { label, key }
    }

    /// Validates a label and a key, and returns a reference to that node.
    pub fn parse(label: &str, key: &str) -> Result<Self> {
        Ok(Self {
            label: Label::new(label)?,
            key: NodeKey::new(key)?,
        })
    }
}

impl std::fmt::Display for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}:{:?})", self.label, self.key.as_str())
    }
}

/// A stored node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Node {
    /// The node's label.
    pub label: Label,
    /// The node's key.
    pub key: NodeKey,
    /// The node's properties (never containing nulls).
    pub properties: Properties,
}

impl Node {
    /// The reference that identifies this node.
    pub fn to_ref(&self) -> NodeRef {
        NodeRef {
            label: self.label.clone(),
            key: self.key.clone(),
        }
    }
}

/// A stored relationship. There is at most one relationship of a given type from one node to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Relationship {
    /// The start node.
    pub from: NodeRef,
    /// The relationship type.
    pub rel_type: RelType,
    /// The end node.
    pub to: NodeRef,
    /// The relationship's properties (never containing nulls).
    pub properties: Properties,
}

/// Which relationships to follow from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Relationships that start at the node: `(n)-[]->(m)`.
    Outgoing,
    /// Relationships that end at the node: `(n)<-[]-(m)`.
    Incoming,
    /// Both: `(n)-[]-(m)`.
    Both,
}

impl Direction {
    /// Whether outgoing relationships are followed.
    pub fn includes_outgoing(self) -> bool {
        matches!(self, Self::Outgoing | Self::Both)
    }

    /// Whether incoming relationships are followed.
    pub fn includes_incoming(self) -> bool {
        matches!(self, Self::Incoming | Self::Both)
    }
}

/// Counts of what a store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct GraphStats {
    /// The number of nodes.
    pub nodes: u64,
    /// The number of relationships.
    pub relationships: u64,
    /// Nodes per label (labels with no nodes are absent).
    pub labels: BTreeMap<Label, u64>,
    /// Relationships per type (types with no relationships are absent).
    pub rel_types: BTreeMap<RelType, u64>,
}
