//! `tests/upstreams/py_upstream.py`, built with the official Python SDK: over streamable HTTP
//! (with OAuth client credentials), and over stdio for crashes and changed definitions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_gateway::{
    CallOptions, ClientCredentials, Error, Gateway, GatewayConfig, GatewayEvent, HttpConfig,
    Redacted, StdioConfig, UpstreamConfig, UpstreamState,
};
use rmcp::model::JsonObject;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{
    PyHttp, base_env, client_certificate, eventually, expect_event, gateway, python,
    tls_certificates, upstreams_dir,
};

fn args(v: serde_json::Value) -> Option<JsonObject> {
    v.as_object().cloned()
}

/// Calls the upstream's `add` tool through the gateway with `a` and `b`.
async fn add(gw: &Gateway, a: i64, b: i64) -> Result<Redacted<rmcp::model::CallToolResult>, Error> {
    gw.call_tool(
        "py__add",
        args(json!({"a": a, "b": b})),
        CallOptions::default(),
    )
    .await
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn with_oauth(server: &PyHttp, url: String) -> UpstreamConfig {
    let mut http = HttpConfig::new(url);
    let mut cc = ClientCredentials::new(
        format!("http://127.0.0.1:{}/token", server.port),
        "gw-client",
        "gw-secret",
    );
    cc.scopes = vec!["tools".into(), "read".into()];
    http.oauth = Some(cc);
    let mut upstream = UpstreamConfig::http("py", http);
    upstream.connect_timeout_ms = 5_000;
    upstream.restart_initial_ms = 200;
    upstream
}

/// A gateway whose only upstream is expected to fail: returns its health after the attempt.
async fn failing(upstream: UpstreamConfig) -> mcp_gateway::UpstreamHealth {
    let mut config = GatewayConfig::default();
    config.upstreams.push(upstream);
    let gw = Gateway::builder(config)
        .start()
        .expect("valid configuration");
    assert!(!gw.ready(Duration::from_secs(10)).await, "must not connect");
    let health = gw.health().remove(0);
    gw.shutdown().await;
    health
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_upstream_over_streamable_http_with_client_credentials() {
    let server = PyHttp::start(&["--require-token"]);
    let (gw, _events) = gateway(with_oauth(&server, server.url())).await;
    let token_requests = std::fs::read_to_string(server.state.path().join("tokens")).unwrap();
    assert_eq!(token_requests.trim(), "tools read", "scopes were asked for");

    let mut tools: Vec<String> = gw.list_tools().iter().map(|t| t.name.to_string()).collect();
    tools.sort();
    assert_eq!(
        tools,
        [
            "py__add",
            "py__crash",
            "py__leak",
            "py__slow",
            "py__weather"
        ]
    );

    let sum = add(&gw, 2, 3).await.expect("add");
    assert_eq!(sum.value.structured_content, Some(json!({"result": 5})));
    assert_eq!(text_of(&sum.value), "5");

    // Progress passes through, in order.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = CallOptions::default().with_progress(move |p| {
        sink.lock().unwrap().push((p.progress, p.message.clone()));
        Box::pin(async {})
    });
    let done = gw
        .call_tool(
            "py__slow",
            args(json!({"steps": 3, "delay": 0.05})),
            options,
        )
        .await
        .expect("slow");
    assert_eq!(text_of(&done.value), "done");
    let progress = seen.lock().unwrap().clone();
    assert_eq!(
        progress,
        [
            (1.0, Some("step 1".to_owned())),
            (2.0, Some("step 2".to_owned())),
            (3.0, Some("step 3".to_owned()))
        ]
    );

    // Cancelling the call cancels the tool at the upstream.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let options = CallOptions::default()
        .with_cancel(cancel)
        .with_progress(move |_| {
            trigger.cancel();
            Box::pin(async {})
        });
    let err = gw
        .call_tool(
            "py__slow",
            args(json!({"steps": 100, "delay": 0.1})),
            options,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    eventually("the upstream saw the cancellation", || {
        server.wrote("cancelled")
    })
    .await;

    // Planted secrets are redacted in the text and the structured content.
    let leak = gw
        .call_tool("py__leak", None, CallOptions::default())
        .await
        .expect("leak");
    let text = serde_json::to_string(&leak.value).unwrap();
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "ops@example.com",
        "4111 1111 1111 1111",
        "hunter2",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(leak.value.structured_content.as_ref().unwrap()["count"], 3);
    for detector in ["aws_access_key_id", "email", "card_number", "secret_field"] {
        assert!(
            leak.redactions.get(detector) >= 1,
            "{detector}: {:?}",
            leak.redactions
        );
    }
    gw.shutdown().await;

    // Without credentials the upstream refuses the gateway.
    let mut anonymous = with_oauth(&server, server.url());
    anonymous.http.as_mut().unwrap().oauth = None;
    let health = failing(anonymous).await;
    assert_eq!(health.state, UpstreamState::Down);
    assert!(health.last_error.is_some());

    // A redirect to another origin is not followed (following it would succeed).
    let moved = with_oauth(&server, format!("http://127.0.0.1:{}/moved", server.port));
    let health = failing(moved).await;
    assert_eq!(health.state, UpstreamState::Down, "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_is_verified_against_the_configured_ca_and_reached_only_at_its_origin() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_certificates(certs.path());
    let server = PyHttp::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let https = |url: String, ca_file: Option<&std::path::Path>| {
        let mut http = HttpConfig::new(url);
        http.ca_file = ca_file.map(std::path::Path::to_path_buf);
        let mut upstream = UpstreamConfig::http("py", http);
        upstream.connect_timeout_ms = 5_000;
        upstream.restart_initial_ms = 200;
        upstream
    };

    let (gw, _events) = gateway(https(server.https_url(), Some(&ca))).await;
    let sum = add(&gw, 20, 22).await.expect("add over https");
    assert_eq!(text_of(&sum.value), "42");
    gw.shutdown().await;

    // Without the CA the certificate is not trusted: no connection, and the reason says so.
    let health = failing(https(server.https_url(), None)).await;
    assert_eq!(health.state, UpstreamState::Down);
    let reason = health.last_error.unwrap_or_default();
    assert!(reason.contains("certificate"), "{reason}");

    // A redirect to another origin (localhost, which the certificate also names) is not
    // followed over https either.
    let moved = format!("https://127.0.0.1:{}/moved", server.port);
    let health = failing(https(moved, Some(&ca))).await;
    assert_eq!(health.state, UpstreamState::Down, "{health:?}");

    // Plain http to the TLS port gets no MCP answer.
    let plain = format!("http://127.0.0.1:{}/mcp", server.port);
    let health = failing(https(plain, Some(&ca))).await;
    assert_eq!(health.state, UpstreamState::Down, "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_stdio_upstream_restarts_and_a_changed_definition_is_withheld_until_approved() {
    let state = tempfile::tempdir().unwrap();
    let variant = state.path().join("variant");
    std::fs::write(&variant, "v1").unwrap();
    let mut stdio = StdioConfig::new(
        python(),
        [
            upstreams_dir().join("py_upstream.py").display().to_string(),
            "--stdio".into(),
            "--state".into(),
            state.path().display().to_string(),
            "--variant-file".into(),
            variant.display().to_string(),
        ],
    );
    stdio.env.extend(base_env());
    let mut upstream = UpstreamConfig::stdio("py", stdio);
    upstream.restart_initial_ms = 100;
    let (gw, mut events) = gateway(upstream).await;
    let weather = gw
        .call_tool(
            "py__weather",
            args(json!({"city": "Oslo"})),
            CallOptions::default(),
        )
        .await
        .expect("weather");
    assert_eq!(text_of(&weather.value), "sunny in Oslo");

    // The next start of the upstream offers another description: a rug pull.
    std::fs::write(&variant, "v2").unwrap();
    let crash = gw
        .call_tool("py__crash", None, CallOptions::default())
        .await;
    assert!(crash.is_err(), "{crash:?}");
    expect_event(&mut events, |e| {
        matches!(e, GatewayEvent::UpstreamDisconnected { .. })
    })
    .await;
    let changed = expect_event(&mut events, |e| {
        matches!(e, GatewayEvent::DefinitionChanged { .. })
    })
    .await;
    assert_eq!(changed.audit_kind(), "security_violation");
    let GatewayEvent::DefinitionChanged {
        namespace,
        tool,
        approved,
        offered,
        changed_fields,
    } = changed
    else {
        unreachable!()
    };
    assert_eq!((namespace.as_str(), tool.as_str()), ("py", "weather"));
    assert_eq!(changed_fields, ["description"]);
    assert!(approved.text.contains("Gets the weather for a city."));
    assert!(
        !approved.text.contains("IMPORTANT"),
        "the audit keeps the approved text"
    );
    assert!(offered.text.contains("id_rsa"));

    eventually("the upstream is back", || {
        let h = &gw.health()[0];
        h.state == UpstreamState::Up && h.connects == 2
    })
    .await;
    let names: Vec<String> = gw.list_tools().iter().map(|t| t.name.to_string()).collect();
    assert!(
        !names.contains(&"py__weather".to_owned()),
        "withheld: {names:?}"
    );
    assert!(names.contains(&"py__add".to_owned()));
    let err = gw
        .call_tool(
            "py__weather",
            args(json!({"city": "Oslo"})),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Withheld { .. }), "{err:?}");
    let withheld = gw.withheld_tools();
    assert_eq!(withheld.len(), 1);
    assert_eq!(withheld[0].offered_hash, offered.hash);
    assert_eq!(gw.health()[0].withheld, 1);
    let sum = add(&gw, 1, 1)
        .await
        .expect("other tools still work after the restart");
    assert_eq!(text_of(&sum.value), "2");

    // An approval of a hash nobody reviewed is refused; the reviewed one serves the tool.
    let err = gw
        .approve("py", "weather", &approved.hash, "admin")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Store(mcp_core::StoreError::Conflict(_))),
        "{err:?}"
    );
    let record = gw
        .approve("py", "weather", &offered.hash, "admin")
        .await
        .unwrap();
    assert_eq!(record.approved, offered);
    assert_eq!(record.approved_by.as_deref(), Some("admin"));
    expect_event(&mut events, |e| {
        matches!(e, GatewayEvent::DefinitionApproved { .. })
    })
    .await;
    let served = gw.list_tools();
    let tool = served
        .iter()
        .find(|t| t.name == "py__weather")
        .expect("served again");
    assert!(
        tool.description
            .as_deref()
            .unwrap_or_default()
            .contains("id_rsa"),
        "clients see the description as the upstream sent it"
    );
    let weather = gw
        .call_tool(
            "py__weather",
            args(json!({"city": "Rome"})),
            CallOptions::default(),
        )
        .await
        .expect("weather after approval");
    assert_eq!(text_of(&weather.value), "sunny in Rome");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_http_upstream_is_reconnected_when_it_comes_back() {
    let mut server = PyHttp::start(&[]);
    let mut upstream = UpstreamConfig::http("py", HttpConfig::new(server.url()));
    upstream.restart_initial_ms = 100;
    upstream.restart_max_ms = 500;
    upstream.call_timeout_ms = 5_000;
    let (gw, _events) = gateway(upstream).await;
    let crash = gw
        .call_tool("py__crash", None, CallOptions::default())
        .await;
    assert!(crash.is_err(), "{crash:?}");
    let err = add(&gw, 1, 2).await.unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { .. } | Error::Transport { .. }),
        "{err:?}"
    );
    eventually("a down upstream's tools are no longer listed", || {
        gw.health()[0].state == UpstreamState::Down && gw.list_tools().is_empty()
    })
    .await;

    server.restart();
    let mut last = None;
    eventually("calls work again after the upstream came back", || {
        last = Some(gw.health()[0].clone());
        gw.health()[0].state == UpstreamState::Up && gw.health()[0].failures >= 1
    })
    .await;
    let mut answer = None;
    for _ in 0..50 {
        match add(&gw, 1, 2).await {
            Ok(r) => {
                answer = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let answer = answer.unwrap_or_else(|| panic!("no answer after the restart: {last:?}"));
    assert_eq!(text_of(&answer.value), "3");
    assert!(
        gw.list_tools().iter().any(|t| t.name == "py__add"),
        "listed again once up"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_upstream_that_stops_answering_is_marked_down_by_a_ping_and_comes_back() {
    let server = PyHttp::start(&[]);
    let mut upstream = UpstreamConfig::http("py", HttpConfig::new(server.url()));
    upstream.ping_interval_ms = 200;
    upstream.ping_timeout_ms = 3_000;
    upstream.connect_timeout_ms = 2_000;
    upstream.restart_initial_ms = 100;
    upstream.restart_max_ms = 500;
    let (gw, mut events) = gateway(upstream).await;

    // Idle and answering its pings: it stays on its first connection, and pings are not calls.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let h = gw.health().remove(0);
    assert_eq!(
        (h.state, h.connects, h.failures, h.calls),
        (UpstreamState::Up, 1, 0, 0),
        "{h:?}"
    );

    // Stopped (SIGSTOP): connected but silent. No call is made; the ping notices.
    server.signal("STOP");
    let down = expect_event(&mut events, |e| {
        matches!(e, GatewayEvent::UpstreamDisconnected { .. })
    })
    .await;
    let GatewayEvent::UpstreamDisconnected { reason, .. } = down else {
        unreachable!()
    };
    assert!(reason.contains("no answer to a ping"), "{reason}");
    assert_eq!(gw.health()[0].state, UpstreamState::Down);
    assert!(
        gw.list_tools().is_empty(),
        "a down upstream's tools are not listed"
    );

    server.signal("CONT");
    eventually("the upstream is reconnected once it answers again", || {
        let h = &gw.health()[0];
        h.state == UpstreamState::Up && h.connects >= 2
    })
    .await;
    let answer = add(&gw, 2, 2).await.expect("calls work again");
    assert_eq!(text_of(&answer.value), "4");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_requires_a_client_certificate_is_reached_with_the_configured_one() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_certificates(certs.path());
    let (client_cert, client_key) = client_certificate(certs.path());
    let server = PyHttp::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-client-ca",
        ca.to_str().unwrap(),
    ]);
    let mtls = |identity: Option<(&std::path::Path, &std::path::Path)>| {
        let mut http = HttpConfig::new(server.https_url());
        http.ca_file = Some(ca.clone());
        http.client_cert = identity.map(|(c, _)| c.to_path_buf());
        http.client_key = identity.map(|(_, k)| k.to_path_buf());
        let mut upstream = UpstreamConfig::http("py", http);
        upstream.connect_timeout_ms = 5_000;
        upstream.restart_initial_ms = 200;
        upstream
    };

    let (gw, _events) = gateway(mtls(Some((&client_cert, &client_key)))).await;
    let sum = add(&gw, 40, 2).await.expect("add over mutual TLS");
    assert_eq!(text_of(&sum.value), "42");
    gw.shutdown().await;

    // Without a client certificate the upstream refuses the handshake.
    let health = failing(mtls(None)).await;
    assert_eq!(health.state, UpstreamState::Down, "{health:?}");

    // A certificate without its key (or a key that is not one) is a configuration error.
    let mut config = GatewayConfig::default();
    let mut half = mtls(None);
    half.http.as_mut().unwrap().client_cert = Some(client_cert.clone());
    config.upstreams.push(half);
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("client_cert"), "{err}");
    config.upstreams[0].http.as_mut().unwrap().client_key = Some(ca.clone());
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("client key"), "{err}");
}
