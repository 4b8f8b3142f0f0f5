//! Shared types for the MCP platform crates.
//!
//! Every storage trait in the workspace (`RoleStore`, `RevocationStore`, `AuditSink`,
//! `GraphStore`) reports backend failures as a [`StoreError`], so the server can map
//! them to HTTP status codes without knowing which backend produced them.
//! [`cache::TtlCache`] is the bounded, short-lived map behind the caching decorators of
//! those stores. [`bounded`] is the one rule that bounds client-chosen text on its way into
//! logs and audit events.
//!
//! ```
//! use mcp_core::StoreError;
//!
//! let err = StoreError::unavailable("database is locked");
//! assert!(err.is_transient());
//! assert_eq!(err.to_string(), "store unavailable: database is locked");
//! ```
#![deny(missing_docs)]

#[cfg(feature = "neo4j")]
pub mod bolt;
pub mod bounded;
pub mod cache;
#[cfg(feature = "schema-testing")]
pub mod schema_testing;
mod store_error;

pub use store_error::{BoxError, StoreError};
