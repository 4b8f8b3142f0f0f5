//! Per-token options: custom claims, lifetime, audience, scope and client id, written at
//! issuance and read back after verification.

use std::sync::Arc;

use chrono::{Duration, Utc};
use jsonwebtoken::{EncodingKey, Header};
use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{Error, JwtConfig, JwtIssuer, JwtVerifier, KeyConfig, RESERVED_CLAIMS, TokenOptions};
use serde::Deserialize;
use serde_json::{Value, json};

const ISSUER: &str = "https://mcp.test";
const KID: &str = "hs-1";
const SECRET: &str = "test-only-hmac-secret-0123456789abcdef";
const MCP: &str = "https://mcp.test/mcp";

fn config() -> JwtConfig {
    JwtConfig::new(ISSUER, KID, vec![KeyConfig::hs256(KID, SECRET)]).with_ttl_secs(3600)
}

fn pair(config: &JwtConfig) -> (JwtIssuer, JwtVerifier) {
    let issuer = JwtIssuer::from_config(config).expect("issuer");
    let verifier =
        JwtVerifier::from_config(config, Arc::new(MemoryRevocationStore::new())).expect("verifier");
    (issuer, verifier)
}

fn payload_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

/// A token signed with the configured key carrying `extra` on top of valid claims.
fn signed_with(extra: Value) -> String {
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "sub": "alice", "iss": ISSUER, "iat": now, "nbf": now, "exp": now + 600,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    for (k, v) in extra.as_object().expect("object") {
        claims[k] = v.clone();
    }
    mcp_jwt::crypto::install();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(KID.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

#[derive(Debug, Deserialize, PartialEq)]
struct Tenant {
    id: String,
    plan: String,
}

#[tokio::test]
async fn custom_claims_are_written_and_read_back_after_verification() {
    let (issuer, verifier) = pair(&config());
    let options = TokenOptions::new()
        .claim("tenant", json!({ "id": "acme", "plan": "pro" }))
        .claim("quota", 42)
        .claim("beta", true)
        .claim("region", "eu-west");
    let issued = issuer
        .issue_with("alice", ["operator"], options)
        .expect("issue");
    assert_eq!(payload_of(&issued.token)["region"], json!("eu-west"));
    let claims = verifier.verify(&issued.token).await.expect("verifies");
    assert_eq!(claims, issued.claims);
    assert_eq!(
        claims.custom_claim::<Tenant>("tenant").expect("shape"),
        Some(Tenant {
            id: "acme".into(),
            plan: "pro".into()
        })
    );
    assert_eq!(
        claims.custom_claim::<u32>("quota").expect("shape"),
        Some(42)
    );
    assert_eq!(
        claims.custom_claim::<bool>("beta").expect("shape"),
        Some(true)
    );
    assert_eq!(
        claims.custom_claim::<String>("absent").expect("shape"),
        None
    );
    let err = claims
        .custom_claim::<u32>("region")
        .expect_err("a string is not a number");
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    // Registered claims never show up among the custom ones.
    assert_eq!(
        claims.custom.keys().collect::<Vec<_>>(),
        ["beta", "quota", "region", "tenant"]
    );
}

#[tokio::test]
async fn claims_of_other_issuers_are_readable_as_custom_claims() {
    let (_, verifier) = pair(&config());
    let token = signed_with(json!({ "email": "alice@example.com", "groups": ["ops"] }));
    let claims = verifier.verify(&token).await.expect("verifies");
    assert_eq!(
        claims.custom_claim::<Vec<String>>("groups").expect("shape"),
        Some(vec!["ops".to_owned()])
    );
    assert_eq!(claims.custom["email"], json!("alice@example.com"));
}

#[test]
fn reserved_names_cannot_be_custom_claims() {
    let (issuer, _) = pair(&config());
    for name in RESERVED_CLAIMS {
        let err = issuer
            .issue_with("alice", ["viewer"], TokenOptions::new().claim(*name, "x"))
            .expect_err("reserved");
        assert!(
            matches!(&err, Error::ReservedClaim { claim } if claim == name),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_token_gets_its_own_lifetime_within_the_configured_maximum() {
    let (issuer, verifier) = pair(&config().with_max_ttl_secs(7200));
    let now = Utc::now();
    let short = issuer
        .issue_with(
            "alice",
            ["viewer"],
            TokenOptions::new().ttl_secs(90).issued_at(now),
        )
        .expect("issue");
    assert_eq!(short.claims.exp - short.claims.iat.expect("iat"), 90);
    verifier.verify(&short.token).await.expect("verifies");
    let default = issuer.issue("alice", ["viewer"]).expect("issue");
    assert_eq!(default.claims.exp - default.claims.iat.expect("iat"), 3600);
    let longest = issuer
        .issue_with("alice", ["viewer"], TokenOptions::new().ttl_secs(7200))
        .expect("the maximum itself is allowed");
    assert_eq!(longest.claims.exp - longest.claims.iat.expect("iat"), 7200);
    for ttl in [0, 7201, u64::MAX] {
        let err = issuer
            .issue_with("alice", ["viewer"], TokenOptions::new().ttl_secs(ttl))
            .expect_err("outside 1..=max");
        assert!(
            matches!(err, Error::TtlTooLong { requested, max: 7200 } if requested == ttl),
            "{ttl}: {err:?}"
        );
    }
    assert_eq!(issuer.max_ttl_secs(), 7200);
}

#[test]
fn without_a_maximum_the_default_lifetime_is_the_longest() {
    let (issuer, _) = pair(&config());
    assert_eq!(issuer.max_ttl_secs(), 3600);
    assert!(matches!(
        issuer.issue_with("alice", ["viewer"], TokenOptions::new().ttl_secs(3601)),
        Err(Error::TtlTooLong { max: 3600, .. })
    ));
}

#[test]
fn a_maximum_below_the_default_lifetime_is_a_config_error() {
    for max in [3599, 400 * 24 * 3600] {
        let err = JwtIssuer::from_config(&config().with_max_ttl_secs(max)).expect_err("bad max");
        assert!(matches!(err, Error::Config { .. }), "{max}: {err:?}");
    }
    let parsed: JwtConfig = serde_json::from_value(json!({
        "issuer": ISSUER, "signing_kid": KID, "ttl_secs": 600, "max_ttl_secs": 86400,
        "accepted_audiences": [MCP],
        "keys": [{ "kid": KID, "algorithm": "HS256", "secret": SECRET }],
    }))
    .expect("valid config");
    assert_eq!(parsed.effective_max_ttl_secs(), 86400);
    assert_eq!(parsed.accepted_audiences, [MCP]);
}

#[tokio::test]
async fn issue_time_in_the_past_yields_an_expired_token() {
    let (issuer, verifier) = pair(&config());
    let issued = issuer
        .issue_with(
            "alice",
            ["viewer"],
            TokenOptions::new()
                .ttl_secs(60)
                .issued_at(Utc::now() - Duration::hours(1)),
        )
        .expect("issue");
    assert!(matches!(
        verifier.verify(&issued.token).await,
        Err(Error::Expired)
    ));
}

#[tokio::test]
async fn scope_and_client_id_are_written_as_rfc_9068_claims_and_read_back() {
    let config = config().with_accepted_audiences([MCP]);
    let (issuer, verifier) = pair(&config);
    let options = TokenOptions::new()
        .audience(MCP)
        .scope(["tools:read", "graph:query"])
        .client_id("my-cli");
    let issued = issuer
        .issue_with("alice", ["developer"], options)
        .expect("issue");
    let payload = payload_of(&issued.token);
    assert_eq!(payload["scope"], json!("tools:read graph:query"));
    assert_eq!(payload["client_id"], json!("my-cli"));
    assert_eq!(payload["aud"], json!(MCP));
    let claims = verifier.verify(&issued.token).await.expect("verifies");
    assert_eq!(
        claims.scope.as_deref(),
        Some(&["tools:read".to_owned(), "graph:query".to_owned()][..])
    );
    assert_eq!(claims.client_id.as_deref(), Some("my-cli"));
    assert!(claims.allows_scope("graph:query"));
    assert!(!claims.allows_scope("tools:execute"));
}

#[tokio::test]
async fn a_token_without_scope_is_limited_by_roles_only() {
    let (issuer, verifier) = pair(&config());
    let issued = issuer.issue("alice", ["developer"]).expect("issue");
    assert_eq!(payload_of(&issued.token).get("scope"), None);
    assert_eq!(payload_of(&issued.token).get("client_id"), None);
    let claims = verifier.verify(&issued.token).await.expect("verifies");
    assert_eq!(claims.scope, None);
    assert!(claims.allows_scope("anything"));
    // An empty scope allows nothing.
    let empty = issuer
        .issue_with(
            "alice",
            ["developer"],
            TokenOptions::new().scope(Vec::<String>::new()),
        )
        .expect("issue");
    let claims = verifier.verify(&empty.token).await.expect("verifies");
    assert_eq!(claims.scope, Some(vec![]));
    assert!(!claims.allows_scope("tools:read"));
}

#[tokio::test]
async fn scope_is_read_from_a_string_or_an_array_and_refused_otherwise() {
    let (_, verifier) = pair(&config());
    let claims = verifier
        .verify(&signed_with(json!({ "scope": "  a   b " })))
        .await
        .expect("string scope");
    assert_eq!(claims.scope, Some(vec!["a".to_owned(), "b".to_owned()]));
    let claims = verifier
        .verify(&signed_with(json!({ "scope": ["a", "b"] })))
        .await
        .expect("array scope");
    assert_eq!(claims.scope, Some(vec!["a".to_owned(), "b".to_owned()]));
    for bad in [json!(5), json!({ "a": 1 }), json!(["a", 5])] {
        let err = verifier
            .verify(&signed_with(json!({ "scope": bad.clone() })))
            .await
            .expect_err("bad scope");
        assert!(matches!(err, Error::Malformed { .. }), "{bad}: {err:?}");
    }
    let err = verifier
        .verify(&signed_with(json!({ "client_id": 7 })))
        .await
        .expect_err("client_id must be a string");
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
}

#[test]
fn scopes_with_spaces_and_empty_audiences_are_refused_at_issuance() {
    let (issuer, _) = pair(&config());
    for options in [
        TokenOptions::new().scope(["a b"]),
        TokenOptions::new().scope([""]),
        TokenOptions::new().audience(" "),
    ] {
        assert!(matches!(
            issuer.issue_with("alice", ["viewer"], options),
            Err(Error::Signing { .. })
        ));
    }
}

#[tokio::test]
async fn per_token_audiences_verify_only_where_they_are_accepted() {
    let api = "https://mcp.test/api";
    let config = config().with_audience(api).with_accepted_audiences([MCP]);
    let (issuer, verifier) = pair(&config);
    // The configured audience is the default; a per-token one replaces it.
    let legacy = issuer.issue("alice", ["viewer"]).expect("issue");
    assert_eq!(legacy.claims.aud, [api]);
    let oauth = issuer
        .issue_with("alice", ["viewer"], TokenOptions::new().audience(MCP))
        .expect("issue");
    assert_eq!(oauth.claims.aud, [MCP]);
    verifier
        .verify(&legacy.token)
        .await
        .expect("configured audience");
    verifier
        .verify(&oauth.token)
        .await
        .expect("accepted audience");
    let elsewhere = issuer
        .issue_with(
            "alice",
            ["viewer"],
            TokenOptions::new().audience("https://other.test/mcp"),
        )
        .expect("issuing for another service is allowed");
    assert!(matches!(
        verifier.verify(&elsewhere.token).await,
        Err(Error::WrongAudience)
    ));
    // A verifier without the accepted audience refuses the OAuth token.
    let (_, strict) = pair(&self::config().with_audience(api));
    assert!(matches!(
        strict.verify(&oauth.token).await,
        Err(Error::WrongAudience)
    ));
}

#[tokio::test]
async fn with_only_accepted_audiences_a_token_without_aud_still_verifies() {
    let config = config().with_accepted_audiences([MCP]);
    let (issuer, verifier) = pair(&config);
    let legacy = issuer.issue("alice", ["viewer"]).expect("issue");
    assert!(legacy.claims.aud.is_empty());
    verifier
        .verify(&legacy.token)
        .await
        .expect("no aud: legacy");
    for (aud, refused) in [
        (json!("https://other.test/mcp"), "wrong"),
        (json!([]), "wrong"),
        (json!(5), "missing"),
    ] {
        let err = verifier
            .verify(&signed_with(json!({ "aud": aud.clone() })))
            .await
            .expect_err("refused");
        match refused {
            "wrong" => assert!(matches!(err, Error::WrongAudience), "{aud}: {err:?}"),
            _ => assert!(matches!(err, Error::MissingClaim { .. }), "{aud}: {err:?}"),
        }
    }
    let claims = verifier
        .verify(&signed_with(json!({ "aud": ["https://x.test", MCP] })))
        .await
        .expect("one of them is ours");
    assert_eq!(claims.aud, ["https://x.test", MCP]);
}

#[test]
fn a_token_too_long_to_verify_is_not_issued() {
    let config = config().with_max_token_bytes(1024);
    let (issuer, _) = pair(&config);
    let err = issuer
        .issue_with(
            "alice",
            ["viewer"],
            TokenOptions::new().claim("blob", "x".repeat(2000)),
        )
        .expect_err("too long");
    assert!(matches!(err, Error::Signing { .. }), "{err:?}");
}

#[test]
fn an_empty_accepted_audience_is_a_config_error() {
    let err = JwtVerifier::from_config(
        &config().with_accepted_audiences([""]),
        Arc::new(MemoryRevocationStore::new()),
    )
    .expect_err("empty");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}
