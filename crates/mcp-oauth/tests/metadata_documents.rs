//! Client ID Metadata Documents through the real fetcher, against a local HTTP server: the
//! SSRF guards (loopback, private and link-local addresses, redirects, huge and slow
//! documents) and a client that registers by its document and completes the flow.
//!
//! A metadata document must be served over https; these tests serve plain http on a
//! loopback port, so the ones that fetch use `dangerous_allow_plain_http` (feature
//! `testing`) and `allow_private_addresses`. The refusal tests use the default policy.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth::event::OAuthEvent;
use mcp_oauth::fetch::{FetchError, FetchPolicy, GuardedFetcher, HttpFetch};
use mcp_oauth::store::ClientSource;
use mcp_oauth::testing::encode;
use mcp_oauth::{AuthorizationServer, OAuthConfig};

use crate::support::http::{Route, TestServer};
use crate::support::{Fixture, VERIFIER, config};

fn test_fetcher() -> GuardedFetcher {
    GuardedFetcher::new()
        .expect("fetcher")
        .dangerous_allow_plain_http()
}

fn local_policy(timeout_ms: u64) -> FetchPolicy {
    FetchPolicy::public(5 * 1024, Duration::from_millis(timeout_ms))
        .allowing_private_addresses(true)
}

/// A fixture whose server fetches metadata documents with `fetcher` and `allow_private`.
fn fixture(allow_private: bool, fetcher: GuardedFetcher) -> Fixture {
    let mut config: OAuthConfig = config();
    config.client_metadata_documents.allow_private_addresses = allow_private;
    config.client_metadata_documents.timeout_ms = 1_000;
    let mut f = Fixture::with_config(config.clone());
    f.server = AuthorizationServer::builder(config)
        .store(Arc::clone(&f.store) as _)
        .users(Arc::clone(&f.users) as _)
        .tokens(Arc::clone(&f.tokens) as _)
        .events(Arc::clone(&f.events) as _)
        .fetcher(Arc::new(fetcher))
        .build()
        .expect("server");
    f
}

fn document(client_id: &str) -> String {
    serde_json::json!({
        "client_id": client_id,
        "client_name": "Doc Client",
        "redirect_uris": ["http://127.0.0.1/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
    .to_string()
}

fn query(client_id: &str) -> String {
    let challenge = mcp_oauth::pkce::s256_challenge(VERIFIER);
    encode(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "http://127.0.0.1:6000/cb"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
}

#[tokio::test]
async fn a_document_at_a_loopback_address_is_refused_without_connecting() {
    let idp = TestServer::start().await;
    let port = idp.addr.port();
    let f = fixture(false, GuardedFetcher::new().unwrap());
    assert!(f.server.metadata().client_id_metadata_document_supported);
    for client_id in [
        format!("https://127.0.0.1:{port}/client.json"),
        format!("https://localhost:{port}/client.json"),
        format!("https://[::1]:{port}/client.json"),
        format!("https://[::ffff:127.0.0.1]:{port}/client.json"),
    ] {
        idp.set("/client.json", Route::Json(document(&client_id)));
        let answer = f.server.authorize(&query(&client_id), None).await;
        let page = answer
            .page()
            .unwrap_or_else(|| panic!("{client_id}: {answer:?}"));
        assert_eq!(page.status, 400, "{client_id}");
        assert!(
            page.html.contains("not public"),
            "{client_id}: {}",
            page.html
        );
    }
    assert_eq!(idp.connections(), 0, "the guard refuses before connecting");
    assert!(
        f.event_names()
            .iter()
            .all(|n| *n == "oauth.request_refused")
    );
}

#[tokio::test]
async fn private_link_local_and_plain_http_urls_are_refused_before_connecting() {
    let fetcher = GuardedFetcher::new().unwrap();
    let policy = FetchPolicy::public(5 * 1024, Duration::from_secs(2));
    for url in [
        "https://10.0.0.1/client.json",
        "https://192.168.1.20/client.json",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00::1]/client.json",
        "https://[fe80::1]/client.json",
        "https://0.0.0.0/client.json",
        "https://100.64.0.1/client.json",
    ] {
        let err = fetcher
            .get(&url.parse().unwrap(), &policy)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::AddressRefused(_)),
            "{url}: {err:?}"
        );
    }
    let err = fetcher
        .get(
            &"http://client.example/client.json".parse().unwrap(),
            &policy,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::UrlRefused(_)), "{err:?}");
}

#[tokio::test]
async fn a_huge_document_is_refused() {
    let idp = TestServer::start().await;
    idp.set("/endless.json", Route::Endless(1024 * 1024));
    idp.set("/announced.json", Route::Announced(1024 * 1024));
    let fetcher = test_fetcher();
    for path in ["/endless.json", "/announced.json"] {
        let err = fetcher
            .get(&idp.url(path).parse().unwrap(), &local_policy(5_000))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::TooLarge(5 * 1024), "{path}");
    }
}

#[tokio::test]
async fn a_slow_document_times_out() {
    let idp = TestServer::start().await;
    idp.set("/slow.json", Route::Slow(Duration::from_secs(30)));
    let err = test_fetcher()
        .get(&idp.url("/slow.json").parse().unwrap(), &local_policy(300))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let idp = TestServer::start().await;
    let target = idp.url("/target.json");
    idp.set(
        "/moved.json",
        Route::Status(302, vec![("Location".into(), target)], String::new()),
    );
    idp.set("/target.json", Route::Json("{}".into()));
    let err = test_fetcher()
        .get(
            &idp.url("/moved.json").parse().unwrap(),
            &local_policy(2_000),
        )
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::Redirect(302));
    assert_eq!(idp.hits("/target.json"), 0);
    idp.set("/gone.json", Route::Status(404, Vec::new(), String::new()));
    let err = test_fetcher()
        .get(
            &idp.url("/gone.json").parse().unwrap(),
            &local_policy(2_000),
        )
        .await
        .unwrap_err();
    assert_eq!(err, FetchError::Status(404));
}

#[tokio::test]
async fn a_client_described_by_its_document_completes_the_flow_and_is_cached() {
    let idp = TestServer::start().await;
    let client_id = idp.url("/oauth/client.json");
    idp.set("/oauth/client.json", Route::Json(document(&client_id)));
    let f = fixture(true, test_fetcher());
    let params = f
        .authorize(&query(&client_id), "alice", "alice-password", false)
        .await;
    let code = params.get("code").expect("code").clone();
    let form = encode(&[
        ("grant_type", "authorization_code"),
        ("client_id", &client_id),
        ("code", &code),
        ("code_verifier", VERIFIER),
    ]);
    let tokens = f.server.token(form.as_bytes(), None).await.expect("tokens");
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        idp.hits("/oauth/client.json"),
        1,
        "fetched once, then cached"
    );
    let registered: Vec<ClientSource> = f
        .events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            OAuthEvent::ClientRegistered { source, .. } => Some(source),
            _ => None,
        })
        .collect();
    assert_eq!(registered, [ClientSource::MetadataDocument]);
    // The consent page names the client by its name and its URL.
    let mut browser = mcp_oauth::testing::TestBrowser::new();
    let login = browser.authorize(&f.server, &query(&client_id)).await;
    let consent = browser
        .log_in(&f.server, &login, "alice", "alice-password")
        .await;
    let html = &consent.page().unwrap().html;
    // minijinja escapes `/` as `&#x2f;` in HTML.
    let shown = client_id.replace('/', "&#x2f;");
    assert!(
        html.contains("Doc Client") && html.contains(&shown),
        "{html}"
    );
}

#[tokio::test]
async fn documents_that_lie_or_hold_secrets_are_refused_and_failures_are_cached() {
    let idp = TestServer::start().await;
    let f = fixture(true, test_fetcher());
    let cases = [
        (
            "/other-id.json",
            document("https://elsewhere.example/client.json"),
        ),
        ("/secret.json", {
            let mut doc: serde_json::Value = serde_json::from_str(&document("")).unwrap();
            doc["client_id"] = idp.url("/secret.json").into();
            doc["client_secret"] = "s3cret".into();
            doc.to_string()
        }),
        ("/confidential.json", {
            let mut doc: serde_json::Value = serde_json::from_str(&document("")).unwrap();
            doc["client_id"] = idp.url("/confidential.json").into();
            doc["token_endpoint_auth_method"] = "client_secret_basic".into();
            doc.to_string()
        }),
        ("/bad-redirect.json", {
            let mut doc: serde_json::Value = serde_json::from_str(&document("")).unwrap();
            doc["client_id"] = idp.url("/bad-redirect.json").into();
            doc["redirect_uris"] = serde_json::json!(["http://evil.example/cb"]);
            doc.to_string()
        }),
        ("/not-json.json", "<html>".to_owned()),
    ];
    for (path, body) in cases {
        idp.set(path, Route::Json(body));
        let answer = f.server.authorize(&query(&idp.url(path)), None).await;
        assert_eq!(answer.page().map(|p| p.status), Some(400), "{path}");
        let again = f.server.authorize(&query(&idp.url(path)), None).await;
        assert_eq!(again.page().map(|p| p.status), Some(400), "{path}");
        assert_eq!(idp.hits(path), 1, "{path}: the failure is cached");
    }
    assert!(!f.event_names().contains(&"oauth.client_registered"));
}

/// An https server on a loopback port with the test certificate, answering `body` to any
/// request. Returns its port.
async fn tls_server(body: String) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(
            include_bytes!("tls/server.der").to_vec(),
        )],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            include_bytes!("tls/server-key.der").to_vec(),
        )),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn documents_are_fetched_over_real_tls_only_from_a_trusted_certificate() {
    let body = r#"{"hello":"tls"}"#.to_owned();
    let port = tls_server(body.clone()).await;
    let policy = local_policy(5_000);
    let trusted =
        GuardedFetcher::with_extra_roots(vec![include_bytes!("tls/ca.der").to_vec()]).unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{port}/client.json")
            .parse()
            .unwrap();
        let doc = trusted
            .get(&url, &policy)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(doc.body, body.as_bytes());
    }
    let untrusted = GuardedFetcher::new().unwrap();
    let url = format!("https://127.0.0.1:{port}/client.json")
        .parse()
        .unwrap();
    let err = untrusted.get(&url, &policy).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Request(ref m) if m.starts_with("TLS")),
        "{err:?}"
    );
}
