//! Issue and verify JSON Web Tokens with pinned algorithms, key rotation and revocation.
#![deny(missing_docs)]
