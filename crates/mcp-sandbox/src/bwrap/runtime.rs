//! Files of the runtime dir and the tool binaries bound into the sandbox.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::io_err;
use crate::{Error, SandboxConfig};

pub(super) fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("setting permissions of {}", path.display())))
}

pub(super) fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    fs::write(path, content).map_err(io_err(format!("writing {}", path.display())))?;
    set_mode(path, mode)
}

/// The file in a runtime dir that its sandbox keeps locked.
const OWNER_LOCK: &str = "owner.lock";

/// Creates and locks the owner file of the runtime dir `dir`; the lock lasts as long as the file
/// stays open (and ends with the process, however it ends).
pub(super) fn lock_runtime_dir(dir: &Path) -> Result<fs::File, Error> {
    let path = dir.join(OWNER_LOCK);
    let file = fs::File::create(&path).map_err(io_err(format!("creating {}", path.display())))?;
    file.try_lock().map_err(|e| {
        Error::io(
            format!("locking {}", path.display()),
            std::io::Error::other(e),
        )
    })?;
    Ok(file)
}

/// Removes the runtime dirs under `parent` left by sandboxes that are gone (a crash skips their
/// clean-up): those whose owner lock nobody holds. Dirs without an owner file are left alone.
pub(super) fn remove_stale_runtime_dirs(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let named = entry.file_name().to_string_lossy().starts_with(prefix);
        if !named || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(lock) = fs::File::open(dir.join(OWNER_LOCK)) else {
            continue;
        };
        // A sandbox starting right now creates its lock file just before it locks it.
        let fresh = lock.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
            t.elapsed()
                .is_ok_and(|age| age < std::time::Duration::from_secs(60))
        });
        if !fresh && lock.try_lock().is_ok() {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), "removed a stale sandbox runtime dir")
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a stale sandbox runtime dir")
                }
            }
        }
    }
}

/// Finds a ruff binary (an ELF file, not a pyenv shim) to bind into the sandbox.
pub(crate) fn find_ruff(config: &SandboxConfig) -> Option<PathBuf> {
    if let Some(p) = &config.interpreters.ruff {
        return p.is_file().then(|| p.clone());
    }
    let is_elf = |p: &Path| {
        use std::io::Read;
        let mut magic = [0u8; 4];
        fs::File::open(p)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && &magic == b"\x7fELF"
    };
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("ruff");
        if candidate.is_file() && is_elf(&candidate) {
            return Some(candidate);
        }
    }
    // A pyenv shim or a pip-installed wheel: ask the Python on PATH where its ruff binary is.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "from ruff.__main__ import find_ruff_bin; print(find_ruff_bin())",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let found = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && is_elf(&found)).then_some(found)
}

/// Checks that `shell`'s `ulimit` builtin sets the soft and hard CPU, file-size, open-file and
/// core limits, and returns the unit of `ulimit -f` in bytes (512 in dash, 1024 in bash).
pub(super) async fn shell_fsize_block(shell: &Path) -> Option<u64> {
    const CHECK: &str = "ulimit -S -t 7 && ulimit -H -t 8 && ulimit -f 2 && ulimit -n 99 && ulimit -c 0 && while IFS= read -r l; do echo \"$l\"; done < /proc/$$/limits";
    let out = tokio::process::Command::new(shell)
        .args(["-c", CHECK])
        .env_clear()
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let limit = |name: &str| -> Option<(String, String)> {
        let rest = text.lines().find_map(|l| l.strip_prefix(name))?;
        let mut f = rest.split_whitespace();
        Some((f.next()?.to_string(), f.next()?.to_string()))
    };
    let same = |name: &str, soft: &str, hard: &str| {
        limit(name) == Some((soft.to_string(), hard.to_string()))
    };
    let (soft, hard) = limit("Max file size")?;
    let block = soft.parse::<u64>().ok()? / 2;
    let ok = soft == hard
        && (block == 512 || block == 1024)
        && same("Max cpu time", "7", "8")
        && same("Max open files", "99", "99")
        && same("Max core file size", "0", "0");
    ok.then_some(block)
}
