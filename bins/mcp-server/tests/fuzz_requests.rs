//! Fuzz-style tests of the app in-process (memory backends, fake sandbox): random JSON and
//! random bytes to every POST route get a 4xx in the error shape (never a 5xx, never a panic),
//! and random or malformed JSON-RPC to `/mcp` and to its message check always gets a JSON-RPC
//! error. Inputs come from proptest strategies with a fixed seed, so a failure reproduces; the
//! failing input is printed.

use actix_web::test::{self, TestRequest};
use actix_web::web;
use mcp_server::mcp::{McpConfig, McpHttp};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use crate::server::common::{self, state, test_config, user_with_roles};

/// The POST routes that read a JSON body (`/auth/revoke` ends the caller's token, so it is
/// fuzzed last, on its own).
const POST_ROUTES: &[&str] = &[
    "/auth/token",
    "/api/v1/execute",
    "/api/v1/lint",
    "/api/v1/test",
    "/api/v1/generate",
    "/api/v1/graph/query",
    "/api/v1/graph/nodes",
    "/api/v1/graph/relationships",
    "/api/v1/users",
    "/api/v1/users/ghost/roles",
];

/// Field names the routes know, so random objects often reach the field checks.
const KEYS: &[&str] = &[
    "language",
    "code",
    "limits",
    "wall_time_ms",
    "memory_bytes",
    "username",
    "password",
    "roles",
    "role",
    "template",
    "parameters",
    "name",
    "query",
    "params",
    "labels",
    "properties",
    "id",
    "from",
    "to",
    "type",
    "tests",
    "files",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::String),
        Just(json!("python")),
        Just(json!("bash")),
        Just(json!("MATCH (n) RETURN n")),
    ];
    let key = prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_owned),
        "\\PC{0,10}"
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request body: random JSON, random bytes, or truncated/mangled JSON text.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => arb_json().prop_map(|v| v.to_string().into_bytes()),
        2 => prop::collection::vec(any::<u8>(), 0..300),
        2 => (arb_json(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            text[..cut.index(text.len() + 1).min(text.len())].to_vec()
        }),
        1 => "\\PC{0,200}".prop_map(String::into_bytes),
    ]
}

fn arb_content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        6 => Just(Some("application/json")),
        1 => Just(Some("text/plain")),
        1 => Just(Some("application/x-www-form-urlencoded")),
        1 => Just(None),
    ]
}

/// `n` values of `strategy` from a fixed seed.
fn samples<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("strategy generates")
                .current()
        })
        .collect()
}

fn show(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned()
}

/// The property of one reply: a 2xx (the random body happened to be valid) or a 4xx in the
/// error shape; never a 5xx.
fn check_reply(route: &str, body: &[u8], r: &common::Reply) -> bool {
    // The in-process state has no bubblewrap sandbox for lint and test: a body those routes
    // accept is then answered 503 `unavailable`, which counts as accepted here.
    if matches!(route, "/api/v1/lint" | "/api/v1/test")
        && r.status == 503
        && r.body["error"]["code"] == "unavailable"
    {
        return false;
    }
    assert!(
        r.status < 500,
        "{route} answered {} to {:?}: {}",
        r.status,
        show(body),
        r.text
    );
    if (200..300).contains(&r.status) {
        return false;
    }
    assert!(
        (400..500).contains(&r.status),
        "{route} answered {} to {:?}",
        r.status,
        show(body)
    );
    let e = &r.body["error"];
    assert!(
        r.body.as_object().is_some_and(|o| o.len() == 1)
            && e.as_object().is_some_and(|o| o.len() == 3)
            && e["code"].is_string()
            && e["message"].is_string()
            && e["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{route} answered {} without the error shape to {:?}: {}",
        r.status,
        show(body),
        r.text
    );
    true
}

const CASES_PER_ROUTE: usize = 500;

#[actix_web::test]
async fn random_bodies_to_every_post_route_get_a_4xx_in_the_error_shape_never_a_5xx() {
    let mut config = test_config();
    config.limits.execute_per_minute = 100_000;
    config.limits.lint_per_minute = 100_000;
    let state = state(config);
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(mcp_server::app(web::Data::new(state))).await;
    let inputs = samples(
        (arb_body(), arb_content_type()),
        CASES_PER_ROUTE * POST_ROUTES.len(),
    );
    let mut refused = 0;
    for (i, (body, content_type)) in inputs.iter().enumerate() {
        let route = POST_ROUTES[i % POST_ROUTES.len()];
        let mut req = TestRequest::post()
            .uri(route)
            .insert_header(("Authorization", format!("Bearer {admin}")))
            .set_payload(body.clone());
        if let Some(ct) = content_type {
            req = req.insert_header(("Content-Type", *ct));
        }
        let r = crate::send!(&app, req);
        if check_reply(route, body, &r) {
            refused += 1;
        }
    }
    // Random input is nearly always refused; a few bodies may happen to be valid.
    assert!(
        refused * 10 >= inputs.len() * 9,
        "only {refused} of {} refused",
        inputs.len()
    );
}

#[actix_web::test]
async fn random_bodies_to_revoke_get_a_4xx_in_the_error_shape_or_revoke() {
    let state = state(test_config());
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    for (body, content_type) in samples((arb_body(), arb_content_type()), 200) {
        // A fresh token each time: a body that happens to be valid revokes it.
        let token = user_with_roles(&state, &format!("u{}", uuid_like()), &["viewer"]).await;
        let mut req = TestRequest::post()
            .uri("/auth/revoke")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_payload(body.clone());
        if let Some(ct) = content_type {
            req = req.insert_header(("Content-Type", ct));
        }
        let r = crate::send!(&app, req);
        check_reply("/auth/revoke", &body, &r);
    }
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

// ---- JSON-RPC ----

/// Random JSON-RPC-ish messages: mostly malformed (wrong version, bad id or method types,
/// known methods with bad params, batches, non-objects, broken JSON).
fn arb_rpc() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just(json!("tools/call")),
        Just(json!("tools/list")),
        Just(json!("prompts/get")),
        Just(json!("resources/read")),
        Just(json!("initialize")),
        Just(json!("ping")),
        Just(json!("notifications/initialized")),
        "\\PC{0,16}".prop_map(Value::String),
        arb_json(),
    ];
    let id = prop_oneof![
        any::<i64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
        arb_json(),
    ];
    let version = prop_oneof![
        3 => Just(json!("2.0")),
        1 => Just(json!("1.0")),
        1 => arb_json(),
    ];
    let message = (
        version,
        prop::option::of(id),
        prop::option::of(method),
        prop::option::of(arb_json()),
    )
        .prop_map(|(v, id, m, params)| {
            let mut o = serde_json::Map::new();
            o.insert("jsonrpc".into(), v);
            if let Some(id) = id {
                o.insert("id".into(), id);
            }
            if let Some(m) = m {
                o.insert("method".into(), m);
            }
            if let Some(p) = params {
                o.insert("params".into(), p);
            }
            Value::Object(o)
        })
        .boxed();
    prop_oneof![
        5 => message.clone().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(message, 0..3).prop_map(|v| Value::Array(v).to_string().into_bytes()),
        1 => arb_json().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => "\\PC{0,100}".prop_map(String::into_bytes),
    ]
}

/// A JSON-RPC error response: `{"jsonrpc": "2.0", "id": string|number|null, "error": {code, message}}`.
fn is_rpc_error(v: &Value) -> bool {
    v["jsonrpc"] == "2.0"
        && (v["id"].is_null() || v["id"].is_string() || v["id"].is_number())
        && v["error"]["code"].is_i64()
        && v["error"]["message"].is_string()
}

#[test]
fn the_message_check_never_panics_and_refuses_with_a_json_rpc_error() {
    let mut refused = 0;
    let inputs = samples(arb_rpc(), 2000);
    for bytes in &inputs {
        if let Err(rejected) = mcp_server::mcp::jsonrpc::check(bytes) {
            refused += 1;
            assert!(
                is_rpc_error(&rejected.response),
                "{:?} -> {}",
                show(bytes),
                rejected.response
            );
            assert_eq!(rejected.response["error"]["code"], rejected.code.0);
            assert!(
                [-32700, -32600, -32602].contains(&rejected.code.0),
                "{:?} -> {}",
                show(bytes),
                rejected.response
            );
        }
    }
    assert!(refused * 2 > inputs.len(), "only {refused} refused");
}

/// The JSON-RPC messages of an `/mcp` reply body: plain JSON or server-sent events.
fn rpc_messages(text: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return vec![v];
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

#[actix_web::test]
async fn malformed_json_rpc_to_the_mcp_endpoint_always_gets_a_json_rpc_error() {
    let state = state(test_config());
    let admin = user_with_roles(&state, "root", &["admin"]).await;
    let app = test::init_service(
        mcp_server::app(web::Data::new(state.clone()))
            .app_data(web::Data::new(McpHttp::new(&McpConfig::default()))),
    )
    .await;
    let mut malformed = 0;
    for bytes in samples(arb_rpc(), 1000) {
        let req = TestRequest::post()
            .uri("/mcp")
            .insert_header(("content-type", "application/json"))
            .insert_header(("accept", "application/json, text/event-stream"))
            .insert_header(("host", "localhost"))
            .insert_header(("authorization", format!("Bearer {admin}")))
            .set_payload(bytes.clone());
        let res = test::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let text = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        assert!(status < 500, "{status} to {:?}: {text}", show(&bytes));
        if mcp_server::mcp::jsonrpc::check(&bytes).is_err() {
            malformed += 1;
            let messages = rpc_messages(&text);
            assert!(
                messages.len() == 1 && is_rpc_error(&messages[0]),
                "{status} to malformed {:?} is not one JSON-RPC error: {text}",
                show(&bytes)
            );
        }
    }
    assert!(malformed >= 500, "only {malformed} malformed messages");
}
