//! Turns engine values into result cells: nodes and relationships at the top of a cell become
//! [`QueryValue::Node`] / [`QueryValue::Relationship`]; anything else becomes JSON, with
//! nested nodes and relationships in the same JSON shape and paths as
//! `{"nodes": [...], "relationships": [...]}`.

use super::QueryValue;
use super::graph::{NodeData, QueryGraph, RelData};
use super::val::Val;
use crate::model::{Node, NodeRef, Relationship};
use crate::{Error, Result};
use mcp_core::StoreError;

pub(crate) fn row(graph: &dyn QueryGraph, row: Vec<Val>) -> Result<Vec<QueryValue>> {
    row.into_iter().map(|v| cell(graph, v)).collect()
}

fn cell(graph: &dyn QueryGraph, v: Val) -> Result<QueryValue> {
    Ok(match v {
        Val::Node(n) => QueryValue::Node(node(&n)?),
        Val::Rel(r) => QueryValue::Relationship(relationship(graph, &r)?),
        other => QueryValue::Value(json(graph, &other)?),
    })
}

pub(crate) fn node(n: &NodeData) -> Result<Node> {
    Ok(Node {
        label: n.label.clone(),
        key: n.key.clone(),
        properties: n.props.get()?.clone(),
    })
}

fn endpoint(graph: &dyn QueryGraph, id: u64) -> Result<NodeRef> {
    graph.node(id)?.map(|n| n.to_ref()).ok_or_else(|| {
        Error::Store(StoreError::backend(
            "a relationship's endpoint is missing",
            format!("node {id}"),
        ))
    })
}

pub(crate) fn relationship(graph: &dyn QueryGraph, r: &RelData) -> Result<Relationship> {
    Ok(Relationship {
        from: endpoint(graph, r.from)?,
        rel_type: r.rel_type.clone(),
        to: endpoint(graph, r.to)?,
        properties: r.props.get()?.clone(),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::Store(StoreError::backend("encoding a result", e)))
}

pub(crate) fn json(graph: &dyn QueryGraph, v: &Val) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match v {
        Val::Null => J::Null,
        Val::Bool(b) => J::Bool(*b),
        Val::Int(i) => J::from(*i),
        // JSON has no NaN or infinities.
        Val::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Val::Str(s) => J::String(s.to_string()),
        Val::List(items) => J::Array(
            items
                .iter()
                .map(|i| json(graph, i))
                .collect::<Result<Vec<_>>>()?,
        ),
        Val::Map(map) => J::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), json(graph, v)?)))
                .collect::<Result<serde_json::Map<_, _>>>()?,
        ),
        Val::Node(n) => to_json(&node(n)?)?,
        Val::Rel(r) => to_json(&relationship(graph, r)?)?,
        Val::Path(p) => {
            let nodes = p
                .nodes
                .iter()
                .map(|n| to_json(&node(n)?))
                .collect::<Result<Vec<_>>>()?;
            let rels = p
                .rels
                .iter()
                .map(|r| to_json(&relationship(graph, r)?))
                .collect::<Result<Vec<_>>>()?;
            serde_json::json!({ "nodes": nodes, "relationships": rels })
        }
    })
}
