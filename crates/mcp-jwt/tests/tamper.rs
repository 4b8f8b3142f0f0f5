//! Property: changing any single byte of a valid token makes it fail verification.

use std::sync::{Arc, OnceLock};

use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{JwtConfig, JwtIssuer, JwtVerifier, KeyConfig, Secret};
use proptest::prelude::*;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: JwtVerifier,
    tokens: Vec<String>,
}

/// One HS256 and one EdDSA token, and a verifier that accepts both.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hs = KeyConfig::hs256("hs", "test-only-hmac-secret-0123456789abcdef");
        let ed = KeyConfig::eddsa(
            "ed",
            include_str!("keys/ed25519-public.pem"),
            Some(Secret::new(include_str!("keys/ed25519-private.pem"))),
        );
        let keys = vec![hs, ed];
        let tokens = ["hs", "ed"]
            .into_iter()
            .map(|kid| {
                let config = JwtConfig::new("https://mcp.test", kid, keys.clone());
                let issuer = JwtIssuer::from_config(&config).expect("issuer");
                issuer.issue("alice", ["operator"]).expect("issue").token
            })
            .collect();
        let config = JwtConfig::new("https://mcp.test", "hs", keys);
        let verifier = JwtVerifier::from_config(&config, Arc::new(MemoryRevocationStore::new()))
            .expect("verifier");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        Fixture {
            runtime,
            verifier,
            tokens,
        }
    })
}

#[test]
fn untouched_tokens_verify() {
    let f = fixture();
    for token in &f.tokens {
        f.runtime
            .block_on(f.verifier.verify(token))
            .expect("valid token verifies");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn flipping_any_byte_of_a_valid_token_never_verifies(
        which in 0usize..2,
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let f = fixture();
        let mut bytes = f.tokens[which].clone().into_bytes();
        let i = position.index(bytes.len());
        bytes[i] ^= mask;
        let tampered = String::from_utf8_lossy(&bytes);
        let result = f.runtime.block_on(f.verifier.verify(&tampered));
        prop_assert!(result.is_err(), "byte {} ^ {:#04x} still verified", i, mask);
    }
}
