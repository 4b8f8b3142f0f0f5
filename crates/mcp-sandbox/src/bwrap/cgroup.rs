//! Per-slot cgroup v1 groups (`memory`, `pids`, `cpu`) created under the server's own cgroup.
//!
//! The run's wrapper shell writes its own pid into each group's `cgroup.procs` before it execs
//! bwrap, so every process of the run is accounted from the first instruction.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Limits;

/// A cgroup v1 controller the sandbox uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    pub(crate) const ALL: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpu];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }
}

/// The sandbox's parent group in one controller, or why there is none.
pub(crate) type ParentGroup = Result<PathBuf, String>;

/// Finds (and creates) `<mount>/<own cgroup>/mcp-sandbox-<pid>-<instance>` for `controller`.
/// `instance` tells apart several sandboxes of one process.
pub(crate) fn parent_group(controller: Controller, instance: u64) -> ParentGroup {
    let name = controller.name();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let (mount_root, mount_point) = mountinfo
        .lines()
        .find_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let _source = post.next()?;
            let opts = post.next()?;
            if fstype != "cgroup" || !opts.split(',').any(|o| o == name) {
                return None;
            }
            let f: Vec<&str> = pre.split(' ').collect();
            Some((f.get(3)?.to_string(), f.get(4)?.to_string()))
        })
        .ok_or_else(|| format!("no cgroup v1 `{name}` hierarchy is mounted"))?;
    let own = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let own_path = own
        .lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let ctrls = parts.next()?;
            let path = parts.next()?;
            ctrls
                .split(',')
                .any(|c| c == name)
                .then(|| path.to_string())
        })
        .ok_or_else(|| format!("this process is in no `{name}` cgroup"))?;
    let relative = own_path
        .strip_prefix(mount_root.trim_end_matches('/'))
        .unwrap_or(&own_path)
        .trim_start_matches('/');
    let own_dir = Path::new(&mount_point).join(relative);
    remove_stale_groups(&own_dir);
    let parent = own_dir.join(format!("mcp-sandbox-{}-{instance}", std::process::id()));
    fs::create_dir_all(&parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    Ok(parent)
}

/// Removes `mcp-sandbox-<pid>-*` groups left by a server process that no longer exists (it
/// crashed before it could clean up), killing anything still in them.
fn remove_stale_groups(own_dir: &Path) {
    let Ok(entries) = fs::read_dir(own_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("mcp-sandbox-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        let runs: Vec<PathBuf> = fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        for run in runs.iter().chain(std::iter::once(&dir)) {
            if let Ok(procs) = fs::read_to_string(run.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            let _ = fs::remove_dir(run);
        }
        tracing::warn!(dir = %dir.display(), "removed sandbox cgroups left by a crashed server");
    }
}

/// The groups of one slot, reused by every run of that slot (one uid, one run at a time).
///
/// Creating and removing three cgroups per run cost time on the run's path and leaves offline
/// memory cgroups behind in the kernel; a slot's groups are created once instead. Between runs
/// they are emptied (SIGKILL until no process is left), their page cache is reclaimed
/// (`memory.force_empty`), the peak counter is reset and the limits rewritten when they change.
/// The groups are removed when the slot is dropped.
#[derive(Debug)]
pub(crate) struct SlotCgroup {
    dirs: Vec<(Controller, PathBuf)>,
    /// The limits last written: (memory bytes, processes).
    written: Option<(u64, u64)>,
    /// What a new pids group needs: its parent, the base name, the owner, a generation counter.
    pids_parent: Option<PathBuf>,
    name: String,
    owner: Option<u32>,
    generation: u64,
    /// Replaced pids groups that could not be removed yet.
    retired: Vec<PathBuf>,
    /// `oom_kill` of the memory group when the current run started.
    oom_base: u64,
    /// A run used the groups since they were last reset.
    dirty: bool,
}

/// How close to its memory limit a run's peak counts as having reached it: the kernel charges
/// memory in batches of pages, so a peak at the limit may read a little below it.
const LIMIT_SLACK: u64 = 256 * 1024;

fn write(path: &Path, value: impl ToString) -> std::io::Result<()> {
    fs::write(path, value.to_string())
}

impl SlotCgroup {
    /// Creates one group per available controller (named `name`) and sets the fixed settings.
    pub(crate) fn create(
        parents: &[(Controller, PathBuf)],
        name: &str,
        owner: Option<u32>,
    ) -> std::io::Result<Self> {
        let mut group = SlotCgroup {
            dirs: Vec::new(),
            written: None,
            pids_parent: None,
            name: name.to_string(),
            owner,
            generation: 0,
            retired: Vec::new(),
            oom_base: 0,
            dirty: false,
        };
        for (controller, parent) in parents {
            let dir = parent.join(name);
            fs::create_dir(&dir)?;
            group.dirs.push((*controller, dir.clone()));
            match controller {
                Controller::Memory => {
                    let _ = write(&dir.join("memory.swappiness"), 0);
                }
                Controller::Pids => group.pids_parent = Some(parent.clone()),
                Controller::Cpu => {
                    write(&dir.join("cpu.cfs_period_us"), 100_000)?;
                    write(&dir.join("cpu.cfs_quota_us"), 100_000)?;
                }
            }
            if let Some(uid) = owner {
                // In cgroup v1 a process may move itself into a group whose `cgroup.procs` it
                // can write; the wrapper runs as the slot's uid.
                std::os::unix::fs::chown(dir.join("cgroup.procs"), Some(uid), Some(uid))?;
            }
        }
        Ok(group)
    }

    fn dir(&self, controller: Controller) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, d)| d.as_path())
    }

    /// Readies the (empty) groups for a run with `limits`: writes the limits that changed,
    /// resets the peak-memory counter and remembers the OOM-kill counter.
    pub(crate) fn prepare(&mut self, limits: &Limits) -> std::io::Result<()> {
        let wanted = (limits.memory_bytes, limits.max_processes);
        if let Some(dir) = self.dir(Controller::Memory) {
            if self.written.map(|(m, _)| m) != Some(wanted.0) {
                let mem = dir.join("memory.limit_in_bytes");
                let memsw = dir.join("memory.memsw.limit_in_bytes");
                let has_memsw = memsw.exists();
                // memsw must stay >= the memory limit: raise it first, lower it last (a new
                // group starts with both unlimited, so that is lowering).
                let raising = self.written.is_some_and(|(m, _)| wanted.0 > m);
                if has_memsw && raising {
                    write(&memsw, wanted.0)?;
                }
                write(&mem, wanted.0)?;
                if has_memsw && !raising {
                    write(&memsw, wanted.0)?;
                }
            }
            write(&dir.join("memory.max_usage_in_bytes"), 0)?;
            self.oom_base = self.oom_kills().unwrap_or(0);
        }
        if let Some(dir) = self.dir(Controller::Pids)
            && self.written.map(|(_, p)| p) != Some(wanted.1)
        {
            write(&dir.join("pids.max"), wanted.1)?;
        }
        self.written = Some(wanted);
        self.dirty = true;
        Ok(())
    }

    /// Marks the start of the run's own code (its sandbox may have been started long before):
    /// resets the peak-memory counter and remembers the OOM-kill counter again.
    pub(crate) fn start_run(&mut self) {
        if let Some(dir) = self.dir(Controller::Memory) {
            let _ = write(&dir.join("memory.max_usage_in_bytes"), 0);
            self.oom_base = self.oom_kills().unwrap_or(0);
        }
    }

    /// The `cgroup.procs` files the wrapper joins.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|(_, d)| d.join("cgroup.procs"))
            .collect()
    }

    fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for (_, dir) in &self.dirs {
            if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILLs every process in the groups once; returns whether there was any.
    pub(crate) fn kill_once(&self) -> bool {
        let pids = self.pids();
        for &pid in &pids {
            if pid > 1 {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        !pids.is_empty()
    }

    /// SIGKILLs every process in the groups until they are empty (or ~2 s passed); returns
    /// whether they are empty.
    pub(crate) async fn kill_all(&self) -> bool {
        for _ in 0..1000 {
            if !self.kill_once() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tracing::error!(groups = ?self.dirs, "sandbox cgroup still has processes after SIGKILL");
        false
    }

    /// Empties the groups after a run and reclaims the memory charged to them, so the next run
    /// starts from zero. Returns false if a process survived (the groups must not be reused).
    /// Does nothing if no run used the groups since the last reset.
    pub(crate) async fn reset(&mut self) -> bool {
        if !self.dirty {
            return true;
        }
        if !self.kill_all().await {
            return false;
        }
        // bwrap's monitor exits as soon as the program's status is known, so its PID-namespace
        // init is reaped later by the host's init, and until then it stays charged to pids.current
        // (it is not in cgroup.procs any more). A reused pids group would give the next run fewer
        // processes; a larger pids.max would give it more once the zombie is reaped. So the pids
        // group is replaced by a fresh one whenever something is still charged to it.
        if self.pids_charged() > 0 && self.renew_pids().is_err() {
            return false;
        }
        if let Some(dir) = self.dir(Controller::Memory) {
            let _ = write(&dir.join("memory.force_empty"), 0);
        }
        self.dirty = false;
        true
    }

    fn pids_charged(&self) -> u64 {
        self.dir(Controller::Pids)
            .and_then(|d| fs::read_to_string(d.join("pids.current")).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Swaps the (empty) pids group for a new one; the old one is removed now or later.
    fn renew_pids(&mut self) -> std::io::Result<()> {
        let Some(parent) = &self.pids_parent else {
            return Ok(());
        };
        self.generation += 1;
        let dir = parent.join(format!("{}-{}", self.name, self.generation));
        fs::create_dir(&dir)?;
        let created = (|| {
            if let Some(uid) = self.owner {
                std::os::unix::fs::chown(dir.join("cgroup.procs"), Some(uid), Some(uid))?;
            }
            if let Some((_, processes)) = self.written {
                write(&dir.join("pids.max"), processes)?;
            }
            Ok(())
        })();
        if let Err(e) = created {
            let _ = fs::remove_dir(&dir);
            return Err(e);
        }
        for (controller, old) in &mut self.dirs {
            if *controller == Controller::Pids {
                self.retired.push(std::mem::replace(old, dir.clone()));
            }
        }
        self.retired
            .retain(|old| fs::remove_dir(old).is_err() && old.exists());
        Ok(())
    }

    fn memory_file(&self, file: &str) -> Option<String> {
        fs::read_to_string(self.dir(Controller::Memory)?.join(file)).ok()
    }

    /// Peak memory of the run.
    pub(crate) fn peak_memory(&self) -> Option<u64> {
        self.memory_file("memory.max_usage_in_bytes")?
            .trim()
            .parse()
            .ok()
    }

    fn oom_kills(&self) -> Option<u64> {
        self.memory_file("memory.oom_control").and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
        })
    }

    /// Whether the run's memory reached the group's limit (its peak is within
    /// [`LIMIT_SLACK`] of it): the kernel then reclaims memory to stay under the limit,
    /// dropping the interpreter's own code and libraries from memory and reading them back
    /// again and again. (`memory.failcnt` would say so directly, but stays 0 on the kernels
    /// measured while the run thrashes at the limit.)
    pub(crate) fn memory_limit_reached(&self) -> bool {
        match (self.peak_memory(), self.written) {
            (Some(peak), Some((limit, _))) => peak.saturating_add(LIMIT_SLACK) >= limit,
            _ => false,
        }
    }

    /// Whether the memory cgroup OOM-killed a process during the run.
    pub(crate) fn oom_killed(&self) -> bool {
        self.oom_kills().is_some_and(|n| n > self.oom_base)
    }
}

impl Drop for SlotCgroup {
    /// Kills what is left and removes the groups (best effort: a group whose processes are
    /// still exiting is retried briefly, then left to the next start-up's stale-group sweep).
    fn drop(&mut self) {
        for attempt in 0..50 {
            self.kill_once();
            self.retired
                .retain(|old| fs::remove_dir(old).is_err() && old.exists());
            let mut left = !self.retired.is_empty();
            for (_, dir) in &self.dirs {
                if dir.exists() && fs::remove_dir(dir).is_err() {
                    left = true;
                }
            }
            if !left {
                return;
            }
            if attempt < 49 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        tracing::warn!(groups = ?self.dirs, "could not remove sandbox cgroups");
    }
}
