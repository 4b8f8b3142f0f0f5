//! The integration tests of `mcp-core`, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): each file of `tests/` is a module, gated on the features it needs.

#[cfg(all(feature = "neo4j", feature = "testing"))]
mod bolt;
