#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod config;
mod error;
pub mod event;
mod gateway;
pub mod launcher;
pub mod names;
pub mod pin;
pub mod redact;
mod upstream;

#[cfg(feature = "testing")]
pub mod conformance;

pub use config::{ClientCredentials, GatewayConfig, HttpConfig, StdioConfig, UpstreamConfig};
pub use error::Error;
pub use event::{ChannelSink, EventSink, GatewayEvent, LogSink};
pub use gateway::{Gateway, GatewayBuilder, Redacted, WithheldTool};
pub use launcher::{
    Grants, LaunchSpec, Launched, PlainLauncher, ProcessLauncher, ProcessLimits, RunningProcess,
};
pub use pin::{Observation, PinRecord, PinStore, PinnedDefinition, Pins};
pub use redact::{CustomDetector, RedactionConfig, RedactionCounts, Redactor};
pub use upstream::{
    CallOptions, MAX_CATALOG_ITEMS, ProgressCallback, UpstreamHealth, UpstreamState,
};
