//! `lint`: static checks that parse the code and never execute it.
//!
//! Every checker runs inside the sandbox too, with the code as a read-only file: Python through
//! `ruff` (bound read-only at `/opt/ruff/ruff`) or, without ruff, `compile()` of the system
//! Python (which parses and compiles but never runs the code); JavaScript through
//! `node --check`; Bash through `bash -n` plus `shellcheck` when installed.

use serde::{Deserialize, Serialize};

use crate::bwrap::{BwrapSandbox, Job};
use crate::{Error, ExecResult, Language, RequestLimits};

/// Code to lint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LintRequest {
    /// The language of `code`.
    pub language: Language,
    /// The source text.
    pub code: String,
}

impl LintRequest {
    /// A lint request.
    pub fn new(language: Language, code: impl Into<String>) -> Self {
        LintRequest {
            language,
            code: code.into(),
        }
    }
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// The code will not run (syntax error, undefined name).
    Error,
    /// Likely a bug.
    Warning,
    /// Style or information.
    Info,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Diagnostic {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The checker's rule code (`F401`, `SC2086`, `SyntaxError`, ...).
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// How serious it is.
    pub severity: Severity,
    /// The checker that reported it (`ruff`, `python-compile`, `node`, `bash`, `shellcheck`).
    pub source: String,
}

/// The result of a lint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct LintReport {
    /// The language linted.
    pub language: Language,
    /// The checkers that ran.
    pub tools: Vec<String>,
    /// No diagnostic has severity `error`.
    pub ok: bool,
    /// Findings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// What limited this lint, for people: for example that ruff was not found, so only
    /// Python's own compile() checked the code (syntax errors only).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Only the first findings are listed: the checkers found more than
    /// [`MAX_DIAGNOSTICS`], or printed more than a lint run may print.
    #[serde(default)]
    pub truncated: bool,
}

const RUFF_INSIDE: &str = "/opt/ruff/ruff";

/// The note of a Python lint without ruff.
const RUFF_MISSING: &str = "ruff was not found on the server, so only Python's compile() \
    checked this code (syntax errors only); the operator can install ruff or set \
    sandbox.interpreters.ruff";

/// The most diagnostics a report lists (the first ones by position); more set `truncated`.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// The longest message or code of a diagnostic, in characters (longer ones are cut, `…` added).
const MAX_TEXT_CHARS: usize = 1000;

/// Output a checker may print (at least the configured default, at most the maximum): its
/// findings, one per line, are read up to there.
const LINT_OUTPUT_BYTES: u64 = 4 * 1024 * 1024;

const PY_COMPILE: &str = r#"import json
src = open("main.py", encoding="utf-8").read()
out = []
try:
    compile(src, "main.py", "exec", dont_inherit=True)
except SyntaxError as e:
    out.append({"line": e.lineno or 1, "column": e.offset or 1, "message": type(e).__name__ + ": " + str(e.msg)})
except ValueError as e:
    out.append({"line": 1, "column": 1, "message": "ValueError: " + str(e)})
except (RecursionError, MemoryError) as e:
    out = {"gave_up": type(e).__name__}
print(json.dumps(out))
"#;

impl BwrapSandbox {
    /// Lints `request.code` with the checkers of its language (see the module docs).
    ///
    /// Each checker run is killed after `lint_time_limit_ms` ([`Error::ToolTimedOut`]); a
    /// checker that crashes or runs out of memory or stack on the code answers
    /// [`Error::ToolRefusedInput`]. Both are the input's fault, not the server's.
    pub async fn lint(&self, request: &LintRequest) -> Result<LintReport, Error> {
        let mut tools = Vec::new();
        let mut notes = Vec::new();
        let mut diagnostics = Vec::new();
        let mut cut = false;
        let c = self.config().interpreters.clone();
        let argv = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        match request.language {
            Language::Python => {
                if let Some(ruff) = self.ruff() {
                    let binds = vec![(ruff.to_path_buf(), RUFF_INSIDE.to_owned())];
                    let args = argv(&[
                        RUFF_INSIDE,
                        "check",
                        "--output-format=json-lines",
                        "--no-cache",
                        "--isolated",
                        "--exit-zero",
                        "main.py",
                    ]);
                    let r = self.check("ruff", args, binds, request).await?;
                    cut |= r.truncated;
                    diagnostics.extend(parse_ruff(&r)?);
                    tools.push("ruff".to_string());
                } else {
                    let python = c.python.display().to_string();
                    let args = argv(&[&python, "-I", "-c", PY_COMPILE]);
                    let r = self
                        .check("python-compile", args, Vec::new(), request)
                        .await?;
                    diagnostics.extend(parse_py_compile(&r)?);
                    tools.push("python-compile".to_string());
                    notes.push(RUFF_MISSING.to_string());
                }
            }
            Language::Javascript => {
                let node = c.node.display().to_string();
                let args = argv(&[&node, "--check", "main.js"]);
                let r = self.check("node", args, Vec::new(), request).await?;
                diagnostics.extend(parse_node_check(&r)?);
                tools.push("node --check".to_string());
            }
            Language::Bash => {
                let bash = c.bash.display().to_string();
                let args = argv(&[&bash, "-n", "main.sh"]);
                let r = self.check("bash", args, Vec::new(), request).await?;
                diagnostics.extend(parse_bash_n(&r));
                tools.push("bash -n".to_string());
                if c.shellcheck.is_file() {
                    let sc = c.shellcheck.display().to_string();
                    let args = argv(&[&sc, "--format=gcc", "--shell=bash", "main.sh"]);
                    let r = self.check("shellcheck", args, Vec::new(), request).await?;
                    cut |= r.truncated;
                    diagnostics.extend(parse_shellcheck(&r)?);
                    tools.push("shellcheck".to_string());
                }
            }
        }
        diagnostics.sort_by(|a, b| (a.line, a.column, &a.code).cmp(&(b.line, b.column, &b.code)));
        let ok = diagnostics.iter().all(|d| d.severity != Severity::Error);
        if diagnostics.len() > MAX_DIAGNOSTICS {
            diagnostics.truncate(MAX_DIAGNOSTICS);
            cut = true;
        }
        if cut {
            notes.push(format!(
                "only the first findings are listed (at most {MAX_DIAGNOSTICS}); lint a smaller \
                 piece of the code to see the rest"
            ));
        }
        Ok(LintReport {
            language: request.language,
            tools,
            ok,
            diagnostics,
            notes,
            truncated: cut,
        })
    }

    /// Runs one checker over the code with the limits of a lint run (see
    /// [`SandboxConfig::lint_time_limit_ms`](crate::SandboxConfig::lint_time_limit_ms)). A run
    /// whose output passed its cap comes back with `truncated` (its findings up to there).
    async fn check(
        &self,
        tool: &'static str,
        argv: Vec<String>,
        binds: Vec<(std::path::PathBuf, String)>,
        request: &LintRequest,
    ) -> Result<ExecResult, Error> {
        let config = self.config();
        let limit_ms = config.lint_time_limit_ms;
        let mut limits = self.resolve_limits(&RequestLimits::default())?;
        limits.wall_time_ms = limit_ms;
        limits.cpu_time_secs = limit_ms.div_ceil(1000);
        limits.max_output_bytes = limits
            .max_output_bytes
            .max(LINT_OUTPUT_BYTES)
            .min(config.max_limits.max_output_bytes);
        let job = Job {
            argv,
            files: vec![(
                request.language.main_file().to_string(),
                request.code.clone().into_bytes(),
            )],
            limits,
            binds,
            standby: true,
            ..Job::default()
        };
        let r = self.execute(job).await?;
        let out_of_time = r.timed_out || r.signal == Some(nix::libc::SIGXCPU);
        // A checker at its memory limit slows down until it times out: memory ended it.
        if r.oom_killed || (out_of_time && r.memory_limit_reached) {
            return Err(refused(
                tool,
                "it ran out of memory on it (the code is too large or too deeply nested)",
            ));
        }
        if out_of_time {
            return Err(Error::ToolTimedOut { tool, limit_ms });
        }
        if let (Some(signal), false) = (r.signal, r.truncated) {
            let why = if r.stderr.contains("overflowed its stack") {
                "it ran out of stack on it (the code is too deeply nested)".to_owned()
            } else {
                format!(
                    "it crashed on it (signal {signal}; the code is probably too deeply nested)"
                )
            };
            return Err(refused(tool, why));
        }
        Ok(r)
    }
}

fn refused(tool: &'static str, reason: impl Into<String>) -> Error {
    Error::ToolRefusedInput {
        tool,
        reason: reason.into(),
    }
}

/// `text` cut to [`MAX_TEXT_CHARS`] characters (with `…` when cut).
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn tool_failed(tool: &'static str, r: &ExecResult) -> Error {
    Error::ToolOutput {
        tool,
        message: bounded(&format!(
            "exit {:?}, signal {:?}, timed out {}: {}",
            r.exit_code,
            r.signal,
            r.timed_out,
            r.stderr.trim()
        )),
    }
}

/// The complete lines of a checker's stdout: all of them, or when the output was cut at its
/// cap, all but the cut last one.
fn complete_lines(r: &ExecResult) -> impl Iterator<Item = &str> {
    let text = if r.truncated {
        r.stdout.rsplit_once('\n').map_or("", |(whole, _)| whole)
    } else {
        r.stdout.as_str()
    };
    text.lines().filter(|l| !l.trim().is_empty())
}

#[derive(Deserialize)]
struct RuffLocation {
    row: u32,
    column: u32,
}

#[derive(Deserialize)]
struct RuffItem {
    code: Option<String>,
    message: String,
    location: RuffLocation,
}

/// ruff's `json-lines`: one finding per line.
fn parse_ruff(r: &ExecResult) -> Result<Vec<Diagnostic>, Error> {
    complete_lines(r)
        .map(|line| {
            let i: RuffItem = serde_json::from_str(line).map_err(|_| tool_failed("ruff", r))?;
            let code = i.code.unwrap_or_else(|| "SyntaxError".into());
            let syntax =
                code == "SyntaxError" || code == "invalid-syntax" || code.starts_with("E9");
            let severity = if syntax || code == "F821" {
                Severity::Error
            } else {
                Severity::Warning
            };
            Ok(Diagnostic {
                line: i.location.row,
                column: i.location.column,
                code: bounded(&code),
                message: bounded(&i.message),
                severity,
                source: "ruff".into(),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct CompileItem {
    line: u32,
    column: u32,
    message: String,
}

/// What the compile script prints: the syntax errors, or that compile() gave up.
#[derive(Deserialize)]
#[serde(untagged)]
enum CompileOutput {
    Findings(Vec<CompileItem>),
    GaveUp { gave_up: String },
}

fn parse_py_compile(r: &ExecResult) -> Result<Vec<Diagnostic>, Error> {
    let out: CompileOutput =
        serde_json::from_str(r.stdout.trim()).map_err(|_| tool_failed("python-compile", r))?;
    let items = match out {
        CompileOutput::Findings(items) => items,
        CompileOutput::GaveUp { gave_up } => {
            return Err(refused(
                "python-compile",
                format!(
                    "{} (the code is too deeply nested to compile)",
                    bounded(&gave_up)
                ),
            ));
        }
    };
    Ok(items
        .into_iter()
        .map(|i| Diagnostic {
            line: i.line,
            column: i.column,
            code: "SyntaxError".into(),
            message: bounded(&i.message),
            severity: Severity::Error,
            source: "python-compile".into(),
        })
        .collect())
}

/// `node --check` prints `/work/main.js:LINE`, the line, a caret line and `SyntaxError: ...`.
/// Without a `main.js` location it failed in its own code: on a code too deeply nested, with
/// `RangeError: Maximum call stack size exceeded`.
fn parse_node_check(r: &ExecResult) -> Result<Vec<Diagnostic>, Error> {
    if r.exit_code == Some(0) {
        return Ok(Vec::new());
    }
    let lines: Vec<&str> = r.stderr.lines().collect();
    if !lines.iter().any(|l| l.contains("main.js:"))
        && r.stderr.contains("Maximum call stack size exceeded")
    {
        return Err(refused(
            "node",
            "it ran out of stack on it (the code is too deeply nested)",
        ));
    }
    let line = lines
        .iter()
        .find_map(|l| {
            l.rsplit_once("main.js:")
                .and_then(|(_, n)| n.trim().parse().ok())
        })
        .unwrap_or(1);
    let column = lines
        .iter()
        .find(|l| !l.trim().is_empty() && l.trim().chars().all(|c| c == '^'))
        .and_then(|l| l.find('^'))
        .map_or(1, |i| i as u32 + 1);
    let message_line = lines
        .iter()
        .find(|l| l.contains("Error: ") && !l.starts_with(' '))
        .copied()
        .unwrap_or_else(|| r.stderr.trim());
    let (code, message) = message_line
        .split_once(": ")
        .map_or(("SyntaxError", message_line), |(c, m)| (c, m));
    Ok(vec![Diagnostic {
        line,
        column,
        code: bounded(code.trim()),
        message: bounded(message.trim()),
        severity: Severity::Error,
        source: "node".into(),
    }])
}

/// `bash -n` prints `main.sh: line N: message` (and a second line quoting the code).
fn parse_bash_n(r: &ExecResult) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for l in r.stderr.lines() {
        let Some(rest) = l.strip_prefix("main.sh: line ") else {
            continue;
        };
        let Some((n, msg)) = rest.split_once(": ") else {
            continue;
        };
        if msg.starts_with('`') {
            continue;
        }
        out.push(Diagnostic {
            line: n.parse().unwrap_or(1),
            column: 1,
            code: "syntax".into(),
            message: bounded(msg),
            severity: Severity::Error,
            source: "bash".into(),
        });
    }
    if out.is_empty() && r.exit_code != Some(0) {
        out.push(Diagnostic {
            line: 1,
            column: 1,
            code: "syntax".into(),
            message: bounded(r.stderr.trim()),
            severity: Severity::Error,
            source: "bash".into(),
        });
    }
    out
}

/// shellcheck's `gcc` format, one finding per line:
/// `main.sh:LINE:COLUMN: LEVEL: MESSAGE [SCNNNN]` (levels `error`, `warning`, `note`). It exits
/// 0 without findings and 1 with some.
fn parse_shellcheck(r: &ExecResult) -> Result<Vec<Diagnostic>, Error> {
    if !r.truncated && !matches!(r.exit_code, Some(0 | 1)) {
        let stderr = r.stderr.to_ascii_lowercase();
        if ["stack overflow", "heap exhausted", "out of memory"]
            .iter()
            .any(|m| stderr.contains(m))
        {
            return Err(refused(
                "shellcheck",
                "it ran out of memory or stack on it (the code is too large or too deeply nested)",
            ));
        }
        return Err(tool_failed("shellcheck", r));
    }
    complete_lines(r)
        .map(|line| parse_shellcheck_line(line).ok_or_else(|| tool_failed("shellcheck", r)))
        .collect()
}

fn parse_shellcheck_line(line: &str) -> Option<Diagnostic> {
    let rest = line.strip_prefix("main.sh:")?;
    let (row, rest) = rest.split_once(':')?;
    let (column, rest) = rest.split_once(": ")?;
    let (level, rest) = rest.split_once(": ")?;
    let (message, code) = rest.rsplit_once(" [SC")?;
    let code = code.strip_suffix(']')?;
    Some(Diagnostic {
        line: row.parse().ok()?,
        column: column.parse().ok()?,
        code: format!("SC{}", bounded(code)),
        message: bounded(message),
        severity: match level {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => Severity::Info,
        },
        source: "shellcheck".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stderr: &str) -> ExecResult {
        ExecResult {
            stderr: stderr.into(),
            exit_code: Some(1),
            ..ExecResult::default()
        }
    }

    #[test]
    fn node_syntax_error_is_parsed_with_line_and_column() {
        let r = failed(
            "/work/main.js:2\nlet x = (;\n        ^\n\nSyntaxError: Unexpected token ';'\n    at internalCompileFunction (node:internal/vm:76:18)\n",
        );
        let d = &parse_node_check(&r).unwrap()[0];
        assert_eq!((d.line, d.column), (2, 9));
        assert_eq!(d.code, "SyntaxError");
        assert_eq!(d.message, "Unexpected token ';'");
    }

    #[test]
    fn bash_syntax_error_is_parsed_without_the_quoted_line() {
        let r = failed(
            "main.sh: line 3: syntax error near unexpected token `fi'\nmain.sh: line 3: `fi'\n",
        );
        let d = parse_bash_n(&r);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 3);
    }

    fn printed(stdout: &str, truncated: bool) -> ExecResult {
        ExecResult {
            stdout: stdout.into(),
            exit_code: Some(1),
            truncated,
            ..ExecResult::default()
        }
    }

    #[test]
    fn shellcheck_lines_are_parsed_and_a_line_cut_by_the_output_cap_is_dropped() {
        let out = "main.sh:1:6: warning: Double quote to prevent globbing: a: b. [SC2086]\n\
                   main.sh:2:1: note: Not following. [SC1091]\n\
                   main.sh:3:11: error: Couldn't parse this then clause. [SC10";
        let d = parse_shellcheck(&printed(out, true)).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].line, d[0].column, d[0].code.as_str()),
            (1, 6, "SC2086")
        );
        assert_eq!(d[0].message, "Double quote to prevent globbing: a: b.");
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!(d[1].severity, Severity::Info);
        // Not cut: the last line must be whole, a broken one is the checker's fault.
        assert!(matches!(
            parse_shellcheck(&printed(out, false)),
            Err(Error::ToolOutput { .. })
        ));
    }

    #[test]
    fn shellcheck_out_of_stack_is_the_inputs_fault_and_a_bad_option_is_not() {
        let mut r = printed("", false);
        r.exit_code = Some(2);
        r.stderr = "shellcheck: stack overflow".into();
        assert!(matches!(
            parse_shellcheck(&r),
            Err(Error::ToolRefusedInput {
                tool: "shellcheck",
                ..
            })
        ));
        r.exit_code = Some(4);
        r.stderr = "unrecognized option `--frobnicate'".into();
        assert!(matches!(
            parse_shellcheck(&r),
            Err(Error::ToolOutput { .. })
        ));
    }

    #[test]
    fn ruff_json_lines_are_parsed_up_to_the_cut() {
        let line = r#"{"code":"F401","location":{"row":1,"column":8},"message":"`os` imported but unused"}"#;
        let syntax = r#"{"code":"invalid-syntax","location":{"row":2,"column":5},"message":"Expected an expression"}"#;
        let out = format!("{line}\n{syntax}\n{{\"code\":\"F4");
        let d = parse_ruff(&printed(&out, true)).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!((d[1].line, d[1].severity), (2, Severity::Error));
    }

    #[test]
    fn compile_giving_up_on_deep_nesting_is_the_inputs_fault() {
        let r = printed(r#"{"gave_up": "RecursionError"}"#, false);
        let err = parse_py_compile(&r).unwrap_err();
        assert!(
            matches!(&err, Error::ToolRefusedInput { tool: "python-compile", reason } if reason.contains("RecursionError")),
            "{err}"
        );
        let r = printed(
            r#"[{"line": 2, "column": 3, "message": "SyntaxError: bad"}]"#,
            false,
        );
        assert_eq!(parse_py_compile(&r).unwrap()[0].line, 2);
    }

    #[test]
    fn node_out_of_stack_is_the_inputs_fault() {
        let r = failed(
            "node:internal/modules/cjs/loader:1464\n  const result = compileFunctionForCJSLoader(content);\n                 ^\n\nRangeError: Maximum call stack size exceeded\n    at wrapSafe (node:internal/modules/cjs/loader:1464:18)\n",
        );
        assert!(matches!(
            parse_node_check(&r),
            Err(Error::ToolRefusedInput { tool: "node", .. })
        ));
    }

    #[test]
    fn long_messages_are_cut_to_a_bounded_length() {
        let long = "x".repeat(MAX_TEXT_CHARS * 3);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }
}

#[cfg(all(test, feature = "schemars"))]
mod schema_tests {
    use super::*;
    use mcp_core::schema_testing::schema_matches;

    #[test]
    fn lint_report_schema_describes_the_serialized_fields() {
        let diagnostic = Diagnostic {
            line: 1,
            column: 8,
            code: "F401".into(),
            message: "unused".into(),
            severity: Severity::Warning,
            source: "ruff".into(),
        };
        schema_matches(&diagnostic);
        schema_matches(&LintReport {
            language: Language::Python,
            tools: vec!["ruff".into()],
            ok: true,
            diagnostics: vec![diagnostic],
            notes: vec!["a note".into()],
            truncated: true,
        });
    }
}
