//! The integration tests of `mcp-sandbox`, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): each file of `tests/` is a module; `common` holds the shared
//! helpers.

mod bounds;
mod common;
mod escape_attempts_are_denied;
mod languages;
mod standby;
mod tools;
