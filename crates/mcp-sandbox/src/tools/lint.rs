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
}

const RUFF_INSIDE: &str = "/opt/ruff/ruff";

/// The note of a Python lint without ruff.
const RUFF_MISSING: &str = "ruff was not found on the server, so only Python's compile() \
    checked this code (syntax errors only); the operator can install ruff or set \
    sandbox.interpreters.ruff";

const PY_COMPILE: &str = r#"import json
src = open("main.py", encoding="utf-8").read()
out = []
try:
    compile(src, "main.py", "exec", dont_inherit=True)
except SyntaxError as e:
    out.append({"line": e.lineno or 1, "column": e.offset or 1, "message": type(e).__name__ + ": " + str(e.msg)})
except ValueError as e:
    out.append({"line": 1, "column": 1, "message": "ValueError: " + str(e)})
print(json.dumps(out))
"#;

impl BwrapSandbox {
    /// Lints `request.code` with the checkers of its language (see the module docs).
    pub async fn lint(&self, request: &LintRequest) -> Result<LintReport, Error> {
        let limits = self.resolve_limits(&RequestLimits::default())?;
        let file = request.language.main_file().to_string();
        let job = |argv: Vec<&str>| Job {
            argv: argv.into_iter().map(str::to_owned).collect(),
            files: vec![(file.clone(), request.code.clone().into_bytes())],
            limits: limits.clone(),
            standby: true,
            ..Job::default()
        };
        let mut tools = Vec::new();
        let mut notes = Vec::new();
        let mut diagnostics = Vec::new();
        let c = self.config().interpreters.clone();
        match request.language {
            Language::Python => {
                if let Some(ruff) = self.ruff() {
                    let mut j = job(vec![
                        RUFF_INSIDE,
                        "check",
                        "--output-format=json",
                        "--no-cache",
                        "--isolated",
                        "--exit-zero",
                        "main.py",
                    ]);
                    j.binds.push((ruff.to_path_buf(), RUFF_INSIDE.into()));
                    let r = self.execute(j).await?;
                    diagnostics.extend(parse_ruff(&r)?);
                    tools.push("ruff".to_string());
                } else {
                    let python = c.python.display().to_string();
                    let r = self
                        .execute(job(vec![&python, "-I", "-c", PY_COMPILE]))
                        .await?;
                    diagnostics.extend(parse_py_compile(&r)?);
                    tools.push("python-compile".to_string());
                    notes.push(RUFF_MISSING.to_string());
                }
            }
            Language::Javascript => {
                let node = c.node.display().to_string();
                let r = self.execute(job(vec![&node, "--check", "main.js"])).await?;
                diagnostics.extend(parse_node_check(&r));
                tools.push("node --check".to_string());
            }
            Language::Bash => {
                let bash = c.bash.display().to_string();
                let r = self.execute(job(vec![&bash, "-n", "main.sh"])).await?;
                diagnostics.extend(parse_bash_n(&r));
                tools.push("bash -n".to_string());
                if c.shellcheck.is_file() {
                    let sc = c.shellcheck.display().to_string();
                    let r = self
                        .execute(job(vec![&sc, "--format=json1", "--shell=bash", "main.sh"]))
                        .await?;
                    diagnostics.extend(parse_shellcheck(&r)?);
                    tools.push("shellcheck".to_string());
                }
            }
        }
        diagnostics.sort_by(|a, b| (a.line, a.column, &a.code).cmp(&(b.line, b.column, &b.code)));
        Ok(LintReport {
            language: request.language,
            tools,
            ok: diagnostics.iter().all(|d| d.severity != Severity::Error),
            diagnostics,
            notes,
        })
    }
}

fn tool_failed(tool: &'static str, r: &ExecResult) -> Error {
    Error::ToolOutput {
        tool,
        message: format!(
            "exit {:?}, signal {:?}, timed out {}: {}",
            r.exit_code,
            r.signal,
            r.timed_out,
            r.stderr.trim()
        ),
    }
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

fn parse_ruff(r: &ExecResult) -> Result<Vec<Diagnostic>, Error> {
    let items: Vec<RuffItem> =
        serde_json::from_str(r.stdout.trim()).map_err(|_| tool_failed("ruff", r))?;
    Ok(items
        .into_iter()
        .map(|i| {
            let code = i.code.unwrap_or_else(|| "SyntaxError".into());
            let syntax =
                code == "SyntaxError" || code == "invalid-syntax" || code.starts_with("E9");
            let severity = if syntax || code == "F821" {
                Severity::Error
            } else {
                Severity::Warning
            };
            Diagnostic {
                line: i.location.row,
                column: i.location.column,
                code,
                message: i.message,
                severity,
                source: "ruff".into(),
            }
        })
        .collect())
}

#[derive(Deserialize)]
struct CompileItem {
    line: u32,
    column: u32,
    message: String,
}

fn parse_py_compile(r: &ExecResult) -> Result<Vec<Diagnostic>, Error> {
    let items: Vec<CompileItem> =
        serde_json::from_str(r.stdout.trim()).map_err(|_| tool_failed("python-compile", r))?;
    Ok(items
        .into_iter()
        .map(|i| Diagnostic {
            line: i.line,
            column: i.column,
            code: "SyntaxError".into(),
            message: i.message,
            severity: Severity::Error,
            source: "python-compile".into(),
        })
        .collect())
}

/// `node --check` prints `/work/main.js:LINE`, the line, a caret line and `SyntaxError: ...`.
fn parse_node_check(r: &ExecResult) -> Vec<Diagnostic> {
    if r.exit_code == Some(0) {
        return Vec::new();
    }
    let lines: Vec<&str> = r.stderr.lines().collect();
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
    vec![Diagnostic {
        line,
        column,
        code: code.trim().to_string(),
        message: message.trim().to_string(),
        severity: Severity::Error,
        source: "node".into(),
    }]
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
            message: msg.to_string(),
            severity: Severity::Error,
            source: "bash".into(),
        });
    }
    if out.is_empty() && r.exit_code != Some(0) {
        out.push(Diagnostic {
            line: 1,
            column: 1,
            code: "syntax".into(),
            message: r.stderr.trim().to_string(),
            severity: Severity::Error,
            source: "bash".into(),
        });
    }
    out
}

#[derive(Deserialize)]
struct ShellcheckOutput {
    comments: Vec<ShellcheckComment>,
}

#[derive(Deserialize)]
struct ShellcheckComment {
    line: u32,
    column: u32,
    level: String,
    code: u32,
    message: String,
}

fn parse_shellcheck(r: &ExecResult) -> Result<Vec<Diagnostic>, Error> {
    let out: ShellcheckOutput =
        serde_json::from_str(r.stdout.trim()).map_err(|_| tool_failed("shellcheck", r))?;
    Ok(out
        .comments
        .into_iter()
        .map(|c| Diagnostic {
            line: c.line,
            column: c.column,
            code: format!("SC{}", c.code),
            message: c.message,
            severity: match c.level.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                _ => Severity::Info,
            },
            source: "shellcheck".into(),
        })
        .collect())
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
        let d = &parse_node_check(&r)[0];
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
        });
    }
}
