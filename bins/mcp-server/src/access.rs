//! The permission table: every operation the server offers, named by its REST route, with the
//! access it requires.
//!
//! Both transports read this one table, which sits below them (docs/architecture.md, "Layers"):
//! the REST route table (`routes`) registers one handler per [`Rule`] and the `Allowed<P>` guard
//! checks that the handler's `P` is the rule's permission; the MCP tools, resources and prompts
//! each name the rule of the operation they mirror, so a tool and its REST route can never
//! require different permissions.
use actix_web::http::Method;
use mcp_rbac::Permission;

/// What an operation requires of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, metrics, token issue, API docs).
    Public,
    /// Any valid token.
    Authenticated,
    /// A valid token whose user holds this permission.
    Permission(Permission),
}

/// One operation: its REST route and what it requires.
#[derive(Debug, Clone)]
pub struct Rule {
    /// HTTP method of the REST route.
    pub method: Method,
    /// Path pattern of the REST route, as actix matches it (`/api/v1/users/{username}`).
    pub path: &'static str,
    /// What calling it requires.
    pub access: Access,
}

const fn perm(p: Permission) -> Access {
    Access::Permission(p)
}

macro_rules! rules {
    ($($(#[$doc:meta])* $name:ident = $method:ident $path:literal, $access:expr;)*) => {
        $(
            $(#[$doc])*
            pub const $name: Rule = Rule { method: Method::$method, path: $path, access: $access };
        )*
        /// Every rule, in the order the REST routes are registered.
        pub const TABLE: &[Rule] = &[$($name),*];
    };
}

use Access::{Authenticated, Public};

rules! {
    /// The front page: a redirect to the web console.
    ROOT = GET "/", Public;
    /// The web console without its trailing slash: a redirect.
    CONSOLE = GET "/console", Public;
    /// The web console's page.
    CONSOLE_INDEX = GET "/console/", Public;
    /// The web console's scripts, styles and vendored libraries.
    CONSOLE_FILE = GET "/console/{file}", Public;
    /// Liveness.
    HEALTH = GET "/health", Public;
    /// Readiness of every store and the sandbox.
    READY = GET "/ready", Public;
    /// Prometheus metrics.
    METRICS = GET "/metrics", Public;
    /// The OpenAPI document.
    OPENAPI_JSON = GET "/api-docs/openapi.json", Public;
    /// Protected Resource Metadata of the REST API (RFC 9728).
    OAUTH_RESOURCE_METADATA = GET "/.well-known/oauth-protected-resource", Public;
    /// Protected Resource Metadata of the MCP endpoint (RFC 9728, where MCP clients look).
    OAUTH_MCP_RESOURCE_METADATA = GET "/.well-known/oauth-protected-resource/mcp", Public;
    /// Authorization Server Metadata (RFC 8414).
    OAUTH_SERVER_METADATA = GET "/.well-known/oauth-authorization-server", Public;
    /// The same document at the OpenID discovery path.
    OAUTH_OPENID_CONFIGURATION = GET "/.well-known/openid-configuration", Public;
    /// OAuth authorization request: the log-in page.
    OAUTH_AUTHORIZE = GET "/oauth/authorize", Public;
    /// OAuth log-in form.
    OAUTH_LOGIN = POST "/oauth/login", Public;
    /// OAuth consent form.
    OAUTH_CONSENT = POST "/oauth/consent", Public;
    /// OAuth token endpoint (code + PKCE, refresh).
    OAUTH_TOKEN = POST "/oauth/token", Public;
    /// CORS preflight of the token endpoint.
    OAUTH_TOKEN_PREFLIGHT = OPTIONS "/oauth/token", Public;
    /// OAuth token revocation (RFC 7009).
    OAUTH_REVOKE = POST "/oauth/revoke", Public;
    /// CORS preflight of the revocation endpoint.
    OAUTH_REVOKE_PREFLIGHT = OPTIONS "/oauth/revoke", Public;
    /// OAuth Dynamic Client Registration (RFC 7591).
    OAUTH_REGISTER = POST "/oauth/register", Public;
    /// CORS preflight of the registration endpoint.
    OAUTH_REGISTER_PREFLIGHT = OPTIONS "/oauth/register", Public;
    /// The OAuth clients connected to the caller's account (not with a third-party client's token).
    OAUTH_MY_CONSENTS = GET "/api/v1/me/oauth/consents", Authenticated;
    /// Disconnect a client from the caller's account (consent, grants and their tokens).
    OAUTH_MY_CONSENT_REVOKE = DELETE "/api/v1/me/oauth/consents/{client_id}", Authenticated;
    /// The OAuth clients connected to a user's account.
    OAUTH_USER_CONSENTS = GET "/api/v1/users/{username}/oauth/consents", perm(Permission::SYSTEM_ADMIN);
    /// Disconnect a client from a user's account.
    OAUTH_USER_CONSENT_REVOKE = DELETE "/api/v1/users/{username}/oauth/consents/{client_id}", perm(Permission::SYSTEM_ADMIN);
    /// The interactive API reference without its trailing slash: a redirect.
    API_DOCS = GET "/api-docs", Public;
    /// The interactive API reference (Swagger UI).
    API_DOCS_INDEX = GET "/api-docs/", Public;
    /// The API reference's script, styles, vendored library and its licences.
    API_DOCS_FILE = GET "/api-docs/{file}", Public;
    /// Log in: password → token.
    AUTH_TOKEN = POST "/auth/token", Public;
    /// Revoke a token.
    AUTH_REVOKE = POST "/auth/revoke", Authenticated;
    /// The caller's identity.
    ME = GET "/api/v1/me", Authenticated;
    /// Change one's own password.
    ME_PASSWORD = POST "/api/v1/me/password", Authenticated;
    /// Run code in the sandbox.
    EXECUTE = POST "/api/v1/execute", perm(Permission::TOOLS_EXECUTE);
    /// Lint code.
    LINT = POST "/api/v1/lint", perm(Permission::TOOLS_LINT);
    /// Run tests in the sandbox.
    TEST = POST "/api/v1/test", perm(Permission::TOOLS_TEST);
    /// Render a code template.
    GENERATE = POST "/api/v1/generate", perm(Permission::TOOLS_GENERATE);
    /// List the code templates.
    TEMPLATES = GET "/api/v1/templates", perm(Permission::TOOLS_GENERATE);
    /// List the tools.
    TOOLS = GET "/api/v1/tools", perm(Permission::TOOLS_READ);
    /// Read-only Cypher query.
    GRAPH_QUERY = POST "/api/v1/graph/query", perm(Permission::GRAPH_QUERY);
    /// Node and relationship counts.
    GRAPH_STATS = GET "/api/v1/graph/stats", perm(Permission::GRAPH_QUERY);
    /// A node with its direct relationships and neighbours.
    GRAPH_NEIGHBORHOOD = GET "/api/v1/graph/neighborhood", perm(Permission::GRAPH_QUERY);
    /// Create or update nodes.
    GRAPH_UPSERT_NODES = POST "/api/v1/graph/nodes", perm(Permission::GRAPH_UPSERT);
    /// Delete nodes.
    GRAPH_DELETE_NODES = DELETE "/api/v1/graph/nodes", perm(Permission::GRAPH_DELETE);
    /// Create or update relationships.
    GRAPH_UPSERT_RELATIONSHIPS = POST "/api/v1/graph/relationships", perm(Permission::GRAPH_UPSERT);
    /// Delete relationships.
    GRAPH_DELETE_RELATIONSHIPS = DELETE "/api/v1/graph/relationships", perm(Permission::GRAPH_DELETE);
    /// Query the audit log.
    AUDIT_QUERY = GET "/api/v1/audit", perm(Permission::SYSTEM_ADMIN);
    /// Verify the audit log's hash chain.
    AUDIT_VERIFY = GET "/api/v1/audit/verify", perm(Permission::SYSTEM_ADMIN);
    /// List users.
    USERS_LIST = GET "/api/v1/users", perm(Permission::SYSTEM_ADMIN);
    /// Create a user.
    USERS_CREATE = POST "/api/v1/users", perm(Permission::SYSTEM_ADMIN);
    /// Disable a user.
    USER_DISABLE = POST "/api/v1/users/{username}/disable", perm(Permission::SYSTEM_ADMIN);
    /// Enable a user.
    USER_ENABLE = POST "/api/v1/users/{username}/enable", perm(Permission::SYSTEM_ADMIN);
    /// Lift a user's log-in lock-out.
    USER_UNLOCK = POST "/api/v1/users/{username}/unlock", perm(Permission::SYSTEM_ADMIN);
    /// Assign a role to a user.
    USER_ROLE_ASSIGN = POST "/api/v1/users/{username}/roles", perm(Permission::SYSTEM_ADMIN);
    /// Remove a role from a user.
    USER_ROLE_REVOKE = DELETE "/api/v1/users/{username}/roles/{role}", perm(Permission::SYSTEM_ADMIN);
    /// Set a user's password (an administrator's reset).
    USER_PASSWORD = POST "/api/v1/users/{username}/password", perm(Permission::SYSTEM_ADMIN);
    /// Delete a user.
    USER_DELETE = DELETE "/api/v1/users/{username}", perm(Permission::SYSTEM_ADMIN);
    /// List roles.
    ROLES_LIST = GET "/api/v1/roles", perm(Permission::SYSTEM_ADMIN);
    /// Version, storage backends, readiness and sandbox isolation layers.
    STATUS = GET "/api/v1/status", perm(Permission::SYSTEM_ADMIN);
    /// The upstream (gateway) tools the caller may call.
    GATEWAY_TOOLS = GET "/api/v1/gateway/tools", Authenticated;
    /// Call an upstream tool (checks `upstream:<namespace>:<tool>`).
    GATEWAY_TOOL_CALL = POST "/api/v1/gateway/tools/{name}", Authenticated;
    /// The upstream resources the caller may read.
    GATEWAY_RESOURCES = GET "/api/v1/gateway/resources", Authenticated;
    /// Read an upstream resource (checks `upstream:<namespace>:*`).
    GATEWAY_RESOURCE_READ = POST "/api/v1/gateway/resources/read", Authenticated;
    /// The upstream prompts the caller may get.
    GATEWAY_PROMPTS = GET "/api/v1/gateway/prompts", Authenticated;
    /// Get an upstream prompt (checks `upstream:<namespace>:*`).
    GATEWAY_PROMPT_GET = POST "/api/v1/gateway/prompts/{name}", Authenticated;
    /// The upstreams' health and counters.
    GATEWAY_UPSTREAMS = GET "/api/v1/gateway/upstreams", perm(Permission::SYSTEM_ADMIN);
    /// Pinned tool definitions and the changed ones awaiting a decision.
    GATEWAY_PINS = GET "/api/v1/gateway/pins", perm(Permission::SYSTEM_ADMIN);
    /// Approve a changed tool definition.
    GATEWAY_PIN_APPROVE = POST "/api/v1/gateway/pins/{namespace}/{tool}/approve", perm(Permission::SYSTEM_ADMIN);
    /// Reject a changed tool definition.
    GATEWAY_PIN_REJECT = POST "/api/v1/gateway/pins/{namespace}/{tool}/reject", perm(Permission::SYSTEM_ADMIN);
}

/// The rule of the REST route `method` + `path` (the pattern, not a concrete path).
pub fn rule(method: &Method, path: &str) -> Option<&'static Rule> {
    TABLE.iter().find(|r| r.method == method && r.path == path)
}

/// The table as JSON lines: `{"method", "path", "access"}` with access `public`,
/// `authenticated` or the permission (`mcp-server routes`).
pub fn table_json_lines() -> Vec<String> {
    TABLE
        .iter()
        .map(|r| {
            let access = match &r.access {
                Access::Public => "public".to_owned(),
                Access::Authenticated => "authenticated".to_owned(),
                Access::Permission(p) => p.to_string(),
            };
            serde_json::json!({ "method": r.method.as_str(), "path": r.path, "access": access })
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_rules_share_method_and_path() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{a:?} twice");
            }
        }
    }

    #[test]
    fn every_api_operation_requires_a_token() {
        for r in TABLE.iter().filter(|r| r.path.starts_with("/api/v1")) {
            assert_ne!(r.access, Access::Public, "{r:?}");
        }
    }

    #[test]
    fn a_rule_is_found_by_method_and_pattern_only() {
        assert_eq!(
            rule(&Method::POST, "/api/v1/execute").unwrap().path,
            EXECUTE.path
        );
        assert!(rule(&Method::GET, "/api/v1/execute").is_none());
        assert!(rule(&Method::POST, "/api/v1/users/alice/disable").is_none());
    }
}
