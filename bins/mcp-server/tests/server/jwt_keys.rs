//! Token keys through the whole app: rotation between HS256 keys, RS256 and EdDSA keys from
//! PEM files, verify-only keys, removed keys and the audience, each from log-in to an
//! authenticated request. Instances share one set of stores, as a fleet behind a balancer does.
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::test::{self, TestRequest};
use actix_web::web;
use mcp_jwt::Algorithm;
use mcp_server::config::{Config, JwtKeyConfig};
use mcp_server::state::{AppState, Backends};
use serde_json::{Value, json};

use super::common::{FakeSandbox, error_code, test_config};
use crate::send;

const PASSWORD: &str = "correct horse battery";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

/// One set of memory stores that several app instances share.
struct Fleet {
    backends: Backends,
}

impl Fleet {
    /// The stores, with user `alice` (password [`PASSWORD`], role `viewer`).
    async fn new() -> Self {
        let backends = Backends::memory();
        mcp_server::users::create_user(&*backends.users, "alice", PASSWORD)
            .await
            .expect("user created");
        Self { backends }
    }

    /// An instance with `config`, or why it did not start.
    fn try_instance(&self, config: Config) -> anyhow::Result<AppState> {
        let b = &self.backends;
        let backends = Backends {
            users: Arc::clone(&b.users),
            roles: Arc::clone(&b.roles),
            revocations: Arc::clone(&b.revocations),
            audit: Arc::clone(&b.audit),
            graph: Arc::clone(&b.graph),
            sandbox: Ok(Arc::new(FakeSandbox::new())),
            sandbox_tools: None,
            oauth: Arc::clone(&b.oauth),
            counters: Arc::clone(&b.counters),
        };
        AppState::assemble(config, backends)
    }

    fn instance(&self, config: Config) -> AppState {
        self.try_instance(config).expect("instance starts")
    }
}

/// Logs alice in on `state` and returns the access token.
async fn log_in(state: &AppState) -> String {
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let r = send!(
        &app,
        TestRequest::post()
            .uri("/auth/token")
            .set_json(json!({"username": "alice", "password": PASSWORD}))
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// `GET /api/v1/me` on `state` with `token`: `Ok(username)` or `Err(error code)`.
async fn me(state: &AppState, token: &str) -> Result<String, String> {
    let app = test::init_service(mcp_server::app(web::Data::new(state.clone()))).await;
    let r = send!(
        &app,
        TestRequest::get()
            .uri("/api/v1/me")
            .insert_header(("Authorization", format!("Bearer {token}")))
    );
    if r.status == 200 {
        Ok(r.body["username"].as_str().unwrap_or_default().to_owned())
    } else {
        assert_eq!(r.status, 401, "{}", r.text);
        Err(error_code(&r))
    }
}

/// The decoded header (`0`) or payload (`1`) of a token.
fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).expect("segment");
    serde_json::from_slice(&base64url(segment)).expect("JSON")
}

/// Base64url without padding (test-only decoder; the server has no base64 dependency).
fn base64url(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// A secret file in `dir` (kept alive by the caller).
fn secret_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(
        &path,
        format!("{name}-secret-of-more-than-thirty-two-bytes\n"),
    )
    .unwrap();
    path
}

fn with_keys(keys: Vec<JwtKeyConfig>, signing_kid: &str, keep_legacy_secret: bool) -> Config {
    let mut config = test_config();
    if !keep_legacy_secret {
        config.auth.jwt_secret = None;
    }
    config.auth.jwt_keys = keys;
    config.auth.jwt_signing_kid = Some(signing_kid.to_owned());
    config
}

#[actix_web::test]
async fn hs256_rotation_keeps_old_tokens_valid_signs_with_the_new_kid_and_refuses_a_removed_kid() {
    let fleet = Fleet::new().await;
    let dir = tempfile::tempdir().unwrap();
    let new_key = || JwtKeyConfig::hs256_file("2026-12", secret_file(&dir, "2026-12"));

    // Before: the single `auth.jwt_secret`, key `primary`, as before key lists existed.
    let before = fleet.instance(test_config());
    let old_token = log_in(&before).await;
    assert_eq!(part(&old_token, 0)["kid"], "primary");
    assert_eq!(me(&before, &old_token).await.as_deref(), Ok("alice"));

    // Step 1: the new key is added everywhere; `primary` still signs.
    let added = fleet.instance(with_keys(vec![new_key()], "primary", true));
    assert_eq!(part(&log_in(&added).await, 0)["kid"], "primary");
    assert_eq!(me(&added, &old_token).await.as_deref(), Ok("alice"));

    // Step 2: the new key signs; the old key, no longer signing, still verifies.
    let switched = fleet.instance(with_keys(vec![new_key()], "2026-12", true));
    let new_token = log_in(&switched).await;
    let header = part(&new_token, 0);
    assert_eq!(
        (&header["kid"], &header["alg"]),
        (&json!("2026-12"), &json!("HS256"))
    );
    assert_eq!(me(&switched, &old_token).await.as_deref(), Ok("alice"));
    assert_eq!(me(&switched, &new_token).await.as_deref(), Ok("alice"));
    // An instance still on step 1 accepts the new tokens too (it has the key).
    assert_eq!(me(&added, &new_token).await.as_deref(), Ok("alice"));
    // One that never got the new key does not: hence step 1 everywhere first.
    assert_eq!(me(&before, &new_token).await, Err("invalid_token".into()));

    // Step 3: the old key is removed; its tokens are refused, the new ones still work.
    let removed = fleet.instance(with_keys(vec![new_key()], "2026-12", false));
    assert_eq!(me(&removed, &old_token).await, Err("invalid_token".into()));
    assert_eq!(me(&removed, &new_token).await.as_deref(), Ok("alice"));
}

#[actix_web::test]
async fn rs256_and_eddsa_keys_from_pem_files_work_from_log_in_to_an_authenticated_request() {
    let fleet = Fleet::new().await;
    for (algorithm, stem) in [(Algorithm::RS256, "rsa"), (Algorithm::EdDSA, "ed25519")] {
        let kid = format!("{stem}-1");
        let signing = JwtKeyConfig::asymmetric(
            kid.clone(),
            algorithm,
            fixture(&format!("{stem}-public.pem")),
            Some(fixture(&format!("{stem}-private.pem"))),
        );
        let state = fleet.instance(with_keys(vec![signing], &kid, false));
        let token = log_in(&state).await;
        let header = part(&token, 0);
        assert_eq!(header["alg"], algorithm.as_str(), "{header}");
        assert_eq!(header["kid"], kid.as_str());
        assert_eq!(me(&state, &token).await.as_deref(), Ok("alice"));

        // An instance with only the public key verifies these tokens but signs with its own key.
        let verify_only = JwtKeyConfig::asymmetric(
            kid.clone(),
            algorithm,
            fixture(&format!("{stem}-public.pem")),
            None,
        );
        let verifier = fleet.instance(with_keys(vec![verify_only], "primary", true));
        assert_eq!(me(&verifier, &token).await.as_deref(), Ok("alice"));
        assert_eq!(part(&log_in(&verifier).await, 0)["kid"], "primary");
    }
}

#[actix_web::test]
async fn token_signed_by_a_verify_only_key_still_verifies_after_rotating_to_another_algorithm() {
    let fleet = Fleet::new().await;
    let ed = |private: bool| {
        JwtKeyConfig::asymmetric(
            "ed-1",
            Algorithm::EdDSA,
            fixture("ed25519-public.pem"),
            private.then(|| fixture("ed25519-private.pem")),
        )
    };
    let rsa = || {
        JwtKeyConfig::asymmetric(
            "rsa-2",
            Algorithm::RS256,
            fixture("rsa-public.pem"),
            Some(fixture("rsa-private.pem")),
        )
    };
    let before = fleet.instance(with_keys(vec![ed(true)], "ed-1", false));
    let old_token = log_in(&before).await;
    // The EdDSA key is now verify-only (its private key removed); RS256 signs.
    let after = fleet.instance(with_keys(vec![ed(false), rsa()], "rsa-2", false));
    assert_eq!(me(&after, &old_token).await.as_deref(), Ok("alice"));
    let new_token = log_in(&after).await;
    assert_eq!(part(&new_token, 0)["kid"], "rsa-2");
    assert_eq!(me(&after, &new_token).await.as_deref(), Ok("alice"));
    let removed = fleet.instance(with_keys(vec![rsa()], "rsa-2", false));
    assert_eq!(me(&removed, &old_token).await, Err("invalid_token".into()));
}

#[actix_web::test]
async fn with_an_audience_tokens_carry_it_and_tokens_without_it_are_refused() {
    let fleet = Fleet::new().await;
    let mut config = test_config();
    config.auth.jwt_audience = Some("https://mcp.test/api".into());
    let with_aud = fleet.instance(config.clone());
    let token = log_in(&with_aud).await;
    assert_eq!(part(&token, 1)["aud"], "https://mcp.test/api");
    assert_eq!(me(&with_aud, &token).await.as_deref(), Ok("alice"));

    // Same key, no audience: its tokens have no `aud` and are refused.
    let without_aud = fleet.instance(test_config());
    let plain = log_in(&without_aud).await;
    assert_eq!(part(&plain, 1).get("aud"), None);
    assert_eq!(me(&with_aud, &plain).await, Err("invalid_token".into()));
    // Without an audience configured, a token without `aud` is accepted, but one bound to an
    // audience that is not this server's (neither `auth.jwt_audience` nor one of its OAuth
    // resources) is refused: RFC 8707.
    assert_eq!(me(&without_aud, &token).await, Err("invalid_token".into()));

    // Same key, another audience: refused.
    config.auth.jwt_audience = Some("https://other.test".into());
    let other = fleet.instance(config);
    let foreign = log_in(&other).await;
    assert_eq!(me(&with_aud, &foreign).await, Err("invalid_token".into()));
}

#[actix_web::test]
async fn unreadable_or_invalid_key_material_stops_start_up_with_the_kid_in_the_error() {
    let fleet = Fleet::new().await;
    let dir = tempfile::tempdir().unwrap();
    let start = |keys: Vec<JwtKeyConfig>, signing: &str| {
        fleet
            .try_instance(with_keys(keys, signing, false))
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    };

    let missing =
        JwtKeyConfig::asymmetric("ed-x", Algorithm::EdDSA, dir.path().join("nope.pem"), None);
    let hs = JwtKeyConfig::hs256_file("hs", secret_file(&dir, "hs"));
    let err = start(vec![hs.clone(), missing], "hs").unwrap_err();
    assert!(err.contains("ed-x") && err.contains("nope.pem"), "{err}");

    let junk = dir.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let invalid = JwtKeyConfig::asymmetric("rsa-x", Algorithm::RS256, &junk, None);
    let err = start(vec![hs.clone(), invalid], "hs").unwrap_err();
    assert!(err.contains("rsa-x"), "{err}");

    // An EdDSA public key given as an RS256 key is refused too.
    let wrong_kind = JwtKeyConfig::asymmetric(
        "rsa-y",
        Algorithm::RS256,
        fixture("ed25519-public.pem"),
        None,
    );
    let err = start(vec![hs.clone(), wrong_kind], "hs").unwrap_err();
    assert!(err.contains("rsa-y"), "{err}");

    // A private key that is not the public key's other half.
    let mismatched = JwtKeyConfig::asymmetric(
        "ed-z",
        Algorithm::EdDSA,
        fixture("ed25519-public.pem"),
        Some(fixture("rsa-private.pem")),
    );
    let err = start(vec![mismatched], "ed-z").unwrap_err();
    assert!(err.contains("ed-z"), "{err}");

    let short = dir.path().join("short");
    std::fs::write(&short, "only sixteen b!!").unwrap();
    let err = start(
        vec![JwtKeyConfig::hs256_file("hs-short", &short)],
        "hs-short",
    )
    .unwrap_err();
    assert!(
        err.contains("hs-short") && err.contains("32 bytes"),
        "{err}"
    );

    start(vec![hs], "hs").expect("the good key alone starts");
}
