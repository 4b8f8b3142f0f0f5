//! OAuth 2.1 for MCP clients (issue 14): the resource server's challenges on every response
//! ([`challenge`]); the routes are in `crate::routes::oauth`.
mod challenge;

pub use challenge::challenge;
