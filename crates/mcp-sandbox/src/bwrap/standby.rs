//! Standbys: sandboxes started ahead of their run, one per free slot, each used by one run of
//! the same shape only (see `docs/sandbox.md`).

use std::sync::atomic::Ordering;

use super::process::Started;
use super::{BwrapSandbox, Job, Slot, lock};
use crate::{ExecRequest, Language, Limits};

/// Counts of how runs got their sandbox, since the sandbox was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SandboxStats {
    /// Runs that took a standby started ahead of them.
    pub runs_from_standby: u64,
    /// Runs whose sandbox was started when they arrived (no standby of their shape was free).
    pub runs_started_cold: u64,
}

/// A sandbox waiting for a run of its shape.
pub(super) struct Standby {
    pub(super) shape: Job,
    pub(super) started: Started,
}

impl Job {
    /// Whether a sandbox started for `self` can run `other`: everything fixed when a sandbox
    /// starts is the same (wall time and output are enforced from outside; files and stdin come
    /// with the go).
    pub(super) fn same_shape(&self, other: &Job) -> bool {
        let fixed = |l: &Limits| Limits {
            wall_time_ms: 0,
            max_output_bytes: 0,
            ..l.clone()
        };
        self.argv == other.argv
            && self.binds == other.binds
            && self.env == other.env
            && fixed(&self.limits) == fixed(&other.limits)
    }

    /// The part of `self` a sandbox is started with.
    pub(super) fn shape(&self) -> Job {
        Job {
            argv: self.argv.clone(),
            files: Vec::new(),
            stdin: Vec::new(),
            limits: self.limits.clone(),
            binds: self.binds.clone(),
            env: self.env.clone(),
            standby: self.standby,
        }
    }
}

impl BwrapSandbox {
    /// Readies every slot for a Python run with the default limits, the most common request.
    pub(super) async fn start_first_standbys(&self) {
        let inner = &self.inner;
        if !inner.config.standby || !inner.probe.ready {
            return;
        }
        let Ok(shape) = self.job_for(&ExecRequest::new(Language::Python, "")) else {
            return;
        };
        let slots: Vec<Slot> = std::mem::take(&mut *lock(&inner.slots));
        for mut slot in slots {
            self.refill(&mut slot, &shape).await;
            lock(&inner.slots).push(slot);
        }
    }

    /// Starts a standby of `shape` in `slot` (whose groups are empty); a failure is logged and
    /// leaves the slot without one.
    pub(super) async fn refill(&self, slot: &mut Slot, shape: &Job) {
        let n = self.inner.counter.fetch_add(1, Ordering::SeqCst);
        let shape = shape.shape();
        match self.start_in_slot(slot, n, &shape).await {
            Ok(started) if started.is_ready() => slot.standby = Some(Standby { shape, started }),
            Ok(_) => tracing::warn!("a standby sandbox ended before it was ready"),
            Err(e) => tracing::warn!(error = %e, "could not start a standby sandbox"),
        }
    }

    /// How runs got their sandbox so far.
    pub fn stats(&self) -> SandboxStats {
        SandboxStats {
            runs_from_standby: self.inner.from_standby.load(Ordering::Relaxed),
            runs_started_cold: self.inner.started_cold.load(Ordering::Relaxed),
        }
    }

    /// Waits until no run is going or waiting and every slot's clean-up (and standby start) is
    /// done.
    pub async fn wait_idle(&self) {
        let all = u32::try_from(self.inner.config.parallelism).unwrap_or(u32::MAX);
        drop(self.inner.gate.acquire_many(all).await);
    }

    /// The host pids of the standby sandboxes' outermost processes (each the root of a process
    /// tree that holds no code yet).
    pub fn standby_pids(&self) -> Vec<u32> {
        lock(&self.inner.slots)
            .iter()
            .filter_map(|s| s.standby.as_ref()?.started.pid())
            .collect()
    }
}

/// Takes the free slot best suited to `job`: one whose standby has its shape, else one without a
/// standby, else any.
pub(super) fn take_slot(slots: &mut Vec<Slot>, job: &Job) -> Option<Slot> {
    let ready = |s: &Slot| s.standby.as_ref().is_some_and(|b| b.shape.same_shape(job));
    let pos = slots
        .iter()
        .rposition(ready)
        .or_else(|| slots.iter().rposition(|s| s.standby.is_none()))
        .or_else(|| slots.len().checked_sub(1))?;
    Some(slots.swap_remove(pos))
}
