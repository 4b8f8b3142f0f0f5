//! Per-run staging dirs on the host and the tool binaries bound into the sandbox.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::io_err;
use crate::exec::validate_file_name;
use crate::{Error, SandboxConfig};

/// Removes a staging dir when the run is over, whatever happened.
pub(super) struct RemoveDir(pub(super) PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        if self.0.exists()
            && let Err(e) = fs::remove_dir_all(&self.0)
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove sandbox staging dir");
        }
    }
}

pub(super) fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("setting permissions of {}", path.display())))
}

pub(super) fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    fs::write(path, content).map_err(io_err(format!("writing {}", path.display())))?;
    set_mode(path, mode)
}

/// Writes the job's files under `staging`, owned by the run's uid so bwrap can bind them.
pub(super) fn stage_files(
    staging: &Path,
    files: &[(String, Vec<u8>)],
    uid: Option<u32>,
) -> Result<(), Error> {
    fs::create_dir(staging).map_err(io_err(format!("creating {}", staging.display())))?;
    set_mode(staging, 0o700)?;
    // Everything is written as the server and handed to the run's uid only at the end, so no
    // process of that uid can interfere while the files are created.
    let mut created = Vec::new();
    for (name, content) in files {
        validate_file_name(name)?;
        let path = staging.join(name);
        let mut dir = staging.to_path_buf();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            if !dir.is_dir() {
                fs::create_dir(&dir).map_err(io_err(format!(
                    "creating directory for file `{name}` (a file of that name exists?)"
                )))?;
                set_mode(&dir, 0o700)?;
                created.push(dir.clone());
            }
        }
        write_file(&path, content, 0o600)?;
        created.push(path);
    }
    if let Some(uid) = uid {
        created.push(staging.to_path_buf());
        for p in created {
            std::os::unix::fs::chown(&p, Some(uid), Some(uid))
                .map_err(io_err(format!("chown {}", p.display())))?;
        }
    }
    Ok(())
}

/// Finds a ruff binary (an ELF file, not a pyenv shim) to bind into the sandbox.
pub(super) fn find_ruff(config: &SandboxConfig) -> Option<PathBuf> {
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
