//! The integration tests of `mcp-graph`, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): each file of `tests/` is a module, gated on the features it needs.

#[cfg(all(feature = "testing", feature = "neo4j", feature = "sqlite"))]
mod differential;
#[cfg(feature = "testing")]
mod memory;
#[cfg(all(feature = "testing", feature = "neo4j"))]
mod neo4j;
#[cfg(all(feature = "testing", feature = "sqlite"))]
mod sqlite;
#[cfg(feature = "testing")]
mod tck;
