//! What several test modules share.

#[cfg(feature = "fetch")]
pub mod http;

use std::sync::Arc;

use mcp_oauth::event::MemoryEventSink;
use mcp_oauth::store::memory::MemoryOAuthStore;
use mcp_oauth::testing::{TestBrowser, TestTokens, TestUsers, encode, redirect_params};
use mcp_oauth::{AuthorizationServer, OAuthConfig, StaticClientConfig};

pub const ISSUER: &str = "https://as.example";
pub const RESOURCE: &str = "https://as.example/mcp";
pub const CLI_REDIRECT: &str = "http://127.0.0.1/callback";
pub const WEB_REDIRECT: &str = "https://web.example/cb";
pub const WEB_SECRET: &str = "web-client-secret-of-at-least-32-bytes!";
pub const VERIFIER: &str = "test-verifier-0123456789-0123456789-0123456789";

/// A server with users alice (read, execute) and bob (read only), a public native client
/// `cli`, a confidential web client `web`, and recording doubles.
pub struct Fixture {
    pub server: AuthorizationServer,
    pub users: Arc<TestUsers>,
    pub tokens: Arc<TestTokens>,
    pub events: Arc<MemoryEventSink>,
    pub store: Arc<MemoryOAuthStore>,
}

pub fn config() -> OAuthConfig {
    let mut config = OAuthConfig::new(
        ISSUER,
        ["tools:read", "tools:execute", "graph:query", "system:admin"],
    )
    .with_default_scopes(["tools:read"])
    .with_client(StaticClientConfig::public("cli", [CLI_REDIRECT]).with_name("CLI"))
    .with_client(
        StaticClientConfig::public("web", [WEB_REDIRECT])
            .with_secret(WEB_SECRET)
            .with_name("Web app"),
    );
    config
        .scope_descriptions
        .insert("tools:read".into(), "List the tools".into());
    config
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_config(config())
    }

    pub fn with_config(config: OAuthConfig) -> Self {
        let users = Arc::new(TestUsers::new());
        users.add(
            "alice",
            "alice-password",
            "tools:read tools:execute graph:query",
        );
        users.add("bob", "bob-password", "tools:read");
        users.add("carol", "carol-password", "");
        let tokens = Arc::new(TestTokens::new());
        let events = Arc::new(MemoryEventSink::new());
        let store = Arc::new(MemoryOAuthStore::new());
        let server = AuthorizationServer::builder(config)
            .store(Arc::clone(&store) as _)
            .users(Arc::clone(&users) as _)
            .tokens(Arc::clone(&tokens) as _)
            .events(Arc::clone(&events) as _)
            .build()
            .expect("server");
        Self {
            server,
            users,
            tokens,
            events,
            store,
        }
    }

    /// The query of an authorization request by `cli` with PKCE, plus `extra` pairs.
    pub fn query(extra: &[(&str, &str)]) -> String {
        let challenge = mcp_oauth::pkce::s256_challenge(VERIFIER);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "cli"),
            ("redirect_uri", "http://127.0.0.1:49152/callback"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st-1"),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k, v));
        }
        pairs.retain(|(_, v)| !v.is_empty());
        encode(&pairs)
    }

    /// Runs authorize, log-in and consent (allow) for `user`; returns the redirect's params.
    pub async fn authorize(
        &self,
        query: &str,
        user: &str,
        password: &str,
        remember: bool,
    ) -> std::collections::HashMap<String, String> {
        let mut browser = TestBrowser::new();
        let login = browser.authorize(&self.server, query).await;
        assert!(
            login.page().is_some(),
            "log-in page expected, got {login:?}"
        );
        let consent = browser.log_in(&self.server, &login, user, password).await;
        if consent.redirect().is_some() {
            return redirect_params(&consent);
        }
        let done = browser
            .decide(&self.server, &consent, "allow", remember)
            .await;
        redirect_params(&done)
    }

    /// A code for `cli` and alice with the default request.
    pub async fn code(&self) -> String {
        let params = self
            .authorize(&Self::query(&[]), "alice", "alice-password", false)
            .await;
        params.get("code").cloned().expect("code")
    }

    /// Exchanges a code for `cli`.
    pub async fn exchange(
        &self,
        code: &str,
        extra: &[(&str, &str)],
    ) -> Result<mcp_oauth::TokenResponse, mcp_oauth::ErrorResponse> {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("client_id", "cli"),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", "http://127.0.0.1:49152/callback"),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k, v));
        }
        pairs.retain(|(_, v)| !v.is_empty());
        self.server.token(encode(&pairs).as_bytes(), None).await
    }

    /// Refreshes for `cli`.
    pub async fn refresh(
        &self,
        token: &str,
        extra: &[(&str, &str)],
    ) -> Result<mcp_oauth::TokenResponse, mcp_oauth::ErrorResponse> {
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("client_id", "cli"),
            ("refresh_token", token),
        ];
        pairs.extend_from_slice(extra);
        self.server.token(encode(&pairs).as_bytes(), None).await
    }

    /// Names of the events so far.
    pub fn event_names(&self) -> Vec<&'static str> {
        self.events.names()
    }
}

impl Fixture {
    /// Builds a server from `config` with fresh doubles, or the build error.
    pub fn try_build(config: OAuthConfig) -> Result<AuthorizationServer, mcp_oauth::Error> {
        AuthorizationServer::builder(config)
            .store(Arc::new(MemoryOAuthStore::new()))
            .users(Arc::new(TestUsers::new()))
            .tokens(Arc::new(TestTokens::new()))
            .build()
    }
}
