//! The shared fixture of the tamper and fuzz properties: one HS256 and one EdDSA token, and a
//! verifier that accepts both.

use std::sync::{Arc, OnceLock};

use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{JwtConfig, JwtIssuer, JwtVerifier, KeyConfig, Secret};

pub struct Fixture {
    pub runtime: tokio::runtime::Runtime,
    pub verifier: JwtVerifier,
    /// One valid HS256 token and one valid EdDSA token.
    pub tokens: Vec<String>,
}

/// One HS256 and one EdDSA token, and a verifier that accepts both.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hs = KeyConfig::hs256("hs", "test-only-hmac-secret-0123456789abcdef");
        let ed = KeyConfig::eddsa(
            "ed",
            include_str!("../keys/ed25519-public.pem"),
            Some(Secret::new(include_str!("../keys/ed25519-private.pem"))),
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
