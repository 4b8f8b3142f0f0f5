//! The pooled client: auto-commit queries with a timeout and retries.

use std::future::Future;
use std::time::Duration;

use neo4rs::{ConfigBuilder, Graph, Query, Row};

use super::config::{BoltConfig, BoltServer};
use super::error::map_error;
use crate::StoreError;

/// Whether a query may write, which selects the Bolt access mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// May write (Bolt WRITE mode, the default).
    Write,
    /// Only reads. Neo4j enforces it (and routes it to a reader in a cluster); FalkorDB does
    /// not, so a backend that must stay read-only checks the Cypher itself as well.
    Read,
}

/// Rows of one query, cut at a row limit.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Rows {
    /// The rows, at most the limit.
    pub rows: Vec<Row>,
    /// Whether the server returned more rows than the limit (they were read and dropped).
    pub truncated: bool,
}

/// A pooled Bolt client around [`neo4rs::Graph`] for Neo4j and FalkorDB.
///
/// Every call is one auto-commit query (FalkorDB has no real explicit transactions). Each
/// attempt is bounded by [`BoltConfig::query_timeout`]; failures that may pass
/// ([`StoreError::Unavailable`]: server down, connection lost, timeout, Neo4j transient
/// errors) are retried with exponential backoff per [`BoltConfig::retry`]. Because a write
/// can be retried after the server already applied it, write queries should be idempotent
/// (`MERGE` on a key rather than `CREATE`).
///
/// The pool connects lazily, so [`BoltClient::connect`] succeeds while the server is down;
/// connections broken by a server restart are dropped by the pool and replaced on the next
/// query, so the client recovers by itself once the server is back.
#[derive(Clone)]
pub struct BoltClient {
    graph: Graph,
    config: BoltConfig,
}

impl std::fmt::Debug for BoltClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoltClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BoltClient {
    /// Validates the configuration and builds the (lazy) connection pool.
    pub fn connect(config: BoltConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let mut builder = ConfigBuilder::default()
            .uri(config.uri.as_str())
            .user(config.user.as_str())
            .password(config.password.as_str())
            .max_connections(config.pool_size)
            .connection_timeout(config.query_timeout());
        if let (BoltServer::Neo4j, Some(db)) = (config.server, &config.database) {
            builder = builder.db(db.as_str());
        }
        let neo_config = builder
            .build()
            .map_err(|e| StoreError::Invalid(format!("bolt configuration: {e}")))?;
        let graph = Graph::connect(neo_config).map_err(map_error)?;
        Ok(Self { graph, config })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &BoltConfig {
        &self.config
    }

    /// The kind of server this client expects.
    pub fn server(&self) -> BoltServer {
        self.config.server
    }

    /// A query aimed at the configured graph: on FalkorDB the graph name is put in the RUN
    /// metadata (as its only key, which is where FalkorDB reads it); on Neo4j the database is
    /// set on the pool. Add parameters with [`Query::param`].
    pub fn query(&self, cypher: &str) -> Query {
        let query = neo4rs::query(cypher);
        match (self.config.server, &self.config.database) {
            (BoltServer::FalkorDb, Some(graph)) => query.extra(graph, graph.as_str()),
            _ => query,
        }
    }

    /// On FalkorDB, the query with its parameters escaped (see the `falkordb` module);
    /// on Neo4j, the query unchanged.
    fn prepare(&self, query: Query) -> Result<Query, StoreError> {
        match self.config.server {
            BoltServer::Neo4j => Ok(query),
            BoltServer::FalkorDb => {
                super::falkordb::prepare(&query, self.config.database.as_deref())
            }
        }
    }

    /// Runs a query and discards its result.
    pub async fn run(&self, query: Query) -> Result<(), StoreError> {
        let query = self.prepare(query)?;
        self.retrying(|| async {
            let mut stream = self.graph.execute(query.clone()).await.map_err(map_error)?;
            while stream.next().await.map_err(map_error)?.is_some() {}
            Ok(())
        })
        .await
    }

    /// Runs a query that may write and returns all of its rows.
    pub async fn write(&self, query: Query) -> Result<Vec<Row>, StoreError> {
        Ok(self.fetch(query, Access::Write, usize::MAX).await?.rows)
    }

    /// Runs a read-only query and returns all of its rows.
    pub async fn read(&self, query: Query) -> Result<Vec<Row>, StoreError> {
        Ok(self.fetch(query, Access::Read, usize::MAX).await?.rows)
    }

    /// Runs a query and keeps at most `max_rows` rows.
    ///
    /// On FalkorDB, [`Access::Read`] is sent as a write-mode query: FalkorDB ignores the
    /// access mode, and the extra metadata key would break its graph selection.
    pub async fn fetch(
        &self,
        query: Query,
        access: Access,
        max_rows: usize,
    ) -> Result<Rows, StoreError> {
        let read = access == Access::Read && self.config.server == BoltServer::Neo4j;
        let query = self.prepare(query)?;
        self.retrying(|| async {
            let mut stream = if read {
                self.graph.execute_read(query.clone()).await
            } else {
                self.graph.execute(query.clone()).await
            }
            .map_err(map_error)?;
            let mut out = Rows::default();
            // The whole stream is read even past the limit: a connection dropped in the middle
            // of a result can leave FalkorDB's Bolt port unresponsive.
            while let Some(row) = stream.next().await.map_err(map_error)? {
                if out.rows.len() < max_rows {
                    out.rows.push(row);
                } else {
                    out.truncated = true;
                }
            }
            Ok(out)
        })
        .await
    }

    /// Checks that the server answers (`RETURN 1`), with retries.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(self.query("RETURN 1")).await
    }

    /// Creates an index on `label.property` if it does not exist yet.
    ///
    /// `label` and `property` must be plain identifiers (letters, digits, `_`). Neo4j gets
    /// `CREATE INDEX <name> IF NOT EXISTS`; FalkorDB has no `IF NOT EXISTS`, so its error for
    /// an existing index is ignored.
    pub async fn ensure_index(&self, label: &str, property: &str) -> Result<(), StoreError> {
        check_identifier(label)?;
        check_identifier(property)?;
        match self.config.server {
            BoltServer::Neo4j => {
                let name = format!("mcp_{label}_{property}_idx").to_lowercase();
                let cypher = format!(
                    "CREATE INDEX {name} IF NOT EXISTS FOR (n:`{label}`) ON (n.`{property}`)"
                );
                self.run(self.query(&cypher)).await
            }
            BoltServer::FalkorDb => {
                // Look first: FalkorDB has no IF NOT EXISTS, and its error replies are best
                // avoided (its parser was seen to crash under many concurrent failing queries).
                if self.falkordb_has_index(label, property).await? {
                    return Ok(());
                }
                let cypher = format!("CREATE INDEX FOR (n:`{label}`) ON (n.`{property}`)");
                self.ignore_exists(cypher).await
            }
        }
    }

    /// Makes `label.property` unique where the server can enforce it, and indexed anyway.
    ///
    /// Neo4j 5 gets a uniqueness constraint (`CREATE CONSTRAINT ... REQUIRE n.p IS UNIQUE`),
    /// which also serves as the index. FalkorDB has no Cypher constraint statement (its
    /// constraints are created through the Redis command `GRAPH.CONSTRAINT`, not over Bolt),
    /// so it only gets the index: backends keep keys unique by writing with `MERGE`.
    /// Returns whether the server enforces uniqueness.
    pub async fn ensure_unique(&self, label: &str, property: &str) -> Result<bool, StoreError> {
        check_identifier(label)?;
        check_identifier(property)?;
        match self.config.server {
            BoltServer::Neo4j => {
                let name = format!("mcp_{label}_{property}_unique").to_lowercase();
                let cypher = format!(
                    "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:`{label}`) REQUIRE n.`{property}` IS UNIQUE"
                );
                self.run(self.query(&cypher)).await?;
                Ok(true)
            }
            BoltServer::FalkorDb => {
                self.ensure_index(label, property).await?;
                Ok(false)
            }
        }
    }

    async fn falkordb_has_index(&self, label: &str, property: &str) -> Result<bool, StoreError> {
        let query =
            self.query("CALL db.indexes() YIELD label, properties RETURN label, properties");
        let rows = self.read(query).await?;
        Ok(rows.iter().any(|row| {
            row.get::<String>("label").is_ok_and(|l| l == label)
                && row
                    .get::<Vec<String>>("properties")
                    .is_ok_and(|p| p.iter().any(|p| p == property))
        }))
    }

    async fn ignore_exists(&self, cypher: String) -> Result<(), StoreError> {
        let attempt = async {
            let mut stream = self
                .graph
                .execute(self.query(&cypher))
                .await
                .map_err(map_error)?;
            while stream.next().await.map_err(map_error)?.is_some() {}
            Ok::<_, StoreError>(())
        };
        match tokio::time::timeout(self.config.query_timeout(), attempt).await {
            Ok(Ok(())) => Ok(()),
            // FalkorDB answers every error, an existing index included, with the same
            // "unknown error"; a real problem shows up in the next query instead.
            Ok(Err(StoreError::Backend { message, .. })) => {
                tracing::debug!(%cypher, %message, "index statement refused; assuming it exists");
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::unavailable("Bolt query timed out")),
        }
    }

    /// Runs `attempt` with the per-attempt timeout, retrying transient failures.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let policy = &self.config.retry;
        let timeout = self.config.query_timeout();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let result = match tokio::time::timeout(timeout, attempt()).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::unavailable(format!(
                    "Bolt query timed out after {} ms",
                    timeout.as_millis()
                ))),
            };
            match result {
                Err(e) if e.is_transient() && tries < policy.max_attempts => {
                    let delay: Duration = policy.backoff(tries);
                    tracing::warn!(error = %e, attempt = tries, ?delay, "transient Bolt failure; retrying");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }
}

/// Checks that `name` can be interpolated into Cypher as a label, type or property name:
/// 1 to 64 ASCII letters, digits or `_`, not starting with a digit.
pub fn check_identifier(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let ok = name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{name:?} is not a valid identifier (1-64 of [A-Za-z0-9_], not starting with a digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_with_cypher_syntax_are_refused() {
        assert!(check_identifier("User").is_ok());
        assert!(check_identifier("_x1").is_ok());
        for bad in ["", "1a", "a b", "a`b", "a)-[r]-(b", "a;DROP", "ü"] {
            assert!(check_identifier(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_identifier(&"a".repeat(65)).is_err());
    }

    #[tokio::test]
    async fn connect_is_lazy_and_a_dead_server_is_unavailable() {
        // Port 1 on localhost: nothing listens, the connection is refused at once.
        let config = BoltConfig::new("bolt://127.0.0.1:1", "u", "p")
            .with_query_timeout(Duration::from_millis(500))
            .with_retry(super::super::RetryPolicy::never());
        let client = BoltClient::connect(config).expect("lazy pool");
        let err = client.ping().await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }

    #[test]
    fn invalid_config_is_refused_before_connecting() {
        let err = BoltClient::connect(BoltConfig::new("http://x", "u", "p")).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)));
    }

    #[test]
    fn falkordb_queries_name_the_graph_in_the_metadata() {
        let config = BoltConfig::new("bolt://127.0.0.1:1", "u", "p")
            .with_server(BoltServer::FalkorDb)
            .with_database("g1");
        let client = BoltClient::connect(config).unwrap();
        assert!(client.query("RETURN 1").has_extra_key("g1"));
        let neo = BoltClient::connect(
            BoltConfig::new("bolt://127.0.0.1:1", "u", "p").with_database("g1"),
        )
        .unwrap();
        assert!(!neo.query("RETURN 1").has_extra_key("g1"));
    }
}
