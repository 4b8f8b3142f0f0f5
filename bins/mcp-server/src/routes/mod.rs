//! The route table: every route with the access it requires, in one list.
//!
//! [`configure`] registers exactly the routes of [`endpoints`], so a route cannot exist without
//! declaring its access; the `Allowed<P>` guard in each handler checks that `P` is what the table
//! declares (500 otherwise), and `tests/server/every_route_requires_auth.rs` walks the table and checks
//! 401/403/2xx for each route.
use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, Route, web};
use mcp_rbac::Permission;

use crate::error::ApiError;

pub mod admin;
pub mod audit;
pub mod auth;
pub mod docs;
pub mod graph;
pub mod health;
pub mod tools;

/// What a route requires of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, metrics, token issue, API docs).
    Public,
    /// Any valid token.
    Authenticated,
    /// A valid token whose user holds this permission.
    Permission(Permission),
}

/// One route.
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path pattern, as actix matches it (`/api/v1/users/{username}`).
    pub path: &'static str,
    /// What the route requires.
    pub access: Access,
    route: fn() -> Route,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({:?})", self.method, self.path, self.access)
    }
}

macro_rules! endpoint {
    ($method:ident $path:literal, $access:expr, $handler:path) => {
        Endpoint {
            method: Method::$method,
            path: $path,
            access: $access,
            route: || web::method(Method::$method).to($handler),
        }
    };
}

fn perm(p: Permission) -> Access {
    Access::Permission(p)
}

/// The route table.
pub fn endpoints() -> &'static [Endpoint] {
    static TABLE: OnceLock<Vec<Endpoint>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use Access::{Authenticated, Public};
        vec![
            endpoint!(GET "/health", Public, health::health),
            endpoint!(GET "/ready", Public, health::ready),
            endpoint!(GET "/metrics", Public, health::metrics),
            endpoint!(GET "/api-docs/openapi.json", Public, docs::openapi_json),
            endpoint!(POST "/auth/token", Public, auth::token),
            endpoint!(POST "/auth/revoke", Authenticated, auth::revoke),
            endpoint!(GET "/api/v1/me", Authenticated, auth::me),
            endpoint!(POST "/api/v1/execute", perm(Permission::TOOLS_EXECUTE), tools::execute),
            endpoint!(POST "/api/v1/lint", perm(Permission::TOOLS_LINT), tools::lint),
            endpoint!(POST "/api/v1/test", perm(Permission::TOOLS_TEST), tools::test),
            endpoint!(POST "/api/v1/generate", perm(Permission::TOOLS_GENERATE), tools::generate),
            endpoint!(GET "/api/v1/templates", perm(Permission::TOOLS_GENERATE), tools::templates),
            endpoint!(GET "/api/v1/tools", perm(Permission::TOOLS_READ), tools::list),
            endpoint!(POST "/api/v1/graph/query", perm(Permission::GRAPH_QUERY), graph::query),
            endpoint!(GET "/api/v1/graph/stats", perm(Permission::GRAPH_QUERY), graph::stats),
            endpoint!(POST "/api/v1/graph/nodes", perm(Permission::GRAPH_UPSERT), graph::upsert_nodes),
            endpoint!(DELETE "/api/v1/graph/nodes", perm(Permission::GRAPH_DELETE), graph::delete_nodes),
            endpoint!(POST "/api/v1/graph/relationships", perm(Permission::GRAPH_UPSERT), graph::upsert_relationships),
            endpoint!(DELETE "/api/v1/graph/relationships", perm(Permission::GRAPH_DELETE), graph::delete_relationships),
            endpoint!(GET "/api/v1/audit", perm(Permission::SYSTEM_ADMIN), audit::query),
            endpoint!(GET "/api/v1/audit/verify", perm(Permission::SYSTEM_ADMIN), audit::verify),
            endpoint!(GET "/api/v1/users", perm(Permission::SYSTEM_ADMIN), admin::list_users),
            endpoint!(POST "/api/v1/users", perm(Permission::SYSTEM_ADMIN), admin::create_user),
            endpoint!(POST "/api/v1/users/{username}/disable", perm(Permission::SYSTEM_ADMIN), admin::disable_user),
            endpoint!(POST "/api/v1/users/{username}/enable", perm(Permission::SYSTEM_ADMIN), admin::enable_user),
            endpoint!(POST "/api/v1/users/{username}/roles", perm(Permission::SYSTEM_ADMIN), admin::assign_role),
            endpoint!(DELETE "/api/v1/users/{username}/roles/{role}", perm(Permission::SYSTEM_ADMIN), admin::revoke_role),
            endpoint!(GET "/api/v1/roles", perm(Permission::SYSTEM_ADMIN), admin::list_roles),
        ]
    })
}

/// The table as JSON lines: `{"method", "path", "access"}` with access `public`,
/// `authenticated` or the permission (`mcp-server routes`).
pub fn table_json_lines() -> Vec<String> {
    endpoints()
        .iter()
        .map(|e| {
            let access = match &e.access {
                Access::Public => "public".to_owned(),
                Access::Authenticated => "authenticated".to_owned(),
                Access::Permission(p) => p.to_string(),
            };
            serde_json::json!({ "method": e.method.as_str(), "path": e.path, "access": access })
                .to_string()
        })
        .collect()
}

/// The access the table declares for the route `req` matched.
pub fn declared_access(req: &HttpRequest) -> Option<Access> {
    let pattern = req.match_pattern()?;
    endpoints()
        .iter()
        .find(|e| e.method == req.method() && e.path == pattern)
        .map(|e| e.access.clone())
}

/// Registers every route of the table (one resource per path, 405 for other methods).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for e in endpoints() {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path).default_service(web::to(method_not_allowed));
        for e in endpoints().iter().filter(|e| e.path == path) {
            resource = resource.route((e.route)());
        }
        cfg.service(resource);
    }
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// The answer for paths no route matches.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_table_entries_share_method_and_path() {
        let all = endpoints();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{a:?} twice");
            }
        }
    }

    #[test]
    fn every_api_route_requires_a_token() {
        for e in endpoints().iter().filter(|e| e.path.starts_with("/api/v1")) {
            assert_ne!(e.access, Access::Public, "{e:?}");
        }
    }
}
