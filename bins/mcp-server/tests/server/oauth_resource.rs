//! The OAuth resource server in-process: Protected Resource Metadata, the challenges of 401 and
//! 403 answers (from the configured public URL, never the `Host` header), audience-bound tokens
//! and scopes intersected with roles (step-up), with legacy tokens still working.
use actix_web::test::{self, TestRequest};
use actix_web::web;
use mcp_jwt::TokenOptions;
use mcp_server::AppState;
use mcp_server::config::Config;
use mcp_server::mcp::{McpConfig, McpHttp};
use serde_json::{Value, json};

use super::common::{error_code, state, test_config};
use crate::send;

const PUBLIC: &str = "https://mcp.example.com";
const MCP_METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const API_METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource";

fn config() -> Config {
    let mut config = test_config();
    config.http.public_url = Some(PUBLIC.into());
    config
}

macro_rules! app {
    ($state:expr) => {
        test::init_service(
            mcp_server::app(web::Data::new($state.clone()))
                .app_data(web::Data::new(McpHttp::new(&McpConfig::default()))),
        )
        .await
    };
}

/// A user with `roles` and a token issued with `options` (an OAuth-style token).
async fn token_with(state: &AppState, name: &str, roles: &[&str], options: TokenOptions) -> String {
    let user = state.users.create(name, "not-a-hash").await.unwrap();
    let az = state.authorizer.as_ref().unwrap();
    for role in roles {
        az.assign_role(&user.id, role).await.unwrap();
    }
    let roles = az.roles_of(&user.id).await.unwrap();
    state
        .issuer
        .issue_with(&user.id, roles, options)
        .unwrap()
        .token
}

fn oauth_token(scopes: &[&str]) -> TokenOptions {
    TokenOptions::new()
        .audience(format!("{PUBLIC}/mcp"))
        .scope(scopes.iter().copied())
        .client_id("test-client")
}

fn bearer(req: TestRequest, token: &str) -> TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

fn www_authenticate(r: &super::common::Reply) -> String {
    r.headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn audit_reasons(state: &AppState, event: mcp_audit::EventType) -> Vec<Value> {
    state
        .audit
        .flush(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let filter = mcp_audit::AuditFilter::new().event_type(event);
    state
        .audit
        .query(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::to_value(&e.event.details).unwrap())
        .collect()
}

#[actix_web::test]
async fn protected_resource_metadata_is_published_for_the_mcp_endpoint_and_the_api() {
    let state = state(config());
    let app = app!(state);
    let r = send!(
        &app,
        TestRequest::get().uri("/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["resource"], json!("https://mcp.example.com/mcp"));
    assert_eq!(r.body["authorization_servers"], json!([PUBLIC]));
    assert_eq!(r.body["bearer_methods_supported"], json!(["header"]));
    let scopes: Vec<&str> = r.body["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for p in mcp_rbac::Permission::BUILTIN {
        assert!(scopes.contains(&p.as_str()), "{p} missing from {scopes:?}");
    }
    assert_eq!(r.headers.get("access-control-allow-origin").unwrap(), "*");
    let r = send!(
        &app,
        TestRequest::get().uri("/.well-known/oauth-protected-resource")
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["resource"], json!(PUBLIC));
}

#[actix_web::test]
async fn every_401_names_the_metadata_of_the_configured_url_never_the_host_header() {
    let state = state(config());
    let app = app!(state);
    // REST: the route's permission is the scope to ask for.
    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/tools")
            .insert_header(("Host", "evil.example"))
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        www_authenticate(&r),
        format!("Bearer scope=\"tools:read\", resource_metadata=\"{API_METADATA}\"")
    );
    // A refused token says so.
    let r = send!(
        &app,
        bearer(TestRequest::get().uri("/api/v1/me"), "not-a-token")
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        www_authenticate(&r),
        format!("Bearer error=\"invalid_token\", resource_metadata=\"{API_METADATA}\"")
    );
    // MCP: its own resource, no scope (clients ask for what the metadata lists).
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/mcp")
            .insert_header(("Host", "localhost"))
            .insert_header(("content-type", "application/json"))
            .insert_header(("accept", "application/json, text/event-stream"))
            .set_payload(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        www_authenticate(&r),
        format!("Bearer resource_metadata=\"{MCP_METADATA}\"")
    );
}

#[actix_web::test]
async fn without_a_public_url_the_challenge_is_plain_and_no_metadata_is_published() {
    let mut config = test_config();
    config.http.host = "0.0.0.0".into();
    let state = state(config);
    assert!(state.resource_server.is_none());
    let app = app!(state);
    let r = send!(&app, TestRequest::get().uri("/api/v1/tools"));
    assert_eq!(r.status, 401);
    assert_eq!(www_authenticate(&r), "Bearer");
    let r = send!(
        &app,
        TestRequest::get().uri("/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(r.status, 404);
    assert_eq!(error_code(&r), "not_found");
}

#[actix_web::test]
async fn a_token_for_another_resource_is_refused_and_ours_and_legacy_ones_are_accepted() {
    let state = state(config());
    let app = app!(state);
    let elsewhere = token_with(
        &state,
        "eve",
        &["admin"],
        TokenOptions::new().audience("https://other.example/mcp"),
    )
    .await;
    let r = send!(
        &app,
        bearer(TestRequest::get().uri("/api/v1/me"), &elsewhere)
    );
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(www_authenticate(&r).starts_with("Bearer error=\"invalid_token\""));
    // Refused and audited, with the reason.
    let refused = audit_reasons(&state, mcp_audit::EventType::TokenValidation).await;
    assert!(
        refused
            .iter()
            .any(|d| d["reason"] == json!("wrong_audience")),
        "{refused:?}"
    );
    for (name, options) in [
        ("ann", TokenOptions::new().audience(format!("{PUBLIC}/mcp"))),
        ("api", TokenOptions::new().audience(PUBLIC)),
        ("old", TokenOptions::new()),
    ] {
        let token = token_with(&state, name, &["viewer"], options).await;
        let r = send!(
            &app,
            bearer(TestRequest::get().uri("/api/v1/tools"), &token)
        );
        assert_eq!(r.status, 200, "{name}: {}", r.text);
    }
}

#[actix_web::test]
async fn scopes_limit_what_the_roles_allow_and_a_missing_scope_asks_for_step_up() {
    let state = state(config());
    let app = app!(state);
    let narrow = token_with(&state, "dev", &["developer"], oauth_token(&["tools:read"])).await;
    let r = send!(
        &app,
        bearer(TestRequest::get().uri("/api/v1/tools"), &narrow)
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let execute = TestRequest::post()
        .uri("/api/v1/execute")
        .set_json(json!({"language": "python", "code": "print(\"hi\")"}));
    let r = send!(&app, bearer(execute, &narrow));
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(error_code(&r), "insufficient_scope");
    assert_eq!(
        www_authenticate(&r),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"tools:execute\", resource_metadata=\"{API_METADATA}\""
        )
    );
    // A scope the roles do not grant gives nothing: a plain 403, no step-up offered.
    let viewer = token_with(
        &state,
        "vic",
        &["viewer"],
        oauth_token(&["tools:read", "tools:execute"]),
    )
    .await;
    let execute = TestRequest::post()
        .uri("/api/v1/execute")
        .set_json(json!({"language": "python", "code": "print(\"hi\")"}));
    let r = send!(&app, bearer(execute, &viewer));
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(error_code(&r), "permission_denied");
    assert_eq!(www_authenticate(&r), "");
    // Both refusals are audited, the scope one with its reason and the client.
    let denied = audit_reasons(&state, mcp_audit::EventType::AuthzDenied).await;
    assert!(
        denied.iter().any(|d| d["reason"]
            .as_str()
            .is_some_and(|r| r.contains("scope does not include tools:execute"))
            && d["client_id"] == json!("test-client")),
        "{denied:?}"
    );
    // With the scope, the call goes through.
    let wide = token_with(
        &state,
        "dan",
        &["developer"],
        oauth_token(&["tools:read", "tools:execute"]),
    )
    .await;
    let execute = TestRequest::post()
        .uri("/api/v1/execute")
        .set_json(json!({"language": "python", "code": "print(\"hi\")"}));
    let r = send!(&app, bearer(execute, &wide));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[actix_web::test]
async fn an_mcp_tool_call_outside_the_token_scope_is_a_403_step_up_challenge() {
    let state = state(config());
    let app = app!(state);
    let narrow = token_with(&state, "dev", &["developer"], oauth_token(&["tools:read"])).await;
    let post = |body: &str| {
        bearer(
            TestRequest::post()
                .uri("/mcp")
                .insert_header(("Host", "localhost"))
                .insert_header(("content-type", "application/json"))
                .insert_header(("accept", "application/json, text/event-stream"))
                .set_payload(body.to_owned()),
            &narrow,
        )
    };
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let res = test::call_service(&app, post(init).to_request()).await;
    assert_eq!(res.status(), 200);
    let session = res.headers().get("mcp-session-id").unwrap().clone();
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_code","arguments":{"language":"python","code":"print(1)"}}}"#;
    let r = send!(&app, post(call).insert_header(("mcp-session-id", session)));
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        www_authenticate(&r),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"tools:execute\", resource_metadata=\"{MCP_METADATA}\""
        )
    );
    assert_eq!(r.body["id"], json!(2));
    assert_eq!(r.body["error"]["code"], json!(-32003));
}
