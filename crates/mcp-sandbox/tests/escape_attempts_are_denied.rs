//! Each test attacks the sandbox one way and asserts that the attack failed and the host is
//! unharmed. They run as root here and in CI; a host that cannot provide every layer makes them
//! fail (see `common::sandbox`), never pass silently.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mcp_sandbox::{ExecRequest, Language, RequestLimits, Sandbox};

use crate::common::{self, assert_no_run_left, assert_nothing_left, host_is_healthy, run, sandbox};

#[tokio::test]
async fn fork_bomb_is_contained_and_leaves_nothing_behind() {
    let s = sandbox(300_000).await;
    let started = Instant::now();
    // Every level waits for the pipeline it started, so the run lasts until the bomb hits the
    // process limit (fork fails with EAGAIN) or the wall time. (In the classic form, where a
    // function returns at once, the script could end before any fork failed, leaving the
    // orphaned tree to the sandbox's clean-up, and nothing to see in the result.)
    let r = run(&s, Language::Bash, ":(){ :|:& wait; };:").await;
    assert!(
        r.stderr.contains("Resource temporarily unavailable") || r.timed_out,
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "{r:?}");
    assert_no_run_left(&s, 300_000).await;
    host_is_healthy();
}

#[tokio::test]
async fn a_slot_reused_after_a_memory_bomb_starts_clean_and_takes_the_next_runs_limits() {
    // One slot, so every run reuses the same cgroups.
    let s = common::sandbox_with(300_352, |c| c.parallelism = 1).await;
    let bomb = "chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))";
    let r = run(&s, Language::Python, bomb).await;
    assert!(r.oom_killed || r.signal == Some(9), "{r:?}");

    let r = run(&s, Language::Python, "print(1)").await;
    assert_eq!(r.stdout, "1\n", "{r:?}");
    assert!(
        !r.oom_killed,
        "the earlier OOM kill leaked into this run: {r:?}"
    );
    let peak = r.peak_memory_bytes.expect("peak memory measured");
    assert!(
        peak < 64 * 1024 * 1024,
        "the earlier run's peak leaked in: {peak}"
    );

    // A lower memory limit than the slot's previous run is enforced.
    let limits = RequestLimits {
        memory_bytes: Some(48 * 1024 * 1024),
        ..Default::default()
    };
    let r = s
        .run(
            ExecRequest::new(
                Language::Python,
                "x = bytearray(96 * 1024 * 1024)\nprint('allocated')",
            )
            .with_limits(limits),
        )
        .await
        .unwrap();
    assert!(r.oom_killed || r.signal == Some(9), "{r:?}");
    assert!(!r.stdout.contains("allocated"), "{r:?}");
    assert!(
        r.peak_memory_bytes
            .is_some_and(|p| p <= 48 * 1024 * 1024 + 4096),
        "{r:?}"
    );
    assert_no_run_left(&s, 300_352).await;
}

#[tokio::test]
async fn memory_bomb_is_killed_at_the_memory_limit() {
    let s = sandbox(300_016).await;
    let r = run(
        &s,
        Language::Python,
        "chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))",
    )
    .await;
    assert!(r.oom_killed || r.signal == Some(9), "{r:?}");
    assert!(!r.timed_out, "{r:?}");
    let peak = r.peak_memory_bytes.expect("peak memory measured");
    assert!(peak <= 128 * 1024 * 1024 + 4096, "peak {peak}");
    assert_no_run_left(&s, 300_016).await;
    host_is_healthy();
}

#[tokio::test]
async fn infinite_loop_is_killed_at_the_wall_time_limit() {
    let s = sandbox(300_032).await;
    let limits = RequestLimits {
        wall_time_ms: Some(1_500),
        ..Default::default()
    };
    let started = Instant::now();
    let r = s
        .run(ExecRequest::new(Language::Python, "while True:\n    pass").with_limits(limits))
        .await
        .unwrap();
    assert!(r.timed_out, "{r:?}");
    assert_eq!(r.signal, Some(9), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{r:?}");
    assert_no_run_left(&s, 300_032).await;
}

#[tokio::test]
async fn cpu_spin_in_many_threads_is_stopped() {
    let s = sandbox(300_048).await;
    let started = Instant::now();
    let r = run(
        &s,
        Language::Javascript,
        r#"const { Worker } = require("worker_threads");
for (let i = 0; i < 8; i++) new Worker("for (;;) {}", { eval: true });
for (;;) {}"#,
    )
    .await;
    assert!(!r.success(), "{r:?}");
    // Killed by the CPU-time rlimit (SIGXCPU/SIGKILL) or the wall-time limit, whichever first.
    assert!(r.timed_out || r.signal.is_some(), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{r:?}");
    assert_no_run_left(&s, 300_048).await;
    host_is_healthy();
}

#[tokio::test]
async fn the_run_is_held_to_its_cpu_file_size_open_file_and_core_rlimits_by_ulimit_or_prlimit() {
    let limits = RequestLimits {
        cpu_time_secs: Some(2),
        max_file_size_bytes: Some(512 * 1000 + 100), // not a whole number of ulimit blocks
        max_open_files: Some(77),
        ..Default::default()
    };
    let show = "while IFS= read -r l; do echo \"$l\"; done < /proc/self/limits";
    for (uid, shell_rlimits) in [(300_368, true), (300_384, false)] {
        let s = common::sandbox_with(uid, |c| c.shell_rlimits = shell_rlimits).await;
        for file_size in [512 * 1000, 512 * 1000 + 100] {
            let limits = RequestLimits {
                max_file_size_bytes: Some(file_size),
                ..limits.clone()
            };
            let r = s
                .run(ExecRequest::new(Language::Bash, show).with_limits(limits))
                .await
                .unwrap();
            let row = |name: &str| {
                r.stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|rest| {
                        rest.split_whitespace()
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
            };
            assert_eq!(row("Max cpu time").as_deref(), Some("2 3"), "{r:?}");
            let size = format!("{file_size} {file_size}");
            assert_eq!(row("Max file size"), Some(size), "{r:?}");
            assert_eq!(row("Max open files").as_deref(), Some("77 77"), "{r:?}");
            assert_eq!(row("Max core file size").as_deref(), Some("0 0"), "{r:?}");
        }
    }
}

#[tokio::test]
async fn writing_a_huge_file_is_stopped_at_the_file_size_limit() {
    let s = sandbox(300_064).await;
    let r = run(
        &s,
        Language::Bash,
        "head -c 104857600 /dev/zero > /work/big; echo \"exit=$?\"; stat -c %s /work/big",
    )
    .await;
    assert!(
        r.stderr.contains("File too large") || r.stdout.contains("exit=153"),
        "{r:?}"
    );
    let size: u64 = r
        .stdout
        .lines()
        .last()
        .unwrap_or("0")
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(size <= 1024 * 1024, "file grew to {size}: {r:?}");
    // The same through Python, which ignores SIGXFSZ and gets EFBIG instead.
    let r = run(
        &s,
        Language::Python,
        "open('/work/big', 'wb').write(b'x' * (50 << 20))",
    )
    .await;
    assert!(r.stderr.contains("File too large"), "{r:?}");
    host_is_healthy();
}

#[tokio::test]
async fn writing_outside_the_work_dir_fails_and_the_host_is_untouched() {
    let s = sandbox(300_080).await;
    let host_dir = tempfile::tempdir().unwrap();
    let target = host_dir.path().join("pwned");
    let code = format!(
        r#"for p in /pwned /etc/pwned /usr/pwned /usr/local/pwned /bin/pwned /proc/pwned {target}; do
  if echo x > "$p" 2>/dev/null; then echo "WROTE $p"; fi
done
mkdir -p {dir} 2>/dev/null && echo x > {target} && echo "inside-only {target}"
true"#,
        target = target.display(),
        dir = host_dir.path().display()
    );
    let r = run(&s, Language::Bash, &code).await;
    assert!(!r.stdout.contains("WROTE"), "{r:?}");
    assert!(!target.exists(), "the sandbox wrote to the host: {r:?}");
    assert_eq!(std::fs::read_dir(host_dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn reading_etc_shadow_fails() {
    let s = sandbox(300_096).await;
    let r = run(&s, Language::Python, "print(open('/etc/shadow').read())").await;
    assert_ne!(r.exit_code, Some(0), "{r:?}");
    assert!(r.stderr.contains("No such file"), "{r:?}");
    assert!(!r.stdout.contains("root:"), "{r:?}");
}

#[tokio::test]
async fn reading_the_servers_config_file_fails() {
    let s = sandbox(300_112).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "jwt_secret = \"config-secret-7d1f\"\n").unwrap();
    let code = format!(
        "cat {} ; grep -rs \"config-secret-$(echo 7d1f)\" /etc /tmp /work /run /var 2>/dev/null; echo done",
        config.display()
    );
    let r = run(&s, Language::Bash, &code).await;
    assert!(!r.stdout.contains("config-secret-7d1f"), "{r:?}");
    assert!(r.stderr.contains("No such file"), "{r:?}");
    assert!(r.stdout.ends_with("done\n"), "{r:?}");
}

#[tokio::test]
async fn proc_1_environ_holds_no_server_environment() {
    let s = sandbox(300_128).await;
    let r = run(
        &s,
        Language::Bash,
        "tr '\\0' '\\n' < /proc/1/environ; echo ---; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done",
    )
    .await;
    // Whatever is readable is the sandbox's own, cleared environment.
    for leaked in ["CARGO", "RUST", "NEXTEST", "HOSTNAME", "/root"] {
        assert!(!r.stdout.contains(leaked), "{leaked} leaked: {r:?}");
    }
}

/// The name the test binary gives test `name` of this module, for `--exact` (module path
/// without the crate, then the function).
fn test_path(name: &str) -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    }
}

/// Runs `secret_env_child_sees_no_secret` in a child process that holds a secret in its
/// environment (the test process cannot set one itself: `set_var` is unsafe and unsafe code is
/// forbidden).
#[tokio::test]
async fn environment_secret_of_the_server_is_not_visible() {
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg(test_path("secret_env_child_sees_no_secret"))
        .args(["--exact", "--ignored", "--nocapture"])
        .env("MCP_SANDBOX_TEST_SECRET", "env-secret-51a9c3")
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[tokio::test]
#[ignore = "run by environment_secret_of_the_server_is_not_visible with a secret in its environment"]
async fn secret_env_child_sees_no_secret() {
    assert_eq!(
        std::env::var("MCP_SANDBOX_TEST_SECRET").as_deref(),
        Ok("env-secret-51a9c3"),
        "the parent test sets the secret"
    );
    let s = sandbox(300_144).await;
    let r = run(
        &s,
        Language::Bash,
        "env; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done; echo \"[$MCP_SANDBOX_TEST_SECRET]\"",
    )
    .await;
    assert!(!r.stdout.contains("env-secret-51a9c3"), "{r:?}");
    assert!(r.stdout.contains("[]"), "{r:?}");
    let r = run(
        &s,
        Language::Python,
        "import os; print(os.environ.get('MCP_SANDBOX_TEST_SECRET'))",
    )
    .await;
    assert_eq!(r.stdout, "None\n", "{r:?}");
    let r = run(
        &s,
        Language::Javascript,
        "console.log(process.env.MCP_SANDBOX_TEST_SECRET)",
    )
    .await;
    assert_eq!(r.stdout, "undefined\n", "{r:?}");
}

#[tokio::test]
async fn tcp_connection_to_a_host_loopback_listener_fails() {
    let s = sandbox(300_160).await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        r#"import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    print("CONNECTED")
except OSError as e:
    print("refused", e)"#
    );
    let r = run(&s, Language::Python, &code).await;
    assert!(r.stdout.starts_with("refused"), "{r:?}");
    let r = run(
        &s,
        Language::Bash,
        &format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED"),
    )
    .await;
    assert!(!r.stdout.contains("CONNECTED"), "{r:?}");
    let r = run(
        &s,
        Language::Javascript,
        &format!(
            "require('net').connect({port}, '127.0.0.1').on('connect', () => console.log('CONNECTED')).on('error', e => console.log('refused', e.code))"
        ),
    )
    .await;
    assert!(r.stdout.starts_with("refused"), "{r:?}");
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the listener saw a connection"
    );
}

#[tokio::test]
async fn dns_lookup_fails() {
    let s = sandbox(300_176).await;
    let r = run(
        &s,
        Language::Python,
        r#"import socket
try:
    print("RESOLVED", socket.getaddrinfo("example.com", 80))
except OSError as e:
    print("failed", e)"#,
    )
    .await;
    assert!(r.stdout.starts_with("failed"), "{r:?}");
    let r = run(
        &s,
        Language::Javascript,
        "require('dns').lookup('example.com', (e, a) => console.log(e ? 'failed ' + e.code : 'RESOLVED ' + a))",
    )
    .await;
    assert!(r.stdout.starts_with("failed"), "{r:?}");
}

#[tokio::test]
async fn killing_a_host_process_by_pid_fails() {
    let s = sandbox(300_192).await;
    let mut victim = tokio::process::Command::new("sleep")
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let victim_pid = victim.id().unwrap();
    let own_pid = std::process::id();
    let code = format!("kill -9 {victim_pid}; kill -9 {own_pid}; kill -9 -1; echo tried");
    let r = run(&s, Language::Bash, &code).await;
    assert!(
        r.stderr.contains("No such process") || r.stdout.contains("tried"),
        "{r:?}"
    );
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the host process was killed"
    );
    victim.kill().await.unwrap();
    host_is_healthy();
}

#[tokio::test]
async fn background_processes_do_not_outlive_the_run() {
    let s = sandbox(300_208).await;
    let r = run(
        &s,
        Language::Bash,
        "(sleep 60 &) ; nohup sleep 61 >/dev/null 2>&1 & disown; setsid sleep 62 & echo started",
    )
    .await;
    assert_eq!(r.stdout, "started\n", "{r:?}");
    assert_no_run_left(&s, 300_208).await;
    let r = run(
        &s,
        Language::Python,
        "import subprocess; subprocess.Popen(['sleep', '60'], start_new_session=True); print('started')",
    )
    .await;
    assert_eq!(r.stdout, "started\n", "{r:?}");
    assert_no_run_left(&s, 300_208).await;
}

#[tokio::test]
async fn printing_100_mb_is_truncated_and_marked() {
    let s = sandbox(300_224).await;
    let started = Instant::now();
    let r = run(
        &s,
        Language::Python,
        "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))",
    )
    .await;
    assert!(r.truncated, "{:?}", (r.exit_code, r.signal, r.stdout.len()));
    assert_eq!(r.stdout.len() + r.stderr.len(), 256 * 1024);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_no_run_left(&s, 300_224).await;
}

#[tokio::test]
async fn dangerous_syscalls_are_refused_by_seccomp() {
    let s = sandbox(300_240).await;
    // ctypes calls the raw syscalls; each must fail with EPERM (1), not succeed.
    let r = run(
        &s,
        Language::Python,
        r#"import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {
    "ptrace": (101, 0, 0, 0, 0),          # PTRACE_TRACEME
    "unshare": (272, 0x10000000),         # CLONE_NEWUSER
    "mount": (165, b"none", b"/tmp", b"tmpfs", 0, None),
    "keyctl": (250, 0, 0),
    "bpf": (321, 0, 0, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "setns": (308, 0, 0),
    "perf_event_open": (298, 0, 0, 0, 0, 0),
    "userfaultfd": (323, 0),
    "chroot": (161, b"/tmp"),
}
for name, args in calls.items():
    ctypes.set_errno(0)
    rc = libc.syscall(*args)
    print(name, rc, ctypes.get_errno())
"#,
    )
    .await;
    assert_eq!(r.exit_code, Some(0), "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 10, "{r:?}");
    for line in lines {
        assert!(line.ends_with(" -1 1"), "not refused with EPERM: {line}");
    }
    // A socket other than AF_UNIX cannot even be created.
    let r = run(
        &s,
        Language::Python,
        "import socket\nsocket.socketpair()\nprint('unix ok')\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
    )
    .await;
    assert!(r.stdout.contains("unix ok"), "{r:?}");
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");
}

#[tokio::test]
async fn the_code_runs_with_no_new_privs_no_capabilities_and_seccomp() {
    let s = sandbox(300_256).await;
    let r = run(
        &s,
        Language::Bash,
        "grep -E '^(NoNewPrivs|Seccomp|CapEff|CapPrm|CapBnd|CapAmb):' /proc/self/status; id -u",
    )
    .await;
    for expected in [
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapAmb:\t0000000000000000",
    ] {
        assert!(r.stdout.contains(expected), "{expected} missing: {r:?}");
    }
    assert!(r.stdout.ends_with("1000\n"), "{r:?}");
}

#[tokio::test]
async fn the_sandbox_sees_its_own_namespaces_only() {
    let s = sandbox(300_272).await;
    let r = run(
        &s,
        Language::Bash,
        "hostname; ls /proc | grep -c '^[0-9]'; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; ipcs -m 2>/dev/null | grep -c '^0x' ; ls /",
    )
    .await;
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "sandbox", "{r:?}");
    let pids: u32 = lines[1].parse().unwrap();
    assert!(pids <= 6, "sees {pids} processes: {r:?}");
    assert_eq!(lines[2], "lo", "network interfaces other than lo: {r:?}");
    assert!(
        !r.stdout.contains("root\n") && !r.stdout.contains("home\n"),
        "{r:?}"
    );
    for host_only in ["/root", "/home", "/var", "/sys", "/work/main"] {
        let r = run(&s, Language::Bash, &format!("ls {host_only}")).await;
        assert_ne!(r.exit_code, Some(0), "{host_only} is visible: {r:?}");
    }
}

#[tokio::test]
async fn without_bubblewrap_nothing_runs_even_in_weaker_mode() {
    let mut config = mcp_sandbox::SandboxConfig::default();
    config.bwrap = "/nonexistent/bwrap".into();
    config.allow_weaker_isolation = true;
    let s = mcp_sandbox::BwrapSandbox::from_config(config)
        .await
        .unwrap();
    assert!(!s.probe().ready);
    let err = s
        .run(ExecRequest::new(Language::Bash, "echo hi"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bubblewrap"), "{err}");
}

#[tokio::test]
async fn a_missing_required_layer_refuses_runs_unless_weaker_isolation_is_allowed() {
    let strict = mcp_sandbox::BwrapSandbox::from_config({
        let mut c = mcp_sandbox::SandboxConfig::default();
        c.uid_base = 300_304;
        c.prlimit = "/nonexistent/prlimit".into();
        c.shell_rlimits = false;
        c
    })
    .await
    .unwrap();
    assert!(!strict.probe().ready);
    assert_eq!(strict.probe().missing_required(), ["rlimits"]);
    let err = strict
        .run(ExecRequest::new(Language::Bash, "echo hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing to run code: isolation layers unavailable (rlimits); set allow_weaker_isolation to run anyway"
    );

    let weaker = mcp_sandbox::BwrapSandbox::from_config({
        let mut c = mcp_sandbox::SandboxConfig::default();
        c.uid_base = 300_320;
        c.prlimit = "/nonexistent/prlimit".into();
        c.shell_rlimits = false;
        c.allow_weaker_isolation = true;
        c
    })
    .await
    .unwrap();
    assert!(weaker.probe().ready && !weaker.probe().is_full_isolation());
    let r = weaker
        .run(ExecRequest::new(Language::Bash, "echo hi"))
        .await
        .unwrap();
    assert_eq!(r.stdout, "hi\n");
    // The other layers still hold.
    let r = weaker
        .run(ExecRequest::new(Language::Bash, "cat /etc/shadow"))
        .await
        .unwrap();
    assert_ne!(r.exit_code, Some(0));
}

/// Runs `crashing_server_child` in a child process that starts a long run and then exits
/// abruptly (no destructors, like a crash); nothing of the run may survive it (bwrap's
/// `--die-with-parent` gives the whole chain a parent-death SIGKILL).
#[tokio::test]
async fn sandboxes_die_when_the_server_crashes() {
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg(test_path("crashing_server_child"))
        .args(["--exact", "--ignored", "--nocapture"])
        .env("MCP_SANDBOX_TEST_CRASH", "1")
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("crashing now"), "{text}");
    assert_nothing_left(300_336).await;
}

#[tokio::test]
#[ignore = "run by sandboxes_die_when_the_server_crashes"]
async fn crashing_server_child() {
    assert_eq!(std::env::var("MCP_SANDBOX_TEST_CRASH").as_deref(), Ok("1"));
    let s = sandbox(300_336).await;
    let run = s.run(ExecRequest::new(
        Language::Bash,
        "sleep 60 & sleep 61 & echo started; wait",
    ));
    let started = async {
        for _ in 0..200 {
            let sleeping = common::processes_of_sandbox_uids(300_336)
                .iter()
                .filter(|(_, _, name)| name.contains("sleep"))
                .count();
            if sleeping >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the run did not start");
    };
    tokio::select! {
        _ = run => panic!("the run ended before the crash"),
        _ = started => {}
    }
    println!("crashing now");
    std::process::exit(0);
}
