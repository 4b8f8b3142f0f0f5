//! Test harness for the Bolt backends: which server to use, and a fresh graph per test.
//!
//! Environment (set by `./scripts/test`, which starts a FalkorDB Bolt server):
//! - `MCP_TEST_NEO4J_URI`, `MCP_TEST_NEO4J_USER`, `MCP_TEST_NEO4J_PASSWORD`: the server.
//! - `MCP_TEST_BOLT_SERVER`: `falkordb` or `neo4j`; by default FalkorDB when the user is
//!   `falkordb` (as `scripts/bolt-server` sets it), Neo4j otherwise.
//! - `MCP_TEST_BOLT_REQUIRED=1`: a missing server fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::config::{BoltConfig, BoltServer, RetryPolicy};

/// The configuration for one Bolt test, or `None` (test skipped) when no server is set up.
///
/// Each call names a new graph (FalkorDB) or database (Neo4j) `t_<test>_<uuid>`, so tests
/// never see each other's data. On a Neo4j server without multi-database support (Community
/// edition), set `MCP_TEST_NEO4J_DATABASE` to a database that exists: all tests then share it,
/// so run them one at a time.
///
/// # Panics
/// When `MCP_TEST_BOLT_REQUIRED=1` and `MCP_TEST_NEO4J_URI` is unset, so that a CI run cannot
/// pass by skipping every Bolt test.
pub fn bolt_test_config(test_name: &str) -> Option<BoltConfig> {
    let Some(uri) = std::env::var("MCP_TEST_NEO4J_URI")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        if std::env::var("MCP_TEST_BOLT_REQUIRED").as_deref() == Ok("1") {
            panic!(
                "MCP_TEST_BOLT_REQUIRED=1 but MCP_TEST_NEO4J_URI is not set: no Bolt server for {test_name}"
            );
        }
        println!(
            "SKIPPED: no Bolt server (set MCP_TEST_NEO4J_URI or run ./scripts/test): {test_name}"
        );
        return None;
    };
    let user = std::env::var("MCP_TEST_NEO4J_USER").unwrap_or_else(|_| "neo4j".into());
    let password = std::env::var("MCP_TEST_NEO4J_PASSWORD").unwrap_or_default();
    let server = match std::env::var("MCP_TEST_BOLT_SERVER").as_deref() {
        Ok("neo4j") => BoltServer::Neo4j,
        Ok("falkordb") => BoltServer::FalkorDb,
        // `scripts/bolt-server` logs in as `falkordb`; anything else is taken to be Neo4j.
        _ if user == "falkordb" => BoltServer::FalkorDb,
        _ => BoltServer::Neo4j,
    };
    let database = std::env::var("MCP_TEST_NEO4J_DATABASE")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| unique_graph_name(test_name));
    Some(
        BoltConfig::new(uri, user, password)
            .with_server(server)
            .with_database(database)
            .with_pool_size(4)
            .with_query_timeout(Duration::from_secs(10))
            .with_retry(RetryPolicy {
                max_attempts: 3,
                initial_backoff_ms: 50,
                max_backoff_ms: 500,
            }),
    )
}

/// `t_<sanitised test name, shortened>_<32 hex digits>`: a valid graph and database name.
pub fn unique_graph_name(test_name: &str) -> String {
    let stem: String = test_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    format!("t_{stem}_{}", uuid::Uuid::new_v4().simple())
}

/// A FalkorDB server of a test's own, started with `scripts/bolt-server` in a temporary
/// directory and stopped when dropped, for tests that stop and restart the server (doing that
/// to the shared server would break the tests running beside them).
#[derive(Debug)]
pub struct PrivateFalkorDb {
    dir: PathBuf,
    script: PathBuf,
    env: Vec<(String, String)>,
}

impl PrivateFalkorDb {
    /// Starts a server with `<workspace>/scripts/bolt-server start <dir>`.
    ///
    /// # Panics
    /// When the script fails (FalkorDB not installed): only call it when
    /// [`bolt_test_config`] returned a FalkorDB configuration.
    pub fn start(workspace_root: &Path, dir: &Path) -> Self {
        let script = workspace_root.join("scripts/bolt-server");
        let status = Command::new(&script)
            .arg("start")
            .arg(dir)
            .status()
            .expect("run scripts/bolt-server");
        assert!(status.success(), "scripts/bolt-server start failed");
        let text = std::fs::read_to_string(dir.join("env")).expect("bolt-server env file");
        let env = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            dir: dir.to_owned(),
            script,
            env,
        }
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Makes Redis write its snapshot on shutdown, so a stop and start keeps the graphs (the
    /// script starts it with `--save ''`).
    pub fn persist_on_shutdown(&self) {
        use std::io::{Read, Write};
        let port: u16 = self
            .var("MCP_TEST_BOLT_REDIS_PORT")
            .parse()
            .expect("redis port");
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
        conn.write_all(b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$4\r\nsave\r\n$6\r\n3600 1\r\n")
            .expect("send CONFIG SET");
        let mut reply = [0u8; 5];
        conn.read_exact(&mut reply).expect("CONFIG SET reply");
        assert_eq!(&reply, b"+OK\r\n", "CONFIG SET save");
    }

    /// Stops the server (its ports stay reserved for [`PrivateFalkorDb::restart`]).
    pub fn stop(&self) {
        self.script_cmd("stop");
    }

    /// Starts the server again on the same ports.
    pub fn restart(&self) {
        self.script_cmd("restart");
    }

    fn script_cmd(&self, cmd: &str) {
        let status = Command::new(&self.script)
            .arg(cmd)
            .arg(&self.dir)
            .status()
            .expect("run scripts/bolt-server");
        assert!(status.success(), "scripts/bolt-server {cmd} failed");
    }

    /// A configuration for graph `graph` on this server: no retries, 2 s query timeout.
    pub fn config(&self, graph: &str) -> BoltConfig {
        BoltConfig::new(
            self.var("MCP_TEST_NEO4J_URI"),
            self.var("MCP_TEST_NEO4J_USER"),
            "",
        )
        .with_server(BoltServer::FalkorDb)
        .with_database(graph)
        .with_query_timeout(Duration::from_secs(2))
        .with_retry(RetryPolicy::never())
    }
}

impl Drop for PrivateFalkorDb {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_names_are_unique_and_valid() {
        let a = unique_graph_name("grant then check: allows");
        let b = unique_graph_name("grant then check: allows");
        assert_ne!(a, b);
        let config = BoltConfig::new("bolt://h:1", "u", "").with_database(a);
        assert!(config.validate().is_ok());
    }
}
