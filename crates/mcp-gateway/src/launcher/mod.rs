//! How stdio upstreams are started: the [`ProcessLauncher`] trait and the plain-process
//! [`PlainLauncher`].
//!
//! A stdio upstream is untrusted code. The server plugs in a launcher that starts it inside the
//! sandbox's isolation (an adapter over `mcp_sandbox::BwrapSandbox::spawn_process`); the
//! gateway itself does not depend on the sandbox. [`PlainLauncher`] starts the command as an
//! ordinary child process with the server's own rights: for embedding and tests only.

mod plain;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

pub use plain::PlainLauncher;

/// A byte stream to the process (its stdin).
pub type ProcessInput = Pin<Box<dyn AsyncWrite + Send>>;
/// A byte stream from the process (its stdout or stderr).
pub type ProcessOutput = Pin<Box<dyn AsyncRead + Send>>;

/// What a stdio upstream may touch; a launcher that isolates grants exactly this.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Grants {
    /// Host paths visible read-only, at the same path inside.
    pub read_only: Vec<PathBuf>,
    /// Host paths visible read-write, at the same path inside.
    pub read_write: Vec<PathBuf>,
    /// Whether the process may open network sockets. Off by default.
    pub network: bool,
}

/// Resource limits of a long-running upstream process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProcessLimits {
    /// Memory of the whole process tree.
    pub memory_bytes: u64,
    /// Processes and threads.
    pub max_processes: u64,
    /// Open file descriptors per process.
    pub max_open_files: u64,
    /// Largest file a process may write.
    pub max_file_size_bytes: u64,
    /// Size of its private writable `/tmp`.
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

/// What to start: the command, its environment and what it may touch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaunchSpec {
    /// The upstream's namespace (for names and logs).
    pub namespace: String,
    /// The program (an absolute path, or a name looked up in `PATH` of `env`).
    pub command: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment (nothing is inherited from the server).
    pub env: BTreeMap<String, String>,
    /// Its working directory; `None` leaves it to the launcher.
    pub cwd: Option<PathBuf>,
    /// Files and network it may use.
    pub grants: Grants,
    /// Its resource limits.
    pub limits: ProcessLimits,
}

impl LaunchSpec {
    /// The launch of the stdio upstream `namespace` configured as `config`.
    pub fn for_stdio(namespace: impl Into<String>, config: &crate::StdioConfig) -> Self {
        Self {
            namespace: namespace.into(),
            command: config.command.clone(),
            args: config.args.clone(),
            env: config.env.clone(),
            cwd: config.cwd.clone(),
            grants: config.grants.clone(),
            limits: config.limits.clone(),
        }
    }
}

/// A started process: its pipes and a handle to stop it.
#[non_exhaustive]
pub struct Launched {
    /// Its stdin (the gateway writes JSON-RPC here).
    pub stdin: ProcessInput,
    /// Its stdout (the gateway reads JSON-RPC here).
    pub stdout: ProcessOutput,
    /// Its stderr, if captured (the gateway logs it, bounded).
    pub stderr: Option<ProcessOutput>,
    /// Waits for and stops the process.
    pub process: Box<dyn RunningProcess>,
}

impl Launched {
    /// A started process from its parts.
    pub fn new(
        stdin: ProcessInput,
        stdout: ProcessOutput,
        stderr: Option<ProcessOutput>,
        process: Box<dyn RunningProcess>,
    ) -> Self {
        Self {
            stdin,
            stdout,
            stderr,
            process,
        }
    }
}

impl std::fmt::Debug for Launched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launched")
            .field("pid", &self.process.id())
            .finish_non_exhaustive()
    }
}

/// A running process. Dropping it must kill the process (and everything it started).
#[async_trait]
pub trait RunningProcess: Send {
    /// The host pid, while known.
    fn id(&self) -> Option<u32>;

    /// Waits until the process ends; returns a description of how it ended (exit code or
    /// signal), for logs and health.
    async fn wait(&mut self) -> std::io::Result<String>;

    /// Kills the process (and its children) and waits for it.
    async fn kill(&mut self) -> std::io::Result<()>;
}

/// Starts stdio upstreams.
#[async_trait]
pub trait ProcessLauncher: Send + Sync {
    /// Starts `spec`, or says why it cannot.
    async fn launch(&self, spec: &LaunchSpec) -> std::io::Result<Launched>;
}
