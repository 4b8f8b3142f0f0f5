//! The app in-process on memory backends: flows, limits and bad input.
use actix_web::test::{self, TestRequest};
use actix_web::web;
use serde_json::json;

use super::common::{error_code, state, test_config, user_with_roles};
use crate::send;

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

#[actix_web::test]
async fn health_answers_and_echoes_a_sane_request_id() {
    let app = test::init_service(mcp_server::app(web::Data::new(state(test_config())))).await;
    let r = send!(
        &app,
        TestRequest::get()
            .uri("/health")
            .insert_header(("X-Request-Id", "abc-123"))
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.headers.get("x-request-id").unwrap(), "abc-123");
    let r = send!(&app, TestRequest::get().uri("/health"));
    assert_eq!(r.headers.get("x-request-id").unwrap().len(), 36);
}

#[actix_web::test]
async fn log_in_execute_and_find_the_execution_in_the_audit_log_with_its_hash() {
    let state = state(test_config());
    let user = mcp_server::users::create_user(&*state.users, "alice", "correct horse battery")
        .await
        .unwrap();
    state
        .authorizer
        .as_ref()
        .unwrap()
        .assign_role(&user.id, "admin")
        .await
        .unwrap();
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;

    let r = send!(
        &app,
        TestRequest::post()
            .uri("/auth/token")
            .set_json(json!({"username": "alice", "password": "correct horse battery"}))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "bearer");
    assert!(r.body["expires_in"].as_u64().unwrap() > 3000);
    let token = r.body["access_token"].as_str().unwrap().to_owned();

    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/me")
            .insert_header(bearer(&token))
    );
    assert_eq!(r.body["username"], "alice", "{}", r.text);
    assert!(
        r.body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("system:admin"))
    );

    let code = "print(\"hello\")";
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/execute")
            .insert_header(bearer(&token))
            .set_json(json!({"language": "python", "code": code}))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stdout"], "hello\n");
    let hash = mcp_server::ops::tools::sha256_hex(code);
    assert_eq!(r.body["code_sha256"], hash);
    let run_request = r
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();

    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/audit?event_type=code_execution")
            .insert_header(bearer(&token))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let events = r.body.as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", r.text);
    assert_eq!(events[0]["event"]["details"]["code_sha256"], hash);
    assert_eq!(events[0]["event"]["details"]["language"], "python");
    assert_eq!(events[0]["event"]["user_id"], user.id);

    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/audit?event_type=authz_granted")
            .insert_header(bearer(&token))
    );
    let granted = r.body.as_array().unwrap();
    assert!(
        granted
            .iter()
            .any(|e| e["event"]["action"] == "tools:execute"
                && e["event"]["resource"] == "/api/v1/execute"
                && e["event"]["request_id"].is_string()),
        "{}",
        r.text
    );

    // The run's request: its permission check and its execution, and nothing else.
    let r = send!(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/audit?request_id={run_request}"))
            .insert_header(bearer(&token))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let kinds: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["event"]["request_id"], run_request.as_str());
            e["event"]["event_type"].as_str().unwrap()
        })
        .collect();
    assert_eq!(kinds, ["code_execution", "authz_granted"], "{}", r.text);
    // Cursors: the event just older than the execution, then what came after it.
    let newest = r.body[0]["seq"].as_u64().unwrap();
    let r = send!(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/audit?before_seq={newest}&limit=1"))
            .insert_header(bearer(&token))
    );
    assert_eq!(r.body[0]["seq"].as_u64(), Some(newest - 1), "{}", r.text);
    let r = send!(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/audit?after_seq={newest}&limit=1000"))
            .insert_header(bearer(&token))
    );
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["seq"].as_u64().unwrap() > newest),
        "{}",
        r.text
    );

    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/audit/verify")
            .insert_header(bearer(&token))
    );
    assert_eq!(r.status, 200);
    assert!(r.body["broken"].is_null(), "{}", r.text);
}

#[actix_web::test]
async fn unknown_user_and_wrong_password_get_the_same_answer_and_are_audited() {
    let state = state(test_config());
    mcp_server::users::create_user(&*state.users, "bob", "right password")
        .await
        .unwrap();
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let wrong = send!(
        &app,
        TestRequest::post()
            .uri("/auth/token")
            .set_json(json!({"username": "bob", "password": "wrong password"}))
    );
    let unknown = send!(
        &app,
        TestRequest::post()
            .uri("/auth/token")
            .set_json(json!({"username": "nobody", "password": "wrong password"}))
    );
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(
        wrong.body["error"]["message"],
        unknown.body["error"]["message"]
    );
    assert_eq!(error_code(&wrong), "invalid_credentials");
    state
        .audit
        .flush(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let filter = mcp_audit::AuditFilter::new().event_type(mcp_audit::EventType::AuthFailure);
    assert_eq!(state.audit.query(&filter).await.unwrap().len(), 2);
}

#[actix_web::test]
async fn repeated_failures_lock_the_user_name_out_with_retry_after() {
    let mut config = test_config();
    config.auth.max_failures_per_user = 3;
    let state = state(config);
    mcp_server::users::create_user(&*state.users, "carol", "right password")
        .await
        .unwrap();
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    for _ in 0..3 {
        let r = send!(
            &app,
            TestRequest::post()
                .uri("/auth/token")
                .set_json(json!({"username": "carol", "password": "wrong password"}))
        );
        assert_eq!(r.status, 401);
    }
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/auth/token")
            .set_json(json!({"username": "carol", "password": "right password"}))
    );
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(error_code(&r), "rate_limited");
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 300);
}

#[actix_web::test]
async fn executions_beyond_the_per_minute_limit_get_429_with_retry_after() {
    let mut config = test_config();
    config.limits.execute_per_minute = 2;
    let state = state(config);
    let token = user_with_roles(&state, "dev", &["developer"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let run = || {
        TestRequest::post()
            .uri("/api/v1/execute")
            .insert_header(bearer(&token))
            .set_json(json!({"language": "python", "code": "print(\"x\")"}))
    };
    assert_eq!(send!(&app, run()).status, 200);
    assert_eq!(send!(&app, run()).status, 200);
    let r = send!(&app, run());
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.get("retry-after").is_some());
}

#[actix_web::test]
async fn an_execution_whose_audit_event_cannot_be_stored_in_time_gets_503_audit_unavailable() {
    let mut config = test_config();
    config.audit.durable_timeout_ms = 100;
    let state = super::common::state_with_audit_down(config);
    let token = user_with_roles(&state, "dev", &["developer"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/execute")
            .insert_header(bearer(&token))
            .set_json(json!({"language": "python", "code": "print(\"x\")"}))
    );
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(error_code(&r), "audit_unavailable");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("the code was executed"), "{message}");
    assert!(message.contains("audit record"), "{message}");
}

#[actix_web::test]
async fn with_durable_timeout_zero_an_execution_answers_without_waiting_for_the_audit_store() {
    let mut config = test_config();
    config.audit.durable_timeout_ms = 0;
    let state = super::common::state_with_audit_down(config);
    let token = user_with_roles(&state, "dev", &["developer"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/execute")
            .insert_header(bearer(&token))
            .set_json(json!({"language": "python", "code": "print(\"x\")"}))
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[actix_web::test]
async fn a_revoked_token_is_refused() {
    let state = state(test_config());
    let token = user_with_roles(&state, "dave", &["viewer"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let me = || {
        TestRequest::get()
            .uri("/api/v1/me")
            .insert_header(bearer(&token))
    };
    assert_eq!(send!(&app, me()).status, 200);
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/auth/revoke")
            .insert_header(bearer(&token))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send!(&app, me());
    assert_eq!(r.status, 401);
    assert_eq!(error_code(&r), "invalid_token");
}

#[actix_web::test]
async fn only_an_admin_revokes_someone_elses_token() {
    let state = state(test_config());
    let victim = user_with_roles(&state, "victim", &["viewer"]).await;
    let other = user_with_roles(&state, "other", &["developer"]).await;
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let revoke = |by: &str| {
        TestRequest::post()
            .uri("/auth/revoke")
            .insert_header(bearer(by))
            .set_json(json!({"token": victim}))
    };
    assert_eq!(send!(&app, revoke(&other)).status, 403);
    assert_eq!(send!(&app, revoke(&admin)).status, 200);
    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/me")
            .insert_header(bearer(&victim))
    );
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn a_disabled_users_token_stops_working_at_once_even_when_the_user_is_cached() {
    let state = state(test_config());
    assert!(state.config.auth.user_cache_ttl_ms > 0, "the cache is on");
    let token = user_with_roles(&state, "erin", &["viewer"]).await;
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let me = || {
        TestRequest::get()
            .uri("/api/v1/me")
            .insert_header(bearer(&token))
    };
    assert_eq!(send!(&app, me()).status, 200, "erin is now cached");
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/users/erin/disable")
            .insert_header(bearer(&admin))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["disabled"], true);
    assert_eq!(send!(&app, me()).status, 401);
}

#[actix_web::test]
async fn a_role_revoked_through_the_api_counts_at_once_even_when_the_roles_are_cached() {
    let state = state(test_config());
    assert!(state.config.auth.role_cache_ttl_ms > 0, "the cache is on");
    let token = user_with_roles(&state, "ivan", &["admin"]).await;
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let users = || {
        TestRequest::get()
            .uri("/api/v1/users")
            .insert_header(bearer(&token))
    };
    assert_eq!(
        send!(&app, users()).status,
        200,
        "ivan's roles are now cached"
    );
    let r = send!(
        &app,
        TestRequest::delete()
            .uri("/api/v1/users/ivan/roles/admin")
            .insert_header(bearer(&admin))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // Taking a role away ends the sessions issued while the user held it.
    assert_eq!(send!(&app, users()).status, 401);
}

#[actix_web::test]
async fn bad_input_gets_400_413_415_422_in_the_error_shape_never_500() {
    let mut config = test_config();
    config.http.body_limit_bytes = 1024;
    let state = state(config);
    let token = user_with_roles(&state, "frank", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let post = |body: &str, ct: &str| {
        TestRequest::post()
            .uri("/api/v1/execute")
            .insert_header(bearer(&token))
            .insert_header(("Content-Type", ct.to_owned()))
            .set_payload(body.to_owned())
    };
    let cases = [
        (post("{not json", "application/json"), 400, "bad_request"),
        (
            post(r#"{"language": 3, "code": "x"}"#, "application/json"),
            422,
            "invalid_input",
        ),
        (
            post(
                r#"{"language": "python", "code": "x", "extra": 1}"#,
                "application/json",
            ),
            422,
            "invalid_input",
        ),
        (
            post(r#"{"language": "python"}"#, "application/json"),
            422,
            "invalid_input",
        ),
        (
            post(r#"{"language": "cobol", "code": "x"}"#, "application/json"),
            422,
            "invalid_input",
        ),
        (
            post(
                &format!(
                    r#"{{"language": "python", "code": "{}"}}"#,
                    "x".repeat(2000)
                ),
                "application/json",
            ),
            413,
            "payload_too_large",
        ),
        (
            post(r#"{"language": "python", "code": "x"}"#, "text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            TestRequest::get()
                .uri("/api/v1/audit?limit=lots")
                .insert_header(bearer(&token)),
            400,
            "bad_request",
        ),
        (
            TestRequest::get()
                .uri("/api/v1/audit?since=yesterday")
                .insert_header(bearer(&token)),
            400,
            "bad_request",
        ),
        (
            TestRequest::get()
                .uri("/api/v1/audit?bogus=1")
                .insert_header(bearer(&token)),
            400,
            "bad_request",
        ),
        (
            TestRequest::get()
                .uri("/api/v1/audit?event_type=nope")
                .insert_header(bearer(&token)),
            400,
            "bad_request",
        ),
        (
            TestRequest::get()
                .uri("/api/v1/audit?request_id=%3Cscript%3E")
                .insert_header(bearer(&token)),
            400,
            "bad_request",
        ),
        (
            TestRequest::get()
                .uri("/api/v1/audit?before_seq=-1")
                .insert_header(bearer(&token)),
            400,
            "bad_request",
        ),
        (TestRequest::get().uri("/no/such/route"), 404, "not_found"),
        (
            TestRequest::put().uri("/api/v1/execute"),
            405,
            "method_not_allowed",
        ),
        (
            TestRequest::post()
                .uri("/api/v1/graph/query")
                .insert_header(bearer(&token))
                .set_json(json!({"cypher": "MATCH (n) DETACH DELETE n"})),
            422,
            "invalid_input",
        ),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let r = send!(&app, req);
        assert_eq!(r.status, status, "case {i}: {}", r.text);
        assert_eq!(error_code(&r), code, "case {i}");
    }
    // The optional-body route reads raw bytes: same shapes.
    let revoke = |body: String, ct: &str| {
        TestRequest::post()
            .uri("/auth/revoke")
            .insert_header(bearer(&token))
            .insert_header(("Content-Type", ct.to_owned()))
            .set_payload(body)
    };
    let cases = [
        (
            revoke("x".repeat(2000), "application/json"),
            413,
            "payload_too_large",
        ),
        (
            revoke("{oops".into(), "application/json"),
            400,
            "bad_request",
        ),
        (
            revoke(r#"{"token": 5}"#.into(), "application/json"),
            422,
            "invalid_input",
        ),
        (
            revoke(r#"{"token": "x"}"#.into(), "text/plain"),
            415,
            "unsupported_media_type",
        ),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let r = send!(&app, req);
        assert_eq!(r.status, status, "revoke case {i}: {}", r.text);
        assert_eq!(error_code(&r), code, "revoke case {i}");
    }
}

#[actix_web::test]
async fn a_request_over_the_timeout_gets_503_in_the_error_shape() {
    let mut config = test_config();
    config.http.request_timeout_secs = 1;
    let state = state(config);
    let token = user_with_roles(&state, "gina", &["developer"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let req = TestRequest::post()
        .uri("/api/v1/execute")
        .insert_header(bearer(&token))
        .set_json(json!({"language": "python", "code": "sleep"}));
    // The middleware answers with an error (the request itself is still inside the handler);
    // the HTTP server renders it as the test does here.
    let err = test::try_call_service(&app, req.to_request())
        .await
        .err()
        .expect("timeout error");
    let res = actix_web::dev::ServiceResponse::new(
        TestRequest::default().to_http_request(),
        err.error_response(),
    );
    let r = super::common::reply(res).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(error_code(&r), "timeout");
    assert!(r.headers.get("x-request-id").is_some());
}

#[actix_web::test]
async fn graph_nodes_and_relationships_round_trip_and_count() {
    let state = state(test_config());
    let token = user_with_roles(&state, "gus", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    for key in ["ada", "charles"] {
        let r = send!(
            &app,
            TestRequest::post()
                .uri("/api/v1/graph/nodes")
                .insert_header(bearer(&token))
                .set_json(json!({"label": "Person", "key": key, "properties": {"name": key}}))
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/graph/relationships")
            .insert_header(bearer(&token))
            .set_json(
                json!({"from": {"label": "Person", "key": "ada"}, "type": "KNOWS",
                         "to": {"label": "Person", "key": "charles"}})
            )
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send!(&app, TestRequest::post().uri("/api/v1/graph/query").insert_header(bearer(&token))
        .set_json(json!({"cypher": "MATCH (p:Person {name: $name}) RETURN p.name", "params": {"name": "ada"}})));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/graph/stats")
            .insert_header(bearer(&token))
    );
    assert_eq!(
        (r.body["nodes"].as_u64(), r.body["relationships"].as_u64()),
        (Some(2), Some(1)),
        "{}",
        r.text
    );
    let r = send!(
        &app,
        TestRequest::delete()
            .uri("/api/v1/graph/nodes?label=Person&key=ada")
            .insert_header(bearer(&token))
    );
    assert_eq!(r.body["deleted"], true, "{}", r.text);
    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/graph/stats")
            .insert_header(bearer(&token))
    );
    assert_eq!(
        (r.body["nodes"].as_u64(), r.body["relationships"].as_u64()),
        (Some(1), Some(0))
    );
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let state = state(test_config());
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    send!(&app, TestRequest::get().uri("/health"));
    send!(&app, TestRequest::get().uri("/api/v1/me"));
    let r = send!(&app, TestRequest::get().uri("/metrics"));
    assert_eq!(r.status, 200);
    assert!(
        r.text
            .contains(r#"mcp_http_requests_total{method="GET",route="/health",status="200"} 1"#),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains(r#"mcp_auth_failures_total{reason="missing_token"} 1"#),
        "{}",
        r.text
    );
    assert!(r.text.contains("mcp_audit_queue_depth"));
}

#[actix_web::test]
async fn the_openapi_document_is_served() {
    let app = test::init_service(mcp_server::app(web::Data::new(state(test_config())))).await;
    let r = send!(&app, TestRequest::get().uri("/api-docs/openapi.json"));
    assert_eq!(r.status, 200);
    assert!(r.body["paths"]["/api/v1/execute"]["post"].is_object());
}

#[actix_web::test]
async fn admin_creates_a_user_who_then_logs_in() {
    let state = state(test_config());
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/users")
            .insert_header(bearer(&admin))
            .set_json(
                json!({"username": "hank", "password": "hank's password", "roles": ["developer"]})
            )
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["roles"], json!(["developer"]));
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/users")
            .insert_header(bearer(&admin))
            .set_json(json!({"username": "hank", "password": "another password"}))
    );
    assert_eq!(r.status, 409);
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/users")
            .insert_header(bearer(&admin))
            .set_json(json!({"username": "ivy", "password": "short"}))
    );
    assert_eq!(r.status, 422);
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/auth/token")
            .set_json(json!({"username": "hank", "password": "hank's password"}))
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

/// A memory role store that fails every call while `down` is set.
#[derive(Default)]
struct FlakyRoles {
    store: mcp_rbac::store::memory::MemoryRoleStore,
    down: std::sync::atomic::AtomicBool,
}

impl FlakyRoles {
    fn check(&self) -> Result<(), mcp_core::StoreError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(mcp_core::StoreError::unavailable("role store down"));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl mcp_rbac::RoleStore for FlakyRoles {
    async fn assign_role(&self, user: &str, role: &str) -> Result<bool, mcp_core::StoreError> {
        self.check()?;
        self.store.assign_role(user, role).await
    }
    async fn revoke_role(&self, user: &str, role: &str) -> Result<bool, mcp_core::StoreError> {
        self.check()?;
        self.store.revoke_role(user, role).await
    }
    async fn roles_of(&self, user: &str) -> Result<Vec<String>, mcp_core::StoreError> {
        self.check()?;
        self.store.roles_of(user).await
    }
    async fn users_with(&self, role: &str) -> Result<Vec<String>, mcp_core::StoreError> {
        self.check()?;
        self.store.users_with(role).await
    }
}

#[actix_web::test]
async fn ready_sees_a_role_store_outage_at_once_despite_the_role_cache() {
    let roles = std::sync::Arc::new(FlakyRoles::default());
    let mut backends = mcp_server::state::Backends::memory()
        .with_sandbox(std::sync::Arc::new(super::common::FakeSandbox::new()));
    backends.roles = roles.clone();
    let state = mcp_server::state::AppState::assemble(test_config(), backends).unwrap();
    assert!(state.config.auth.role_cache_ttl_ms > 0, "the cache is on");
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let r = send!(&app, TestRequest::get().uri("/ready"));
    assert_eq!(r.body["checks"]["roles"], "ok", "{}", r.text);
    roles.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = send!(&app, TestRequest::get().uri("/ready"));
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["checks"]["roles"], "down", "{}", r.text);
}
