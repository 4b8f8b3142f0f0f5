//! The REST route table: one handler for each rule of the permission table ([`crate::access`]).
//!
//! [`configure`] registers exactly the routes of [`endpoints`], and each endpoint takes its
//! method, path and access from its [`Rule`], so a route cannot exist
//! without declaring its access; the `Allowed<P>` guard in each handler checks that `P` is what
//! the table declares (500 otherwise), and `tests/server/every_route_requires_auth.rs` walks the
//! table and checks 401/403/2xx for each route.
use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, Route, web};

pub use crate::access::Access;
use crate::access::{self, Rule};
use crate::error::ApiError;

pub mod account;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod consents;
pub mod console;
pub mod docs;
pub mod gateway;
pub mod graph;
pub mod health;
pub mod neighborhood;
pub mod oauth;
pub mod status;
pub mod tools;

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
    ($rule:path, $handler:path) => {{
        const RULE: Rule = $rule;
        Endpoint {
            method: RULE.method,
            path: RULE.path,
            access: RULE.access,
            route: || web::method(RULE.method).to($handler),
        }
    }};
}

/// The route table: the rules of [`access::TABLE`] with their handlers.
pub fn endpoints() -> &'static [Endpoint] {
    static TABLE: OnceLock<Vec<Endpoint>> = OnceLock::new();
    TABLE.get_or_init(|| {
        vec![
            endpoint!(access::ROOT, console::root),
            endpoint!(access::CONSOLE, console::console_redirect),
            endpoint!(access::CONSOLE_INDEX, console::index),
            endpoint!(access::CONSOLE_FILE, console::file),
            endpoint!(access::HEALTH, health::health),
            endpoint!(access::READY, health::ready),
            endpoint!(access::METRICS, health::metrics),
            endpoint!(access::OPENAPI_JSON, docs::openapi_json),
            endpoint!(access::OAUTH_RESOURCE_METADATA, oauth::api_metadata),
            endpoint!(access::OAUTH_MCP_RESOURCE_METADATA, oauth::mcp_metadata),
            endpoint!(access::OAUTH_SERVER_METADATA, oauth::server_metadata),
            endpoint!(
                access::OAUTH_OPENID_CONFIGURATION,
                oauth::openid_configuration
            ),
            endpoint!(access::OAUTH_AUTHORIZE, oauth::authorize),
            endpoint!(access::OAUTH_LOGIN, oauth::login),
            endpoint!(access::OAUTH_CONSENT, oauth::consent),
            endpoint!(access::OAUTH_TOKEN, oauth::token),
            endpoint!(access::OAUTH_TOKEN_PREFLIGHT, oauth::token_preflight),
            endpoint!(access::OAUTH_REVOKE, oauth::revoke),
            endpoint!(access::OAUTH_REVOKE_PREFLIGHT, oauth::revoke_preflight),
            endpoint!(access::OAUTH_REGISTER, oauth::register),
            endpoint!(access::OAUTH_REGISTER_PREFLIGHT, oauth::register_preflight),
            endpoint!(access::OAUTH_MY_CONSENTS, consents::list_own),
            endpoint!(access::OAUTH_MY_CONSENT_REVOKE, consents::revoke_own),
            endpoint!(access::OAUTH_USER_CONSENTS, consents::list_of_user),
            endpoint!(access::OAUTH_USER_CONSENT_REVOKE, consents::revoke_of_user),
            endpoint!(access::API_DOCS, docs::reference::redirect),
            endpoint!(access::API_DOCS_INDEX, docs::reference::index),
            endpoint!(access::API_DOCS_FILE, docs::reference::file),
            endpoint!(access::AUTH_TOKEN, auth::token),
            endpoint!(access::AUTH_REVOKE, auth::revoke),
            endpoint!(access::ME, auth::me),
            endpoint!(access::ME_PASSWORD, account::change_password),
            endpoint!(access::EXECUTE, tools::execute),
            endpoint!(access::LINT, tools::lint),
            endpoint!(access::TEST, tools::test),
            endpoint!(access::GENERATE, tools::generate),
            endpoint!(access::TEMPLATES, tools::templates),
            endpoint!(access::TOOLS, tools::list),
            endpoint!(access::GRAPH_QUERY, graph::query),
            endpoint!(access::GRAPH_STATS, graph::stats),
            endpoint!(access::GRAPH_NEIGHBORHOOD, neighborhood::neighborhood),
            endpoint!(access::GRAPH_UPSERT_NODES, graph::upsert_nodes),
            endpoint!(access::GRAPH_DELETE_NODES, graph::delete_nodes),
            endpoint!(
                access::GRAPH_UPSERT_RELATIONSHIPS,
                graph::upsert_relationships
            ),
            endpoint!(
                access::GRAPH_DELETE_RELATIONSHIPS,
                graph::delete_relationships
            ),
            endpoint!(access::AUDIT_QUERY, audit::query),
            endpoint!(access::AUDIT_VERIFY, audit::verify),
            endpoint!(access::USERS_LIST, admin::list_users),
            endpoint!(access::USERS_CREATE, admin::create_user),
            endpoint!(access::USER_DISABLE, admin::disable_user),
            endpoint!(access::USER_ENABLE, admin::enable_user),
            endpoint!(access::USER_UNLOCK, admin::unlock_user),
            endpoint!(access::USER_ROLE_ASSIGN, admin::assign_role),
            endpoint!(access::USER_ROLE_REVOKE, admin::revoke_role),
            endpoint!(access::USER_PASSWORD, admin::reset_password),
            endpoint!(access::USER_DELETE, admin::delete_user),
            endpoint!(access::ROLES_LIST, admin::list_roles),
            endpoint!(access::STATUS, status::status),
            endpoint!(access::GATEWAY_TOOLS, gateway::tools),
            endpoint!(access::GATEWAY_TOOL_CALL, gateway::call_tool),
            endpoint!(access::GATEWAY_RESOURCES, gateway::resources),
            endpoint!(access::GATEWAY_RESOURCE_READ, gateway::read_resource),
            endpoint!(access::GATEWAY_PROMPTS, gateway::prompts),
            endpoint!(access::GATEWAY_PROMPT_GET, gateway::get_prompt),
            endpoint!(access::GATEWAY_UPSTREAMS, gateway::upstreams),
            endpoint!(access::GATEWAY_PINS, gateway::pins),
            endpoint!(access::GATEWAY_PIN_APPROVE, gateway::approve),
            endpoint!(access::GATEWAY_PIN_REJECT, gateway::reject),
        ]
    })
}

/// Registers every route of the table (one resource per path, 405 for other methods), each
/// behind [`crate::auth::guard_route`], which checks the declared access before the handler
/// reads the body or the query.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for e in endpoints() {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    for path in paths {
        let allow = endpoints()
            .iter()
            .filter(|e| e.path == path)
            .map(|e| e.method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource =
            web::resource(path).default_service(web::to(move || method_not_allowed(allow.clone())));
        for e in endpoints().iter().filter(|e| e.path == path) {
            resource = resource.route((e.route)());
        }
        cfg.service(resource.wrap(actix_web::middleware::from_fn(crate::auth::guard_route)));
    }
}

/// 405 with `Allow` naming the methods the path has (RFC 9110, 15.5.6).
async fn method_not_allowed(allow: String) -> HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    res
}

/// The answer for paths no route matches.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        mcp_core::bounded::text(req.method().as_str()),
        mcp_core::bounded::text(req.path())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_of_the_permission_table_has_exactly_one_route_and_no_route_lacks_one() {
        let routes = endpoints();
        assert_eq!(routes.len(), access::TABLE.len());
        for (route, rule) in routes.iter().zip(access::TABLE) {
            assert_eq!(
                (&route.method, route.path, &route.access),
                (&rule.method, rule.path, &rule.access),
                "routes are registered in the order of the permission table"
            );
        }
    }
}
