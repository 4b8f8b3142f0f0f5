#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod bwrap;
mod config;
mod error;
mod exec;
mod probe;
pub mod tools;

pub use bwrap::seccomp::denied_syscall_names;
pub use bwrap::{
    BwrapSandbox, IsolatedProcess, ProcessLimits, ProcessSpec, SANDBOX_UID, SandboxStats, WORK_DIR,
};
pub use config::{Interpreters, Limits, RequestLimits, SandboxConfig};
pub use error::Error;
pub use exec::{ExecRequest, ExecResult, Language, Sandbox, input_sha256};
pub use probe::{LanguageStatus, Layer, LayerStatus, Probe};
