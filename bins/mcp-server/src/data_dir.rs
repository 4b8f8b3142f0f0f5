//! The data directory: resolved once per command (absolute, when the configuration is loaded),
//! said by every command that uses it, created only by `serve` or an explicit `--init`, and
//! locked by the server that serves it.
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::config::{Backend, Config, Origin, Sources, StoreKind};

/// The lock file `serve` holds in the data directory while it runs.
pub const LOCK_FILE: &str = "mcp-server.lock";

/// The stores kept as SQLite files in the data directory.
pub fn sqlite_stores(config: &Config) -> Vec<StoreKind> {
    StoreKind::ALL
        .into_iter()
        .filter(|s| config.storage.backend_of(*s) == Backend::Sqlite)
        .collect()
}

/// Whether the server keeps its generated JWT secret in the data directory (no `jwt_secret`
/// and no `[[auth.jwt_keys]]` configured).
pub fn holds_generated_secret(config: &Config) -> bool {
    config.auth.jwt_secret.is_none() && config.auth.jwt_keys.is_empty()
}

/// Whether the data directory is used at all.
pub fn is_used(config: &Config) -> bool {
    !sqlite_stores(config).is_empty() || holds_generated_secret(config)
}

/// "data directory /abs/path (set by --data-dir)", for the line each command prints.
pub fn describe(config: &Config, sources: &Sources) -> String {
    let dir = config.storage.data_dir.display();
    match sources.origin("storage.data_dir") {
        Origin::Default => format!(
            "data directory {dir} (the default: ./data of the current directory; set \
             --data-dir or MCP_DATA_DIR to choose)"
        ),
        origin => format!("data directory {dir} ({origin})"),
    }
}

/// Refuses to go on when the data directory has no store yet: only `serve` and an explicit
/// `--init` create one, so a mistyped `--data-dir` or a command run from another directory
/// fails instead of working on a new, empty store.
pub fn require_store(config: &Config, init: bool) -> anyhow::Result<()> {
    if init || !is_used(config) {
        return Ok(());
    }
    let dir = &config.storage.data_dir;
    let stores = sqlite_stores(config);
    let present: Vec<&StoreKind> = stores
        .iter()
        .filter(|s| config.storage.sqlite_path(**s).is_file())
        .collect();
    let secret = dir.join("jwt_secret");
    let missing = if !dir.is_dir() {
        Some("it does not exist".to_owned())
    } else if !stores.is_empty() && present.is_empty() {
        let files: Vec<String> = stores
            .iter()
            .map(|s| format!("{}.sqlite3", s.name()))
            .collect();
        Some(format!("it has none of {}", files.join(", ")))
    } else if stores.is_empty() && holds_generated_secret(config) && !secret.is_file() {
        Some("it has no jwt_secret (the generated token key)".to_owned())
    } else {
        None
    };
    if let Some(why) = missing {
        bail!(
            "no mcp-server store in {}: {why}. Point --data-dir (or MCP_DATA_DIR, or \
             storage.data_dir) at the directory the server uses, or create a new store there \
             with `mcp-server serve` or `mcp-server users add NAME --role admin --init`",
            dir.display()
        );
    }
    Ok(())
}

/// The data directory's lock, held by `serve` while it runs (released when dropped or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
    path: PathBuf,
}

impl ServeLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the data directory's lock for `serve` (creating the directory, mode 0700), or refuses
/// when another server holds it. `None` when no store is on SQLite: nothing to guard.
pub fn lock_for_serve(config: &Config) -> anyhow::Result<Option<ServeLock>> {
    if sqlite_stores(config).is_empty() {
        return Ok(None);
    }
    let dir = &config.storage.data_dir;
    create_private_dir(dir)?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "pid {}", std::process::id())?;
            Ok(Some(ServeLock { _file: file, path }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another mcp-server".to_owned()
            } else {
                format!("another mcp-server ({holder})")
            };
            bail!(
                "{who} is already serving the data directory {} (it holds {}). Two servers on \
                 one SQLite data directory would disagree on rate limits and log-in \
                 lock-outs, so this one does not start. To run several instances, put the stores \
                 on Neo4j and give each instance its own data directory (docs/operations.md, \
                 \"Several instances\"); to run a second, separate server, give it its own \
                 --data-dir",
                dir.display(),
                path.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            bail!("cannot lock {}: {e}", path.display())
        }
    }
}

/// Creates `dir` (and parents) and makes it private (0700).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        let mut c = Config::default();
        c.storage.data_dir = dir.to_path_buf();
        c
    }

    #[test]
    fn a_second_lock_on_one_data_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(&dir.path().join("data"));
        let first = lock_for_serve(&config).unwrap().expect("sqlite: locked");
        let err = lock_for_serve(&config).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id()))
                && err.contains("Several instances"),
            "{err}"
        );
        drop(first);
        lock_for_serve(&config).unwrap().expect("free again");
    }

    #[test]
    fn no_lock_without_sqlite_stores() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path());
        config.storage.backend = Backend::Memory;
        assert!(lock_for_serve(&config).unwrap().is_none());
    }

    #[test]
    fn a_missing_or_empty_data_dir_is_refused_unless_init() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(&dir.path().join("typo"));
        let err = require_store(&config, false).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        require_store(&config, true).unwrap();
        let config = config_in(dir.path());
        let err = require_store(&config, false).unwrap_err();
        assert!(err.to_string().contains("users.sqlite3"), "{err}");
        std::fs::write(dir.path().join("users.sqlite3"), b"").unwrap();
        require_store(&config, false).unwrap();
    }
}
