//! The sandbox, reachable only through a per-user budget.
//!
//! [`CodeRunners`] holds the sandbox handles and hands them out only to an admission
//! ([`CodeRunners::admit_run`], [`CodeRunners::admit_lint`]), and each admission takes one call
//! from the caller's budget of that kind. So every tool that runs submitted code (`execute`,
//! `test`, and any tool added later, which can reach the sandbox no other way) shares one
//! per-user limit, `limits.execute_per_minute`, and the lint tool, which runs checkers over the
//! code but never the code itself, has its own, `limits.lint_per_minute`. A lint admission
//! can lint and nothing else.
//!
//! The budgets are counted in an [`mcp_limits::CounterStore`] (`limits.counters`): on Neo4j
//! they hold across every instance on that database; in memory each instance counts alone.
use std::sync::Arc;
use std::time::Duration;

use mcp_limits::store::memory::MemoryCounterStore;
use mcp_limits::{Admission, CounterStore, Quota, RateLimiter};
use mcp_sandbox::tools::{LintReport, LintRequest};
use mcp_sandbox::{BwrapSandbox, Layer, Probe, Sandbox, SandboxStats};

use crate::config::LimitsConfig;
use crate::error::{ApiError, SandboxOutage};

/// The sandbox behind the two per-user budgets (see the module docs).
pub struct CodeRunners {
    sandbox: Result<Arc<dyn Sandbox>, String>,
    tools: Option<Arc<BwrapSandbox>>,
    code_runs: RateLimiter,
    lints: RateLimiter,
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
    /// is one, and the budgets of `limits`, counted in this process's memory.
    pub fn new(
        sandbox: Result<Arc<dyn Sandbox>, String>,
        tools: Option<Arc<BwrapSandbox>>,
        limits: &LimitsConfig,
    ) -> Self {
        Self::with_counters(sandbox, tools, limits, Arc::new(MemoryCounterStore::new()))
    }

    /// As [`CodeRunners::new`], with the budgets counted in `counters` (shared by every
    /// instance that uses the same store).
    pub fn with_counters(
        sandbox: Result<Arc<dyn Sandbox>, String>,
        tools: Option<Arc<BwrapSandbox>>,
        limits: &LimitsConfig,
        counters: Arc<dyn CounterStore>,
    ) -> Self {
        Self {
            sandbox,
            tools,
            code_runs: RateLimiter::new(
                Arc::clone(&counters),
                "execute",
                Quota::per_minute(limits.execute_per_minute),
            ),
            lints: RateLimiter::new(counters, "lint", Quota::per_minute(limits.lint_per_minute)),
        }
    }

    /// Takes one run of submitted code from `user`'s budget: the admission reaches the
    /// sandbox. Every tool that runs submitted code must come through here. The outer error
    /// says why nothing was taken: the sandbox cannot run code (503 `sandbox_unavailable`,
    /// checked first, so an outage spends no budget) or the counter store failed (503: refused
    /// rather than let through uncounted).
    pub async fn admit_run(
        &self,
        user: &str,
    ) -> Result<Result<RunAdmission<'_>, OverBudget>, ApiError> {
        self.available()?;
        let admitted = admit(&self.code_runs, user, "limits.execute_per_minute").await?;
        Ok(admitted.map(|()| RunAdmission(self)))
    }

    /// Takes one lint from `user`'s lint budget: the admission can lint, nothing else. The
    /// outer error as for [`CodeRunners::admit_run`].
    pub async fn admit_lint(
        &self,
        user: &str,
    ) -> Result<Result<LintAdmission<'_>, OverBudget>, ApiError> {
        self.available()?;
        let admitted = admit(&self.lints, user, "limits.lint_per_minute").await?;
        Ok(admitted.map(|()| LintAdmission(self)))
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

    /// 503 `sandbox_unavailable` with the [`CodeRunners::outage`], if there is one.
    fn available(&self) -> Result<(), ApiError> {
        match self.outage() {
            Some(outage) => Err(ApiError::SandboxUnavailable(Box::new(outage))),
            None => Ok(()),
        }
    }

    fn sandbox(&self) -> Result<&Arc<dyn Sandbox>, ApiError> {
        self.available()?;
        self.sandbox
            .as_ref()
            .map_err(|why| ApiError::Unavailable(format!("sandbox: {why}")))
    }

    fn tools(&self) -> Result<&Arc<BwrapSandbox>, ApiError> {
        self.available()?;
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

/// Takes one call from `user`'s allowance in `limiter`, named `limit` when refused.
async fn admit(
    limiter: &RateLimiter,
    user: &str,
    limit: &'static str,
) -> Result<Result<(), OverBudget>, ApiError> {
    match limiter.check(user).await {
        Ok(Admission::Allowed) => Ok(Ok(())),
        Ok(Admission::Wait(wait)) => Ok(Err(OverBudget { limit, wait })),
        Err(e) => {
            tracing::error!(error = %e, limit, "the rate-limit counter store failed: call refused");
            Err(ApiError::from(e))
        }
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
            ..LimitsConfig::default()
        };
        CodeRunners::new(Ok(Arc::new(Ready::new())), None, &limits)
    }

    /// A sandbox whose probe found every layer (it never runs anything here).
    struct Ready(Probe);

    impl Ready {
        fn new() -> Self {
            Self(
                serde_json::from_value(serde_json::json!({
                    "layers": [], "languages": [], "weaker_isolation_allowed": false, "ready": true
                }))
                .expect("probe shape"),
            )
        }
    }

    #[async_trait::async_trait]
    impl Sandbox for Ready {
        async fn run(
            &self,
            _: mcp_sandbox::ExecRequest,
        ) -> Result<mcp_sandbox::ExecResult, mcp_sandbox::Error> {
            unreachable!("the budget tests run nothing")
        }

        fn probe(&self) -> &Probe {
            &self.0
        }
    }

    #[tokio::test]
    async fn code_runs_share_one_budget_per_user() {
        let r = runners(2, 100);
        assert!(r.admit_run("alice").await.unwrap().is_ok());
        assert!(r.admit_run("alice").await.unwrap().is_ok());
        let over = r
            .admit_run("alice")
            .await
            .unwrap()
            .err()
            .expect("the third run is refused");
        assert_eq!(over.limit, "limits.execute_per_minute");
        assert!(over.wait > Duration::ZERO);
        assert!(
            r.admit_run("bob").await.unwrap().is_ok(),
            "another user has a budget of their own"
        );
    }

    #[tokio::test]
    async fn lints_have_their_own_budget() {
        let r = runners(1, 2);
        assert!(r.admit_run("alice").await.unwrap().is_ok());
        assert!(r.admit_run("alice").await.unwrap().is_err());
        assert!(
            r.admit_lint("alice").await.unwrap().is_ok(),
            "lint is not charged to code runs"
        );
        assert!(r.admit_lint("alice").await.unwrap().is_ok());
        let over = r
            .admit_lint("alice")
            .await
            .unwrap()
            .err()
            .expect("the third lint is refused");
        assert_eq!(over.limit, "limits.lint_per_minute");
    }

    #[tokio::test]
    async fn budgets_on_one_shared_store_hold_across_instances() {
        let counters: Arc<dyn CounterStore> = Arc::new(MemoryCounterStore::new());
        let limits = LimitsConfig {
            execute_per_minute: 3,
            ..LimitsConfig::default()
        };
        let instances: Vec<CodeRunners> = (0..2)
            .map(|_| {
                CodeRunners::with_counters(
                    Ok(Arc::new(Ready::new())),
                    None,
                    &limits,
                    Arc::clone(&counters),
                )
            })
            .collect();
        let mut admitted = 0;
        for i in 0..8 {
            admitted += usize::from(instances[i % 2].admit_run("alice").await.unwrap().is_ok());
        }
        assert_eq!(
            admitted, 3,
            "two instances on one store allow the budget once"
        );
    }

    #[tokio::test]
    async fn without_a_sandbox_nothing_is_admitted_and_no_budget_is_spent() {
        let limits = LimitsConfig {
            execute_per_minute: 1,
            lint_per_minute: 1,
            ..LimitsConfig::default()
        };
        let counters: Arc<dyn CounterStore> = Arc::new(MemoryCounterStore::new());
        let down =
            CodeRunners::with_counters(Err("none".into()), None, &limits, Arc::clone(&counters));
        for _ in 0..3 {
            assert!(matches!(
                down.admit_run("alice").await,
                Err(ApiError::SandboxUnavailable(_))
            ));
            assert!(matches!(
                down.admit_lint("alice").await,
                Err(ApiError::SandboxUnavailable(_))
            ));
        }
        let outage = down.outage().expect("no sandbox is an outage");
        assert!(outage.cause.contains("none"), "{outage:?}");
        assert!(outage.fix.contains("bubblewrap"), "{outage:?}");
        // The budgets of one call each are whole: an instance with a sandbox on the same
        // store admits one run and one lint.
        let up = CodeRunners::with_counters(Ok(Arc::new(Ready::new())), None, &limits, counters);
        assert!(up.admit_run("alice").await.unwrap().is_ok());
        assert!(up.admit_lint("alice").await.unwrap().is_ok());
        assert!(up.admit_run("alice").await.unwrap().is_err());
    }

    #[tokio::test]
    async fn an_admission_without_bubblewrap_is_unavailable_not_a_panic() {
        let r = runners(5, 5);
        let run = r.admit_run("alice").await.unwrap().expect("admitted");
        assert!(run.sandbox().is_ok());
        assert!(matches!(run.tools(), Err(ApiError::Unavailable(_))));
        let lint = r.admit_lint("alice").await.unwrap().expect("admitted");
        let request = LintRequest::new(mcp_sandbox::Language::Bash, "echo");
        assert!(matches!(lint.lint(&request), Err(ApiError::Unavailable(_))));
    }
}
