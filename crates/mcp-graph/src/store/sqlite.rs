//! [`SqliteGraphStore`]: the embedded, persistent backend (feature `sqlite`).
//!
//! Schema (migrated at open, tracked in `PRAGMA user_version`):
//! `nodes(id, label, key, props JSON)` unique on `(label, key)`, and
//! `rels(id, from_id, type, to_id, props JSON)` unique on `(from_id, type, to_id)` with an index
//! on `(to_id, type)` for incoming traversal. Relationships reference nodes with
//! `ON DELETE CASCADE`, which makes node deletion detach. The database runs in WAL mode.
//! Every call runs on a blocking thread (`spawn_blocking`). Writes go through one connection;
//! reads (lookups, traversal, stats, queries) through a second one opened with
//! `PRAGMA query_only`, so a long query does not hold up writers and SQLite itself refuses any
//! write on the read path.

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
use mcp_core::sqlite::{self, Schema};
use rusqlite::{Connection, OptionalExtension, params};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// A graph stored in one SQLite file.
///
/// Queries run on the embedded Cypher engine (see the crate README), reading the tables
/// directly in one read transaction.
#[derive(Clone, Debug)]
pub struct SqliteGraphStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

/// The graph's schema; entry `i` of its migrations brings `user_version` from `i` to `i + 1`.
const SCHEMA: Schema = Schema {
    name: "graph",
    migrations: &["
    CREATE TABLE nodes (
        id    INTEGER PRIMARY KEY,
        label TEXT NOT NULL,
        key   TEXT NOT NULL,
        props TEXT NOT NULL DEFAULT '{}',
        UNIQUE (label, key)
    );
    CREATE TABLE rels (
        id      INTEGER PRIMARY KEY,
        from_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        type    TEXT NOT NULL,
        to_id   INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        props   TEXT NOT NULL DEFAULT '{}',
        UNIQUE (from_id, type, to_id)
    );
    CREATE INDEX rels_incoming ON rels (to_id, type);
"],
};

fn backend(context: &str, err: rusqlite::Error) -> Error {
    Error::Store(sqlite::map_error(format!("sqlite {context}"), err))
}

fn decode_props(json: &str) -> Result<Properties> {
    serde_json::from_str(json).map_err(|e| {
        Error::Store(StoreError::backend(
            "sqlite: stored properties are not valid",
            e,
        ))
    })
}

fn encode_props(properties: &Properties) -> Result<String> {
    serde_json::to_string(properties)
        .map_err(|e| Error::Store(StoreError::backend("encoding properties", e)))
}

fn not_found(node: &NodeRef) -> Error {
    Error::Store(StoreError::NotFound(format!("node {node}")))
}

/// Turns on foreign keys (the relationships' `ON DELETE CASCADE`) and migrates the schema.
fn prepare(conn: &mut Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| backend("configuring", e))?;
    sqlite::migrate(conn, &SCHEMA).map_err(Error::Store)
}

impl SqliteGraphStore {
    /// Opens (creating if needed) the graph database at `path`, in WAL mode, and migrates its schema.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let (writer, reader) = tokio::task::spawn_blocking(move || {
            let opening = |e| backend(&format!("opening {}", path.display()), e);
            let mut writer = Connection::open(&path).map_err(opening)?;
            sqlite::configure_file(&writer).map_err(Error::Store)?;
            prepare(&mut writer)?;
            let reader = Connection::open(&path).map_err(opening)?;
            reader
                .execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")
                .map_err(|e| backend("configuring the read connection", e))?;
            Ok::<_, Error>((writer, reader))
        })
        .await
        .map_err(|e| Error::Store(StoreError::backend("sqlite open task failed", e)))??;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// A private in-memory database (nothing persisted), mainly for tests. Reads and writes
    /// share its one connection.
    pub async fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory().map_err(|e| backend("opening in memory", e))?;
        prepare(&mut conn)?;
        let conn = Arc::new(Mutex::new(conn));
        Ok(Self {
            writer: Arc::clone(&conn),
            reader: conn,
        })
    }

    /// Upserts many nodes, then many relationships, in one transaction, with the same merge
    /// rules as [`GraphStore::upsert_node`] and [`GraphStore::upsert_relationship`]. Much
    /// faster than one call per item for imports. If a relationship's endpoint is missing,
    /// nothing is written and the call fails with `StoreError::NotFound`.
    pub async fn upsert_batch(
        &self,
        nodes: Vec<Node>,
        relationships: Vec<Relationship>,
    ) -> Result<()> {
        self.write(move |conn| {
            let tx = conn
                .transaction()
                .map_err(|e| backend("starting transaction", e))?;
            for node in nodes {
                upsert_node(&tx, &node.label, &node.key, node.properties)?;
            }
            for rel in relationships {
                upsert_relationship(&tx, &rel.from, &rel.rel_type, &rel.to, rel.properties)?;
            }
            tx.commit().map_err(|e| backend("committing", e))
        })
        .await
    }

    /// Runs `f` with the write connection on a blocking thread.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        on_blocking_thread(Arc::clone(&self.writer), f).await
    }

    /// Runs `f` with the read-only connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        on_blocking_thread(Arc::clone(&self.reader), f).await
    }
}

async fn on_blocking_thread<T, F>(conn: Arc<Mutex<Connection>>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        // Statements never panic while holding the lock, and SQLite keeps its own state
        // consistent, so a poisoned lock is safe to keep using.
        let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    })
    .await
    .map_err(|e| Error::Store(StoreError::backend("sqlite task failed", e)))?
}

/// The row id and properties of a node.
fn node_row(conn: &Connection, node: &NodeRef) -> Result<Option<(i64, String)>> {
    conn.prepare_cached("SELECT id, props FROM nodes WHERE label = ?1 AND key = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![node.label.as_str(), node.key.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
        })
        .map_err(|e| backend("reading a node", e))
}

fn upsert_node(
    conn: &Connection,
    label: &Label,
    key: &NodeKey,
    properties: Properties,
) -> Result<Node> {
    let node = NodeRef::new(label.clone(), key.clone());
    let mut stored = match node_row(conn, &node)? {
        Some((_, json)) => decode_props(&json)?,
        None => Properties::new(),
    };
    merge_properties(&mut stored, properties);
    let json = encode_props(&stored)?;
    conn.prepare_cached(
        "INSERT INTO nodes (label, key, props) VALUES (?1, ?2, ?3)
         ON CONFLICT (label, key) DO UPDATE SET props = excluded.props",
    )
    .and_then(|mut stmt| stmt.execute(params![label.as_str(), key.as_str(), json]))
    .map_err(|e| backend("writing a node", e))?;
    Ok(Node {
        label: label.clone(),
        key: key.clone(),
        properties: stored,
    })
}

fn upsert_relationship(
    conn: &Connection,
    from: &NodeRef,
    rel_type: &RelType,
    to: &NodeRef,
    properties: Properties,
) -> Result<Relationship> {
    let (from_id, _) = node_row(conn, from)?.ok_or_else(|| not_found(from))?;
    let (to_id, _) = node_row(conn, to)?.ok_or_else(|| not_found(to))?;
    let existing: Option<String> = conn
        .prepare_cached("SELECT props FROM rels WHERE from_id = ?1 AND type = ?2 AND to_id = ?3")
        .and_then(|mut stmt| {
            stmt.query_row(params![from_id, rel_type.as_str(), to_id], |row| row.get(0))
                .optional()
        })
        .map_err(|e| backend("reading a relationship", e))?;
    let mut stored = match existing {
        Some(json) => decode_props(&json)?,
        None => Properties::new(),
    };
    merge_properties(&mut stored, properties);
    let json = encode_props(&stored)?;
    conn.prepare_cached(
        "INSERT INTO rels (from_id, type, to_id, props) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (from_id, type, to_id) DO UPDATE SET props = excluded.props",
    )
    .and_then(|mut stmt| stmt.execute(params![from_id, rel_type.as_str(), to_id, json]))
    .map_err(|e| backend("writing a relationship", e))?;
    Ok(Relationship {
        from: from.clone(),
        rel_type: rel_type.clone(),
        to: to.clone(),
        properties: stored,
    })
}

/// A SQL pre-filter for one property: `json_extract` finds the same strings and integers
/// (SQLite compares 1 and 1.0 as equal), so it can only let extra rows through, which the
/// exact check in Rust then drops. Other kinds of values are checked in Rust only.
fn sql_prefilter(filter: &Properties) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as Sql;
    let mut sql = String::new();
    let mut args = Vec::new();
    for (key, value) in filter {
        let arg = match value.as_json() {
            serde_json::Value::String(s) => Sql::Text(s.clone()),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Sql::Integer(i),
                None => continue,
            },
            _ => continue,
        };
        // Property keys are validated identifiers, so they are safe inside the JSON path.
        sql.push_str(&format!(
            " AND json_extract(props, '$.{key}') = ?{}",
            args.len() + 2
        ));
        args.push(arg);
    }
    (sql, args)
}

/// Breadth-first search over row ids (cheaper than [`read::neighbors`], which works on
/// label/key references): one index lookup per visited node, then one fetch per result.
fn neighbors(
    conn: &Connection,
    start: &NodeRef,
    rel_type: Option<&RelType>,
    direction: Direction,
    depth: usize,
    limit: usize,
) -> Result<Vec<Node>> {
    read::check_traversal(depth, limit)?;
    let Some((start_id, _)) = node_row(conn, start)? else {
        return Ok(Vec::new());
    };
    let type_arg = rel_type.map_or("", RelType::as_str);
    let mut queries = Vec::new();
    if direction.includes_outgoing() {
        queries.push("SELECT to_id FROM rels WHERE from_id = ?1 AND (?2 = '' OR type = ?2)");
    }
    if direction.includes_incoming() {
        queries.push("SELECT from_id FROM rels WHERE to_id = ?1 AND (?2 = '' OR type = ?2)");
    }
    let found = read::breadth_first(start_id, depth, limit, |&id, out| {
        for sql in &queries {
            let mut stmt = conn
                .prepare_cached(sql)
                .map_err(|e| backend("traversing", e))?;
            let ids = stmt
                .query_map(params![id, type_arg], |row| row.get::<_, i64>(0))
                .map_err(|e| backend("traversing", e))?;
            for other in ids {
                out.push(other.map_err(|e| backend("traversing", e))?);
            }
        }
        Ok(())
    })?;
    let mut stmt = conn
        .prepare_cached("SELECT label, key, props FROM nodes WHERE id = ?1")
        .map_err(|e| backend("reading a node", e))?;
    let mut nodes = Vec::with_capacity(found.len());
    for id in found {
        let row = stmt
            .query_row([id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .optional()
            .map_err(|e| backend("reading a node", e))?;
        if let Some((label, key, props)) = row {
            nodes.push(Node {
                label: Label::new(label)?,
                key: NodeKey::new(key)?,
                properties: decode_props(&props)?,
            });
        }
    }
    Ok(nodes)
}

impl GraphRead for Connection {
    fn node(&self, node: &NodeRef) -> Result<Option<Node>> {
        node_row(self, node)?
            .map(|(_, json)| {
                Ok(Node {
                    label: node.label.clone(),
                    key: node.key.clone(),
                    properties: decode_props(&json)?,
                })
            })
            .transpose()
    }

    fn scan(
        &self,
        label: &Label,
        filter: &Properties,
        visit: &mut dyn FnMut(Node) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let (extra, mut args) = sql_prefilter(filter);
        args.insert(0, rusqlite::types::Value::Text(label.as_str().to_owned()));
        let sql = format!("SELECT key, props FROM nodes WHERE label = ?1{extra}");
        let mut stmt = self
            .prepare_cached(&sql)
            .map_err(|e| backend("scanning nodes", e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| backend("scanning nodes", e))?;
        while let Some(row) = rows.next().map_err(|e| backend("scanning nodes", e))? {
            let key: String = row.get(0).map_err(|e| backend("scanning nodes", e))?;
            let json: String = row.get(1).map_err(|e| backend("scanning nodes", e))?;
            let properties = decode_props(&json)?;
            if !matches_filter(&properties, filter) {
                continue;
            }
            let key = NodeKey::new(key)?;
            if visit(Node {
                label: label.clone(),
                key,
                properties,
            })?
            .is_break()
            {
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
        let Some((id, _)) = node_row(self, node)? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        let mut collect = |sql: &str, outgoing: bool| -> Result<()> {
            let mut stmt = self
                .prepare_cached(sql)
                .map_err(|e| backend("reading relationships", e))?;
            let type_arg = rel_type.map_or("", RelType::as_str);
            let mut rows = stmt
                .query(params![id, type_arg])
                .map_err(|e| backend("reading relationships", e))?;
            while let Some(row) = rows
                .next()
                .map_err(|e| backend("reading relationships", e))?
            {
                let get = |i| {
                    row.get::<_, String>(i)
                        .map_err(|e| backend("reading relationships", e))
                };
                let other = NodeRef::new(Label::new(get(1)?)?, NodeKey::new(get(2)?)?);
                let (from, to) = if outgoing {
                    (node.clone(), other)
                } else {
                    (other, node.clone())
                };
                found.push(Relationship {
                    from,
                    rel_type: RelType::new(get(0)?)?,
                    to,
                    properties: decode_props(&get(3)?)?,
                });
            }
            Ok(())
        };
        // `?2 = ''` means "any type" (a valid type is never empty); the two forms keep the index usable.
        if direction.includes_outgoing() {
            collect(
                "SELECT r.type, n.label, n.key, r.props FROM rels r JOIN nodes n ON n.id = r.to_id
                 WHERE r.from_id = ?1 AND (?2 = '' OR r.type = ?2)",
                true,
            )?;
        }
        if direction.includes_incoming() {
            let skip_loops = if direction == Direction::Both {
                " AND r.from_id <> r.to_id"
            } else {
                ""
            };
            collect(
                &format!(
                    "SELECT r.type, n.label, n.key, r.props FROM rels r JOIN nodes n ON n.id = r.from_id
                     WHERE r.to_id = ?1 AND (?2 = '' OR r.type = ?2){skip_loops}"
                ),
                false,
            )?;
        }
        Ok(found)
    }
}

fn node_data(id: i64, label: String, key: String, props: String) -> Result<Arc<NodeData>> {
    Ok(Arc::new(NodeData {
        id: id as u64,
        label: Label::new(label)?,
        key: NodeKey::new(key)?,
        props: LazyProps::json(props),
    }))
}

fn rel_data(id: i64, rel_type: String, from: i64, to: i64, props: String) -> Result<Arc<RelData>> {
    Ok(Arc::new(RelData {
        id: id as u64,
        rel_type: RelType::new(rel_type)?,
        from: from as u64,
        to: to as u64,
        props: LazyProps::json(props),
    }))
}

/// Runs `sql` with `args` and calls `row` for each result row until it breaks.
fn each_row(
    conn: &Connection,
    context: &str,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
    row: &mut dyn FnMut(&rusqlite::Row<'_>) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| backend(context, e))?;
    let mut rows = stmt.query(args).map_err(|e| backend(context, e))?;
    while let Some(r) = rows.next().map_err(|e| backend(context, e))? {
        if row(r)?.is_break() {
            break;
        }
    }
    Ok(())
}

fn col<T: rusqlite::types::FromSql>(row: &rusqlite::Row<'_>, i: usize) -> Result<T> {
    row.get(i).map_err(|e| backend("reading a row", e))
}

impl QueryGraph for Connection {
    fn label_counts(&self, label: Option<&Label>) -> Result<Vec<(u64, Arc<NodeData>)>> {
        let mut counts: Vec<(i64, i64)> = Vec::new();
        let mut read = |r: &rusqlite::Row<'_>| {
            counts.push((col(r, 0)?, col(r, 1)?));
            Ok(ControlFlow::Continue(()))
        };
        match label {
            Some(l) => each_row(
                self,
                "counting nodes",
                "SELECT count(*), min(id) FROM nodes WHERE label = ?1 HAVING count(*) > 0",
                &[&l.as_str()],
                &mut read,
            )?,
            None => each_row(
                self,
                "counting nodes",
                "SELECT count(*), min(id) FROM nodes GROUP BY label",
                &[],
                &mut read,
            )?,
        }
        let mut out = Vec::with_capacity(counts.len());
        for (n, id) in counts {
            if let Some(node) = QueryGraph::node(self, id as u64)? {
                out.push((n.max(0) as u64, node));
            }
        }
        Ok(out)
    }

    fn scan(&self, label: Option<&Label>, visit: Visit<'_, Arc<NodeData>>) -> Result<()> {
        let mut each = |r: &rusqlite::Row<'_>| {
            visit(node_data(col(r, 0)?, col(r, 1)?, col(r, 2)?, col(r, 3)?)?)
        };
        match label {
            Some(l) => each_row(
                self,
                "scanning nodes",
                "SELECT id, label, key, props FROM nodes WHERE label = ?1",
                &[&l.as_str()],
                &mut each,
            ),
            None => each_row(
                self,
                "scanning nodes",
                "SELECT id, label, key, props FROM nodes",
                &[],
                &mut each,
            ),
        }
    }

    fn lookup(&self, label: &Label, key: &NodeKey) -> Result<Option<Arc<NodeData>>> {
        Ok(
            node_row(self, &NodeRef::new(label.clone(), key.clone()))?.map(|(id, props)| {
                Arc::new(NodeData {
                    id: id as u64,
                    label: label.clone(),
                    key: key.clone(),
                    props: LazyProps::json(props),
                })
            }),
        )
    }

    fn node(&self, id: u64) -> Result<Option<Arc<NodeData>>> {
        let mut found = None;
        each_row(
            self,
            "reading a node",
            "SELECT label, key, props FROM nodes WHERE id = ?1",
            &[&(id as i64)],
            &mut |r| {
                found = Some(node_data(id as i64, col(r, 0)?, col(r, 1)?, col(r, 2)?)?);
                Ok(ControlFlow::Break(()))
            },
        )?;
        Ok(found)
    }

    fn expand(
        &self,
        node: u64,
        direction: Direction,
        types: &[RelType],
        visit: Visit<'_, (Arc<RelData>, Arc<NodeData>)>,
    ) -> Result<()> {
        let id = node as i64;
        let mut stop = false;
        let mut run = |outgoing: bool, rel_type: Option<&RelType>| -> Result<()> {
            if stop {
                return Ok(());
            }
            let (other, this) = if outgoing {
                ("to_id", "from_id")
            } else {
                ("from_id", "to_id")
            };
            let loops = if !outgoing && direction == Direction::Both {
                " AND r.from_id <> r.to_id"
            } else {
                ""
            };
            let typed = if rel_type.is_some() {
                " AND r.type = ?2"
            } else {
                ""
            };
            let sql = format!(
                "SELECT r.id, r.type, r.from_id, r.to_id, r.props, n.id, n.label, n.key, n.props
                 FROM rels r JOIN nodes n ON n.id = r.{other} WHERE r.{this} = ?1{typed}{loops}"
            );
            let type_name = rel_type.map(RelType::as_str);
            let args: Vec<&dyn rusqlite::ToSql> = match &type_name {
                Some(t) => vec![&id, t],
                None => vec![&id],
            };
            each_row(self, "expanding", &sql, &args, &mut |r| {
                let rel = rel_data(col(r, 0)?, col(r, 1)?, col(r, 2)?, col(r, 3)?, col(r, 4)?)?;
                let other = node_data(col(r, 5)?, col(r, 6)?, col(r, 7)?, col(r, 8)?)?;
                let flow = visit((rel, other))?;
                stop = flow.is_break();
                Ok(flow)
            })
        };
        for outgoing in [true, false] {
            let wanted = if outgoing {
                direction.includes_outgoing()
            } else {
                direction.includes_incoming()
            };
            if !wanted {
                continue;
            }
            if types.is_empty() {
                run(outgoing, None)?;
            } else {
                for t in types {
                    run(outgoing, Some(t))?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl GraphStore for SqliteGraphStore {
    async fn upsert_node(
        &self,
        label: &Label,
        key: &NodeKey,
        properties: Properties,
    ) -> Result<Node> {
        let (label, key) = (label.clone(), key.clone());
        self.write(move |conn| {
            let tx = conn
                .transaction()
                .map_err(|e| backend("starting transaction", e))?;
            let node = upsert_node(&tx, &label, &key, properties)?;
            tx.commit().map_err(|e| backend("committing", e))?;
            Ok(node)
        })
        .await
    }

    async fn upsert_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
        properties: Properties,
    ) -> Result<Relationship> {
        let (from, rel_type, to) = (from.clone(), rel_type.clone(), to.clone());
        self.write(move |conn| {
            let tx = conn
                .transaction()
                .map_err(|e| backend("starting transaction", e))?;
            let rel = upsert_relationship(&tx, &from, &rel_type, &to, properties)?;
            tx.commit().map_err(|e| backend("committing", e))?;
            Ok(rel)
        })
        .await
    }

    async fn get_node(&self, node: &NodeRef) -> Result<Option<Node>> {
        let node = node.clone();
        self.read(move |conn| GraphRead::node(&*conn, &node)).await
    }

    async fn find_nodes(
        &self,
        label: &Label,
        filter: &Properties,
        limit: usize,
    ) -> Result<Vec<Node>> {
        let (label, filter) = (label.clone(), filter.clone());
        self.read(move |conn| read::find_nodes(&*conn, &label, &filter, limit))
            .await
    }

    async fn neighbors(
        &self,
        node: &NodeRef,
        rel_type: Option<&RelType>,
        direction: Direction,
        depth: usize,
        limit: usize,
    ) -> Result<Vec<Node>> {
        let (node, rel_type) = (node.clone(), rel_type.cloned());
        self.read(move |conn| {
            // One read transaction: the whole traversal sees one snapshot.
            let tx = conn
                .transaction()
                .map_err(|e| backend("starting transaction", e))?;
            neighbors(&tx, &node, rel_type.as_ref(), direction, depth, limit)
        })
        .await
    }

    async fn delete_node(&self, node: &NodeRef) -> Result<bool> {
        let node = node.clone();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM nodes WHERE label = ?1 AND key = ?2")
                .and_then(|mut stmt| stmt.execute(params![node.label.as_str(), node.key.as_str()]))
                .map(|n| n > 0)
                .map_err(|e| backend("deleting a node", e))
        })
        .await
    }

    async fn delete_relationship(
        &self,
        from: &NodeRef,
        rel_type: &RelType,
        to: &NodeRef,
    ) -> Result<bool> {
        let (from, rel_type, to) = (from.clone(), rel_type.clone(), to.clone());
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM rels WHERE type = ?3
                   AND from_id = (SELECT id FROM nodes WHERE label = ?1 AND key = ?2)
                   AND to_id = (SELECT id FROM nodes WHERE label = ?4 AND key = ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    from.label.as_str(),
                    from.key.as_str(),
                    rel_type.as_str(),
                    to.label.as_str(),
                    to.key.as_str()
                ])
            })
            .map(|n| n > 0)
            .map_err(|e| backend("deleting a relationship", e))
        })
        .await
    }

    async fn stats(&self) -> Result<GraphStats> {
        self.read(|conn| {
            let tx = conn
                .transaction()
                .map_err(|e| backend("starting transaction", e))?;
            let mut stats = GraphStats::default();
            let count = |sql: &str| -> Result<Vec<(String, u64)>> {
                let mut stmt = tx.prepare_cached(sql).map_err(|e| backend("counting", e))?;
                let rows = stmt
                    .query_map([], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(|e| backend("counting", e))?;
                Ok(rows
                    .into_iter()
                    .map(|(name, n)| (name, n.max(0) as u64))
                    .collect())
            };
            for (label, n) in count("SELECT label, count(*) FROM nodes GROUP BY label")? {
                stats.nodes += n;
                stats.labels.insert(Label::new(label)?, n);
            }
            for (rel_type, n) in count("SELECT type, count(*) FROM rels GROUP BY type")? {
                stats.relationships += n;
                stats.rel_types.insert(RelType::new(rel_type)?, n);
            }
            Ok(stats)
        })
        .await
    }

    async fn query(&self, query: &ReadQuery) -> Result<QueryResult> {
        let query = query.clone();
        self.read(move |conn| {
            // One read transaction gives the whole query a consistent snapshot.
            let tx = conn
                .transaction()
                .map_err(|e| backend("starting transaction", e))?;
            run_embedded(&*tx, &query)
        })
        .await
    }
}
