//! The REST API and the server's config checks: `api`, `every_route_requires_auth` and
//! `jwt_keys` drive the app in-process on memory backends, `binary` the real binary,
//! `graph_isolation` both; `hardening` the unauthenticated edges and the order and
//! completeness of the checks; `common` builds the app and its requests.
mod api;
mod binary;
pub mod common;
mod every_route_requires_auth;
mod graph_isolation;
mod hardening;
mod jwt_keys;
mod oauth_resource;
