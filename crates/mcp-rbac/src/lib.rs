#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod authorizer;
mod config;
mod decision;
mod error;
mod permission;
mod policy;
pub mod role;
pub mod store;

#[cfg(feature = "testing")]
pub mod conformance;

pub use authorizer::Authorizer;
pub use config::{RoleConfig, RolesConfig};
pub use decision::{Decision, DenyReason};
pub use error::Error;
pub use permission::{MAX_PERMISSION_LEN, MAX_UPSTREAM_PERMISSION_LEN, Permission, UPSTREAM};
pub use policy::Policy;
pub use store::{CachedRoleStore, RoleStore};
