//! Configuration: parallelism, limits, the uids runs execute as, interpreter paths.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Resource limits of one run. All values are hard limits; exceeding one ends the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Wall-clock time; the whole process tree is killed when it runs out.
    pub wall_time_ms: u64,
    /// CPU seconds per process (`RLIMIT_CPU`); the CPU cgroup also caps a run at one core.
    pub cpu_time_secs: u64,
    /// Memory of the whole run, tmpfs included (memory cgroup; `RLIMIT_AS` in weaker mode).
    pub memory_bytes: u64,
    /// Processes and threads of the run (pids cgroup and `RLIMIT_NPROC`).
    pub max_processes: u64,
    /// Open file descriptors per process (`RLIMIT_NOFILE`).
    pub max_open_files: u64,
    /// Largest file a process may write (`RLIMIT_FSIZE`).
    pub max_file_size_bytes: u64,
    /// Size of the writable work dir and of `/tmp` (each a tmpfs).
    pub work_dir_bytes: u64,
    /// Bytes of stdout plus stderr kept; a run that prints more is killed and marked truncated,
    /// and the text kept is cut so that written as JSON strings it takes no more either
    /// ([`ExecResult::fit_json`](crate::ExecResult::fit_json)).
    pub max_output_bytes: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time_ms: 10_000,
            cpu_time_secs: 10,
            memory_bytes: 256 * MIB,
            max_processes: 64,
            max_open_files: 128,
            max_file_size_bytes: 16 * MIB,
            work_dir_bytes: 32 * MIB,
            max_output_bytes: MIB,
        }
    }
}

impl Limits {
    /// The default maximums a request may ask for.
    pub fn default_maximum() -> Self {
        Limits {
            wall_time_ms: 60_000,
            cpu_time_secs: 60,
            memory_bytes: 1024 * MIB,
            max_processes: 256,
            max_open_files: 1024,
            max_file_size_bytes: 128 * MIB,
            work_dir_bytes: 256 * MIB,
            max_output_bytes: 16 * MIB,
        }
    }

    fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("wall_time_ms", self.wall_time_ms),
            ("cpu_time_secs", self.cpu_time_secs),
            ("memory_bytes", self.memory_bytes),
            ("max_processes", self.max_processes),
            ("max_open_files", self.max_open_files),
            ("max_file_size_bytes", self.max_file_size_bytes),
            ("work_dir_bytes", self.work_dir_bytes),
            ("max_output_bytes", self.max_output_bytes),
        ]
    }

    fn check_nonzero(&self) -> Result<(), Error> {
        for (name, value) in self.fields() {
            if value == 0 {
                return Err(Error::InvalidLimit {
                    name,
                    reason: "must be greater than zero",
                });
            }
        }
        if self.memory_bytes < 16 * MIB {
            return Err(Error::InvalidLimit {
                name: "memory_bytes",
                reason: "must be at least 16 MiB (interpreters do not start with less)",
            });
        }
        if self.max_processes < 4 {
            return Err(Error::InvalidLimit {
                name: "max_processes",
                reason: "must be at least 4 (bwrap itself needs two)",
            });
        }
        if self.max_open_files < 16 {
            return Err(Error::InvalidLimit {
                name: "max_open_files",
                reason: "must be at least 16",
            });
        }
        Ok(())
    }
}

/// Per-request overrides of the default [`Limits`]; `None` keeps the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RequestLimits {
    /// See [`Limits::wall_time_ms`].
    #[serde(deserialize_with = "integral")]
    pub wall_time_ms: Option<u64>,
    /// See [`Limits::cpu_time_secs`].
    #[serde(deserialize_with = "integral")]
    pub cpu_time_secs: Option<u64>,
    /// See [`Limits::memory_bytes`].
    #[serde(deserialize_with = "integral")]
    pub memory_bytes: Option<u64>,
    /// See [`Limits::max_processes`].
    #[serde(deserialize_with = "integral")]
    pub max_processes: Option<u64>,
    /// See [`Limits::max_open_files`].
    #[serde(deserialize_with = "integral")]
    pub max_open_files: Option<u64>,
    /// See [`Limits::max_file_size_bytes`].
    #[serde(deserialize_with = "integral")]
    pub max_file_size_bytes: Option<u64>,
    /// See [`Limits::work_dir_bytes`].
    #[serde(deserialize_with = "integral")]
    pub work_dir_bytes: Option<u64>,
    /// See [`Limits::max_output_bytes`].
    #[serde(deserialize_with = "integral")]
    pub max_output_bytes: Option<u64>,
}

/// A count written as an integer or as an integral number such as `5.0` (JSON has one number
/// type, and JSON Schema's `integer` admits both forms).
fn integral<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Integer(u64),
        Number(f64),
    }
    match Option::<Count>::deserialize(de)? {
        None => Ok(None),
        Some(Count::Integer(n)) => Ok(Some(n)),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(Count::Number(f)) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => {
            Ok(Some(f as u64))
        }
        Some(Count::Number(f)) => Err(serde::de::Error::custom(format!(
            "expected a non-negative integer, got {f}"
        ))),
    }
}

impl RequestLimits {
    /// Applies the overrides to `defaults`, refusing any value above `maximum` or invalid.
    pub fn resolve(&self, defaults: &Limits, maximum: &Limits) -> Result<Limits, Error> {
        let pick = |v: Option<u64>, d: u64| v.unwrap_or(d);
        let limits = Limits {
            wall_time_ms: pick(self.wall_time_ms, defaults.wall_time_ms),
            cpu_time_secs: pick(self.cpu_time_secs, defaults.cpu_time_secs),
            memory_bytes: pick(self.memory_bytes, defaults.memory_bytes),
            max_processes: pick(self.max_processes, defaults.max_processes),
            max_open_files: pick(self.max_open_files, defaults.max_open_files),
            max_file_size_bytes: pick(self.max_file_size_bytes, defaults.max_file_size_bytes),
            work_dir_bytes: pick(self.work_dir_bytes, defaults.work_dir_bytes),
            max_output_bytes: pick(self.max_output_bytes, defaults.max_output_bytes),
        };
        limits.check_nonzero()?;
        for ((name, requested), (_, max)) in limits.fields().into_iter().zip(maximum.fields()) {
            if requested > max {
                return Err(Error::LimitExceedsMaximum {
                    name,
                    requested,
                    maximum: max,
                });
            }
        }
        Ok(limits)
    }
}

/// Paths of the programs the sandbox runs. They must live under a directory bound into the
/// sandbox (`/usr` by default), which is why the system `/usr/bin/python3` is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Interpreters {
    /// Python 3 interpreter.
    pub python: PathBuf,
    /// Node.js.
    pub node: PathBuf,
    /// Bash.
    pub bash: PathBuf,
    /// ShellCheck, used by the lint tool when present.
    pub shellcheck: PathBuf,
    /// Ruff, used by the lint tool for Python when present. `None` looks it up on `PATH`
    /// (and through the Python on `PATH`); it is bound read-only into the sandbox.
    pub ruff: Option<PathBuf>,
}

impl Default for Interpreters {
    fn default() -> Self {
        Interpreters {
            python: "/usr/bin/python3".into(),
            node: "/usr/bin/node".into(),
            bash: "/usr/bin/bash".into(),
            shellcheck: "/usr/bin/shellcheck".into(),
            ruff: None,
        }
    }
}

/// Configuration of [`BwrapSandbox`](crate::BwrapSandbox).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// How many runs execute at once.
    pub parallelism: usize,
    /// How many more runs may wait for a free slot before requests are refused.
    pub queue_length: usize,
    /// Limits of a run that asks for none.
    pub default_limits: Limits,
    /// The highest limits a request may ask for.
    pub max_limits: Limits,
    /// When the server runs as root, run slot `i` executes as uid and gid `uid_base + i`
    /// (uids with no account and no files on the host). Ignored when the server is not root.
    pub uid_base: u32,
    /// Run code even when a required isolation layer is unavailable (see `docs/sandbox.md`).
    /// Off by default: without it such runs are refused.
    pub allow_weaker_isolation: bool,
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// util-linux `prlimit`, used to set rlimits on the sandbox when the wrapper shell cannot
    /// (see `shell_rlimits`), or when the weaker modes need `RLIMIT_NPROC` or `RLIMIT_AS`.
    pub prlimit: PathBuf,
    /// A POSIX shell, used as the tiny wrapper that joins the run's cgroups.
    pub shell: PathBuf,
    /// Let the wrapper shell set the rlimits with its `ulimit` builtin (saves the `prlimit` exec
    /// on every run). Used only if a start-up check shows the shell sets CPU, file-size, open-file
    /// and core limits exactly; otherwise `prlimit` is used.
    pub shell_rlimits: bool,
    /// Interpreter and tool paths.
    pub interpreters: Interpreters,
    /// Where the sandbox's private runtime dir (seccomp program, passwd/group files) is made;
    /// `None` uses the system temp dir. Runtime dirs left there by a crash are removed at start.
    pub runtime_dir: Option<PathBuf>,
    /// Maximum bytes of code, stdin and files of one request.
    pub max_input_bytes: u64,
    /// Wall-time limit of each checker run of a lint (ruff, `compile()`, `node --check`,
    /// `bash -n`, shellcheck), in milliseconds; its CPU time is limited to the same. A checker
    /// still running then is killed and the lint answers [`Error::ToolTimedOut`], so a
    /// pathological input holds a run slot no longer than this. Default 10 000, at most
    /// `max_limits.wall_time_ms`.
    pub lint_time_limit_ms: u64,
    /// Keep a *standby* per free slot: a sandbox started ahead of the next run (fresh
    /// namespaces, mounts, limits; no code yet) with the shape of the slot's last run, so a run
    /// of that shape skips the set-up. Each standby is used for one run only. On by default;
    /// off starts every sandbox when its run arrives.
    pub standby: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            parallelism: 2,
            queue_length: 64,
            default_limits: Limits::default(),
            max_limits: Limits::default_maximum(),
            uid_base: 200_000,
            allow_weaker_isolation: false,
            bwrap: "/usr/bin/bwrap".into(),
            prlimit: "/usr/bin/prlimit".into(),
            shell: "/bin/sh".into(),
            shell_rlimits: true,
            interpreters: Interpreters::default(),
            runtime_dir: None,
            max_input_bytes: 8 * MIB,
            lint_time_limit_ms: 10_000,
            standby: true,
        }
    }
}

impl SandboxConfig {
    /// The ruff binary the lint tool would use: `interpreters.ruff`, else one found on `PATH`
    /// or through the Python on `PATH`; `None` means Python lint falls back to `compile()`.
    pub fn find_ruff(&self) -> Option<PathBuf> {
        crate::bwrap::runtime::find_ruff(self)
    }

    /// Checks the values that can be checked without touching the host.
    pub fn validate(&self) -> Result<(), Error> {
        if self.parallelism == 0 {
            return Err(Error::InvalidConfig(
                "parallelism must be at least 1".into(),
            ));
        }
        if self.parallelism > 1024 {
            return Err(Error::InvalidConfig(
                "parallelism must be at most 1024".into(),
            ));
        }
        if self.uid_base == 0 || self.uid_base.checked_add(self.parallelism as u32).is_none() {
            return Err(Error::InvalidConfig(
                "uid_base must be non-zero and leave room for one uid per parallel run".into(),
            ));
        }
        self.max_limits.check_nonzero()?;
        if !(100..=self.max_limits.wall_time_ms).contains(&self.lint_time_limit_ms) {
            return Err(Error::InvalidConfig(format!(
                "lint_time_limit_ms must be between 100 and max_limits.wall_time_ms ({})",
                self.max_limits.wall_time_ms
            )));
        }
        RequestLimits::default()
            .resolve(&self.default_limits, &self.max_limits)
            .map_err(|e| Error::InvalidConfig(format!("default_limits: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_limits_above_maximum_are_refused_by_name() {
        let req = RequestLimits {
            memory_bytes: Some(u64::MAX),
            ..Default::default()
        };
        let err = req
            .resolve(&Limits::default(), &Limits::default_maximum())
            .unwrap_err();
        assert!(err.to_string().contains("memory_bytes"), "{err}");
    }

    #[test]
    fn zero_limits_are_refused() {
        let req = RequestLimits {
            wall_time_ms: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            req.resolve(&Limits::default(), &Limits::default_maximum()),
            Err(Error::InvalidLimit {
                name: "wall_time_ms",
                ..
            })
        ));
    }

    #[test]
    fn config_rejects_unknown_fields() {
        let err = serde_json::from_str::<SandboxConfig>(r#"{"allow_weaker_isolaton": true}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn default_config_is_valid_and_strict() {
        let c = SandboxConfig::default();
        c.validate().unwrap();
        assert!(!c.allow_weaker_isolation);
    }
}
