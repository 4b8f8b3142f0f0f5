//! The integration tests of `mcp-gateway`, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): each file of `tests/` is a module. The upstream tests start real
//! MCP servers: npm packages installed in `tests/upstreams` by `scripts/install-test-deps`, and
//! `tests/upstreams/py_upstream.py` (official Python SDK); each test starts its own.

mod everything;
#[cfg(feature = "testing")]
mod memory;
#[cfg(all(feature = "testing", feature = "neo4j"))]
mod neo4j;
mod python;
mod sandboxed;
#[cfg(all(feature = "testing", feature = "sqlite"))]
mod sqlite;
mod support;
