//! Standbys: sandboxes started ahead of their run. Each run still gets a sandbox of its own
//! (fresh namespaces, used once), a run of another shape starts its own, and nothing of a
//! standby outlives the sandbox.

use std::fs;
use std::time::{Duration, SystemTime};

use mcp_sandbox::tools::TestRequest;
use mcp_sandbox::{Error, ExecRequest, Language, RequestLimits, Sandbox, SandboxStats};

use crate::common::{assert_nothing_left, run, sandbox_with};

fn delta(after: SandboxStats, before: SandboxStats) -> (u64, u64) {
    (
        after.runs_from_standby - before.runs_from_standby,
        after.runs_started_cold - before.runs_started_cold,
    )
}

/// Lists what a run can see of earlier runs: files in /tmp and the work dir, SysV shared
/// memory, processes.
const LOOK: &str =
    "ls -A /tmp /work; ipcs -m | grep -c '^0x'; cat /proc/[0-9]*/comm | grep -c sleep";
/// Leaves something behind in every namespace it can touch.
const LEAVE: &str = "echo x > /tmp/left; echo y > /work/left; ipcmk -M 4096 >/dev/null; (setsid sleep 30 &); echo left";

#[tokio::test]
async fn a_run_in_a_standby_sees_nothing_of_the_run_before_it() {
    let s = sandbox_with(320_000, |c| c.parallelism = 1).await;
    s.wait_idle().await;
    let fresh = run(&s, Language::Bash, LOOK).await;
    assert_eq!(
        fresh.stdout, "/tmp:\n\n/work:\nmain.sh\n0\n0\n",
        "{fresh:?}"
    );
    s.wait_idle().await;
    let r = run(&s, Language::Bash, LEAVE).await;
    assert_eq!(r.stdout, "left\n", "{r:?}");
    s.wait_idle().await;
    let before = s.stats();
    let after = run(&s, Language::Bash, LOOK).await;
    assert_eq!(delta(s.stats(), before), (1, 0), "the run took a standby");
    assert_eq!(after.stdout, fresh.stdout, "{after:?}");
    assert!(
        after.stdout.ends_with("main.sh\n0\n0\n"),
        "no file, no shared memory, no process left: {after:?}"
    );
}

#[tokio::test]
async fn a_run_of_the_standbys_shape_takes_it_and_the_slot_gets_a_new_one() {
    let s = sandbox_with(320_016, |c| c.parallelism = 1).await;
    s.wait_idle().await;
    let first = s.standby_pids();
    assert_eq!(first.len(), 1, "a Python standby is ready after start-up");
    let before = s.stats();
    let r = run(&s, Language::Python, "print(6 * 7)").await;
    assert_eq!(r.stdout, "42\n", "{r:?}");
    assert_eq!(delta(s.stats(), before), (1, 0));
    s.wait_idle().await;
    let second = s.standby_pids();
    assert_eq!(second.len(), 1);
    assert_ne!(first, second, "a standby is used for one run only");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", first[0])).exists(),
        "the used standby's process is gone"
    );
}

#[tokio::test]
async fn a_run_of_another_shape_starts_its_own_sandbox_and_the_next_one_like_it_is_ready() {
    let s = sandbox_with(320_032, |c| c.parallelism = 1).await;
    s.wait_idle().await;
    let before = s.stats();
    let r = run(&s, Language::Bash, "echo one").await;
    assert_eq!(r.stdout, "one\n", "{r:?}");
    assert_eq!(
        delta(s.stats(), before),
        (0, 1),
        "the Python standby does not fit"
    );
    s.wait_idle().await;
    let r = run(&s, Language::Bash, "echo two").await;
    assert_eq!(r.stdout, "two\n", "{r:?}");
    assert_eq!(
        delta(s.stats(), before),
        (1, 1),
        "the slot kept a bash standby"
    );

    // Other limits fixed at start-up (here memory) need a sandbox of their own; a different
    // wall time does not.
    s.wait_idle().await;
    let wall = RequestLimits {
        wall_time_ms: Some(3_000),
        ..Default::default()
    };
    let r = s
        .run(ExecRequest::new(Language::Bash, "echo three").with_limits(wall))
        .await
        .unwrap();
    assert_eq!(r.stdout, "three\n", "{r:?}");
    assert_eq!(delta(s.stats(), before), (2, 1));
    s.wait_idle().await;
    let memory = RequestLimits {
        memory_bytes: Some(64 * 1024 * 1024),
        ..Default::default()
    };
    let r = s
        .run(ExecRequest::new(Language::Bash, "echo four").with_limits(memory))
        .await
        .unwrap();
    assert_eq!(r.stdout, "four\n", "{r:?}");
    assert_eq!(delta(s.stats(), before), (2, 2));
}

#[tokio::test]
async fn with_standbys_off_every_run_starts_its_own_sandbox() {
    let s = sandbox_with(320_048, |c| c.standby = false).await;
    let before = s.stats();
    for _ in 0..2 {
        s.wait_idle().await;
        assert!(s.standby_pids().is_empty());
        let r = run(&s, Language::Python, "print('ok')").await;
        assert_eq!(r.stdout, "ok\n", "{r:?}");
    }
    assert_eq!(delta(s.stats(), before), (0, 2));
}

#[tokio::test]
async fn files_larger_than_the_work_dir_are_refused_clearly_and_the_slot_still_works() {
    let s = sandbox_with(320_064, |c| c.parallelism = 1).await;
    let small_work_dir = RequestLimits {
        work_dir_bytes: Some(1024 * 1024),
        ..Default::default()
    };
    let request = ExecRequest::new(Language::Python, "print('unreachable')")
        .with_limits(small_work_dir)
        .with_file("data.bin", "x".repeat(2 * 1024 * 1024));
    match s.run(request).await {
        Err(Error::InputTooLarge { max, .. }) => assert_eq!(max, 1024 * 1024),
        other => panic!("expected InputTooLarge, got {other:?}"),
    }
    let r = run(&s, Language::Python, "print('still fine')").await;
    assert_eq!(r.stdout, "still fine\n", "{r:?}");
}

#[tokio::test]
async fn files_are_placed_read_only_in_a_writable_work_dir() {
    let s = sandbox_with(320_080, |c| c.parallelism = 1).await;
    s.wait_idle().await;
    let request = ExecRequest::new(
        Language::Bash,
        "head -c 4 main.sh; echo; cat lib/data.txt; stat -c '%a %U' lib/data.txt; touch lib/new && echo dir-writable",
    )
    .with_file("lib/data.txt", "hello");
    let r = s.run(request).await.unwrap();
    assert_eq!(r.stdout, "head\nhello444 sandbox\ndir-writable\n", "{r:?}");
}

#[tokio::test]
async fn standbys_die_with_the_sandbox() {
    let s = sandbox_with(320_096, |c| c.parallelism = 2).await;
    s.wait_idle().await;
    assert_eq!(s.standby_pids().len(), 2);
    drop(s);
    assert_nothing_left(320_096).await;
}

#[tokio::test]
async fn runtime_dirs_left_by_a_crash_are_removed_at_start_and_live_ones_kept() {
    let parent = tempfile::tempdir().unwrap();
    let old = SystemTime::now() - Duration::from_secs(600);
    let make = |name: &str, with_lock: bool| {
        let dir = parent.path().join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("seccomp.bpf"), b"x").unwrap();
        with_lock.then(|| {
            let f = fs::File::create(dir.join("owner.lock")).unwrap();
            f.set_modified(old).unwrap();
            f
        })
    };
    drop(make("mcp-sandbox-crashed", true));
    let live = make("mcp-sandbox-live", true).unwrap();
    live.try_lock().unwrap();
    make("mcp-sandbox-unknown", false);
    make("other-crashed", true);

    let s = sandbox_with(320_112, |c| {
        c.runtime_dir = Some(parent.path().to_path_buf())
    })
    .await;
    let exists = |name: &str| parent.path().join(name).exists();
    assert!(!exists("mcp-sandbox-crashed"), "the stale dir was removed");
    assert!(
        exists("mcp-sandbox-live"),
        "a dir whose owner lives is kept"
    );
    assert!(
        exists("mcp-sandbox-unknown"),
        "a dir without an owner file is kept"
    );
    assert!(
        exists("other-crashed"),
        "only the sandbox's own dirs are looked at"
    );
    drop(s);
}

#[tokio::test]
async fn a_standby_killed_from_outside_is_replaced_by_a_fresh_sandbox() {
    let s = sandbox_with(320_128, |c| c.parallelism = 1).await;
    s.wait_idle().await;
    let pids = s.standby_pids();
    assert_eq!(pids.len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = s.stats();
    let r = run(&s, Language::Python, "print('fresh')").await;
    assert_eq!(r.stdout, "fresh\n", "{r:?}");
    assert_eq!(delta(s.stats(), before), (0, 1));
}

#[tokio::test]
async fn the_stats_count_runs_not_the_start_up_probe() {
    let s = sandbox_with(320_144, |c| c.parallelism = 1).await;
    assert_eq!(s.stats(), SandboxStats::default());
    s.wait_idle().await;
    run(&s, Language::Python, "print(1)").await;
    let stats = s.stats();
    assert_eq!((stats.runs_from_standby, stats.runs_started_cold), (1, 0));
}

#[tokio::test]
async fn a_second_test_run_in_a_row_takes_the_standby_the_first_one_left() {
    let s = sandbox_with(320_160, |c| c.parallelism = 1).await;
    let request = TestRequest::new(
        "def add(a, b):\n    return a + b\n",
        "import os\nfrom solution import add\n\ndef test_adds():\n    assert add(1, 2) == 3\n\n\
         def test_the_marker_file_is_gone():\n    assert not os.path.exists('.mcp-report-marker')\n",
    );
    s.wait_idle().await;
    let before = s.stats();
    let first = s.test(&request).await.unwrap();
    assert_eq!((first.passed, first.failed), (2, 0), "{first:#?}");
    assert_eq!(
        delta(s.stats(), before),
        (0, 1),
        "the Python standby does not fit a test run"
    );
    // With one slot this waits until the slot's next standby is started.
    let second = s.test(&request).await.unwrap();
    assert_eq!((second.passed, second.failed), (2, 0), "{second:#?}");
    assert_eq!(
        delta(s.stats(), before),
        (1, 1),
        "the second test run took the standby the first one left"
    );
}
