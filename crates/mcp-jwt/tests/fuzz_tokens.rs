//! Fuzz-style properties of the token parser: arbitrary strings, forged tokens built from
//! random JSON, and mutations of valid tokens are all refused with an error, never a panic.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::fixture::fixture;

/// Verifies `token`; a panic inside fails the property through proptest.
fn refused(token: &str) -> bool {
    let f = fixture();
    f.runtime.block_on(f.verifier.verify(token)).is_err()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Any JSON value, a few levels deep.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A header that names a real or unknown algorithm and key id.
fn arb_header() -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        Just(json!("none")),
        Just(json!("None")),
        Just(json!("HS256")),
        Just(json!("HS512")),
        Just(json!("EdDSA")),
        Just(json!("RS256")),
        Just(json!("ES256")),
        arb_json(),
    ];
    let kid = prop_oneof![
        Just(json!("hs")),
        Just(json!("ed")),
        Just(Value::Null),
        arb_json()
    ];
    (alg, kid, any::<bool>()).prop_map(|(alg, kid, typ)| {
        let mut h = json!({ "alg": alg, "kid": kid });
        if typ {
            h["typ"] = json!("JWT");
        }
        h
    })
}

/// Claims that look plausible (right issuer, future expiry) or are random.
fn arb_claims() -> impl Strategy<Value = Value> {
    let plausible = (any::<u32>(), "\\PC{0,12}").prop_map(|(n, sub)| {
        let now = 1_700_000_000_u64;
        json!({
            "iss": "https://mcp.test", "sub": sub, "roles": ["admin"],
            "iat": now, "nbf": now, "exp": 4_000_000_000_u64 + u64::from(n),
            "jti": format!("j-{n}"),
        })
    });
    prop_oneof![plausible, arb_json()]
}

/// A signature segment: empty, random bytes, or random text.
fn arb_signature() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::collection::vec(any::<u8>(), 0..96).prop_map(|b| b64(&b)),
        "\\PC{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_strings_are_refused(token in "\\PC{0,400}") {
        prop_assert!(refused(&token));
    }

    #[test]
    fn arbitrary_dot_separated_segments_are_refused(
        parts in prop::collection::vec("[A-Za-z0-9_=+/-]{0,120}", 0..6),
    ) {
        prop_assert!(refused(&parts.join(".")));
    }

    #[test]
    fn forged_tokens_with_any_header_claims_and_signature_are_refused(
        header in arb_header(),
        claims in arb_claims(),
        signature in arb_signature(),
    ) {
        let token = format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            signature
        );
        prop_assert!(refused(&token), "forged token verified: {}", token);
    }

    #[test]
    fn segments_of_random_bytes_are_refused(
        header in prop::collection::vec(any::<u8>(), 0..200),
        claims in prop::collection::vec(any::<u8>(), 0..200),
        signature in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let token = format!("{}.{}.{}", b64(&header), b64(&claims), b64(&signature));
        prop_assert!(refused(&token));
    }

    #[test]
    fn truncated_or_extended_valid_tokens_are_refused(
        which in 0usize..2,
        cut in any::<prop::sample::Index>(),
        tail in "\\PC{1,40}",
        extend in any::<bool>(),
    ) {
        let f = fixture();
        let token = &f.tokens[which];
        let mutated = if extend {
            format!("{token}{tail}")
        } else {
            let bytes = token.as_bytes();
            String::from_utf8_lossy(&bytes[..cut.index(bytes.len())]).into_owned()
        };
        prop_assert!(refused(&mutated), "mutated token verified: {}", mutated);
    }

    #[test]
    fn text_inserted_anywhere_in_a_valid_token_is_refused(
        which in 0usize..2,
        at in any::<prop::sample::Index>(),
        insert in "[A-Za-z0-9_.-]{1,12}",
    ) {
        let f = fixture();
        let token = &f.tokens[which];
        let i = at.index(token.len());
        let mutated = format!("{}{}{}", &token[..i], insert, &token[i..]);
        prop_assert!(refused(&mutated), "mutated token verified: {}", mutated);
    }

    #[test]
    fn valid_claims_under_a_forged_header_or_signature_are_refused(
        which in 0usize..2,
        header in arb_header(),
        signature in arb_signature(),
        keep_signature in any::<bool>(),
    ) {
        let f = fixture();
        let parts: Vec<&str> = f.tokens[which].split('.').collect();
        prop_assert_eq!(parts.len(), 3);
        // The real claims with another header (algorithm confusion, `none`, unknown kid), and
        // either the real signature (now over other bytes) or a random one.
        let sig = if keep_signature { parts[2].to_owned() } else { signature };
        let token = format!("{}.{}.{}", b64(header.to_string().as_bytes()), parts[1], sig);
        prop_assert!(refused(&token), "forged token verified: {}", token);
    }
}

#[test]
fn the_untouched_tokens_verify_so_the_properties_test_the_parser() {
    let f = fixture();
    for token in &f.tokens {
        f.runtime
            .block_on(f.verifier.verify(token))
            .expect("valid token verifies");
    }
}

#[test]
fn padding_whitespace_and_an_empty_extra_segment_after_a_valid_token_are_refused() {
    let f = fixture();
    for token in &f.tokens {
        for suffix in ["=", "==", " ", "\n", ".", ".e30", "\0"] {
            let mutated = format!("{token}{suffix}");
            assert!(refused(&mutated), "{mutated:?} verified");
            let mutated = format!("{suffix}{token}");
            assert!(refused(&mutated), "{mutated:?} verified");
        }
    }
}
