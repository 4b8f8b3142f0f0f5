//! [`AuditLogger`]: typed helpers that record audit events without ever failing or stalling
//! the caller.
//!
//! Every event is first written to `tracing` (target `audit`) as one JSON line, then queued.
//! A background tokio task drains the queue into the sink in batches, in order. While the sink
//! fails, events stay queued and the task retries with exponential backoff. When the queue is
//! full, `log` waits at most [`AuditLoggerConfig::enqueue_timeout_ms`] for room and then
//! appends the event to the spill file; from then on newer events also go to the spill file
//! until the task has replayed it, so the sink receives events in exactly the order they were
//! logged (queue, then spill file, then newer events).
//!
//! An event the sink refuses for good ([`StoreError::Invalid`], or [`StoreError::Conflict`]
//! because its `event_id` is already stored) is reported through `tracing` and counted in
//! [`LoggerStats::rejected`], so one bad event cannot block the ones behind it.
//!
//! [`AuditLogger::log_durable`] additionally waits (bounded) until its event is durable: the
//! worker answers the caller once the batch holding the event is appended (or refused for good),
//! and an event that goes to the spill file counts as durable once its line is fsynced.

mod config;
mod spill;
mod worker;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mcp_core::StoreError;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

pub use config::AuditLoggerConfig;
use spill::SpillFile;

use crate::Error;
use crate::chain::ChainReport;
use crate::event::AuditEvent;
use crate::sink::{AuditFilter, AuditSink, StoredEvent};

/// Records audit events: to `tracing` always, and to an [`AuditSink`] when it has one.
///
/// Cheap to clone; clones share the queue and the background writer, which stops once the last
/// clone is dropped and the queue is empty. Call [`flush`](Self::flush) before shutting down.
#[derive(Debug, Clone)]
pub struct AuditLogger {
    shared: Option<Arc<Shared>>,
    _stop: Option<Arc<StopOnDrop>>,
}

/// Counters for metrics, from [`AuditLogger::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerStats {
    /// Events waiting in memory (including the batch being written).
    pub queued: usize,
    /// Events waiting in the spill file.
    pub spilled: usize,
    /// Events lost because the queue was full and there was no usable spill file.
    pub dropped: u64,
    /// Events the sink refused for good (invalid, or already stored).
    pub rejected: u64,
}

struct Shared {
    sink: Arc<dyn AuditSink>,
    config: AuditLoggerConfig,
    state: Mutex<QueueState>,
    /// Wakes the worker: new events or shutdown.
    wake: Notify,
    /// Wakes `flush` and waiting `log` calls: the worker made progress.
    progress: Notify,
    dropped: AtomicU64,
    rejected: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct QueueState {
    queue: VecDeque<AuditEvent>,
    /// Events the worker has taken from the queue and is storing (they still count against
    /// the capacity and as pending until stored).
    in_flight: usize,
    spill: Option<SpillFile>,
    /// Set when the last logger handle is dropped: the worker stops once the queue is empty.
    shutdown: bool,
    /// `log_durable` callers waiting for a queued event, by event id.
    waiters: HashMap<Uuid, oneshot::Sender<Outcome>>,
}

/// What became of an event a `log_durable` caller waits for.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Appended to the sink, or written and fsynced to the spill file.
    Stored,
    /// Will never be stored (refused by the sink, or dropped); the reason.
    NotStored(String),
}

impl QueueState {
    fn spilling(&self) -> bool {
        self.spill.as_ref().is_some_and(|s| s.pending() > 0)
    }

    /// Whether an event may join the queue now: there is room, and nothing waits in the spill
    /// file (which keeps the order of events).
    fn has_room(&self, capacity: usize) -> bool {
        !self.spilling() && self.queued() < capacity
    }

    /// Events in memory: queued, or taken by the worker and not yet stored.
    fn queued(&self) -> usize {
        self.queue.len() + self.in_flight
    }

    fn pending(&self) -> usize {
        self.queued() + self.spill.as_ref().map_or(0, SpillFile::pending)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Every update leaves the queue consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.lock().shutdown = true;
        self.0.wake.notify_one();
    }
}

impl AuditLogger {
    /// A logger that stores events in `sink` through a background task.
    ///
    /// Fails when `config` is invalid, when the spill file cannot be opened, or when called
    /// outside a tokio runtime. Events left in the spill file by an earlier run are replayed
    /// first.
    pub fn new(sink: impl AuditSink + 'static, config: AuditLoggerConfig) -> Result<Self, Error> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let spill = config
            .spill_path
            .as_deref()
            .map(|path| {
                SpillFile::open(path).map_err(|source| Error::Spill {
                    path: path.to_path_buf(),
                    source,
                })
            })
            .transpose()?;
        let shared = Arc::new(Shared {
            sink: Arc::new(sink),
            state: Mutex::new(QueueState {
                queue: VecDeque::with_capacity(config.queue_capacity.min(4096)),
                in_flight: 0,
                spill,
                shutdown: false,
                waiters: HashMap::new(),
            }),
            config,
            wake: Notify::new(),
            progress: Notify::new(),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        runtime.spawn(worker::run(Arc::clone(&shared)));
        Ok(Self {
            _stop: Some(Arc::new(StopOnDrop(Arc::clone(&shared)))),
            shared: Some(shared),
        })
    }

    /// A logger with no sink: events only go to `tracing`. Needs no runtime.
    pub fn without_sink() -> Self {
        Self {
            shared: None,
            _stop: None,
        }
    }

    /// The sink events are stored in, if any.
    pub fn sink(&self) -> Option<&Arc<dyn AuditSink>> {
        self.shared.as_ref().map(|s| &s.sink)
    }

    /// Records `event` and returns its id. Never fails and never returns a sink error; waits
    /// at most the configured enqueue timeout when the queue is full.
    pub async fn log(&self, event: AuditEvent) -> Uuid {
        let event = event.bounded();
        let id = event.event_id;
        emit(&event);
        if let Some(shared) = &self.shared {
            enqueue(shared, event, None).await;
        }
        id
    }

    /// Records `event` like [`log`](Self::log) if that needs no waiting: the queue has room and
    /// nothing waits in the spill file. Otherwise returns `event` untouched (not yet written to
    /// `tracing`), for [`log`](Self::log). Never blocks, so a caller cannot be dropped half-way.
    pub fn try_log(&self, event: AuditEvent) -> Result<Uuid, Box<AuditEvent>> {
        let event = event.bounded();
        let id = event.event_id;
        let Some(shared) = &self.shared else {
            emit(&event);
            return Ok(id);
        };
        let mut state = shared.lock();
        if !state.has_room(shared.config.queue_capacity) {
            return Err(Box::new(event));
        }
        emit(&event);
        state.queue.push_back(event);
        drop(state);
        shared.wake.notify_one();
        Ok(id)
    }

    /// Records `event` like [`log`](Self::log), then waits until it is durable: appended to the
    /// sink, or (when the queue is full) written and fsynced to the spill file. Gives up after
    /// `timeout` with [`Error::DurableTimeout`]; the event then stays queued and is still stored
    /// later, in order. Fails with [`Error::NotStored`] when the sink refuses the event for good
    /// or it is dropped. Without a sink there is nothing to wait for: returns the id at once.
    pub async fn log_durable(&self, event: AuditEvent, timeout: Duration) -> Result<Uuid, Error> {
        let event = event.bounded();
        let id = event.event_id;
        emit(&event);
        let Some(shared) = &self.shared else {
            return Ok(id);
        };
        let start = Instant::now();
        let (tx, rx) = oneshot::channel();
        // Not under the timeout: cancelling `enqueue` could lose the event. It is bounded by
        // the enqueue timeout anyway.
        enqueue(shared, event, Some(tx)).await;
        let remaining = timeout.saturating_sub(start.elapsed());
        match tokio::time::timeout(remaining, rx).await {
            Ok(Ok(Outcome::Stored)) => Ok(id),
            Ok(Ok(Outcome::NotStored(reason))) => Err(Error::NotStored {
                event_id: id,
                reason,
            }),
            // No answer: the worker stopped (runtime shutting down), or a second `log_durable`
            // of the same `event_id` took over the wait.
            Ok(Err(_)) => Err(Error::NotStored {
                event_id: id,
                reason: "the audit writer stopped before storing it".to_owned(),
            }),
            Err(_) => {
                // Nobody waits any more; the event itself stays queued.
                shared.lock().waiters.remove(&id);
                Err(Error::DurableTimeout {
                    event_id: id,
                    waited: start.elapsed(),
                })
            }
        }
    }

    /// Records an authentication attempt; `failure_reason` becomes the error message.
    pub async fn log_authentication(
        &self,
        user_id: &str,
        success: bool,
        ip: Option<IpAddr>,
        failure_reason: Option<&str>,
    ) -> Uuid {
        let mut event = AuditEvent::authentication(user_id, success, ip);
        event.error_message = failure_reason.map(str::to_owned);
        self.log(event).await
    }

    /// Records a permission check: `user_id` asked for `permission` on `resource`. `reason`
    /// (e.g. which role granted it, or why not) goes to `details.reason`.
    pub async fn log_authorization(
        &self,
        user_id: &str,
        resource: &str,
        permission: &str,
        granted: bool,
        reason: Option<&str>,
    ) -> Uuid {
        let mut event = AuditEvent::authorization(user_id, resource, permission, granted);
        if let Some(reason) = reason {
            event = event.with_detail("reason", reason);
        }
        self.log(event).await
    }

    /// Records a sandboxed code run. Only the SHA-256 of `code` is recorded, never the code;
    /// see [`AuditEvent::code_execution`].
    pub async fn log_code_execution(
        &self,
        user_id: &str,
        language: &str,
        code: &str,
        exit_code: Option<i32>,
        duration: Duration,
    ) -> Uuid {
        self.log(AuditEvent::code_execution(
            user_id, language, code, exit_code, duration,
        ))
        .await
    }

    /// Records a security violation; see [`AuditEvent::security_violation`].
    pub async fn log_security_violation(
        &self,
        user_id: Option<&str>,
        violation: &str,
        description: &str,
        ip: Option<IpAddr>,
    ) -> Uuid {
        let event =
            AuditEvent::security_violation(user_id.map(str::to_owned), violation, description)
                .with_ip(ip);
        self.log(event).await
    }

    /// Queries the sink. Sees only stored events: [`flush`](Self::flush) first to include
    /// everything logged so far.
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, Error> {
        let sink = self.sink().ok_or(Error::NoSink)?;
        Ok(sink.query(filter).await?)
    }

    /// Verifies the sink's hash chain.
    pub async fn verify_chain(&self) -> Result<ChainReport, Error> {
        let sink = self.sink().ok_or(Error::NoSink)?;
        Ok(sink.verify_chain().await?)
    }

    /// Waits until every event logged so far is stored, or `timeout` passes
    /// ([`Error::FlushTimeout`], events stay queued). Returns at once without a sink.
    pub async fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            let progress = shared.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let pending = shared.lock().pending();
            if pending == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, progress).await.is_err() {
                let pending = shared.lock().pending();
                if pending == 0 {
                    return Ok(());
                }
                return Err(Error::FlushTimeout {
                    waited: start.elapsed(),
                    pending,
                });
            }
        }
    }

    /// Events logged but not yet stored (in memory plus in the spill file).
    pub fn queue_depth(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.lock().pending())
    }

    /// Queue depths and loss counters, for metrics.
    pub fn stats(&self) -> LoggerStats {
        let Some(shared) = &self.shared else {
            return LoggerStats::default();
        };
        let state = shared.lock();
        LoggerStats {
            queued: state.queued(),
            spilled: state.spill.as_ref().map_or(0, SpillFile::pending),
            dropped: shared.dropped.load(Ordering::Relaxed),
            rejected: shared.rejected.load(Ordering::Relaxed),
        }
    }
}

/// Writes `event` to `tracing` (target `audit`) as one JSON line, the whole message with no
/// extra fields: INFO for successes, WARN for failures. Nothing is serialized when no
/// subscriber takes that target at that level.
fn emit(event: &AuditEvent) {
    if event.success {
        if tracing::enabled!(target: "audit", tracing::Level::INFO) {
            let line = serde_json::to_string(event).unwrap_or_default();
            tracing::info!(target: "audit", "{line}");
        }
    } else if tracing::enabled!(target: "audit", tracing::Level::WARN) {
        let line = serde_json::to_string(event).unwrap_or_default();
        tracing::warn!(target: "audit", "{line}");
    }
}

/// Queues `event` (or spills or drops it); `done` is answered once it is durable or never will be.
async fn enqueue(shared: &Shared, event: AuditEvent, mut done: Option<oneshot::Sender<Outcome>>) {
    let deadline = Instant::now() + Duration::from_millis(shared.config.enqueue_timeout_ms);
    loop {
        let progress = shared.progress.notified();
        tokio::pin!(progress);
        progress.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.has_room(shared.config.queue_capacity) {
                if let Some(done) = done.take() {
                    state.waiters.insert(event.event_id, done);
                }
                state.queue.push_back(event);
                drop(state);
                shared.wake.notify_one();
                return;
            }
            if state.spilling() || Instant::now() >= deadline {
                let outcome = spill_or_drop(shared, &mut state, &event, done.is_some());
                if let Some(done) = done.take() {
                    let _ = done.send(outcome);
                }
                drop(state);
                shared.wake.notify_one();
                return;
            }
        }
        // Queue full and nothing spilled yet: wait (bounded) for the worker to make room.
        let _ = tokio::time::timeout_at(deadline, progress).await;
    }
}

/// `sync`: fsync the spill file after the line, so the event is durable on disk.
fn spill_or_drop(
    shared: &Shared,
    state: &mut QueueState,
    event: &AuditEvent,
    sync: bool,
) -> Outcome {
    let reason = match state.spill.as_mut() {
        Some(spill) => match spill.push(event, sync) {
            Ok(()) => return Outcome::Stored,
            Err(e) => format!("writing spill file {} failed: {e}", spill.path().display()),
        },
        None => "the queue is full and no spill file is configured".to_owned(),
    };
    shared.dropped.fetch_add(1, Ordering::Relaxed);
    tracing::error!(target: "audit", event_id = %event.event_id, "audit event dropped: {reason}");
    Outcome::NotStored(format!("dropped: {reason}"))
}

/// Whether the sink refused these events for good, so retrying them would never succeed.
fn is_permanent(err: &StoreError) -> bool {
    matches!(err, StoreError::Invalid(_) | StoreError::Conflict(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryAuditSink;

    fn event(user: &str) -> AuditEvent {
        AuditEvent::authorization(user, "tools", "tools:read", true)
    }

    // A current-thread runtime: the writer task cannot run (and drain the queue) until the
    // test awaits, so the queue fills up.
    #[tokio::test]
    async fn try_log_queues_while_there_is_room_and_hands_the_event_back_when_full() {
        let logger = AuditLogger::new(
            MemoryAuditSink::new(),
            AuditLoggerConfig::default().queue_capacity(2),
        )
        .unwrap();
        let first = event("a");
        let first_id = first.event_id;
        assert_eq!(logger.try_log(first).unwrap(), first_id);
        logger.try_log(event("b")).unwrap();
        let third = event("c");
        let third_id = third.event_id;
        let back = logger.try_log(third).unwrap_err();
        assert_eq!(back.event_id, third_id);
        assert_eq!(logger.stats().queued, 2);

        // `log` takes the handed-back event once the writer made room.
        logger.log(*back).await;
        logger.flush(Duration::from_secs(5)).await.unwrap();
        let stored = logger
            .sink()
            .unwrap()
            .query(&AuditFilter::new())
            .await
            .unwrap();
        let mut stored: Vec<_> = stored
            .iter()
            .map(|s| (s.seq, s.event.user_id.as_deref()))
            .collect();
        stored.sort();
        assert_eq!(stored, [(1, Some("a")), (2, Some("b")), (3, Some("c"))]);
    }

    #[test]
    fn try_log_without_a_sink_always_succeeds() {
        let logger = AuditLogger::without_sink();
        let e = event("a");
        let id = e.event_id;
        assert_eq!(logger.try_log(e).unwrap(), id);
    }
}
