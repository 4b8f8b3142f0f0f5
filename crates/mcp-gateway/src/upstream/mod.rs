//! One upstream: its supervisor task (connect, read the catalog, pin, wait, restart with
//! backoff), its catalog, health and counters, and the calls routed to it.

mod client;
mod connect;

pub(crate) use self::connect::{read_ca_file, tls_config};

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotification,
    CancelledNotificationParam, ClientNotification, ClientRequest, GetPromptRequestParams,
    GetPromptResult, JsonObject, PingRequest, ProgressNotificationParam, Prompt,
    ReadResourceRequestParams, ReadResourceResult, RequestId, Resource, ResourceTemplate,
    ServerResult, Tool,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use self::client::{GatewayClient, ProgressRouter};
use self::connect::Connection;
use crate::config::UpstreamConfig;
use crate::event::{EventSink, GatewayEvent};
use crate::launcher::ProcessLauncher;
use crate::pin::{MAX_DEFINITION_LEN, Observation, PinnedDefinition, Pins, validate_tool_name};
use crate::{Error, Redactor};

/// Most tools, resources, templates and prompts read from one upstream (each); the rest is
/// ignored with a warning, so an upstream cannot grow the catalog (and the metrics and
/// permission labels derived from it) without bound.
pub const MAX_CATALOG_ITEMS: usize = 1024;

/// After being up this long, a connection that ends is restarted without backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long an old connection replaced for a new token keeps serving its calls.
const DRAIN: Duration = Duration::from_secs(60);
/// How long a connection that failed a ping is given to close before it is left behind.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The connection state of an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UpstreamState {
    /// Connecting for the first time.
    Starting,
    /// Connected; its catalog is served.
    Up,
    /// Not connected; a reconnection is scheduled.
    Down,
    /// Shut down.
    Stopped,
}

/// Health of one upstream, for `/ready` and metrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpstreamHealth {
    /// The upstream's namespace.
    pub namespace: String,
    /// Its connection state.
    pub state: UpstreamState,
    /// Since when it is in that state.
    pub since: DateTime<Utc>,
    /// Why the last connection ended or failed.
    pub last_error: Option<String>,
    /// Connections made so far (the first included).
    pub connects: u64,
    /// Failed connection attempts and ended connections so far.
    pub failures: u64,
    /// Tools it offers, and how many of them are withheld.
    pub tools: usize,
    /// Tools withheld because their definition changed.
    pub withheld: usize,
    /// Requests routed to it.
    pub calls: u64,
    /// Requests that ended in an error (timeouts and transport failures included; a tool's
    /// own `isError` result is not counted).
    pub errors: u64,
    /// Sum of request durations, in microseconds (with `calls`, the mean latency).
    pub latency_us_total: u64,
}

/// A tool as the upstream offers it, with its pin verdict.
#[derive(Clone, Debug)]
pub(crate) struct CatalogTool {
    pub(crate) tool: Tool,
    pub(crate) definition: PinnedDefinition,
    pub(crate) served: bool,
}

/// What an upstream offers, read at connection and on each change notification.
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) tools: Vec<CatalogTool>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) templates: Vec<ResourceTemplate>,
    pub(crate) prompts: Vec<Prompt>,
}

/// Forwards one progress notification of a call to whoever called.
pub type ProgressCallback =
    Arc<dyn Fn(ProgressNotificationParam) -> BoxFuture<'static, ()> + Send + Sync>;

/// How one request is made.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Overrides the upstream's `call_timeout_ms`.
    pub timeout: Option<Duration>,
    /// Cancelling it cancels the request at the upstream (`notifications/cancelled`).
    /// Dropping the call's future does the same.
    pub cancel: Option<CancellationToken>,
    /// Receives the upstream's progress notifications for this request, in order (with the
    /// upstream's progress token; the caller swaps in its client's own token).
    pub progress: Option<ProgressCallback>,
}

impl std::fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("cancel", &self.cancel.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl CallOptions {
    /// Options with a timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Options with a cancellation token.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Options with a progress callback.
    pub fn with_progress(
        mut self,
        progress: impl Fn(ProgressNotificationParam) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }
}

/// The connection calls use.
struct Session {
    peer: Peer<RoleClient>,
    progress: Arc<ProgressRouter>,
}

struct HealthState {
    state: UpstreamState,
    since: DateTime<Utc>,
    last_error: Option<String>,
    connects: u64,
    failures: u64,
}

/// Everything shared between the supervisor and the calls of one upstream.
pub(crate) struct Upstream {
    pub(crate) config: UpstreamConfig,
    session: RwLock<Option<Arc<Session>>>,
    catalog: RwLock<Arc<Catalog>>,
    health: Mutex<HealthState>,
    calls: AtomicU64,
    errors: AtomicU64,
    latency_us: AtomicU64,
    /// Tells waiters that the first connection attempt is over (either way).
    settled: watch::Sender<bool>,
    changed: Arc<Notify>,
    /// Woken when a request failed at the transport level: the connection is replaced (an
    /// HTTP upstream that restarted lost our session, and its catalog must be read again).
    broken: Notify,
    /// When the upstream last answered a request (a result or a JSON-RPC error): it is pinged
    /// after `ping_interval_ms` of silence.
    last_answer: Mutex<Instant>,
    /// Requests under way: an upstream busy with them is not pinged (a single-threaded server
    /// may not answer a ping while it works on a long call).
    in_flight: AtomicUsize,
}

/// Counts one request under way until dropped (also when the caller gives up).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the supervisor needs besides the upstream itself.
pub(crate) struct Context {
    pub(crate) launcher: Arc<dyn ProcessLauncher>,
    pub(crate) pins: Pins,
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) shutdown: CancellationToken,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `service` in a task of its own: the receiver says why it ended, the token closes it.
fn run(
    service: rmcp::service::RunningService<RoleClient, GatewayClient>,
) -> (tokio::sync::oneshot::Receiver<String>, CancellationToken) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let cancel = service.cancellation_token();
        let waiting = service.waiting();
        tokio::pin!(waiting);
        let quit = tokio::select! {
            quit = &mut waiting => quit,
            () = stopped.cancelled() => {
                cancel.cancel();
                (&mut waiting).await
            }
        };
        let _ = tx.send(match quit {
            Ok(reason) => format!("connection closed ({reason:?})"),
            Err(e) => format!("connection task failed: {e}"),
        });
    });
    (rx, stop)
}

/// Keeps the first [`MAX_CATALOG_ITEMS`] of a listing.
fn cap<T>(namespace: &str, what: &str, items: &mut Vec<T>) {
    if items.len() > MAX_CATALOG_ITEMS {
        tracing::warn!(upstream = %namespace, offered = items.len(), kept = MAX_CATALOG_ITEMS,
            "upstream lists too many {what}; the rest is ignored");
        items.truncate(MAX_CATALOG_ITEMS);
    }
}

/// Sends `notifications/cancelled` for a request unless disarmed (the answer came).
struct CancelGuard {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
    reason: &'static str,
}

impl CancelGuard {
    fn disarm(&mut self) {
        self.id = None;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            let reason = self.reason;
            let notification =
                ClientNotification::CancelledNotification(CancelledNotification::new(
                    CancelledNotificationParam::new(Some(id), Some(reason.to_owned())),
                ));
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = peer.send_notification(notification).await;
                });
            }
        }
    }
}

impl Upstream {
    pub(crate) fn new(config: UpstreamConfig) -> Self {
        Self {
            config,
            session: RwLock::new(None),
            catalog: RwLock::new(Arc::default()),
            health: Mutex::new(HealthState {
                state: UpstreamState::Starting,
                since: Utc::now(),
                last_error: None,
                connects: 0,
                failures: 0,
            }),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency_us: AtomicU64::new(0),
            settled: watch::channel(false).0,
            changed: Arc::new(Notify::new()),
            broken: Notify::new(),
            last_answer: Mutex::new(Instant::now()),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub(crate) fn namespace(&self) -> &str {
        &self.config.namespace
    }

    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&read(&self.catalog))
    }

    /// The catalog while the upstream is up; `None` while it is not (its tools, resources and
    /// prompts are not offered to clients then).
    pub(crate) fn served_catalog(&self) -> Option<Arc<Catalog>> {
        let up = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
            == UpstreamState::Up;
        up.then(|| self.catalog())
    }

    /// Waits until the first connection attempt is over.
    pub(crate) async fn settled(&self) {
        let mut rx = self.settled.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn set_state(&self, state: UpstreamState, error: Option<String>) {
        let mut h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if h.state != state {
            h.state = state;
            h.since = Utc::now();
        }
        match state {
            UpstreamState::Up => h.connects += 1,
            UpstreamState::Down => h.failures += 1,
            _ => {}
        }
        if error.is_some() {
            h.last_error = error;
        }
    }

    pub(crate) fn health(&self) -> UpstreamHealth {
        let h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let catalog = self.catalog();
        UpstreamHealth {
            namespace: self.config.namespace.clone(),
            state: h.state,
            since: h.since,
            last_error: h.last_error.clone(),
            connects: h.connects,
            failures: h.failures,
            tools: catalog.tools.len(),
            withheld: catalog.tools.iter().filter(|t| !t.served).count(),
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency_us_total: self.latency_us.load(Ordering::Relaxed),
        }
    }

    /// Marks `tool` served if the upstream currently offers exactly `hash` (after an approval).
    pub(crate) fn serve_if_offered(&self, tool: &str, hash: &str) {
        let mut catalog = write(&self.catalog);
        if catalog
            .tools
            .iter()
            .any(|t| t.tool.name == tool && t.definition.hash == hash && !t.served)
        {
            let mut next = (**catalog).clone();
            for t in &mut next.tools {
                if t.tool.name == tool && t.definition.hash == hash {
                    t.served = true;
                }
            }
            *catalog = Arc::new(next);
        }
    }

    /// Runs until `ctx.shutdown`: connects, serves, and reconnects with backoff.
    pub(crate) async fn supervise(self: Arc<Self>, ctx: Arc<Context>) {
        let initial = Duration::from_millis(self.config.restart_initial_ms);
        let max = Duration::from_millis(self.config.restart_max_ms);
        let mut delay = initial;
        loop {
            if ctx.shutdown.is_cancelled() {
                break;
            }
            let result = self.connect_and_load(&ctx).await;
            let reason = match result {
                Ok((conn, progress)) => {
                    let started = Instant::now();
                    let reason = self.serve(conn, progress, &ctx).await;
                    if started.elapsed() >= STABLE_AFTER {
                        delay = initial;
                    }
                    reason
                }
                Err(reason) => reason,
            };
            *write(&self.session) = None;
            if ctx.shutdown.is_cancelled() {
                break;
            }
            tracing::warn!(upstream = %self.config.namespace, %reason, retry_in = ?delay, "upstream down");
            self.set_state(UpstreamState::Down, Some(reason.clone()));
            self.settled.send_replace(true);
            ctx.events.emit(GatewayEvent::UpstreamDisconnected {
                namespace: self.config.namespace.clone(),
                reason,
            });
            tokio::select! {
                () = ctx.shutdown.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(max);
        }
        *write(&self.session) = None;
        self.set_state(UpstreamState::Stopped, None);
        self.settled.send_replace(true);
    }

    async fn open(&self, ctx: &Context) -> Result<(Connection, Arc<ProgressRouter>), String> {
        let progress = Arc::new(ProgressRouter::default());
        let handler = GatewayClient {
            progress: Arc::clone(&progress),
            changed: Arc::clone(&self.changed),
        };
        let connect = async {
            match (&self.config.stdio, &self.config.http) {
                (Some(stdio), _) => {
                    connect::stdio(&self.config.namespace, stdio, &*ctx.launcher, handler).await
                }
                (None, Some(http)) => {
                    connect::http(http, self.config.connect_timeout(), handler).await
                }
                (None, None) => Err("no transport configured".to_owned()),
            }
        };
        match tokio::time::timeout(self.config.connect_timeout(), connect).await {
            Ok(Ok(conn)) => Ok((conn, progress)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "no handshake within {:?}",
                self.config.connect_timeout()
            )),
        }
    }

    async fn connect_and_load(
        &self,
        ctx: &Context,
    ) -> Result<(Connection, Arc<ProgressRouter>), String> {
        let (conn, progress) = self.open(ctx).await?;
        let peer = conn.service.peer().clone();
        let loaded =
            tokio::time::timeout(self.config.connect_timeout(), self.load(&peer, ctx)).await;
        match loaded {
            Ok(Ok(())) => {
                ctx.events.emit(GatewayEvent::UpstreamConnected {
                    namespace: self.config.namespace.clone(),
                    tools: self.catalog().tools.len(),
                });
                Ok((conn, progress))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err("listing the catalog timed out".into()),
        }
    }

    /// Reads tools, resources, templates and prompts, pins the tools and installs the catalog.
    async fn load(&self, peer: &Peer<RoleClient>, ctx: &Context) -> Result<(), String> {
        let ns = &self.config.namespace;
        let caps = peer
            .peer_info()
            .map(|i| i.capabilities.clone())
            .unwrap_or_default();
        let listing = |e: ServiceError| format!("listing the catalog failed: {e}");
        let mut catalog = Catalog::default();
        if caps.tools.is_some() {
            let mut tools = peer.list_all_tools().await.map_err(listing)?;
            cap(ns, "tools", &mut tools);
            for tool in tools {
                if validate_tool_name(&tool.name).is_err() {
                    tracing::warn!(upstream = %ns, "tool with an invalid name ignored");
                    continue;
                }
                let definition = PinnedDefinition::of(&tool);
                if definition.text.len() > MAX_DEFINITION_LEN {
                    tracing::warn!(upstream = %ns, tool = %tool.name, "tool definition too large; not served");
                    continue;
                }
                let served = self.pin(ctx, &tool.name, &definition).await?;
                catalog.tools.push(CatalogTool {
                    tool,
                    definition,
                    served,
                });
            }
        }
        if caps.resources.is_some() {
            catalog.resources = peer.list_all_resources().await.map_err(listing)?;
            cap(ns, "resources", &mut catalog.resources);
            catalog.templates = peer.list_all_resource_templates().await.map_err(listing)?;
            cap(ns, "resource templates", &mut catalog.templates);
        }
        if caps.prompts.is_some() {
            catalog.prompts = peer.list_all_prompts().await.map_err(listing)?;
            cap(ns, "prompts", &mut catalog.prompts);
        }
        *write(&self.catalog) = Arc::new(catalog);
        Ok(())
    }

    /// Pins one tool and reports what changed; returns whether to serve it.
    async fn pin(
        &self,
        ctx: &Context,
        tool: &str,
        definition: &PinnedDefinition,
    ) -> Result<bool, String> {
        let ns = &self.config.namespace;
        let observation = ctx
            .pins
            .observe(ns, tool, definition)
            .await
            .map_err(|e| format!("pin store: {e}"))?;
        match &observation {
            Observation::FirstSeen(record) => ctx.events.emit(GatewayEvent::ToolPinned {
                namespace: ns.clone(),
                tool: tool.to_owned(),
                hash: record.approved.hash.clone(),
            }),
            Observation::Changed { record, new: true } => {
                tracing::error!(upstream = %ns, %tool, "tool definition changed; withheld until approved");
                ctx.events.emit(GatewayEvent::DefinitionChanged {
                    namespace: ns.clone(),
                    tool: tool.to_owned(),
                    changed_fields: record.approved.changed_fields(definition),
                    approved: record.approved.clone(),
                    offered: definition.clone(),
                });
            }
            _ => {}
        }
        Ok(observation.serve())
    }

    /// Serves one connection until it ends (or shutdown); returns why it ended.
    async fn serve(
        &self,
        conn: Connection,
        progress: Arc<ProgressRouter>,
        ctx: &Context,
    ) -> String {
        let Connection {
            service,
            mut process,
            token_expires,
        } = conn;
        let mut peer = service.peer().clone();
        *write(&self.session) = Some(Arc::new(Session {
            peer: peer.clone(),
            progress,
        }));
        self.answered();
        self.set_state(UpstreamState::Up, None);
        self.settled.send_replace(true);
        tracing::info!(upstream = %self.config.namespace, "upstream up");
        let (mut ended, mut stop) = run(service);
        let mut token_expires = token_expires;
        let reason = loop {
            let ping_due = async {
                match self.config.ping_interval() {
                    Some(every) => {
                        tokio::time::sleep_until((self.last_answered() + every).into()).await
                    }
                    None => std::future::pending().await,
                }
            };
            let renew = async {
                match token_expires {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = ctx.shutdown.cancelled() => {
                    stop.cancel();
                    let _ = (&mut ended).await;
                    break "shut down".to_owned();
                }
                reason = &mut ended => {
                    break reason.unwrap_or_else(|_| "connection task ended".to_owned());
                }
                () = self.broken.notified() => {
                    stop.cancel();
                    let _ = (&mut ended).await;
                    break "a request failed at the transport level".to_owned();
                }
                () = ping_due => {
                    if self.in_flight.load(Ordering::Relaxed) > 0 {
                        // Busy: its calls show whether it answers; look again an interval later.
                        self.answered();
                        continue;
                    }
                    let timeout = self.config.ping_timeout();
                    let ping = ClientRequest::PingRequest(PingRequest::default());
                    let failed = tokio::select! {
                        () = ctx.shutdown.cancelled() => Some("shut down".to_owned()),
                        answer = tokio::time::timeout(timeout, peer.send_request(ping)) => match answer {
                            // An error answer is an answer: the upstream is alive.
                            Ok(Ok(_) | Err(ServiceError::McpError(_))) => None,
                            Ok(Err(e)) => Some(format!("the ping failed: {e}")),
                            Err(_) => Some(format!("no answer to a ping within {timeout:?}")),
                        },
                    };
                    match failed {
                        None => self.answered(),
                        Some(reason) => {
                            // Closing may wait on the stuck upstream (rmcp deletes an HTTP
                            // session, up to 5 s): mark it down without waiting for that.
                            stop.cancel();
                            let _ = tokio::time::timeout(CLOSE_WAIT, &mut ended).await;
                            break reason;
                        }
                    }
                }
                () = self.changed.notified() => {
                    if let Err(e) = self.load(&peer, ctx).await {
                        tracing::warn!(upstream = %self.config.namespace, error = %e, "catalog refresh failed");
                    }
                }
                () = renew => {
                    // A new access token: open a second connection, switch calls to it, and
                    // close the old one once its calls had time to finish.
                    match self.open(ctx).await {
                        Ok((new_conn, new_progress)) => {
                            peer = new_conn.service.peer().clone();
                            *write(&self.session) = Some(Arc::new(Session {
                                peer: peer.clone(),
                                progress: new_progress,
                            }));
                            token_expires = new_conn.token_expires;
                            let (new_ended, new_stop) = run(new_conn.service);
                            let old_stop = std::mem::replace(&mut stop, new_stop);
                            ended = new_ended;
                            tokio::spawn(async move {
                                tokio::time::sleep(DRAIN).await;
                                old_stop.cancel();
                            });
                            tracing::info!(upstream = %self.config.namespace, "access token renewed");
                        }
                        Err(e) => {
                            stop.cancel();
                            let _ = (&mut ended).await;
                            break format!("renewing the access token failed: {e}");
                        }
                    }
                }
            }
        };
        if let Some(mut p) = process.take() {
            let status = tokio::time::timeout(Duration::from_millis(200), p.wait())
                .await
                .ok()
                .and_then(Result::ok);
            let _ = p.kill().await;
            if let Some(status) = status {
                return format!("{reason}; the process ended: {status}");
            }
        }
        reason
    }

    fn session(&self) -> Result<Arc<Session>, Error> {
        read(&self.session)
            .clone()
            .ok_or_else(|| Error::Unavailable {
                namespace: self.config.namespace.clone(),
                reason: "not connected".into(),
            })
    }

    /// Notes that the upstream answered just now.
    fn answered(&self) {
        *self
            .last_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn busy(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    fn last_answered(&self) -> Instant {
        *self
            .last_answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record<T>(&self, started: Instant, result: &Result<T, Error>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(_) => self.answered(),
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if matches!(e, Error::Upstream { .. }) {
                    self.answered();
                }
            }
        }
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.latency_us.fetch_add(us, Ordering::Relaxed);
    }

    fn map_error(&self, e: ServiceError, redactor: &Redactor) -> Error {
        let namespace = self.config.namespace.clone();
        match e {
            ServiceError::McpError(data) => Error::Upstream {
                namespace,
                code: data.code.0,
                message: redactor.redact_str(&data.message).0.into_owned(),
            },
            ServiceError::TransportClosed => {
                self.broken.notify_waiters();
                Error::Unavailable {
                    namespace,
                    reason: "the connection closed".into(),
                }
            }
            ServiceError::Timeout { timeout } => Error::Timeout {
                namespace,
                after: timeout,
            },
            other => {
                if matches!(other, ServiceError::TransportSend(_)) {
                    self.broken.notify_waiters();
                }
                Error::Transport {
                    namespace,
                    message: redactor.redact_str(&other.to_string()).0.into_owned(),
                }
            }
        }
    }

    /// Calls `tool` (its upstream name) with a timeout, cancellation and progress.
    pub(crate) async fn call_tool(
        &self,
        tool: &str,
        arguments: Option<JsonObject>,
        options: &CallOptions,
        redactor: &Redactor,
    ) -> Result<CallToolResult, Error> {
        let _busy = self.busy();
        let started = Instant::now();
        let result = self
            .call_tool_inner(tool, arguments, options, redactor)
            .await;
        self.record(started, &result);
        result
    }

    async fn call_tool_inner(
        &self,
        tool: &str,
        arguments: Option<JsonObject>,
        options: &CallOptions,
        redactor: &Redactor,
    ) -> Result<CallToolResult, Error> {
        let session = self.session()?;
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = session
            .peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(|e| self.map_error(e, redactor))?;
        let mut progress = options
            .progress
            .as_ref()
            .map(|_| session.progress.subscribe(handle.progress_token.clone()));
        let mut guard = CancelGuard {
            peer: session.peer.clone(),
            id: Some(handle.id.clone()),
            reason: "cancelled by the gateway's caller",
        };
        let timeout = options.timeout.unwrap_or(self.config.call_timeout());
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let cancel = options.cancel.clone().unwrap_or_default();
        let response = handle.await_response();
        tokio::pin!(response);
        let answer = loop {
            tokio::select! {
                biased;
                answer = &mut response => {
                    guard.disarm();
                    // Progress sent just before the answer may still be queued (rmcp handles
                    // notifications in tasks of their own): forward what is there, in order.
                    if let (Some(sub), Some(forward)) = (progress.as_mut(), &options.progress) {
                        tokio::task::yield_now().await;
                        while let Ok(p) = sub.rx.try_recv() {
                            forward(p).await;
                        }
                    }
                    break answer;
                }
                () = cancel.cancelled() => return Err(Error::Cancelled),
                () = &mut deadline => {
                    guard.reason = "request timed out at the gateway";
                    return Err(Error::Timeout {
                        namespace: self.config.namespace.clone(),
                        after: timeout,
                    });
                }
                Some(p) = async {
                    match progress.as_mut() {
                        Some(sub) => sub.rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(forward) = &options.progress {
                        forward(p).await;
                    }
                }
            }
        };
        match answer.map_err(|e| self.map_error(e, redactor))? {
            ServerResult::CallToolResult(result) => Ok(result),
            _ => Err(Error::Transport {
                namespace: self.config.namespace.clone(),
                message: "the upstream answered tools/call with another kind of result".into(),
            }),
        }
    }

    /// Reads a resource by its upstream URI.
    pub(crate) async fn read_resource(
        &self,
        uri: &str,
        options: &CallOptions,
        redactor: &Redactor,
    ) -> Result<ReadResourceResult, Error> {
        let _busy = self.busy();
        let started = Instant::now();
        let session = self.session()?;
        let request = session
            .peer
            .read_resource(ReadResourceRequestParams::new(uri.to_owned()));
        let result = self.bounded(request, options, redactor).await;
        self.record(started, &result);
        result
    }

    /// Gets a prompt by its upstream name.
    pub(crate) async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        options: &CallOptions,
        redactor: &Redactor,
    ) -> Result<GetPromptResult, Error> {
        let _busy = self.busy();
        let started = Instant::now();
        let session = self.session()?;
        let mut params = GetPromptRequestParams::new(name.to_owned());
        params.arguments = arguments;
        let request = session.peer.get_prompt(params);
        let result = self.bounded(request, options, redactor).await;
        self.record(started, &result);
        result
    }

    /// Runs a request future (which sends `notifications/cancelled` when dropped) under the
    /// timeout and cancellation of `options`.
    async fn bounded<T>(
        &self,
        request: impl Future<Output = Result<T, ServiceError>>,
        options: &CallOptions,
        redactor: &Redactor,
    ) -> Result<T, Error> {
        let timeout = options.timeout.unwrap_or(self.config.call_timeout());
        let cancel = options.cancel.clone().unwrap_or_default();
        tokio::select! {
            answer = tokio::time::timeout(timeout, request) => match answer {
                Ok(answer) => answer.map_err(|e| self.map_error(e, redactor)),
                Err(_) => Err(Error::Timeout { namespace: self.config.namespace.clone(), after: timeout }),
            },
            () = cancel.cancelled() => Err(Error::Cancelled),
        }
    }
}
