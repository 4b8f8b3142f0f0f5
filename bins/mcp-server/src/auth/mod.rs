//! Authentication and authorization: the [`Principal`] (who calls) and the [`Allowed`] guard
//! (may they), both actix extractors, plus the plain async functions behind them so other
//! transports (MCP) apply exactly the same checks; password log-in ([`login`]), the client
//! address behind trusted proxies ([`client_addr`]) and the security violations other parts
//! report ([`violations`]).
mod allowed;
pub mod client_addr;
pub mod external;
pub mod login;
pub mod perm;
mod principal;
pub mod violations;

pub use allowed::{Allowed, authorize, guard_route};
pub use principal::{CallContext, Principal, authenticate, bearer_token};
