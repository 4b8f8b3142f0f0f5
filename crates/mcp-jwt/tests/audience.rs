//! With an audience configured, tokens carry `aud` and only tokens meant for us verify.

use std::sync::Arc;

use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header};
use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{Error, JwtConfig, JwtIssuer, JwtVerifier, KeyConfig};
use serde_json::{Value, json};

const ISSUER: &str = "https://mcp.test";
const AUDIENCE: &str = "https://mcp.test/api";
const KID: &str = "hs-1";
const SECRET: &str = "test-only-hmac-secret-0123456789abcdef";

fn config() -> JwtConfig {
    JwtConfig::new(ISSUER, KID, vec![KeyConfig::hs256(KID, SECRET)])
}

fn verifier(config: &JwtConfig) -> JwtVerifier {
    JwtVerifier::from_config(config, Arc::new(MemoryRevocationStore::new())).expect("verifier")
}

/// A token signed with the configured key, with `aud` set to `aud` (left out when `None`).
fn signed_with_aud(aud: Option<Value>) -> String {
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "sub": "alice", "iss": ISSUER, "iat": now, "nbf": now, "exp": now + 600,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(aud) = aud {
        claims["aud"] = aud;
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

fn payload_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn issued_token_carries_the_audience_and_verifies() {
    let config = config().with_audience(AUDIENCE);
    let issued = JwtIssuer::from_config(&config)
        .expect("issuer")
        .issue("alice", ["operator"])
        .expect("issue");
    assert_eq!(payload_of(&issued.token)["aud"], json!(AUDIENCE));
    let claims = verifier(&config)
        .verify(&issued.token)
        .await
        .expect("verifies");
    assert_eq!(claims.aud, [AUDIENCE]);
}

#[tokio::test]
async fn without_an_audience_issued_tokens_have_no_aud_and_any_aud_is_ignored() {
    let issued = JwtIssuer::from_config(&config())
        .expect("issuer")
        .issue("alice", ["operator"])
        .expect("issue");
    assert_eq!(payload_of(&issued.token).get("aud"), None);
    let verifier = verifier(&config());
    verifier.verify(&issued.token).await.expect("verifies");
    let other = signed_with_aud(Some(json!("https://elsewhere")));
    let claims = verifier.verify(&other).await.expect("aud is not checked");
    assert_eq!(claims.aud, ["https://elsewhere"]);
}

#[tokio::test]
async fn token_without_aud_is_refused_when_an_audience_is_configured() {
    let verifier = verifier(&config().with_audience(AUDIENCE));
    let err = verifier
        .verify(&signed_with_aud(None))
        .await
        .expect_err("no aud");
    assert!(
        matches!(err, Error::MissingClaim { ref claim } if claim == "aud"),
        "{err:?}"
    );
    // A token from an issuer without the audience (same key) is refused the same way.
    let old = JwtIssuer::from_config(&config())
        .expect("issuer")
        .issue("alice", ["operator"])
        .expect("issue");
    assert!(matches!(
        verifier.verify(&old.token).await,
        Err(Error::MissingClaim { .. })
    ));
}

#[tokio::test]
async fn token_for_another_audience_is_refused() {
    let verifier = verifier(&config().with_audience(AUDIENCE));
    for aud in [
        json!("https://elsewhere"),
        json!(["https://elsewhere", "https://other"]),
        json!([]),
        json!(""),
    ] {
        let err = verifier
            .verify(&signed_with_aud(Some(aud.clone())))
            .await
            .expect_err("wrong aud");
        assert!(matches!(err, Error::WrongAudience), "{aud}: {err:?}");
    }
}

#[tokio::test]
async fn aud_that_is_neither_a_string_nor_an_array_of_strings_is_refused() {
    let verifier = verifier(&config().with_audience(AUDIENCE));
    for aud in [json!(5), json!({ "aud": AUDIENCE }), json!([AUDIENCE, 5])] {
        let err = verifier
            .verify(&signed_with_aud(Some(aud.clone())))
            .await
            .expect_err("malformed aud");
        assert!(matches!(err, Error::MissingClaim { .. }), "{aud}: {err:?}");
    }
}

#[tokio::test]
async fn aud_as_a_string_or_an_array_containing_ours_is_accepted() {
    let verifier = verifier(&config().with_audience(AUDIENCE));
    let claims = verifier
        .verify(&signed_with_aud(Some(json!(AUDIENCE))))
        .await
        .expect("string aud");
    assert_eq!(claims.aud, [AUDIENCE]);
    let claims = verifier
        .verify(&signed_with_aud(Some(json!([
            "https://elsewhere",
            AUDIENCE
        ]))))
        .await
        .expect("array aud");
    assert_eq!(claims.aud, ["https://elsewhere", AUDIENCE]);
}

#[test]
fn empty_audience_is_refused_and_audience_parses_from_config() {
    let err = JwtVerifier::from_config(
        &config().with_audience("  "),
        Arc::new(MemoryRevocationStore::new()),
    )
    .expect_err("empty audience");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    let parsed: JwtConfig = serde_json::from_value(json!({
        "issuer": ISSUER, "audience": AUDIENCE, "signing_kid": KID,
        "keys": [{ "kid": KID, "algorithm": "HS256", "secret": SECRET }],
    }))
    .expect("valid config");
    assert_eq!(parsed.audience.as_deref(), Some(AUDIENCE));
    assert!(format!("{parsed:?}").contains(AUDIENCE));
}
