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
use mcp_sandbox::{BwrapSandbox, Probe, Sandbox, SandboxStats};

use crate::config::LimitsConfig;
use crate::error::ApiError;
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

    fn sandbox(&self) -> Result<&Arc<dyn Sandbox>, ApiError> {
        self.sandbox
            .as_ref()
            .map_err(|why| ApiError::Unavailable(format!("sandbox: {why}")))
    }

    fn tools(&self) -> Result<&Arc<BwrapSandbox>, ApiError> {
        self.tools.as_ref().ok_or_else(|| match &self.sandbox {
            Err(why) => ApiError::Unavailable(format!("sandbox: {why}")),
            Ok(_) => ApiError::Unavailable("lint and test need the bubblewrap sandbox".into()),
        })
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
        assert!(matches!(run.sandbox(), Err(ApiError::Unavailable(_))));
        assert!(matches!(run.tools(), Err(ApiError::Unavailable(_))));
        let lint = r.admit_lint("alice").expect("admitted");
        let request = LintRequest::new(mcp_sandbox::Language::Bash, "echo");
        assert!(matches!(lint.lint(&request), Err(ApiError::Unavailable(_))));
    }
}
