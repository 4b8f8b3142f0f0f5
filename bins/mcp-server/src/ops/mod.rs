//! The operations both transports call: the tool operations over [`AppState`] and the caller
//! ([`tools`]), the audit log operations ([`audit`]), the catalog of tools ([`catalog`]) and the
//! calls to the gateway's upstreams ([`gateway`]).
//!
//! This layer sits below REST (`routes`) and MCP (`mcp`) and never imports either
//! (docs/architecture.md, "Layers"), so rate limits, metrics and audit events are the same
//! whichever way an operation is called. Permission checks are the caller's job, with the
//! permission taken from the permission table ([`crate::access`]).
//!
//! [`AppState`]: crate::state::AppState
pub mod audit;
pub mod catalog;
pub mod gateway;
pub mod tools;
