//! Turning [`KeyConfig`]s into checked signing and verifying keys.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};

use crate::config::{
    Algorithm, JwtConfig, KeyConfig, MAX_LEEWAY_SECS, MAX_TTL_SECS, MAX_VERIFIED_CACHE_ENTRIES,
    MIN_HMAC_SECRET_BYTES,
};
use crate::error::Error;

/// The shortest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// The longest `kid` accepted.
const MAX_KID_BYTES: usize = 128;
/// The smallest `max_token_bytes` accepted: an RS256 token alone needs about 500 bytes.
const MIN_MAX_TOKEN_BYTES: usize = 512;
/// The largest `max_token_bytes` accepted.
const MAX_MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// A key tokens are verified with, and the validation rules pinned to it.
pub(crate) struct VerifyingKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
    pub(crate) validation: Validation,
}

/// The key new tokens are signed with.
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pub(crate) algorithm: Algorithm,
    pub(crate) key: EncodingKey,
}

/// Checks the settings every user of a config relies on.
pub(crate) fn check_config(config: &JwtConfig) -> Result<(), Error> {
    if config.issuer.trim().is_empty() {
        return Err(Error::config("issuer must not be empty"));
    }
    if config.ttl_secs == 0 || config.ttl_secs > MAX_TTL_SECS {
        return Err(Error::config(format!(
            "ttl_secs must be between 1 and {MAX_TTL_SECS}"
        )));
    }
    if let Some(max) = config.max_ttl_secs
        && !(config.ttl_secs..=MAX_TTL_SECS).contains(&max)
    {
        return Err(Error::config(format!(
            "max_ttl_secs must be between ttl_secs ({}) and {MAX_TTL_SECS}",
            config.ttl_secs
        )));
    }
    if config.leeway_secs > MAX_LEEWAY_SECS {
        return Err(Error::config(format!(
            "leeway_secs must be at most {MAX_LEEWAY_SECS}"
        )));
    }
    if !(MIN_MAX_TOKEN_BYTES..=MAX_MAX_TOKEN_BYTES).contains(&config.max_token_bytes) {
        return Err(Error::config(format!(
            "max_token_bytes must be between {MIN_MAX_TOKEN_BYTES} and {MAX_MAX_TOKEN_BYTES}"
        )));
    }
    if config.verified_cache_entries > MAX_VERIFIED_CACHE_ENTRIES {
        return Err(Error::config(format!(
            "verified_cache_entries must be at most {MAX_VERIFIED_CACHE_ENTRIES}"
        )));
    }
    if config
        .audience
        .as_deref()
        .is_some_and(|aud| aud.trim().is_empty())
    {
        return Err(Error::config("audience must not be empty when set"));
    }
    if config
        .accepted_audiences
        .iter()
        .any(|a| a.trim().is_empty())
    {
        return Err(Error::config(
            "accepted_audiences must not contain an empty value",
        ));
    }
    if config.keys.is_empty() {
        return Err(Error::config("at least one key is required"));
    }
    let mut seen = std::collections::HashSet::new();
    for key in &config.keys {
        if key.kid.is_empty()
            || key.kid.len() > MAX_KID_BYTES
            || key.kid.chars().any(|c| c.is_control())
        {
            return Err(Error::config(format!(
                "kid {:?} must be 1 to {MAX_KID_BYTES} bytes without control characters",
                key.kid
            )));
        }
        if !seen.insert(key.kid.as_str()) {
            return Err(Error::config(format!(
                "kid `{}` is configured twice",
                key.kid
            )));
        }
    }
    Ok(())
}

/// Builds every configured key for verification, checking each one.
pub(crate) fn verifying_keys(config: &JwtConfig) -> Result<HashMap<String, VerifyingKey>, Error> {
    check_config(config)?;
    config
        .keys
        .iter()
        .map(|key| {
            let decoding = decoding_key(key)?;
            if let Some(encoding) = encoding_key(key)? {
                check_pair(key, &encoding, &decoding)?;
            }
            let mut validation = Validation::new(key.algorithm.to_jsonwebtoken());
            validation.leeway = config.leeway_secs;
            validation.validate_exp = true;
            validation.validate_nbf = true;
            // The audience is checked by the verifier (`Audiences`), which also knows the
            // per-token audiences it accepts.
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            validation.set_issuer(&[config.issuer.as_str()]);
            let verifying = VerifyingKey {
                algorithm: key.algorithm,
                key: decoding,
                validation,
            };
            Ok((key.kid.clone(), verifying))
        })
        .collect()
}

/// Builds the key named by `signing_kid`, checking that its private half matches its
/// public half.
pub(crate) fn signing_key(config: &JwtConfig) -> Result<SigningKey, Error> {
    check_config(config)?;
    let kid = config
        .signing_kid
        .as_deref()
        .ok_or_else(|| Error::config("signing_kid is required to issue tokens"))?;
    let key = config
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| Error::config(format!("signing_kid `{kid}` is not among the keys")))?;
    let decoding = decoding_key(key)?;
    let encoding = encoding_key(key)?
        .ok_or_else(|| Error::key(kid, "the signing key needs a private key PEM"))?;
    check_pair(key, &encoding, &decoding)?;
    Ok(SigningKey {
        kid: kid.to_owned(),
        algorithm: key.algorithm,
        key: encoding,
    })
}

fn decoding_key(key: &KeyConfig) -> Result<DecodingKey, Error> {
    let kid = key.kid.as_str();
    match key.algorithm {
        Algorithm::HS256 => {
            if key.public_key_pem.is_some() || key.private_key_pem.is_some() {
                return Err(Error::key(kid, "HS256 keys take a secret, not PEMs"));
            }
            let secret = key
                .secret
                .as_ref()
                .ok_or_else(|| Error::key(kid, "HS256 needs a secret"))?;
            let bytes = secret.expose();
            if bytes.len() < MIN_HMAC_SECRET_BYTES {
                return Err(Error::key(
                    kid,
                    format!("HS256 secret must be at least {MIN_HMAC_SECRET_BYTES} bytes"),
                ));
            }
            if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
                return Err(Error::key(
                    kid,
                    "HS256 secret looks like a PEM key; refusing it",
                ));
            }
            Ok(DecodingKey::from_secret(bytes))
        }
        Algorithm::RS256 | Algorithm::EdDSA => {
            if key.secret.is_some() {
                return Err(Error::key(
                    kid,
                    format!("{} keys take PEMs, not a secret", key.algorithm),
                ));
            }
            let pem = key
                .public_key_pem
                .as_deref()
                .ok_or_else(|| Error::key(kid, format!("{} needs public_key_pem", key.algorithm)))?
                .as_bytes();
            if key.algorithm == Algorithm::RS256 {
                let decoding = DecodingKey::from_rsa_pem(pem)
                    .map_err(|e| Error::key(kid, format!("bad RSA public key PEM: {e}")))?;
                check_rsa_size(kid, &decoding)?;
                Ok(decoding)
            } else {
                let decoding = DecodingKey::from_ed_pem(pem)
                    .map_err(|e| Error::key(kid, format!("bad Ed25519 public key PEM: {e}")))?;
                // The verifier slices 32 bytes; make sure there are exactly that many.
                match decoding.try_get_as_bytes() {
                    Ok(bytes) if bytes.len() == 32 => Ok(decoding),
                    _ => Err(Error::key(kid, "not an Ed25519 public key")),
                }
            }
        }
    }
}

fn check_rsa_size(kid: &str, decoding: &DecodingKey) -> Result<(), Error> {
    let jwk = jsonwebtoken::jwk::Jwk::from_decoding_key(decoding, None)
        .map_err(|e| Error::key(kid, format!("bad RSA public key: {e}")))?;
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(params) = jwk.algorithm else {
        return Err(Error::key(kid, "not an RSA public key"));
    };
    let modulus = URL_SAFE_NO_PAD
        .decode(params.n.as_bytes())
        .map_err(|e| Error::key(kid, format!("bad RSA modulus: {e}")))?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant < MIN_RSA_MODULUS_BYTES {
        return Err(Error::key(kid, "RSA keys must be at least 2048 bits"));
    }
    Ok(())
}

/// The private half, when this key has one.
fn encoding_key(key: &KeyConfig) -> Result<Option<EncodingKey>, Error> {
    let kid = key.kid.as_str();
    match key.algorithm {
        Algorithm::HS256 => Ok(key
            .secret
            .as_ref()
            .map(|s| EncodingKey::from_secret(s.expose()))),
        Algorithm::RS256 | Algorithm::EdDSA => {
            let Some(pem) = key.private_key_pem.as_ref() else {
                return Ok(None);
            };
            let encoding = if key.algorithm == Algorithm::RS256 {
                EncodingKey::from_rsa_pem(pem.expose())
            } else {
                EncodingKey::from_ed_pem(pem.expose())
            };
            encoding
                .map(Some)
                .map_err(|e| Error::key(kid, format!("bad {} private key PEM: {e}", key.algorithm)))
        }
    }
}

/// Signs a probe with the private half and verifies it with the public half.
fn check_pair(
    key: &KeyConfig,
    encoding: &EncodingKey,
    decoding: &DecodingKey,
) -> Result<(), Error> {
    let kid = key.kid.as_str();
    let alg = key.algorithm.to_jsonwebtoken();
    let probe = b"mcp-jwt key check";
    let signature = jsonwebtoken::crypto::sign(probe, encoding, alg)
        .map_err(|e| Error::key(kid, format!("cannot sign with the private key: {e}")))?;
    match jsonwebtoken::crypto::verify(&signature, probe, decoding, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::key(
            kid,
            "the private key does not match the public key",
        )),
        Err(e) => Err(Error::key(
            kid,
            format!("cannot verify with the public key: {e}"),
        )),
    }
}
