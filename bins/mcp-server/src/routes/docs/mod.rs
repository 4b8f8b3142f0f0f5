//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and types
//! and made exact by its `exact` module (what the attributes cannot say).
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

mod exact;
mod protocol;
pub mod reference;

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
        reference::redirect, reference::index, reference::file,
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

/// The document of a server with the default configuration, as JSON (built once).
pub fn openapi_text() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let config = crate::config::Config::default();
        let generator = mcp_sandbox::tools::Generator::builtin();
        build(
            &config.sandbox.max_limits,
            policy_roles(None),
            generator.templates(),
        )
    })
}

/// The roles of the policy `authorizer` enforces (the built-in roles without one).
fn policy_roles(authorizer: Option<&mcp_rbac::Authorizer>) -> Vec<String> {
    match authorizer {
        Some(a) => a.policy().roles().map(str::to_owned).collect(),
        None => mcp_rbac::Policy::builtin()
            .roles()
            .map(str::to_owned)
            .collect(),
    }
}

fn build(
    max_limits: &mcp_sandbox::Limits,
    roles: Vec<String>,
    templates: &[mcp_sandbox::tools::TemplateInfo],
) -> String {
    let Ok(mut doc) = serde_json::to_value(ApiDoc::openapi()) else {
        return "{}".to_owned();
    };
    let facts = exact::Facts {
        max_limits,
        roles,
        templates,
    };
    exact::finish(&mut doc, &facts);
    serde_json::to_string(&doc).unwrap_or_else(|_| "{}".to_owned())
}

/// The document of this server (its sandbox maxima and roles), built once per configuration.
pub fn openapi_for(state: &AppState) -> Arc<str> {
    type Built = (mcp_sandbox::Limits, Vec<String>, Arc<str>);
    static BUILT: Mutex<Vec<Built>> = Mutex::new(Vec::new());
    let max = &state.config.sandbox.max_limits;
    let roles = policy_roles(state.authorizer.as_ref());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, _, text)) = built.iter().find(|(m, r, _)| m == max && *r == roles) {
        return Arc::clone(text);
    }
    let text: Arc<str> = build(max, roles.clone(), state.generator.templates()).into();
    // A process has one configuration; tests build a few.
    if built.len() >= 8 {
        built.remove(0);
    }
    built.push((max.clone(), roles, Arc::clone(&text)));
    text
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api-docs/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_for(&state).to_string())
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
