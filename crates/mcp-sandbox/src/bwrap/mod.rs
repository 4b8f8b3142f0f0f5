//! [`BwrapSandbox`]: the Linux sandbox, built on bubblewrap run as an unprivileged uid.

mod cgroup;
mod files;
mod output;
mod probe;
mod process;
pub(crate) mod runtime;
pub(crate) mod seccomp;
mod service;
mod standby;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Semaphore;

use self::cgroup::{Controller, SlotCgroup};
use self::probe::{log_probe, status};
use self::process::Started;
use self::runtime::{find_ruff, set_mode, write_file};
pub use self::service::{IsolatedProcess, ProcessLimits, ProcessSpec};
pub use self::standby::SandboxStats;
use self::standby::{Standby, take_slot};
use crate::exec::add_submitted_files;
use crate::probe::LanguageStatus;
use crate::{
    Error, ExecRequest, ExecResult, Language, Layer, Limits, Probe, Sandbox, SandboxConfig,
};

/// Name prefix of the runtime dirs (one per sandbox instance).
const RUNTIME_PREFIX: &str = "mcp-sandbox-";
/// Where the sandbox's work dir is mounted.
pub const WORK_DIR: &str = "/work";
/// The uid and gid the code sees inside its user namespace.
pub const SANDBOX_UID: u32 = 1000;

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
    /// After the run, start a sandbox of the same shape for the slot's next run (if the config
    /// allows standbys).
    pub(crate) standby: bool,
}

/// Runs code with bubblewrap: fresh user, mount, PID, network, IPC, UTS and cgroup namespaces, a
/// read-only `/usr`, a tmpfs work dir, a seccomp filter, rlimits and per-slot cgroups (reset
/// between runs), as a dedicated uid. See `docs/sandbox.md` for the threat model.
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
    /// Holds the seccomp program, passwd and group files (removed when dropped).
    _runtime: tempfile::TempDir,
    /// Locked while this sandbox lives; a runtime dir whose lock is free was left by a crash.
    _owner_lock: fs::File,
    seccomp_file: PathBuf,
    passwd_file: PathBuf,
    group_file: PathBuf,
    cgroup_parents: Vec<(Controller, PathBuf)>,
    switch_uid: bool,
    /// The unit of the wrapper shell's `ulimit -f` when it sets rlimits itself.
    shell_fsize_block: Option<u64>,
    gate: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Free slots; a run takes one and gives it back once its leftovers are cleaned up.
    slots: Mutex<Vec<Slot>>,
    counter: AtomicU64,
    from_standby: AtomicU64,
    started_cold: AtomicU64,
    ruff: Option<PathBuf>,
}

/// One of the `parallelism` run slots: its uid offset, its standby and its cgroups (created on
/// first use).
struct Slot {
    index: u32,
    /// A sandbox started for the slot's next run (dropped, i.e. killed, before the groups).
    standby: Option<Standby>,
    cgroup: Option<SlotCgroup>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The slots' groups first (dropping them removes them), then their parents.
        lock(&self.slots).clear();
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
        let parent = config
            .runtime_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        fs::create_dir_all(&parent).map_err(io_err(format!("creating {}", parent.display())))?;
        runtime::remove_stale_runtime_dirs(&parent, RUNTIME_PREFIX);
        let runtime = tempfile::Builder::new()
            .prefix(RUNTIME_PREFIX)
            .tempdir_in(&parent)
            .map_err(io_err("creating the sandbox runtime dir"))?;
        set_mode(runtime.path(), 0o711)?;
        let owner_lock = runtime::lock_runtime_dir(runtime.path())?;
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
                        format!("per-slot groups under {}", dir.display()),
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
        let shell_fsize_block = if config.shell_rlimits {
            runtime::shell_fsize_block(&config.shell).await
        } else {
            None
        };
        layers.push(status(
            Layer::Rlimits,
            prlimit_ok || shell_fsize_block.is_some(),
            match (shell_fsize_block, prlimit_ok) {
                (Some(_), _) => format!(
                    "{}'s ulimit sets CPU, file size, open files and core limits",
                    config.shell.display()
                ),
                (None, true) => format!(
                    "{} sets CPU, file size, open files and process limits",
                    config.prlimit.display()
                ),
                (None, false) => format!("{} not found", config.prlimit.display()),
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
            slots: Mutex::new(
                (0..parallelism as u32)
                    .rev()
                    .map(|index| Slot {
                        index,
                        standby: None,
                        cgroup: None,
                    })
                    .collect(),
            ),
            gate: Arc::new(Semaphore::new(parallelism)),
            waiting: AtomicUsize::new(0),
            counter: AtomicU64::new(0),
            from_standby: AtomicU64::new(0),
            started_cold: AtomicU64::new(0),
            _runtime: runtime,
            _owner_lock: owner_lock,
            seccomp_file,
            passwd_file,
            group_file,
            cgroup_parents,
            switch_uid,
            shell_fsize_block,
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
        let lint_python = if sandbox.inner.ruff.is_some() {
            "ruff"
        } else {
            tracing::warn!(
                "ruff not found: Python lint falls back to compile() (syntax errors only); \
                 install ruff (pip install ruff) or set sandbox.interpreters.ruff"
            );
            "python-compile (ruff not found)"
        };
        log_probe(&probe, lint_python);
        // The probe run's clean-up holds a permit (and a reference to `inner`) until it is done.
        let all = u32::try_from(parallelism).unwrap_or(u32::MAX);
        drop(sandbox.inner.gate.acquire_many(all).await);
        match Arc::get_mut(&mut sandbox.inner) {
            Some(inner) => {
                inner.probe = probe;
                // The probe's own run is not one of the runs the stats count.
                inner.started_cold = AtomicU64::new(0);
            }
            None => unreachable!("the sandbox is not shared before from_config returns"),
        }
        sandbox.start_first_standbys().await;
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

    /// Queues `job` behind the concurrency bound and runs it.
    pub(crate) async fn execute(&self, job: Job) -> Result<ExecResult, Error> {
        if !self.inner.probe.ready {
            return Err(Error::IsolationUnavailable {
                missing: self.inner.probe.missing_required(),
            });
        }
        self.execute_unchecked(job).await
    }

    /// [`Self::execute`] without the readiness check (the start-up probe uses it).
    async fn execute_unchecked(&self, job: Job) -> Result<ExecResult, Error> {
        let inner = &self.inner;
        let capacity = inner.config.parallelism + inner.config.queue_length;
        if inner.waiting.fetch_add(1, Ordering::SeqCst) >= capacity {
            inner.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::QueueFull {
                capacity: inner.config.queue_length,
            });
        }
        let leave = Leave(Arc::clone(inner));
        let permit = Arc::clone(&inner.gate)
            .acquire_owned()
            .await
            .map_err(|_| Error::InvalidConfig("sandbox is shutting down".into()))?;
        let Some(slot) = take_slot(&mut lock(&inner.slots), &job) else {
            return Err(Error::InvalidConfig(
                "no free slot although the concurrency bound allowed a run".into(),
            ));
        };
        // Gives the slot back even if this future is dropped mid-run; the next run of the slot
        // then finds (and kills) whatever is left in its groups before it starts.
        let mut slot = SlotGuard {
            inner: Arc::clone(inner),
            slot: Some(slot),
        };
        let result = self.execute_in_slot(slot.get(), &job).await;
        // Cleaning up (waiting until the slot's cgroups are empty, reclaiming their memory) and
        // starting the slot's next standby happen after the result is returned; the slot and the
        // concurrency permit are held until then, so the slot's next run waits for it.
        let this = self.clone();
        tokio::spawn(async move {
            let s = slot.get();
            if let Some(group) = &mut s.cgroup
                && !group.reset().await
            {
                // A process survived SIGKILL: never reuse these groups.
                s.cgroup = None;
            }
            if job.standby && this.inner.config.standby && s.standby.is_none() {
                this.refill(s, &job).await;
            }
            drop(this);
            drop(slot);
            drop(leave);
            // Last: whoever waits for every permit may rely on the rest being released.
            drop(permit);
        });
        result
    }

    /// Runs `job` in `slot`: in the slot's standby if it has the job's shape, else in a sandbox
    /// started now.
    async fn execute_in_slot(&self, slot: &mut Slot, job: &Job) -> Result<ExecResult, Error> {
        let standby = slot
            .standby
            .take()
            .filter(|s| s.shape.same_shape(job))
            .and_then(|mut s| s.started.is_alive().then_some(s));
        let started = match standby {
            Some(standby) => {
                self.inner.from_standby.fetch_add(1, Ordering::Relaxed);
                standby.started
            }
            None => {
                // A standby of another shape (or a dead one) is gone by now; start_in_slot
                // empties the groups.
                self.inner.started_cold.fetch_add(1, Ordering::Relaxed);
                let n = self.inner.counter.fetch_add(1, Ordering::SeqCst);
                self.start_in_slot(slot, n, job).await?
            }
        };
        if let Some(group) = &mut slot.cgroup {
            group.start_run();
        }
        let group = slot.cgroup.as_ref();
        let uid = self.slot_uid(slot);
        let mut result = self.finish(started, job, uid, group).await;
        if let (Some(group), Ok(r)) = (group, &mut result) {
            r.peak_memory_bytes = group.peak_memory();
            r.oom_killed = group.oom_killed();
            r.memory_limit_reached = group.memory_limit_reached();
            r.explain_memory(
                job.limits.memory_bytes,
                self.inner.config.max_limits.memory_bytes,
            );
        }
        result
    }

    /// The host uid the slot's runs execute as, when the server can switch uids.
    fn slot_uid(&self, slot: &Slot) -> Option<u32> {
        let inner = &self.inner;
        inner.switch_uid.then(|| inner.config.uid_base + slot.index)
    }

    /// Readies the slot's groups for `job`'s limits and starts a sandbox for it.
    async fn start_in_slot(&self, slot: &mut Slot, n: u64, job: &Job) -> Result<Started, Error> {
        let inner = &self.inner;
        let uid = self.slot_uid(slot);
        if !inner.cgroup_parents.is_empty() {
            // Left over by a run whose future was dropped, or a standby: empty the groups, or
            // replace them.
            if let Some(group) = &mut slot.cgroup
                && !group.reset().await
            {
                slot.cgroup = None;
            }
            if slot.cgroup.is_none() {
                let name = format!("slot-{}-{n}", slot.index);
                slot.cgroup = Some(
                    SlotCgroup::create(&inner.cgroup_parents, &name, uid)
                        .map_err(io_err("creating the slot's cgroups"))?,
                );
            }
        }
        if let Some(group) = &mut slot.cgroup {
            group
                .prepare(&job.limits)
                .map_err(io_err("setting the run's cgroup limits"))?;
        }
        self.start(job, uid, slot.cgroup.as_ref()).await
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
        add_submitted_files(
            &mut files,
            &request.files,
            "this name holds the submitted code",
            request.stdin.len() as u64,
            c.max_input_bytes,
        )?;
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
            standby: true,
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
        let max_output = job.limits.max_output_bytes;
        let mut result = self.execute(job).await?;
        result.fit_json(max_output);
        Ok(result)
    }

    fn probe(&self) -> &Probe {
        &self.inner.probe
    }
}

/// Counts a run as waiting or running until dropped.
struct Leave(Arc<Inner>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Holds a slot taken from the pool and puts it back when dropped.
struct SlotGuard {
    inner: Arc<Inner>,
    slot: Option<Slot>,
}

impl SlotGuard {
    fn get(&mut self) -> &mut Slot {
        self.slot
            .as_mut()
            .unwrap_or_else(|| unreachable!("the slot is only taken out on drop"))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            lock(&self.inner.slots).push(slot);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn interpreter_path(c: &SandboxConfig, language: Language) -> &Path {
    match language {
        Language::Python => &c.interpreters.python,
        Language::Javascript => &c.interpreters.node,
        Language::Bash => &c.interpreters.bash,
    }
}
