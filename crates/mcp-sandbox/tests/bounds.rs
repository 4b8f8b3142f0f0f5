//! Inputs that are the caller's fault give a clear error, never a tool-output failure; lint
//! checkers are time-boxed; output stays within its limit once written as JSON.

use mcp_sandbox::tools::{LintRequest, TestRequest};
use mcp_sandbox::{Error, ExecRequest, Language, Sandbox};

use crate::common::{sandbox, sandbox_with};

#[tokio::test]
async fn a_python_lint_of_deeply_nested_code_is_refused_as_the_inputs_fault() {
    let code = format!("x = {}1\n", "-".repeat(100_000));
    let with_ruff = sandbox(330_000).await;
    let err = with_ruff
        .lint(&LintRequest::new(Language::Python, code.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ToolRefusedInput { tool: "ruff", .. }),
        "{err}"
    );
    let without_ruff = sandbox_with(330_016, |c| {
        c.interpreters.ruff = Some("/nonexistent/ruff".into());
    })
    .await;
    let err = without_ruff
        .lint(&LintRequest::new(Language::Python, code))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ToolRefusedInput {
                tool: "python-compile",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_javascript_lint_of_deeply_nested_code_is_refused_as_the_inputs_fault() {
    let s = sandbox(330_032).await;
    let code = format!("x = {}{};\n", "[".repeat(100_000), "]".repeat(100_000));
    let err = s
        .lint(&LintRequest::new(Language::Javascript, code))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ToolRefusedInput { tool: "node", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_shellcheck_run_past_the_lint_time_limit_is_killed_and_refused() {
    // shellcheck spends many seconds on deeply nested arithmetic (bash -n does not).
    let s = sandbox_with(330_048, |c| c.lint_time_limit_ms = 1_500).await;
    let code = format!("x=$(({}1{}))\n", "(".repeat(2_000), ")".repeat(2_000));
    let err = s
        .lint(&LintRequest::new(Language::Bash, code))
        .await
        .unwrap_err();
    // Depending on the machine's speed shellcheck reaches the time limit or, first, the slot's
    // memory limit: either way the run is stopped at a limit and refused as the input's fault.
    assert!(
        matches!(
            err,
            Error::ToolTimedOut {
                tool: "shellcheck",
                limit_ms: 1_500
            } | Error::ToolRefusedInput {
                tool: "shellcheck",
                ..
            }
        ),
        "{err}"
    );
    // The slot is free again: the next lint runs.
    let report = s
        .lint(&LintRequest::new(Language::Bash, "echo hi\n"))
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn a_lint_with_more_findings_than_fit_lists_the_first_ones_and_says_so() {
    let s = sandbox(330_064).await;
    let code = "import os\n".repeat(20_000);
    let report = s
        .lint(&LintRequest::new(Language::Python, code))
        .await
        .unwrap();
    assert!(report.truncated, "{:?}", report.notes);
    assert_eq!(
        report.diagnostics.len(),
        mcp_sandbox::tools::MAX_DIAGNOSTICS
    );
    assert_eq!(report.diagnostics[0].line, 1);
    assert!(report.notes.iter().any(|n| n.contains("first findings")));
}

#[tokio::test]
async fn output_of_control_bytes_stays_within_the_output_limit_once_written_as_json() {
    let s = sandbox(330_080).await;
    // 200 000 NUL bytes: within the 256 KiB limit as bytes, 1.2 MB as JSON (`\u0000` each).
    let code = "import sys\nsys.stdout.buffer.write(b'\\0' * 200_000)\nsys.stderr.write('done')\n";
    let result = s
        .run(ExecRequest::new(Language::Python, code))
        .await
        .unwrap();
    let json = serde_json::to_string(&result).unwrap();
    let limit = 256 * 1024;
    // The fields other than stdout and stderr take well under 1 KiB.
    assert!(json.len() <= limit + 1024, "{} bytes", json.len());
    assert!(result.truncated);
    assert_eq!(result.stderr, "done", "the short stream is kept whole");
    assert!(result.stdout.len() > 40_000, "{}", result.stdout.len());
}

#[tokio::test]
async fn files_whose_paths_run_through_each_other_are_refused_before_the_run() {
    let s = sandbox(330_096).await;
    let request = ExecRequest::new(Language::Bash, "ls -R")
        .with_file("data", "a file")
        .with_file("data/more.txt", "a file inside it");
    let err = s.run(request).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFileName { name, .. } if name == "data/more.txt"),
        "{err}"
    );
    let mut tests = TestRequest::new("x = 1\n", "def test_x():\n    pass\n");
    tests
        .files
        .insert("solution.py/inner.txt".into(), String::new());
    let err = s.test(&tests).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidFileName { .. }), "{err}");
}

#[tokio::test]
async fn a_test_run_whose_code_writes_over_its_report_is_refused_as_the_inputs_fault() {
    let s = sandbox(330_112).await;
    // The code under test can import the report plugin and read its marker.
    let tests = r#"import atexit, os
import mcp_pytest_report

def test_overwrites():
    mark = mcp_pytest_report._MARK
    atexit.register(lambda: os.write(1, ("\n" + mark + "{not json\n").encode()))
"#;
    let err = s.test(&TestRequest::new("", tests)).await.unwrap_err();
    assert!(
        matches!(&err, Error::ToolRefusedInput { tool: "pytest", .. }),
        "{err}"
    );
}
