//! Issuing and verifying tokens, per algorithm (verification includes the in-memory
//! revocation lookup).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_jwt::store::memory::MemoryRevocationStore;
use mcp_jwt::{JwtConfig, JwtIssuer, JwtVerifier, KeyConfig, Secret};

fn keys() -> Vec<(&'static str, KeyConfig)> {
    vec![
        (
            "HS256",
            KeyConfig::hs256("hs", "bench-only-hmac-secret-0123456789abcdef"),
        ),
        (
            "EdDSA",
            KeyConfig::eddsa(
                "ed",
                include_str!("../tests/keys/ed25519-public.pem"),
                Some(Secret::new(include_str!(
                    "../tests/keys/ed25519-private.pem"
                ))),
            ),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for (name, key) in keys() {
        let config = JwtConfig::new("https://mcp.bench", key.kid.clone(), vec![key]);
        let issuer = JwtIssuer::from_config(&config).expect("issuer");
        let verifier = JwtVerifier::from_config(&config, Arc::new(MemoryRevocationStore::new()))
            .expect("verifier");
        let token = issuer.issue("alice", ["operator"]).expect("issue").token;

        c.bench_function(&format!("issue/{name}"), |b| {
            b.iter(|| {
                issuer
                    .issue(black_box("alice"), ["operator"])
                    .expect("issue")
            })
        });
        c.bench_function(&format!("verify/{name}"), |b| {
            b.to_async(&runtime)
                .iter(|| async { verifier.verify(black_box(&token)).await.expect("verify") })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
