//! Long-running isolated processes with stdin/stdout pipes, e.g. a third-party MCP server
//! spoken to over stdio: the isolation of a code run (bubblewrap as an unprivileged uid, fresh
//! namespaces, the seccomp filter, rlimits, memory and pids cgroups), no host files except
//! those granted, network off unless granted, and no time limit.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::cgroup::SlotCgroup;
use super::runtime::write_file;
use super::{BwrapSandbox, SANDBOX_UID, io_err, seccomp};
use crate::{Error, Limits};

/// Offset from `uid_base` of the first uid of long-running processes (run slots use the
/// offsets below it: `parallelism` is at most 1024).
const SERVICE_UID_OFFSET: u32 = 1024;
/// How many uids long-running processes cycle through.
const SERVICE_UIDS: u32 = 1024;

/// The wrapper of a long-running process: sets file-size, open-files and core rlimits with the
/// shell's `ulimit` (unless `$2` is `-`: then `prlimit` comes next in the chain), joins the
/// process's cgroups, opens the seccomp program as fd 3 and execs `[prlimit …] bwrap …`.
/// Arguments are positional: nothing from the configuration is parsed by the shell.
const WRAPPER: &str = r#"f=$1
if [ "$2" != - ]; then
  { ulimit -f "$2" && ulimit -n "$3" && ulimit -c 0; } ||
    { echo "mcp-sandbox: cannot set rlimits" >&2; exit 125; }
fi
shift 3
while [ "$1" != -- ]; do
  echo $$ > "$1" || { echo "mcp-sandbox: cannot join cgroup $1" >&2; exit 125; }
  shift
done
shift
exec "$@" 3< "$f""#;

/// Resource limits of a long-running process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProcessLimits {
    /// Memory of the whole process tree, its `/tmp` included (memory cgroup).
    pub memory_bytes: u64,
    /// Processes and threads (pids cgroup).
    pub max_processes: u64,
    /// Open file descriptors per process (`RLIMIT_NOFILE`).
    pub max_open_files: u64,
    /// Largest file a process may write (`RLIMIT_FSIZE`).
    pub max_file_size_bytes: u64,
    /// Size of its private `/tmp` (a tmpfs, also its `HOME`).
    pub tmp_bytes: u64,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            memory_bytes: 512 * MIB,
            max_processes: 64,
            max_open_files: 256,
            max_file_size_bytes: 64 * MIB,
            tmp_bytes: 64 * MIB,
        }
    }
}

/// What to start and what it may touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessSpec {
    /// The program and its arguments, as seen inside (the program must lie under `/usr` or a
    /// granted path).
    pub argv: Vec<String>,
    /// The whole environment (nothing of the server's is inherited).
    pub env: BTreeMap<String, String>,
    /// Host paths bound read-only at the same path.
    pub read_only: Vec<PathBuf>,
    /// Host paths bound read-write at the same path (writable only where the host allows the
    /// process's uid to write).
    pub read_write: Vec<PathBuf>,
    /// Keep the host's network (and allow IP sockets in the seccomp filter). Off by default:
    /// the process gets an empty network namespace.
    pub network: bool,
    /// Working directory inside (default `/tmp`).
    pub cwd: Option<PathBuf>,
    /// Resource limits.
    pub limits: ProcessLimits,
}

impl ProcessSpec {
    /// `argv` with an empty environment, no grants and default limits.
    pub fn new(argv: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.argv.first().is_none_or(|p| p.is_empty()) {
            return Err(Error::InvalidConfig("process argv is empty".into()));
        }
        for path in self.read_only.iter().chain(&self.read_write) {
            let bad = !path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
                || [Path::new("/"), Path::new("/proc"), Path::new("/dev")]
                    .contains(&path.as_path());
            if bad {
                return Err(Error::InvalidConfig(format!(
                    "granted path {} must be absolute, without `..`, and not /, /proc or /dev",
                    path.display()
                )));
            }
        }
        let l = &self.limits;
        if l.memory_bytes < 16 * 1024 * 1024 || l.max_processes < 4 || l.max_open_files < 16 {
            return Err(Error::InvalidConfig(
                "process limits: at least 16 MiB of memory, 4 processes and 16 open files".into(),
            ));
        }
        if l.max_file_size_bytes == 0 || l.tmp_bytes == 0 {
            return Err(Error::InvalidConfig(
                "process limits must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}

/// A running isolated process. Dropping it kills the whole process tree and removes its
/// cgroups.
pub struct IsolatedProcess {
    child: tokio::process::Child,
    cgroup: Option<SlotCgroup>,
    /// Its stdin (take it to write).
    pub stdin: Option<tokio::process::ChildStdin>,
    /// Its stdout (take it to read).
    pub stdout: Option<tokio::process::ChildStdout>,
    /// Its stderr, bwrap's complaints included (take it to read; leaving it unread may block
    /// the process once the pipe is full).
    pub stderr: Option<tokio::process::ChildStderr>,
}

impl std::fmt::Debug for IsolatedProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolatedProcess")
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl IsolatedProcess {
    /// The host pid of the outermost process (bwrap), while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until the process ends.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Kills the process tree (its process group and everything in its cgroups) and waits.
    pub async fn kill(&mut self) -> std::io::Result<()> {
        let _ = self.child.start_kill();
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(group) = &self.cgroup {
            group.kill_all().await;
        }
        self.child.wait().await.map(drop)
    }
}

impl Drop for IsolatedProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Dropping the cgroup kills what is left in it and removes it.
        self.cgroup.take();
    }
}

impl BwrapSandbox {
    /// Starts `spec` as a long-running isolated process with piped stdin, stdout and stderr.
    ///
    /// The isolation is that of a code run (see `docs/sandbox.md`): bubblewrap as a dedicated
    /// uid when the server is root (`uid_base + 1024 + n`, cycling through 1024 uids), fresh
    /// user, mount, PID, IPC, UTS, cgroup and (unless `network`) network namespaces, the
    /// seccomp filter (IP sockets allowed only with `network`), a read-only `/usr`, a private
    /// `/tmp`, the granted paths and nothing else of the host; memory and pids cgroups, file
    /// size, open files and core rlimits. There is no time limit. Refused with
    /// [`Error::IsolationUnavailable`] when the start-up probe found a required layer missing
    /// (unless weaker isolation is allowed).
    pub async fn spawn_process(&self, spec: ProcessSpec) -> Result<IsolatedProcess, Error> {
        if !self.inner.probe.ready {
            return Err(Error::IsolationUnavailable {
                missing: self.inner.probe.missing_required(),
            });
        }
        spec.validate()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        static GROUPS: AtomicU64 = AtomicU64::new(0);
        let c = &self.inner.config;
        let uid = self.inner.switch_uid.then(|| {
            c.uid_base + SERVICE_UID_OFFSET + NEXT.fetch_add(1, Ordering::Relaxed) % SERVICE_UIDS
        });
        let seccomp_file = if spec.network {
            let path = self.inner._runtime.path().join("seccomp-network.bpf");
            if !path.exists() {
                write_file(&path, &seccomp::filter_bytes_for(true)?, 0o644)?;
            }
            path
        } else {
            self.inner.seccomp_file.clone()
        };
        let cgroup = if self.inner.cgroup_parents.is_empty() {
            None
        } else {
            let name = format!(
                "process-{}-{}",
                std::process::id(),
                GROUPS.fetch_add(1, Ordering::Relaxed)
            );
            let mut group = SlotCgroup::create(&self.inner.cgroup_parents, &name, uid)
                .map_err(io_err("creating the process's cgroups"))?;
            let limits = Limits {
                memory_bytes: spec.limits.memory_bytes,
                max_processes: spec.limits.max_processes,
                ..Limits::default()
            };
            group
                .prepare(&limits)
                .map_err(io_err("setting the process's cgroup limits"))?;
            Some(group)
        };
        let mut cmd = self.process_command(&spec, &seccomp_file, uid, cgroup.as_ref());
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: c.shell.display().to_string(),
            source,
        })?;
        Ok(IsolatedProcess {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            cgroup,
        })
    }

    fn process_command(
        &self,
        spec: &ProcessSpec,
        seccomp_file: &Path,
        uid: Option<u32>,
        cgroup: Option<&SlotCgroup>,
    ) -> tokio::process::Command {
        let c = &self.inner.config;
        let l = &spec.limits;
        let mut cmd = tokio::process::Command::new(&c.shell);
        cmd.arg("-c").arg(WRAPPER).arg("sh").arg(seccomp_file);
        let shell_rlimits = self
            .inner
            .shell_fsize_block
            .filter(|block| l.max_file_size_bytes.is_multiple_of(*block));
        match shell_rlimits {
            Some(block) => {
                cmd.arg((l.max_file_size_bytes / block).to_string())
                    .arg(l.max_open_files.to_string());
            }
            None => {
                cmd.args(["-", "-"]);
            }
        }
        if let Some(group) = cgroup {
            cmd.args(group.procs_files());
        }
        cmd.arg("--");
        if shell_rlimits.is_none() && c.prlimit.is_file() {
            cmd.arg(&c.prlimit)
                .arg(format!("--fsize={}", l.max_file_size_bytes))
                .arg(format!("--nofile={}", l.max_open_files))
                .arg("--core=0");
            if uid.is_some() && cgroup.is_none() {
                cmd.arg(format!("--nproc={}", l.max_processes));
            }
        }
        cmd.arg(&c.bwrap);
        cmd.args([
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
        ]);
        if spec.network {
            cmd.arg("--share-net");
        }
        cmd.arg("--uid").arg(SANDBOX_UID.to_string());
        cmd.arg("--gid").arg(SANDBOX_UID.to_string());
        cmd.args(["--ro-bind", "/usr", "/usr", "--tmpfs", "/usr/local"]);
        for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let host = Path::new("/").join(top);
            if let Ok(target) = fs::read_link(&host) {
                cmd.arg("--symlink").arg(target).arg(&host);
            } else if host.is_dir() {
                cmd.arg("--ro-bind").arg(&host).arg(&host);
            }
        }
        cmd.args(["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]);
        cmd.args(["--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]);
        if spec.network {
            for f in [
                "/etc/resolv.conf",
                "/etc/hosts",
                "/etc/nsswitch.conf",
                "/etc/ssl",
                "/etc/ca-certificates",
            ] {
                cmd.args(["--ro-bind-try", f, f]);
            }
        }
        cmd.arg("--ro-bind")
            .arg(&self.inner.passwd_file)
            .arg("/etc/passwd");
        cmd.arg("--ro-bind")
            .arg(&self.inner.group_file)
            .arg("/etc/group");
        cmd.args(["--proc", "/proc", "--dev", "/dev"]);
        let size = l.tmp_bytes.to_string();
        cmd.args(["--perms", "1777", "--size", &size, "--tmpfs", "/tmp"]);
        for path in &spec.read_only {
            cmd.arg("--ro-bind").arg(path).arg(path);
        }
        for path in &spec.read_write {
            cmd.arg("--bind").arg(path).arg(path);
        }
        cmd.args(["--remount-ro", "/usr/local", "--remount-ro", "/"]);
        cmd.arg("--chdir")
            .arg(spec.cwd.as_deref().unwrap_or(Path::new("/tmp")));
        cmd.arg("--clearenv");
        let mut env: BTreeMap<&str, &str> = BTreeMap::from([
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/tmp"),
            ("TMPDIR", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("USER", "sandbox"),
        ]);
        for (k, v) in &spec.env {
            env.insert(k, v);
        }
        for (k, v) in env {
            cmd.args(["--setenv", k, v]);
        }
        cmd.args(["--seccomp", "3", "--"]);
        cmd.args(&spec.argv);
        cmd.env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        if let Some(uid) = uid {
            cmd.uid(uid).gid(uid);
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_with_relative_or_dangerous_grants_or_tiny_limits_are_refused() {
        let ok = ProcessSpec::new(["/usr/bin/node", "x.js"]);
        ok.validate().unwrap();
        assert!(ProcessSpec::new(Vec::<String>::new()).validate().is_err());
        for bad in ["relative/dir", "/", "/proc", "/srv/../etc"] {
            let mut s = ok.clone();
            s.read_only.push(bad.into());
            assert!(s.validate().is_err(), "{bad}");
        }
        let mut s = ok.clone();
        s.limits.memory_bytes = 1024;
        assert!(s.validate().is_err());
    }
}
