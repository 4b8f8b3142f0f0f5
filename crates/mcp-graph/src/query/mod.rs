//! Read-only queries: the request and result types, the read-only check every backend applies,
//! and the embedded backends' Cypher engine (supported Cypher listed in the crate README).

mod aggregate;
mod ast;
mod exec;
mod expr;
mod functions;
pub(crate) mod graph;
mod lexer;
mod output;
mod parser;
mod pattern;
mod val;

use crate::model::{Node, Relationship, Value};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Rows returned when a [`ReadQuery`] sets no limit.
pub const DEFAULT_ROW_LIMIT: usize = 100;

/// The largest row limit a [`ReadQuery`] (or `find_nodes`/`neighbors`) may ask for.
pub const MAX_ROW_LIMIT: usize = 10_000;

/// How long a [`ReadQuery`] may run when it sets no timeout.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A read-only Cypher query with parameters, a row limit and a timeout.
///
/// ```
/// use mcp_graph::ReadQuery;
/// use std::time::Duration;
///
/// let q = ReadQuery::new("MATCH (p:Person {name: $name}) RETURN p")
///     .param("name", "Ada")
///     .limit(10)
///     .timeout(Duration::from_secs(1));
/// assert_eq!(q.effective_limit().unwrap(), 10);
/// assert!(ReadQuery::new("RETURN 1").limit(1_000_000).effective_limit().is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReadQuery {
    /// The query text.
    pub cypher: String,
    /// Values for `$name` placeholders.
    pub params: BTreeMap<String, Value>,
    /// At most this many rows are returned ([`DEFAULT_ROW_LIMIT`] when `None`, at most [`MAX_ROW_LIMIT`]).
    pub limit: Option<usize>,
    /// The query fails with [`Error::Timeout`] after this long ([`DEFAULT_QUERY_TIMEOUT`] when `None`).
    pub timeout: Option<Duration>,
}

impl ReadQuery {
    /// A query with no parameters, the default limit and the default timeout.
    pub fn new(cypher: impl Into<String>) -> Self {
        Self {
            cypher: cypher.into(),
            params: BTreeMap::new(),
            limit: None,
            timeout: None,
        }
    }

    /// Adds the parameter `$name`.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Sets the row limit.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The row limit to apply, or [`Error::InvalidLimit`] when it exceeds [`MAX_ROW_LIMIT`].
    pub fn effective_limit(&self) -> Result<usize> {
        let limit = self.limit.unwrap_or(DEFAULT_ROW_LIMIT);
        check_limit(limit)?;
        Ok(limit)
    }

    /// The timeout to apply.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_QUERY_TIMEOUT)
    }
}

/// One cell of a query result: an object with exactly one of `node`, `relationship`, `value`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum QueryValue {
    /// A node, as returned by `RETURN n`.
    Node(Node),
    /// A relationship, as returned by `RETURN r`.
    Relationship(Relationship),
    /// Any other value (`RETURN n.name`); `null` for a missing property.
    Value(serde_json::Value),
}

/// The rows a query returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct QueryResult {
    /// Column names: the `AS` alias, or the expression as written (`n`, `n.name`).
    pub columns: Vec<String>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<QueryValue>>,
    /// Whether more rows matched than the request's row limit allowed.
    pub truncated: bool,
}

/// Refuses any query that contains a write or admin clause.
///
/// The check is token-based: keywords inside string literals, comments and backtick-quoted
/// names are ignored, and so are words glued to a `.` or `:` (`n.set`, `n:Create`). The
/// refused clauses are `CREATE`, `MERGE`, `SET`, `DELETE`, `REMOVE`, `DETACH`, `DROP`,
/// `LOAD` (CSV), `CALL` (procedures and subqueries), `FOREACH`, `ALTER`, `RENAME`, `GRANT`,
/// `DENY`, `REVOKE` and `TERMINATE`.
///
/// To stay safe against servers that read backslashes in strings differently, the text is
/// checked twice: with Cypher's backslash escapes and with backslashes as plain characters.
/// A keyword found by either reading refuses the query. Unreadable text (an unterminated
/// string or comment) is refused with [`Error::InvalidQuery`].
///
/// ```
/// use mcp_graph::{ensure_read_only, Error};
///
/// assert!(ensure_read_only("MATCH (n:Note) WHERE n.text = 'CREATE me' RETURN n.set").is_ok());
/// assert!(matches!(
///     ensure_read_only("MATCH (n) DETACH DELETE n"),
///     Err(Error::WriteInReadQuery { clause }) if clause == "DETACH"
/// ));
/// ```
pub fn ensure_read_only(cypher: &str) -> Result<()> {
    let (tokens, error) = lexer::tokenize(cypher, lexer::Escapes::Backslash);
    if let Some(clause) = lexer::first_write_keyword(&tokens) {
        return Err(Error::WriteInReadQuery { clause });
    }
    if let Some(error) = error {
        return Err(error);
    }
    // A server that does not treat `\'` as an escape would see a different split between
    // strings and code. Tokens read before a failure under that reading are checked too.
    let (tokens, _) = lexer::tokenize(cypher, lexer::Escapes::Literal);
    match lexer::first_write_keyword(&tokens) {
        Some(clause) => Err(Error::WriteInReadQuery { clause }),
        None => Ok(()),
    }
}

/// Checks a `find_nodes`/`neighbors`/query row limit.
pub(crate) fn check_limit(limit: usize) -> Result<()> {
    if limit > MAX_ROW_LIMIT {
        return Err(Error::InvalidLimit {
            limit,
            max: MAX_ROW_LIMIT,
        });
    }
    Ok(())
}

/// A point in time after which a query gives up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
    after: Duration,
}

impl Deadline {
    pub(crate) fn after(after: Duration) -> Self {
        // A timeout too large for `Instant` is as good as none.
        let at = Instant::now()
            .checked_add(after)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        Self { at, after }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if Instant::now() >= self.at {
            return Err(Error::Timeout { after: self.after });
        }
        Ok(())
    }
}

/// The largest intermediate state one query may hold (buffered rows, lists, paths), in bytes.
pub const MAX_QUERY_MEMORY: usize = 64 << 20;

/// The most elements one list may have inside a query (`range`, `collect`, comprehensions, …).
pub const MAX_LIST_LENGTH: usize = 1_000_000;

/// Resource limits of one query run by the embedded engine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub memory: usize,
    pub list_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: MAX_QUERY_MEMORY,
            list_len: MAX_LIST_LENGTH,
        }
    }
}

/// Runs `query` with the embedded Cypher engine against `source`.
pub(crate) fn run_embedded(
    source: &dyn graph::QueryGraph,
    query: &ReadQuery,
) -> Result<QueryResult> {
    ensure_read_only(&query.cypher)?;
    let limit = query.effective_limit()?;
    let deadline = Deadline::after(query.effective_timeout());
    deadline.check()?;
    let parsed = parser::parse(&query.cypher)?;
    let (columns, rows) = exec::run(
        &parsed,
        source,
        &query.params,
        deadline,
        Limits::default(),
        limit.saturating_add(1),
    )?;
    let truncated = rows.len() > limit;
    let mut out = Vec::with_capacity(rows.len().min(limit));
    for row in rows.into_iter().take(limit) {
        deadline.check()?;
        out.push(output::row(source, row)?);
    }
    Ok(QueryResult {
        columns,
        rows: out,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_clause_is_refused() {
        for (cypher, clause) in [
            ("CREATE (n:X)", "CREATE"),
            ("MATCH (n) MERGE (m:X {k: 1})", "MERGE"),
            ("MATCH (n) SET n.x = 1", "SET"),
            ("match (n) delete n", "DELETE"),
            ("MATCH (n) REMOVE n.x", "REMOVE"),
            ("MATCH (n) DETACH DELETE n", "DETACH"),
            ("DROP INDEX i", "DROP"),
            ("LOAD CSV FROM 'file:///x' AS row RETURN row", "LOAD"),
            ("CALL db.labels()", "CALL"),
            ("MATCH (n) CALL { CREATE (m) } RETURN n", "CALL"),
            ("MATCH (n) FOREACH (x IN [1] | SET n.y = x)", "FOREACH"),
            ("GRANT ROLE admin TO bob", "GRANT"),
            ("RETURN 1 /* */ ; CREATE (n)", "CREATE"),
        ] {
            match ensure_read_only(cypher) {
                Err(Error::WriteInReadQuery { clause: c }) => assert_eq!(c, clause, "{cypher}"),
                other => panic!("{cypher}: {other:?}"),
            }
        }
    }

    #[test]
    fn keywords_in_strings_comments_names_and_properties_are_not_clauses() {
        for cypher in [
            "MATCH (n:Note {title: 'DELETE everything'}) RETURN n",
            "MATCH (n) WHERE n.text = \"merge; create\" RETURN n",
            "MATCH (n) // then CREATE something\nRETURN n",
            "MATCH (n) /* SET n.x = 1 */ RETURN n",
            "MATCH (n) RETURN n.set, n.delete AS `DELETE`",
            "MATCH (n:Create)-[:REMOVE]->(m) RETURN m",
            "MATCH (n) WHERE n.x = $create RETURN n",
        ] {
            assert!(ensure_read_only(cypher).is_ok(), "{cypher}");
        }
    }

    #[test]
    fn a_backslash_trick_cannot_hide_a_write() {
        // Under Cypher's rules `\'` keeps the string open; a server without backslash escapes
        // would end the string there and run the CREATE.
        let sneaky = r"MATCH (n) WHERE n.x = 'a\' CREATE (m:Pwned) //' RETURN n";
        assert!(matches!(
            ensure_read_only(sneaky),
            Err(Error::WriteInReadQuery { .. })
        ));
    }

    #[test]
    fn unreadable_queries_are_refused() {
        assert!(matches!(
            ensure_read_only("MATCH (n) WHERE n.x = 'open"),
            Err(Error::InvalidQuery { .. })
        ));
        assert!(matches!(
            ensure_read_only("MATCH (n) /* open"),
            Err(Error::InvalidQuery { .. })
        ));
    }

    #[test]
    fn limits_above_the_maximum_are_refused() {
        assert_eq!(
            ReadQuery::new("x").effective_limit().unwrap(),
            DEFAULT_ROW_LIMIT
        );
        assert_eq!(
            ReadQuery::new("x")
                .limit(MAX_ROW_LIMIT)
                .effective_limit()
                .unwrap(),
            MAX_ROW_LIMIT
        );
        assert!(matches!(
            ReadQuery::new("x")
                .limit(MAX_ROW_LIMIT + 1)
                .effective_limit(),
            Err(Error::InvalidLimit { .. })
        ));
    }
}

#[cfg(all(test, feature = "schemars"))]
mod schema_tests {
    use super::*;
    use crate::{Node, NodeRef, Relationship};
    use mcp_core::schema_testing::schema_matches;
    use serde_json::json;

    #[test]
    fn result_schemas_describe_the_serialized_fields() {
        let node: Node = serde_json::from_value(
            json!({"label": "Person", "key": "ada", "properties": {"born": 1815, "tags": ["a"]}}),
        )
        .unwrap();
        let rel = Relationship {
            from: node.to_ref(),
            rel_type: "KNOWS".parse().unwrap(),
            to: NodeRef::parse("Person", "alan").unwrap(),
            properties: Default::default(),
        };
        let schema = schema_matches(&node);
        assert_eq!(schema["properties"]["properties"]["type"], "object");
        schema_matches(&rel);
        let result = QueryResult {
            columns: vec!["n".into(), "r".into(), "n.born".into()],
            rows: vec![vec![
                QueryValue::Node(node),
                QueryValue::Relationship(rel),
                QueryValue::Value(json!(1815)),
            ]],
            truncated: false,
        };
        schema_matches(&result);
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(serde_json::from_value::<QueryResult>(json).unwrap(), result);
    }
}
