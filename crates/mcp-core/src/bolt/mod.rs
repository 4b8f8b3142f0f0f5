//! Bolt (Neo4j / FalkorDB) client shared by the `neo4j` backends of every store.
//!
//! [`BoltConfig`] is the serde configuration, [`BoltClient`] the pooled client that runs
//! auto-commit queries with a timeout and retries, and [`map_error`] turns neo4rs errors
//! into [`StoreError`](crate::StoreError). The workspace patches neo4rs so it can speak to
//! FalkorDB (see `vendor/neo4rs/PATCHES.md`); the differences between the two servers are
//! listed in `docs/storage.md`.

mod client;
mod config;
mod error;
mod falkordb;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Access, BoltClient, Rows, check_identifier};
pub use config::{BoltConfig, BoltServer, RetryPolicy};
pub use error::map_error;
pub use falkordb::{MAX_QUERY_TEXT, query_text_len, rendered_text_len};
pub use neo4rs;
