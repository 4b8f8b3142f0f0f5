//! Tamper-evident audit events, a non-blocking audit logger and pluggable audit sinks.
#![deny(missing_docs)]
