//! Normal runs in every language, request validation and the concurrency bound.

use mcp_sandbox::{Error, ExecRequest, Language, RequestLimits, Sandbox};

use crate::common::{self, run, sandbox, sandbox_with};

/// One module per language with the same cases: stdout and stderr, exit codes, stdin, unicode
/// and a standard-library import.
macro_rules! language_cases {
    ($module:ident, $uid:expr, $lang:expr, {
        output: $output:expr,
        exit_3: $exit:expr,
        echo_stdin: $stdin:expr,
        unicode: $unicode:expr,
        stdlib: $stdlib:expr $(,)?
    }) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn prints_to_stdout_and_stderr() {
                let s = sandbox($uid).await;
                let r = run(&s, $lang, $output).await;
                assert_eq!(
                    (r.stdout.as_str(), r.stderr.as_str()),
                    ("out\n", "err\n"),
                    "{r:?}"
                );
                assert_eq!(r.exit_code, Some(0));
                assert!(r.success());
            }

            #[tokio::test]
            async fn reports_the_exit_code() {
                let s = sandbox($uid + 1).await;
                let r = run(&s, $lang, $exit).await;
                assert_eq!(r.exit_code, Some(3), "{r:?}");
                assert_eq!(r.signal, None);
                assert!(!r.success());
            }

            #[tokio::test]
            async fn reads_stdin() {
                let s = sandbox($uid + 2).await;
                let r = s
                    .run(ExecRequest::new($lang, $stdin).with_stdin("line one\nline two\n"))
                    .await
                    .unwrap();
                assert_eq!(r.stdout, "line one\nline two\n", "{r:?}");
            }

            #[tokio::test]
            async fn handles_unicode() {
                let s = sandbox($uid + 3).await;
                let r = run(&s, $lang, $unicode).await;
                assert_eq!(r.stdout, "héllo wörld ✓ 日本 🦀\n", "{r:?}");
            }

            #[tokio::test]
            async fn imports_the_standard_library() {
                let s = sandbox($uid + 4).await;
                let r = run(&s, $lang, $stdlib).await;
                assert_eq!(r.stdout, "{\"a\": [1, 2]} 4\n", "{r:?}");
                assert!(r.peak_memory_bytes.is_some_and(|p| p > 0));
            }
        }
    };
}

language_cases!(python, 310_000, Language::Python, {
    output: "import sys\nprint('out')\nprint('err', file=sys.stderr)",
    exit_3: "import sys\nsys.exit(3)",
    echo_stdin: "import sys\nsys.stdout.write(sys.stdin.read())",
    unicode: "print('héllo wörld ✓ 日本 🦀')",
    stdlib: "import json, math, collections, itertools\nprint(json.dumps({'a': [1, 2]}), math.isqrt(16))",
});

language_cases!(javascript, 310_016, Language::Javascript, {
    output: "console.log('out'); console.error('err');",
    exit_3: "process.exit(3)",
    echo_stdin: "process.stdin.pipe(process.stdout)",
    unicode: "console.log('héllo wörld ✓ 日本 🦀')",
    stdlib: "const util = require('util');\nconsole.log(util.format('%s %d', JSON.stringify({a: [1, 2]}).replace(':', ': ').replace(',', ', '), Math.sqrt(16)))",
});

language_cases!(bash, 310_032, Language::Bash, {
    output: "echo out; echo err >&2",
    exit_3: "exit 3",
    echo_stdin: "cat",
    unicode: "echo 'héllo wörld ✓ 日本 🦀'",
    stdlib: "a=(1 2); printf '{\"a\": [%s, %s]} %s\\n' \"${a[@]}\" \"$(( 2 ** 2 ))\"",
});

#[tokio::test]
async fn extra_files_are_placed_in_the_work_dir() {
    let s = sandbox(310_100).await;
    let r = s
        .run(
            ExecRequest::new(
                Language::Python,
                "import helper\nprint(helper.X, open('data/in.txt').read())",
            )
            .with_file("helper.py", "X = 41 + 1")
            .with_file("data/in.txt", "payload"),
        )
        .await
        .unwrap();
    assert_eq!(r.stdout, "42 payload\n", "{r:?}");
}

#[tokio::test]
async fn unsafe_file_names_are_refused_before_running() {
    let s = sandbox(310_101).await;
    for name in ["../escape.py", "/etc/passwd", "a/../../b"] {
        let err = s
            .run(ExecRequest::new(Language::Python, "print(1)").with_file(name, "x"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidFileName { .. }),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn a_missing_interpreter_is_a_clear_error_naming_it() {
    let s = sandbox_with(310_102, |c| {
        c.interpreters.node = "/nonexistent/node".into()
    })
    .await;
    let err = s
        .run(ExecRequest::new(Language::Javascript, "1"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "interpreter for javascript not found at /nonexistent/node"
    );
    assert!(
        !s.probe()
            .languages
            .iter()
            .find(|l| l.language == Language::Javascript)
            .unwrap()
            .available
    );
}

#[tokio::test]
async fn an_unknown_language_is_a_clear_error_naming_it() {
    let err = serde_json::from_str::<ExecRequest>(r#"{"language": "ruby", "code": "puts 1"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("ruby"), "{err}");
    let err = "cobol".parse::<Language>().unwrap_err();
    assert!(err.to_string().contains("cobol"), "{err}");
}

#[tokio::test]
async fn limits_above_the_maximum_are_refused() {
    let s = sandbox(310_103).await;
    let limits = RequestLimits {
        wall_time_ms: Some(10_000_000),
        ..Default::default()
    };
    let err = s
        .run(ExecRequest::new(Language::Bash, "true").with_limits(limits))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceedsMaximum {
                name: "wall_time_ms",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_burst_beyond_parallelism_plus_queue_is_refused_and_the_rest_run() {
    let s = sandbox_with(310_110, |c| {
        c.parallelism = 1;
        c.queue_length = 1;
    })
    .await;
    let runs = (0..5).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            s.run(ExecRequest::new(Language::Bash, "sleep 0.3; echo ok"))
                .await
        })
    });
    let runs: Vec<_> = runs.collect();
    let mut ok = 0;
    let mut full = 0;
    for r in runs {
        match r.await.unwrap() {
            Ok(r) => {
                assert_eq!(r.stdout, "ok\n");
                ok += 1;
            }
            Err(Error::QueueFull { .. }) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok + full, 5);
    assert!(ok >= 2, "one running and one queued must succeed ({ok} ok)");
    assert!(full >= 1, "the burst was not bounded");
}

#[tokio::test]
async fn runs_in_parallel_slots_use_different_uids() {
    let s = sandbox_with(310_120, |c| c.parallelism = 2).await;
    let a = s.run(ExecRequest::new(Language::Bash, "sleep 2"));
    let b = s.run(ExecRequest::new(Language::Bash, "sleep 2"));
    let watch = async {
        let mut uids = std::collections::BTreeSet::new();
        for _ in 0..60 {
            uids.extend(
                common::run_processes(&s, 310_120)
                    .into_iter()
                    .map(|(uid, _, _)| uid),
            );
            if uids.len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        uids
    };
    let (a, b, uids) = tokio::join!(a, b, watch);
    assert!(a.unwrap().success() && b.unwrap().success());
    assert_eq!(uids.into_iter().collect::<Vec<_>>(), [310_120, 310_121]);
}

#[tokio::test]
async fn back_to_back_runs_in_one_slot_each_get_the_whole_process_limit() {
    // Each run leaves bwrap's init to be reaped by the host later; it must not count against
    // the next run of the slot.
    let s = sandbox_with(310_240, |c| {
        c.parallelism = 1;
        c.default_limits.max_processes = 8;
    })
    .await;
    for i in 0..20 {
        let r = run(&s, Language::Bash, "echo a | cat | cat | cat").await;
        assert_eq!(
            (r.stdout.as_str(), r.stderr.as_str()),
            ("a\n", ""),
            "run {i} (bash retries a failed fork and says so): {r:?}"
        );
    }
}
