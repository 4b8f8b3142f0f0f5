//! The store conformance suite against a real SQLite file, plus what only a file-backed
//! store has.

use mcp_oauth::OAuthStore;
use mcp_oauth::store::sqlite::SqliteOAuthStore;
use mcp_oauth::store::{ClientRecord, ClientSource, StoreError};

mcp_oauth::oauth_store_conformance!(async {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteOAuthStore::open(dir.path().join("oauth.db"))
        .await
        .expect("open sqlite oauth store");
    mcp_oauth::conformance::with_guard(store, dir)
});

#[tokio::test]
async fn clients_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("oauth.db");
    {
        let store = SqliteOAuthStore::open(&path).await.expect("open");
        let client = ClientRecord::public(
            "kept",
            ClientSource::Dynamic,
            vec!["https://a.example/cb".into()],
        );
        store.insert_client(&client).await.expect("insert");
    }
    let reopened = SqliteOAuthStore::open(&path).await.expect("reopen");
    assert!(reopened.client("kept").await.expect("read").is_some());
}

#[tokio::test]
async fn database_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("oauth.db");
    drop(SqliteOAuthStore::open(&path).await.expect("create"));
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.pragma_update(None, "user_version", 99).expect("bump");
    }
    let err = SqliteOAuthStore::open(&path).await.expect_err("refused");
    assert!(matches!(err, StoreError::Invalid(_)), "got {err:?}");
}

#[tokio::test]
async fn codes_and_secrets_are_stored_only_as_hashes() {
    use mcp_oauth::testing::{TestBrowser, TestTokens, TestUsers, encode, redirect_params};
    use mcp_oauth::{AuthorizationServer, OAuthConfig, StaticClientConfig};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("oauth.db");
    let store = Arc::new(SqliteOAuthStore::open(&path).await.expect("open"));
    let users = Arc::new(TestUsers::new());
    users.add("alice", "pw", "tools:read");
    let config = OAuthConfig::new("https://as.example", ["tools:read"])
        .with_default_scopes(["tools:read"])
        .with_client(StaticClientConfig::public("cli", ["http://127.0.0.1/cb"]));
    let server = AuthorizationServer::builder(config)
        .store(store)
        .users(users)
        .tokens(Arc::new(TestTokens::new()))
        .build()
        .expect("server");
    let verifier = "v".repeat(43);
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", "cli"),
        ("redirect_uri", "http://127.0.0.1/cb"),
        (
            "code_challenge",
            &mcp_oauth::pkce::s256_challenge(&verifier),
        ),
        ("code_challenge_method", "S256"),
    ]);
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&server, &query).await;
    let consent = browser.log_in(&server, &login, "alice", "pw").await;
    let done = browser.decide(&server, &consent, "allow", false).await;
    let code = redirect_params(&done)["code"].clone();
    let form = encode(&[
        ("grant_type", "authorization_code"),
        ("client_id", "cli"),
        ("code", &code),
        ("code_verifier", &verifier),
    ]);
    let tokens = server.token(form.as_bytes(), None).await.expect("tokens");
    let refresh = tokens.refresh_token.expect("refresh token");
    let registered = server
        .register(br#"{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_post"}"#, None)
        .await
        .expect("registration");
    let secret = registered.client_secret.expect("secret");
    // Read every byte of the database files: no code, refresh token or secret in clear.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    let text = String::from_utf8_lossy(&bytes);
    for value in [&code, &refresh, &secret] {
        assert!(
            !text.contains(value.as_str()),
            "a secret value is stored in clear"
        );
    }
}
