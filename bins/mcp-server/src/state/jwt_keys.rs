//! The token keys: `[[auth.jwt_keys]]` read from their files and variables, plus the legacy
//! single secret, turned into the `mcp-jwt` configuration.
//!
//! `Config::validate` already checked the shape of the list (unique kids, sources that fit
//! each algorithm, a signing key that can sign); here the secrets and PEMs are read, and
//! `mcp-jwt` checks their contents (HS256 length, PEM validity, matching key pairs).
use std::path::Path;

use anyhow::Context;
use mcp_jwt::{Algorithm, KeyConfig};

use crate::config::{Config, JwtKeyConfig, LEGACY_JWT_KID};

use super::jwt_secret;

/// The `mcp-jwt` configuration of `config`; `env` looks up the `secret_env` variables.
pub fn jwt_config(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<mcp_jwt::JwtConfig> {
    let auth = &config.auth;
    let mut keys = Vec::with_capacity(auth.jwt_keys.len() + 1);
    if auth.jwt_keys.is_empty() {
        // As before key lists existed: one HS256 key, configured or generated.
        let secret = jwt_secret::resolve(config)?;
        keys.push(KeyConfig::hs256(LEGACY_JWT_KID, secret));
    } else if let Some(secret) = &auth.jwt_secret {
        keys.push(KeyConfig::hs256(LEGACY_JWT_KID, secret.expose()));
    } else {
        let generated = jwt_secret::secret_path(config);
        let listed = auth
            .jwt_keys
            .iter()
            .any(|k| k.secret_file.as_deref() == Some(generated.as_path()));
        if !listed && generated.exists() {
            tracing::warn!(
                path = %generated.display(),
                "auth.jwt_keys is set, so the generated JWT secret is no longer used: tokens it \
                 signed (kid `primary`) are refused; to keep them valid until they expire, list \
                 it as {{ kid = \"primary\", algorithm = \"HS256\", secret_file = \"{}\" }}",
                generated.display()
            );
        }
    }
    for key in &auth.jwt_keys {
        keys.push(load(key, env)?);
    }
    let mut jwt = mcp_jwt::JwtConfig::new(auth.issuer.clone(), auth.signing_kid(), keys)
        .with_ttl_secs(auth.token_ttl_secs);
    if let Some(audience) = &auth.jwt_audience {
        jwt = jwt.with_audience(audience.clone());
    }
    // OAuth access tokens are bound to one of this server's resources (RFC 8707).
    jwt = jwt.with_accepted_audiences(config.oauth_resources());
    Ok(jwt)
}

fn load(key: &JwtKeyConfig, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<KeyConfig> {
    let kid = key.kid.as_str();
    let what = |field: &str| format!("auth.jwt_keys: key `{kid}`: {field}");
    match key.algorithm {
        Algorithm::HS256 => {
            let secret = match (&key.secret_env, &key.secret_file) {
                (Some(var), _) => env(var)
                    .with_context(|| what(&format!("the environment variable {var} is not set")))?,
                (None, Some(path)) => read(path, true, &what("secret_file"))?.trim().to_owned(),
                (None, None) => anyhow::bail!(what("no secret_env or secret_file")),
            };
            Ok(KeyConfig::hs256(kid, secret))
        }
        algorithm => {
            let public = key
                .public_key_file
                .as_deref()
                .with_context(|| what("no public_key_file"))?;
            let public = read(public, false, &what("public_key_file"))?;
            let private = match &key.private_key_file {
                Some(path) => Some(mcp_jwt::Secret::new(read(
                    path,
                    true,
                    &what("private_key_file"),
                )?)),
                None => None,
            };
            Ok(match algorithm {
                Algorithm::RS256 => KeyConfig::rs256(kid, public, private),
                _ => KeyConfig::eddsa(kid, public, private),
            })
        }
    }
}

/// Reads a key file; a secret one that others can read is worth a warning.
fn read(path: &Path, secret: bool, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{what}: cannot read {}", path.display()))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "{what}: the file is readable by group or others; make it mode 0600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Secret;

    const SECRET: &str = "a-test-secret-of-at-least-thirty-two-bytes";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn verifier(jwt: &mcp_jwt::JwtConfig) -> anyhow::Result<mcp_jwt::JwtVerifier> {
        let store = Arc::new(mcp_jwt::store::memory::MemoryRevocationStore::new());
        Ok(mcp_jwt::JwtVerifier::from_config(jwt, store)?)
    }

    #[test]
    fn without_a_key_list_the_secret_is_key_primary_as_before() {
        let mut config = Config::default();
        config.auth.jwt_secret = Some(Secret::new(SECRET));
        let jwt = jwt_config(&config, &no_env).unwrap();
        assert_eq!(jwt.signing_kid.as_deref(), Some("primary"));
        assert_eq!(jwt.keys.len(), 1);
        assert_eq!(jwt.keys[0].kid, "primary");
        assert_eq!(jwt.audience, None);
    }

    #[test]
    fn secrets_come_from_the_named_variable_and_from_files_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, format!("  {SECRET}\n")).unwrap();
        let mut config = Config::default();
        config.auth.jwt_keys = vec![
            JwtKeyConfig::hs256_env("from-env", "MY_KEY"),
            JwtKeyConfig::hs256_file("from-file", &file),
        ];
        config.auth.jwt_signing_kid = Some("from-env".into());
        config.auth.jwt_audience = Some("api".into());
        let env = |name: &str| (name == "MY_KEY").then(|| SECRET.to_owned());
        let jwt = jwt_config(&config, &env).unwrap();
        let kids: Vec<&str> = jwt.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["from-env", "from-file"]);
        for key in &jwt.keys {
            assert_eq!(key.secret, Some(mcp_jwt::Secret::new(SECRET)));
        }
        assert_eq!(jwt.audience.as_deref(), Some("api"));
        verifier(&jwt).unwrap();
    }

    #[test]
    fn the_secret_stays_key_primary_next_to_a_key_list_and_no_secret_is_generated() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.data_dir = dir.path().to_path_buf();
        config.auth.jwt_keys = vec![JwtKeyConfig::hs256_env("new", "NEW")];
        config.auth.jwt_signing_kid = Some("new".into());
        let env = |_: &str| Some(SECRET.to_owned());
        let jwt = jwt_config(&config, &env).unwrap();
        assert_eq!(jwt.keys.len(), 1);
        assert!(!jwt_secret::secret_path(&config).exists());
        config.auth.jwt_secret = Some(Secret::new(SECRET));
        let jwt = jwt_config(&config, &env).unwrap();
        let kids: Vec<&str> = jwt.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["primary", "new"]);
    }

    #[test]
    fn an_unset_variable_or_an_unreadable_file_is_an_error_naming_the_key() {
        let mut config = Config::default();
        config.auth.jwt_keys = vec![JwtKeyConfig::hs256_env("k1", "UNSET_VAR")];
        config.auth.jwt_signing_kid = Some("k1".into());
        let err = jwt_config(&config, &no_env).unwrap_err().to_string();
        assert!(err.contains("k1") && err.contains("UNSET_VAR"), "{err}");
        config.auth.jwt_keys = vec![JwtKeyConfig::asymmetric(
            "k1",
            Algorithm::EdDSA,
            "/nonexistent/public.pem",
            None,
        )];
        let err = format!("{:#}", jwt_config(&config, &no_env).unwrap_err());
        assert!(
            err.contains("k1") && err.contains("/nonexistent/public.pem"),
            "{err}"
        );
    }

    #[test]
    fn a_short_secret_or_a_file_that_is_not_a_pem_is_refused_by_the_key_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.auth.jwt_keys = vec![JwtKeyConfig::hs256_env("short", "SHORT")];
        config.auth.jwt_signing_kid = Some("short".into());
        let env = |_: &str| Some("too short".to_owned());
        let jwt = jwt_config(&config, &env).unwrap();
        let err = verifier(&jwt).unwrap_err().to_string();
        assert!(err.contains("short") && err.contains("32 bytes"), "{err}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a pem").unwrap();
        config.auth.jwt_keys = vec![JwtKeyConfig::asymmetric(
            "rsa",
            Algorithm::RS256,
            &junk,
            None,
        )];
        config.auth.jwt_signing_kid = None;
        config.auth.jwt_secret = Some(Secret::new(SECRET));
        let jwt = jwt_config(&config, &no_env).unwrap();
        let err = verifier(&jwt).unwrap_err().to_string();
        assert!(err.contains("rsa") && err.contains("PEM"), "{err}");
    }
}
