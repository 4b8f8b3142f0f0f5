//! Per-run cgroup v1 groups (`memory`, `pids`, `cpu`) created under the server's own cgroup.
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

/// The groups of one run. Removed (after killing what is left) by [`RunCgroup::destroy`].
#[derive(Debug)]
pub(crate) struct RunCgroup {
    dirs: Vec<(Controller, PathBuf)>,
}

fn write(path: &Path, value: impl ToString) -> std::io::Result<()> {
    fs::write(path, value.to_string())
}

impl RunCgroup {
    /// Creates one group per available controller and sets the run's limits in it.
    pub(crate) fn create(
        parents: &[(Controller, PathBuf)],
        name: &str,
        limits: &Limits,
        owner: Option<u32>,
    ) -> std::io::Result<Self> {
        let mut group = RunCgroup { dirs: Vec::new() };
        for (controller, parent) in parents {
            let dir = parent.join(name);
            fs::create_dir(&dir)?;
            group.dirs.push((*controller, dir.clone()));
            match controller {
                Controller::Memory => {
                    write(&dir.join("memory.limit_in_bytes"), limits.memory_bytes)?;
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write(&memsw, limits.memory_bytes)?;
                    }
                    let _ = write(&dir.join("memory.swappiness"), 0);
                }
                Controller::Pids => write(&dir.join("pids.max"), limits.max_processes)?,
                Controller::Cpu => {
                    write(&dir.join("cpu.cfs_period_us"), 100_000)?;
                    write(&dir.join("cpu.cfs_quota_us"), 100_000)?;
                }
            }
            if let Some(uid) = owner {
                // In cgroup v1 a process may move itself into a group whose `cgroup.procs` it
                // can write; the wrapper runs as the run's uid.
                std::os::unix::fs::chown(dir.join("cgroup.procs"), Some(uid), Some(uid))?;
            }
        }
        Ok(group)
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

    /// SIGKILLs every process in the groups until they are empty (or ~2 s passed).
    pub(crate) async fn kill_all(&self) {
        for _ in 0..1000 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                if pid > 1 {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tracing::error!(groups = ?self.dirs, "sandbox cgroup still has processes after SIGKILL");
    }

    fn memory_file(&self, file: &str) -> Option<String> {
        let (_, dir) = self.dirs.iter().find(|(c, _)| *c == Controller::Memory)?;
        fs::read_to_string(dir.join(file)).ok()
    }

    /// Peak memory of the run.
    pub(crate) fn peak_memory(&self) -> Option<u64> {
        self.memory_file("memory.max_usage_in_bytes")?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the memory cgroup OOM-killed a process.
    pub(crate) fn oom_killed(&self) -> bool {
        self.memory_file("memory.oom_control")
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0)
    }

    /// Kills what is left and removes the groups.
    pub(crate) async fn destroy(self) {
        self.kill_all().await;
        for (_, dir) in &self.dirs {
            let mut removed = false;
            for _ in 0..250 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    removed = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if !removed {
                tracing::warn!(dir = %dir.display(), "could not remove sandbox cgroup");
            }
        }
    }
}
