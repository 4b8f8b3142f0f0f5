//! Integration tests of the server, as one test binary: the app in-process on memory backends
//! (`api`, `every_route_requires_auth`) and the real binary over HTTP (`binary`).
mod api;
mod binary;
mod common;
mod every_route_requires_auth;
mod graph_isolation;
mod jwt_keys;
