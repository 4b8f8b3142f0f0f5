//! Tokens from an external identity provider, verified against a local provider that serves
//! OpenID discovery and a JWKS over a loopback socket: algorithms, audience and issuer
//! checks, role mapping, key rotation and the refetch rate limit.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_oauth::external::{ExternalIssuerConfig, ExternalTokenError, ExternalVerifier};
use mcp_oauth::fetch::GuardedFetcher;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

use crate::support::http::{Route, TestServer};

const AUDIENCE: &str = "https://mcp.example/mcp";

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A test provider's signing key: signs JWS with `ring` and publishes itself as a JWK.
struct Signer {
    kid: &'static str,
    pair: Pair,
}

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM body")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Rsa(_) => "RS256",
            Pair::Ec(_) => "ES256",
            Pair::Ed(_) => "EdDSA",
        }
    }

    fn with_kid(self, kid: &'static str) -> Self {
        Self { kid, ..self }
    }

    fn jwk(&self) -> serde_json::Value {
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                serde_json::json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                                   "n": b64(&public.n), "e": b64(&public.e)})
            }
            Pair::Ec(pair) => {
                let point = pair.public_key().as_ref();
                serde_json::json!({"kty": "EC", "crv": "P-256", "kid": self.kid,
                                   "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Pair::Ed(pair) => serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid,
                                                 "x": b64(pair.public_key().as_ref())}),
        }
    }

    fn sign_with_header(&self, header: serde_json::Value, claims: &serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match &self.pair {
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .expect("sign");
                sig
            }
            Pair::Ec(pair) => pair
                .sign(&rng, input.as_bytes())
                .expect("sign")
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&sig))
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        self.sign_with_header(
            serde_json::json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

fn rsa() -> Signer {
    let pair = RsaKeyPair::from_pkcs8(&der(include_str!("keys/rsa-private.pem"))).expect("rsa");
    Signer {
        kid: "rsa-1",
        pair: Pair::Rsa(pair),
    }
}
fn rsa2() -> Signer {
    let pair = RsaKeyPair::from_pkcs8(&der(include_str!("keys/rsa2-private.pem"))).expect("rsa");
    Signer {
        kid: "rsa-2",
        pair: Pair::Rsa(pair),
    }
}
fn ec() -> Signer {
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &der(include_str!("keys/ec-p256-private.pem")),
        &SystemRandom::new(),
    )
    .expect("ec");
    Signer {
        kid: "ec-1",
        pair: Pair::Ec(pair),
    }
}
fn ed() -> Signer {
    let pair =
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der(include_str!("keys/ed25519-private.pem")))
            .expect("ed25519");
    Signer {
        kid: "ed-1",
        pair: Pair::Ed(pair),
    }
}

/// A provider at a loopback port publishing `keys`.
struct Provider {
    http: TestServer,
    issuer: String,
}

impl Provider {
    async fn start(keys: &[&Signer]) -> Self {
        let http = TestServer::start().await;
        let issuer = http.url("/realms/test");
        let discovery = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": http.url("/realms/test/certs"),
            "authorization_endpoint": http.url("/realms/test/auth"),
        });
        http.set(
            "/realms/test/.well-known/openid-configuration",
            Route::Json(discovery.to_string()),
        );
        let provider = Self { http, issuer };
        provider.publish(keys);
        provider
    }

    fn publish(&self, keys: &[&Signer]) {
        let set = serde_json::json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
        self.http
            .set("/realms/test/certs", Route::Json(set.to_string()));
    }

    fn config(&self) -> ExternalIssuerConfig {
        let mut map = BTreeMap::new();
        map.insert("mcp-admins".to_owned(), vec!["admin".to_owned()]);
        map.insert("mcp-devs".to_owned(), vec!["developer".to_owned()]);
        let mut config = ExternalIssuerConfig::new(&self.issuer, AUDIENCE)
            .with_roles("realm_access.roles", map)
            .allowing_insecure_loopback_http();
        config.default_roles = vec!["viewer".into()];
        config
    }

    fn verifier(&self, config: ExternalIssuerConfig) -> ExternalVerifier {
        ExternalVerifier::new(vec![config], Arc::new(GuardedFetcher::new().unwrap()))
            .expect("verifier")
    }

    fn claims(&self, extra: serde_json::Value) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = serde_json::json!({
            "iss": self.issuer,
            "sub": "user-42",
            "aud": AUDIENCE,
            "exp": now + 300,
            "iat": now,
            "azp": "inspector",
            "scope": "openid tools:read",
            "realm_access": {"roles": ["mcp-devs", "offline_access"]},
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            claims[k] = v;
        }
        claims
    }
}

#[tokio::test]
async fn tokens_signed_with_each_supported_algorithm_verify_and_map_roles() {
    let (rsa, ec, ed) = (rsa(), ec(), ed());
    let idp = Provider::start(&[&rsa, &ec, &ed]).await;
    let verifier = idp.verifier(idp.config());
    for signer in [&rsa, &ec, &ed] {
        let token = signer.sign(&idp.claims(serde_json::json!({})));
        assert_eq!(verifier.claimed_issuer(&token), Some(idp.issuer.as_str()));
        let id = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", signer.kid));
        assert_eq!(id.subject, "user-42");
        assert_eq!(id.issuer, idp.issuer);
        assert_eq!(id.roles, ["developer"]);
        assert_eq!(id.scopes.to_string(), "openid tools:read");
        assert_eq!(id.client_id.as_deref(), Some("inspector"));
    }
    // Discovery once, keys once: the cache serves the rest.
    assert_eq!(
        idp.http
            .hits("/realms/test/.well-known/openid-configuration"),
        1
    );
    assert_eq!(idp.http.hits("/realms/test/certs"), 1);
    let unmapped = rsa.sign(&idp.claims(serde_json::json!({"realm_access": {"roles": ["other"]}})));
    assert_eq!(verifier.verify(&unmapped).await.unwrap().roles, ["viewer"]);
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let signer = rsa();
    let idp = Provider::start(&[&signer]).await;
    let verifier = idp.verifier(idp.config());
    let other_aud =
        signer.sign(&idp.claims(serde_json::json!({"aud": "https://other.example/mcp"})));
    assert_eq!(
        verifier.verify(&other_aud).await,
        Err(ExternalTokenError::WrongAudience)
    );
    let no_aud = {
        let mut claims = idp.claims(serde_json::json!({}));
        claims.as_object_mut().unwrap().remove("aud");
        signer.sign(&claims)
    };
    assert!(matches!(
        verifier.verify(&no_aud).await,
        Err(ExternalTokenError::MissingClaim(_))
    ));
    let other_iss =
        signer.sign(&idp.claims(serde_json::json!({"iss": "https://evil.example/realms/test"})));
    assert_eq!(verifier.claimed_issuer(&other_iss), None);
    assert_eq!(
        verifier.verify(&other_iss).await,
        Err(ExternalTokenError::UnknownIssuer)
    );
    let expired =
        signer.sign(&idp.claims(serde_json::json!({"exp": chrono::Utc::now().timestamp() - 3600})));
    assert_eq!(
        verifier.verify(&expired).await,
        Err(ExternalTokenError::Expired)
    );
    let early =
        signer.sign(&idp.claims(serde_json::json!({"nbf": chrono::Utc::now().timestamp() + 3600})));
    assert_eq!(
        verifier.verify(&early).await,
        Err(ExternalTokenError::NotYetValid)
    );
}

#[tokio::test]
async fn forged_signatures_none_and_algorithm_confusion_are_refused() {
    let signer = rsa();
    let idp = Provider::start(&[&signer]).await;
    let verifier = idp.verifier(idp.config());
    // The impostor signs under the published kid with its own key.
    let forged = rsa2()
        .with_kid("rsa-1")
        .sign(&idp.claims(serde_json::json!({})));
    assert_eq!(
        verifier.verify(&forged).await,
        Err(ExternalTokenError::BadSignature)
    );
    let b64 = |v: serde_json::Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    let payload = b64(idp.claims(serde_json::json!({})));
    let none = format!(
        "{}.{payload}.",
        b64(serde_json::json!({"alg": "none", "kid": "rsa-1"}))
    );
    assert!(matches!(
        verifier.verify(&none).await,
        Err(ExternalTokenError::UnsupportedAlgorithm(_))
    ));
    let hs = format!(
        "{}.{payload}.c2ln",
        b64(serde_json::json!({"alg": "HS256", "kid": "rsa-1"}))
    );
    assert!(matches!(
        verifier.verify(&hs).await,
        Err(ExternalTokenError::UnsupportedAlgorithm(_))
    ));
    // ES256 header on the RSA key's kid.
    let es_on_rsa = format!(
        "{}.{payload}.c2ln",
        b64(serde_json::json!({"alg": "ES256", "kid": "rsa-1"}))
    );
    assert!(matches!(
        verifier.verify(&es_on_rsa).await,
        Err(ExternalTokenError::UnsupportedAlgorithm(_))
    ));
    let crit = format!(
        "{}.{payload}.c2ln",
        b64(serde_json::json!({"alg": "RS256", "kid": "rsa-1", "crit": ["x"]}))
    );
    assert!(matches!(
        verifier.verify(&crit).await,
        Err(ExternalTokenError::Malformed(_))
    ));
    for garbage in ["", "a.b", "a.b.c.d", "!!!.???.###"] {
        assert!(
            matches!(
                verifier.verify(garbage).await,
                Err(ExternalTokenError::Malformed(_))
            ),
            "{garbage:?}"
        );
    }
    assert_eq!(
        verifier.verify(&"a".repeat(20_000)).await,
        Err(ExternalTokenError::TooLarge)
    );
    // An issuer limited to EdDSA refuses RS256 even from its own keys.
    let mut ed_only = idp.config();
    ed_only.algorithms = vec![mcp_oauth::external::ExternalAlgorithm::EdDSA];
    let strict = idp.verifier(ed_only);
    let token = signer.sign(&idp.claims(serde_json::json!({})));
    assert!(matches!(
        strict.verify(&token).await,
        Err(ExternalTokenError::UnsupportedAlgorithm(_))
    ));
}

#[tokio::test]
async fn a_key_rotation_at_the_provider_is_picked_up_by_refetching() {
    let (old, new) = (rsa(), ec());
    let idp = Provider::start(&[&old]).await;
    let verifier = idp.verifier(idp.config().with_min_refetch_secs(0));
    verifier
        .verify(&old.sign(&idp.claims(serde_json::json!({}))))
        .await
        .expect("old key");
    idp.publish(&[&new]);
    let token = new.sign(&idp.claims(serde_json::json!({})));
    verifier
        .verify(&token)
        .await
        .expect("new key after refetch");
    assert_eq!(idp.http.hits("/realms/test/certs"), 2);
    // The old key is gone from the provider and from the cache.
    let err = verifier
        .verify(&old.sign(&idp.claims(serde_json::json!({}))))
        .await
        .unwrap_err();
    assert_eq!(err, ExternalTokenError::UnknownKey("rsa-1".into()));
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let (known, unknown) = (rsa(), rsa2().with_kid("forged-kid"));
    let idp = Provider::start(&[&known]).await;
    let verifier = idp.verifier(idp.config().with_min_refetch_secs(3600));
    verifier
        .verify(&known.sign(&idp.claims(serde_json::json!({}))))
        .await
        .expect("known");
    for _ in 0..20 {
        let err = verifier
            .verify(&unknown.sign(&idp.claims(serde_json::json!({}))))
            .await
            .unwrap_err();
        assert_eq!(err, ExternalTokenError::UnknownKey("forged-kid".into()));
    }
    assert_eq!(
        idp.http.hits("/realms/test/certs"),
        1,
        "the forged kids caused no refetch"
    );
    // Known keys keep working meanwhile.
    verifier
        .verify(&known.sign(&idp.claims(serde_json::json!({}))))
        .await
        .expect("known");
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let signer = rsa();
    let idp = Provider::start(&[&signer]).await;
    let lying = serde_json::json!({"issuer": "https://evil.example", "jwks_uri": idp.http.url("/realms/test/certs")});
    idp.http.set(
        "/realms/test/.well-known/openid-configuration",
        Route::Json(lying.to_string()),
    );
    let verifier = idp.verifier(idp.config());
    let err = verifier
        .verify(&signer.sign(&idp.claims(serde_json::json!({}))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExternalTokenError::KeysUnavailable(_)),
        "{err:?}"
    );
    assert_eq!(idp.http.hits("/realms/test/certs"), 0);
}

#[tokio::test]
async fn an_http_issuer_needs_the_loopback_opt_in() {
    let idp = Provider::start(&[]).await;
    let mut config = idp.config();
    config.allow_insecure_loopback_http = false;
    assert!(ExternalVerifier::new(vec![config], Arc::new(GuardedFetcher::new().unwrap())).is_err());
    let twice = vec![idp.config(), idp.config()];
    assert!(ExternalVerifier::new(twice, Arc::new(GuardedFetcher::new().unwrap())).is_err());
}

#[tokio::test]
async fn several_issuers_are_trusted_each_with_its_own_keys() {
    let (a_key, b_key) = (rsa(), ec());
    let a = Provider::start(&[&a_key]).await;
    let b = Provider::start(&[&b_key]).await;
    assert_ne!(a.issuer, b.issuer);
    let verifier = ExternalVerifier::new(
        vec![a.config(), b.config()],
        Arc::new(GuardedFetcher::new().unwrap()),
    )
    .expect("verifier");
    for (idp, key) in [(&a, &a_key), (&b, &b_key)] {
        let token = key.sign(&idp.claims(serde_json::json!({})));
        assert_eq!(verifier.claimed_issuer(&token), Some(idp.issuer.as_str()));
        let id = verifier.verify(&token).await.expect("verified");
        assert_eq!(id.issuer, idp.issuer);
        assert_eq!(id.roles, ["developer"]);
    }
    // Claims of the first issuer signed with the second one's key: not the first one's key.
    let crossed = b_key.sign(&a.claims(serde_json::json!({})));
    assert!(verifier.verify(&crossed).await.is_err());
    assert_eq!(
        b.http.hits("/realms/test/certs"),
        1,
        "B's keys were not asked"
    );
}
