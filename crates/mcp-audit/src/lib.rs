#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod bounds;
mod canonical;
pub mod chain;
mod error;
pub mod event;
pub mod logger;
pub mod sink;

#[cfg(feature = "testing")]
pub mod conformance;

pub use bounds::{MAX_DETAILS_BYTES, MAX_EVENT_BYTES};
pub use chain::{BreakReason, BrokenLink, ChainHead, ChainReport, GENESIS_HASH};
pub use error::Error;
pub use event::{AuditEvent, EventType};
pub use logger::{AuditLogger, AuditLoggerConfig, LoggerStats};
pub use mcp_core::StoreError;
pub use sink::memory::MemoryAuditSink;
#[cfg(feature = "sqlite")]
pub use sink::sqlite::SqliteAuditSink;
pub use sink::{AuditFilter, AuditSink, StoredEvent};
