//! Stdio upstreams inside the sandbox: an adapter from `mcp_sandbox::BwrapSandbox::spawn_process`
//! to the gateway's `ProcessLauncher` (the one the server will plug in), and proof that a
//! sandboxed MCP server serves its granted files but cannot read other host files or open a
//! socket, while the same calls as a plain process can (so the tests can fail).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use mcp_gateway::{
    CallOptions, Gateway, GatewayConfig, LaunchSpec, Launched, PlainLauncher, ProcessLauncher,
    RunningProcess, StdioConfig, UpstreamConfig,
};
use mcp_sandbox::{BwrapSandbox, IsolatedProcess, ProcessSpec, SandboxConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{CONNECT, npm_server, upstreams_dir, which};

/// Starts stdio upstreams with `BwrapSandbox::spawn_process`.
struct SandboxLauncher(BwrapSandbox);

struct Sandboxed(IsolatedProcess);

#[async_trait]
impl RunningProcess for Sandboxed {
    fn id(&self) -> Option<u32> {
        self.0.id()
    }

    async fn wait(&mut self) -> io::Result<String> {
        Ok(self.0.wait().await?.to_string())
    }

    async fn kill(&mut self) -> io::Result<()> {
        self.0.kill().await
    }
}

#[async_trait]
impl ProcessLauncher for SandboxLauncher {
    async fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched> {
        let argv = std::iter::once(spec.command.display().to_string()).chain(spec.args.clone());
        let mut p = ProcessSpec::new(argv);
        p.env = spec.env.clone();
        p.read_only = spec.grants.read_only.clone();
        p.read_write = spec.grants.read_write.clone();
        p.network = spec.grants.network;
        p.cwd = spec.cwd.clone();
        p.limits.memory_bytes = spec.limits.memory_bytes;
        p.limits.max_processes = spec.limits.max_processes;
        p.limits.max_open_files = spec.limits.max_open_files;
        p.limits.max_file_size_bytes = spec.limits.max_file_size_bytes;
        p.limits.tmp_bytes = spec.limits.tmp_bytes;
        let mut process = self.0.spawn_process(p).await.map_err(io::Error::other)?;
        let (Some(stdin), Some(stdout), stderr) = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        ) else {
            return Err(io::Error::other("no pipes"));
        };
        Ok(Launched::new(
            Box::pin(stdin),
            Box::pin(stdout),
            stderr.map(|s| Box::pin(s) as mcp_gateway::launcher::ProcessOutput),
            Box::new(Sandboxed(process)),
        ))
    }
}

async fn sandbox(uid_base: u32) -> BwrapSandbox {
    let mut config = SandboxConfig::default();
    config.uid_base = uid_base;
    config.parallelism = 1;
    config.standby = false;
    let sandbox = BwrapSandbox::from_config(config).await.expect("sandbox");
    use mcp_sandbox::Sandbox;
    assert!(
        sandbox.probe().ready,
        "this host lacks an isolation layer: {:?}",
        sandbox.probe().missing_required()
    );
    sandbox
}

async fn start(upstream: UpstreamConfig, launcher: Arc<dyn ProcessLauncher>) -> Gateway {
    let mut config = GatewayConfig::default();
    config.upstreams.push(upstream);
    let gw = Gateway::builder(config)
        .launcher(launcher)
        .start()
        .expect("valid configuration");
    assert!(gw.ready(CONNECT).await, "upstream up: {:?}", gw.health());
    gw
}

/// A directory under /tmp that any uid may read, holding one file.
fn readable_dir(file: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    dir
}

fn node_upstream(ns: &str, package: &str, args: &[&str], granted: &[&Path]) -> UpstreamConfig {
    let mut all = vec![npm_server(package).display().to_string()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let mut stdio = StdioConfig::new(which("node"), all);
    stdio.env.insert("PATH".into(), "/usr/bin:/bin".into());
    stdio.grants.read_only.push(upstreams_dir());
    stdio
        .grants
        .read_only
        .extend(granted.iter().map(|p| p.to_path_buf()));
    UpstreamConfig::stdio(ns, stdio)
}

async fn read_text(gw: &Gateway, path: &Path) -> String {
    let args = json!({"path": path}).as_object().cloned();
    match gw
        .call_tool("fs__read_text_file", args, CallOptions::default())
        .await
    {
        Ok(r) => serde_json::to_string(&r.value).unwrap(),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_filesystem_server_reads_its_grant_and_no_other_host_file() {
    let granted = readable_dir("granted.txt", "hello from the grant");
    let host = readable_dir("secret.txt", "host secret 8c1f");
    let granted_file = granted.path().join("granted.txt");
    let host_file = host.path().join("secret.txt");
    // The server itself allows all of `/`: only the sandbox stands between it and the host.
    let upstream = node_upstream("fs", "server-filesystem", &["/"], &[granted.path()]);

    let plain = start(upstream.clone(), Arc::new(PlainLauncher::new())).await;
    assert!(
        read_text(&plain, &host_file)
            .await
            .contains("host secret 8c1f")
    );
    plain.shutdown().await;

    let sandboxed = start(upstream, Arc::new(SandboxLauncher(sandbox(310_000).await))).await;
    let text = read_text(&sandboxed, &granted_file).await;
    assert!(text.contains("hello from the grant"), "{text}");
    let text = read_text(&sandboxed, &host_file).await;
    assert!(!text.contains("host secret"), "{text}");
    assert!(text.contains("ENOENT") || text.contains("not"), "{text}");
    for path in ["/etc/shadow", "/root/.bashrc", "/proc/1/environ"] {
        let text = read_text(&sandboxed, Path::new(path)).await;
        assert!(!text.contains("root:"), "{path}: {text}");
    }
    sandboxed.shutdown().await;
    crate::support::eventually("no process of the sandbox's uids is left", || {
        live_processes_of_uids(310_000 + 1024..310_000 + 2048) == 0
    })
    .await;
}

/// Live (not zombie) processes whose real uid is in `uids`.
fn live_processes_of_uids(uids: std::ops::Range<u32>) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|status| {
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse::<u32>().ok());
            let zombie = status
                .lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'));
            uid.is_some_and(|u| uids.contains(&u)) && !zombie
        })
        .count()
}

/// A one-shot HTTP server on loopback that counts its connections.
async fn counting_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
                    )
                    .await;
            });
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_upstream_cannot_open_a_socket() {
    let (port, connections) = counting_server().await;
    let mut upstream = node_upstream("every", "server-everything", &["stdio"], &[]);
    let stdio = upstream.stdio.as_mut().unwrap();
    stdio
        .env
        .insert("GZIP_ALLOWED_DOMAINS".into(), "127.0.0.1".into());
    let args = json!({"name": "x.gz", "data": format!("http://127.0.0.1:{port}/file")});
    let args = args.as_object().cloned();

    let plain = start(upstream.clone(), Arc::new(PlainLauncher::new())).await;
    let fetched = plain
        .call_tool(
            "every__gzip-file-as-resource",
            args.clone(),
            CallOptions::default(),
        )
        .await;
    assert!(fetched.is_ok_and(|r| !r.value.is_error.unwrap_or(false)));
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "the plain process connected"
    );
    plain.shutdown().await;

    let before = connections.load(Ordering::SeqCst);
    let sandboxed = start(upstream, Arc::new(SandboxLauncher(sandbox(311_000).await))).await;
    let refused = sandboxed
        .call_tool("every__gzip-file-as-resource", args, CallOptions::default())
        .await;
    let failed = match &refused {
        Ok(r) => r.value.is_error.unwrap_or(false),
        Err(_) => true,
    };
    assert!(failed, "the sandboxed fetch must fail: {refused:?}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        before,
        "no connection left the sandbox"
    );
    sandboxed.shutdown().await;
}
