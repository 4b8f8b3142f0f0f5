//! Starting the wrapper → prlimit → bwrap chain and waiting for it under the run's limits.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::cgroup::{Controller, SlotCgroup};
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

impl BwrapSandbox {
    fn command(
        &self,
        job: &Job,
        staging: &Path,
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
        for (file, _) in &job.files {
            cmd.arg("--ro-bind")
                .arg(staging.join(file))
                .arg(format!("{WORK_DIR}/{file}"));
        }
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
        cmd.args(["--seccomp", "3", "--"]);
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

    pub(super) async fn spawn_and_wait(
        &self,
        job: &Job,
        staging: &Path,
        uid: Option<u32>,
        cgroup: Option<&SlotCgroup>,
    ) -> Result<ExecResult, Error> {
        let mut cmd = self.command(job, staging, uid, cgroup);
        let started = Instant::now();
        let deadline =
            tokio::time::Instant::now() + std::time::Duration::from_millis(job.limits.wall_time_ms);
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: self.inner.config.shell.display().to_string(),
            source,
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            let data = job.stdin.clone();
            tokio::spawn(async move {
                let _ = stdin.write_all(&data).await;
            });
        }
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Error::io(
                "capturing output",
                std::io::Error::other("no pipes"),
            ));
        };
        let mut captured = Captured::default();
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
        // Anything left (there should be nothing: the PID namespace died with its init) gets
        // SIGKILL now; waiting until the groups are empty happens after the result is returned,
        // before the slot takes its next run.
        if let Some(group) = cgroup {
            group.kill_once();
        }

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
        })
    }
}
