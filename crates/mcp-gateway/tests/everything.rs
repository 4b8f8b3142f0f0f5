//! `@modelcontextprotocol/server-everything` (npm) over stdio, as a plain child process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_gateway::{CallOptions, Error, GatewayEvent, StdioConfig, UpstreamConfig, UpstreamState};
use rmcp::model::JsonObject;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{base_env, gateway, npm_server, which};

fn everything() -> UpstreamConfig {
    let mut stdio = StdioConfig::new(
        which("node"),
        [
            npm_server("server-everything").display().to_string(),
            "stdio".to_owned(),
        ],
    );
    stdio.env.extend(base_env());
    // Planted secrets: `get-env` returns the environment.
    stdio
        .env
        .insert("AWS_ACCESS_KEY_ID".into(), "AKIAIOSFODNN7EXAMPLE".into());
    stdio.env.insert(
        "DATABASE_URL".into(),
        "postgres://app:s3cr3t-pw@db.internal/app".into(),
    );
    UpstreamConfig::stdio("every", stdio)
}

fn args(v: serde_json::Value) -> Option<JsonObject> {
    v.as_object().cloned()
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_is_served_under_its_namespace_with_secrets_redacted() {
    let (gw, mut events) = gateway(everything()).await;

    let tools: Vec<String> = gw.list_tools().iter().map(|t| t.name.to_string()).collect();
    assert!(tools.contains(&"every__echo".to_owned()), "{tools:?}");
    assert!(tools.iter().all(|t| t.starts_with("every__")), "{tools:?}");
    let echo = gw
        .call_tool(
            "every__echo",
            args(json!({"message": "hi there"})),
            CallOptions::default(),
        )
        .await
        .expect("echo");
    assert_eq!(text_of(&echo.value), "Echo: hi there");
    assert!(echo.redactions.is_empty());
    assert_eq!(
        (echo.namespace.as_str(), echo.name.as_str()),
        ("every", "echo")
    );

    // Resources and prompts, named and read through the gateway.
    let resources = gw.list_resources();
    let uri = "every+demo://resource/static/document/architecture.md";
    assert!(resources.iter().any(|r| r.uri == uri), "{resources:?}");
    let read = gw
        .read_resource(uri, CallOptions::default())
        .await
        .expect("read");
    let json = serde_json::to_value(&read.value).unwrap();
    assert_eq!(json["contents"][0]["uri"], uri, "result URIs are qualified");
    assert!(
        gw.list_prompts()
            .iter()
            .any(|p| p.name == "every__simple-prompt")
    );
    let prompt = gw
        .get_prompt("every__simple-prompt", None, CallOptions::default())
        .await
        .expect("prompt");
    assert!(!prompt.value.messages.is_empty());

    // Unknown names never reach an upstream.
    for name in ["echo", "every__nope", "other__echo"] {
        let err = gw
            .call_tool(name, None, CallOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unknown { .. }), "{name}: {err:?}");
    }
    assert!(matches!(
        gw.read_resource("demo://x", CallOptions::default()).await,
        Err(Error::Unknown { .. })
    ));

    // A result holding secrets reaches the caller redacted, with counts only.
    let env = gw
        .call_tool("every__get-env", None, CallOptions::default())
        .await
        .expect("get-env");
    let text = serde_json::to_string(&env.value).unwrap();
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
    assert!(!text.contains("s3cr3t-pw"), "{text}");
    assert!(text.contains("[REDACTED:aws_access_key_id]"), "{text}");
    assert!(
        env.redactions.get("aws_access_key_id") >= 1,
        "{:?}",
        env.redactions
    );
    assert!(
        env.redactions.get("url_password") >= 1,
        "{:?}",
        env.redactions
    );

    let health = &gw.health()[0];
    assert_eq!(health.state, UpstreamState::Up);
    assert!(health.calls >= 3, "{health:?}");
    assert_eq!(health.withheld, 0);

    let mut pinned = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, GatewayEvent::ToolPinned { .. }) {
            pinned += 1;
        }
    }
    assert_eq!(pinned, tools.len(), "every tool was pinned at first sight");
    gw.shutdown().await;
    assert_eq!(gw.health()[0].state, UpstreamState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_timeouts_and_cancellation_pass_through_to_server_everything() {
    let (gw, _events) = gateway(everything()).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = CallOptions::default().with_progress(move |p| {
        sink.lock().unwrap().push(p.progress);
        Box::pin(async {})
    });
    let done = gw
        .call_tool(
            "every__trigger-long-running-operation",
            args(json!({"duration": 1, "steps": 4})),
            options,
        )
        .await
        .expect("long-running operation");
    assert!(!done.value.is_error.unwrap_or(false));
    let progress = seen.lock().unwrap().clone();
    assert!(progress.len() >= 3, "progress passed through: {progress:?}");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "in order: {progress:?}"
    );

    // Cancelled by the caller after the first progress notification.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let options = CallOptions::default()
        .with_cancel(cancel)
        .with_progress(move |_| {
            trigger.cancel();
            Box::pin(async {})
        });
    let started = std::time::Instant::now();
    let err = gw
        .call_tool(
            "every__trigger-long-running-operation",
            args(json!({"duration": 30, "steps": 30})),
            options,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // A timeout ends the call at the gateway (and cancels it at the upstream).
    let err = gw
        .call_tool(
            "every__trigger-long-running-operation",
            args(json!({"duration": 30, "steps": 2})),
            CallOptions::default().with_timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");

    // The upstream is still fine.
    let echo = gw
        .call_tool(
            "every__echo",
            args(json!({"message": "still here"})),
            CallOptions::default(),
        )
        .await
        .expect("echo after cancellations");
    assert_eq!(text_of(&echo.value), "Echo: still here");
    assert!(gw.health()[0].errors >= 2);
    gw.shutdown().await;
}
