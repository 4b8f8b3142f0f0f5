//! The authorization code flow end to end, refresh, revocation, consents and registration.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcp_oauth::event::{ConsentSource, Endpoint, OAuthEvent, TokenKind};
use mcp_oauth::testing::{TestBrowser, encode, redirect_params};
use mcp_oauth::{ErrorCode, OAuthConfig};

use crate::support::{Fixture, ISSUER, RESOURCE, VERIFIER, WEB_REDIRECT, WEB_SECRET, config};

#[tokio::test]
async fn the_code_flow_issues_an_audience_bound_token_with_the_granted_scopes() {
    let f = Fixture::new();
    let params = f
        .authorize(
            &Fixture::query(&[
                ("scope", "tools:read tools:execute"),
                ("resource", RESOURCE),
            ]),
            "alice",
            "alice-password",
            false,
        )
        .await;
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], ISSUER, "RFC 9207 iss in the response");
    let tokens = f.exchange(&params["code"], &[]).await.expect("tokens");
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.scope.to_string(), "tools:execute tools:read");
    assert!(tokens.refresh_token.is_some());
    let minted = f
        .tokens
        .find(&tokens.access_token)
        .expect("minted by the issuer");
    assert_eq!(minted.request.audience, RESOURCE);
    assert_eq!(minted.request.client_id, "cli");
    assert_eq!(minted.request.user_id, "id-alice");
    let http = tokens.to_http();
    assert_eq!(http.header("cache-control"), Some("no-store"));
    assert_eq!(
        f.event_names(),
        [
            "oauth.login_succeeded",
            "oauth.consent_granted",
            "oauth.code_issued",
            "oauth.token_issued"
        ]
    );
}

#[tokio::test]
async fn scopes_the_user_lacks_are_withheld_and_shown() {
    let f = Fixture::new();
    let mut browser = TestBrowser::new();
    let login = browser
        .authorize(
            &f.server,
            &Fixture::query(&[("scope", "tools:read tools:execute")]),
        )
        .await;
    let consent = browser
        .log_in(&f.server, &login, "bob", "bob-password")
        .await;
    let html = &consent.page().expect("consent page").html;
    assert!(
        html.contains("<code>tools:read</code>: List the tools"),
        "{html}"
    );
    assert!(html.contains("not granted because your account lacks them"));
    let done = browser.decide(&f.server, &consent, "allow", false).await;
    let tokens = f
        .exchange(&redirect_params(&done)["code"], &[])
        .await
        .unwrap();
    assert_eq!(tokens.scope.to_string(), "tools:read");
}

#[tokio::test]
async fn a_user_with_none_of_the_scopes_is_sent_back_with_access_denied() {
    let f = Fixture::new();
    let params = f
        .authorize(&Fixture::query(&[]), "carol", "carol-password", false)
        .await;
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-1");
    assert!(f.event_names().contains(&"oauth.consent_denied"));
}

#[tokio::test]
async fn denying_consent_redirects_with_access_denied_state_and_iss() {
    let f = Fixture::new();
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let consent = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    let done = browser.decide(&f.server, &consent, "deny", false).await;
    let redirect = done.redirect().expect("redirect");
    assert_eq!(redirect.status, 303);
    assert!(
        redirect
            .location
            .starts_with("http://127.0.0.1:49152/callback?")
    );
    let params = redirect_params(&done);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["iss"], ISSUER);
    assert!(!params.contains_key("code"));
    assert!(f.event_names().contains(&"oauth.consent_denied"));
}

#[tokio::test]
async fn cancelling_at_the_log_in_page_redirects_with_access_denied() {
    let f = Fixture::new();
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let (csrf, request) = mcp_oauth::testing::hidden_fields(&login);
    let form = encode(&[
        ("csrf_token", &csrf),
        ("request", &request),
        ("action", "cancel"),
    ]);
    let done = f
        .server
        .log_in(form.as_bytes(), browser.cookie.as_deref())
        .await;
    assert_eq!(redirect_params(&done)["error"], "access_denied");
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_is_recorded() {
    let f = Fixture::new();
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let again = browser.log_in(&f.server, &login, "alice", "wrong").await;
    let page = again.page().expect("page");
    assert_eq!(page.status, 401);
    assert!(page.html.contains("Invalid user name or password."));
    assert!(page.html.contains("value=\"alice\""), "the name is kept");
    // The same form works after a failure.
    let consent = browser
        .log_in(&f.server, &again, "alice", "alice-password")
        .await;
    assert!(consent.page().unwrap().html.contains("Allow"));
    f.users.set_locked("alice", true);
    let locked = browser
        .log_in(&f.server, &again, "alice", "alice-password")
        .await;
    assert_eq!(locked.page().unwrap().status, 429);
    let failures: Vec<bool> = f
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            OAuthEvent::LoginFailed { locked_out, .. } => Some(locked_out),
            _ => None,
        })
        .collect();
    assert_eq!(failures, [false, true]);
}

#[tokio::test]
async fn a_remembered_consent_skips_the_consent_page_next_time() {
    let f = Fixture::new();
    let first = f
        .authorize(&Fixture::query(&[]), "alice", "alice-password", true)
        .await;
    assert!(first.contains_key("code"));
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let next = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    let params = redirect_params(&next);
    assert!(
        params.contains_key("code"),
        "code without a consent page: {next:?}"
    );
    let sources: Vec<ConsentSource> = f
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            OAuthEvent::CodeIssued { consent, .. } => Some(consent),
            _ => None,
        })
        .collect();
    assert_eq!(sources, [ConsentSource::Given, ConsentSource::Remembered]);
    // A wider request is asked again.
    let login = browser
        .authorize(
            &f.server,
            &Fixture::query(&[("scope", "tools:read tools:execute")]),
        )
        .await;
    let asked = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    assert!(asked.page().is_some(), "consent page for new scopes");
}

#[tokio::test]
async fn revoking_a_consent_lists_it_no_more_and_ends_the_clients_grants() {
    let f = Fixture::new();
    let params = f
        .authorize(&Fixture::query(&[]), "alice", "alice-password", true)
        .await;
    let tokens = f.exchange(&params["code"], &[]).await.unwrap();
    let consents = f.server.consents("id-alice").await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].client_id, "cli");
    assert_eq!(consents[0].resources, [RESOURCE]);
    assert_eq!(f.server.active_grants("id-alice").await.unwrap().len(), 1);
    let connections = f.server.connections("id-alice").await.unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].client_id, "cli");
    assert!(connections[0].consent.is_some());
    assert_eq!(connections[0].grants.len(), 1);
    assert_eq!(
        connections[0].client.as_ref().map(|c| c.client_id.as_str()),
        Some("cli")
    );
    assert!(
        f.server
            .revoke_consent("id-alice", "cli", "id-alice")
            .await
            .unwrap()
    );
    assert!(f.server.connections("id-alice").await.unwrap().is_empty());
    assert!(f.server.consents("id-alice").await.unwrap().is_empty());
    assert!(f.server.active_grants("id-alice").await.unwrap().is_empty());
    assert!(f.tokens.is_revoked(&tokens.access_token));
    let err = f
        .refresh(tokens.refresh_token.as_deref().unwrap(), &[])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(
        !f.server
            .revoke_consent("id-alice", "cli", "id-alice")
            .await
            .unwrap()
    );
    assert!(f.event_names().contains(&"oauth.consent_revoked"));
}

#[tokio::test]
async fn a_client_without_a_remembered_consent_is_listed_by_its_grant_and_revoked_with_it() {
    let f = Fixture::new();
    let params = f
        .authorize(&Fixture::query(&[]), "alice", "alice-password", false)
        .await;
    let tokens = f.exchange(&params["code"], &[]).await.unwrap();
    let connections = f.server.connections("id-alice").await.unwrap();
    assert_eq!(connections.len(), 1);
    assert!(connections[0].consent.is_none());
    assert_eq!(connections[0].grants.len(), 1);
    assert!(f.server.connections("id-bob").await.unwrap().is_empty());
    assert!(
        !f.server
            .revoke_consent("id-bob", "cli", "id-admin")
            .await
            .unwrap(),
        "another user's revocation does not touch alice's grant"
    );
    assert!(
        f.server
            .revoke_consent("id-alice", "cli", "id-admin")
            .await
            .unwrap()
    );
    let err = f
        .refresh(tokens.refresh_token.as_deref().unwrap(), &[])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.tokens.is_revoked(&tokens.access_token));
}

#[tokio::test]
async fn refresh_rotates_the_token_and_may_narrow_but_not_widen_the_scope() {
    let f = Fixture::new();
    let params = f
        .authorize(
            &Fixture::query(&[("scope", "tools:read tools:execute")]),
            "alice",
            "alice-password",
            false,
        )
        .await;
    let first = f.exchange(&params["code"], &[]).await.unwrap();
    let r1 = first.refresh_token.unwrap();
    let narrowed = f.refresh(&r1, &[("scope", "tools:read")]).await.unwrap();
    assert_eq!(narrowed.scope.to_string(), "tools:read");
    let r2 = narrowed.refresh_token.unwrap();
    assert_ne!(r1, r2);
    // The new refresh token keeps the grant's full scope (RFC 6749 §6).
    let full = f.refresh(&r2, &[]).await.unwrap();
    assert_eq!(full.scope.to_string(), "tools:execute tools:read");
    let wider = f
        .refresh(
            full.refresh_token.as_deref().unwrap(),
            &[("scope", "graph:query")],
        )
        .await
        .unwrap_err();
    assert_eq!(wider.error, ErrorCode::InvalidScope);
    assert!(f.event_names().contains(&"oauth.token_refreshed"));
}

#[tokio::test]
async fn refresh_follows_the_users_current_permissions() {
    let f = Fixture::new();
    let params = f
        .authorize(
            &Fixture::query(&[("scope", "tools:read tools:execute")]),
            "alice",
            "alice-password",
            false,
        )
        .await;
    let tokens = f.exchange(&params["code"], &[]).await.unwrap();
    f.users.set_scopes("alice", "tools:read");
    let fewer = f
        .refresh(tokens.refresh_token.as_deref().unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(fewer.scope.to_string(), "tools:read");
    f.users.set_disabled("alice", true);
    let err = f
        .refresh(fewer.refresh_token.as_deref().unwrap(), &[])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_basic_or_post_and_not_without_its_secret() {
    let f = Fixture::new();
    let challenge = mcp_oauth::pkce::s256_challenge(VERIFIER);
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", "web"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let get_code = || async {
        let params = f.authorize(&query, "alice", "alice-password", false).await;
        params["code"].clone()
    };
    let form = |code: &str| {
        encode(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", WEB_REDIRECT),
        ])
    };
    let basic = format!("Basic {}", STANDARD.encode(format!("web:{WEB_SECRET}")));
    let code = get_code().await;
    f.server
        .token(form(&code).as_bytes(), Some(&basic))
        .await
        .expect("basic works");
    let code = get_code().await;
    let post = format!(
        "{}&client_id=web&client_secret={}",
        form(&code),
        WEB_SECRET.replace('!', "%21")
    );
    f.server
        .token(post.as_bytes(), None)
        .await
        .expect("post works");
    let code = get_code().await;
    let wrong = format!("Basic {}", STANDARD.encode("web:not-the-secret"));
    let err = f
        .server
        .token(form(&code).as_bytes(), Some(&wrong))
        .await
        .unwrap_err();
    assert_eq!((err.error, err.status), (ErrorCode::InvalidClient, 401));
    assert!(
        err.to_http()
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    let none = format!("{}&client_id=web", form(&code));
    let err = f.server.token(none.as_bytes(), None).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidClient);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant_and_access_tokens() {
    let f = Fixture::new();
    let tokens = f.exchange(&f.code().await, &[]).await.unwrap();
    let refresh = tokens.refresh_token.clone().unwrap();
    let form = encode(&[
        ("token", &refresh),
        ("token_type_hint", "refresh_token"),
        ("client_id", "cli"),
    ]);
    f.server
        .revoke(form.as_bytes(), None)
        .await
        .expect("revoked");
    assert!(f.tokens.is_revoked(&tokens.access_token));
    assert_eq!(
        f.refresh(&refresh, &[]).await.unwrap_err().error,
        ErrorCode::InvalidGrant
    );
    let kinds: Vec<TokenKind> = f
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            OAuthEvent::TokenRevoked { token_kind, .. } => Some(token_kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [TokenKind::RefreshToken]);
    assert_eq!(
        mcp_oauth::AuthorizationServer::revocation_response().status,
        200
    );
}

#[tokio::test]
async fn revoking_an_access_token_or_an_unknown_token_answers_success() {
    let f = Fixture::new();
    let tokens = f.exchange(&f.code().await, &[]).await.unwrap();
    let form = encode(&[("token", &tokens.access_token), ("client_id", "cli")]);
    f.server
        .revoke(form.as_bytes(), None)
        .await
        .expect("revoked");
    assert!(f.tokens.is_revoked(&tokens.access_token));
    let unknown = encode(&[("token", "no-such-token"), ("client_id", "cli")]);
    f.server
        .revoke(unknown.as_bytes(), None)
        .await
        .expect("RFC 7009: 200 for unknown tokens");
    let missing = encode(&[("client_id", "cli")]);
    let err = f.server.revoke(missing.as_bytes(), None).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn another_client_cannot_revoke_a_token_it_was_not_issued() {
    let f = Fixture::new();
    let tokens = f.exchange(&f.code().await, &[]).await.unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("web:{WEB_SECRET}")));
    let form = encode(&[("token", tokens.refresh_token.as_deref().unwrap())]);
    let err = f
        .server
        .revoke(form.as_bytes(), Some(&basic))
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::UnauthorizedClient);
    assert!(!f.tokens.is_revoked(&tokens.access_token));
    let form = encode(&[("token", &tokens.access_token)]);
    let err = f
        .server
        .revoke(form.as_bytes(), Some(&basic))
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::UnauthorizedClient);
}

#[tokio::test]
async fn dynamic_registration_issues_ids_and_secrets_and_the_client_can_log_in() {
    let f = Fixture::new();
    let public = f
        .server
        .register(
            br#"{"redirect_uris":["http://localhost/cb"],"token_endpoint_auth_method":"none",
                 "grant_types":["authorization_code","refresh_token"],"client_name":"Inspector"}"#,
            None,
        )
        .await
        .expect("public client");
    assert!(public.client_secret.is_none());
    assert_eq!(public.token_endpoint_auth_method, "none");
    let http = public.to_http();
    assert_eq!(http.status, 201);
    let body: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(body["client_id"], public.client_id.as_str());
    assert_eq!(
        body["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let confidential = f
        .server
        .register(br#"{"redirect_uris":["https://app.example/cb"]}"#, None)
        .await
        .expect("confidential client");
    assert_eq!(
        confidential.token_endpoint_auth_method,
        "client_secret_basic"
    );
    let secret = confidential.client_secret.clone().expect("secret");
    assert_eq!(confidential.client_secret_expires_at, Some(0));
    let stored = f
        .server
        .client(&confidential.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
    // The public client runs the flow with a loopback port of its choosing.
    let challenge = mcp_oauth::pkce::s256_challenge(VERIFIER);
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", &public.client_id),
        ("redirect_uri", "http://localhost:61000/cb"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let params = f.authorize(&query, "bob", "bob-password", false).await;
    assert!(params.contains_key("code"), "{params:?}");
    assert!(f.event_names().contains(&"oauth.client_registered"));
}

#[tokio::test]
async fn registration_can_require_an_initial_access_token_be_capped_or_be_off() {
    let mut config = config();
    config.dynamic_registration.initial_access_token =
        Some("initial-access-token-of-32-bytes-at-least".into());
    config.dynamic_registration.max_clients = 1;
    let f = Fixture::with_config(config);
    let body = br#"{"redirect_uris":["https://app.example/cb"]}"#;
    let err = f.server.register(body, None).await.unwrap_err();
    assert_eq!((err.error, err.status), (ErrorCode::InvalidToken, 401));
    let err = f
        .server
        .register(body, Some("Bearer wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.status, 401);
    let auth = Some("Bearer initial-access-token-of-32-bytes-at-least");
    f.server.register(body, auth).await.expect("first client");
    let err = f.server.register(body, auth).await.unwrap_err();
    assert_eq!(
        (err.error, err.status),
        (ErrorCode::TemporarilyUnavailable, 503)
    );

    let mut off = OAuthConfig::new(ISSUER, ["tools:read"]);
    off.dynamic_registration.enabled = false;
    let f = Fixture::with_config(off);
    assert!(f.server.metadata().registration_endpoint.is_none());
    let err = f.server.register(body, None).await.unwrap_err();
    assert_eq!(err.status, 403);
}

#[tokio::test]
async fn metadata_describes_the_server_as_mcp_clients_expect() {
    let f = Fixture::new();
    let json: serde_json::Value =
        serde_json::from_str(&f.server.metadata().to_http().body).unwrap();
    assert_eq!(json["issuer"], ISSUER);
    assert_eq!(
        json["authorization_endpoint"],
        "https://as.example/oauth/authorize"
    );
    assert_eq!(json["token_endpoint"], "https://as.example/oauth/token");
    assert_eq!(
        json["registration_endpoint"],
        "https://as.example/oauth/register"
    );
    assert_eq!(
        json["revocation_endpoint"],
        "https://as.example/oauth/revoke"
    );
    assert_eq!(
        json["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        json["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(json["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        json["client_id_metadata_document_supported"], false,
        "no fetcher"
    );
    assert_eq!(
        f.server.metadata_paths(),
        [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration"
        ]
    );
    let prm = f.server.protected_resource(RESOURCE, &[]).unwrap();
    assert_eq!(prm.metadata().authorization_servers, [ISSUER]);
    assert_eq!(
        prm.metadata_path(),
        "/.well-known/oauth-protected-resource/mcp"
    );
}

#[tokio::test]
async fn purge_keeps_live_records() {
    let f = Fixture::new();
    let tokens = f.exchange(&f.code().await, &[]).await.unwrap();
    assert_eq!(f.server.purge_expired().await.unwrap(), 0);
    f.refresh(tokens.refresh_token.as_deref().unwrap(), &[])
        .await
        .expect("still valid");
}

#[tokio::test]
async fn invalid_configurations_are_refused_at_build_time() {
    use mcp_oauth::StaticClientConfig;
    let build = |config: OAuthConfig| Fixture::try_build(config);
    assert!(
        build(OAuthConfig::new("http://as.example", ["a"])).is_err(),
        "http issuer"
    );
    assert!(
        build(OAuthConfig::new(ISSUER, Vec::<String>::new())).is_err(),
        "no scopes"
    );
    assert!(build(OAuthConfig::new(ISSUER, ["a"]).with_default_scopes(["b"])).is_err());
    assert!(build(OAuthConfig::new(ISSUER, ["a"]).with_page_secret("short")).is_err());
    let url_id = StaticClientConfig::public("https://c.example/id", ["https://c.example/cb"]);
    assert!(build(OAuthConfig::new(ISSUER, ["a"]).with_client(url_id)).is_err());
    let bad_redirect = StaticClientConfig::public("c", ["http://c.example/cb"]);
    assert!(build(OAuthConfig::new(ISSUER, ["a"]).with_client(bad_redirect)).is_err());
    let short_secret = StaticClientConfig::public("c", ["https://c.example/cb"]).with_secret("s");
    assert!(build(OAuthConfig::new(ISSUER, ["a"]).with_client(short_secret)).is_err());
    let twice = OAuthConfig::new(ISSUER, ["a"])
        .with_client(StaticClientConfig::public("c", ["https://c.example/cb"]))
        .with_client(StaticClientConfig::public("c", ["https://c.example/cb"]));
    assert!(build(twice).is_err());
    let mut ttl = OAuthConfig::new(ISSUER, ["a"]);
    ttl.code_ttl_secs = 3600;
    assert!(build(ttl).is_err());
    assert!(build(OAuthConfig::new(ISSUER, ["a"])).is_ok());
}

#[tokio::test]
async fn a_first_party_client_gets_its_code_right_after_the_log_in_without_a_consent_page() {
    let f = Fixture::with_config(
        config().with_client(
            mcp_oauth::StaticClientConfig::public("console", ["https://as.example/console/"])
                .first_party(),
        ),
    );
    let challenge = mcp_oauth::pkce::s256_challenge(VERIFIER);
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", "console"),
        ("redirect_uri", "https://as.example/console/"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st-c"),
        ("scope", "tools:read tools:execute system:admin"),
    ]);
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &query).await;
    assert!(login.page().is_some(), "the log-in page is still shown");
    let done = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    let params = redirect_params(&done);
    assert_eq!(params["state"], "st-c", "{done:?}");
    let sources: Vec<ConsentSource> = f
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            OAuthEvent::CodeIssued { consent, .. } => Some(consent),
            _ => None,
        })
        .collect();
    assert_eq!(sources, [ConsentSource::FirstParty]);
    let token = f
        .server
        .token(
            encode(&[
                ("grant_type", "authorization_code"),
                ("client_id", "console"),
                ("code", params["code"].as_str()),
                ("redirect_uri", "https://as.example/console/"),
                ("code_verifier", VERIFIER),
            ])
            .as_bytes(),
            None,
        )
        .await
        .expect("tokens");
    // The user's permissions still cut the request down (alice has no system:admin).
    assert_eq!(token.scope.to_string(), "tools:execute tools:read");
    // A client that is not first-party still shows the consent page.
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let consent = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    assert!(consent.page().is_some(), "consent page for `cli`");
}

#[tokio::test]
async fn a_throttled_request_gets_429_with_retry_after_as_a_page_or_an_oauth_error() {
    let f = Fixture::new();
    let page = f.server.too_many_requests(Endpoint::Authorize, 7).await;
    assert_eq!(page.status, 429);
    assert_eq!(page.header("retry-after"), Some("7"));
    assert!(page.header("content-security-policy").is_some());
    assert!(
        page.body.contains("Try again in 7 seconds"),
        "{}",
        page.body
    );
    let json = f.server.too_many_requests(Endpoint::Token, 0).await;
    assert_eq!(json.status, 429);
    assert_eq!(json.header("retry-after"), Some("1"));
    let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        f.event_names()
            .iter()
            .filter(|n| **n == "oauth.request_throttled")
            .count(),
        2
    );
}
