//! The crate against published examples, kept as data in `tests/vectors/`:
//!
//! * RFC 7515 Appendix A.1 (HS256) and A.2 (RS256),
//! * RFC 8037 Appendix A.4 (EdDSA over Ed25519, with the key of A.1),
//! * RFC 7519 Section 3.1 (the example JWT; its MAC key is the one of RFC 7515 A.1).
//!
//! None of these tokens has a `kid`, a `sub` or a `jti`, so the full verifier must refuse
//! every one of them with its precise error. What must hold below that is the signature
//! layer: the crate delegates it to `jsonwebtoken` with keys built by the same calls
//! (`DecodingKey::from_secret`, `from_rsa_pem`, `from_ed_pem`), and those accept the
//! published signature bytes, refuse any one-bit change of them, and reproduce them when
//! signing (all three algorithms are deterministic). The RFC RSA and Ed25519 keys are also
//! loaded through the crate's own configuration (PEM, as it requires; see
//! `tests/vectors/README.md` for how the PEMs were made from the published JWKs), and a
//! token carrying the RFC claims under a configured `kid` passes the crate's signature
//! check and is refused for its missing `sub`.
//!
//! The RFC 7515 A.1 HMAC key is 64 bytes that are not UTF-8, so it cannot be configured as
//! an HS256 `secret` (which is text); its vector is checked at the `jsonwebtoken` layer and
//! against an independent HMAC-SHA256 (the `hmac` crate), which also pins the crate's own
//! HS256 output byte for byte.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::crypto;
use jsonwebtoken::{DecodingKey, EncodingKey};
use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{Algorithm, Claims, Error, JwtConfig, JwtIssuer, JwtVerifier, KeyConfig, Secret};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

const VECTOR_FILES: [&str; 3] = ["rfc7515.json", "rfc7519.json", "rfc8037.json"];
const ISSUER: &str = "https://mcp.test";
/// A text HS256 secret for the verifier that must refuse the HS256 RFC tokens (the RFC
/// key itself is not text, see the module docs). The refusal comes before any key is used.
const HS_SECRET: &str = "rfc-vector-test-secret-of-at-least-32-bytes";

#[derive(Deserialize)]
struct VectorFile {
    source: String,
    vectors: Vec<Vector>,
}

/// One published JWS: its key, its exact header and payload text, and the compact token.
#[derive(Deserialize)]
struct Vector {
    name: String,
    alg: Algorithm,
    jwk: Value,
    #[serde(default)]
    public_key_pem: Option<String>,
    #[serde(default)]
    private_key_pem: Option<String>,
    header: String,
    payload: String,
    #[serde(default)]
    claims: Option<Value>,
    token: String,
}

fn vector_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors"))
}

fn vectors() -> Vec<Vector> {
    VECTOR_FILES
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(vector_dir().join(file)).expect("vector file");
            let parsed: VectorFile = serde_json::from_str(&text).expect("vector file is valid");
            assert!(parsed.source.starts_with("RFC "), "{file} names its source");
            assert!(!parsed.vectors.is_empty(), "{file} has vectors");
            parsed.vectors
        })
        .collect()
}

fn vector(name_prefix: &str) -> Vector {
    vectors()
        .into_iter()
        .find(|v| v.name.starts_with(name_prefix))
        .unwrap_or_else(|| panic!("no vector named {name_prefix}"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// HMAC-SHA256 computed without `jsonwebtoken`, base64url-encoded as in a JWS.
fn independent_hs256(key: &[u8], signing_input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// `signature` with bit `bit` (0 = most significant bit of the first byte) inverted.
fn flip_bit(signature: &str, bit: usize) -> String {
    let mut bytes = unb64(signature);
    bytes[bit / 8] ^= 0x80 >> (bit % 8);
    b64(&bytes)
}

impl Vector {
    fn segments(&self) -> (&str, &str, &str) {
        let mut parts = self.token.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => panic!("{}: not a compact JWS", self.name),
        }
    }

    fn signing_input(&self) -> &str {
        let (_, _, signature) = self.segments();
        &self.token[..self.token.len() - signature.len() - 1]
    }

    fn signature(&self) -> &str {
        self.segments().2
    }

    fn jwk(&self, member: &str) -> &str {
        self.jwk[member]
            .as_str()
            .unwrap_or_else(|| panic!("{}: JWK has no `{member}`", self.name))
    }

    fn pem(&self, file: Option<&String>) -> String {
        let file = file.unwrap_or_else(|| panic!("{}: no PEM", self.name));
        std::fs::read_to_string(vector_dir().join(file)).expect("PEM file")
    }

    fn public_pem(&self) -> String {
        self.pem(self.public_key_pem.as_ref())
    }

    fn private_pem(&self) -> String {
        self.pem(self.private_key_pem.as_ref())
    }

    /// The verifying key, built the way the crate builds it for this algorithm.
    fn decoding_key(&self) -> DecodingKey {
        mcp_jwt::crypto::install();
        match self.alg {
            Algorithm::HS256 => DecodingKey::from_secret(&unb64(self.jwk("k"))),
            Algorithm::RS256 => {
                DecodingKey::from_rsa_pem(self.public_pem().as_bytes()).expect("RSA public PEM")
            }
            Algorithm::EdDSA => {
                DecodingKey::from_ed_pem(self.public_pem().as_bytes()).expect("Ed25519 public PEM")
            }
            other => panic!("{}: no vector algorithm {other}", self.name),
        }
    }

    /// The signing key, built the way the crate builds it for this algorithm.
    fn encoding_key(&self) -> EncodingKey {
        mcp_jwt::crypto::install();
        match self.alg {
            Algorithm::HS256 => EncodingKey::from_secret(&unb64(self.jwk("k"))),
            Algorithm::RS256 => {
                EncodingKey::from_rsa_pem(self.private_pem().as_bytes()).expect("RSA private PEM")
            }
            Algorithm::EdDSA => EncodingKey::from_ed_pem(self.private_pem().as_bytes())
                .expect("Ed25519 private PEM"),
            other => panic!("{}: no vector algorithm {other}", self.name),
        }
    }

    /// The vector's key pair as the crate configures it (RS256 and EdDSA only).
    fn key_config(&self, kid: &str) -> KeyConfig {
        let private = Some(Secret::new(self.private_pem()));
        match self.alg {
            Algorithm::RS256 => KeyConfig::rs256(kid, self.public_pem(), private),
            Algorithm::EdDSA => KeyConfig::eddsa(kid, self.public_pem(), private),
            other => panic!(
                "{}: the crate cannot load the {other} vector key",
                self.name
            ),
        }
    }

    fn verifies(&self, signing_input: &str, signature: &str) -> bool {
        self.verifies_with(&self.decoding_key(), signing_input, signature)
    }

    fn verifies_with(&self, key: &DecodingKey, signing_input: &str, signature: &str) -> bool {
        // An error (for example an RSA signature no longer below the modulus) is a refusal too.
        crypto::verify(signature, signing_input.as_bytes(), key, jwt_alg(self.alg)).unwrap_or(false)
    }
}

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        other => panic!("no vector algorithm {other}"),
    }
}

/// The asymmetric vectors, with the `kid` the tests configure them under.
fn asymmetric() -> Vec<(&'static str, Vector)> {
    vec![
        ("rfc7515-a2", vector("RFC 7515 A.2")),
        ("rfc8037-a1", vector("RFC 8037 A.4")),
    ]
}

/// A verifier with the RFC RSA and Ed25519 keys and a text HS256 key.
fn rfc_verifier() -> JwtVerifier {
    let mut keys: Vec<KeyConfig> = asymmetric()
        .iter()
        .map(|(kid, v)| v.key_config(kid))
        .collect();
    keys.push(KeyConfig::hs256("hs", HS_SECRET));
    let config = JwtConfig::new(ISSUER, "hs", keys);
    JwtVerifier::from_config(&config, Arc::new(MemoryRevocationStore::new()))
        .expect("the RFC keys load")
}

// ---- the vectors themselves ----

#[test]
fn every_vector_token_is_its_published_header_and_payload_in_base64url() {
    let all = vectors();
    assert_eq!(all.len(), 4, "A.1, A.2, 7519 3.1 and 8037 A.4");
    for v in &all {
        let (header, payload, signature) = v.segments();
        assert_eq!(header, b64(v.header.as_bytes()), "{}: header", v.name);
        assert_eq!(payload, b64(v.payload.as_bytes()), "{}: payload", v.name);
        let expected_len = match v.alg {
            Algorithm::HS256 => 32,
            Algorithm::RS256 => 256,
            _ => 64,
        };
        assert_eq!(
            unb64(signature).len(),
            expected_len,
            "{}: signature",
            v.name
        );
        let header: Value = serde_json::from_str(&v.header).expect("header is JSON");
        assert_eq!(header["alg"], v.alg.as_str(), "{}: alg", v.name);
        assert_eq!(
            header.get("kid"),
            None,
            "{}: the RFC tokens have no kid",
            v.name
        );
    }
}

#[test]
fn rfc7519_example_is_the_rfc7515_a1_token_and_carries_the_published_claims() {
    let jwt = vector("RFC 7519 3.1");
    assert_eq!(jwt.token, vector("RFC 7515 A.1").token);
    let claims: Value = serde_json::from_str(&jwt.payload).expect("payload is JSON");
    assert_eq!(Some(&claims), jwt.claims.as_ref());
    assert_eq!(
        claims,
        json!({ "iss": "joe", "exp": 1_300_819_380, "http://example.com/is_root": true })
    );
    // jsonwebtoken, which the crate delegates to, accepts the whole token once the clock
    // and required-claim checks (which the crate insists on) are switched off.
    let mut lenient = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    lenient.validate_exp = false;
    lenient.required_spec_claims.clear();
    let decoded = jsonwebtoken::decode::<Value>(&jwt.token, &jwt.decoding_key(), &lenient)
        .expect("the published token verifies");
    assert_eq!(decoded.claims, claims);
    assert_eq!(decoded.header.kid, None);
}

// ---- the signature layer ----

#[test]
fn every_published_signature_verifies_under_its_published_key() {
    for v in vectors() {
        assert!(v.verifies(v.signing_input(), v.signature()), "{}", v.name);
    }
}

#[test]
fn a_one_bit_change_in_any_byte_of_a_published_signature_is_refused() {
    // One bit per byte, cycling through the bit positions: every byte and every position is
    // hit, at a cost a debug build of RSA and Ed25519 verification can afford.
    for v in vectors() {
        let key = v.decoding_key();
        let len = unb64(v.signature()).len();
        for byte in 0..len {
            let bit = byte * 8 + byte % 8;
            let flipped = flip_bit(v.signature(), bit);
            assert!(
                !v.verifies_with(&key, v.signing_input(), &flipped),
                "{}: signature with bit {bit} flipped verified",
                v.name
            );
        }
    }
}

#[test]
fn published_signature_is_refused_over_a_one_bit_changed_payload() {
    for v in vectors() {
        let (header, _, signature) = v.segments();
        let mut payload = v.payload.clone().into_bytes();
        payload[0] ^= 0x01;
        let input = format!("{header}.{}", b64(&payload));
        assert!(!v.verifies(&input, signature), "{}", v.name);
    }
}

#[test]
fn signing_the_published_input_reproduces_the_published_signature() {
    // HS256, RSASSA-PKCS1-v1_5 and Ed25519 are all deterministic.
    for v in vectors() {
        let signature = crypto::sign(
            v.signing_input().as_bytes(),
            &v.encoding_key(),
            jwt_alg(v.alg),
        )
        .expect("sign");
        assert_eq!(signature, v.signature(), "{}", v.name);
    }
}

#[test]
fn independent_hmac_sha256_reproduces_the_published_hs256_signatures() {
    for v in vectors().into_iter().filter(|v| v.alg == Algorithm::HS256) {
        assert_eq!(
            independent_hs256(&unb64(v.jwk("k")), v.signing_input()),
            v.signature(),
            "{}",
            v.name
        );
    }
}

#[test]
fn converted_public_pems_hold_exactly_the_published_jwk_keys() {
    let rsa = vector("RFC 7515 A.2");
    let jwk = jsonwebtoken::jwk::Jwk::from_decoding_key(&rsa.decoding_key(), None)
        .expect("RSA key as JWK");
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(params) = jwk.algorithm else {
        panic!("the A.2 PEM is not an RSA key");
    };
    let significant = |b: Vec<u8>| b.into_iter().skip_while(|b| *b == 0).collect::<Vec<_>>();
    assert_eq!(significant(unb64(&params.n)), unb64(rsa.jwk("n")));
    assert_eq!(significant(unb64(&params.e)), unb64(rsa.jwk("e")));
    assert_eq!(unb64(rsa.jwk("n")).len() * 8, 2048);

    let ed = vector("RFC 8037 A.4");
    let key = ed.decoding_key();
    assert_eq!(
        key.try_get_as_bytes().expect("Ed25519 key bytes"),
        unb64(ed.jwk("x"))
    );
}

// ---- the crate itself ----

#[tokio::test]
async fn crate_loads_the_rfc_rsa_and_ed25519_keys_as_matching_pairs_and_round_trips_a_token() {
    for (kid, v) in asymmetric() {
        let config = JwtConfig::new(ISSUER, kid, vec![v.key_config(kid)]);
        let issued = JwtIssuer::from_config(&config)
            .unwrap_or_else(|e| panic!("{}: issuer refused the key: {e}", v.name))
            .issue("alice", ["operator"])
            .expect("issue");
        let claims = JwtVerifier::from_config(&config, Arc::new(MemoryRevocationStore::new()))
            .expect("verifier")
            .verify(&issued.token)
            .await
            .unwrap_or_else(|e| panic!("{}: own token refused: {e}", v.name));
        assert_eq!(claims, issued.claims);
    }
}

#[tokio::test]
async fn full_verifier_refuses_every_rfc_token_for_its_missing_kid() {
    let verifier = rfc_verifier();
    for v in vectors() {
        match verifier.verify(&v.token).await {
            Err(Error::Malformed { reason }) => {
                assert_eq!(reason, "header has no kid", "{}", v.name);
            }
            other => panic!(
                "{}: expected the missing-kid refusal, got {other:?}",
                v.name
            ),
        }
    }
}

#[tokio::test]
async fn rfc_claims_under_a_configured_kid_pass_the_signature_and_are_refused_for_missing_sub() {
    let verifier = rfc_verifier();
    let claims_segment = vector("RFC 7519 3.1").segments().1.to_owned();
    for (kid, v) in asymmetric() {
        // The RFC header with a `kid` added, over the RFC 7519 payload byte for byte,
        // signed with the RFC key.
        let header = json!({ "alg": v.alg.as_str(), "kid": kid });
        let input = format!(
            "{}.{claims_segment}",
            b64(&serde_json::to_vec(&header).expect("json"))
        );
        let signature =
            crypto::sign(input.as_bytes(), &v.encoding_key(), jwt_alg(v.alg)).expect("sign");
        let token = format!("{input}.{signature}");
        match verifier.verify(&token).await {
            Err(Error::MissingClaim { claim }) => assert_eq!(claim, "sub", "{}", v.name),
            other => panic!(
                "{}: expected the missing-sub refusal, got {other:?}",
                v.name
            ),
        }
        // The same token with one signature bit changed fails earlier, at the signature.
        let token = format!("{input}.{}", flip_bit(&signature, 100));
        assert!(
            matches!(verifier.verify(&token).await, Err(Error::BadSignature)),
            "{}: a changed signature must be BadSignature",
            v.name
        );
    }
}

// ---- the crate's HS256 output ----

/// The token the crate must produce for `claims`, computed without `jsonwebtoken`: the
/// header and claims JSON written out by hand, and an independent HMAC-SHA256.
fn expected_hs256_token(secret: &str, kid: &str, claims: &Claims) -> String {
    let header = format!(r#"{{"typ":"JWT","alg":"HS256","kid":"{kid}"}}"#);
    let aud = match claims.aud.as_slice() {
        [] => String::new(),
        [one] => format!(r#""aud":"{one}","#),
        _ => panic!("the tests use at most one audience"),
    };
    let roles = claims
        .roles
        .iter()
        .map(|r| format!(r#""{r}""#))
        .collect::<Vec<_>>()
        .join(",");
    let payload = format!(
        r#"{{"sub":"{}","roles":[{roles}],"iss":"{}",{aud}"iat":{},"nbf":{},"exp":{},"jti":"{}"}}"#,
        claims.sub,
        claims.iss,
        claims.iat.expect("iat"),
        claims.nbf.expect("nbf"),
        claims.exp,
        claims.jti,
    );
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = independent_hs256(secret.as_bytes(), &input);
    format!("{input}.{signature}")
}

#[test]
fn issued_hs256_token_for_fixed_claims_is_byte_identical_to_an_independent_computation() {
    let at = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).expect("2026-01-01T00:00:00Z");
    for audience in [None, Some("https://mcp.test/api")] {
        let mut config = JwtConfig::new(
            ISSUER,
            "hs-vector",
            vec![KeyConfig::hs256("hs-vector", HS_SECRET)],
        );
        if let Some(audience) = audience {
            config = config.with_audience(audience);
        }
        let issued = JwtIssuer::from_config(&config)
            .expect("issuer")
            .issue_at("alice", ["operator", "viewer"], at)
            .expect("issue");
        let claims = &issued.claims;
        assert_eq!(claims.iat, Some(1_767_225_600));
        assert_eq!(claims.nbf, Some(1_767_225_600));
        assert_eq!(claims.exp, 1_767_225_600 + 24 * 60 * 60);
        assert_eq!(claims.aud, audience.into_iter().collect::<Vec<_>>());
        assert_eq!(
            issued.token,
            expected_hs256_token(HS_SECRET, "hs-vector", claims),
            "audience {audience:?}"
        );
    }
}

#[tokio::test]
async fn independently_computed_hs256_token_is_accepted_by_the_verifier() {
    let config = JwtConfig::new(
        ISSUER,
        "hs-vector",
        vec![KeyConfig::hs256("hs-vector", HS_SECRET)],
    );
    let issued = JwtIssuer::from_config(&config)
        .expect("issuer")
        .issue("alice", ["operator"])
        .expect("issue");
    let token = expected_hs256_token(HS_SECRET, "hs-vector", &issued.claims);
    assert_eq!(token, issued.token);
    let claims = JwtVerifier::from_config(&config, Arc::new(MemoryRevocationStore::new()))
        .expect("verifier")
        .verify(&token)
        .await
        .expect("verifies");
    assert_eq!(claims, issued.claims);
}
