//! [`Gateway`]: the upstreams together, as one namespaced catalog.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    CallToolResult, GetPromptResult, JsonObject, Prompt, ReadResourceResult, Resource,
    ResourceTemplate, Tool,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;
use crate::event::{EventSink, GatewayEvent, LogSink};
use crate::launcher::{PlainLauncher, ProcessLauncher};
use crate::names;
use crate::pin::memory::MemoryPinStore;
use crate::pin::{PinRecord, PinStore, Pins};
use crate::upstream::{CallOptions, Context, Upstream, UpstreamHealth};
use crate::{Error, RedactionCounts, Redactor};

/// An upstream's answer after redaction, with what was redacted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Redacted<T> {
    /// The answer, secrets replaced and URIs qualified.
    pub value: T,
    /// What each detector replaced (empty when redaction is off for the upstream).
    pub redactions: RedactionCounts,
    /// The upstream's namespace.
    pub namespace: String,
    /// The tool, prompt or resource as the upstream names it.
    pub name: String,
}

/// A tool withheld because its definition changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WithheldTool {
    /// The upstream's namespace.
    pub namespace: String,
    /// The tool's name at the upstream.
    pub tool: String,
    /// SHA-256 of the definition the upstream offers now.
    pub offered_hash: String,
}

/// Builds a [`Gateway`].
#[must_use]
pub struct GatewayBuilder {
    config: GatewayConfig,
    launcher: Option<Arc<dyn ProcessLauncher>>,
    pins: Option<Arc<dyn PinStore>>,
    events: Option<Arc<dyn EventSink>>,
}

impl GatewayBuilder {
    /// How stdio upstreams are started (default: [`PlainLauncher`], no isolation).
    pub fn launcher(mut self, launcher: Arc<dyn ProcessLauncher>) -> Self {
        self.launcher = Some(launcher);
        self
    }

    /// Where pins are kept (default: in memory, lost on restart).
    pub fn pin_store(mut self, store: Arc<dyn PinStore>) -> Self {
        self.pins = Some(store);
        self
    }

    /// Where events go (default: the debug log).
    pub fn events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    /// Validates the configuration and starts one supervisor task per upstream (on the
    /// current tokio runtime). Returns at once; see [`Gateway::ready`].
    pub fn start(self) -> Result<Gateway, Error> {
        self.config.validate()?;
        let redactor = Redactor::from_config(&self.config.redaction)?;
        let ctx = Arc::new(Context {
            launcher: self
                .launcher
                .unwrap_or_else(|| Arc::new(PlainLauncher::new())),
            pins: Pins::new(self.pins.unwrap_or_else(|| Arc::new(MemoryPinStore::new()))),
            events: self.events.unwrap_or_else(|| Arc::new(LogSink)),
            shutdown: CancellationToken::new(),
        });
        let upstreams: BTreeMap<String, Arc<Upstream>> = self
            .config
            .upstreams
            .into_iter()
            .map(|c| (c.namespace.clone(), Arc::new(Upstream::new(c))))
            .collect();
        let tasks = upstreams
            .values()
            .map(|u| tokio::spawn(Arc::clone(u).supervise(Arc::clone(&ctx))))
            .collect();
        Ok(Gateway {
            inner: Arc::new(Inner {
                upstreams,
                redactor,
                ctx,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

struct Inner {
    upstreams: BTreeMap<String, Arc<Upstream>>,
    redactor: Redactor,
    ctx: Arc<Context>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ctx.shutdown.cancel();
    }
}

/// Other MCP servers behind one catalog: tools and prompts named `<namespace>__<name>`,
/// resources `<namespace>+<uri>`; calls routed to their upstream with a timeout, cancellation
/// and progress; tools whose definition changed withheld until approved; results redacted.
///
/// Cheap to clone (one `Arc`). Dropping the last clone stops the upstreams.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field(
                "upstreams",
                &self.inner.upstreams.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn unknown(kind: &'static str, name: &str) -> Error {
    Error::Unknown {
        kind,
        name: name.to_owned(),
    }
}

/// Serializes `value`, lets `f` change the JSON, and reads it back.
fn through_json<T: Serialize + DeserializeOwned>(
    value: T,
    namespace: &str,
    f: impl FnOnce(&mut Value),
) -> Result<T, Error> {
    let transport = |e: serde_json::Error| Error::Transport {
        namespace: namespace.to_owned(),
        message: format!("cannot re-encode the upstream's answer: {e}"),
    };
    let mut json = serde_json::to_value(value).map_err(transport)?;
    f(&mut json);
    serde_json::from_value(json).map_err(transport)
}

/// Qualifies the URIs of resource links and embedded resources (`content` blocks) and of
/// resource contents, so the client can read them through the gateway.
fn qualify_uris(value: &mut Value, namespace: &str) {
    if let Some(Value::Array(items)) = value.get_mut("content") {
        for item in items {
            qualify_block(item, namespace);
        }
    }
    if let Some(Value::Array(messages)) = value.get_mut("messages") {
        for m in messages {
            if let Some(c) = m.get_mut("content") {
                qualify_block(c, namespace);
            }
        }
    }
    if let Some(Value::Array(contents)) = value.get_mut("contents") {
        for c in contents {
            qualify_uri(c, namespace);
        }
    }
}

fn qualify_uri(v: &mut Value, namespace: &str) {
    if let Some(Value::String(uri)) = v.get_mut("uri") {
        *uri = names::qualified_uri(namespace, uri);
    }
}

fn qualify_block(block: &mut Value, namespace: &str) {
    match block.get("type").and_then(Value::as_str) {
        Some("resource_link") => qualify_uri(block, namespace),
        Some("resource") => {
            if let Some(r) = block.get_mut("resource") {
                qualify_uri(r, namespace);
            }
        }
        _ => {}
    }
}

impl Gateway {
    /// A builder for `config`.
    pub fn builder(config: GatewayConfig) -> GatewayBuilder {
        GatewayBuilder {
            config,
            launcher: None,
            pins: None,
            events: None,
        }
    }

    /// Waits until every upstream made its first connection attempt (up or failed), at most
    /// `timeout`; returns whether all of them are up.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let all = futures::future::join_all(self.inner.upstreams.values().map(|u| u.settled()));
        let _ = tokio::time::timeout(timeout, all).await;
        self.health()
            .iter()
            .all(|h| h.state == crate::UpstreamState::Up)
    }

    /// Health of every upstream, sorted by namespace.
    pub fn health(&self) -> Vec<UpstreamHealth> {
        self.inner.upstreams.values().map(|u| u.health()).collect()
    }

    /// The redactor applied to upstream results (the server may reuse it for its own tools
    /// and audit details).
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// The pinning rules and their store.
    pub fn pins(&self) -> &Pins {
        &self.inner.ctx.pins
    }

    fn upstream(&self, namespace: &str) -> Option<&Arc<Upstream>> {
        self.inner.upstreams.get(namespace)
    }

    /// The served tools of every connected upstream, named `<namespace>__<tool>`, with the
    /// rest of their definition as the upstream sent it. Withheld tools are not listed, nor
    /// the tools of an upstream that is not up.
    pub fn list_tools(&self) -> Vec<Tool> {
        let mut out = Vec::new();
        for (ns, u) in &self.inner.upstreams {
            let Some(catalog) = u.served_catalog() else {
                continue;
            };
            for t in catalog.tools.iter().filter(|t| t.served) {
                let mut tool = t.tool.clone();
                tool.name = names::qualified(ns, &t.tool.name).into();
                out.push(tool);
            }
        }
        out
    }

    /// Tools withheld because their definition changed since it was approved.
    pub fn withheld_tools(&self) -> Vec<WithheldTool> {
        let mut out = Vec::new();
        for (ns, u) in &self.inner.upstreams {
            for t in u.catalog().tools.iter().filter(|t| !t.served) {
                out.push(WithheldTool {
                    namespace: ns.clone(),
                    tool: t.tool.name.to_string(),
                    offered_hash: t.definition.hash.clone(),
                });
            }
        }
        out
    }

    /// Splits a qualified tool name into its upstream's namespace and the upstream's tool name
    /// (for the permission check `upstream:<namespace>:<tool>` before [`Gateway::call_tool`]).
    /// [`Error::Unknown`] if no upstream has that namespace.
    pub fn resolve_tool<'a>(&self, name: &'a str) -> Result<(&'a str, &'a str), Error> {
        let (ns, tool) = names::split(name).ok_or_else(|| unknown("tool", name))?;
        self.upstream(ns).ok_or_else(|| unknown("tool", name))?;
        Ok((ns, tool))
    }

    /// Calls a qualified tool. Refuses unknown tools ([`Error::Unknown`]) and withheld ones
    /// ([`Error::Withheld`]) without contacting the upstream; the result is redacted (counts
    /// in [`Redacted::redactions`]) and its resource URIs qualified.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        options: CallOptions,
    ) -> Result<Redacted<CallToolResult>, Error> {
        let (ns, tool) = self.resolve_tool(name)?;
        let upstream = self.upstream(ns).ok_or_else(|| unknown("tool", name))?;
        let catalog = upstream.catalog();
        let entry = catalog
            .tools
            .iter()
            .find(|t| t.tool.name == tool)
            .ok_or_else(|| unknown("tool", name))?;
        if !entry.served {
            return Err(Error::Withheld {
                namespace: ns.to_owned(),
                tool: tool.to_owned(),
            });
        }
        let redactor = &self.inner.redactor;
        let result = upstream
            .call_tool(tool, arguments, &options, redactor)
            .await?;
        self.finish(upstream, tool, result)
    }

    fn finish<T: Serialize + DeserializeOwned>(
        &self,
        upstream: &Upstream,
        name: &str,
        value: T,
    ) -> Result<Redacted<T>, Error> {
        let ns = upstream.namespace();
        let mut redactions = RedactionCounts::default();
        let value = through_json(value, ns, |json| {
            if upstream.config.redact {
                redactions = self.inner.redactor.redact_json(json);
            }
            qualify_uris(json, ns);
        })?;
        Ok(Redacted {
            value,
            redactions,
            namespace: ns.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The resources of every upstream that is up, URIs qualified (`<namespace>+<uri>`).
    pub fn list_resources(&self) -> Vec<Resource> {
        let mut out = Vec::new();
        for (ns, u) in &self.inner.upstreams {
            let Some(catalog) = u.served_catalog() else {
                continue;
            };
            for r in &catalog.resources {
                let mut r = r.clone();
                r.uri = names::qualified_uri(ns, &r.uri);
                out.push(r);
            }
        }
        out
    }

    /// The resource templates of every upstream that is up, qualified like resources.
    pub fn list_resource_templates(&self) -> Vec<ResourceTemplate> {
        let mut out = Vec::new();
        for (ns, u) in &self.inner.upstreams {
            let Some(catalog) = u.served_catalog() else {
                continue;
            };
            for t in &catalog.templates {
                let mut t = t.clone();
                t.uri_template = names::qualified_uri(ns, &t.uri_template);
                out.push(t);
            }
        }
        out
    }

    /// Reads a resource by its qualified URI; the contents are redacted.
    pub async fn read_resource(
        &self,
        uri: &str,
        options: CallOptions,
    ) -> Result<Redacted<ReadResourceResult>, Error> {
        let (ns, inner) = names::split_uri(uri).ok_or_else(|| unknown("resource", uri))?;
        let upstream = self.upstream(ns).ok_or_else(|| unknown("resource", uri))?;
        let result = upstream
            .read_resource(inner, &options, &self.inner.redactor)
            .await?;
        self.finish(upstream, inner, result)
    }

    /// The prompts of every upstream that is up, named `<namespace>__<prompt>`.
    pub fn list_prompts(&self) -> Vec<Prompt> {
        let mut out = Vec::new();
        for (ns, u) in &self.inner.upstreams {
            let Some(catalog) = u.served_catalog() else {
                continue;
            };
            for p in &catalog.prompts {
                let mut p = p.clone();
                p.name = names::qualified(ns, &p.name);
                out.push(p);
            }
        }
        out
    }

    /// Gets a prompt by its qualified name; the messages are redacted.
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        options: CallOptions,
    ) -> Result<Redacted<GetPromptResult>, Error> {
        let (ns, prompt) = names::split(name).ok_or_else(|| unknown("prompt", name))?;
        let upstream = self.upstream(ns).ok_or_else(|| unknown("prompt", name))?;
        if !upstream.catalog().prompts.iter().any(|p| p.name == prompt) {
            return Err(unknown("prompt", name));
        }
        let result = upstream
            .get_prompt(prompt, arguments, &options, &self.inner.redactor)
            .await?;
        self.finish(upstream, prompt, result)
    }

    /// Approves the changed definition `hash` of a withheld tool: the tool is served again
    /// (at once if the upstream still offers that definition) and a
    /// [`GatewayEvent::DefinitionApproved`] is emitted.
    pub async fn approve(
        &self,
        namespace: &str,
        tool: &str,
        hash: &str,
        by: &str,
    ) -> Result<PinRecord, Error> {
        let record = self
            .inner
            .ctx
            .pins
            .approve(namespace, tool, hash, by)
            .await?;
        if let Some(u) = self.upstream(namespace) {
            u.serve_if_offered(tool, hash);
        }
        self.inner
            .ctx
            .events
            .emit(GatewayEvent::DefinitionApproved {
                namespace: namespace.to_owned(),
                tool: tool.to_owned(),
                approved: record.approved.clone(),
                by: by.to_owned(),
            });
        Ok(record)
    }

    /// Rejects the changed definition `hash`: the tool stays withheld while the upstream
    /// offers it; a [`GatewayEvent::DefinitionRejected`] is emitted.
    pub async fn reject(
        &self,
        namespace: &str,
        tool: &str,
        hash: &str,
        by: &str,
    ) -> Result<PinRecord, Error> {
        let record = self
            .inner
            .ctx
            .pins
            .reject(namespace, tool, hash, by)
            .await?;
        self.inner
            .ctx
            .events
            .emit(GatewayEvent::DefinitionRejected {
                namespace: namespace.to_owned(),
                tool: tool.to_owned(),
                hash: hash.to_owned(),
                by: by.to_owned(),
            });
        Ok(record)
    }

    /// Serves again the withheld tools whose offered definition was approved in the store since
    /// (by another process sharing the store, e.g. the `gateway approve` command or another
    /// instance); returns how many. Cheap when nothing is withheld.
    pub async fn sync_decisions(&self) -> Result<usize, Error> {
        let mut served = 0;
        for w in self.withheld_tools() {
            let record = self
                .inner
                .ctx
                .pins
                .store()
                .get(&w.namespace, &w.tool)
                .await?;
            if record.is_some_and(|r| r.approved.hash == w.offered_hash)
                && let Some(u) = self.upstream(&w.namespace)
            {
                u.serve_if_offered(&w.tool, &w.offered_hash);
                served += 1;
            }
        }
        Ok(served)
    }

    /// The namespaces of the configured upstreams, sorted.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.inner.upstreams.keys().map(String::as_str)
    }

    /// Stops every upstream (processes are killed, HTTP sessions closed) and waits for it.
    pub async fn shutdown(&self) {
        self.inner.ctx.shutdown.cancel();
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn resource_uris_in_results_are_qualified() {
        let mut v = json!({
            "content": [
                {"type": "text", "text": "x"},
                {"type": "resource_link", "uri": "file:///a", "name": "a"},
                {"type": "resource", "resource": {"uri": "demo://b", "text": "t"}},
            ],
            "contents": [{"uri": "file:///c", "text": "c"}],
            "messages": [{"role": "user", "content": {"type": "resource", "resource": {"uri": "x://d", "text": ""}}}],
        });
        qualify_uris(&mut v, "fs");
        assert_eq!(v["content"][1]["uri"], "fs+file:///a");
        assert_eq!(v["content"][2]["resource"]["uri"], "fs+demo://b");
        assert_eq!(v["contents"][0]["uri"], "fs+file:///c");
        assert_eq!(v["messages"][0]["content"]["resource"]["uri"], "fs+x://d");
        assert_eq!(v["content"][0]["text"], "x");
    }
}
