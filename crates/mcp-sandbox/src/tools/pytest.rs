//! `test`: runs pytest on submitted code and tests inside the sandbox.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bwrap::{BwrapSandbox, Job};
use crate::exec::{add_submitted_files, cut_to_json_len};
use crate::{Error, RequestLimits};

/// Code plus pytest tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TestRequest {
    /// The code under test, stored as `<module>.py`.
    pub code: String,
    /// The tests, stored as `test_<module>.py`; they import the code with `import <module>`.
    pub tests: String,
    /// Module name of the code; `solution` by default.
    #[serde(default = "default_module")]
    pub module: String,
    /// Limits of the pytest run.
    #[serde(default)]
    pub limits: RequestLimits,
    /// Extra files placed in the work dir (fixtures, data).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

fn default_module() -> String {
    "solution".into()
}

impl TestRequest {
    /// Lowercase hex SHA-256 of everything the run is given: the module name, the code, the
    /// tests and every file with its name (see [`crate::input_sha256`]).
    pub fn input_sha256(&self) -> String {
        let mut parts = vec![
            ("module", self.module.as_bytes()),
            ("code", self.code.as_bytes()),
            ("tests", self.tests.as_bytes()),
        ];
        let files: Vec<(String, &[u8])> = self
            .files
            .iter()
            .map(|(name, content)| (format!("file:{name}"), content.as_bytes()))
            .collect();
        parts.extend(files.iter().map(|(n, c)| (n.as_str(), *c)));
        crate::input_sha256(&parts)
    }

    /// Tests for `code` in module `solution`.
    pub fn new(code: impl Into<String>, tests: impl Into<String>) -> Self {
        TestRequest {
            code: code.into(),
            tests: tests.into(),
            module: default_module(),
            limits: RequestLimits::default(),
            files: BTreeMap::new(),
        }
    }
}

/// The outcome of one test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TestOutcome {
    /// The test passed.
    Passed,
    /// An assertion or the test body failed.
    Failed,
    /// Setup, teardown or collection failed.
    Error,
    /// The test was skipped.
    Skipped,
}

/// One test (or a collection error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TestCase {
    /// pytest node id, e.g. `test_solution.py::test_add`.
    pub name: String,
    /// What happened.
    pub outcome: TestOutcome,
    /// How long the test body ran, in milliseconds.
    pub duration_ms: f64,
    /// The failure report, for failed and errored tests.
    pub message: Option<String>,
}

/// The result of a pytest run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TestReport {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed.
    pub failed: u32,
    /// Setup, teardown and collection errors.
    pub errors: u32,
    /// Skipped tests.
    pub skipped: u32,
    /// Every test with its outcome and duration.
    pub tests: Vec<TestCase>,
    /// pytest's exit status (0 all passed, 1 failures, 2 interrupted, 5 no tests, ...), when it
    /// finished.
    pub exit_code: Option<i32>,
    /// The wall-time limit ran out.
    pub timed_out: bool,
    /// The signal that ended pytest, when one did (SIGKILL after a timeout or an OOM kill).
    #[serde(default)]
    pub signal: Option<i32>,
    /// The memory cgroup killed a process of the run at the memory limit.
    #[serde(default)]
    pub oom_killed: bool,
    /// The run's memory reached its limit (see
    /// [`ExecResult::memory_limit_reached`](crate::ExecResult::memory_limit_reached)): a run
    /// that also timed out was most likely short of memory, not of time.
    #[serde(default)]
    pub memory_limit_reached: bool,
    /// Peak memory of the run (memory cgroup), when measured.
    #[serde(default)]
    pub peak_memory_bytes: Option<u64>,
    /// What the limits the run hit most likely mean, in words (see
    /// [`ExecResult::notes`](crate::ExecResult::notes)).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: u64,
    /// pytest's console output (stdout then stderr), without the machine-readable report.
    pub output: String,
    /// The output passed `max_output_bytes` (counted as JSON text): the run was stopped there,
    /// or `output` was cut to fit.
    #[serde(default)]
    pub truncated: bool,
}

const PLUGIN: &str = r#"import json, os, sys

def _take_marker():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".mcp-report-marker")
    try:
        with open(path, encoding="ascii") as f:
            mark = f.read()
    except OSError:
        return ""
    try:
        os.unlink(path)
    except OSError:
        pass
    return mark

_MARK = _take_marker()
_cases = []

def _text(report):
    try:
        return report.longreprtext or None
    except Exception:
        return str(report.longrepr)

def pytest_runtest_logreport(report):
    if report.when == "call":
        outcome = report.outcome
    elif report.outcome == "failed":
        outcome = "error"
    elif report.when == "setup" and report.outcome == "skipped":
        outcome = "skipped"
    else:
        return
    _cases.append({
        "name": report.nodeid,
        "outcome": outcome,
        "duration_ms": report.duration * 1000.0,
        "message": _text(report) if outcome in ("failed", "error") else None,
    })

def pytest_collectreport(report):
    if report.failed:
        _cases.append({"name": report.nodeid or "<collection>", "outcome": "error",
                       "duration_ms": 0.0, "message": _text(report)})

def pytest_sessionfinish(session, exitstatus):
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, ("\n" + _MARK + json.dumps(_cases) + "\n").encode())
"#;

const PLUGIN_MODULE: &str = "mcp_pytest_report";

/// The file in the work dir that holds the run's report marker (named in [`PLUGIN`] too). The
/// plugin reads and removes it when pytest loads it, before the tests are collected.
const MARKER_FILE: &str = ".mcp-report-marker";

impl BwrapSandbox {
    /// Runs pytest on `request.tests` against `request.code` inside the sandbox.
    pub async fn test(&self, request: &TestRequest) -> Result<TestReport, Error> {
        let module = &request.module;
        let valid = !module.is_empty()
            && module
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !module.starts_with(|c: char| c.is_ascii_digit())
            && module != PLUGIN_MODULE;
        if !valid {
            return Err(Error::InvalidFileName {
                name: module.clone(),
                reason: "module must be a Python identifier",
            });
        }
        let code_file = format!("{module}.py");
        let test_file = format!("test_{module}.py");
        // Marks the report line so that output of the code under test cannot pass for it: new
        // for every run and sent with the run's files (not in the environment, which is part
        // of the sandbox's shape), so it exists nowhere before the run's go.
        let marker = format!("@@mcp-pytest-report-{}@@", uuid::Uuid::new_v4().simple());
        let mut files = vec![
            (code_file.clone(), request.code.clone().into_bytes()),
            (test_file.clone(), request.tests.clone().into_bytes()),
            (format!("{PLUGIN_MODULE}.py"), PLUGIN.as_bytes().to_vec()),
            (MARKER_FILE.to_string(), marker.clone().into_bytes()),
        ];
        add_submitted_files(
            &mut files,
            &request.files,
            "this name holds the code, the tests, the report plugin or its marker",
            0,
            self.config().max_input_bytes,
        )?;
        let job = Job {
            argv: vec![
                self.config().interpreters.python.display().to_string(),
                "-m".into(),
                "pytest".into(),
                "-q".into(),
                "-p".into(),
                "no:cacheprovider".into(),
                "-p".into(),
                PLUGIN_MODULE.into(),
                test_file,
            ],
            files,
            limits: self.resolve_limits(&request.limits)?,
            // Same argv (same module), env and limits: the same shape, so the next run like
            // this one finds a standby.
            standby: true,
            ..Job::default()
        };
        let max_output = job.limits.max_output_bytes;
        let r = self.execute(job).await?;
        if r.stderr.contains("No module named pytest") {
            return Err(Error::ToolMissing {
                tool: "pytest",
                hint: "install pytest for the sandbox's python (Debian: apt-get install python3-pytest)",
            });
        }
        // The report is one line; pytest prints its summary after it.
        let (stdout, cases) = match r.stdout.rfind(&marker) {
            Some(at) => {
                let rest = &r.stdout[at + marker.len()..];
                let (json, after) = rest.split_once('\n').unwrap_or((rest, ""));
                let cases: Vec<TestCase> = match serde_json::from_str(json) {
                    Ok(cases) => cases,
                    // Cut by the output limit: as if killed before the session finished.
                    Err(_) if r.truncated => Vec::new(),
                    // The code under test can reach the plugin's marker and print over it.
                    Err(_) => {
                        return Err(Error::ToolRefusedInput {
                            tool: "pytest",
                            reason: "its report was overwritten by the code under test".into(),
                        });
                    }
                };
                let mut text = r.stdout[..at].trim_end().to_string();
                text.push('\n');
                text.push_str(after);
                (text, cases)
            }
            // Killed before the session finished (timeout, memory, output limit).
            None => (r.stdout.clone(), Vec::new()),
        };
        let count = |o| cases.iter().filter(|c| c.outcome == o).count() as u32;
        let mut output = stdout;
        if !r.stderr.is_empty() {
            output.push('\n');
            output.push_str(&r.stderr);
        }
        // The answer's output and cases together fit `max_output_bytes` as JSON, like a run's.
        let cases_len = serde_json::to_string(&cases).map_or(0, |json| json.len());
        let budget = usize::try_from(max_output)
            .unwrap_or(usize::MAX)
            .saturating_sub(cases_len);
        let cut = cut_to_json_len(&mut output, budget);
        Ok(TestReport {
            passed: count(TestOutcome::Passed),
            failed: count(TestOutcome::Failed),
            errors: count(TestOutcome::Error),
            skipped: count(TestOutcome::Skipped),
            tests: cases,
            exit_code: r.exit_code,
            timed_out: r.timed_out,
            signal: r.signal,
            oom_killed: r.oom_killed,
            memory_limit_reached: r.memory_limit_reached,
            peak_memory_bytes: r.peak_memory_bytes,
            notes: r.notes,
            duration_ms: r.duration_ms,
            output,
            truncated: r.truncated || cut,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_reads_the_marker_file_the_server_writes() {
        assert!(PLUGIN.contains(&format!("\"{MARKER_FILE}\"")));
    }
}

#[cfg(all(test, feature = "schemars"))]
mod schema_tests {
    use super::*;
    use mcp_core::schema_testing::schema_matches;

    #[test]
    fn test_report_schema_describes_the_serialized_fields() {
        let case = TestCase {
            name: "test_s.py::test_a".into(),
            outcome: TestOutcome::Failed,
            duration_ms: 0.5,
            message: Some("assert 1 == 2".into()),
        };
        let report = TestReport {
            passed: 0,
            failed: 1,
            errors: 0,
            skipped: 0,
            tests: vec![case.clone()],
            exit_code: Some(1),
            timed_out: false,
            signal: None,
            oom_killed: false,
            memory_limit_reached: false,
            peak_memory_bytes: Some(24 << 20),
            notes: Vec::new(),
            duration_ms: 812,
            output: "1 failed".into(),
            truncated: false,
        };
        schema_matches(&case);
        schema_matches(&report);
    }
}
