//! The sandbox, reachable only through a per-user budget.
//!
//! [`CodeRunners`] holds the sandbox handles and hands them out only to an admission
//! ([`CodeRunners::admit_run`], [`CodeRunners::admit_lint`]), and each admission takes one call
//! from the caller's budget of that kind. So every tool that runs submitted code (`execute`,
//! `test`, and any tool added later, which can reach the sandbox no other way) shares one
//! per-user limit, `limits.execute_per_minute`, and the lint tool, which runs checkers over the
//! code but never the code itself, has its own, `limits.lint_per_minute`. A lint admission
//! can lint and nothing else.
use std::sync::Arc;
use std::time::Duration;

use mcp_sandbox::tools::{LintReport, LintRequest};
use mcp_sandbox::{BwrapSandbox, Layer, Probe, Sandbox, SandboxStats};

use crate::config::LimitsConfig;
use crate::error::{ApiError, SandboxOutage};
use crate::limits::ExecuteLimiter;

/// The sandbox behind the two per-user budgets (see the module docs).
pub struct CodeRunners {
    sandbox: Result<Arc<dyn Sandbox>, String>,
    tools: Option<Arc<BwrapSandbox>>,
    code_runs: ExecuteLimiter,
    lints: ExecuteLimiter,
}

/// The budget a call was refused by, and how long until it has room again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// The limit's config key (`limits.execute_per_minute`, `limits.lint_per_minute`).
    pub limit: &'static str,
    /// How long until the next call of this kind can pass.
    pub wait: Duration,
}

impl CodeRunners {
    /// The sandbox (or why there is none), the bubblewrap sandbox for lint and test when there
    /// is one, and the budgets of `limits`.
    pub fn new(
        sandbox: Result<Arc<dyn Sandbox>, String>,
        tools: Option<Arc<BwrapSandbox>>,
        limits: &LimitsConfig,
    ) -> Self {
        Self {
            sandbox,
            tools,
            code_runs: ExecuteLimiter::per_minute(limits.execute_per_minute),
            lints: ExecuteLimiter::per_minute(limits.lint_per_minute),
        }
    }

    /// Takes one run of submitted code from `user`'s budget: the admission reaches the
    /// sandbox. Every tool that runs submitted code must come through here.
    pub fn admit_run(&self, user: &str) -> Result<RunAdmission<'_>, OverBudget> {
        self.code_runs.check(user).map_err(|wait| OverBudget {
            limit: "limits.execute_per_minute",
            wait,
        })?;
        Ok(RunAdmission(self))
    }

    /// Takes one lint from `user`'s lint budget: the admission can lint, nothing else.
    pub fn admit_lint(&self, user: &str) -> Result<LintAdmission<'_>, OverBudget> {
        self.lints.check(user).map_err(|wait| OverBudget {
            limit: "limits.lint_per_minute",
            wait,
        })?;
        Ok(LintAdmission(self))
    }

    /// What the sandbox's start-up probe found, or why there is no sandbox (for `/ready`).
    pub fn probe(&self) -> Result<&Probe, &str> {
        match &self.sandbox {
            Ok(sandbox) => Ok(sandbox.probe()),
            Err(why) => Err(why),
        }
    }

    /// The bubblewrap sandbox itself, or why there is none: the gateway starts its stdio
    /// upstreams in it (long-running processes, outside the run budgets).
    pub fn bwrap(&self) -> Result<Arc<BwrapSandbox>, String> {
        match (&self.tools, &self.sandbox) {
            (Some(tools), _) => Ok(Arc::clone(tools)),
            (None, Err(why)) => Err(why.clone()),
            (None, Ok(_)) => Err("the sandbox is not the bubblewrap sandbox".into()),
        }
    }

    /// Run counts of the bubblewrap sandbox, when there is one (for `/metrics`).
    pub fn stats(&self) -> Option<SandboxStats> {
        self.tools.as_ref().map(|t| t.stats())
    }

    /// Why code cannot run, and the fix, or `None` when the sandbox can run code.
    pub fn outage(&self) -> Option<SandboxOutage> {
        match &self.sandbox {
            Err(why) => Some(SandboxOutage {
                cause: format!("the sandbox did not start ({why})"),
                fix: "install bubblewrap (`apt-get install bubblewrap`) or point sandbox.bwrap \
                      at it, make sandbox.runtime_dir writable, then restart the server; the \
                      start-up log names the failing step"
                    .into(),
                detailed: false,
            }),
            Ok(sandbox) if !sandbox.probe().ready => Some(layers_outage(sandbox.probe())),
            Ok(_) => None,
        }
    }

    fn sandbox(&self) -> Result<&Arc<dyn Sandbox>, ApiError> {
        if let Some(outage) = self.outage() {
            return Err(ApiError::SandboxUnavailable(Box::new(outage)));
        }
        self.sandbox
            .as_ref()
            .map_err(|why| ApiError::Unavailable(format!("sandbox: {why}")))
    }

    fn tools(&self) -> Result<&Arc<BwrapSandbox>, ApiError> {
        if let Some(outage) = self.outage() {
            return Err(ApiError::SandboxUnavailable(Box::new(outage)));
        }
        self.tools.as_ref().ok_or_else(|| {
            ApiError::Unavailable("lint and test need the bubblewrap sandbox".into())
        })
    }
}

/// The outage of a sandbox whose required layers are not all available.
fn layers_outage(probe: &Probe) -> SandboxOutage {
    let missing: Vec<_> = probe
        .layers
        .iter()
        .filter(|l| l.required && !l.available)
        .collect();
    let cause = if missing.is_empty() {
        "bubblewrap cannot start a sandbox on this host".to_owned()
    } else {
        let names: Vec<String> = missing
            .iter()
            .map(|l| format!("{} ({})", l.layer.name(), l.detail))
            .collect();
        format!(
            "required isolation layers are unavailable: {}",
            names.join("; ")
        )
    };
    let mut fixes: Vec<&'static str> = Vec::new();
    for l in &missing {
        let fix = layer_fix(l.layer);
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    if fixes.is_empty() {
        fixes.push(layer_fix(Layer::Bubblewrap));
    }
    SandboxOutage {
        cause,
        fix: format!(
            "{}; then restart the server. Or, accepting weaker isolation, set \
             sandbox.allow_weaker_isolation = true (see SECURITY.md)",
            fixes.join("; ")
        ),
        detailed: false,
    }
}

/// What makes `layer` available on a host that lacks it.
pub fn layer_fix(layer: Layer) -> &'static str {
    match layer {
        Layer::Bubblewrap => {
            "install bubblewrap (`apt-get install bubblewrap`) or point sandbox.bwrap at it"
        }
        Layer::UserNamespace
        | Layer::MountNamespace
        | Layer::PidNamespace
        | Layer::NetworkNamespace
        | Layer::IpcNamespace
        | Layer::UtsNamespace => {
            "allow namespaces for the server: `sysctl kernel.unprivileged_userns_clone=1` (and \
             `kernel.apparmor_restrict_unprivileged_userns=0` on Ubuntu), or in a container a \
             seccomp/AppArmor profile that permits unshare and mount"
        }
        Layer::NoNewPrivs | Layer::Seccomp | Layer::NoCapabilities => {
            "use a bubblewrap that supports --seccomp and --cap-drop (0.4 or newer) on a kernel \
             with seccomp filters (CONFIG_SECCOMP_FILTER)"
        }
        Layer::SeparateUid => "run the server as root so each run gets a dedicated uid",
        Layer::Rlimits => {
            "install prlimit (util-linux) or point sandbox.prlimit at it, or set \
             sandbox.shell_rlimits = true with a shell whose ulimit works"
        }
        Layer::CgroupMemory | Layer::CgroupPids | Layer::CgroupCpu => {
            "give the server a writable cgroup v1 hierarchy for the memory, pids and cpu \
             controllers (its own cgroup under /sys/fs/cgroup/<controller>/)"
        }
        _ => "see docs/sandbox.md for what this layer needs",
    }
}

/// One run of submitted code, admitted by the caller's budget.
#[must_use = "an admission has already taken one call from the budget"]
pub struct RunAdmission<'a>(&'a CodeRunners);

impl RunAdmission<'_> {
    /// The sandbox, or 503 when it did not start.
    pub fn sandbox(&self) -> Result<&Arc<dyn Sandbox>, ApiError> {
        self.0.sandbox()
    }

    /// The bubblewrap sandbox (pytest runs), or 503.
    pub fn tools(&self) -> Result<&Arc<BwrapSandbox>, ApiError> {
        self.0.tools()
    }
}

/// One lint, admitted by the caller's lint budget.
#[must_use = "an admission has already taken one call from the budget"]
pub struct LintAdmission<'a>(&'a CodeRunners);

impl LintAdmission<'_> {
    /// Lints `request` in the sandbox; the outer error is 503 when there is no bubblewrap
    /// sandbox, the inner one the lint's own.
    pub fn lint<'r>(
        &self,
        request: &'r LintRequest,
    ) -> Result<
        impl std::future::Future<Output = Result<LintReport, mcp_sandbox::Error>> + 'r,
        ApiError,
    > {
        let tools = Arc::clone(self.0.tools()?);
        Ok(async move { tools.lint(request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runners(execute: u32, lint: u32) -> CodeRunners {
        let limits = LimitsConfig {
            execute_per_minute: execute,
            lint_per_minute: lint,
        };
        CodeRunners::new(Err("none".into()), None, &limits)
    }

    #[test]
    fn code_runs_share_one_budget_per_user() {
        let r = runners(2, 100);
        assert!(r.admit_run("alice").is_ok());
        assert!(r.admit_run("alice").is_ok());
        let over = r
            .admit_run("alice")
            .err()
            .expect("the third run is refused");
        assert_eq!(over.limit, "limits.execute_per_minute");
        assert!(over.wait > Duration::ZERO);
        assert!(
            r.admit_run("bob").is_ok(),
            "another user has a budget of their own"
        );
    }

    #[test]
    fn lints_have_their_own_budget() {
        let r = runners(1, 2);
        assert!(r.admit_run("alice").is_ok());
        assert!(r.admit_run("alice").is_err());
        assert!(
            r.admit_lint("alice").is_ok(),
            "lint is not charged to code runs"
        );
        assert!(r.admit_lint("alice").is_ok());
        let over = r
            .admit_lint("alice")
            .err()
            .expect("the third lint is refused");
        assert_eq!(over.limit, "limits.lint_per_minute");
    }

    #[test]
    fn an_admission_without_a_sandbox_is_unavailable_not_a_panic() {
        let r = runners(5, 5);
        let run = r.admit_run("alice").expect("admitted");
        assert!(matches!(
            run.sandbox(),
            Err(ApiError::SandboxUnavailable(_))
        ));
        assert!(matches!(run.tools(), Err(ApiError::SandboxUnavailable(_))));
        let lint = r.admit_lint("alice").expect("admitted");
        let request = LintRequest::new(mcp_sandbox::Language::Bash, "echo");
        assert!(matches!(
            lint.lint(&request),
            Err(ApiError::SandboxUnavailable(_))
        ));
        let outage = r.outage().expect("no sandbox is an outage");
        assert!(outage.cause.contains("none"), "{outage:?}");
        assert!(outage.fix.contains("bubblewrap"), "{outage:?}");
    }
}
