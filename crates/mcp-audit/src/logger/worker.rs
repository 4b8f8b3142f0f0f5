//! The background task that moves queued and spilled events into the sink, in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mcp_core::StoreError;
use uuid::Uuid;

use super::spill::{SpilledBatch, read_batch};
use super::{Outcome, Shared, is_permanent};
use crate::event::AuditEvent;

enum Next {
    /// The oldest queued events, taken out of the queue (counted in `in_flight` until stored).
    Queue(Vec<AuditEvent>),
    /// Events read back from the spill file.
    Spill(SpilledBatch),
    Idle,
    Stop,
}

pub(super) async fn run(shared: Arc<Shared>) {
    let mut outage = Outage::new(&shared);
    loop {
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        match next_batch(&shared).await {
            Next::Queue(events) => {
                let mut rejected = deliver(&shared, &events, &mut outage).await;
                let mut state = shared.lock();
                state.in_flight = 0;
                if !state.waiters.is_empty() {
                    for event in &events {
                        if let Some(done) = state.waiters.remove(&event.event_id) {
                            let outcome = match rejected.remove(&event.event_id) {
                                Some(reason) => Outcome::NotStored(reason),
                                None => Outcome::Stored,
                            };
                            let _ = done.send(outcome);
                        }
                    }
                }
            }
            Next::Spill(batch) => {
                for line in &batch.unreadable {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(target: "audit", "unreadable spill file line skipped: {line}");
                }
                let _ = deliver(&shared, &batch.events, &mut outage).await;
                let mut state = shared.lock();
                if let Some(spill) = state.spill.as_mut()
                    && let Err(e) = spill.consume(batch.lines, batch.bytes)
                {
                    let path = spill.path().display();
                    tracing::error!(target: "audit", "truncating spill file {path} failed: {e}");
                }
            }
            Next::Idle => {
                wake.await;
                continue;
            }
            Next::Stop => return,
        }
        shared.progress.notify_waiters();
    }
}

async fn next_batch(shared: &Shared) -> Next {
    if gathers(shared) {
        tokio::time::sleep(Duration::from_millis(shared.config.batch_delay_ms)).await;
    }
    let spill_range = {
        let mut state = shared.lock();
        if !state.queue.is_empty() {
            let n = state.queue.len().min(shared.config.batch_size);
            state.in_flight = n;
            return Next::Queue(state.queue.drain(..n).collect());
        }
        match state.spill.as_ref() {
            Some(spill) if spill.pending() > 0 => {
                let (from, to) = spill.unread();
                (spill.path().to_path_buf(), from, to)
            }
            _ if state.shutdown => return Next::Stop,
            _ => return Next::Idle,
        }
    };
    let (path, from, to) = spill_range;
    let max = shared.config.batch_size;
    let read = tokio::task::spawn_blocking(move || read_batch(&path, from, to, max)).await;
    match read {
        Ok(Ok(batch)) => Next::Spill(batch),
        Ok(Err(e)) => {
            tracing::error!(target: "audit", "reading the spill file failed, retrying: {e}");
            tokio::time::sleep(Duration::from_millis(shared.config.retry_max_ms)).await;
            Next::Spill(SpilledBatch {
                events: Vec::new(),
                lines: 0,
                bytes: 0,
                unreadable: Vec::new(),
            })
        }
        Err(e) => {
            tracing::error!(target: "audit", "spill reader task failed, retrying: {e}");
            Next::Spill(SpilledBatch {
                events: Vec::new(),
                lines: 0,
                bytes: 0,
                unreadable: Vec::new(),
            })
        }
    }
}

/// Whether to let the queued events wait `batch_delay_ms` for more before appending them:
/// there are some, fewer than a full batch, nobody waits for one of them to be stored
/// (`log_durable`), and the logger is not shutting down.
fn gathers(shared: &Shared) -> bool {
    if shared.config.batch_delay_ms == 0 {
        return false;
    }
    let state = shared.lock();
    let queued = state.queue.len();
    queued > 0 && queued < shared.config.batch_size && state.waiters.is_empty() && !state.shutdown
}

/// Stores `events` in order, retrying transient failures with backoff until they succeed.
/// Events the sink refuses for good are reported and skipped (after retrying one by one, so
/// the rest of their batch still gets stored). Returns the refused events' ids with the reason.
async fn deliver(
    shared: &Shared,
    events: &[AuditEvent],
    outage: &mut Outage,
) -> HashMap<Uuid, String> {
    let mut rejected = HashMap::new();
    if events.is_empty() {
        return rejected;
    }
    match append_with_retry(shared, events, outage).await {
        Ok(()) => {}
        Err(err) if events.len() == 1 => {
            reject(shared, &events[0], &err);
            rejected.insert(events[0].event_id, format!("refused by the sink: {err}"));
        }
        Err(_) => {
            for event in events {
                if let Err(err) =
                    append_with_retry(shared, std::slice::from_ref(event), outage).await
                {
                    reject(shared, event, &err);
                    rejected.insert(event.event_id, format!("refused by the sink: {err}"));
                }
            }
        }
    }
    rejected
}

/// Retries until the append succeeds or fails permanently (the permanent error is returned).
async fn append_with_retry(
    shared: &Shared,
    events: &[AuditEvent],
    outage: &mut Outage,
) -> Result<(), StoreError> {
    loop {
        let timeout = Duration::from_millis(shared.config.append_timeout_ms);
        let result = match tokio::time::timeout(timeout, shared.sink.append(events)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(format!(
                "append took longer than {timeout:?}"
            ))),
        };
        match result {
            Ok(_) => {
                outage.recovered();
                return Ok(());
            }
            Err(err) if is_permanent(&err) => {
                outage.recovered();
                return Err(err);
            }
            Err(err) => outage.failed(&err).await,
        }
    }
}

fn reject(shared: &Shared, event: &AuditEvent, err: &StoreError) {
    shared.rejected.fetch_add(1, Ordering::Relaxed);
    tracing::error!(target: "audit", event_id = %event.event_id, "audit sink refused event, skipped: {err}");
}

/// Backoff state across failures, logging once when an outage starts and once when it ends.
struct Outage {
    initial: Duration,
    max: Duration,
    next_wait: Duration,
    failures: u64,
}

impl Outage {
    fn new(shared: &Shared) -> Self {
        let initial = Duration::from_millis(shared.config.retry_initial_ms);
        Self {
            initial,
            max: Duration::from_millis(shared.config.retry_max_ms),
            next_wait: initial,
            failures: 0,
        }
    }

    async fn failed(&mut self, err: &StoreError) {
        if self.failures == 0 {
            tracing::warn!(target: "audit", "audit sink unavailable, events stay queued and will be retried: {err}");
        }
        self.failures += 1;
        tokio::time::sleep(self.next_wait).await;
        self.next_wait = (self.next_wait * 2).min(self.max);
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(target: "audit", failures = self.failures, "audit sink recovered");
        }
        self.failures = 0;
        self.next_wait = self.initial;
    }
}
