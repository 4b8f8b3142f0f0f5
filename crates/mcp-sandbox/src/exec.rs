//! The [`Sandbox`] trait and its request and result types.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Error, Probe, RequestLimits};

/// A language the sandbox runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// Python 3 (`/usr/bin/python3`).
    Python,
    /// JavaScript on Node.js.
    Javascript,
    /// Bash.
    Bash,
}

impl Language {
    /// Every language, in a stable order.
    pub const ALL: [Language; 3] = [Language::Python, Language::Javascript, Language::Bash];

    /// The name used in requests and results.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Bash => "bash",
        }
    }

    /// The file name the submitted code is stored under in the work dir.
    pub fn main_file(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::Javascript => "main.js",
            Language::Bash => "main.sh",
        }
    }
}

/// A string, one of the names of [`Language::ALL`].
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Language {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Language".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = Language::ALL.map(Language::as_str);
        schemars::json_schema!({
            "type": "string",
            "enum": names,
            "description": "A language the sandbox runs.",
        })
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "python" | "python3" | "py" => Ok(Language::Python),
            "javascript" | "js" | "node" => Ok(Language::Javascript),
            "bash" | "sh" | "shell" => Ok(Language::Bash),
            _ => Err(Error::UnknownLanguage(s.to_owned())),
        }
    }
}

/// One piece of code to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExecRequest {
    /// The language of `code`.
    pub language: Language,
    /// The program text, stored as `main.py`, `main.js` or `main.sh` in the work dir.
    pub code: String,
    /// Bytes fed to the program's stdin.
    #[serde(default)]
    pub stdin: String,
    /// Limits for this run; unset fields take the configured defaults.
    #[serde(default)]
    pub limits: RequestLimits,
    /// Extra files (relative path → content) placed read-only in the work dir.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl ExecRequest {
    /// A request with default limits, no stdin and no extra files.
    pub fn new(language: Language, code: impl Into<String>) -> Self {
        ExecRequest {
            language,
            code: code.into(),
            stdin: String::new(),
            limits: RequestLimits::default(),
            files: BTreeMap::new(),
        }
    }

    /// Sets stdin.
    pub fn with_stdin(mut self, stdin: impl Into<String>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Sets the limit overrides.
    pub fn with_limits(mut self, limits: RequestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds an extra file to the work dir.
    pub fn with_file(mut self, name: impl Into<String>, content: impl Into<String>) -> Self {
        self.files.insert(name.into(), content.into());
        self
    }
}

/// What a run did. Field names are stable: this is what the server and MCP return.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ExecResult {
    /// Standard output (invalid UTF-8 replaced), at most `max_output_bytes` with stderr.
    pub stdout: String,
    /// Standard error (invalid UTF-8 replaced), counted with stdout against `max_output_bytes`.
    pub stderr: String,
    /// Exit code, when the program exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended the program, when one did (SIGKILL after a timeout or OOM, SIGXCPU
    /// after the CPU limit, SIGXFSZ after the file size limit, ...).
    pub signal: Option<i32>,
    /// The wall-time limit ran out and the whole process tree was killed.
    pub timed_out: bool,
    /// Output went over `max_output_bytes`: it was cut there and the run was killed.
    pub truncated: bool,
    /// The memory cgroup killed a process of the run because the memory limit was reached.
    pub oom_killed: bool,
    /// Wall time from start to exit, in milliseconds.
    pub duration_ms: u64,
    /// Peak memory of the run (memory cgroup), when measured.
    pub peak_memory_bytes: Option<u64>,
}

impl ExecResult {
    /// The program exited with code 0 and no limit was hit.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.truncated && !self.oom_killed
    }
}

/// Runs untrusted code in isolation.
#[async_trait]
pub trait Sandbox: Send + Sync {
    /// Runs one request and reports what it did. Errors mean the run could not happen (unknown
    /// interpreter, invalid request, queue full, isolation unavailable), never that the code
    /// failed.
    async fn run(&self, request: ExecRequest) -> Result<ExecResult, Error>;

    /// What the host allowed when the sandbox started (for `/health`).
    fn probe(&self) -> &Probe;
}

#[async_trait]
impl<T: Sandbox + ?Sized> Sandbox for Arc<T> {
    async fn run(&self, request: ExecRequest) -> Result<ExecResult, Error> {
        (**self).run(request).await
    }

    fn probe(&self) -> &Probe {
        (**self).probe()
    }
}

/// Checks that `name` is a safe relative path for a file in the work dir.
pub(crate) fn validate_file_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidFileName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name.starts_with('/') {
        return bad("absolute paths are not allowed");
    }
    if name.contains('\0') || name.contains('\\') {
        return bad("contains a NUL byte or backslash");
    }
    if name.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    for part in name.split('/') {
        match part {
            "" => return bad("empty path component"),
            "." | ".." => return bad("`.` and `..` components are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_language_error_names_it() {
        let err = "ruby".parse::<Language>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown language `ruby` (known: python, javascript, bash)"
        );
    }

    #[test]
    fn languages_serialize_to_stable_names() {
        assert_eq!(
            serde_json::to_string(&Language::ALL).unwrap(),
            r#"["python","javascript","bash"]"#
        );
    }

    #[test]
    fn file_names_that_escape_the_work_dir_are_refused() {
        for name in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "",
            "a//b",
            "./a",
            "a\0b",
        ] {
            assert!(validate_file_name(name).is_err(), "{name:?} accepted");
        }
        for name in ["a.py", "pkg/mod.py", "data.json", "tests/test_x.py"] {
            validate_file_name(name).unwrap();
        }
    }

    #[test]
    fn exec_result_fields_have_stable_names() {
        let v = serde_json::to_value(ExecResult::default()).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "duration_ms",
                "exit_code",
                "oom_killed",
                "peak_memory_bytes",
                "signal",
                "stderr",
                "stdout",
                "timed_out",
                "truncated"
            ]
        );
    }
}

#[cfg(all(test, feature = "schemars"))]
mod schema_tests {
    use super::*;
    use mcp_core::schema_testing::schema_matches;

    #[test]
    fn exec_result_schema_describes_the_serialized_fields() {
        let result = ExecResult {
            exit_code: Some(0),
            peak_memory_bytes: Some(1 << 20),
            ..Default::default()
        };
        schema_matches(&result);
        schema_matches(&ExecResult::default());
    }
}
