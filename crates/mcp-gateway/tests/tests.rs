//! The integration tests of `mcp-gateway`, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): each file of `tests/` is a module.

#[cfg(feature = "testing")]
mod memory;
#[cfg(all(feature = "testing", feature = "neo4j"))]
mod neo4j;
#[cfg(all(feature = "testing", feature = "sqlite"))]
mod sqlite;
