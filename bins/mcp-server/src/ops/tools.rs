//! The tool operations as plain async functions over [`AppState`] and the caller.
//!
//! REST handlers (`routes::tools`, `routes::graph`) and the MCP layer both call these, so rate
//! limits, metrics and audit events are the same whichever way a tool is called. Permission
//! checks are the caller's job (`Allowed<P>` over HTTP, [`crate::auth::authorize`] elsewhere),
//! with the permission of each tool taken from the permission table ([`crate::access`]; the
//! catalog in [`crate::ops::catalog`] names the rule each tool mirrors).
//!
//! The graph operations run to completion, store write and audit event together, even when
//! the caller's future is dropped (a client that hung up); the sandbox tools instead stop their
//! run and audit it as `cancelled` or `abandoned`. See [`crate::completion`].
//!
//! The sandbox is reached only through an admission of [`crate::state::CodeRunners`], which
//! takes one call from the caller's budget: every tool that runs code (`execute`, `test`, and
//! any added later) shares `limits.execute_per_minute`, `lint` has `limits.lint_per_minute`.
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use mcp_audit::{AuditEvent, EventType};
use mcp_graph::{GraphStats, Node, NodeRef, QueryResult, ReadQuery, RelType, Relationship};
use mcp_sandbox::tools::{
    GenerateRequest, Generated, LintReport, LintRequest, TemplateInfo, TestReport, TestRequest,
};
use mcp_sandbox::{ExecRequest, ExecResult, Language, RequestLimits};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::{CallContext, Principal};
use crate::completion::run_to_completion;
use crate::error::ApiError;
use crate::limits::retry_after_secs;
use crate::state::AppState;
use crate::state::runners::OverBudget;

/// `execute` input.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// `python`, `javascript` or `bash`.
    pub language: String,
    /// The program.
    pub code: String,
    /// Bytes for the program's stdin.
    #[serde(default)]
    pub stdin: String,
    /// Limit overrides (`wall_time_ms`, `memory_bytes`, …), each at most the configured maximum.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub limits: RequestLimits,
    /// Extra read-only files in the work dir (relative path → content).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// `execute` output.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecuteResponse {
    /// Exit code 0 and no limit hit.
    pub success: bool,
    /// The language that ran.
    pub language: String,
    /// Lowercase hex SHA-256 of the code (what the audit log records).
    pub code_sha256: String,
    /// What the run did: `stdout`, `stderr`, `exit_code`, `timed_out`, `duration_ms`, ….
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub result: ExecResult,
}

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether `who` is an administrator (`system:admin`): they see why the sandbox is down.
fn is_admin(state: &AppState, who: &Principal) -> bool {
    state.authorizer.as_ref().is_some_and(|a| {
        a.policy()
            .allows(&who.roles, &mcp_rbac::Permission::SYSTEM_ADMIN)
    })
}

/// Maps a sandbox error: bad input 422, busy 503, a sandbox that cannot run this code 503
/// naming the cause and the fix, the rest 500.
pub fn sandbox_error(err: mcp_sandbox::Error) -> ApiError {
    use mcp_sandbox::Error as E;
    let outage = |cause: String, fix: String| {
        ApiError::SandboxUnavailable(Box::new(crate::error::SandboxOutage {
            cause,
            fix,
            detailed: false,
        }))
    };
    match err {
        e @ E::IsolationUnavailable { .. } => outage(
            e.to_string(),
            "make the missing layers available (GET /ready names each with its fix), then \
             restart the server"
                .into(),
        ),
        E::InterpreterMissing { language, path } => {
            let key = match language.as_str() {
                "javascript" => "node",
                "python" => "python",
                "bash" => "bash",
                _ => "<language>",
            };
            outage(
                format!("the {language} interpreter is not at {}", path.display()),
                format!(
                    "install it, or set sandbox.interpreters.{key} to its path, then restart the \
                     server"
                ),
            )
        }
        E::ToolMissing { tool, hint } => outage(format!("{tool} is not available"), hint.into()),
        e @ E::QueueFull { .. } => ApiError::Unavailable(e.to_string()),
        e @ (E::UnknownLanguage(_)
        | E::InvalidFileName { .. }
        | E::InputTooLarge { .. }
        | E::LimitExceedsMaximum { .. }
        | E::InvalidLimit { .. }
        | E::UnknownTemplate(_)
        | E::MissingParameter { .. }
        | E::UnknownParameter { .. }
        | E::InvalidParameter { .. }
        | E::ToolTimedOut { .. }
        | E::ToolRefusedInput { .. }) => ApiError::Unprocessable(e.to_string()),
        other => ApiError::internal(other),
    }
}

/// The error message of the audit event of a run the client cancelled.
pub const CANCELLED: &str = "cancelled by the client";

/// Runs `work` unless `cancelled` completes first; `None` then, and `work` is dropped (for a
/// sandbox run that kills its process tree and frees its slot).
async fn unless_cancelled<T>(
    work: impl Future<Output = T>,
    cancelled: impl Future<Output = ()>,
) -> Option<T> {
    tokio::select! {
        biased;
        () = cancelled => None,
        out = work => Some(out),
    }
}

/// Counts a sandbox run in `mcp_sandbox_queue` while it lives, also when its future is dropped.
struct Queued(prometheus::IntGauge);

impl Queued {
    fn enter(state: &AppState) -> Self {
        state.metrics.sandbox_queue.inc();
        Self(state.metrics.sandbox_queue.clone())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The error message of the audit event of a run whose caller went away (its future was
/// dropped, which killed the run): an HTTP client that closed its connection.
pub const ABANDONED: &str = "the caller went away before the run finished";

/// Records the audit event of a sandbox call whose future is dropped before the run finished
/// (an HTTP client that closed its connection): the run was killed with it and must not go
/// unrecorded. [`Self::finished`] disarms it once the call records its own event.
struct Unfinished {
    state: AppState,
    event: Option<AuditEvent>,
    started: Instant,
}

impl Unfinished {
    /// Arms `event` (stamped, with its details), marked `abandoned`.
    fn arm(state: &AppState, event: AuditEvent) -> Self {
        let event = event
            .with_detail("outcome", "abandoned")
            .with_success(false)
            .with_error_message(ABANDONED);
        Self {
            state: state.clone(),
            event: Some(event),
            started: Instant::now(),
        }
    }

    fn finished(mut self) {
        self.event = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        let Some(event) = self.event.take() else {
            return;
        };
        let elapsed = self.started.elapsed();
        let mut event = event
            .with_timestamp(chrono::Utc::now())
            .with_duration(elapsed);
        if let Some(ms) = event.details.get_mut("duration_ms") {
            *ms = u64::try_from(elapsed.as_millis())
                .unwrap_or(u64::MAX)
                .into();
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let state = self.state.clone();
                runtime.spawn(async move { state.audit(event).await });
            }
            Err(_) => tracing::error!(?event, "audit event of an abandoned run not recorded"),
        }
    }
}

/// A sandbox tool, as its calls are audited: the event type and the action.
type Tool = (EventType, &'static str);
const EXECUTE: Tool = (EventType::CodeExecution, "execute");
const LINT: Tool = (EventType::CodeLint, "lint");
const TEST: Tool = (EventType::CodeTest, "test");

/// The error of a call made with a `cancelled` future that never completes, had it been
/// cancelled all the same.
fn not_cancellable() -> ApiError {
    ApiError::internal("a call that cannot be cancelled was cancelled")
}

/// Makes an error what `who` may see of it (the cause of a sandbox outage: administrators
/// only).
fn shown_to<'a>(state: &'a AppState, who: &'a Principal) -> impl Fn(ApiError) -> ApiError + 'a {
    move |e| e.shown_to(is_admin(state, who))
}

/// Runs `work` (a sandbox call) and audits it. If the call's future is dropped first (a client
/// that hung up), the event is recorded as `abandoned`; if `cancelled` completes first, `work`
/// is dropped (its processes are killed), the event is recorded as `cancelled` and the answer
/// is `Ok(None)`. Otherwise the event is made durable before the outcome is returned, as the
/// answer acknowledges the call (`done`: what to say if it cannot be, for a success and for a
/// failure). `event` makes the call's event from its outcome (`None`: not finished) and its
/// duration; a failure's message is added to it. `finished` sees the outcome first.
async fn audited_run<T, E: std::fmt::Display>(
    state: &AppState,
    ctx: &CallContext,
    event: impl Fn(Option<&Result<T, E>>, Duration) -> AuditEvent,
    work: impl Future<Output = Result<T, E>>,
    cancelled: impl Future<Output = ()>,
    finished: impl FnOnce(Option<&Result<T, E>>),
    done: [&str; 2],
) -> Result<Option<Result<T, E>>, ApiError> {
    let unfinished = Unfinished::arm(state, ctx.stamp(event(None, Duration::ZERO)));
    let started = Instant::now();
    let outcome = unless_cancelled(work, cancelled).await;
    unfinished.finished();
    let elapsed = started.elapsed();
    finished(outcome.as_ref());
    let Some(outcome) = outcome else {
        // Nothing is acknowledged (the client gets no answer), so no need to wait for it.
        let event = cancelled_event(event(None, elapsed));
        state.audit(ctx.stamp(event)).await;
        return Ok(None);
    };
    let mut event = event(Some(&outcome), elapsed);
    if let Err(e) = &outcome {
        event = event.with_success(false).with_error_message(e.to_string());
    }
    let done = if outcome.is_ok() { done[0] } else { done[1] };
    state.audit_durable(ctx.stamp(event), done).await?;
    Ok(Some(outcome))
}

/// `work`, counted in `mcp_sandbox_queue` while it lives.
async fn queued<T>(state: &AppState, work: impl Future<Output = T>) -> T {
    let _queued = Queued::enter(state);
    work.await
}

/// Runs code in the sandbox for `who`: rate-limited per user (the code-run budget), counted in
/// metrics, audited with the code's SHA-256, language, duration and outcome.
pub async fn execute(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: ExecuteRequest,
) -> Result<ExecuteResponse, ApiError> {
    let never = std::future::pending();
    execute_or_cancel(state, who, ctx, input, never)
        .await?
        .ok_or_else(not_cancellable)
}

/// [`execute`], stopped when `cancelled` completes first: the sandbox run is dropped (its
/// processes are killed), the run is audited with outcome `cancelled`, and the answer is
/// `Ok(None)`.
pub async fn execute_or_cancel(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: ExecuteRequest,
    cancelled: impl Future<Output = ()>,
) -> Result<Option<ExecuteResponse>, ApiError> {
    // Awaited in place: a future passed to a function is stored twice (it is the call
    // future's largest part: the MCP tool call holds the largest of these).
    async move {
        let admission = state.runners.admit_run(&who.user_id).await;
        let run = admitted(state, who, ctx, EXECUTE, admission).await?;
        let language: Language = input
            .language
            .parse()
            .map_err(|e: mcp_sandbox::Error| ApiError::Unprocessable(e.to_string()))?;
        let sandbox = run.sandbox()?;
        let code_sha256 = sha256_hex(&input.code);
        // The answer's stdout and stderr fit this as JSON text, whatever the sandbox returns.
        let sandbox_config = &state.config.sandbox;
        let max_output = input
            .limits
            .resolve(&sandbox_config.default_limits, &sandbox_config.max_limits)
            .map_or(sandbox_config.max_limits.max_output_bytes, |l| {
                l.max_output_bytes
            });
        let mut request = ExecRequest::new(language, input.code.clone())
            .with_stdin(input.stdin)
            .with_limits(input.limits);
        for (name, content) in input.files {
            request = request.with_file(name, content);
        }
        // What ran, for the audit log: a digest of the code, stdin and every file.
        let (input_sha256, files, stdin_bytes) = (
            request.input_sha256(),
            request.files.len(),
            request.stdin.len(),
        );
        let label = |outcome: Option<&Result<ExecResult, mcp_sandbox::Error>>| match outcome {
            Some(Ok(r)) if r.success() => ("success", r.exit_code),
            Some(Ok(r)) if r.timed_out => ("timeout", r.exit_code),
            Some(Ok(r)) => ("failure", r.exit_code),
            Some(Err(_)) => ("error", None),
            None => ("cancelled", None),
        };
        let event = |outcome: Option<&Result<ExecResult, mcp_sandbox::Error>>, elapsed| {
            let event = AuditEvent::code_execution(
                who.user_id.clone(),
                language.as_str(),
                &input.code,
                label(outcome).1,
                elapsed,
            )
            .with_detail("input_sha256", input_sha256.clone())
            .with_detail("files", files)
            .with_detail("stdin_bytes", stdin_bytes);
            match outcome {
                // Not finished: the outcome (abandoned or cancelled) is set when it is known.
                None => event,
                Some(_) => event.with_detail("outcome", label(outcome).0),
            }
        };
        let count = |outcome: Option<&Result<ExecResult, mcp_sandbox::Error>>| {
            state
                .metrics
                .executions
                .with_label_values(&[language.as_str(), label(outcome).0])
                .inc();
        };
        // Boxed: the run future is large, and `audited_run` would hold it twice.
        let run = Box::pin(queued(state, sandbox.run(request)));
        let done = ["the code was executed", "the execution failed"];
        let Some(outcome) = audited_run(state, ctx, event, run, cancelled, count, done).await?
        else {
            return Ok(None);
        };
        let mut result = outcome.map_err(sandbox_error)?;
        let limit = crate::auth::violations::limit_kill(&result);
        crate::auth::violations::sandbox_limit_kill(state, ctx, &who.user_id, "execute", limit)
            .await;
        result.fit_json(max_output);
        Ok(Some(ExecuteResponse {
            success: result.success(),
            language: language.as_str().to_owned(),
            code_sha256,
            result,
        }))
    }
    .await
    .map_err(shown_to(state, who))
}

/// The admission of a sandbox call of `tool`, or its refusal, audited: over budget (see
/// [`refused`]), or the sandbox or the counter store unavailable (the tool's event, failed,
/// with outcome `refused` and the reason; 503). A refused call spends no budget.
async fn admitted<A>(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    (kind, action): Tool,
    admission: Result<Result<A, OverBudget>, ApiError>,
) -> Result<A, ApiError> {
    let err = match admission {
        Ok(Ok(admitted)) => return Ok(admitted),
        Ok(Err(over)) => return Err(refused(state, who, ctx, action, over).await),
        Err(err) => err,
    };
    let (reason, message) = match &err {
        ApiError::SandboxUnavailable(outage) => (
            outage.cause.clone(),
            format!(
                "the sandbox cannot run code: {}. Fix: {}",
                outage.cause, outage.fix
            ),
        ),
        other => (other.to_string(), other.to_string()),
    };
    let event = AuditEvent::new(kind)
        .with_user(who.user_id.clone())
        .with_action(action)
        .with_detail("outcome", "refused")
        .with_detail("reason", reason)
        .with_success(false)
        .with_error_message(message);
    state.audit(ctx.stamp(event)).await;
    Err(err)
}

/// Audits a call refused by its budget (`rate_limit_exceeded`, with the tool as the action and
/// the limit's config key) and makes its 429.
async fn refused(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    action: &str,
    over: OverBudget,
) -> ApiError {
    let event = AuditEvent::new(EventType::RateLimitExceeded)
        .with_user(who.user_id.clone())
        .with_action(action.to_owned())
        .with_detail("limit", over.limit);
    state.audit(ctx.stamp(event)).await;
    ApiError::RateLimited {
        retry_after_secs: retry_after_secs(over.wait),
    }
}

/// The audit event of a lint, test or generate call (`kind`, `action`), with `details`.
fn code_event(who: &Principal, (kind, action): Tool, details: serde_json::Value) -> AuditEvent {
    let mut event = AuditEvent::new(kind)
        .with_user(who.user_id.clone())
        .with_action(action.to_owned());
    if let serde_json::Value::Object(map) = details {
        event = event.with_details(map);
    }
    event
}

/// `details` with the call's duration (`duration_ms`) added.
fn timed(mut details: serde_json::Value, elapsed: Duration) -> serde_json::Value {
    details["duration_ms"] = u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .into();
    details
}

/// Lints code (ruff for Python, node --check for JavaScript, shellcheck for Bash).
pub async fn lint(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: LintRequest,
) -> Result<LintReport, ApiError> {
    let never = std::future::pending();
    lint_or_cancel(state, who, ctx, input, never)
        .await?
        .ok_or_else(not_cancellable)
}

/// [`lint`], stopped when `cancelled` completes first (see [`execute_or_cancel`]).
pub async fn lint_or_cancel(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: LintRequest,
    cancelled: impl Future<Output = ()>,
) -> Result<Option<LintReport>, ApiError> {
    // Awaited in place: a future passed to a function is stored twice (it is the call
    // future's largest part: the MCP tool call holds the largest of these).
    async move {
        let admission = state.runners.admit_lint(&who.user_id).await;
        let lint = admitted(state, who, ctx, LINT, admission).await?;
        let linting = lint.lint(&input)?;
        let details = serde_json::json!({
            "language": input.language.as_str(),
            "code_sha256": sha256_hex(&input.code),
        });
        let event = |_: Option<&_>, elapsed| code_event(who, LINT, timed(details.clone(), elapsed));
        let done = ["the code was linted"; 2];
        let linting = Box::pin(linting);
        let report = audited_run(state, ctx, event, linting, cancelled, |_| (), done).await?;
        report.transpose().map_err(sandbox_error)
    }
    .await
    .map_err(shown_to(state, who))
}

/// Runs pytest tests against code in the sandbox.
pub async fn test(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: TestRequest,
) -> Result<TestReport, ApiError> {
    let never = std::future::pending();
    test_or_cancel(state, who, ctx, input, never)
        .await?
        .ok_or_else(not_cancellable)
}

/// [`test()`], stopped when `cancelled` completes first (see [`execute_or_cancel`]).
pub async fn test_or_cancel(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: TestRequest,
    cancelled: impl Future<Output = ()>,
) -> Result<Option<TestReport>, ApiError> {
    // Awaited in place: a future passed to a function is stored twice (it is the call
    // future's largest part: the MCP tool call holds the largest of these).
    async move {
        let admission = state.runners.admit_run(&who.user_id).await;
        let run = admitted(state, who, ctx, TEST, admission).await?;
        let sandbox = run.tools()?;
        let details = serde_json::json!({
            "language": "python",
            "code_sha256": sha256_hex(&input.code),
            "tests_sha256": sha256_hex(&input.tests),
            "input_sha256": input.input_sha256(),
            "files": input.files.len(),
        });
        let event = |_: Option<&_>, elapsed| code_event(who, TEST, timed(details.clone(), elapsed));
        let testing = Box::pin(queued(state, sandbox.test(&input)));
        let done = ["the tests were run"; 2];
        let report = audited_run(state, ctx, event, testing, cancelled, |_| (), done).await?;
        if let Some(Ok(r)) = &report {
            let limit = if r.timed_out {
                Some("wall_time")
            } else {
                r.oom_killed.then_some("memory")
            };
            crate::auth::violations::sandbox_limit_kill(state, ctx, &who.user_id, "test", limit)
                .await;
        }
        report.transpose().map_err(sandbox_error)
    }
    .await
    .map_err(shown_to(state, who))
}

/// `event` marked as a call the client cancelled: failed, outcome `cancelled`.
fn cancelled_event(event: AuditEvent) -> AuditEvent {
    event
        .with_detail("outcome", "cancelled")
        .with_success(false)
        .with_error_message(CANCELLED)
}

/// Renders a code template.
pub async fn generate(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: GenerateRequest,
) -> Result<Generated, ApiError> {
    let generated = state.generator.generate(&input);
    let details = serde_json::json!({ "template": input.template });
    let mut event = code_event(who, (EventType::CodeGeneration, "generate"), details);
    if let Err(e) = &generated {
        event = event.with_success(false).with_error_message(e.to_string());
    }
    state.audit(ctx.stamp(event)).await;
    generated.map_err(sandbox_error)
}

/// The code templates and their parameters.
pub fn templates(state: &AppState) -> Vec<TemplateInfo> {
    state.generator.templates().to_vec()
}

/// `graph_query` input.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphQueryRequest {
    /// A read-only Cypher query (write clauses are refused).
    pub cypher: String,
    /// Values of `$name` placeholders.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Row limit (default 100, at most 10 000).
    #[serde(default, deserialize_with = "integral")]
    pub limit: Option<usize>,
}

/// A count written as an integer or as an integral number such as `5.0` (JSON has one number
/// type, and JSON Schema's `integer` admits both forms).
fn integral<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Integer(usize),
        Number(f64),
    }
    match Option::<Count>::deserialize(de)? {
        None => Ok(None),
        Some(Count::Integer(n)) => Ok(Some(n)),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(Count::Number(f)) if f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&f) => {
            Ok(Some(f as usize))
        }
        Some(Count::Number(f)) => Err(serde::de::Error::custom(format!(
            "expected a non-negative integer, got {f}"
        ))),
    }
}

/// A node reference in requests.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeId {
    /// The node's label.
    pub label: String,
    /// The node's key (unique per label).
    pub key: String,
}

/// `graph_upsert_node` input.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertNode {
    /// The node's label.
    pub label: String,
    /// The node's key (unique per label).
    pub key: String,
    /// Properties to set (a `null` removes the key).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
}

/// `graph_upsert_relationship` input.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertRelationship {
    /// Start node.
    pub from: NodeId,
    /// Relationship type.
    #[serde(rename = "type")]
    pub rel_type: String,
    /// End node.
    pub to: NodeId,
    /// Properties to set.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
}

/// `graph_delete_relationship` input.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRelationship {
    /// Start node.
    pub from: NodeId,
    /// Relationship type.
    #[serde(rename = "type")]
    pub rel_type: String,
    /// End node.
    pub to: NodeId,
}

/// Result of a delete.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    /// Whether the thing existed (and is now gone).
    pub deleted: bool,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Maps a graph error: bad input 422, a refused write clause 422, a query past its timeout or
/// its memory limits 422, store errors by kind.
pub fn graph_error(err: mcp_graph::Error) -> ApiError {
    use mcp_graph::Error as E;
    match err {
        E::Store(e) => e.into(),
        // The query, not the server, is at fault: retrying it would time out again.
        E::Timeout { .. } => ApiError::Unprocessable(format!(
            "{err}: narrow the query (a label, a key, a shorter path, a LIMIT)"
        )),
        other => ApiError::Unprocessable(other.to_string()),
    }
}

/// Owned copies of a call's state, caller and context, for [`run_to_completion`].
fn owned(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
) -> (AppState, Principal, CallContext) {
    (state.clone(), who.clone(), ctx.clone())
}

fn node_ref(id: &NodeId) -> Result<NodeRef, ApiError> {
    NodeRef::parse(&id.label, &id.key).map_err(graph_error)
}

async fn audit_graph(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    kind: EventType,
    action: &str,
    detail: serde_json::Value,
) {
    let event = AuditEvent::new(kind)
        .with_user(who.user_id.clone())
        .with_action(action.to_owned())
        .with_detail("target", detail);
    state.audit(ctx.stamp(event)).await;
}

/// Runs a read-only query. Like every graph operation it runs to completion, audit event
/// included, even if the caller goes away (see [`crate::completion`]).
pub async fn graph_query(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: GraphQueryRequest,
) -> Result<QueryResult, ApiError> {
    let (state, who, ctx) = owned(state, who, ctx);
    run_to_completion(async move { query_now(&state, &who, &ctx, input).await }).await
}

async fn query_now(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: GraphQueryRequest,
) -> Result<QueryResult, ApiError> {
    let graph = state.graph()?;
    let mut query = ReadQuery::new(input.cypher.clone());
    for (name, value) in input.params {
        let value = mcp_graph::Value::new(value).map_err(graph_error)?;
        query = query.param(name, value);
    }
    if let Some(limit) = input.limit {
        query = query.limit(limit);
    }
    let result = graph.query(&query).await;
    let detail = serde_json::json!({ "cypher_sha256": sha256_hex(&input.cypher) });
    audit_graph(state, who, ctx, EventType::GraphQuery, "query", detail).await;
    result.map_err(graph_error)
}

/// Counts of the graph.
pub async fn graph_stats(state: &AppState) -> Result<GraphStats, ApiError> {
    state.graph()?.stats().await.map_err(graph_error)
}

/// Creates or updates a node.
pub async fn graph_upsert_node(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: UpsertNode,
) -> Result<Node, ApiError> {
    let (state, who, ctx) = owned(state, who, ctx);
    run_to_completion(async move { upsert_node_now(&state, &who, &ctx, input).await }).await
}

async fn upsert_node_now(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: UpsertNode,
) -> Result<Node, ApiError> {
    let r = NodeRef::parse(&input.label, &input.key).map_err(graph_error)?;
    let props = mcp_graph::properties_from_json(input.properties).map_err(graph_error)?;
    let node = state
        .graph()?
        .upsert_node(&r.label, &r.key, props)
        .await
        .map_err(graph_error)?;
    let detail = serde_json::json!({ "label": input.label, "key": input.key });
    audit_graph(
        state,
        who,
        ctx,
        EventType::GraphUpsert,
        "upsert_node",
        detail,
    )
    .await;
    Ok(node)
}

/// Creates or updates a relationship (both nodes must exist: 404 otherwise).
pub async fn graph_upsert_relationship(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: UpsertRelationship,
) -> Result<Relationship, ApiError> {
    let (state, who, ctx) = owned(state, who, ctx);
    run_to_completion(async move { upsert_relationship_now(&state, &who, &ctx, input).await }).await
}

async fn upsert_relationship_now(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: UpsertRelationship,
) -> Result<Relationship, ApiError> {
    let (from, to) = (node_ref(&input.from)?, node_ref(&input.to)?);
    let rel_type = RelType::new(input.rel_type.clone()).map_err(graph_error)?;
    let props = mcp_graph::properties_from_json(input.properties).map_err(graph_error)?;
    let rel = state
        .graph()?
        .upsert_relationship(&from, &rel_type, &to, props)
        .await
        .map_err(graph_error)?;
    let detail = serde_json::json!({ "from": input.from, "type": input.rel_type, "to": input.to });
    audit_graph(
        state,
        who,
        ctx,
        EventType::GraphUpsert,
        "upsert_relationship",
        detail,
    )
    .await;
    Ok(rel)
}

/// Deletes a node and its relationships.
pub async fn graph_delete_node(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: NodeId,
) -> Result<Deleted, ApiError> {
    let (state, who, ctx) = owned(state, who, ctx);
    run_to_completion(async move { delete_node_now(&state, &who, &ctx, input).await }).await
}

async fn delete_node_now(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: NodeId,
) -> Result<Deleted, ApiError> {
    let r = node_ref(&input)?;
    let deleted = state.graph()?.delete_node(&r).await.map_err(graph_error)?;
    let detail = serde_json::json!({ "label": input.label, "key": input.key, "existed": deleted });
    audit_graph(
        state,
        who,
        ctx,
        EventType::GraphDelete,
        "delete_node",
        detail,
    )
    .await;
    Ok(Deleted { deleted })
}

/// Deletes one relationship.
pub async fn graph_delete_relationship(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: DeleteRelationship,
) -> Result<Deleted, ApiError> {
    let (state, who, ctx) = owned(state, who, ctx);
    run_to_completion(async move { delete_relationship_now(&state, &who, &ctx, input).await }).await
}

async fn delete_relationship_now(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    input: DeleteRelationship,
) -> Result<Deleted, ApiError> {
    let (from, to) = (node_ref(&input.from)?, node_ref(&input.to)?);
    let rel_type = RelType::new(input.rel_type.clone()).map_err(graph_error)?;
    let deleted = state
        .graph()?
        .delete_relationship(&from, &rel_type, &to)
        .await
        .map_err(graph_error)?;
    let detail = serde_json::json!({
        "from": input.from, "type": input.rel_type, "to": input.to, "existed": deleted
    });
    audit_graph(
        state,
        who,
        ctx,
        EventType::GraphDelete,
        "delete_relationship",
        detail,
    )
    .await;
    Ok(Deleted { deleted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
