#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod error;
pub mod model;
mod query;
pub mod store;

#[cfg(feature = "testing")]
pub mod conformance;

pub use error::{Error, Result};
pub use model::{
    Direction, GraphStats, Label, Node, NodeKey, NodeRef, Properties, PropertyKey, RelType,
    Relationship, Value, properties_from_json,
};
pub use query::{
    DEFAULT_QUERY_TIMEOUT, DEFAULT_ROW_LIMIT, MAX_ROW_LIMIT, QueryResult, QueryValue, ReadQuery,
    ensure_read_only,
};
pub use store::memory::MemoryGraphStore;
#[cfg(feature = "sqlite")]
pub use store::sqlite::SqliteGraphStore;
pub use store::{GraphStore, MAX_DEPTH};
