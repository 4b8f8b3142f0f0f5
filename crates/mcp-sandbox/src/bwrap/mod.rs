//! [`BwrapSandbox`]: the Linux sandbox, built on bubblewrap run as an unprivileged uid.

mod cgroup;
mod output;
pub(crate) mod seccomp;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use self::cgroup::{Controller, RunCgroup};
use self::output::{Captured, lossy, read_capped};
use crate::exec::validate_file_name;
use crate::probe::{LanguageStatus, LayerStatus};
use crate::{
    Error, ExecRequest, ExecResult, Language, Layer, Limits, Probe, Sandbox, SandboxConfig,
};

/// Where the sandbox's work dir is mounted.
pub const WORK_DIR: &str = "/work";
/// The uid and gid the code sees inside its user namespace.
pub const SANDBOX_UID: u32 = 1000;
const MAX_FILES: usize = 256;

/// The wrapper: joins the run's cgroups (its own pid, before anything else runs), opens the
/// seccomp program as fd 3 and execs `prlimit … bwrap …`. Arguments are passed positionally, so
/// nothing from a request is ever parsed by the shell.
const WRAPPER: &str = r#"f=$1; shift
while [ "$1" != -- ]; do
  echo $$ > "$1" || { echo "mcp-sandbox: cannot join cgroup $1" >&2; exit 125; }
  shift
done
shift
exec "$@" 3< "$f""#;

/// One thing to execute inside the sandbox; requests and tools both become a `Job`.
#[derive(Debug, Default)]
pub(crate) struct Job {
    /// argv inside the sandbox.
    pub(crate) argv: Vec<String>,
    /// Files placed read-only in the work dir.
    pub(crate) files: Vec<(String, Vec<u8>)>,
    pub(crate) stdin: Vec<u8>,
    pub(crate) limits: Limits,
    /// Extra read-only binds: host path → path inside.
    pub(crate) binds: Vec<(PathBuf, String)>,
    /// Extra environment variables.
    pub(crate) env: Vec<(String, String)>,
}

/// Runs code with bubblewrap: fresh user, mount, PID, network, IPC, UTS and cgroup namespaces, a
/// read-only `/usr`, a tmpfs work dir, a seccomp filter, rlimits and per-run cgroups, as a
/// dedicated uid. See `docs/sandbox.md` for the threat model.
#[derive(Clone)]
pub struct BwrapSandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BwrapSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BwrapSandbox")
            .field("probe", &self.inner.probe)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: SandboxConfig,
    probe: Probe,
    runtime: tempfile::TempDir,
    seccomp_file: PathBuf,
    passwd_file: PathBuf,
    group_file: PathBuf,
    cgroup_parents: Vec<(Controller, PathBuf)>,
    switch_uid: bool,
    gate: Semaphore,
    waiting: AtomicUsize,
    slots: Mutex<Vec<u32>>,
    counter: AtomicU64,
    ruff: Option<PathBuf>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (_, dir) in &self.cgroup_parents {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::io(context, source)
}

impl BwrapSandbox {
    /// Validates `config`, prepares the runtime dir and cgroups, and probes every isolation
    /// layer by starting a sandbox. Missing layers are logged (`tracing::error!`) and reported
    /// in [`Sandbox::probe`]; runs are then refused unless `allow_weaker_isolation` is set.
    pub async fn from_config(config: SandboxConfig) -> Result<Self, Error> {
        config.validate()?;
        let runtime = match &config.runtime_dir {
            Some(dir) => {
                fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
                tempfile::Builder::new()
                    .prefix("mcp-sandbox-")
                    .tempdir_in(dir)
            }
            None => tempfile::Builder::new().prefix("mcp-sandbox-").tempdir(),
        }
        .map_err(io_err("creating the sandbox runtime dir"))?;
        set_mode(runtime.path(), 0o711)?;
        let seccomp_file = runtime.path().join("seccomp.bpf");
        write_file(&seccomp_file, &seccomp::filter_bytes()?, 0o644)?;
        let passwd_file = runtime.path().join("passwd");
        write_file(
            &passwd_file,
            format!("sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:{WORK_DIR}:/usr/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n").as_bytes(),
            0o644,
        )?;
        let group_file = runtime.path().join("group");
        write_file(
            &group_file,
            format!("sandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n").as_bytes(),
            0o644,
        )?;

        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let instance = INSTANCES.fetch_add(1, Ordering::SeqCst);
        let mut layers = Vec::new();
        let mut cgroup_parents = Vec::new();
        for controller in Controller::ALL {
            let layer = match controller {
                Controller::Memory => Layer::CgroupMemory,
                Controller::Pids => Layer::CgroupPids,
                Controller::Cpu => Layer::CgroupCpu,
            };
            match cgroup::parent_group(controller, instance) {
                Ok(dir) => {
                    layers.push(status(
                        layer,
                        true,
                        format!("per-run groups under {}", dir.display()),
                    ));
                    cgroup_parents.push((controller, dir));
                }
                Err(why) => layers.push(status(layer, false, why)),
            }
        }
        let switch_uid = nix::unistd::geteuid().is_root();
        layers.push(if switch_uid {
            status(
                Layer::SeparateUid,
                true,
                format!(
                    "runs execute as uids {}..{}",
                    config.uid_base,
                    config.uid_base + config.parallelism as u32 - 1
                ),
            )
        } else {
            status(
                Layer::SeparateUid,
                false,
                "the server is not root, so runs execute under the server's own uid".into(),
            )
        });
        let prlimit_ok = config.prlimit.is_file();
        layers.push(status(
            Layer::Rlimits,
            prlimit_ok,
            if prlimit_ok {
                format!(
                    "{} sets CPU, file size, open files and process limits",
                    config.prlimit.display()
                )
            } else {
                format!("{} not found", config.prlimit.display())
            },
        ));

        let languages = Language::ALL
            .iter()
            .map(|&language| {
                let interpreter = interpreter_path(&config, language).to_path_buf();
                LanguageStatus {
                    language,
                    available: interpreter.is_file(),
                    interpreter,
                }
            })
            .collect();

        // The run's uid may not reach the original (e.g. under /root), so bind a copy (or a
        // hard link) that lives in the runtime dir.
        let ruff = find_ruff(&config).and_then(|src| {
            let dest = runtime.path().join("ruff");
            fs::hard_link(&src, &dest)
                .or_else(|_| fs::copy(&src, &dest).map(|_| ()))
                .and_then(|()| fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)))
                .map_err(|e| tracing::warn!(ruff = %src.display(), error = %e, "cannot stage ruff; Python lint falls back to compile()"))
                .ok()
                .map(|()| dest)
        });
        let parallelism = config.parallelism;
        let inner = Inner {
            probe: Probe::new(Vec::new(), Vec::new(), config.allow_weaker_isolation),
            slots: Mutex::new((0..parallelism as u32).rev().collect()),
            gate: Semaphore::new(parallelism),
            waiting: AtomicUsize::new(0),
            counter: AtomicU64::new(0),
            runtime,
            seccomp_file,
            passwd_file,
            group_file,
            cgroup_parents,
            switch_uid,
            ruff,
            config,
        };
        let mut sandbox = BwrapSandbox {
            inner: Arc::new(inner),
        };
        layers.extend(sandbox.probe_namespaces().await);
        let probe = Probe::new(
            layers,
            languages,
            sandbox.inner.config.allow_weaker_isolation,
        );
        log_probe(&probe);
        match Arc::get_mut(&mut sandbox.inner) {
            Some(inner) => inner.probe = probe,
            None => unreachable!("the sandbox is not shared before from_config returns"),
        }
        Ok(sandbox)
    }

    /// The configuration in use.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The ruff binary the lint tool binds into the sandbox, if one was found.
    pub(crate) fn ruff(&self) -> Option<&Path> {
        self.inner.ruff.as_deref()
    }

    /// Starts a sandbox that reports its namespaces and process status, and compares them with
    /// the server's own.
    async fn probe_namespaces(&self) -> Vec<LayerStatus> {
        const NS: [(&str, Layer); 6] = [
            ("user", Layer::UserNamespace),
            ("mnt", Layer::MountNamespace),
            ("pid", Layer::PidNamespace),
            ("net", Layer::NetworkNamespace),
            ("ipc", Layer::IpcNamespace),
            ("uts", Layer::UtsNamespace),
        ];
        let script = "for n in user mnt pid net ipc uts; do echo \"$n $(readlink /proc/self/ns/$n)\"; done; grep -E '^(NoNewPrivs|Seccomp|CapEff|CapPrm):' /proc/self/status; if unshare -U true 2>/dev/null; then echo 'Unshare: allowed'; else echo 'Unshare: refused'; fi";
        let job = Job {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            limits: self.inner.config.default_limits.clone(),
            ..Job::default()
        };
        let bwrap_ok = self.inner.config.bwrap.is_file();
        let result = if bwrap_ok {
            self.execute_in_slot(0, job).await
        } else {
            Err(Error::InvalidConfig(format!(
                "{} not found",
                self.inner.config.bwrap.display()
            )))
        };
        let mut out = Vec::new();
        let (text, why) = match &result {
            Ok(r) if r.exit_code == Some(0) => (r.stdout.clone(), String::new()),
            Ok(r) => (
                String::new(),
                format!(
                    "probe sandbox failed (exit {:?}): {}",
                    r.exit_code,
                    r.stderr.trim()
                ),
            ),
            Err(e) => (String::new(), format!("probe sandbox failed: {e}")),
        };
        out.push(status(
            Layer::Bubblewrap,
            why.is_empty(),
            if why.is_empty() {
                format!("{} starts sandboxes", self.inner.config.bwrap.display())
            } else {
                why.clone()
            },
        ));
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        };
        for (name, layer) in NS {
            let host = fs::read_link(format!("/proc/self/ns/{name}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let inside = field(&format!("{name} ")).unwrap_or_default();
            let ok = !inside.is_empty() && inside != host;
            out.push(status(
                layer,
                ok,
                if ok {
                    format!("sandbox {inside} differs from host {host}")
                } else if why.is_empty() {
                    format!("sandbox shares the host's namespace ({inside})")
                } else {
                    why.clone()
                },
            ));
        }
        let check = |layer, key: &str, want: &str, what: &str| {
            let got = field(key);
            let ok = got.as_deref() == Some(want);
            status(
                layer,
                ok,
                if ok {
                    what.to_string()
                } else if why.is_empty() {
                    format!("{key} is {got:?}, expected {want}")
                } else {
                    why.clone()
                },
            )
        };
        out.push(check(
            Layer::NoNewPrivs,
            "NoNewPrivs:",
            "1",
            "NoNewPrivs: 1 inside the sandbox",
        ));
        let mut seccomp = check(
            Layer::Seccomp,
            "Seccomp:",
            "2",
            "seccomp filter mode inside the sandbox, and it refuses unshare(CLONE_NEWUSER)",
        );
        if seccomp.available && field("Unshare:").as_deref() != Some("refused") {
            seccomp.available = false;
            seccomp.detail =
                "a filter is loaded but `unshare -U` succeeded inside the sandbox".into();
        }
        out.push(seccomp);
        out.push(check(
            Layer::NoCapabilities,
            "CapEff:",
            "0000000000000000",
            "no effective capabilities inside the sandbox",
        ));
        out
    }

    /// Queues `job` behind the concurrency bound and runs it.
    pub(crate) async fn execute(&self, job: Job) -> Result<ExecResult, Error> {
        let inner = &self.inner;
        if !inner.probe.ready {
            return Err(Error::IsolationUnavailable {
                missing: inner.probe.missing_required(),
            });
        }
        let capacity = inner.config.parallelism + inner.config.queue_length;
        if inner.waiting.fetch_add(1, Ordering::SeqCst) >= capacity {
            inner.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::QueueFull {
                capacity: inner.config.queue_length,
            });
        }
        let _leave = Leave(&inner.waiting);
        let _permit = inner
            .gate
            .acquire()
            .await
            .map_err(|_| Error::InvalidConfig("sandbox is shutting down".into()))?;
        let slot = lock(&inner.slots).pop().unwrap_or(0);
        let result = self.execute_in_slot(slot, job).await;
        lock(&inner.slots).push(slot);
        result
    }

    async fn execute_in_slot(&self, slot: u32, job: Job) -> Result<ExecResult, Error> {
        let inner = &self.inner;
        let n = inner.counter.fetch_add(1, Ordering::SeqCst);
        let uid = inner.switch_uid.then(|| inner.config.uid_base + slot);
        let name = format!("run-{n}");
        let staging = inner.runtime.path().join(&name);
        let _cleanup = RemoveDir(staging.clone());
        stage_files(&staging, &job.files, uid)?;

        let cgroup = if inner.cgroup_parents.is_empty() {
            None
        } else {
            Some(
                RunCgroup::create(&inner.cgroup_parents, &name, &job.limits, uid)
                    .map_err(io_err("creating the run's cgroups"))?,
            )
        };
        let result = self
            .spawn_and_wait(&job, &staging, uid, cgroup.as_ref())
            .await;
        if let Some(group) = cgroup {
            let mut result = result;
            if let Ok(r) = &mut result {
                r.peak_memory_bytes = group.peak_memory();
                r.oom_killed = group.oom_killed();
            }
            group.destroy().await;
            return result;
        }
        result
    }

    fn command(
        &self,
        job: &Job,
        staging: &Path,
        uid: Option<u32>,
        cgroup: Option<&RunCgroup>,
    ) -> tokio::process::Command {
        let c = &self.inner.config;
        let l = &job.limits;
        let mut cmd = tokio::process::Command::new(&c.shell);
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .arg(&self.inner.seccomp_file);
        if let Some(group) = cgroup {
            cmd.args(group.procs_files());
        }
        cmd.arg("--");
        if c.prlimit.is_file() {
            cmd.arg(&c.prlimit)
                .arg(format!("--cpu={}:{}", l.cpu_time_secs, l.cpu_time_secs + 1))
                .arg(format!("--fsize={}", l.max_file_size_bytes))
                .arg(format!("--nofile={}", l.max_open_files))
                .arg("--core=0");
            let has_pids_cg = cgroup.is_some() && self.inner.has_controller(Controller::Pids);
            if uid.is_some() && !has_pids_cg {
                // Weaker mode without a pids cgroup. RLIMIT_NPROC counts per real uid (each slot
                // has its own) and includes tasks of earlier runs that the kernel has not freed
                // yet, so it is only the fallback: with a pids cgroup it made rapid runs fail.
                cmd.arg(format!("--nproc={}", l.max_processes));
            }
            let has_memcg = cgroup.is_some() && self.inner.has_controller(Controller::Memory);
            if !has_memcg && !job.argv.first().is_some_and(|p| p.ends_with("node")) {
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

    async fn spawn_and_wait(
        &self,
        job: &Job,
        staging: &Path,
        uid: Option<u32>,
        cgroup: Option<&RunCgroup>,
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
        // Anything left (there should be nothing: the PID namespace died with its init).
        if let Some(group) = cgroup {
            group.kill_all().await;
        }

        let stderr = lossy(captured.stderr);
        use std::os::unix::process::ExitStatusExt;
        let (mut exit_code, mut signal) = (status.code(), status.signal());
        if exit_code == Some(125) && stderr.starts_with("mcp-sandbox: cannot join cgroup") {
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

    /// Turns a request into a job: validates it and resolves limits and interpreter.
    pub(crate) fn job_for(&self, request: &ExecRequest) -> Result<Job, Error> {
        let c = &self.inner.config;
        let interpreter = interpreter_path(c, request.language);
        if !interpreter.is_file() {
            return Err(Error::InterpreterMissing {
                language: request.language.to_string(),
                path: interpreter.to_path_buf(),
            });
        }
        let limits = request.limits.resolve(&c.default_limits, &c.max_limits)?;
        let main = request.language.main_file();
        let mut files = vec![(main.to_string(), request.code.clone().into_bytes())];
        if request.files.len() > MAX_FILES {
            return Err(Error::InvalidFileName {
                name: format!("({} files)", request.files.len()),
                reason: "too many files (at most 256)",
            });
        }
        for (name, content) in &request.files {
            validate_file_name(name)?;
            if name == main {
                return Err(Error::InvalidFileName {
                    name: name.clone(),
                    reason: "this name holds the submitted code",
                });
            }
            files.push((name.clone(), content.clone().into_bytes()));
        }
        let size: u64 =
            files.iter().map(|(_, c)| c.len() as u64).sum::<u64>() + request.stdin.len() as u64;
        if size > c.max_input_bytes {
            return Err(Error::InputTooLarge {
                size,
                max: c.max_input_bytes,
            });
        }
        let mut argv = vec![interpreter.display().to_string()];
        if request.language == Language::Javascript {
            let heap_mib = (limits.memory_bytes / (1024 * 1024)) * 3 / 4;
            argv.push(format!("--max-old-space-size={}", heap_mib.max(8)));
        }
        argv.push(main.to_string());
        Ok(Job {
            argv,
            files,
            stdin: request.stdin.clone().into_bytes(),
            limits,
            binds: Vec::new(),
            env: Vec::new(),
        })
    }

    /// Resolves request limits against the config.
    pub(crate) fn resolve_limits(&self, limits: &crate::RequestLimits) -> Result<Limits, Error> {
        limits.resolve(
            &self.inner.config.default_limits,
            &self.inner.config.max_limits,
        )
    }
}

impl Inner {
    fn has_controller(&self, controller: Controller) -> bool {
        self.cgroup_parents.iter().any(|(c, _)| *c == controller)
    }
}

#[async_trait]
impl Sandbox for BwrapSandbox {
    async fn run(&self, request: ExecRequest) -> Result<ExecResult, Error> {
        let job = self.job_for(&request)?;
        self.execute(job).await
    }

    fn probe(&self) -> &Probe {
        &self.inner.probe
    }
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        if self.0.exists()
            && let Err(e) = fs::remove_dir_all(&self.0)
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove sandbox staging dir");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn status(layer: Layer, available: bool, detail: String) -> LayerStatus {
    LayerStatus {
        layer,
        available,
        required: layer.is_required(),
        detail,
    }
}

fn log_probe(probe: &Probe) {
    for l in &probe.layers {
        if l.available {
            tracing::info!(layer = %l.layer.name(), detail = %l.detail, "sandbox layer available");
        } else if l.required {
            tracing::error!(layer = %l.layer.name(), detail = %l.detail, "SANDBOX ISOLATION LAYER UNAVAILABLE");
        } else {
            tracing::warn!(layer = %l.layer.name(), detail = %l.detail, "optional sandbox layer unavailable");
        }
    }
    for lang in &probe.languages {
        if !lang.available {
            tracing::warn!(language = %lang.language, interpreter = %lang.interpreter.display(), "interpreter not found");
        }
    }
    if !probe.ready {
        tracing::error!(missing = ?probe.missing_required(), "the sandbox REFUSES to run code: required isolation is unavailable and allow_weaker_isolation is off");
    } else if !probe.missing_required().is_empty() {
        tracing::error!(missing = ?probe.missing_required(), "the sandbox runs code with WEAKER isolation (allow_weaker_isolation is on)");
    }
}

pub(crate) fn interpreter_path(c: &SandboxConfig, language: Language) -> &Path {
    match language {
        Language::Python => &c.interpreters.python,
        Language::Javascript => &c.interpreters.node,
        Language::Bash => &c.interpreters.bash,
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("setting permissions of {}", path.display())))
}

fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    fs::write(path, content).map_err(io_err(format!("writing {}", path.display())))?;
    set_mode(path, mode)
}

/// Writes the job's files under `staging`, owned by the run's uid so bwrap can bind them.
fn stage_files(staging: &Path, files: &[(String, Vec<u8>)], uid: Option<u32>) -> Result<(), Error> {
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
fn find_ruff(config: &SandboxConfig) -> Option<PathBuf> {
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
