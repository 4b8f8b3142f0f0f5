//! Work that must finish once it has started, even when its caller goes away.
//!
//! actix drops a request's handler when the client closes its connection (HTTP/1 connections
//! do not allow half-closure, so an MCP client can cancel a call by closing it), and an MCP
//! transport drops the calls of a client that leaves. A future dropped between a store write
//! and the append of its audit event would leave the write stored but unaudited: a client could
//! get unaudited writes by hanging up at the right moment. So every operation that changes
//! state or emits an audit event runs through [`run_to_completion`]: on a task of its own, which
//! the caller merely waits for. The sandbox tools are the exception: they stop their run when
//! cancelled and audit it as `cancelled` or `abandoned` (see [`crate::tools::execute_or_cancel`]).
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::error::ApiError;
use crate::request_id;

/// Runs `work` to its end on a task of its own and returns its result; dropping the returned
/// future does not stop `work`. The task keeps the caller's request id and tracing span. A
/// panic in `work` becomes an internal error (500).
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
    let mut work: Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send>> =
        match request_id::current() {
            Some(id) => Box::pin(request_id::scope(id, work)),
            None => Box::pin(work),
        };
    // Much of this work finishes without waiting (an audit event put in the logger's queue, a
    // cached lookup): poll it once right here and hand it to a task of its own only when it has
    // to wait. Either way it is never dropped half-done, because a future can only be dropped
    // between two polls; this saves a task and two wake-ups on every request.
    let first = std::future::poll_fn(|cx| {
        let poll =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.as_mut().poll(cx)));
        Poll::Ready(poll)
    })
    .await;
    match first {
        Ok(Poll::Ready(out)) => return out,
        Ok(Poll::Pending) => {}
        Err(_) => {
            tracing::error!("an operation that runs to completion panicked");
            return Err(ApiError::internal(
                "an operation that runs to completion panicked",
            ));
        }
    }
    let task = tokio::spawn(work);
    match task.await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "an operation that runs to completion failed");
            Err(ApiError::internal(e))
        }
    }
}

/// How many [`run_to_completion`] tasks are running in this process.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts a task in [`RUNNING`] while it lives (also when the runtime drops it).
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

/// Waits (at most `timeout`) until no [`run_to_completion`] task is running, so a process
/// that ends when its client leaves (`mcp-stdio` at the end of stdin) does not cut off the
/// writes and audit events of calls still under way. Returns whether none is left.
pub async fn drain(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = RUNNING.load(Ordering::SeqCst);
        if left == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            tracing::error!(left, "operations still running at exit");
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
