//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while preparing or running code, or while using the tools.
///
/// A run whose *code* fails (non-zero exit, killed by a limit, timed out) is not an error: it is an
/// [`ExecResult`](crate::ExecResult) that says so. An `Error` means the run could not be attempted
/// or its result could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The language name is not one of `python`, `javascript` or `bash`.
    #[error("unknown language `{0}` (known: python, javascript, bash)")]
    UnknownLanguage(String),
    /// The interpreter configured for a language does not exist on this host.
    #[error("interpreter for {language} not found at {}", path.display())]
    InterpreterMissing {
        /// The language whose interpreter is missing.
        language: String,
        /// Where it was expected.
        path: PathBuf,
    },
    /// A required isolation layer is unavailable and the config does not allow a weaker mode.
    #[error(
        "refusing to run code: isolation layers unavailable ({}); set allow_weaker_isolation to run anyway",
        missing.join(", ")
    )]
    IsolationUnavailable {
        /// Names of the missing layers (see [`Layer`](crate::Layer)).
        missing: Vec<String>,
    },
    /// Too many runs are already waiting.
    #[error("sandbox queue is full ({capacity} runs waiting)")]
    QueueFull {
        /// How many runs may wait.
        capacity: usize,
    },
    /// A file name in [`ExecRequest::files`](crate::ExecRequest::files) is not a safe relative path.
    #[error("invalid file name `{name}`: {reason}")]
    InvalidFileName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The code, stdin and files together are larger than allowed.
    #[error("request input is {size} bytes, more than the maximum of {max}")]
    InputTooLarge {
        /// Total bytes submitted.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A requested limit is above the configured maximum.
    #[error("limit {name} = {requested} exceeds the maximum of {maximum}")]
    LimitExceedsMaximum {
        /// The limit's field name.
        name: &'static str,
        /// The requested value.
        requested: u64,
        /// The configured maximum.
        maximum: u64,
    },
    /// A limit is zero or otherwise unusable.
    #[error("invalid limit {name}: {reason}")]
    InvalidLimit {
        /// The limit's field name.
        name: &'static str,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// The sandbox configuration is invalid.
    #[error("invalid sandbox config: {0}")]
    InvalidConfig(String),
    /// A process (bwrap or a tool) could not be started.
    #[error("failed to start {program}")]
    Spawn {
        /// The program that did not start.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file system or pipe operation on the host failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A tool (pytest, a linter) is not installed where the sandbox can run it.
    #[error("{tool} is not available: {hint}")]
    ToolMissing {
        /// The tool.
        tool: &'static str,
        /// How to install it.
        hint: &'static str,
    },
    /// No template has this name.
    #[error("unknown template `{0}`")]
    UnknownTemplate(String),
    /// A required template parameter was not given.
    #[error("template `{template}` needs parameter `{parameter}`")]
    MissingParameter {
        /// Template name.
        template: String,
        /// Parameter name.
        parameter: String,
    },
    /// A parameter was given that the template does not take.
    #[error("template `{template}` has no parameter `{parameter}`")]
    UnknownParameter {
        /// Template name.
        template: String,
        /// Parameter name.
        parameter: String,
    },
    /// A parameter value has the wrong form.
    #[error("template `{template}` parameter `{parameter}`: {reason}")]
    InvalidParameter {
        /// Template name.
        template: String,
        /// Parameter name.
        parameter: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The template engine failed.
    #[error("template `{template}` failed to render: {message}")]
    Render {
        /// Template name.
        template: String,
        /// The engine's message.
        message: String,
    },
    /// A checker or tool ran past its time limit on this input (the input's fault: too large
    /// or too deeply nested to check).
    #[error(
        "{tool} did not finish within its time limit of {limit_ms} ms: the code is too large or \
         too deeply nested to check; check a smaller or simpler piece"
    )]
    ToolTimedOut {
        /// The checker (ruff, shellcheck, ...).
        tool: &'static str,
        /// The time limit, in milliseconds.
        limit_ms: u64,
    },
    /// A checker or tool cannot process this input: it crashed on it, ran out of memory or of
    /// stack, or the code under test overwrote its report.
    #[error("{tool} cannot check this code: {reason}")]
    ToolRefusedInput {
        /// The checker or tool.
        tool: &'static str,
        /// What happened.
        reason: String,
    },
    /// A tool run inside the sandbox produced output that could not be understood.
    #[error("{tool} produced unreadable output: {message}")]
    ToolOutput {
        /// The tool (ruff, shellcheck, pytest, ...).
        tool: &'static str,
        /// What could not be parsed.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
