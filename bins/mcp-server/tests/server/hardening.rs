//! The edges a caller without a token reaches, and the order and completeness of the checks:
//! bounded audit events, the lock-out model, the bounded password checks, permission checks
//! before the body is read, token refusals and session ends, metric labels.
use std::time::Duration;

use actix_web::http::Method;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};
use mcp_audit::{AuditFilter, EventType, StoredEvent};
use mcp_server::AppState;
use mcp_server::routes::{Access, endpoints};
use serde_json::{Value, json};

use super::common::{error_code, state, test_config, user_with_roles};
use crate::send;

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

/// An Argon2id hash with the smallest parameters: log-in tests need real hashes, not 19 MiB
/// of work per attempt in a debug build.
fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).unwrap();
    let salt = [9u8; 16];
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .unwrap();
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).unwrap(),
        salt: Some(Salt::new(&salt).unwrap()),
        hash: Some(Output::new(&out).unwrap()),
    }
    .to_string()
}

/// Adds `name` with `password` (cheaply hashed) and `roles`; returns the user's id.
async fn account(state: &AppState, name: &str, password: &str, roles: &[&str]) -> String {
    let user = state
        .users
        .create(name, &cheap_hash(password))
        .await
        .unwrap();
    for role in roles {
        state
            .authorizer
            .as_ref()
            .unwrap()
            .assign_role(&user.id, role)
            .await
            .unwrap();
    }
    user.id
}

fn log_in(name: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/auth/token")
        .set_json(json!({"username": name, "password": password}))
}

fn log_in_from(name: &str, password: &str, peer: &str) -> TestRequest {
    log_in(name, password).peer_addr(format!("{peer}:40000").parse().unwrap())
}

async fn events(state: &AppState, filter: AuditFilter) -> Vec<StoredEvent> {
    state.audit.flush(Duration::from_secs(5)).await.unwrap();
    state.audit.query(&filter.limit(1000)).await.unwrap()
}

async fn of_type(state: &AppState, t: EventType) -> Vec<StoredEvent> {
    events(state, AuditFilter::new().event_type(t)).await
}

#[actix_web::test]
async fn a_failed_log_in_is_audited_once_bounded_and_never_under_a_user_id_the_caller_chose() {
    let state = state(test_config());
    let admin_id = account(&state, "root", "root-password", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    // A name equal to the admin's id, and a 200 KB name.
    let huge = "n".repeat(200_000);
    for name in [admin_id.as_str(), huge.as_str()] {
        let r = send!(&app, log_in(name, "whatever-password"));
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let failures = of_type(&state, EventType::AuthFailure).await;
    assert_eq!(failures.len(), 2, "one event per attempt");
    for f in &failures {
        assert_eq!(f.event.user_id, None, "{:?}", f.event);
        let json = serde_json::to_string(&f.event).unwrap();
        assert!(json.len() <= mcp_audit::MAX_EVENT_BYTES, "{}", json.len());
        let name = f.event.details["username"].as_str().unwrap();
        assert!(name.len() <= mcp_core::bounded::MAX_TEXT_BYTES);
        assert!(
            !json.contains(&"n".repeat(1000)),
            "the name is stored once, cut"
        );
    }
    // A wrong password for a real account is filed under that account's id.
    send!(&app, log_in("root", "wrong-password"));
    let failures = of_type(&state, EventType::AuthFailure).await;
    assert_eq!(
        failures[0].event.user_id.as_deref(),
        Some(admin_id.as_str())
    );
}

#[actix_web::test]
async fn a_huge_user_agent_is_cut_by_the_one_rule_in_the_audit_event() {
    let state = state(test_config());
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let agent = "a".repeat(6000);
    let r = send!(
        &app,
        log_in("ghost", "whatever-password").insert_header(("User-Agent", agent.as_str()))
    );
    assert_eq!(r.status, 401);
    let failures = of_type(&state, EventType::AuthFailure).await;
    let kept = failures[0].event.user_agent.as_deref().unwrap();
    assert_eq!(kept, mcp_core::bounded::text(&agent));
}

#[actix_web::test]
async fn parallel_wrong_guesses_are_checked_at_most_up_to_the_limit() {
    let mut config = test_config();
    config.auth.max_failures_per_user = 5;
    let state = state(config);
    account(&state, "alice", "right-password", &[]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let guesses = (0..40).map(|i| {
        test::call_service(
            &app,
            log_in_from("alice", &format!("guess-{i:04}"), "10.0.0.1").to_request(),
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
    // The owner, from another address, still gets in.
    let r = send!(&app, log_in_from("alice", "right-password", "10.0.0.2"));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[actix_web::test]
async fn a_lock_is_per_name_and_address_is_audited_as_a_violation_and_an_admin_lifts_it() {
    let mut config = test_config();
    config.auth.max_failures_per_user = 2;
    let state = state(config);
    let victim = account(&state, "victim", "right-password", &[]).await;
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    for _ in 0..2 {
        let r = send!(&app, log_in_from("victim", "guess-guess", "10.0.0.66"));
        assert_eq!(r.status, 401);
    }
    let r = send!(&app, log_in_from("victim", "right-password", "10.0.0.66"));
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(error_code(&r), "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    // The attacker's lock does not deny the owner elsewhere.
    let r = send!(&app, log_in_from("victim", "right-password", "10.0.0.7"));
    assert_eq!(r.status, 200, "{}", r.text);

    let violations = of_type(&state, EventType::SecurityViolation).await;
    assert_eq!(violations.len(), 1, "one event when the lock begins");
    let v = &violations[0].event;
    assert_eq!(v.action.as_deref(), Some("lockout_triggered"));
    assert_eq!(v.user_id.as_deref(), Some(victim.as_str()));
    assert_eq!(v.details["scope"], "user_and_address");
    assert_eq!(v.ip_address, Some("10.0.0.66".parse().unwrap()));

    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/users/victim/unlock")
            .insert_header(bearer(&admin))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send!(&app, log_in_from("victim", "right-password", "10.0.0.66"));
    assert_eq!(r.status, 200, "unlocked: {}", r.text);
    let writes = of_type(&state, EventType::DataWrite).await;
    assert!(
        writes
            .iter()
            .any(|e| e.event.action.as_deref() == Some("unlock_user")
                && e.event.details["target_user"] == "victim")
    );
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/users/nobody-here/unlock")
            .insert_header(bearer(&admin))
    );
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_is_locked_not_the_proxy() {
    let mut config = test_config();
    config.auth.max_failures_per_user = 2;
    config.auth.max_failures_per_ip = 2;
    config.http.trusted_proxies =
        mcp_server::config::TrustedProxies::parse(["10.9.0.0/16"]).unwrap();
    let state = state(config);
    account(&state, "bob", "right-password", &[]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let via_proxy = |password: &str, client: &str| {
        log_in_from("bob", password, "10.9.0.1").insert_header(("X-Forwarded-For", client))
    };
    for _ in 0..2 {
        assert_eq!(
            send!(&app, via_proxy("guess-guess", "203.0.113.5")).status,
            401
        );
    }
    assert_eq!(
        send!(&app, via_proxy("right-password", "203.0.113.5")).status,
        429
    );
    // Another client behind the same proxy is not locked out.
    let r = send!(&app, via_proxy("right-password", "198.51.100.8"));
    assert_eq!(r.status, 200, "{}", r.text);
    let failures = of_type(&state, EventType::AuthFailure).await;
    assert!(
        failures
            .iter()
            .all(|f| f.event.ip_address == Some("203.0.113.5".parse().unwrap()))
    );
    // A client that is not a trusted proxy cannot choose its address.
    let r = send!(
        &app,
        log_in_from("ghost", "guess-guess", "192.0.2.1")
            .insert_header(("X-Forwarded-For", "198.51.100.8"))
    );
    assert_eq!(r.status, 401);
    let latest = &of_type(&state, EventType::AuthFailure).await[0];
    assert_eq!(latest.event.ip_address, Some("192.0.2.1".parse().unwrap()));
}

#[actix_web::test]
async fn beyond_the_running_and_queued_password_checks_a_log_in_gets_503_with_retry_after() {
    let mut config = test_config();
    config.auth.max_concurrent_password_checks = 1;
    config.auth.password_check_queue = 0;
    let state = state(config);
    // Full-cost hashes, so the first check is still running when the second arrives.
    for name in ["slow1", "slow2"] {
        mcp_server::users::create_user(&*state.users, name, "right-password")
            .await
            .unwrap();
    }
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let both = futures::future::join_all(
        ["slow1", "slow2"]
            .map(|name| test::call_service(&app, log_in(name, "right-password").to_request())),
    )
    .await;
    let mut statuses: Vec<u16> = both.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503]);
    let busy = both.iter().find(|r| r.status() == 503).unwrap();
    assert_eq!(busy.headers().get("retry-after").unwrap(), "1");
    assert_eq!(state.passwords.in_use(), 0);
}

/// A body or query that the handler would refuse, for each way a request can be bad.
fn bad_requests(path: &str, method: &Method) -> Vec<(&'static str, TestRequest)> {
    let base = || TestRequest::default().method(method.clone()).uri(path);
    vec![
        (
            "malformed JSON",
            base()
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{not json"),
        ),
        (
            "wrong content type",
            base()
                .insert_header(("Content-Type", "text/plain"))
                .set_payload("hello"),
        ),
        (
            "body over the limit",
            base()
                .insert_header(("Content-Type", "application/json"))
                .set_payload(format!("{{\"x\": \"{}\"}}", "y".repeat(4096))),
        ),
        (
            "wrong types",
            base().set_json(json!({"username": 1, "code": [], "label": {}})),
        ),
        (
            "bad query",
            TestRequest::default()
                .method(method.clone())
                .uri(&format!("{path}?limit=lots&since=yesterday&label=")),
        ),
    ]
}

#[actix_web::test]
async fn a_caller_without_the_permission_gets_403_and_authz_denied_whatever_the_body() {
    let mut config = test_config();
    config.http.body_limit_bytes = 1024;
    let state = state(config);
    let nobody = user_with_roles(&state, "nobody", &["nobody"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let mut sent = 0;
    for e in endpoints() {
        let Access::Permission(p) = &e.access else {
            continue;
        };
        let path = e
            .path
            .replace("{username}", "target")
            .replace("{role}", "viewer");
        for (what, req) in bad_requests(&path, &e.method) {
            let r = send!(&app, req.insert_header(bearer(&nobody)));
            assert_eq!(r.status, 403, "{e:?} with {what}: {}", r.text);
            assert_eq!(
                r.body["error"]["message"],
                format!("Permission denied: {p}")
            );
            sent += 1;
        }
    }
    let denied = of_type(&state, EventType::AuthzDenied).await;
    assert_eq!(denied.len(), sent, "one authz_denied event per request");
}

#[actix_web::test]
async fn without_a_token_a_bad_body_still_gets_401_first() {
    let state = state(test_config());
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/execute")
            .insert_header(("Content-Type", "text/plain"))
            .set_payload("x")
    );
    assert_eq!(r.status, 401, "{}", r.text);
}

#[actix_web::test]
async fn roles_given_at_user_creation_are_audited() {
    let state = state(test_config());
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/api/v1/users")
            .insert_header(bearer(&admin))
            .set_json(json!({"username": "newdev", "password": "a-long-password",
                             "roles": ["developer", "viewer"]}))
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let created = of_type(&state, EventType::DataWrite)
        .await
        .into_iter()
        .find(|e| e.event.action.as_deref() == Some("create_user"))
        .expect("creation audited");
    let mut roles: Vec<String> =
        serde_json::from_value(created.event.details["roles"].clone()).unwrap();
    roles.sort();
    assert_eq!(roles, ["developer", "viewer"]);
    assert_eq!(created.event.details["target_user_id"], r.body["id"]);
}

#[actix_web::test]
async fn forged_malformed_and_expired_tokens_are_audited_and_a_forged_one_is_a_violation() {
    let state = state(test_config());
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let other_key = mcp_jwt::JwtIssuer::from_config(&mcp_jwt::JwtConfig::new(
        "mcp-server",
        "primary",
        vec![mcp_jwt::KeyConfig::hs256(
            "primary",
            "another-secret-of-more-than-thirty-two-bytes",
        )],
    ))
    .unwrap();
    let forged = other_key.issue("someone", ["admin"]).unwrap().token;
    let expired = state
        .issuer
        .issue_at(
            "someone",
            ["viewer"],
            chrono::Utc::now() - chrono::Duration::days(2),
        )
        .unwrap()
        .token;
    for token in [forged.as_str(), "not.a.token", expired.as_str()] {
        let r = send!(
            &app,
            TestRequest::get()
                .uri("/api/v1/me")
                .insert_header(bearer(token))
        );
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let refused = of_type(&state, EventType::TokenValidation).await;
    let mut reasons: Vec<&str> = refused
        .iter()
        .map(|e| e.event.details["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["bad_signature", "expired", "malformed"]);
    for e in &refused {
        let json = serde_json::to_string(&e.event).unwrap();
        assert!(
            !json.contains(&forged) && !json.contains(&expired),
            "no token stored"
        );
    }
    let violations = of_type(&state, EventType::SecurityViolation).await;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].event.action.as_deref(), Some("forged_token"));
}

#[actix_web::test]
async fn refused_tokens_beyond_the_budget_are_counted_not_stored() {
    let mut config = test_config();
    config.audit.unauthenticated_events_per_minute = 5;
    let state = state(config);
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    for i in 0..50 {
        let r = send!(
            &app,
            TestRequest::get()
                .uri("/api/v1/me")
                .insert_header(bearer(&format!("garbage-{i}")))
        );
        assert_eq!(r.status, 401);
    }
    let stored = of_type(&state, EventType::TokenValidation).await;
    assert_eq!(stored.len(), 5);
    let summaries = of_type(&state, EventType::RateLimitExceeded).await;
    assert_eq!(summaries.len(), 1, "one summary a minute");
    assert_eq!(
        summaries[0].event.action.as_deref(),
        Some("audit_suppressed")
    );
    let metrics = state.metrics.render();
    assert!(
        metrics.contains(r#"mcp_audit_suppressed_total{kind="token_refused"} 45"#),
        "{metrics}"
    );
}

#[actix_web::test]
async fn tokens_issued_before_a_password_change_a_disable_or_a_role_removal_stop_working() {
    let state = state(test_config());
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let id = account(&state, "dora", "first-password", &["developer", "viewer"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let token = |r: super::common::Reply| r.body["access_token"].as_str().unwrap().to_owned();
    let me = |t: &str| {
        TestRequest::get()
            .uri("/api/v1/me")
            .insert_header(bearer(t))
    };

    // A password change.
    let old = token(send!(&app, log_in("dora", "first-password")));
    assert_eq!(send!(&app, me(&old)).status, 200);
    state
        .users
        .set_password_hash(&id, &cheap_hash("second-password"))
        .await
        .unwrap();
    assert_eq!(send!(&app, me(&old)).status, 401);
    // A token issued right after the change (the same second) works.
    let fresh = token(send!(&app, log_in("dora", "second-password")));
    assert_eq!(send!(&app, me(&fresh)).status, 200);

    // A disable, then an enable: the old token stays dead.
    let admin_post = |path: &str| TestRequest::post().uri(path).insert_header(bearer(&admin));
    assert_eq!(
        send!(&app, admin_post("/api/v1/users/dora/disable")).status,
        200
    );
    assert_eq!(
        send!(&app, admin_post("/api/v1/users/dora/enable")).status,
        200
    );
    assert_eq!(send!(&app, me(&fresh)).status, 401);

    // A role removal.
    let before_removal = token(send!(&app, log_in("dora", "second-password")));
    assert_eq!(send!(&app, me(&before_removal)).status, 200);
    let r = send!(
        &app,
        TestRequest::delete()
            .uri("/api/v1/users/dora/roles/developer")
            .insert_header(bearer(&admin))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(send!(&app, me(&before_removal)).status, 401);
    let after = token(send!(&app, log_in("dora", "second-password")));
    let r = send!(&app, me(&after));
    assert_eq!(r.body["roles"], json!(["viewer"]), "{}", r.text);
}

#[actix_web::test]
async fn metric_labels_come_from_fixed_sets_whatever_the_method_or_path() {
    let state = state(test_config());
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    for i in 0..20 {
        let method = Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        send!(
            &app,
            TestRequest::default()
                .method(method)
                .uri(&format!("/made-up/{i}"))
        );
    }
    let text = state.metrics.render();
    let values: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with("mcp_http_requests_total{"))
        .map(|l| json!(l))
        .collect();
    assert!(
        !text.contains("BREW") && !text.contains("made-up"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"mcp_http_requests_total{method="other",route="unmatched",status="404"} 20"#
        ),
        "{values:?}"
    );
}
