#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod error;
pub mod pin;
pub mod redact;

#[cfg(feature = "testing")]
pub mod conformance;

pub use error::Error;
pub use pin::{Observation, PinRecord, PinStore, PinnedDefinition, Pins};
pub use redact::{CustomDetector, RedactionConfig, RedactionCounts, Redactor};
