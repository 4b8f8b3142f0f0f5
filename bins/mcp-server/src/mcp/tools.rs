//! The MCP tools: each one is a tool of the catalog ([`crate::ops::catalog`]), whose rule of the
//! permission table ([`crate::access`]) gives its permission, and runs the same operation
//! ([`crate::ops::tools`]) as the REST route, so rate limits and audit events are those of the
//! REST call.
//!
//! Every tool declares an `outputSchema`, the schema of its result type in [`output`]; its
//! result passes through that type before it is sent, so `structuredContent` conforms.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::handler::server::common::{schema_for_output, schema_for_type};
use rmcp::model::{JsonObject, ProgressNotificationParam, ProgressToken, Tool, ToolAnnotations};
use rmcp::service::Peer;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{output, params};
use crate::access::{Access, Rule};
use crate::auth::{CallContext, Principal};
use crate::error::ApiError;
use crate::ops::catalog::{self, Tool as CatalogTool};
use crate::ops::tools as service;
use crate::state::AppState;

/// One tool of the catalog, with its MCP schemas.
pub struct ToolSpec {
    /// The tool: name, description, rule, hints.
    pub tool: &'static CatalogTool,
    schema: fn() -> Arc<JsonObject>,
    output_schema: fn() -> Arc<JsonObject>,
    conform: fn(Value) -> Result<Value, serde_json::Error>,
}

impl std::fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rule = self.tool.rule;
        write!(f, "{} ({} {})", self.tool.name, rule.method, rule.path)
    }
}

/// The input schema of `T`. MCP requires `"type": "object"` at the top, which schemars leaves
/// out for an enum (`oneOf` of objects); it is added there.
fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let schema = schema_for_type::<T>();
    if schema.contains_key("type") {
        return schema;
    }
    let mut schema = (*schema).clone();
    schema.insert("type".into(), json!("object"));
    Arc::new(schema)
}

macro_rules! tool {
    ($tool:path, $params:ty => $output:ty) => {
        ToolSpec {
            tool: &$tool,
            schema: schema::<$params>,
            output_schema: schema_for_output::<$output>,
            conform: output::conform::<$output>,
        }
    };
}

/// Every tool, in the order of [`catalog::TOOLS`].
pub fn catalog() -> &'static [ToolSpec] {
    use params::*;
    static CATALOG: std::sync::OnceLock<Vec<ToolSpec>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        vec![
            tool!(catalog::EXECUTE_CODE, ExecuteCode => output::Execution),
            tool!(catalog::LINT_CODE, LintCode => output::LintReport),
            tool!(catalog::RUN_TESTS, RunTests => output::TestReport),
            tool!(catalog::GENERATE_CODE, GenerateCode => output::Generated),
            tool!(catalog::LIST_TEMPLATES, NoArguments => output::Templates),
            tool!(catalog::GRAPH_QUERY, GraphQuery => output::QueryResult),
            tool!(catalog::GRAPH_UPSERT_NODE, UpsertNode => output::Node),
            tool!(catalog::GRAPH_UPSERT_RELATIONSHIP, UpsertRelationship => output::Relationship),
            tool!(catalog::GRAPH_DELETE, GraphDelete => output::Deleted),
            tool!(catalog::AUDIT_QUERY, AuditQuery => output::AuditEvents),
        ]
    })
}

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    catalog().iter().find(|t| t.tool.name == name)
}

/// Whether `who` may use something guarded by `rule`, without auditing (for listings).
pub fn visible(state: &AppState, who: &Principal, rule: &Rule) -> bool {
    match &rule.access {
        Access::Public | Access::Authenticated => true,
        Access::Permission(p) => state
            .authorizer
            .as_ref()
            .is_some_and(|a| a.policy().check(&who.roles, p).is_allowed()),
    }
}

impl ToolSpec {
    /// The MCP description of the tool.
    pub fn to_tool(&self) -> Tool {
        let mut annotations = ToolAnnotations::new();
        annotations.read_only_hint = Some(self.tool.read_only);
        annotations.destructive_hint = Some(self.tool.destructive);
        annotations.open_world_hint = Some(false);
        Tool::new(self.tool.name, self.tool.description, (self.schema)())
            .with_raw_output_schema((self.output_schema)())
            .with_annotations(annotations)
    }
}

/// Why a tool call did not produce a result.
#[derive(Debug)]
pub enum CallError {
    /// The arguments do not match the tool's schema (JSON-RPC -32602).
    InvalidArguments(String),
    /// The tool ran and failed (a tool result with `isError`).
    Failed(ApiError),
    /// The client cancelled the call while it ran: its sandbox run was stopped and audited,
    /// and nothing is answered.
    Cancelled,
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

fn parse<P: DeserializeOwned>(tool: &str, args: JsonObject) -> Result<P, CallError> {
    crate::body::from_value(Value::Object(args))
        .map_err(|e| CallError::InvalidArguments(format!("invalid arguments for {tool}: {e}")))
}

/// Converts an MCP input into the service layer's input (same field names, checked by tests).
fn convert<A: Serialize, B: DeserializeOwned>(a: &A) -> Result<B, CallError> {
    serde_json::to_value(a)
        .and_then(serde_json::from_value)
        .map_err(|e| CallError::Failed(ApiError::Unprocessable(e.to_string())))
}

fn to_object<T: Serialize>(value: &T) -> Result<Value, CallError> {
    Ok(serde_json::to_value(value).map_err(ApiError::internal)?)
}

/// Where to send progress notifications for one call.
#[derive(Clone)]
pub struct Progress {
    /// The client.
    pub peer: Peer<RoleServer>,
    /// The token the client put in the request's `_meta`.
    pub token: ProgressToken,
}

impl Progress {
    async fn send(&self, progress: f64, message: &str) {
        let mut param = ProgressNotificationParam::new(self.token.clone(), progress);
        param.message = Some(message.to_owned());
        if let Err(e) = self.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }
}

/// Interval between progress notifications of a running tool.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Runs `work`, sending progress (elapsed milliseconds) at the start, every
/// [`PROGRESS_EVERY`] while it runs, and at the end unless it was cancelled (`Ok(None)`).
async fn with_progress<T, F>(progress: Option<&Progress>, work: F) -> F::Output
where
    F: Future<Output = Result<Option<T>, ApiError>>,
{
    let Some(p) = progress else {
        return work.await;
    };
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64() * 1000.0;
    p.send(0.0, "started").await;
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            out = &mut work => {
                if !matches!(out, Ok(None)) {
                    p.send(elapsed().max(1.0), "finished").await;
                }
                return out;
            }
            _ = tick.tick() => p.send(elapsed(), "running").await,
        }
    }
}

/// The result of a tool that can be cancelled: its output, or [`CallError::Cancelled`].
fn finished<T: Serialize>(out: Result<Option<T>, ApiError>) -> Result<Value, CallError> {
    to_object(&out?.ok_or(CallError::Cancelled)?)
}

/// Runs tool `spec` for `who` (permission already checked) and returns its result as the JSON
/// of its output type (see [`output`]).
///
/// The tools that run code in the sandbox (`execute_code`, `lint_code`, `run_tests`) stop when
/// `cancelled` completes: the run is dropped, which kills its processes, and the call ends with
/// [`CallError::Cancelled`]. The other tools are short store operations and run to the end.
pub async fn call(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    spec: &ToolSpec,
    args: JsonObject,
    progress: Option<&Progress>,
    cancelled: impl Future<Output = ()>,
) -> Result<Value, CallError> {
    let value = run(state, who, ctx, spec, args, progress, cancelled).await?;
    (spec.conform)(value).map_err(|e| {
        CallError::Failed(ApiError::internal(format!(
            "the result of {} does not match its output schema: {e}",
            spec.tool.name
        )))
    })
}

async fn run(
    state: &AppState,
    who: &Principal,
    ctx: &CallContext,
    spec: &ToolSpec,
    args: JsonObject,
    progress: Option<&Progress>,
    cancelled: impl Future<Output = ()>,
) -> Result<Value, CallError> {
    match spec.tool.name {
        "execute_code" => {
            let input: params::ExecuteCode = parse(spec.tool.name, args)?;
            let run = service::execute_or_cancel(state, who, ctx, convert(&input)?, cancelled);
            finished(with_progress(progress, run).await)
        }
        "lint_code" => {
            let input: params::LintCode = parse(spec.tool.name, args)?;
            finished(service::lint_or_cancel(state, who, ctx, convert(&input)?, cancelled).await)
        }
        "run_tests" => {
            let input: params::RunTests = parse(spec.tool.name, args)?;
            let run = service::test_or_cancel(state, who, ctx, convert(&input)?, cancelled);
            finished(with_progress(progress, run).await)
        }
        "generate_code" => {
            let input: params::GenerateCode = parse(spec.tool.name, args)?;
            to_object(&service::generate(state, who, ctx, convert(&input)?).await?)
        }
        "list_templates" => {
            let _: params::NoArguments = parse(spec.tool.name, args)?;
            Ok(json!({ "templates": service::templates(state) }))
        }
        "graph_query" => {
            let input: params::GraphQuery = parse(spec.tool.name, args)?;
            to_object(&service::graph_query(state, who, ctx, convert(&input)?).await?)
        }
        "graph_upsert_node" => {
            let input: params::UpsertNode = parse(spec.tool.name, args)?;
            to_object(&service::graph_upsert_node(state, who, ctx, convert(&input)?).await?)
        }
        "graph_upsert_relationship" => {
            let input: params::UpsertRelationship = parse(spec.tool.name, args)?;
            to_object(&service::graph_upsert_relationship(state, who, ctx, convert(&input)?).await?)
        }
        "graph_delete" => match parse(spec.tool.name, args)? {
            params::GraphDelete::Node { label, key } => {
                let input = service::NodeId { label, key };
                to_object(&service::graph_delete_node(state, who, ctx, input).await?)
            }
            params::GraphDelete::Relationship { from, rel_type, to } => {
                let input = json!({ "from": from, "type": rel_type, "to": to });
                let input = convert(&input)?;
                to_object(&service::graph_delete_relationship(state, who, ctx, input).await?)
            }
        },
        "audit_query" => {
            let input: params::AuditQuery = parse(spec.tool.name, args)?;
            let query: crate::ops::audit::AuditQuery = convert(&input)?;
            let events = crate::ops::audit::query_events(state, query).await?;
            Ok(json!({ "events": events }))
        }
        other => Err(CallError::Failed(ApiError::internal(format!(
            "tool {other} is in the catalog but has no implementation"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_of_the_catalog_has_its_mcp_schemas_in_catalog_order() {
        let names: Vec<&str> = catalog().iter().map(|s| s.tool.name).collect();
        let expected: Vec<&str> = catalog::TOOLS.iter().map(|t| t.name).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn every_tool_input_schema_is_an_object_schema() {
        for spec in catalog() {
            let schema = (spec.schema)();
            let kind = schema.get("type").and_then(Value::as_str);
            assert_eq!(kind, Some("object"), "{spec:?}: {schema:?}");
        }
    }

    #[test]
    fn every_tool_output_schema_is_an_object_schema_with_required_fields() {
        for spec in catalog() {
            let schema = spec.to_tool().output_schema.expect("an output schema");
            let kind = schema.get("type").and_then(Value::as_str);
            assert_eq!(kind, Some("object"), "{spec:?}: {schema:?}");
            let required = schema.get("required").and_then(Value::as_array);
            assert!(
                required.is_some_and(|r| !r.is_empty()),
                "{spec:?}: {schema:?}"
            );
        }
    }

    #[test]
    fn a_result_that_does_not_match_the_output_schema_is_refused() {
        let spec = find("graph_delete").unwrap();
        assert_eq!(
            (spec.conform)(json!({"deleted": true})).unwrap(),
            json!({"deleted": true})
        );
        assert!((spec.conform)(json!({"deleted": "yes"})).is_err());
        assert!((spec.conform)(json!({"result": [1]})).is_err());
    }

    #[test]
    fn mcp_inputs_convert_into_the_service_inputs() {
        let exec: params::ExecuteCode = serde_json::from_value(
            json!({"language": "python", "code": "print(1)", "limits": {"wall_time_ms": 500}}),
        )
        .unwrap();
        let _: service::ExecuteRequest = convert(&exec).unwrap();
        let lint: params::LintCode =
            serde_json::from_value(json!({"language": "bash", "code": "echo"})).unwrap();
        let _: mcp_sandbox::tools::LintRequest = convert(&lint).unwrap();
        let tests: params::RunTests =
            serde_json::from_value(json!({"code": "x = 1", "tests": "def test(): pass"})).unwrap();
        let t: mcp_sandbox::tools::TestRequest = convert(&tests).unwrap();
        assert_eq!(t.module, "solution");
        let generate: params::GenerateCode =
            serde_json::from_value(json!({"template": "t", "parameters": {"a": 1}})).unwrap();
        let _: mcp_sandbox::tools::GenerateRequest = convert(&generate).unwrap();
        let query: params::GraphQuery =
            serde_json::from_value(json!({"cypher": "MATCH (n) RETURN n", "limit": 3})).unwrap();
        let _: service::GraphQueryRequest = convert(&query).unwrap();
        let node: params::UpsertNode =
            serde_json::from_value(json!({"label": "A", "key": "a"})).unwrap();
        let _: service::UpsertNode = convert(&node).unwrap();
        let rel: params::UpsertRelationship = serde_json::from_value(
            json!({"from": {"label": "A", "key": "a"}, "type": "R", "to": {"label": "A", "key": "b"}}),
        )
        .unwrap();
        let _: service::UpsertRelationship = convert(&rel).unwrap();
        let audit: params::AuditQuery = serde_json::from_value(
            json!({"event_type": "authz_denied", "since": "2026-01-01T00:00:00Z", "limit": 5}),
        )
        .unwrap();
        let _: crate::ops::audit::AuditQuery = convert(&audit).unwrap();
    }
}
