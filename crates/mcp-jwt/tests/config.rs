//! Configuration is validated at startup, and never leaks secrets.

use std::sync::Arc;

use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{Algorithm, Error, JwtConfig, JwtIssuer, JwtVerifier, KeyConfig, Secret};

const ISSUER: &str = "https://mcp.test";
const SECRET: &str = "test-only-hmac-secret-0123456789abcdef";
const RSA_PUBLIC: &str = include_str!("keys/rsa-public.pem");
const RSA_PRIVATE: &str = include_str!("keys/rsa-private.pem");
const RSA2_PRIVATE: &str = include_str!("keys/rsa2-private.pem");
const RSA1024_PUBLIC: &str = include_str!("keys/rsa1024-public.pem");
const ED_PUBLIC: &str = include_str!("keys/ed25519-public.pem");
const ED_PRIVATE: &str = include_str!("keys/ed25519-private.pem");

fn verifier_error(config: &JwtConfig) -> Error {
    JwtVerifier::from_config(config, Arc::new(MemoryRevocationStore::new()))
        .expect_err("config must be refused")
}

fn one_key(key: KeyConfig) -> JwtConfig {
    let kid = key.kid.clone();
    JwtConfig::new(ISSUER, kid, vec![key])
}

#[test]
fn hs256_secret_shorter_than_32_bytes_is_refused() {
    let config = one_key(KeyConfig::hs256("k", "only-31-bytes-of-secret-text-xx"));
    assert!(matches!(verifier_error(&config), Error::Key { ref kid, .. } if kid == "k"));
    assert!(matches!(
        JwtIssuer::from_config(&config),
        Err(Error::Key { .. })
    ));
    let ok = one_key(KeyConfig::hs256("k", "exactly-32-bytes-of-secret-text!"));
    JwtIssuer::from_config(&ok).expect("32 bytes is enough");
}

#[test]
fn pem_text_as_an_hs256_secret_is_refused() {
    let config = one_key(KeyConfig::hs256("k", RSA_PUBLIC));
    assert!(matches!(verifier_error(&config), Error::Key { .. }));
}

#[test]
fn rsa_private_key_that_does_not_match_its_public_key_is_refused() {
    let config = one_key(KeyConfig::rs256(
        "rsa",
        RSA_PUBLIC,
        Some(Secret::new(RSA2_PRIVATE)),
    ));
    let err = JwtIssuer::from_config(&config).expect_err("mismatched pair");
    assert!(matches!(err, Error::Key { ref reason, .. } if reason.contains("does not match")));
    assert!(matches!(verifier_error(&config), Error::Key { .. }));
}

#[test]
fn rsa_key_shorter_than_2048_bits_is_refused() {
    let mut config = one_key(KeyConfig::rs256("rsa", RSA1024_PUBLIC, None));
    config.signing_kid = None;
    assert!(matches!(verifier_error(&config), Error::Key { .. }));
}

#[test]
fn key_pem_of_the_wrong_kind_is_refused() {
    let ed_as_rsa = one_key(KeyConfig::rs256(
        "k",
        ED_PUBLIC,
        Some(Secret::new(ED_PRIVATE)),
    ));
    assert!(matches!(verifier_error(&ed_as_rsa), Error::Key { .. }));
    let rsa_as_ed = one_key(KeyConfig::eddsa(
        "k",
        RSA_PUBLIC,
        Some(Secret::new(RSA_PRIVATE)),
    ));
    assert!(matches!(verifier_error(&rsa_as_ed), Error::Key { .. }));
    let garbage = one_key(KeyConfig::eddsa("k", "not a pem", None));
    assert!(matches!(verifier_error(&garbage), Error::Key { .. }));
}

#[test]
fn hs256_key_with_pem_fields_is_refused() {
    let mut key = KeyConfig::hs256("k", SECRET);
    key.public_key_pem = Some(RSA_PUBLIC.to_owned());
    assert!(matches!(verifier_error(&one_key(key)), Error::Key { .. }));
}

#[test]
fn asymmetric_key_with_a_secret_is_refused() {
    let mut key = KeyConfig::eddsa("k", ED_PUBLIC, None);
    key.secret = Some(Secret::new(SECRET));
    assert!(matches!(verifier_error(&one_key(key)), Error::Key { .. }));
}

#[test]
fn duplicate_kid_is_refused() {
    let config = JwtConfig::new(
        ISSUER,
        "k",
        vec![
            KeyConfig::hs256("k", SECRET),
            KeyConfig::eddsa("k", ED_PUBLIC, None),
        ],
    );
    assert!(matches!(verifier_error(&config), Error::Config { .. }));
}

#[test]
fn signing_kid_that_is_not_configured_is_refused() {
    let config = JwtConfig::new(ISSUER, "missing", vec![KeyConfig::hs256("k", SECRET)]);
    assert!(matches!(
        JwtIssuer::from_config(&config),
        Err(Error::Config { .. })
    ));
}

#[test]
fn signing_key_without_a_private_half_is_refused() {
    let config = one_key(KeyConfig::eddsa("ed", ED_PUBLIC, None));
    assert!(matches!(
        JwtIssuer::from_config(&config),
        Err(Error::Key { .. })
    ));
}

#[test]
fn out_of_range_settings_are_refused() {
    let base = one_key(KeyConfig::hs256("k", SECRET));
    let mut no_keys = base.clone();
    no_keys.keys.clear();
    let mut no_issuer = base.clone();
    no_issuer.issuer = " ".to_owned();
    let mut zero_ttl = base.clone();
    zero_ttl.ttl_secs = 0;
    let mut huge_leeway = base.clone();
    huge_leeway.leeway_secs = u64::MAX;
    let mut tiny_bound = base.clone();
    tiny_bound.max_token_bytes = 10;
    let mut empty_kid = base.clone();
    empty_kid.keys[0].kid = String::new();
    for config in [
        no_keys,
        no_issuer,
        zero_ttl,
        huge_leeway,
        tiny_bound,
        empty_kid,
    ] {
        assert!(
            matches!(verifier_error(&config), Error::Config { .. }),
            "{config:?}"
        );
    }
}

#[test]
fn config_parses_from_json_with_defaults() {
    let config: JwtConfig = serde_json::from_value(serde_json::json!({
        "issuer": ISSUER,
        "signing_kid": "ed",
        "keys": [
            { "kid": "ed", "algorithm": "EdDSA",
              "public_key_pem": ED_PUBLIC, "private_key_pem": ED_PRIVATE },
            { "kid": "hs", "algorithm": "HS256", "secret": SECRET },
        ],
    }))
    .expect("valid config");
    assert_eq!(config.ttl_secs, mcp_jwt::DEFAULT_TTL_SECS);
    assert_eq!(config.leeway_secs, 60);
    assert_eq!(config.max_token_bytes, 8192);
    assert_eq!(config.keys[0].algorithm, Algorithm::EdDSA);
    JwtIssuer::from_config(&config).expect("issuer");
}

#[test]
fn unknown_config_fields_are_rejected() {
    let typo = serde_json::json!({ "issuer": ISSUER, "keys": [], "leway_secs": 5 });
    assert!(serde_json::from_value::<JwtConfig>(typo).is_err());
    let key_typo = serde_json::json!({
        "issuer": ISSUER,
        "keys": [{ "kid": "k", "algorithm": "HS256", "secret": SECRET, "algo": "none" }],
    });
    assert!(serde_json::from_value::<JwtConfig>(key_typo).is_err());
    let bad_alg = serde_json::json!({
        "issuer": ISSUER,
        "keys": [{ "kid": "k", "algorithm": "none", "secret": SECRET }],
    });
    assert!(serde_json::from_value::<JwtConfig>(bad_alg).is_err());
}

#[test]
fn debug_output_never_contains_secrets() {
    let config = JwtConfig::new(
        ISSUER,
        "hs",
        vec![
            KeyConfig::hs256("hs", SECRET),
            KeyConfig::eddsa("ed", ED_PUBLIC, Some(Secret::new(ED_PRIVATE))),
        ],
    );
    let issuer = JwtIssuer::from_config(&config).expect("issuer");
    let verifier = JwtVerifier::from_config(&config, Arc::new(MemoryRevocationStore::new()))
        .expect("verifier");
    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{issuer:?}"),
        format!("{verifier:?}"),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let private_body = ED_PRIVATE.lines().nth(1).expect("pem body");
        assert!(!shown.contains(private_body), "{shown}");
    }
    assert_eq!(format!("{:?}", Secret::new(SECRET)), "Secret([redacted])");
}

#[test]
fn secrets_compare_by_value() {
    assert_eq!(Secret::new(SECRET), Secret::new(SECRET));
    assert_ne!(
        Secret::new(SECRET),
        Secret::new("another-secret-0123456789abcdefgh")
    );
    assert_ne!(Secret::new("short"), Secret::new("shorter"));
}
