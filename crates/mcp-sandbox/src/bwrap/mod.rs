//! [`BwrapSandbox`]: the Linux sandbox, built on bubblewrap run as an unprivileged uid.

mod cgroup;
mod output;
mod probe;
mod process;
pub(crate) mod seccomp;
mod staging;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Semaphore;

use self::cgroup::{Controller, RunCgroup};
use self::probe::{log_probe, status};
use self::staging::{RemoveDir, find_ruff, set_mode, stage_files, write_file};
use crate::exec::validate_file_name;
use crate::probe::LanguageStatus;
use crate::{
    Error, ExecRequest, ExecResult, Language, Layer, Limits, Probe, Sandbox, SandboxConfig,
};

/// Where the sandbox's work dir is mounted.
pub const WORK_DIR: &str = "/work";
/// The uid and gid the code sees inside its user namespace.
pub const SANDBOX_UID: u32 = 1000;
const MAX_FILES: usize = 256;

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
