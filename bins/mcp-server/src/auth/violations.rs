//! `security_violation` audit events for what the platform detects outside the log-in and the
//! token check (those record their own): a request refused for its `Host` or `Origin` header,
//! and a sandbox run killed at a limit. One function each, so every transport and tool records
//! them the same way.
use mcp_audit::AuditEvent;
use mcp_sandbox::ExecResult;

use super::principal::CallContext;
use crate::state::AppState;
use crate::state::audit_budget::kind;

/// Records a `security_violation` (`refused_host` / `refused_origin`) for a request refused
/// because its `header` (`host` or `origin`) is not allowed (a DNS-rebinding or cross-site
/// attempt, or a misconfiguration); `setting` is the configuration key that would allow it.
/// Callers have no valid token yet, so it draws on the unauthenticated audit budget.
pub async fn refused_header(
    state: &AppState,
    ctx: &CallContext,
    header: &'static str,
    value: Option<&str>,
    setting: &'static str,
) {
    let violation = match header {
        "host" => "refused_host",
        _ => "refused_origin",
    };
    let event = AuditEvent::security_violation(
        None,
        violation,
        format!("request refused: its {header} header is not allowed"),
    )
    .with_success(false)
    .with_detail(header, value.map(mcp_core::bounded::text))
    .with_detail("setting", setting);
    state
        .audit_unauthenticated(kind::HOST_ORIGIN_REFUSED, ctx.stamp(event))
        .await;
}

/// The limit a run was killed at, if it was: `wall_time`, `memory`, `output`, `cpu_time` or
/// `file_size`.
pub fn limit_kill(result: &ExecResult) -> Option<&'static str> {
    const SIGXCPU: i32 = 24;
    const SIGXFSZ: i32 = 25;
    if result.timed_out {
        Some("wall_time")
    } else if result.oom_killed {
        Some("memory")
    } else if result.truncated {
        Some("output")
    } else {
        match result.signal {
            Some(SIGXCPU) => Some("cpu_time"),
            Some(SIGXFSZ) => Some("file_size"),
            _ => None,
        }
    }
}

/// Records a `security_violation` (`sandbox_limit_kill`) when a run of `tool` for `user_id`
/// was killed at a sandbox limit (`limit`, see [`limit_kill`]); nothing for `None`. Runs are
/// rate-limited per user, so this is not budgeted.
pub async fn sandbox_limit_kill(
    state: &AppState,
    ctx: &CallContext,
    user_id: &str,
    tool: &str,
    limit: Option<&'static str>,
) {
    let Some(limit) = limit else {
        return;
    };
    let event = AuditEvent::security_violation(
        Some(user_id.to_owned()),
        "sandbox_limit_kill",
        format!("the sandbox killed a {tool} run at its {limit} limit"),
    )
    .with_detail("limit", limit)
    .with_detail("tool", tool.to_owned());
    state.audit(ctx.stamp(event)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_kill_is_named_and_a_normal_end_is_not() {
        let mut r = ExecResult::default();
        assert_eq!(limit_kill(&r), None);
        r.exit_code = Some(1);
        assert_eq!(limit_kill(&r), None);
        r.signal = Some(24);
        assert_eq!(limit_kill(&r), Some("cpu_time"));
        r.signal = Some(25);
        assert_eq!(limit_kill(&r), Some("file_size"));
        r.truncated = true;
        assert_eq!(limit_kill(&r), Some("output"));
        r.oom_killed = true;
        assert_eq!(limit_kill(&r), Some("memory"));
        r.timed_out = true;
        assert_eq!(limit_kill(&r), Some("wall_time"));
    }
}
