//! The integration tests of `mcp-limits`, as one test binary: the conformance suite on each
//! backend, and the limits holding across two handles on one shared store (two server
//! instances).

#[cfg(feature = "testing")]
mod memory;
#[cfg(all(feature = "testing", feature = "neo4j"))]
mod neo4j;
#[cfg(all(feature = "testing", feature = "sqlite"))]
mod sqlite;
