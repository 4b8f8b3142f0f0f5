//! Starting a sandbox (the wrapper → [prlimit →] bwrap → shim chain) up to the point where it
//! waits for its go, and then running one job in it under the run's limits.
//!
//! A sandbox is started before its job is known in full: the shim inside says it is ready on
//! stderr and waits for a go line on stdin, so namespaces, mounts, seccomp, rlimits and cgroups
//! are all in place before the code arrives. The job's files are then written straight into the
//! sandbox's own tmpfs work dir (through a directory handle opened via `/proc/<pid>/root` when
//! the sandbox got ready, before any code of the run exists),
//! and the go line makes the shim exec the job's program, which reads the rest of stdin. A
//! sandbox started ahead of its run is a *standby*.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::OwnedFd;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cgroup::{Controller, SlotCgroup};
use super::files::{place_files, sandbox_work_dir};
use super::output::{Captured, lossy, read_capped};
use super::{BwrapSandbox, Job, SANDBOX_UID, WORK_DIR, io_err};
use crate::{Error, ExecResult};

/// The wrapper: sets the rlimits with `ulimit` (unless `$2` is `-`: then `prlimit` comes
/// next in the chain), joins the run's cgroups (its own pid, before anything else runs), opens
/// the seccomp program as fd 3 and execs `[prlimit …] bwrap …`. Arguments are passed
/// positionally, so nothing from a request is ever parsed by the shell.
const WRAPPER: &str = r#"f=$1
if [ "$2" != - ]; then
  { ulimit -S -t "$2" && ulimit -H -t "$3" && ulimit -f "$4" && ulimit -n "$5" && ulimit -c 0; } ||
    { echo "mcp-sandbox: cannot set rlimits" >&2; exit 125; }
fi
shift 5
while [ "$1" != -- ]; do
  echo $$ > "$1" || { echo "mcp-sandbox: cannot join cgroup $1" >&2; exit 125; }
  shift
done
shift
exec "$@" 3< "$f""#;

/// What the shim prints on stderr once the sandbox is set up.
const READY: &[u8] = b"mcp-sandbox: ready\n";
/// The shim, the sandbox's first program: says it is ready, waits for the go line on stdin (the
/// shell's `read` takes one byte at a time, so the rest stays for the program), then execs the
/// job's argv (its positional parameters). Stdin closed without the line ends the sandbox.
const SHIM: &str =
    r#"echo "mcp-sandbox: ready" >&2; IFS= read -r go && [ "$go" = go ] && exec "$@"; exit 125"#;
/// How long a sandbox may take to get ready before it counts as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A started sandbox: ready and waiting for its go, or already ended (then its exit status and
/// stderr say why).
pub(super) struct Started {
    child: tokio::process::Child,
    /// A handle on the sandbox's work dir (its own tmpfs), opened through `/proc/<pid>/root`
    /// while the sandbox was known to be alive and pristine; `None` if the sandbox ended before
    /// it was ready. Holding the directory itself (not a path) makes later writes immune to
    /// pid reuse.
    work: Option<OwnedFd>,
    /// What came on stderr before the ready line (bwrap's complaints, if any).
    early_stderr: Vec<u8>,
}

impl Started {
    /// Whether the sandbox is waiting for its go.
    pub(super) fn is_ready(&self) -> bool {
        self.work.is_some()
    }

    /// Whether the sandbox is still there (a standby may be killed from outside, e.g. by the
    /// parent-death signal when the thread that started it ends).
    pub(super) fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The host pid of the sandbox's outermost process (its bwrap).
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl BwrapSandbox {
    fn command(
        &self,
        job: &Job,
        uid: Option<u32>,
        cgroup: Option<&SlotCgroup>,
    ) -> tokio::process::Command {
        let c = &self.inner.config;
        let l = &job.limits;
        let mut cmd = tokio::process::Command::new(&c.shell);
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .arg(&self.inner.seccomp_file);
        let has_pids_cg = cgroup.is_some() && self.inner.has_controller(Controller::Pids);
        let has_memcg = cgroup.is_some() && self.inner.has_controller(Controller::Memory);
        let is_node = job.argv.first().is_some_and(|p| p.ends_with("node"));
        let need_nproc = uid.is_some() && !has_pids_cg;
        let need_as = !has_memcg && !is_node;
        // The shell sets the rlimits itself when it can do all that is needed exactly.
        let shell_rlimits = self.inner.shell_fsize_block.filter(|block| {
            !need_nproc && !need_as && l.max_file_size_bytes.is_multiple_of(*block)
        });
        if let Some(block) = shell_rlimits {
            cmd.arg(l.cpu_time_secs.to_string())
                .arg((l.cpu_time_secs + 1).to_string())
                .arg((l.max_file_size_bytes / block).to_string())
                .arg(l.max_open_files.to_string());
        } else {
            cmd.args(["-", "-", "-", "-"]);
        }
        if let Some(group) = cgroup {
            cmd.args(group.procs_files());
        }
        cmd.arg("--");
        if shell_rlimits.is_none() && c.prlimit.is_file() {
            cmd.arg(&c.prlimit)
                .arg(format!("--cpu={}:{}", l.cpu_time_secs, l.cpu_time_secs + 1))
                .arg(format!("--fsize={}", l.max_file_size_bytes))
                .arg(format!("--nofile={}", l.max_open_files))
                .arg("--core=0");
            if need_nproc {
                // Weaker mode without a pids cgroup. RLIMIT_NPROC counts per real uid (each slot
                // has its own) and includes tasks of earlier runs that the kernel has not freed
                // yet, so it is only the fallback: with a pids cgroup it made rapid runs fail.
                cmd.arg(format!("--nproc={}", l.max_processes));
            }
            if need_as {
                // Weaker mode without a memory cgroup: cap the address space (breaks node).
                cmd.arg(format!("--as={}", l.memory_bytes));
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
        if let Ok(entries) = fs::read_dir("/etc") {
            // Debian's python links sitecustomize.py to /etc/python3.X.
            for e in entries.flatten() {
                let n = e.file_name();
                if n.to_string_lossy().starts_with("python3") {
                    cmd.arg("--ro-bind").arg(e.path()).arg(e.path());
                }
            }
        }
        cmd.arg("--ro-bind")
            .arg(&self.inner.passwd_file)
            .arg("/etc/passwd");
        cmd.arg("--ro-bind")
            .arg(&self.inner.group_file)
            .arg("/etc/group");
        cmd.args(["--proc", "/proc", "--dev", "/dev"]);
        let size = l.work_dir_bytes.to_string();
        cmd.args(["--perms", "1777", "--size", &size, "--tmpfs", "/tmp"]);
        cmd.args(["--perms", "0777", "--size", &size, "--tmpfs", WORK_DIR]);
        for (host, inside) in &job.binds {
            cmd.arg("--ro-bind").arg(host).arg(inside);
        }
        cmd.args(["--remount-ro", "/usr/local", "--remount-ro", "/"]);
        cmd.args(["--chdir", WORK_DIR, "--clearenv"]);
        let mut env: BTreeMap<&str, &str> = BTreeMap::from([
            ("PATH", "/usr/bin:/bin"),
            ("HOME", WORK_DIR),
            ("TMPDIR", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C.UTF-8"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("PYTHONIOENCODING", "utf-8"),
            ("USER", "sandbox"),
        ]);
        for (k, v) in &job.env {
            env.insert(k, v);
        }
        for (k, v) in env {
            cmd.args(["--setenv", k, v]);
        }
        cmd.args(["--seccomp", "3", "--", "/bin/sh", "-c", SHIM, "sh"]);
        cmd.args(&job.argv);

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

    /// Starts a sandbox for `job` (its files and stdin are not needed yet) and waits until it
    /// is ready for its go or has ended.
    pub(super) async fn start(
        &self,
        job: &Job,
        uid: Option<u32>,
        cgroup: Option<&SlotCgroup>,
    ) -> Result<Started, Error> {
        let mut cmd = self.command(job, uid, cgroup);
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: self.inner.config.shell.display().to_string(),
            source,
        })?;
        let (ready, early_stderr) = wait_ready(&mut child).await?;
        let work = match (ready, child.id()) {
            (true, Some(pid)) => Some(sandbox_work_dir(pid)?),
            _ => None,
        };
        Ok(Started {
            child,
            work,
            early_stderr,
        })
    }

    /// Places the job's files in the started sandbox, gives it the go and waits for the job
    /// under its limits.
    pub(super) async fn finish(
        &self,
        started: Started,
        job: &Job,
        uid: Option<u32>,
        cgroup: Option<&SlotCgroup>,
    ) -> Result<ExecResult, Error> {
        let Started {
            mut child,
            work,
            early_stderr,
        } = started;
        let mut input = Vec::new();
        if let Some(work) = work {
            place_files(&work, &job.files, job.limits.work_dir_bytes, uid)?;
            input.extend_from_slice(b"go\n");
        }
        input.extend_from_slice(&job.stdin);
        let started = Instant::now();
        let deadline =
            tokio::time::Instant::now() + std::time::Duration::from_millis(job.limits.wall_time_ms);
        if let Some(mut stdin) = child.stdin.take() {
            // What fits in the pipe is written at once (closing stdin right away); the rest by a
            // task, so a program that does not read its stdin cannot stall the run.
            if input.len() <= 4096 {
                let _ = stdin.write_all(&input).await;
            } else {
                tokio::spawn(async move {
                    let _ = stdin.write_all(&input).await;
                });
            }
        }
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Error::io(
                "capturing output",
                std::io::Error::other("no pipes"),
            ));
        };
        let mut captured = Captured {
            stderr: early_stderr,
            ..Captured::default()
        };
        let read = tokio::time::timeout_at(
            deadline,
            read_capped(stdout, stderr, job.limits.max_output_bytes, &mut captured),
        )
        .await;
        let mut timed_out = read.is_err();
        let mut must_kill = timed_out || captured.truncated;
        let status = loop {
            if must_kill {
                let _ = child.start_kill();
                if let Some(pid) = child.id() {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                if let Some(group) = cgroup {
                    group.kill_all().await;
                }
                break child.wait().await;
            }
            match tokio::time::timeout_at(deadline, child.wait()).await {
                Ok(status) => break status,
                Err(_) => {
                    timed_out = true;
                    must_kill = true;
                }
            }
        }
        .map_err(io_err("waiting for the sandbox"))?;
        let duration_ms = started.elapsed().as_millis() as u64;
        // Nothing of the run can be left running: the PID namespace died with its init. The
        // slot's clean-up, after the result is returned and before its next run, still
        // SIGKILLs whatever is in its groups until they are empty.

        let stderr = lossy(captured.stderr);
        use std::os::unix::process::ExitStatusExt;
        let (mut exit_code, mut signal) = (status.code(), status.signal());
        if exit_code == Some(125) && stderr.starts_with("mcp-sandbox: cannot ") {
            return Err(Error::io(
                stderr.trim().to_string(),
                std::io::Error::other("cgroup"),
            ));
        }
        // bwrap reports a child killed by signal N as exit status 128 + N, like a shell.
        if let Some(code) = exit_code
            && (129..=128 + 64).contains(&code)
        {
            exit_code = None;
            signal = Some(code - 128);
        }
        if must_kill && signal.is_none() && exit_code.is_none() {
            signal = Some(nix::libc::SIGKILL);
        }
        Ok(ExecResult {
            stdout: lossy(captured.stdout),
            stderr,
            exit_code,
            signal,
            timed_out,
            truncated: captured.truncated,
            oom_killed: false,
            duration_ms,
            peak_memory_bytes: None,
            memory_limit_reached: false,
            notes: Vec::new(),
        })
    }
}

/// Reads the child's stderr until the shim's ready line. Returns whether it came, and what came
/// before it (or everything, if the sandbox ended first).
async fn wait_ready(child: &mut tokio::process::Child) -> Result<(bool, Vec<u8>), Error> {
    let Some(mut stderr) = child.stderr.take() else {
        return Err(Error::io(
            "capturing output",
            std::io::Error::other("no pipes"),
        ));
    };
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 256];
        loop {
            if seen.ends_with(READY) {
                seen.truncate(seen.len() - READY.len());
                return true;
            }
            // Nothing comes after the ready line until the go, so this never reads past it.
            match stderr.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if seen.len() < 64 * 1024 => seen.extend_from_slice(&buf[..n]),
                Ok(_) => {}
            }
        }
    };
    let ready = tokio::time::timeout(READY_TIMEOUT, read).await;
    child.stderr = Some(stderr);
    match ready {
        Ok(ready) => Ok((ready, seen)),
        Err(_) => Err(Error::io(
            format!("the sandbox was not ready after {READY_TIMEOUT:?}"),
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        )),
    }
}
