//! Sandbox overhead: `print(1)` in each language inside the sandbox vs the bare interpreter
//! started the same way (a file in a work dir, the sandbox's environment, piped stdio), and runs
//! per second at full parallelism.
//!
//! Run: `cargo bench -p mcp-sandbox --bench overhead -- --warm-up-time 1 --measurement-time 3`
//! (as root, like the server, so every layer including cgroups and the separate uid is on).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcp_sandbox::{BwrapSandbox, ExecRequest, Language, Sandbox, SandboxConfig};

const CASES: [(Language, &str, &str); 3] = [
    (Language::Python, "/usr/bin/python3", "print(1)"),
    (Language::Javascript, "/usr/bin/node", "console.log(1)"),
    (Language::Bash, "/usr/bin/bash", "echo 1"),
];

/// The environment the sandbox gives every run (the C.UTF-8 locale alone costs bash ~0.1 ms).
const SANDBOX_ENV: [(&str, &str); 8] = [
    ("PATH", "/usr/bin:/bin"),
    ("HOME", "/work"),
    ("TMPDIR", "/tmp"),
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONIOENCODING", "utf-8"),
    ("USER", "sandbox"),
];

async fn bare(interpreter: &str, dir: &Path, file: &str) {
    let out = tokio::process::Command::new(interpreter)
        .arg(file)
        .current_dir(dir)
        .env_clear()
        .envs(SANDBOX_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("bare interpreter runs");
    assert_eq!(out.stdout, b"1\n");
}

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sandbox = rt
        .block_on(BwrapSandbox::from_config(SandboxConfig::default()))
        .expect("sandbox");
    assert!(
        sandbox.probe().is_full_isolation(),
        "benchmarks need every isolation layer: {:?}",
        sandbox.probe().missing_required()
    );
    let dir = tempfile::tempdir().expect("tempdir");

    let mut group = c.benchmark_group("print1");
    group.sample_size(20);
    for (language, interpreter, code) in CASES {
        let file = language.main_file();
        std::fs::write(dir.path().join(file), code).expect("write");
        group.bench_with_input(BenchmarkId::new("bare", language), &language, |b, _| {
            b.to_async(&rt).iter(|| bare(interpreter, dir.path(), file));
        });
        // One request on an idle server: the slot's standby is ready, as it is whenever runs
        // come less often than the sandboxes can be set up (see the throughput group for runs
        // back to back).
        group.bench_with_input(BenchmarkId::new("sandbox", language), &language, |b, &l| {
            b.to_async(&rt).iter_custom(|iters| {
                let sandbox = sandbox.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        sandbox.wait_idle().await;
                        let started = Instant::now();
                        let r = sandbox.run(ExecRequest::new(l, code)).await.expect("run");
                        total += started.elapsed();
                        assert_eq!(r.stdout, "1\n", "{r:?}");
                    }
                    total
                }
            });
        });
        // The same runs back to back: each waits for its slot's clean-up and next standby.
        group.bench_with_input(
            BenchmarkId::new("sandbox-back-to-back", language),
            &language,
            |b, &l| {
                b.to_async(&rt).iter(|| async {
                    let r = sandbox.run(ExecRequest::new(l, code)).await.expect("run");
                    assert_eq!(r.stdout, "1\n", "{r:?}");
                });
            },
        );
    }
    group.finish();

    // Runs per second with every slot busy: each iteration is a burst of `parallelism * 4` runs.
    let burst = sandbox.config().parallelism * 4;
    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(burst as u64));
    for (language, _, code) in CASES {
        group.bench_with_input(
            BenchmarkId::new("parallel", language),
            &language,
            |b, &l| {
                b.to_async(&rt).iter(|| async {
                    let runs: Vec<_> = (0..burst)
                        .map(|_| {
                            let s = sandbox.clone();
                            tokio::spawn(async move { s.run(ExecRequest::new(l, code)).await })
                        })
                        .collect();
                    for r in runs {
                        let r = r.await.expect("join").expect("run");
                        assert_eq!(r.stdout, "1\n", "{r:?}");
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
