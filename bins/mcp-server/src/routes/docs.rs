//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and types.
use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    account, admin, audit, auth, consents, console, gateway, graph, health, neighborhood, oauth,
    status, tools,
};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "mcp-server", description = "The MCP platform REST API. Every error has the shape \
        {\"error\": {\"code\", \"message\", \"request_id\"}}."),
    paths(
        health::health, health::ready, health::metrics, openapi_json,
        auth::token, auth::revoke, auth::me, account::change_password,
        tools::execute, tools::lint, tools::test, tools::generate, tools::templates, tools::list,
        graph::query, graph::stats, graph::upsert_nodes, graph::delete_nodes,
        graph::upsert_relationships, graph::delete_relationships,
        audit::query, audit::verify,
        admin::list_users, admin::create_user, admin::disable_user, admin::enable_user,
        admin::unlock_user,
        admin::assign_role, admin::revoke_role, admin::reset_password, admin::delete_user,
        admin::list_roles,
        neighborhood::neighborhood, status::status,
        console::root, console::console_redirect, console::index, console::file,
        gateway::tools, gateway::call_tool, gateway::resources, gateway::read_resource,
        gateway::prompts, gateway::get_prompt, gateway::upstreams, gateway::pins,
        gateway::approve, gateway::reject,
        oauth::api_metadata, oauth::mcp_metadata, oauth::server_metadata,
        oauth::openid_configuration, oauth::authorize, oauth::login, oauth::consent, oauth::token,
        oauth::token_preflight, oauth::revoke, oauth::revoke_preflight, oauth::register,
        oauth::register_preflight,
        consents::list_own, consents::revoke_own, consents::list_of_user,
        consents::revoke_of_user,
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON (built once).
pub fn openapi_text() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
    })
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api-docs/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        for e in crate::routes::endpoints() {
            let method = e.method.as_str().to_ascii_lowercase();
            assert!(
                doc["paths"][e.path][&method].is_object(),
                "{e:?} missing from the OpenAPI document"
            );
        }
    }

    #[test]
    fn the_openapi_document_has_no_route_outside_the_table() {
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                let known = crate::routes::endpoints()
                    .iter()
                    .any(|e| e.path == path && e.method.as_str().eq_ignore_ascii_case(method));
                assert!(known, "{method} {path} documented but not routed");
            }
        }
    }
}
