//! The cryptography behind `jsonwebtoken`: a [`CryptoProvider`] built on `ring`.
//!
//! `jsonwebtoken`'s own pure-Rust backend signs RSA with the `rsa` crate, whose private-key
//! operations leak timing (the Marvin attack, RUSTSEC-2023-0071, no fixed release). `ring`
//! signs RSA in constant time (code derived from BoringSSL), has no RSA decryption at all, and
//! is already in the dependency tree (rustls uses it). Every algorithm `jsonwebtoken` knows is
//! provided: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 and EdDSA (Ed25519).
//! RSA keys under 2048 bits are refused for verification too.
//!
//! The provider is process-wide. [`install`] is called by [`JwtIssuer`](crate::JwtIssuer) and
//! [`JwtVerifier`](crate::JwtVerifier); code that calls `jsonwebtoken` directly must call it
//! first.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair};
use ring::{digest, hmac};

type Result<T> = std::result::Result<T, Error>;
type SigResult<T> = std::result::Result<T, signature::Error>;

/// The `ring`-backed provider (see the module docs).
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: rsa_components_from_public_key,
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key,
        compute_digest,
    },
};

/// Makes [`RING_PROVIDER`] `jsonwebtoken`'s provider for this process (no-op once done, or
/// when another provider was installed first).
pub fn install() {
    let _ = RING_PROVIDER.install_default();
}

fn check_family(actual: AlgorithmFamily, wanted: AlgorithmFamily) -> Result<()> {
    if actual == wanted {
        Ok(())
    } else {
        Err(ErrorKind::InvalidKeyFormat.into())
    }
}

/// A signer or verifier: the algorithm and a closure over the key.
struct Op<F> {
    algorithm: Algorithm,
    run: F,
}

impl<F: Fn(&[u8]) -> SigResult<Vec<u8>>> Signer<Vec<u8>> for Op<F> {
    fn try_sign(&self, msg: &[u8]) -> SigResult<Vec<u8>> {
        (self.run)(msg)
    }
}

impl<F: Fn(&[u8]) -> SigResult<Vec<u8>>> JwtSigner for Op<F> {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// A verifier: the closure answers `Ok(())` when `signature` is valid for `msg`.
struct Check<F> {
    algorithm: Algorithm,
    run: F,
}

impl<F: Fn(&[u8], &[u8]) -> SigResult<()>> Verifier<Vec<u8>> for Check<F> {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> SigResult<()> {
        (self.run)(msg, signature)
    }
}

impl<F: Fn(&[u8], &[u8]) -> SigResult<()>> JwtVerifier for Check<F> {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn sig_err(_: ring::error::Unspecified) -> signature::Error {
    signature::Error::new()
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let algorithm = *algorithm;
    check_family(key.family(), algorithm.family())?;
    let bytes = key.as_bytes();
    Ok(match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let key = hmac::Key::new(hmac_algorithm(algorithm), bytes);
            Box::new(Op {
                algorithm,
                run: move |msg: &[u8]| Ok(hmac::sign(&key, msg).as_ref().to_vec()),
            })
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let pair = sig::RsaKeyPair::from_der(bytes)
                .or_else(|_| sig::RsaKeyPair::from_pkcs8(bytes))
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
            let padding = rsa_padding(algorithm);
            Box::new(Op {
                algorithm,
                run: move |msg: &[u8]| {
                    let mut out = vec![0; pair.public().modulus_len()];
                    pair.sign(padding, &SystemRandom::new(), msg, &mut out)
                        .map_err(sig_err)?;
                    Ok(out)
                },
            })
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let signing = match algorithm {
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                _ => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            };
            let pair = sig::EcdsaKeyPair::from_pkcs8(signing, bytes, &SystemRandom::new())
                .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
            Box::new(Op {
                algorithm,
                run: move |msg: &[u8]| {
                    let s = pair.sign(&SystemRandom::new(), msg).map_err(sig_err)?;
                    Ok(s.as_ref().to_vec())
                },
            })
        }
        Algorithm::EdDSA => {
            let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                .map_err(|_| ErrorKind::InvalidEddsaKey)?;
            Box::new(Op {
                algorithm,
                run: move |msg: &[u8]| Ok(pair.sign(msg).as_ref().to_vec()),
            })
        }
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    })
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let algorithm = *algorithm;
    check_family(key.family(), algorithm.family())?;
    let key = key.clone();
    Ok(match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let secret = key.try_get_as_bytes()?;
            let key = hmac::Key::new(hmac_algorithm(algorithm), secret);
            // `hmac::verify` compares in constant time.
            Box::new(Check {
                algorithm,
                run: move |msg: &[u8], tag: &[u8]| hmac::verify(&key, msg, tag).map_err(sig_err),
            })
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let params = rsa_verification(algorithm);
            Box::new(Check {
                algorithm,
                run: move |msg: &[u8], signature: &[u8]| {
                    match key.kind() {
                        DecodingKeyKind::SecretOrDer(der) => {
                            sig::UnparsedPublicKey::new(params, der).verify(msg, signature)
                        }
                        DecodingKeyKind::RsaModulusExponent { n, e } => {
                            sig::RsaPublicKeyComponents { n, e }.verify(params, msg, signature)
                        }
                    }
                    .map_err(sig_err)
                },
            })
        }
        Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => {
            let params: &'static dyn sig::VerificationAlgorithm = match algorithm {
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                _ => &sig::ED25519,
            };
            let public = key.try_get_as_bytes()?.to_vec();
            Box::new(Check {
                algorithm,
                run: move |msg: &[u8], signature: &[u8]| {
                    sig::UnparsedPublicKey::new(params, &public)
                        .verify(msg, signature)
                        .map_err(sig_err)
                },
            })
        }
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    })
}

fn hmac_algorithm(algorithm: Algorithm) -> hmac::Algorithm {
    match algorithm {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

fn rsa_padding(algorithm: Algorithm) -> &'static dyn sig::RsaEncoding {
    match algorithm {
        Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_SHA512,
        _ => &sig::RSA_PKCS1_SHA256,
    }
}

fn rsa_verification(algorithm: Algorithm) -> &'static sig::RsaParameters {
    match algorithm {
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

fn rsa_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = sig::RsaKeyPair::from_der(der)
        .or_else(|_| sig::RsaKeyPair::from_pkcs8(der))
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
    let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((public.n, public.e))
}

/// `(n, e)` of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`), big-endian
/// without leading zeros.
fn rsa_components_from_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    use simple_asn1::{ASN1Block, BigInt};
    let bad = || {
        Error::from(ErrorKind::InvalidRsaKey(
            "not a PKCS#1 RSA public key".into(),
        ))
    };
    let blocks = simple_asn1::from_der(der).map_err(|_| bad())?;
    let [ASN1Block::Sequence(_, parts)] = blocks.as_slice() else {
        return Err(bad());
    };
    let [ASN1Block::Integer(_, n), ASN1Block::Integer(_, e)] = parts.as_slice() else {
        return Err(bad());
    };
    let unsigned = |i: &BigInt| {
        i.to_biguint()
            .filter(|u| u.bits() > 0)
            .map(|u| u.to_bytes_be())
            .ok_or_else(bad)
    };
    Ok((unsigned(n)?, unsigned(e)?))
}

fn ec_components_from_private_key(
    der: &[u8],
    algorithm: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, half) = match algorithm {
        Algorithm::ES256 => (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let pair = sig::EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
        .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
    // An uncompressed point: 0x04, x, y.
    match pair.public_key().as_ref().split_first() {
        Some((4, xy)) if xy.len() == 2 * half => {
            let (x, y) = xy.split_at(half);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn ed_pub_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    if *curve != EllipticCurve::Ed25519 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
        .map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(pair.public_key().as_ref().to_vec())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(digest::digest(algorithm, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::crypto::{sign, verify};
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair};

    const RSA_PRIVATE: &str = include_str!("../tests/keys/rsa-private.pem");
    const RSA_PUBLIC: &str = include_str!("../tests/keys/rsa-public.pem");
    const RSA1024_PUBLIC: &str = include_str!("../tests/keys/rsa1024-public.pem");

    fn round_trip(algorithm: Algorithm, signing: &EncodingKey, verifying: &DecodingKey) {
        install();
        let msg = b"header.payload";
        let signature = sign(msg, signing, algorithm).expect("signs");
        assert!(verify(&signature, msg, verifying, algorithm).expect("verifies"));
        assert!(
            !verify(&signature, b"header.payloaD", verifying, algorithm).unwrap_or(false),
            "{algorithm:?} accepted a signature over another message"
        );
    }

    #[test]
    fn hmac_signatures_verify_and_a_changed_message_is_refused() {
        let secret = b"a secret of at least thirty-two bytes!";
        for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            round_trip(
                algorithm,
                &EncodingKey::from_secret(secret),
                &DecodingKey::from_secret(secret),
            );
        }
    }

    #[test]
    fn rsa_pkcs1_and_pss_signatures_from_ring_verify() {
        let signing = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let verifying = DecodingKey::from_rsa_pem(RSA_PUBLIC.as_bytes()).unwrap();
        for algorithm in [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ] {
            round_trip(algorithm, &signing, &verifying);
        }
    }

    #[test]
    fn ecdsa_and_ed25519_signatures_verify() {
        let rng = SystemRandom::new();
        for (algorithm, signing_alg) in [
            (Algorithm::ES256, &sig::ECDSA_P256_SHA256_FIXED_SIGNING),
            (Algorithm::ES384, &sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing_alg, &rng).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(signing_alg, pkcs8.as_ref(), &rng).unwrap();
            round_trip(
                algorithm,
                &EncodingKey::from_ec_der(pkcs8.as_ref()),
                &DecodingKey::from_ec_der(pair.public_key().as_ref()),
            );
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        round_trip(
            Algorithm::EdDSA,
            &EncodingKey::from_ed_der(pkcs8.as_ref()),
            &DecodingKey::from_ed_der(pair.public_key().as_ref()),
        );
    }

    #[test]
    fn rsa_public_key_components_are_read_from_the_pem() {
        install();
        let verifying = DecodingKey::from_rsa_pem(RSA_PUBLIC.as_bytes()).unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_decoding_key(&verifying, None).unwrap();
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(params) = jwk.algorithm else {
            panic!("not an RSA JWK");
        };
        assert_eq!(params.e, "AQAB");
        let private = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let (n, e) = rsa_components_from_private_key(private.as_bytes()).unwrap();
        let DecodingKeyKind::SecretOrDer(der) = verifying.kind() else {
            panic!("a PEM key is DER");
        };
        assert_eq!(rsa_components_from_public_key(der).unwrap(), (n, e));
        assert!(rsa_components_from_public_key(b"\x30\x00").is_err());
    }

    #[test]
    fn rsa_keys_under_2048_bits_never_verify() {
        install();
        let short = DecodingKey::from_rsa_pem(RSA1024_PUBLIC.as_bytes()).unwrap();
        // Whatever the signature, a 1024-bit key is refused by ring's RSA_*_2048_8192 checks.
        let signature = "A".repeat(171);
        assert!(!verify(&signature, b"m", &short, Algorithm::RS256).unwrap_or(false));
    }

    #[test]
    fn a_key_of_another_family_is_refused() {
        install();
        let hmac = EncodingKey::from_secret(b"a secret of at least thirty-two bytes!");
        assert!(sign(b"m", &hmac, Algorithm::RS256).is_err());
    }
}
