//! Plain-data configuration of a Bolt connection.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

use crate::StoreError;

/// Which server speaks Bolt at the other end.
///
/// The protocol is the same, but the servers differ in ways a backend has to know about
/// (see `docs/storage.md`): how a graph is selected, which schema statements exist and
/// whether read-only access is enforced by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BoltServer {
    /// Neo4j 4.4 or 5.x: `database` is sent as the `db` of each query, READ access mode is
    /// enforced by the server, uniqueness constraints exist.
    #[default]
    Neo4j,
    /// FalkorDB's Bolt endpoint: `database` names the graph (sent as the only key of the
    /// RUN metadata, which is how FalkorDB picks it), no constraints, read-only access is not
    /// enforced by the server, errors carry no detail.
    #[serde(rename = "falkordb")]
    FalkorDb,
}

/// How transient failures (server down, pool exhausted, timeouts) are retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in total, including the first one. `1` disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; it doubles on every retry.
    pub initial_backoff_ms: u64,
    /// Upper bound of the delay between two attempts, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff_ms: 50,
            max_backoff_ms: 2_000,
        }
    }
}

impl RetryPolicy {
    /// A policy that tries once and never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1-based): exponential, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u64
            .checked_shl(retry.saturating_sub(1).min(32))
            .unwrap_or(u64::MAX);
        let ms = self
            .initial_backoff_ms
            .saturating_mul(factor)
            .min(self.max_backoff_ms);
        Duration::from_millis(ms)
    }
}

/// Configuration of a [`BoltClient`](super::BoltClient).
///
/// ```
/// use mcp_core::bolt::{BoltConfig, BoltServer};
///
/// let config: BoltConfig = serde_json::from_str(r#"{
///     "uri": "bolt://127.0.0.1:7687",
///     "user": "neo4j",
///     "password": "s3cret",
///     "database": "mcp",
///     "server": "neo4j"
/// }"#).unwrap();
/// assert_eq!(config.server, BoltServer::Neo4j);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BoltConfig {
    /// `bolt://host:port` (or `bolt+s://`, `neo4j://`, ...).
    pub uri: String,
    /// User name for basic authentication.
    pub user: String,
    /// Password for basic authentication. Never printed by `Debug`.
    #[serde(default)]
    pub password: String,
    /// Neo4j: the database (none means the server's default database).
    /// FalkorDB: the graph name (none means FalkorDB's default graph `falkordb`).
    #[serde(default)]
    pub database: Option<String>,
    /// Which server to expect.
    #[serde(default)]
    pub server: BoltServer,
    /// Maximum number of pooled connections.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Time limit of one attempt of one query, in milliseconds (connect, send and read all rows).
    #[serde(default = "default_query_timeout_ms")]
    pub query_timeout_ms: u64,
    /// Retries of transient failures.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_pool_size() -> usize {
    8
}

fn default_query_timeout_ms() -> u64 {
    10_000
}

impl BoltConfig {
    /// A configuration with defaults for everything but the address and credentials.
    pub fn new(
        uri: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            uri: uri.into(),
            user: user.into(),
            password: password.into(),
            database: None,
            server: BoltServer::default(),
            pool_size: default_pool_size(),
            query_timeout_ms: default_query_timeout_ms(),
            retry: RetryPolicy::default(),
        }
    }

    /// Sets the database (Neo4j) or graph (FalkorDB) name.
    pub fn with_database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    /// Sets the kind of server.
    pub fn with_server(mut self, server: BoltServer) -> Self {
        self.server = server;
        self
    }

    /// Sets the time limit of one query attempt.
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the pool size.
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// The query timeout as a [`Duration`].
    pub fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms)
    }

    /// Checks the values that cannot be used, with a message naming the field.
    pub fn validate(&self) -> Result<(), StoreError> {
        let scheme_ok = [
            "bolt://",
            "bolt+s://",
            "bolt+ssc://",
            "neo4j://",
            "neo4j+s://",
            "neo4j+ssc://",
        ]
        .iter()
        .any(|s| self.uri.starts_with(s));
        if !scheme_ok {
            return Err(StoreError::Invalid(format!(
                "bolt.uri must start with bolt:// or neo4j:// (got {:?})",
                self.uri
            )));
        }
        if self.user.is_empty() {
            return Err(StoreError::Invalid("bolt.user must not be empty".into()));
        }
        if self.pool_size == 0 {
            return Err(StoreError::Invalid(
                "bolt.pool_size must be at least 1".into(),
            ));
        }
        if self.query_timeout_ms == 0 {
            return Err(StoreError::Invalid(
                "bolt.query_timeout_ms must be at least 1".into(),
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(StoreError::Invalid(
                "bolt.retry.max_attempts must be at least 1".into(),
            ));
        }
        if let Some(db) = &self.database {
            let ok = !db.is_empty()
                && db.len() <= 63
                && db
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
            if !ok {
                return Err(StoreError::Invalid(format!(
                    "bolt.database must be 1-63 characters of [A-Za-z0-9_.-] (got {db:?})"
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for BoltConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoltConfig")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field("password", &"***")
            .field("database", &self.database)
            .field("server", &self.server)
            .field("pool_size", &self.pool_size)
            .field("query_timeout_ms", &self.query_timeout_ms)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_masks_the_password() {
        let config = BoltConfig::new("bolt://h:1", "u", "hunter2");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("***"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err =
            serde_json::from_str::<BoltConfig>(r#"{"uri":"bolt://h:1","user":"u","pasword":"x"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("pasword"));
    }

    #[test]
    fn missing_optional_fields_take_defaults() {
        let config: BoltConfig =
            serde_json::from_str(r#"{"uri":"bolt://h:1","user":"u"}"#).unwrap();
        assert_eq!(config, BoltConfig::new("bolt://h:1", "u", ""));
        assert_eq!(config.server, BoltServer::Neo4j);
    }

    #[test]
    fn falkordb_is_spelled_in_lowercase() {
        let config: BoltConfig =
            serde_json::from_str(r#"{"uri":"bolt://h:1","user":"u","server":"falkordb"}"#).unwrap();
        assert_eq!(config.server, BoltServer::FalkorDb);
    }

    #[test]
    fn validation_names_the_bad_field() {
        let bad = BoltConfig::new("http://h:1", "u", "");
        assert!(bad.validate().unwrap_err().to_string().contains("bolt.uri"));
        let bad = BoltConfig::new("bolt://h:1", "u", "").with_database("a b");
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("bolt.database")
        );
        let bad = BoltConfig::new("bolt://h:1", "u", "").with_pool_size(0);
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("bolt.pool_size")
        );
        assert!(BoltConfig::new("bolt://h:1", "u", "").validate().is_ok());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(200));
        assert_eq!(policy.backoff(4), Duration::from_millis(800));
        assert_eq!(policy.backoff(5), Duration::from_millis(1_000));
        assert_eq!(policy.backoff(60), Duration::from_millis(1_000));
    }
}
