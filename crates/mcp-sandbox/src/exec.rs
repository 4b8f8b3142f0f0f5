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

    /// Lowercase hex SHA-256 of everything the run is given: the language, the code, stdin and
    /// every file with its name (see [`input_sha256`]).
    pub fn input_sha256(&self) -> String {
        let mut parts = vec![
            ("language", self.language.as_str().as_bytes()),
            ("code", self.code.as_bytes()),
            ("stdin", self.stdin.as_bytes()),
        ];
        let files: Vec<(String, &[u8])> = self
            .files
            .iter()
            .map(|(name, content)| (format!("file:{name}"), content.as_bytes()))
            .collect();
        parts.extend(files.iter().map(|(n, c)| (n.as_str(), *c)));
        input_sha256(&parts)
    }
}

/// The digest of a run's input that audit events record: lowercase hex SHA-256 of
/// `mcp-sandbox input v1\n` followed by each `(name, content)` part as the name's length (8
/// bytes, big-endian), the name, the content's length (8 bytes, big-endian) and the content.
/// The lengths make it unambiguous: two different inputs never give the same byte sequence.
pub fn input_sha256(parts: &[(&str, &[u8])]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"mcp-sandbox input v1\n");
    for (name, content) in parts {
        hash.update((name.len() as u64).to_be_bytes());
        hash.update(name.as_bytes());
        hash.update((content.len() as u64).to_be_bytes());
        hash.update(content);
    }
    format!("{:x}", hash.finalize())
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
    /// The run's memory reached its limit (its peak in the memory cgroup was at the limit): the
    /// kernel reclaimed memory to keep it under the limit. Reclaiming drops the interpreter's
    /// own code from memory, which is then read back again and again, so a run short of memory
    /// slows down instead of failing and often reaches its wall time rather than an OOM kill.
    #[serde(default)]
    pub memory_limit_reached: bool,
    /// What the limits the run hit most likely mean, in words, e.g. that memory rather than
    /// time ended a run that timed out; empty when there is nothing to say.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl ExecResult {
    /// The program exited with code 0 and no limit was hit.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.truncated && !self.oom_killed
    }

    /// Says in `notes` when memory ended the run: a process killed at the memory limit, or a
    /// run that timed out (or used up its CPU time) while its memory was at the limit.
    /// `memory_bytes` is the run's limit, `max_memory_bytes` the most a request may ask for.
    pub(crate) fn explain_memory(&mut self, memory_bytes: u64, max_memory_bytes: u64) {
        let raise = if memory_bytes < max_memory_bytes {
            format!(
                "raise limits.memory_bytes (at most {} here)",
                mib(max_memory_bytes)
            )
        } else {
            "this is the most limits.memory_bytes allows here: make the code use less memory"
                .to_owned()
        };
        const SIGXCPU: i32 = 24;
        let note = if self.oom_killed {
            format!(
                "memory: a process of the run was killed at the memory limit \
                 (limits.memory_bytes = {}); {raise}",
                mib(memory_bytes)
            )
        } else if self.memory_limit_reached && (self.timed_out || self.signal == Some(SIGXCPU)) {
            format!(
                "memory: the run was at its memory limit (limits.memory_bytes = {}) and spent \
                 its time reclaiming memory, so memory, not time, most likely ended it; {raise}",
                mib(memory_bytes)
            )
        } else {
            return;
        };
        self.notes.push(note);
    }

    /// Cuts `stdout` and `stderr` so that, written as JSON strings, together they take at most
    /// `max_bytes`, and sets `truncated` when it cut. A control character takes up to six
    /// bytes in JSON (`\u0000`), so output within the byte limit could otherwise become an
    /// answer six times as large. Each stream keeps up to half, and more when the other needs
    /// less.
    pub fn fit_json(&mut self, max_bytes: u64) {
        let cap = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let (out, err) = (json_len(&self.stdout), json_len(&self.stderr));
        if out.saturating_add(err) <= cap {
            return;
        }
        let half = cap / 2;
        let (out_budget, err_budget) = if err <= half {
            (cap - err, err)
        } else if out <= half {
            (out, cap - out)
        } else {
            (cap - half, half)
        };
        cut_to_json_len(&mut self.stdout, out_budget);
        cut_to_json_len(&mut self.stderr, err_budget);
        self.truncated = true;
    }
}

/// `bytes` in MiB when it is a whole number of them, else in bytes.
fn mib(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// How many bytes `c` takes inside a JSON string, as `serde_json` writes it.
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// How many bytes `text` takes as a JSON string, without the quotes.
pub(crate) fn json_len(text: &str) -> usize {
    text.chars().map(json_char_len).sum()
}

/// Cuts `text` (at a character) so that it takes at most `budget` bytes as a JSON string, and
/// gives back the memory it no longer needs; whether it cut.
pub(crate) fn cut_to_json_len(text: &mut String, budget: usize) -> bool {
    let mut used = 0usize;
    for (at, c) in text.char_indices() {
        used += json_char_len(c);
        if used > budget {
            text.truncate(at);
            text.shrink_to_fit();
            return true;
        }
    }
    false
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

/// How many files a request may submit besides its code.
const MAX_FILES: usize = 256;

/// Adds the request's `submitted` files to `files` (the ones the sandbox places itself), after
/// checking their number and names: a submitted name may not be one already in `files`
/// (`taken` says what those hold, for the error). Then checks that all files, plus
/// `extra_bytes` (stdin), fit in `max_input_bytes`.
pub(crate) fn add_submitted_files(
    files: &mut Vec<(String, Vec<u8>)>,
    submitted: &BTreeMap<String, String>,
    taken: &'static str,
    extra_bytes: u64,
    max_input_bytes: u64,
) -> Result<(), Error> {
    if submitted.len() > MAX_FILES {
        return Err(Error::InvalidFileName {
            name: format!("({} files)", submitted.len()),
            reason: "too many files (at most 256)",
        });
    }
    for (name, content) in submitted {
        validate_file_name(name)?;
        if files.iter().any(|(n, _)| n == name) {
            return Err(Error::InvalidFileName {
                name: name.clone(),
                reason: taken,
            });
        }
        files.push((name.clone(), content.clone().into_bytes()));
    }
    // A path that runs through another file (`a` and `a/b`) cannot be placed.
    let names: std::collections::HashSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for (name, _) in files.iter() {
        if name
            .match_indices('/')
            .any(|(at, _)| names.contains(&name[..at]))
        {
            return Err(Error::InvalidFileName {
                name: name.clone(),
                reason: "a leading part of this path is also a file of the request",
            });
        }
    }
    let size = files.iter().map(|(_, c)| c.len() as u64).sum::<u64>() + extra_bytes;
    if size > max_input_bytes {
        return Err(Error::InputTooLarge {
            size,
            max: max_input_bytes,
        });
    }
    Ok(())
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

    fn placed() -> Vec<(String, Vec<u8>)> {
        vec![("main.py".to_owned(), b"print(1)".to_vec())]
    }

    #[test]
    fn submitted_files_are_added_after_the_placed_ones() {
        let mut files = placed();
        let submitted = BTreeMap::from([("data/a.txt".to_owned(), "abc".to_owned())]);
        add_submitted_files(&mut files, &submitted, "taken", 0, 1024).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["main.py", "data/a.txt"]);
    }

    #[test]
    fn more_than_256_submitted_files_are_refused() {
        let submitted: BTreeMap<String, String> =
            (0..257).map(|i| (format!("f{i}"), String::new())).collect();
        let err = add_submitted_files(&mut placed(), &submitted, "taken", 0, u64::MAX).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidFileName { name, .. } if name == "(257 files)"),
            "{err}"
        );
        let submitted: BTreeMap<String, String> =
            (0..256).map(|i| (format!("f{i}"), String::new())).collect();
        add_submitted_files(&mut placed(), &submitted, "taken", 0, u64::MAX).unwrap();
    }

    #[test]
    fn a_submitted_file_may_not_take_a_placed_name() {
        let submitted = BTreeMap::from([("main.py".to_owned(), "x".to_owned())]);
        let err =
            add_submitted_files(&mut placed(), &submitted, "holds the code", 0, 1024).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidFileName { name, reason } if name == "main.py" && *reason == "holds the code"),
            "{err}"
        );
    }

    #[test]
    fn the_input_size_counts_placed_and_submitted_files_and_extra_bytes() {
        let submitted = BTreeMap::from([("a".to_owned(), "12".to_owned())]);
        // 8 (main.py) + 2 (a) + 5 (stdin) = 15.
        add_submitted_files(&mut placed(), &submitted, "taken", 5, 15).unwrap();
        let err = add_submitted_files(&mut placed(), &submitted, "taken", 5, 14).unwrap_err();
        assert!(
            matches!(err, Error::InputTooLarge { size: 15, max: 14 }),
            "{err}"
        );
    }

    #[test]
    fn a_path_through_another_file_is_refused_whichever_comes_first() {
        for submitted in [
            vec![("a", "file"), ("a/b", "file below it")],
            vec![("x/y", ""), ("x/y/z/w", "")],
        ] {
            let submitted: BTreeMap<String, String> = submitted
                .into_iter()
                .map(|(n, c)| (n.to_owned(), c.to_owned()))
                .collect();
            let err = add_submitted_files(&mut placed(), &submitted, "taken", 0, 1024).unwrap_err();
            assert!(matches!(err, Error::InvalidFileName { .. }), "{err}");
        }
        // Through a placed file (the code's main.py) too.
        let submitted = BTreeMap::from([("main.py/x".to_owned(), String::new())]);
        let err = add_submitted_files(&mut placed(), &submitted, "taken", 0, 1024).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidFileName { name, .. } if name == "main.py/x"),
            "{err}"
        );
        // Siblings and names that only share a prefix are fine.
        let submitted = BTreeMap::from([
            ("a".to_owned(), String::new()),
            ("a.txt".to_owned(), String::new()),
            ("ab/c".to_owned(), String::new()),
            ("d/e".to_owned(), String::new()),
            ("d/f".to_owned(), String::new()),
        ]);
        add_submitted_files(&mut placed(), &submitted, "taken", 0, 1024).unwrap();
    }

    #[test]
    fn the_input_digest_covers_code_stdin_and_every_file_and_matches_the_documented_format() {
        let request = ExecRequest::new(Language::Python, "print(1)")
            .with_stdin("x")
            .with_file("a.txt", "A");
        // Computed independently (Python's hashlib) from the format documented on input_sha256.
        assert_eq!(
            request.input_sha256(),
            "856bb35541ff4f586ba44a924147f8dc8d9efd77c9516ed51b9d4923bae66615"
        );
        let other_file = request.clone().with_file("a.txt", "B");
        assert_eq!(
            other_file.input_sha256(),
            "575ed1b6d58e388835add2e824fa9034cf7ec668e3f0201d48cc03976ce29097"
        );
        let variants = [
            request.clone().with_stdin("y"),
            request.clone().with_file("b.txt", ""),
            ExecRequest::new(Language::Bash, "print(1)")
                .with_stdin("x")
                .with_file("a.txt", "A"),
            // The same bytes split differently between the parts.
            ExecRequest::new(Language::Python, "print(1)x").with_file("a.txt", "A"),
        ];
        for v in variants {
            assert_ne!(v.input_sha256(), request.input_sha256(), "{v:?}");
        }
    }

    #[test]
    fn json_lengths_count_escapes_as_serde_json_writes_them() {
        for text in [
            "plain",
            "\0\u{1}\u{1f}",
            "\"\\\n\t\r\u{8}\u{c}",
            "é€😀",
            "\u{7f}",
        ] {
            let encoded = serde_json::to_string(text).unwrap();
            assert_eq!(json_len(text), encoded.len() - 2, "{text:?}");
        }
    }

    #[test]
    fn output_is_cut_to_its_json_size_and_marked() {
        let mut r = ExecResult {
            stdout: "\0".repeat(1000),
            stderr: "e".repeat(10),
            ..ExecResult::default()
        };
        r.fit_json(1006);
        let encoded = serde_json::to_string(&(&r.stdout, &r.stderr)).unwrap();
        // Two strings: two pairs of quotes, a comma, the brackets.
        assert!(encoded.len() - 7 <= 1006, "{}", encoded.len());
        assert_eq!(r.stderr.len(), 10, "the small stream is kept whole");
        assert_eq!(r.stdout.len(), 166);
        assert!(r.truncated);
        // Within the limit: untouched.
        let mut small = ExecResult {
            stdout: "hi\n".into(),
            ..ExecResult::default()
        };
        small.fit_json(4);
        assert_eq!(small.stdout, "hi\n");
        assert!(!small.truncated);
        // Both large: half each.
        let mut both = ExecResult {
            stdout: "o".repeat(100),
            stderr: "\"".repeat(100),
            ..ExecResult::default()
        };
        both.fit_json(100);
        assert_eq!((both.stdout.len(), both.stderr.len()), (50, 25));
    }

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
    fn a_timeout_at_the_memory_limit_is_explained_as_memory() {
        const MIB: u64 = 1024 * 1024;
        let mut thrashed = ExecResult {
            timed_out: true,
            memory_limit_reached: true,
            ..Default::default()
        };
        thrashed.explain_memory(20 * MIB, 1024 * MIB);
        let [note] = &thrashed.notes[..] else {
            panic!("{:?}", thrashed.notes)
        };
        assert!(note.contains("memory, not time"), "{note}");
        assert!(note.contains("limits.memory_bytes = 20 MiB"), "{note}");
        assert!(note.contains("at most 1024 MiB"), "{note}");

        let mut killed = ExecResult {
            oom_killed: true,
            memory_limit_reached: true,
            ..Default::default()
        };
        killed.explain_memory(1024 * MIB, 1024 * MIB);
        assert!(
            killed.notes[0].contains("killed at the memory limit"),
            "{:?}",
            killed.notes
        );
        assert!(
            killed.notes[0].contains("use less memory"),
            "{:?}",
            killed.notes
        );

        // A timeout with memory to spare, or memory at the limit in a run that finished, is
        // not blamed on memory.
        for mut quiet in [
            ExecResult {
                timed_out: true,
                ..Default::default()
            },
            ExecResult {
                memory_limit_reached: true,
                exit_code: Some(0),
                ..Default::default()
            },
        ] {
            quiet.explain_memory(20 * MIB, 1024 * MIB);
            assert!(quiet.notes.is_empty(), "{:?}", quiet.notes);
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
                "memory_limit_reached",
                "notes",
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
