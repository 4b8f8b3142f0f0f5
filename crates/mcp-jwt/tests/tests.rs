//! The integration tests of `mcp-jwt`, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): each file of `tests/` is a module, the store suites gated on the
//! features they need; `support` holds what several modules share.

mod audience;
#[cfg(feature = "testing")]
mod cached;
mod config;
mod fuzz_tokens;
#[cfg(feature = "testing")]
mod memory;
#[cfg(all(feature = "testing", feature = "neo4j"))]
mod neo4j;
mod options;
mod rfc_vectors;
#[cfg(all(feature = "testing", feature = "sqlite"))]
mod sqlite;
mod tamper;
mod verify;

mod support {
    pub mod fixture;
}
