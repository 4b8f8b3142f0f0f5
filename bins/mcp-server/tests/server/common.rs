//! Helpers: a test config, a fake sandbox, users with tokens, requests.
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::test;
use async_trait::async_trait;
use mcp_rbac::{Permission, RoleConfig};
use mcp_sandbox::{ExecRequest, ExecResult, Probe, Sandbox};
use mcp_server::config::{Backend, Config, Secret};
use mcp_server::state::{AppState, Backends};
use serde_json::Value;

/// A sandbox that pretends: `print("x")` prints x, `sleep` sleeps 3 s, `exit N` exits with N.
pub struct FakeSandbox {
    probe: Probe,
}

impl FakeSandbox {
    pub fn new() -> Self {
        let probe = serde_json::from_value(serde_json::json!({
            "layers": [], "languages": [], "weaker_isolation_allowed": false, "ready": true
        }))
        .expect("probe shape");
        Self { probe }
    }
}

#[async_trait]
impl Sandbox for FakeSandbox {
    async fn run(&self, request: ExecRequest) -> Result<ExecResult, mcp_sandbox::Error> {
        let mut result = ExecResult::default();
        let code = request.code.trim();
        if code == "sleep" {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        if let Some(n) = code.strip_prefix("exit ") {
            result.exit_code = n.parse().ok();
        } else {
            result.exit_code = Some(0);
        }
        if let Some(text) = code
            .strip_prefix("print(\"")
            .and_then(|c| c.strip_suffix("\")"))
        {
            result.stdout = format!("{text}\n");
        }
        result.duration_ms = 1;
        Ok(result)
    }

    fn probe(&self) -> &Probe {
        &self.probe
    }
}

/// The role that grants exactly one permission: `only-tools-execute`.
pub fn only_role(p: &Permission) -> String {
    format!("only-{}-{}", p.resource(), p.action())
}

/// Memory backends, a fixed secret, and roles `nobody` (no permission) and `only-<perm>` (one).
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.storage.backend = Backend::Memory;
    config.auth.jwt_secret = Some(Secret::new("test-secret-of-more-than-thirty-two-bytes"));
    config.roles.insert("nobody".into(), RoleConfig::new());
    for p in Permission::BUILTIN {
        config
            .roles
            .insert(only_role(&p), RoleConfig::new().permission(p.clone()));
    }
    config
}

/// State on memory backends with the fake sandbox.
pub fn state(config: Config) -> AppState {
    let backends = Backends::memory().with_sandbox(Arc::new(FakeSandbox::new()));
    AppState::assemble(config, backends).expect("state assembles")
}

/// Adds a user (with an unusable password hash: log in through tokens) and returns a token.
pub async fn user_with_roles(state: &AppState, name: &str, roles: &[&str]) -> String {
    let user = state
        .users
        .create(name, "not-a-hash")
        .await
        .expect("user created");
    let az = state.authorizer.as_ref().expect("authorizer");
    for role in roles {
        az.assign_role(&user.id, role).await.expect("role assigned");
    }
    let roles = az.roles_of(&user.id).await.unwrap();
    state
        .issuer
        .issue(&user.id, roles)
        .expect("token issued")
        .token
}

/// Status, headers and JSON body of a response.
pub struct Reply {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn reply<B: MessageBody>(res: ServiceResponse<B>) -> Reply {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Sends a `TestRequest` to an app and reads the reply.
#[macro_export]
macro_rules! send {
    ($app:expr, $req:expr) => {
        $crate::server::common::reply(actix_web::test::call_service($app, $req.to_request()).await)
            .await
    };
}

/// Asserts the error shape and returns the code.
pub fn error_code(r: &Reply) -> String {
    let e = &r.body["error"];
    assert!(
        e["code"].is_string() && e["message"].is_string(),
        "not the error shape: {}",
        r.text
    );
    assert!(
        e["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "no request id: {}",
        r.text
    );
    e["code"].as_str().unwrap().to_owned()
}

/// An audit store that is down: every append fails as unavailable (queries see nothing).
#[derive(Default)]
pub struct DownAuditSink(mcp_audit::MemoryAuditSink);

#[async_trait]
impl mcp_audit::AuditSink for DownAuditSink {
    async fn append(
        &self,
        _: &[mcp_audit::AuditEvent],
    ) -> Result<mcp_audit::ChainHead, mcp_audit::StoreError> {
        Err(mcp_audit::StoreError::unavailable("injected audit outage"))
    }

    async fn query(
        &self,
        filter: &mcp_audit::AuditFilter,
    ) -> Result<Vec<mcp_audit::StoredEvent>, mcp_audit::StoreError> {
        self.0.query(filter).await
    }

    async fn verify_chain(&self) -> Result<mcp_audit::ChainReport, mcp_audit::StoreError> {
        self.0.verify_chain().await
    }
}

/// State with the fake sandbox and an audit store that is down.
pub fn state_with_audit_down(config: Config) -> AppState {
    let mut backends = Backends::memory().with_sandbox(Arc::new(FakeSandbox::new()));
    backends.audit = Arc::new(DownAuditSink::default());
    AppState::assemble(config, backends).expect("state assembles")
}
