//! `notifications/message`: what the server does on the caller's behalf (a sandbox run started,
//! finished, killed by a limit; a tool failing), sent to the caller's own session only and at
//! or above the level the client asked for.
//!
//! The level is the request's `_meta` `io.modelcontextprotocol/logLevel` (2026-07-28), else the
//! session's `logging/setLevel`, else [`DEFAULT_LEVEL`]: a client that never asked still hears
//! about warnings (a run killed by a limit), not about every run.
#![allow(deprecated)] // rmcp marks logging deprecated by SEP-2577; the revisions we serve have it.

use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::{Peer, RequestContext};
use serde_json::{Value, json};

use super::session::Session;

/// The level when the client set none.
pub const DEFAULT_LEVEL: LoggingLevel = LoggingLevel::Warning;
/// The `logger` of every message.
pub const LOGGER: &str = "mcp-server";

/// Severity rank (RFC 5424 order, debug lowest).
pub fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// Sends log messages of one request to its client.
#[derive(Clone)]
pub struct Logger {
    peer: Peer<RoleServer>,
    min: LoggingLevel,
}

impl Logger {
    /// The logger of request `rctx` in `session`.
    pub fn new(session: &Session, rctx: &RequestContext<RoleServer>) -> Self {
        let min = rctx
            .meta
            .log_level()
            .or_else(|| session.level())
            .unwrap_or(DEFAULT_LEVEL);
        Self {
            peer: rctx.peer.clone(),
            min,
        }
    }

    /// Whether a message at `level` would be sent.
    pub fn enabled(&self, level: LoggingLevel) -> bool {
        rank(level) >= rank(self.min)
    }

    /// Sends `data` at `level` when the client asked for that level.
    pub async fn log(&self, level: LoggingLevel, data: Value) {
        if !self.enabled(level) {
            return;
        }
        let mut param = LoggingMessageNotificationParam::new(level, data);
        param.logger = Some(LOGGER.to_owned());
        if let Err(e) = self.peer.notify_logging_message(param).await {
            tracing::debug!(error = %e, "log notification not delivered");
        }
    }
}

/// The tools that run code in the sandbox: their runs are reported.
pub const RUN_TOOLS: &[&str] = &["execute_code", "lint_code", "run_tests"];

/// The limit a run hit, from its result (`execute_code`'s flattened run fields, or
/// `run_tests`' report).
fn limit_hit(run: &Value) -> Option<&'static str> {
    let flag = |name: &str| run.get(name).and_then(Value::as_bool) == Some(true);
    if flag("timed_out") {
        Some("wall_time")
    } else if flag("oom_killed") {
        Some("memory")
    } else if flag("truncated") {
        Some("output")
    } else {
        match run.get("signal").and_then(Value::as_i64) {
            Some(24) => Some("cpu_time"),
            Some(25) => Some("file_size"),
            _ => None,
        }
    }
}

/// The message about a finished run of `tool` with result `value`: `warning` when a limit
/// killed it, else `info`.
pub fn run_finished(tool: &str, value: &Value) -> (LoggingLevel, Value) {
    let run = value;
    let mut data = json!({
        "event": "run_finished",
        "tool": tool,
        "exit_code": run.get("exit_code").cloned().unwrap_or(Value::Null),
        "duration_ms": run.get("duration_ms").cloned().unwrap_or(Value::Null),
    });
    for key in ["passed", "failed", "errors", "ok"] {
        if let Some(v) = value.get(key) {
            data[key] = v.clone();
        }
    }
    if let Some(diagnostics) = value.get("diagnostics").and_then(Value::as_array) {
        data["diagnostics"] = json!(diagnostics.len());
    }
    match limit_hit(run) {
        Some(limit) => {
            data["event"] = json!("run_killed");
            data["limit"] = json!(limit);
            // What the limit most likely means (e.g. a timeout at the memory limit: memory).
            if let Some(notes) = run
                .get("notes")
                .filter(|n| n.as_array().is_some_and(|n| !n.is_empty()))
            {
                data["notes"] = notes.clone();
            }
            (LoggingLevel::Warning, data)
        }
        None => (LoggingLevel::Info, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_killed_by_a_limit_is_a_warning_naming_the_limit() {
        let killed = json!({"success": false, "language": "python",
            "exit_code": null, "signal": 9, "timed_out": true, "duration_ms": 5000});
        let (level, data) = run_finished("execute_code", &killed);
        assert_eq!(level, LoggingLevel::Warning);
        assert_eq!(data["event"], "run_killed");
        assert_eq!(data["limit"], "wall_time");
        assert!(data.get("notes").is_none(), "{data}");
        let thrashed = json!({"exit_code": null, "signal": 9, "timed_out": true,
            "memory_limit_reached": true, "notes": ["memory: the run was at its memory limit …"]});
        let (_, data) = run_finished("run_tests", &thrashed);
        assert_eq!(data["limit"], "wall_time");
        assert_eq!(
            data["notes"][0],
            "memory: the run was at its memory limit …"
        );
        let fine = json!({"success": true, "exit_code": 0, "duration_ms": 12});
        let (level, data) = run_finished("execute_code", &fine);
        assert_eq!(level, LoggingLevel::Info);
        assert_eq!(data["exit_code"], 0);
        let tests = json!({"passed": 2, "failed": 1, "exit_code": 1, "timed_out": false, "duration_ms": 40});
        let (level, data) = run_finished("run_tests", &tests);
        assert_eq!(level, LoggingLevel::Info);
        assert_eq!(data["failed"], 1);
        let xcpu = json!({"signal": 24});
        assert_eq!(run_finished("execute_code", &xcpu).1["limit"], "cpu_time");
    }

    #[test]
    fn levels_rank_from_debug_to_emergency() {
        let all = [
            LoggingLevel::Debug,
            LoggingLevel::Info,
            LoggingLevel::Notice,
            LoggingLevel::Warning,
            LoggingLevel::Error,
            LoggingLevel::Critical,
            LoggingLevel::Alert,
            LoggingLevel::Emergency,
        ];
        for pair in all.windows(2) {
            assert!(rank(pair[0]) < rank(pair[1]), "{pair:?}");
        }
        assert!(rank(DEFAULT_LEVEL) > rank(LoggingLevel::Info));
    }
}
