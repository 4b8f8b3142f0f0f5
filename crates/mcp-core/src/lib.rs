#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "neo4j")]
pub mod bolt;
pub mod bounded;
pub mod cache;
#[cfg(feature = "schema-testing")]
pub mod schema_testing;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store_error;

pub use store_error::{BoxError, StoreError};
