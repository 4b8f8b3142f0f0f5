//! Work that must finish once it has started, even when its caller goes away.
//!
//! actix drops a request's handler when the client closes its connection (HTTP/1 connections
//! do not allow half-closure, so an MCP client can cancel a call by closing it), and an MCP
//! transport drops the calls of a client that leaves. A future dropped between a store write
//! and the append of its audit event would leave the write stored but unaudited: a client could
//! get unaudited writes by hanging up at the right moment. So every operation that changes
//! state or emits an audit event runs through [`run_to_completion`]: when its caller goes away
//! mid-way, the rest of it runs on a task of its own. The sandbox tools are the exception: they
//! stop their run when cancelled and audit it as `cancelled` or `abandoned` (see
//! [`crate::ops::tools::execute_or_cancel`]).
//!
//! The HTTP server runs these operations on a runtime that outlives its worker threads, which
//! stop at shutdown (see [`finish_on`]); elsewhere they run on the caller's runtime. A process
//! that ends waits for them with [`drain`].
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::runtime::Handle;
use tracing::Instrument;

use crate::error::ApiError;
use crate::request_id;

/// How long a process that ends waits for operations still under way (see [`drain`]).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

type Work<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send>>;

/// Runs `work` to its end and returns its result; dropping the returned future does not stop
/// `work`, which then goes on by itself (on a task of its own). `work` keeps the caller's
/// request id and tracing span. A panic in `work` becomes an internal error (500).
pub async fn run_to_completion<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let running = Running::enter();
    let work = async move {
        let out = work.await;
        drop(running);
        out
    }
    .instrument(tracing::Span::current());
    let work: Work<T> = match request_id::current() {
        Some(id) => Box::pin(request_id::scope(id, work)),
        None => Box::pin(work),
    };
    // With a runtime from `finish_on` (the HTTP server), the work runs there from the start:
    // the timers and connections it makes belong to that runtime, which outlives the worker
    // threads that stop, with their runtimes, when the server does. (Polled here first, a
    // timer made on a worker's runtime would fail once that runtime shuts down.)
    if let Some(runtime) = finish_runtime() {
        return match runtime.spawn(work).await {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "an operation that runs to completion failed");
                Err(ApiError::internal(e))
            }
        };
    }
    // Otherwise the work is polled right here, in the caller's future, and handed to a task of
    // its own on the caller's runtime only if that future is dropped before the work is done
    // (see `Finish`). It is never dropped half-done, because a future can only be dropped
    // between two polls; and a caller that stays costs no task and no extra wake-up.
    let mut finish = Finish(Some(work));
    std::future::poll_fn(move |cx| {
        let Some(work) = finish.0.as_mut() else {
            return Poll::Ready(Err(ApiError::internal("polled after completion")));
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                finish.0 = None;
                Poll::Ready(out)
            }
            Err(_) => {
                finish.0 = None;
                tracing::error!("an operation that runs to completion panicked");
                Poll::Ready(Err(ApiError::internal(
                    "an operation that runs to completion panicked",
                )))
            }
        }
    })
    .await
}

/// Work under way; when dropped before the work is done, spawns the rest on the current
/// runtime.
struct Finish<T: Send + 'static>(Option<Work<T>>);

impl<T: Send + 'static> Drop for Finish<T> {
    fn drop(&mut self) {
        let Some(work) = self.0.take() else {
            return;
        };
        let rest = async move {
            match AssertUnwindSafe(work).catch_unwind().await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "an operation whose caller went away failed");
                }
                Err(_) => tracing::error!("an operation that runs to completion panicked"),
            }
        };
        match Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(rest)),
            Err(_) => tracing::error!("no runtime to finish an operation on: abandoned"),
        }
    }
}

/// The runtime [`run_to_completion`] runs operations on; `None`: the caller's.
static FINISH_ON: Mutex<Option<Handle>> = Mutex::new(None);

fn finish_runtime() -> Option<Handle> {
    FINISH_ON
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// While the returned guard lives, [`run_to_completion`] runs operations on `runtime` (each
/// on a task of its own) instead of in the caller's future. The HTTP server passes a runtime
/// that lives until [`drain`] is done: its worker threads stop at shutdown and drop the tasks
/// on their runtimes, with the timers and connections made there.
#[must_use = "the runtime is used only while the guard lives"]
pub fn finish_on(runtime: Handle) -> FinishOn {
    let previous = FINISH_ON
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(runtime);
    FinishOn { previous }
}

/// Returned by [`finish_on`]; puts the previous runtime back when dropped.
#[derive(Debug)]
pub struct FinishOn {
    previous: Option<Handle>,
}

impl Drop for FinishOn {
    fn drop(&mut self) {
        *FINISH_ON.lock().unwrap_or_else(PoisonError::into_inner) = self.previous.take();
    }
}

/// How many [`run_to_completion`] operations are under way in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts an operation in [`RUNNING`] while it lives (also when a runtime drops it).
struct Running;

impl Running {
    fn enter() -> Self {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits (at most `timeout`, normally [`DRAIN_TIMEOUT`]) until no [`run_to_completion`]
/// operation is under way, so a process that ends (the HTTP server after its workers stopped,
/// `mcp-stdio` at the end of stdin) does not cut off the writes and audit events of calls whose
/// callers went away. Logs how many it waited for and how many it gave up on. Returns whether
/// none is left.
pub async fn drain(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let at_start = RUNNING.load(Ordering::SeqCst);
    if at_start > 0 {
        tracing::info!(
            running = at_start,
            "waiting for operations under way to finish"
        );
    }
    loop {
        let left = RUNNING.load(Ordering::SeqCst);
        if left == 0 {
            if at_start > 0 {
                tracing::info!(finished = at_start, "operations under way finished");
            }
            return true;
        }
        if Instant::now() >= deadline {
            tracing::error!(
                finished = at_start.saturating_sub(left),
                abandoned = left,
                "operations still running at exit: abandoned"
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_work_finishes_when_its_caller_is_dropped() {
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let flag = Arc::clone(&finished);
        let caller = tokio::spawn(run_to_completion(async move {
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
            Ok(())
        }));
        started_rx.await.expect("the work started");
        caller.abort();
        assert!(caller.await.expect_err("aborted").is_cancelled());
        assert!(drain(Duration::from_secs(10)).await, "still running");
        assert!(
            finished.load(Ordering::SeqCst),
            "the work finished after its caller went away"
        );
    }

    #[tokio::test]
    async fn the_result_and_the_request_id_reach_the_work_and_back() {
        let seen = request_id::scope(
            "r-7".into(),
            run_to_completion(async { Ok(request_id::current()) }),
        )
        .await
        .expect("no error");
        assert_eq!(seen.as_deref(), Some("r-7"));
        let err = run_to_completion(async { Err::<(), _>(ApiError::NotFound("x".into())) }).await;
        assert!(matches!(err, Err(ApiError::NotFound(m)) if m == "x"));
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_an_internal_error() {
        let err = run_to_completion(async {
            if true {
                panic!("boom");
            }
            Ok(())
        })
        .await;
        assert!(matches!(err, Err(ApiError::Internal(_))), "{err:?}");
    }
}
