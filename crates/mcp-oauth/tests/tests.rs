//! The integration tests of `mcp-oauth`, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): each file of `tests/` is a module, the store suites gated on the
//! features they need.

#[cfg(feature = "testing")]
mod attacks;
#[cfg(all(feature = "testing", feature = "fetch"))]
mod external;
#[cfg(feature = "testing")]
mod flow;
#[cfg(feature = "testing")]
mod memory;
#[cfg(all(feature = "testing", feature = "fetch"))]
mod metadata_documents;
#[cfg(all(feature = "testing", feature = "neo4j"))]
mod neo4j;
#[cfg(all(feature = "testing", feature = "sqlite"))]
mod sqlite;
#[cfg(feature = "testing")]
mod support;
