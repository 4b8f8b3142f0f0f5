//! Shared helpers of the integration tests.

use std::fs;

use mcp_sandbox::{BwrapSandbox, ExecRequest, ExecResult, Language, Sandbox, SandboxConfig};

/// A sandbox with small limits. `uid_base` must differ between tests (they run in parallel
/// processes) so "no process of the run's uid is left" is checked per test.
/// Fails loudly when the host cannot provide every isolation layer.
pub async fn sandbox(uid_base: u32) -> BwrapSandbox {
    sandbox_with(uid_base, |_| {}).await
}

pub async fn sandbox_with(uid_base: u32, tweak: impl FnOnce(&mut SandboxConfig)) -> BwrapSandbox {
    let mut config = SandboxConfig::default();
    config.uid_base = uid_base;
    config.default_limits.wall_time_ms = 4_000;
    config.default_limits.cpu_time_secs = 3;
    config.default_limits.memory_bytes = 128 * 1024 * 1024;
    config.default_limits.max_processes = 32;
    config.default_limits.max_file_size_bytes = 1024 * 1024;
    config.default_limits.work_dir_bytes = 8 * 1024 * 1024;
    config.default_limits.max_output_bytes = 256 * 1024;
    tweak(&mut config);
    let sandbox = BwrapSandbox::from_config(config)
        .await
        .expect("sandbox starts");
    let probe = sandbox.probe();
    assert!(
        probe.ready && probe.is_full_isolation(),
        "this host does not provide every isolation layer; the tests refuse to pass without them: {}",
        serde_json::to_string_pretty(probe).unwrap()
    );
    sandbox
}

pub async fn run(sandbox: &BwrapSandbox, language: Language, code: &str) -> ExecResult {
    sandbox
        .run(ExecRequest::new(language, code))
        .await
        .expect("run starts")
}

/// Live (not zombie) host processes (uid, pid, name) whose real uid is in
/// `uid_base..uid_base + 16`.
pub fn processes_of_sandbox_uids(uid_base: u32) -> Vec<(u32, u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        // A zombie has exited already; it only waits for its (re)parent to reap it.
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        if let Some(uid) = uid
            && (uid_base..uid_base + 16).contains(&uid)
            && !zombie
        {
            let name = status.lines().next().unwrap_or_default().to_string();
            found.push((uid, pid, name));
        }
    }
    found
}

/// The host is still usable: it can start a process.
pub fn host_is_healthy() {
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", "echo ok"])
        .output()
        .expect("host can still start processes");
    assert_eq!(out.stdout, b"ok\n");
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Like [`processes_of_sandbox_uids`], without the process trees of `sandbox`'s standbys (the
/// sandboxes started ahead of the next runs, which hold no code).
pub fn run_processes(sandbox: &BwrapSandbox, uid_base: u32) -> Vec<(u32, u32, String)> {
    let standbys = sandbox.standby_pids();
    processes_of_sandbox_uids(uid_base)
        .into_iter()
        .filter(|(_, pid, _)| {
            let mut p = *pid;
            for _ in 0..64 {
                if standbys.contains(&p) {
                    return false;
                }
                match parent_of(p) {
                    Some(parent) if parent > 1 => p = parent,
                    _ => break,
                }
            }
            true
        })
        .collect()
}

/// Waits (briefly) until no process of `sandbox`'s runs is left (its standbys aside), then
/// asserts it.
pub async fn assert_no_run_left(sandbox: &BwrapSandbox, uid_base: u32) {
    for _ in 0..100 {
        if run_processes(sandbox, uid_base).is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "processes of the sandbox's runs are still running: {:?}",
        run_processes(sandbox, uid_base)
    );
}

/// Waits (briefly) until no process of the sandbox uids is left at all, standbys included, then
/// asserts it.
pub async fn assert_nothing_left(uid_base: u32) {
    for _ in 0..100 {
        if processes_of_sandbox_uids(uid_base).is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "processes of the sandbox uids are still running: {:?}",
        processes_of_sandbox_uids(uid_base)
    );
}
