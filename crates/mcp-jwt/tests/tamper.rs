//! Property: changing any single byte of a valid token makes it fail verification.

use proptest::prelude::*;

use crate::support::fixture::fixture;

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
