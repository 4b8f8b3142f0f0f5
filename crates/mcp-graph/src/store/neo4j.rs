//! [`Neo4jGraphStore`]: the graph in Neo4j or FalkorDB over Bolt (feature `neo4j`).
//!
//! Schema: a node `(label, key)` is `(:<label> {__mcp_key: key, ...properties})`; a
//! relationship is `(a)-[:<TYPE> {...properties}]->(b)` (`MERGE` keeps one per type and
//! direction). Labels, types and property keys are validated identifiers ([`Label`],
//! [`RelType`], [`crate::PropertyKey`]) and are interpolated in backticks only after that
//! validation; every value travels as a query parameter. The first write to a label makes
//! `__mcp_key` unique for it (a constraint on Neo4j; an index on FalkorDB, where `MERGE` under
//! its per-graph write lock keeps keys unique).
//!
//! [`GraphStore::query`] runs the caller's Cypher on the server after [`ensure_read_only`]
//! accepted it, in READ access mode (which Neo4j enforces and FalkorDB ignores, hence the
//! client-side check), within the query's timeout and row limit. Nodes of this store come back
//! as [`QueryValue::Node`] and relationships between them as [`QueryValue::Relationship`] (a
//! Bolt relationship names its endpoints by internal id only, so their keys are looked up in
//! one extra query); anything else is a [`QueryValue::Value`].

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use mcp_core::StoreError;
use mcp_core::bolt::neo4rs::{BoltList, BoltMap, BoltNull, BoltType, Row};
use mcp_core::bolt::{Access, BoltClient, BoltConfig};
use tokio::sync::Mutex;

use crate::model::{
    Direction, GraphStats, Label, Node, NodeKey, NodeRef, Properties, PropertyKey, RelType,
    Relationship, Value,
};
use crate::query::{QueryResult, QueryValue, ReadQuery};
use crate::store::GraphStore;
use crate::store::read::{check_traversal, finds_nothing};
use crate::{Error, Result, ensure_read_only};

/// The property holding a node's key.
const KEY: &str = "__mcp_key";

/// A graph store backed by a Bolt server (Neo4j 5 or FalkorDB).
#[derive(Debug)]
pub struct Neo4jGraphStore {
    client: BoltClient,
    /// Labels whose key constraint or index exists already.
    ensured: Mutex<HashSet<String>>,
}

impl Neo4jGraphStore {
    /// Connects with `config`. Nothing is created until the first write.
    pub async fn connect(config: BoltConfig) -> Result<Self> {
        Ok(Self::from_client(BoltClient::connect(config)?))
    }

    /// Uses an existing client, sharing its pool.
    pub fn from_client(client: BoltClient) -> Self {
        Self {
            client,
            ensured: Mutex::new(HashSet::new()),
        }
    }

    async fn ensure_label(&self, label: &Label) -> Result<()> {
        let mut ensured = self.ensured.lock().await;
        if !ensured.contains(label.as_str()) {
            self.client.ensure_unique(label.as_str(), KEY).await?;
            ensured.insert(label.as_str().to_owned());
        }
        Ok(())
    }
}

fn refuse_reserved(properties: &Properties) -> Result<()> {
    if properties.keys().any(|k| k.as_str() == KEY) {
        return Err(Error::InvalidIdentifier {
            kind: "property key",
            name: KEY.to_owned(),
        });
    }
    Ok(())
}

fn json_to_bolt(json: &serde_json::Value) -> BoltType {
    use serde_json::Value as J;
    match json {
        J::Null => BoltType::Null(BoltNull),
        J::Bool(b) => BoltType::from(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => BoltType::from(i),
            None => BoltType::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => BoltType::from(s.as_str()),
        J::Array(items) => BoltType::List(BoltList::from(
            items.iter().map(json_to_bolt).collect::<Vec<_>>(),
        )),
        J::Object(map) => {
            let mut out = BoltMap::new();
            for (k, v) in map {
                out.put(k.as_str().into(), json_to_bolt(v));
            }
            BoltType::Map(out)
        }
    }
}

fn properties_to_bolt(properties: &Properties) -> BoltType {
    let mut map = BoltMap::new();
    for (key, value) in properties {
        map.put(key.as_str().into(), json_to_bolt(value.as_json()));
    }
    BoltType::Map(map)
}

fn bolt_to_json(value: &BoltType) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        BoltType::Null(_) => J::Null,
        BoltType::Boolean(b) => J::Bool(b.value),
        BoltType::Integer(i) => J::from(i.value),
        BoltType::Float(f) => serde_json::Number::from_f64(f.value).map_or(J::Null, J::Number),
        BoltType::String(s) => J::String(s.value.clone()),
        BoltType::List(list) => J::Array(list.value.iter().map(bolt_to_json).collect()),
        BoltType::Map(map) => map_to_json(map),
        BoltType::Node(node) => map_to_json(&node.properties),
        BoltType::Relation(rel) => serde_json::json!({
            "type": rel.typ.value,
            "properties": map_to_json(&rel.properties),
        }),
        BoltType::UnboundedRelation(rel) => serde_json::json!({
            "type": rel.typ.value,
            "properties": map_to_json(&rel.properties),
        }),
        other => J::String(format!("{other:?}")),
    }
}

fn map_to_json(map: &BoltMap) -> serde_json::Value {
    let object: serde_json::Map<String, serde_json::Value> = map
        .value
        .iter()
        .map(|(k, v)| (k.value.clone(), bolt_to_json(v)))
        .collect();
    serde_json::Value::Object(object)
}

fn bolt_properties(map: &BoltMap) -> Result<Properties> {
    let mut out = BTreeMap::new();
    for (key, value) in &map.value {
        if key.value == KEY {
            continue;
        }
        out.insert(
            PropertyKey::new(key.value.as_str())?,
            Value::new(bolt_to_json(value))?,
        );
    }
    Ok(out)
}

/// The node of this store in `value`, if it is one (a labelled node with a key).
fn bolt_node(value: &BoltType) -> Result<Option<Node>> {
    let BoltType::Node(node) = value else {
        return Ok(None);
    };
    let Some(BoltType::String(key)) = node.properties.value.get(KEY) else {
        return Ok(None);
    };
    let Some(BoltType::String(label)) = node.labels.value.first() else {
        return Ok(None);
    };
    Ok(Some(Node {
        label: Label::new(label.value.as_str())?,
        key: NodeKey::new(key.value.as_str())?,
        properties: bolt_properties(&node.properties)?,
    }))
}

fn column(row: &Row, name: &str) -> Result<BoltType> {
    row.get::<BoltType>(name)
        .map_err(|e| Error::Store(StoreError::backend(format!("reading column {name}"), e)))
}

fn node_column(row: &Row, name: &str) -> Result<Node> {
    bolt_node(&column(row, name)?)?.ok_or_else(|| {
        Error::Store(StoreError::backend(
            format!("column {name} is not a node"),
            "unexpected value",
        ))
    })
}

fn int_column(row: &Row, name: &str) -> Result<u64> {
    match column(row, name)? {
        BoltType::Integer(i) => Ok(u64::try_from(i.value).unwrap_or(0)),
        other => Err(Error::Store(StoreError::backend(
            format!("column {name} is {other:?}"),
            "not an integer",
        ))),
    }
}

fn rel_pattern(rel_type: Option<&RelType>, direction: Direction, hops: &str) -> String {
    let inner = match rel_type {
        Some(t) => format!("[:`{}`{hops}]", t.as_str()),
        None => format!("[{hops}]"),
    };
    match direction {
        Direction::Outgoing => format!("-{inner}->"),
        Direction::Incoming => format!("<-{inner}-"),
        Direction::Both => format!("-{inner}-"),
    }
}

#[async_trait]
impl GraphStore for Neo4jGraphStore {
    async fn upsert_node(
        &self,
        label: &Label,
        key: &NodeKey,
        properties: Properties,
    ) -> Result<Node> {
        refuse_reserved(&properties)?;
        self.ensure_label(label).await?;
        let cypher = format!(
            "MERGE (n:`{}` {{{KEY}: $key}}) SET n += $props RETURN n",
            label.as_str()
        );
        let query = self
            .client
            .query(&cypher)
            .param("key", key.as_str())
            .param("props", properties_to_bolt(&properties));
        let rows = self.client.write(query).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::backend("upsert returned no row", "empty result"))?;
        node_column(row, "n")
    }

    async fn upsert_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
        properties: Properties,
    ) -> Result<Relationship> {
        refuse_reserved(&properties)?;
        let cypher = format!(
            "MATCH (a:`{}` {{{KEY}: $from}}) MATCH (b:`{}` {{{KEY}: $to}}) \
             MERGE (a)-[r:`{}`]->(b) SET r += $props RETURN r",
            from.label.as_str(),
            to.label.as_str(),
            rel_type.as_str()
        );
        let query = self
            .client
            .query(&cypher)
            .param("from", from.key.as_str())
            .param("to", to.key.as_str())
            .param("props", properties_to_bolt(&properties));
        let rows = self.client.write(query).await?;
        let Some(row) = rows.first() else {
            return Err(Error::Store(StoreError::NotFound(format!(
                "relationship endpoint missing: {from} or {to}"
            ))));
        };
        let properties = match column(row, "r")? {
            BoltType::Relation(rel) => bolt_properties(&rel.properties)?,
            other => {
                return Err(Error::Store(StoreError::backend(
                    format!("column r is {other:?}"),
                    "not a relationship",
                )));
            }
        };
        Ok(Relationship {
            from: from.clone(),
            rel_type: rel_type.clone(),
            to: to.clone(),
            properties,
        })
    }

    async fn get_node(&self, node: &NodeRef) -> Result<Option<Node>> {
        let cypher = format!(
            "MATCH (n:`{}` {{{KEY}: $key}}) RETURN n LIMIT 1",
            node.label.as_str()
        );
        let rows = self
            .client
            .read(self.client.query(&cypher).param("key", node.key.as_str()))
            .await?;
        rows.first().map(|row| node_column(row, "n")).transpose()
    }

    async fn find_nodes(
        &self,
        label: &Label,
        filter: &Properties,
        limit: usize,
    ) -> Result<Vec<Node>> {
        if finds_nothing(filter, limit)? {
            return Ok(Vec::new());
        }
        let mut conditions = Vec::new();
        let mut query_params = Vec::new();
        for (i, (key, value)) in filter.iter().enumerate() {
            conditions.push(format!("n.`{}` = $p{i}", key.as_str()));
            query_params.push((format!("p{i}"), json_to_bolt(value.as_json())));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        // `limit` is a checked number, not user text.
        let cypher = format!(
            "MATCH (n:`{}`) {where_clause} RETURN n LIMIT {limit}",
            label.as_str()
        );
        let mut query = self.client.query(&cypher);
        for (name, value) in query_params {
            query = query.param(&name, value);
        }
        let rows = self.client.read(query).await?;
        rows.iter().map(|row| node_column(row, "n")).collect()
    }

    async fn neighbors(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
        depth: usize,
        limit: usize,
    ) -> Result<Vec<Node>> {
        check_traversal(depth, limit)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let pattern = rel_pattern(rel_type, direction, &format!("*1..{depth}"));
        let cypher = format!(
            "MATCH (s:`{}` {{{KEY}: $key}}) MATCH p = (s){pattern}(m) WHERE m <> s \
             WITH m, min(length(p)) AS d RETURN m, d ORDER BY d LIMIT {limit}",
            node.label.as_str()
        );
        let rows = self
            .client
            .read(self.client.query(&cypher).param("key", node.key.as_str()))
            .await?;
        let mut found: Vec<(u64, Node)> = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(n) = bolt_node(&column(row, "m")?)? {
                found.push((int_column(row, "d")?, n));
            }
        }
        found.sort_by(|a, b| (a.0, &a.1.label, &a.1.key).cmp(&(b.0, &b.1.label, &b.1.key)));
        Ok(found.into_iter().map(|(_, n)| n).collect())
    }

    async fn delete_node(&self, node: &NodeRef) -> Result<bool> {
        let cypher = format!(
            "MATCH (n:`{}` {{{KEY}: $key}}) DETACH DELETE n RETURN count(*) AS c",
            node.label.as_str()
        );
        let rows = self
            .client
            .write(self.client.query(&cypher).param("key", node.key.as_str()))
            .await?;
        Ok(match rows.first() {
            Some(row) => int_column(row, "c")? > 0,
            None => false,
        })
    }

    async fn delete_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
    ) -> Result<bool> {
        let cypher = format!(
            "MATCH (a:`{}` {{{KEY}: $from}})-[r:`{}`]->(b:`{}` {{{KEY}: $to}}) DELETE r RETURN count(*) AS c",
            from.label.as_str(),
            rel_type.as_str(),
            to.label.as_str()
        );
        let query = self
            .client
            .query(&cypher)
            .param("from", from.key.as_str())
            .param("to", to.key.as_str());
        let rows = self.client.write(query).await?;
        Ok(match rows.first() {
            Some(row) => int_column(row, "c")? > 0,
            None => false,
        })
    }

    async fn stats(&self) -> Result<GraphStats> {
        let mut stats = GraphStats::default();
        let labels = self
            .client
            .read(
                self.client
                    .query("MATCH (n) UNWIND labels(n) AS l RETURN l AS name, count(*) AS c"),
            )
            .await?;
        for row in &labels {
            let count = int_column(row, "c")?;
            if let BoltType::String(name) = column(row, "name")?
                && let Ok(label) = Label::new(name.value)
            {
                stats.labels.insert(label, count);
            }
        }
        let nodes = self
            .client
            .read(self.client.query("MATCH (n) RETURN count(n) AS c"))
            .await?;
        stats.nodes = nodes
            .first()
            .map(|r| int_column(r, "c"))
            .transpose()?
            .unwrap_or(0);
        let types = self
            .client
            .read(
                self.client
                    .query("MATCH ()-[r]->() RETURN type(r) AS name, count(*) AS c"),
            )
            .await?;
        for row in &types {
            let count = int_column(row, "c")?;
            stats.relationships += count;
            if let BoltType::String(name) = column(row, "name")?
                && let Ok(t) = RelType::new(name.value)
            {
                stats.rel_types.insert(t, count);
            }
        }
        Ok(stats)
    }

    async fn query(&self, query: &ReadQuery) -> Result<QueryResult> {
        ensure_read_only(&query.cypher)?;
        let limit = query.effective_limit()?;
        let timeout: Duration = query.effective_timeout();
        let mut bolt = self.client.query(&query.cypher);
        for (name, value) in &query.params {
            bolt = bolt.param(name, json_to_bolt(value.as_json()));
        }
        let started = std::time::Instant::now();
        let fetched = tokio::time::timeout(timeout, self.client.fetch(bolt, Access::Read, limit))
            .await
            .map_err(|_| Error::Timeout { after: timeout })??;
        // A result that arrived after the deadline (the inner future can finish in the same
        // poll that would have noticed the deadline) is still a timeout.
        if started.elapsed() >= timeout {
            return Err(Error::Timeout { after: timeout });
        }
        let columns = return_columns(&query.cypher);
        let endpoints = self.relationship_endpoints(&fetched.rows).await?;
        let mut rows = Vec::with_capacity(fetched.rows.len());
        for row in &fetched.rows {
            let names: Vec<String> = match &columns {
                Some(c) => c.clone(),
                None => sorted_keys(row),
            };
            let mut cells = Vec::with_capacity(names.len());
            for name in &names {
                let value = column(row, name)?;
                cells.push(cell(&value, &endpoints)?);
            }
            rows.push(cells);
        }
        let columns = match columns {
            Some(c) => c,
            None => fetched.rows.first().map(sorted_keys).unwrap_or_default(),
        };
        Ok(QueryResult {
            columns,
            rows,
            truncated: fetched.truncated,
        })
    }
}

fn sorted_keys(row: &Row) -> Vec<String> {
    let mut keys: Vec<String> = row.keys().iter().map(|k| k.value.clone()).collect();
    keys.sort();
    keys
}

/// Endpoints of returned relationships, by relationship id.
type Endpoints = std::collections::HashMap<i64, (NodeRef, NodeRef)>;

/// One result cell: a node or relationship of this store, or any other value as JSON.
fn cell(value: &BoltType, endpoints: &Endpoints) -> Result<QueryValue> {
    if let Some(node) = bolt_node(value)? {
        return Ok(QueryValue::Node(node));
    }
    if let BoltType::Relation(rel) = value
        && let Some((from, to)) = endpoints.get(&rel.id.value)
        && let Ok(rel_type) = RelType::new(rel.typ.value.as_str())
    {
        return Ok(QueryValue::Relationship(Relationship {
            from: from.clone(),
            rel_type,
            to: to.clone(),
            properties: bolt_properties(&rel.properties)?,
        }));
    }
    Ok(QueryValue::Value(result_json(value, endpoints)?))
}

/// A result value as JSON, in the shapes the embedded engine uses: a node of this store as
/// [`Node`], a relationship between two of them as [`Relationship`], a path as
/// `{"nodes": [...], "relationships": [...]}`, lists and maps element by element.
fn result_json(value: &BoltType, endpoints: &Endpoints) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match value {
        BoltType::Node(_) => match bolt_node(value)? {
            Some(node) => to_json(&node)?,
            None => bolt_to_json(value),
        },
        BoltType::Relation(rel) => {
            relationship_json(rel.id.value, &rel.typ.value, &rel.properties, endpoints)?
                .unwrap_or_else(|| bolt_to_json(value))
        }
        BoltType::UnboundedRelation(rel) => {
            relationship_json(rel.id.value, &rel.typ.value, &rel.properties, endpoints)?
                .unwrap_or_else(|| bolt_to_json(value))
        }
        BoltType::List(list) => J::Array(
            list.value
                .iter()
                .map(|v| result_json(v, endpoints))
                .collect::<Result<Vec<_>>>()?,
        ),
        BoltType::Map(map) => J::Object(
            map.value
                .iter()
                .map(|(k, v)| Ok((k.value.clone(), result_json(v, endpoints)?)))
                .collect::<Result<serde_json::Map<_, _>>>()?,
        ),
        BoltType::Path(path) => {
            // `indices` alternate: relationship (1-based, negative when walked backwards),
            // then the node reached.
            let nodes: Vec<&BoltType> = path.nodes.value.iter().collect();
            let rels: Vec<&BoltType> = path.rels.value.iter().collect();
            let mut out_nodes = Vec::new();
            let mut out_rels = Vec::new();
            if let Some(first) = nodes.first() {
                out_nodes.push(result_json(first, endpoints)?);
            }
            let indices: Vec<i64> = path
                .indices
                .value
                .iter()
                .filter_map(|i| match i {
                    BoltType::Integer(i) => Some(i.value),
                    _ => None,
                })
                .collect();
            for pair in indices.chunks(2) {
                if let [r, n] = pair {
                    let r = usize::try_from(r.unsigned_abs()).unwrap_or(0);
                    if let Some(rel) = r.checked_sub(1).and_then(|r| rels.get(r)) {
                        out_rels.push(result_json(rel, endpoints)?);
                    }
                    if let Some(node) = usize::try_from(*n).ok().and_then(|n| nodes.get(n)) {
                        out_nodes.push(result_json(node, endpoints)?);
                    }
                }
            }
            serde_json::json!({ "nodes": out_nodes, "relationships": out_rels })
        }
        other => bolt_to_json(other),
    })
}

/// A relationship between two nodes of this store, as JSON, if its endpoints are known.
fn relationship_json(
    id: i64,
    rel_type: &str,
    properties: &BoltMap,
    endpoints: &Endpoints,
) -> Result<Option<serde_json::Value>> {
    let (Some((from, to)), Ok(rel_type)) = (endpoints.get(&id), RelType::new(rel_type)) else {
        return Ok(None);
    };
    let rel = Relationship {
        from: from.clone(),
        rel_type,
        to: to.clone(),
        properties: bolt_properties(properties)?,
    };
    Ok(Some(to_json(&rel)?))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::Store(StoreError::backend("encoding a result", e)))
}

/// Ids of the relationships anywhere in `value` (inside lists, maps and paths too).
fn relationship_ids(value: &BoltType, ids: &mut Vec<i64>) {
    match value {
        BoltType::Relation(rel) => ids.push(rel.id.value),
        BoltType::UnboundedRelation(rel) => ids.push(rel.id.value),
        BoltType::List(list) => list.value.iter().for_each(|v| relationship_ids(v, ids)),
        BoltType::Map(map) => map.value.values().for_each(|v| relationship_ids(v, ids)),
        BoltType::Path(path) => path
            .rels
            .value
            .iter()
            .for_each(|v| relationship_ids(v, ids)),
        _ => {}
    }
}

impl Neo4jGraphStore {
    /// A Bolt relationship names its endpoints by internal id only, so the keys of the
    /// endpoints of every returned relationship (also inside lists, maps and paths) are looked
    /// up in one extra query.
    async fn relationship_endpoints(&self, rows: &[Row]) -> Result<Endpoints> {
        let mut ids: Vec<i64> = Vec::new();
        for row in rows {
            for key in row.keys() {
                if let Ok(value) = row.get::<BoltType>(&key.value) {
                    relationship_ids(&value, &mut ids);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let mut out = Endpoints::new();
        // Small groups keep each query short (FalkorDB takes about 4 KiB at most).
        for group in ids.chunks(200) {
            let query = self
                .client
                .query("MATCH (a)-[r]->(b) WHERE id(r) IN $ids RETURN id(r) AS id, a, b")
                .param("ids", group.to_vec());
            for row in self.client.read(query).await? {
                let id = i64::try_from(int_column(&row, "id")?).unwrap_or(-1);
                if let (Some(a), Some(b)) = (
                    bolt_node(&column(&row, "a")?)?,
                    bolt_node(&column(&row, "b")?)?,
                ) {
                    out.insert(id, (a.to_ref(), b.to_ref()));
                }
            }
        }
        Ok(out)
    }
}

/// The column names of the last `RETURN` clause: each item's `AS` alias, or the expression as
/// written. `None` for `RETURN *` or text this reader does not follow.
fn return_columns(cypher: &str) -> Option<Vec<String>> {
    // Top-level scan: skip strings, backticks and comments; track bracket depth.
    let bytes: Vec<char> = cypher.chars().collect();
    let mut i = 0;
    let mut depth = 0i32;
    let mut words: Vec<(usize, usize, i32)> = Vec::new(); // (start, end, depth) of bare words
    let mut commas: Vec<(usize, i32)> = Vec::new();
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            '\'' | '"' | '`' => {
                let quote = c;
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == '\\' && quote != '`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                continue;
            }
            '/' if bytes.get(i + 1) == Some(&'/') => {
                while i < bytes.len() && bytes[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if bytes.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == '*' && bytes[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' => commas.push((i, depth)),
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_alphanumeric() || bytes[i] == '_') {
                    i += 1;
                }
                let glued = start > 0 && matches!(bytes[start - 1], '.' | ':' | '$');
                if !glued {
                    words.push((start, i, depth));
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let word = |w: &(usize, usize, i32)| {
        bytes[w.0..w.1]
            .iter()
            .collect::<String>()
            .to_ascii_uppercase()
    };
    let ret = words
        .iter()
        .rposition(|w| w.2 == 0 && word(w) == "RETURN")?;
    let start = words[ret].1;
    let end = words[ret + 1..]
        .iter()
        .find(|w| w.2 == 0 && matches!(word(w).as_str(), "ORDER" | "SKIP" | "LIMIT" | "UNION"))
        .map_or(bytes.len(), |w| w.0);
    let mut cuts: Vec<usize> = commas
        .iter()
        .filter(|(p, d)| *d == 0 && *p > start && *p < end)
        .map(|(p, _)| *p)
        .collect();
    cuts.push(end);
    let mut items = Vec::new();
    let mut from = start;
    for cut in cuts {
        let item_start = from;
        let text: String = bytes[item_start..cut].iter().collect();
        from = cut + 1;
        let mut text = text.trim().to_owned();
        if text.to_ascii_uppercase().starts_with("DISTINCT ") {
            text = text[9..].trim().to_owned();
        }
        if text == "*" || text.is_empty() {
            return None;
        }
        // `expr AS alias`: the last top-level AS word inside this item.
        let alias = words
            .iter()
            .rfind(|w| w.2 == 0 && w.0 >= item_start && w.1 <= cut && word(w) == "AS")
            .map(|w| {
                bytes[w.1..cut]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .trim_matches('`')
                    .to_owned()
            });
        items.push(alias.unwrap_or(text));
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::return_columns;

    #[test]
    fn return_columns_are_aliases_or_the_expression_text() {
        assert_eq!(
            return_columns("MATCH (p:Person {name: $name}) RETURN p, p.age AS age, p.missing")
                .unwrap(),
            ["p", "age", "p.missing"]
        );
        assert_eq!(
            return_columns("MATCH (i) RETURN i.n LIMIT 3").unwrap(),
            ["i.n"]
        );
        assert_eq!(
            return_columns("MATCH (a) WITH a RETURN DISTINCT a.x AS x, count(*) AS c ORDER BY c")
                .unwrap(),
            ["x", "c"]
        );
        assert_eq!(
            return_columns("RETURN 'a, b' AS s, f(1, 2)").unwrap(),
            ["s", "f(1, 2)"]
        );
        assert!(return_columns("MATCH (n) RETURN *").is_none());
    }
}
