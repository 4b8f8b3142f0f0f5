//! What the verifier accepts and, above all, what it refuses, each with its exact error.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::EncodingKey;
use mcp_jwt::store::StoreError;
use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{Error, JwtConfig, JwtIssuer, JwtVerifier, KeyConfig, RevocationStore, Secret};
use serde_json::{Value, json};

const ISSUER: &str = "https://mcp.test";
const HS_KID: &str = "hs-1";
const HS_SECRET: &str = "test-only-hmac-secret-0123456789abcdef";

const RSA_PUBLIC: &str = include_str!("keys/rsa-public.pem");
const RSA_PRIVATE: &str = include_str!("keys/rsa-private.pem");
const ED_PUBLIC: &str = include_str!("keys/ed25519-public.pem");
const ED_PRIVATE: &str = include_str!("keys/ed25519-private.pem");

fn hs_key() -> KeyConfig {
    KeyConfig::hs256(HS_KID, HS_SECRET)
}

fn rsa_key(kid: &str) -> KeyConfig {
    KeyConfig::rs256(kid, RSA_PUBLIC, Some(Secret::new(RSA_PRIVATE)))
}

fn ed_key(kid: &str) -> KeyConfig {
    KeyConfig::eddsa(kid, ED_PUBLIC, Some(Secret::new(ED_PRIVATE)))
}

fn hs_config() -> JwtConfig {
    JwtConfig::new(ISSUER, HS_KID, vec![hs_key()])
}

fn verifier(config: &JwtConfig) -> JwtVerifier {
    JwtVerifier::from_config(config, Arc::new(MemoryRevocationStore::new())).expect("verifier")
}

fn issue(config: &JwtConfig) -> String {
    JwtIssuer::from_config(config)
        .expect("issuer")
        .issue("alice", ["operator"])
        .expect("issue")
        .token
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// A token with exactly this header and payload, correctly signed with `key`.
fn forge(
    header: &Value,
    payload: &Value,
    key: &EncodingKey,
    alg: jsonwebtoken::Algorithm,
) -> String {
    mcp_jwt::crypto::install();
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}

fn hs_header() -> Value {
    json!({ "alg": "HS256", "typ": "JWT", "kid": HS_KID })
}

fn valid_payload() -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": "alice",
        "roles": ["operator"],
        "iss": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "4e0b3c8e-7c1e-4a53-9d57-5f1f6b0f8f00",
    })
}

/// A correctly HS256-signed token with `payload`.
fn hs_forge(payload: &Value) -> String {
    forge(
        &hs_header(),
        payload,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
}

async fn refused(verifier: &JwtVerifier, token: &str) -> Error {
    verifier
        .verify(token)
        .await
        .expect_err("token must be refused")
}

// ---- acceptance ----

#[tokio::test]
async fn issued_token_round_trips_with_its_claims() {
    let config = hs_config();
    let issued = JwtIssuer::from_config(&config)
        .expect("issuer")
        .issue("alice", ["operator", "auditor"])
        .expect("issue");
    let claims = verifier(&config)
        .verify(&issued.token)
        .await
        .expect("verifies");
    assert_eq!(claims, issued.claims);
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.roles, ["operator", "auditor"]);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(
        claims.exp - claims.iat.expect("iat"),
        24 * 60 * 60,
        "default TTL is 24 h"
    );
    assert!(uuid::Uuid::parse_str(&claims.jti).is_ok(), "jti is a UUID");
}

#[tokio::test]
async fn configured_ttl_sets_the_expiry() {
    let config = hs_config().with_ttl_secs(900);
    let issued = JwtIssuer::from_config(&config)
        .expect("issuer")
        .issue("bob", ["viewer"])
        .expect("issue");
    assert_eq!(issued.claims.exp - issued.claims.iat.expect("iat"), 900);
    verifier(&config)
        .verify(&issued.token)
        .await
        .expect("verifies");
}

#[tokio::test]
async fn every_issued_token_has_a_unique_jti() {
    let issuer = JwtIssuer::from_config(&hs_config()).expect("issuer");
    let a = issuer.issue("alice", ["viewer"]).expect("issue");
    let b = issuer.issue("alice", ["viewer"]).expect("issue");
    assert_ne!(a.claims.jti, b.claims.jti);
}

#[tokio::test]
async fn rs256_token_round_trips() {
    let config = JwtConfig::new(ISSUER, "rsa-1", vec![rsa_key("rsa-1")]);
    let claims = verifier(&config)
        .verify(&issue(&config))
        .await
        .expect("verifies");
    assert_eq!(claims.sub, "alice");
}

#[tokio::test]
async fn eddsa_token_round_trips() {
    let config = JwtConfig::new(ISSUER, "ed-1", vec![ed_key("ed-1")]);
    let claims = verifier(&config)
        .verify(&issue(&config))
        .await
        .expect("verifies");
    assert_eq!(claims.roles, ["operator"]);
}

#[tokio::test]
async fn verifier_with_only_public_keys_verifies_tokens_from_the_issuer() {
    let issuing = JwtConfig::new(ISSUER, "ed-1", vec![ed_key("ed-1")]);
    let mut verifying = JwtConfig::new(
        ISSUER,
        "ed-1",
        vec![KeyConfig::eddsa("ed-1", ED_PUBLIC, None)],
    );
    verifying.signing_kid = None;
    verifier(&verifying)
        .verify(&issue(&issuing))
        .await
        .expect("verifies");
    let err = JwtIssuer::from_config(&verifying).expect_err("no signing key configured");
    assert!(matches!(err, Error::Config { .. }), "got {err:?}");
}

#[tokio::test]
async fn token_without_roles_claim_gets_only_the_viewer_role() {
    let mut payload = valid_payload();
    payload.as_object_mut().expect("object").remove("roles");
    let claims = verifier(&hs_config())
        .verify(&hs_forge(&payload))
        .await
        .expect("verifies");
    assert_eq!(claims.roles, [mcp_jwt::DEFAULT_ROLE]);
    assert_eq!(claims.roles, ["viewer"]);
}

#[tokio::test]
async fn token_expired_within_the_leeway_still_verifies() {
    let config = hs_config();
    let issued_at = Utc::now() - Duration::seconds(24 * 60 * 60 + 30);
    let token = JwtIssuer::from_config(&config)
        .expect("issuer")
        .issue_at("alice", ["viewer"], issued_at)
        .expect("issue")
        .token;
    verifier(&config)
        .verify(&token)
        .await
        .expect("30 s past expiry is inside the 60 s leeway");
}

// ---- refusals ----

#[tokio::test]
async fn alg_none_is_refused_as_unsupported() {
    let header = json!({ "alg": "none", "typ": "JWT", "kid": HS_KID });
    let token = format!("{}.{}.", b64(&header), b64(&valid_payload()));
    let err = refused(&verifier(&hs_config()), &token).await;
    assert!(
        matches!(err, Error::UnsupportedAlgorithm { ref alg } if alg == "none"),
        "got {err:?}"
    );
}

#[tokio::test]
async fn hs256_token_signed_with_the_rs256_public_key_is_refused() {
    let config = JwtConfig::new(ISSUER, "rsa-1", vec![rsa_key("rsa-1")]);
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": "rsa-1" });
    let token = forge(
        &header,
        &valid_payload(),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    );
    let err = refused(&verifier(&config), &token).await;
    assert!(
        matches!(err, Error::UnsupportedAlgorithm { ref alg } if alg == "HS256"),
        "got {err:?}"
    );
}

#[tokio::test]
async fn token_naming_a_key_pinned_to_another_algorithm_is_refused() {
    let config = JwtConfig::new(ISSUER, HS_KID, vec![hs_key(), rsa_key("rsa-1")]);
    let rs_token = issue(&JwtConfig::new(ISSUER, "rsa-1", vec![rsa_key("rsa-1")]));
    // Re-label the RS256 token as if signed by the HS256 key.
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": HS_KID });
    let rest = rs_token.split_once('.').expect("three segments").1;
    let token = format!("{}.{rest}", b64(&header));
    let err = refused(&verifier(&config), &token).await;
    assert!(
        matches!(err, Error::UnsupportedAlgorithm { ref alg } if alg == "RS256"),
        "got {err:?}"
    );
}

#[tokio::test]
async fn expired_token_is_refused() {
    let config = hs_config();
    let token = JwtIssuer::from_config(&config)
        .expect("issuer")
        .issue_at("alice", ["viewer"], Utc::now() - Duration::days(2))
        .expect("issue")
        .token;
    assert!(matches!(
        refused(&verifier(&config), &token).await,
        Error::Expired
    ));
}

#[tokio::test]
async fn token_not_yet_valid_is_refused() {
    let config = hs_config();
    let token = JwtIssuer::from_config(&config)
        .expect("issuer")
        .issue_at("alice", ["viewer"], Utc::now() + Duration::hours(1))
        .expect("issue")
        .token;
    assert!(matches!(
        refused(&verifier(&config), &token).await,
        Error::NotYetValid
    ));
}

#[tokio::test]
async fn token_from_another_issuer_is_refused() {
    let mut other = hs_config();
    other.issuer = "https://evil.test".to_owned();
    let token = issue(&other);
    assert!(matches!(
        refused(&verifier(&hs_config()), &token).await,
        Error::WrongIssuer
    ));
}

#[tokio::test]
async fn tampered_payload_is_refused_as_bad_signature() {
    let config = hs_config();
    let token = issue(&config);
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    payload["roles"] = json!(["admin"]);
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    assert!(matches!(
        refused(&verifier(&config), &tampered).await,
        Error::BadSignature
    ));
}

#[tokio::test]
async fn tampered_signature_is_refused_as_bad_signature() {
    let config = hs_config();
    let token = issue(&config);
    let (message, signature) = token.rsplit_once('.').expect("signature");
    let mut signature = signature.as_bytes().to_vec();
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = format!("{message}.{}", String::from_utf8(signature).expect("ascii"));
    assert!(matches!(
        refused(&verifier(&config), &tampered).await,
        Error::BadSignature
    ));
}

#[tokio::test]
async fn truncated_token_is_refused_as_malformed() {
    let config = hs_config();
    let token = issue(&config);
    let truncated = &token[..token.len() / 2];
    let err = refused(&verifier(&config), truncated).await;
    assert!(matches!(err, Error::Malformed { .. }), "got {err:?}");
}

#[tokio::test]
async fn token_with_its_signature_cut_short_is_refused() {
    let config = hs_config();
    let token = issue(&config);
    let err = refused(&verifier(&config), &token[..token.len() - 4]).await;
    assert!(
        matches!(err, Error::BadSignature | Error::Malformed { .. }),
        "got {err:?}"
    );
}

#[tokio::test]
async fn token_with_an_unknown_kid_is_refused() {
    let mut other = hs_config();
    other.keys = vec![KeyConfig::hs256("retired", HS_SECRET)];
    other.signing_kid = Some("retired".to_owned());
    let err = refused(&verifier(&hs_config()), &issue(&other)).await;
    assert!(
        matches!(err, Error::UnknownKey { ref kid } if kid == "retired"),
        "got {err:?}"
    );
}

#[tokio::test]
async fn unknown_kid_in_the_error_is_bounded_and_escaped_for_logs() {
    let header =
        json!({ "alg": "HS256", "typ": "JWT", "kid": format!("evil\n{}", "k".repeat(500)) });
    let token = forge(
        &header,
        &valid_payload(),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    );
    let err = refused(&verifier(&hs_config()), &token).await;
    let Error::UnknownKey { kid } = err else {
        panic!("expected UnknownKey, got {err:?}")
    };
    assert!(kid.starts_with("evil\\n"), "{kid}");
    assert!(!kid.contains('\n'));
    assert!(kid.chars().count() < 200);
}

#[tokio::test]
async fn token_without_a_kid_is_refused_as_malformed() {
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let token = forge(
        &header,
        &valid_payload(),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    );
    let err = refused(&verifier(&hs_config()), &token).await;
    assert!(matches!(err, Error::Malformed { .. }), "got {err:?}");
}

#[tokio::test]
async fn revoked_token_is_refused() {
    let config = hs_config();
    let verifier = verifier(&config);
    let token = issue(&config);
    let claims = verifier
        .verify(&token)
        .await
        .expect("verifies before revocation");
    verifier.revoke(&claims).await.expect("revoke");
    assert!(matches!(refused(&verifier, &token).await, Error::Revoked));
}

#[tokio::test]
async fn oversized_token_is_refused_before_parsing() {
    let err = refused(&verifier(&hs_config()), &"a".repeat(8 * 1024 + 1)).await;
    assert!(
        matches!(
            err,
            Error::TooLarge {
                len: 8193,
                max: 8192
            }
        ),
        "got {err:?}"
    );
}

#[tokio::test]
async fn validly_signed_token_over_the_size_bound_is_refused() {
    let config = hs_config();
    let roles: Vec<String> = (0..1000).map(|i| format!("role-{i}")).collect();
    // Signed by an issuer with a larger bound (ours refuses to issue what it cannot verify).
    let token = JwtIssuer::from_config(&hs_config().with_max_token_bytes(64 * 1024))
        .expect("issuer")
        .issue("alice", roles)
        .expect("issue")
        .token;
    assert!(matches!(
        refused(&verifier(&config), &token).await,
        Error::TooLarge { .. }
    ));
}

#[tokio::test]
async fn non_base64_token_is_refused_as_malformed() {
    let err = refused(&verifier(&hs_config()), "!!!.@@@.###").await;
    assert!(matches!(err, Error::Malformed { .. }), "got {err:?}");
}

#[tokio::test]
async fn empty_token_is_refused_as_malformed() {
    let err = refused(&verifier(&hs_config()), "").await;
    assert!(matches!(err, Error::Malformed { .. }), "got {err:?}");
}

#[tokio::test]
async fn signed_payload_that_is_not_a_json_object_is_refused_as_malformed() {
    let verifier = verifier(&hs_config());
    for payload in [json!([1, 2, 3]), json!("alice"), json!(42), json!(null)] {
        let err = refused(&verifier, &hs_forge(&payload)).await;
        assert!(
            matches!(err, Error::Malformed { .. }),
            "{payload}: got {err:?}"
        );
    }
}

#[tokio::test]
async fn header_that_is_not_a_json_object_is_refused_as_malformed() {
    let token = format!("{}.{}.c2ln", b64(&json!(["HS256"])), b64(&valid_payload()));
    let err = refused(&verifier(&hs_config()), &token).await;
    assert!(matches!(err, Error::Malformed { .. }), "got {err:?}");
}

#[tokio::test]
async fn roles_of_the_wrong_type_are_refused_as_malformed() {
    let verifier = verifier(&hs_config());
    for roles in [
        json!("admin"),
        json!(7),
        json!(null),
        json!([1, 2]),
        json!({ "admin": true }),
    ] {
        let mut payload = valid_payload();
        payload["roles"] = roles.clone();
        let err = refused(&verifier, &hs_forge(&payload)).await;
        assert!(
            matches!(err, Error::Malformed { .. }),
            "roles {roles}: got {err:?}"
        );
    }
}

#[tokio::test]
async fn token_missing_a_required_claim_is_refused() {
    let verifier = verifier(&hs_config());
    for claim in ["exp", "iss", "sub", "jti"] {
        let mut payload = valid_payload();
        payload.as_object_mut().expect("object").remove(claim);
        let err = refused(&verifier, &hs_forge(&payload)).await;
        assert!(
            matches!(err, Error::MissingClaim { claim: ref c } if c == claim),
            "{claim}: {err:?}"
        );
    }
}

#[tokio::test]
async fn registered_claim_of_the_wrong_type_is_refused_as_malformed() {
    let verifier = verifier(&hs_config());
    for (claim, value) in [
        ("exp", json!("tomorrow")),
        ("sub", json!(1)),
        ("nbf", json!(-5)),
    ] {
        let mut payload = valid_payload();
        payload[claim] = value;
        let err = refused(&verifier, &hs_forge(&payload)).await;
        assert!(
            matches!(err, Error::Malformed { .. }),
            "{claim}: got {err:?}"
        );
    }
}

#[tokio::test]
async fn critical_header_extensions_are_refused() {
    let mut header = hs_header();
    header["crit"] = json!(["exp"]);
    let token = forge(
        &header,
        &valid_payload(),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    );
    let err = refused(&verifier(&hs_config()), &token).await;
    assert!(matches!(err, Error::Malformed { .. }), "got {err:?}");
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_until_the_old_key_is_removed() {
    let old = KeyConfig::hs256("2026-10", "old-secret-0123456789abcdef-0123456789");
    let new = ed_key("2026-11");
    let before = JwtConfig::new(ISSUER, "2026-10", vec![old.clone()]);
    let old_token = issue(&before);

    let during = JwtConfig::new(ISSUER, "2026-11", vec![new.clone(), old]);
    let new_token = issue(&during);
    let verifier_during = verifier(&during);
    verifier_during
        .verify(&old_token)
        .await
        .expect("old token still verifies");
    verifier_during
        .verify(&new_token)
        .await
        .expect("new token verifies");

    let after = JwtConfig::new(ISSUER, "2026-11", vec![new]);
    let verifier_after = verifier(&after);
    verifier_after
        .verify(&new_token)
        .await
        .expect("new token verifies");
    let err = refused(&verifier_after, &old_token).await;
    assert!(
        matches!(err, Error::UnknownKey { ref kid } if kid == "2026-10"),
        "got {err:?}"
    );
}

struct FailingStore;

#[async_trait]
impl RevocationStore for FailingStore {
    async fn revoke(&self, _: &str, _: DateTime<Utc>) -> Result<(), StoreError> {
        Err(StoreError::unavailable("down"))
    }
    async fn is_revoked(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::unavailable("down"))
    }
    async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Err(StoreError::unavailable("down"))
    }
}

#[tokio::test]
async fn valid_token_is_refused_when_the_revocation_store_fails() {
    let config = hs_config();
    let verifier = JwtVerifier::from_config(&config, Arc::new(FailingStore)).expect("verifier");
    let err = refused(&verifier, &issue(&config)).await;
    assert!(
        matches!(err, Error::Store(ref e) if e.is_transient()),
        "got {err:?}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "store error kept as source"
    );
}
