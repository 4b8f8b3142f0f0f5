#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod claims;
mod config;
pub mod crypto;
mod error;
mod issuer;
mod keys;
mod options;
pub mod store;
mod verifier;

#[cfg(feature = "testing")]
pub mod conformance;

pub use claims::{Claims, DEFAULT_ROLE, RESERVED_CLAIMS};
pub use config::{
    Algorithm, DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_TTL_SECS,
    DEFAULT_VERIFIED_CACHE_ENTRIES, JwtConfig, KeyConfig, MAX_LEEWAY_SECS, MAX_TTL_SECS,
    MAX_VERIFIED_CACHE_ENTRIES, MIN_HMAC_SECRET_BYTES, Secret,
};
pub use error::Error;
pub use issuer::{IssuedToken, JwtIssuer};
pub use options::TokenOptions;
pub use store::RevocationStore;
pub use verifier::JwtVerifier;
