//! The JWT signing secret: from config/env, or generated once into the data dir (mode 0600).
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;

/// The file a generated secret is kept in.
pub fn secret_path(config: &Config) -> PathBuf {
    config.storage.data_dir.join("jwt_secret")
}

/// The configured secret, else the stored one, else a new one written to the data dir.
pub fn resolve(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.auth.jwt_secret {
        return Ok(secret.expose().to_owned());
    }
    let path = secret_path(config);
    if path.exists() {
        let secret = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read JWT secret {}", path.display()))?;
        let secret = secret.trim().to_owned();
        anyhow::ensure!(
            secret.len() >= 32,
            "JWT secret in {} is too short",
            path.display()
        );
        return Ok(secret);
    }
    std::fs::create_dir_all(&config.storage.data_dir).with_context(|| {
        format!(
            "cannot create data dir {}",
            config.storage.data_dir.display()
        )
    })?;
    // 384 random bits straight from the OS generator (not a user-space generator seeded from
    // it, which the UUIDs of this build use), as 96 hex digits.
    let mut bytes = [0_u8; 48];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the OS random generator failed"))?;
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create JWT secret file {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "no auth.jwt_secret configured: generated one and stored it (mode 0600); set MCP_JWT_SECRET to manage it yourself"
    );
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.data_dir = dir.path().join("data");
        let first = resolve(&config).unwrap();
        assert_eq!(resolve(&config).unwrap(), first);
        // 384 random bits as 96 lowercase hex digits; another data dir gets another secret.
        assert_eq!(first.len(), 96);
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let mut other = Config::default();
        other.storage.data_dir = dir.path().join("other");
        assert_ne!(resolve(&other).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(secret_path(&config))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
