//! The integration tests of the server, as one test binary (`autotests = false` and one
//! `[[test]]` in Cargo.toml): the app in-process on memory backends, the real binary over HTTP,
//! stdio and raw sockets, and MCP with rmcp's own client. `server::common` builds the
//! in-process app; `support` holds the helpers of the tests that drive the real binary.

mod disconnect;
mod fuzz_requests;
mod mcp;
mod mcp_cancel;
mod mcp_http_client;
mod mcp_output;
mod server;
mod support;
mod tool_budgets;
