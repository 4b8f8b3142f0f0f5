//! The attacks the authorization server must refuse (and record): PKCE missing, `plain` or
//! wrong; code replay; redirect URI mismatch and open redirects; another audience; refresh
//! token reuse; consent without the CSRF token; forged or moved page state; injected markup.

use mcp_oauth::event::{Endpoint, OAuthEvent};
use mcp_oauth::store::{CodeRecord, OAuthStore};
use mcp_oauth::testing::{TestBrowser, encode, hidden_fields, redirect_params};
use mcp_oauth::{ErrorCode, Interaction};

use crate::support::{Fixture, ISSUER, RESOURCE, VERIFIER};

/// The refusals recorded so far, as (endpoint, error).
fn refusals(f: &Fixture) -> Vec<(Endpoint, ErrorCode)> {
    f.events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            OAuthEvent::RequestRefused {
                endpoint, error, ..
            } => Some((endpoint, error)),
            _ => None,
        })
        .collect()
}

async fn error_redirect(f: &Fixture, query: &str) -> std::collections::HashMap<String, String> {
    let answer = f.server.authorize(query, None).await;
    let redirect = answer
        .redirect()
        .unwrap_or_else(|| panic!("redirect expected: {answer:?}"));
    assert_eq!(redirect.status, 302);
    assert!(
        redirect
            .location
            .starts_with("http://127.0.0.1:49152/callback?")
    );
    redirect_params(&answer)
}

#[tokio::test]
async fn a_request_without_pkce_is_refused() {
    let f = Fixture::new();
    let params = error_redirect(
        &f,
        &Fixture::query(&[("code_challenge", ""), ("code_challenge_method", "")]),
    )
    .await;
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], ISSUER);
    assert!(!params.contains_key("code"));
    assert_eq!(
        refusals(&f),
        [(Endpoint::Authorize, ErrorCode::InvalidRequest)]
    );
}

#[tokio::test]
async fn the_plain_method_and_a_missing_method_are_refused() {
    let f = Fixture::new();
    for method in ["plain", "", "s256", "S512"] {
        let params =
            error_redirect(&f, &Fixture::query(&[("code_challenge_method", method)])).await;
        assert_eq!(params["error"], "invalid_request", "method {method:?}");
        assert!(params["error_description"].contains("S256"));
    }
    // A `plain` challenge is the verifier itself: not a 43-character S256 value either.
    let params = error_redirect(
        &f,
        &Fixture::query(&[("code_challenge", "short-plain-verifier")]),
    )
    .await;
    assert_eq!(params["error"], "invalid_request");
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused_and_burns_the_code() {
    let f = Fixture::new();
    let code = f.code().await;
    let wrong = "a-different-verifier-0123456789-0123456789-01";
    let err = f
        .exchange(&code, &[("code_verifier", wrong)])
        .await
        .unwrap_err();
    assert_eq!((err.error, err.status), (ErrorCode::InvalidGrant, 400));
    // The code is used up: even the right verifier fails now, and nothing was minted.
    let err = f.exchange(&code, &[]).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.tokens.minted().is_empty());

    let code = f.code().await;
    let err = f
        .exchange(&code, &[("code_verifier", "")])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidRequest);
    let code = f.code().await;
    let err = f
        .exchange(&code, &[("code_verifier", "x")])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.tokens.minted().is_empty());
    assert!(refusals(&f).iter().all(|(e, _)| *e == Endpoint::Token));
    assert_eq!(refusals(&f).len(), 4);
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let f = Fixture::new();
    let code = f.code().await;
    let tokens = f.exchange(&code, &[]).await.unwrap();
    let err = f.exchange(&code, &[]).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.tokens.is_revoked(&tokens.access_token));
    let err = f
        .refresh(tokens.refresh_token.as_deref().unwrap(), &[])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.event_names().contains(&"oauth.code_replay_detected"));
}

#[tokio::test]
async fn an_expired_code_or_one_of_another_client_is_refused() {
    let f = Fixture::new();
    let now = chrono::Utc::now().timestamp();
    let expired: CodeRecord = serde_json::from_value(serde_json::json!({
        "code_hash": sha256_hex("expired-code"),
        "client_id": "cli",
        "user_id": "id-alice",
        "redirect_uri": "http://127.0.0.1:49152/callback",
        "scope": "tools:read",
        "resource": RESOURCE,
        "code_challenge": mcp_oauth::pkce::s256_challenge(VERIFIER),
        "grant_id": "g-expired",
        "issued_at": now - 120,
        "expires_at": now - 60,
    }))
    .unwrap();
    f.store.insert_code(&expired).await.unwrap();
    let err = f.exchange("expired-code", &[]).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(err.error_description.unwrap().contains("expired"));

    let code = f.code().await;
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("web:{}", crate::support::WEB_SECRET)
        )
    );
    let form = encode(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
    ]);
    let err = f
        .server
        .token(form.as_bytes(), Some(&basic))
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.tokens.minted().is_empty());
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_redirect_uri_mismatch_is_shown_not_redirected() {
    let f = Fixture::new();
    for uri in [
        "https://evil.example/callback",
        "http://127.0.0.1:49152/callback/../evil",
        "http://127.0.0.1:49152/callbackx",
        "http://127.0.0.2:49152/callback",
        "http://localhost:49152/callback",
        "javascript:alert(1)",
        "http://127.0.0.1:49152/callback#frag",
    ] {
        let answer = f
            .server
            .authorize(&Fixture::query(&[("redirect_uri", uri)]), None)
            .await;
        let page = answer
            .page()
            .unwrap_or_else(|| panic!("{uri}: open redirect {answer:?}"));
        assert_eq!(page.status, 400, "{uri}");
        assert!(!page.to_http().headers.iter().any(|(k, _)| k == "Location"));
        assert!(!page.html.contains("evil.example"), "the URI is not echoed");
    }
    assert!(
        refusals(&f)
            .iter()
            .all(|r| *r == (Endpoint::Authorize, ErrorCode::InvalidRequest))
    );
    assert_eq!(refusals(&f).len(), 7);
}

#[tokio::test]
async fn an_unknown_or_missing_client_is_shown_not_redirected() {
    let f = Fixture::new();
    for query in [
        Fixture::query(&[("client_id", "nobody")]),
        Fixture::query(&[("client_id", "")]),
        Fixture::query(&[("client_id", "https://client.example/meta.json")]),
    ] {
        let answer = f.server.authorize(&query, None).await;
        assert_eq!(answer.page().map(|p| p.status), Some(400), "{query}");
    }
}

#[tokio::test]
async fn a_redirect_uri_changed_at_the_token_endpoint_is_refused() {
    let f = Fixture::new();
    let code = f.code().await;
    let err = f
        .exchange(
            &code,
            &[("redirect_uri", "http://127.0.0.1:50000/callback")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_token_for_another_audience_cannot_be_obtained() {
    let f = Fixture::new();
    for resource in [
        "https://other.example/mcp",
        "https://as.example/mcp2",
        "https://as.example",
    ] {
        let params = error_redirect(&f, &Fixture::query(&[("resource", resource)])).await;
        assert_eq!(params["error"], "invalid_target", "{resource}");
    }
    let two = format!(
        "{}&resource={}&resource={}",
        Fixture::query(&[]),
        RESOURCE,
        RESOURCE
    );
    assert_eq!(error_redirect(&f, &two).await["error"], "invalid_target");
    // At the token endpoint, the resource must be the authorized one.
    let code = f.code().await;
    let err = f
        .exchange(&code, &[("resource", "https://other.example/mcp")])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidTarget);
    let tokens = f
        .exchange(&f.code().await, &[("resource", RESOURCE)])
        .await
        .unwrap();
    let err = f
        .refresh(
            tokens.refresh_token.as_deref().unwrap(),
            &[("resource", "https://other.example/mcp")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidTarget);
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family() {
    let f = Fixture::new();
    let first = f.exchange(&f.code().await, &[]).await.unwrap();
    let old = first.refresh_token.unwrap();
    let second = f.refresh(&old, &[]).await.unwrap();
    let err = f.refresh(&old, &[]).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.tokens.is_revoked(&first.access_token));
    assert!(f.tokens.is_revoked(&second.access_token));
    let err = f
        .refresh(second.refresh_token.as_deref().unwrap(), &[])
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.event_names().contains(&"oauth.refresh_reuse_detected"));
}

#[tokio::test]
async fn a_refresh_token_used_by_another_client_is_refused_and_its_grant_revoked() {
    let f = Fixture::new();
    let tokens = f.exchange(&f.code().await, &[]).await.unwrap();
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("web:{}", crate::support::WEB_SECRET)
        )
    );
    let form = encode(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens.refresh_token.as_deref().unwrap()),
    ]);
    let err = f
        .server
        .token(form.as_bytes(), Some(&basic))
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    assert!(f.tokens.is_revoked(&tokens.access_token));
}

/// Posts the consent form of a logged-in flow with the given changes.
async fn consent_with(
    f: &Fixture,
    change: impl FnOnce(&mut Vec<(String, String)>, &mut Option<String>),
) -> Interaction {
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let consent = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    let (csrf, request) = hidden_fields(&consent);
    let mut fields = vec![
        ("csrf_token".to_owned(), csrf),
        ("request".to_owned(), request),
        ("decision".to_owned(), "allow".to_owned()),
    ];
    let mut cookie = browser.cookie.clone();
    change(&mut fields, &mut cookie);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    f.server
        .consent(encode(&pairs).as_bytes(), cookie.as_deref())
        .await
}

#[tokio::test]
async fn consent_without_the_csrf_token_is_refused() {
    let f = Fixture::new();
    let answer = consent_with(&f, |fields, _| fields.retain(|(k, _)| k != "csrf_token")).await;
    assert_eq!(answer.page().map(|p| p.status), Some(403));
    let answer = consent_with(&f, |fields, _| fields[0].1 = "forged-token".into()).await;
    assert_eq!(answer.page().map(|p| p.status), Some(403));
    // A cross-site post carries no SameSite=Strict cookie.
    let answer = consent_with(&f, |_, cookie| *cookie = None).await;
    assert_eq!(answer.page().map(|p| p.status), Some(403));
    assert!(f.tokens.minted().is_empty());
    assert!(!f.event_names().contains(&"oauth.code_issued"));
    let consent_refusals = refusals(&f)
        .into_iter()
        .filter(|(e, _)| *e == Endpoint::Consent)
        .count();
    assert_eq!(consent_refusals, 3);
}

#[tokio::test]
async fn page_state_from_another_browser_or_altered_is_refused() {
    let f = Fixture::new();
    // Another browser's cookie with its own valid CSRF token, but this browser's state.
    let mut other = TestBrowser::new();
    let other_page = other.authorize(&f.server, &Fixture::query(&[])).await;
    let (other_csrf, _) = hidden_fields(&other_page);
    let other_cookie = other.cookie.clone();
    let answer = consent_with(&f, |fields, cookie| {
        fields[0].1 = other_csrf.clone();
        *cookie = other_cookie.clone();
    })
    .await;
    assert_eq!(answer.page().map(|p| p.status), Some(403));
    // An altered state (one character changed) fails its signature.
    let answer = consent_with(&f, |fields, _| {
        let request = &mut fields[1].1;
        let flipped = if request.ends_with('A') { 'B' } else { 'A' };
        request.pop();
        request.push(flipped);
    })
    .await;
    assert_eq!(answer.page().map(|p| p.status), Some(403));
    // The log-in form's state (no user yet) posted to the consent endpoint.
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let (csrf, request) = hidden_fields(&login);
    let form = encode(&[
        ("csrf_token", &csrf),
        ("request", &request),
        ("decision", "allow"),
    ]);
    let answer = f
        .server
        .consent(form.as_bytes(), browser.cookie.as_deref())
        .await;
    assert_eq!(answer.page().map(|p| p.status), Some(400));
    assert!(f.tokens.minted().is_empty());
    assert!(!f.event_names().contains(&"oauth.code_issued"));
}

#[tokio::test]
async fn log_in_without_the_csrf_token_is_refused_before_the_password_is_checked() {
    let f = Fixture::new();
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &Fixture::query(&[])).await;
    let (_, request) = hidden_fields(&login);
    let form = encode(&[
        ("request", &request),
        ("username", "alice"),
        ("password", "alice-password"),
    ]);
    let answer = f
        .server
        .log_in(form.as_bytes(), browser.cookie.as_deref())
        .await;
    assert_eq!(answer.page().map(|p| p.status), Some(403));
    assert!(!f.event_names().contains(&"oauth.login_succeeded"));
}

#[tokio::test]
async fn repeated_parameters_and_oversized_state_are_refused() {
    let f = Fixture::new();
    let doubled = format!("{}&client_id=web", Fixture::query(&[]));
    assert_eq!(
        f.server
            .authorize(&doubled, None)
            .await
            .page()
            .map(|p| p.status),
        Some(400)
    );
    let long_state = "s".repeat(3000);
    let params = error_redirect(&f, &Fixture::query(&[("state", &long_state)])).await;
    assert_eq!(params["error"], "invalid_request");
    assert!(!params.contains_key("state"));
    let code = f.code().await;
    let doubled = format!(
        "{}&code={code}",
        encode(&[
            ("grant_type", "authorization_code"),
            ("client_id", "cli"),
            ("code", &code),
            ("code_verifier", VERIFIER)
        ])
    );
    let err = f.server.token(doubled.as_bytes(), None).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn unsupported_requests_get_their_rfc_errors() {
    let f = Fixture::new();
    let cases = [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "tools:read unknown:scope")], "invalid_scope"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (vec![("request_uri", "urn:x")], "request_uri_not_supported"),
        (vec![("response_mode", "fragment")], "invalid_request"),
        (vec![("prompt", "none")], "login_required"),
    ];
    for (extra, expected) in cases {
        let params = error_redirect(&f, &Fixture::query(&extra)).await;
        assert_eq!(params["error"], expected, "{extra:?}");
    }
    let form = encode(&[
        ("grant_type", "password"),
        ("client_id", "cli"),
        ("username", "a"),
        ("password", "b"),
    ]);
    let err = f.server.token(form.as_bytes(), None).await.unwrap_err();
    assert_eq!(err.error, ErrorCode::UnsupportedGrantType);
    let form = encode(&[
        ("grant_type", "authorization_code"),
        ("client_id", "nobody"),
        ("code", "x"),
    ]);
    let err = f.server.token(form.as_bytes(), None).await.unwrap_err();
    assert_eq!((err.error, err.status), (ErrorCode::InvalidClient, 401));
    let err = f.server.token(b"\xff\xfe=%%%", None).await.unwrap_err();
    assert_eq!(err.status / 100, 4, "garbage is a client error");
}

#[tokio::test]
async fn markup_in_a_registered_client_name_is_escaped_on_the_pages() {
    let f = Fixture::new();
    let registered = f
        .server
        .register(
            br#"{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none",
                 "client_name":"<script>alert(1)</script><img src=x onerror=alert(2)>"}"#,
            None,
        )
        .await
        .unwrap();
    let challenge = mcp_oauth::pkce::s256_challenge(VERIFIER);
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", &registered.client_id),
        ("redirect_uri", "http://127.0.0.1:5000/cb"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let mut browser = TestBrowser::new();
    let login = browser.authorize(&f.server, &query).await;
    let consent = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    for page in [&login, &consent] {
        let html = &page.page().expect("page").html;
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(
            html.contains("not verified"),
            "a dynamic client's name is marked unverified"
        );
    }
}
