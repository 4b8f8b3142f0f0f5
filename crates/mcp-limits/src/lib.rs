#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod rate;
pub mod store;

#[cfg(feature = "testing")]
pub mod conformance;

pub use rate::RateLimiter;
pub use store::{Admission, CounterStore, FailureLimit, Quota, Reservation, Reserved, StoreError};
