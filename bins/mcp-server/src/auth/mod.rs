//! Authentication and authorization: the [`Principal`] (who calls) and the [`Allowed`] guard
//! (may they), both actix extractors, plus the plain async functions behind them so other
//! transports (MCP) apply exactly the same checks.
mod allowed;
pub mod perm;
mod principal;

pub use allowed::{Allowed, authorize};
pub use principal::{CallContext, Principal, authenticate, bearer_token};
