//! How the server starts stdio upstreams: in the sandbox (`BwrapSandbox::spawn_process`), or as
//! a plain child process for the upstreams configured with `dangerous_no_sandbox`.
//!
//! The launcher is called from the gateway's supervisor tasks, which run on the runtime that
//! called [`super::Upstreams::start`] (the actix system's, which lives as long as the server):
//! bubblewrap's `--die-with-parent` follows the *thread* that started it, so a process started
//! from a short-lived thread (a `spawn_blocking` worker) would be killed when that thread ends.
use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use mcp_gateway::launcher::ProcessOutput;
use mcp_gateway::{LaunchSpec, Launched, PlainLauncher, ProcessLauncher, RunningProcess};
use mcp_sandbox::{BwrapSandbox, IsolatedProcess, ProcessSpec};

/// Starts each stdio upstream in the sandbox, or plainly when its namespace is in `plain`.
pub struct UpstreamLauncher {
    sandbox: Result<Arc<BwrapSandbox>, String>,
    plain: BTreeSet<String>,
    plain_launcher: PlainLauncher,
}

impl UpstreamLauncher {
    /// A launcher over `sandbox` (or why there is none); the namespaces in `plain` run
    /// without it.
    pub fn new(sandbox: Result<Arc<BwrapSandbox>, String>, plain: BTreeSet<String>) -> Self {
        Self {
            sandbox,
            plain,
            plain_launcher: PlainLauncher::new(),
        }
    }
}

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

/// The sandbox's process spec for a launch spec: the command, its environment, exactly the
/// granted paths and network, and the limits.
fn process_spec(spec: &LaunchSpec) -> ProcessSpec {
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
    p
}

#[async_trait]
impl ProcessLauncher for UpstreamLauncher {
    async fn launch(&self, spec: &LaunchSpec) -> io::Result<Launched> {
        if self.plain.contains(&spec.namespace) {
            return self.plain_launcher.launch(spec).await;
        }
        let sandbox = self.sandbox.as_ref().map_err(|why| {
            io::Error::other(format!(
                "the sandbox is not available ({why}), and stdio upstreams run only in it"
            ))
        })?;
        let mut process = sandbox
            .spawn_process(process_spec(spec))
            .await
            .map_err(io::Error::other)?;
        let (Some(stdin), Some(stdout), stderr) = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        ) else {
            return Err(io::Error::other("the sandboxed process has no pipes"));
        };
        Ok(Launched::new(
            Box::pin(stdin),
            Box::pin(stdout),
            stderr.map(|s| Box::pin(s) as ProcessOutput),
            Box::new(Sandboxed(process)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_spec_carries_exactly_the_grants_and_limits() {
        let mut stdio = mcp_gateway::StdioConfig::new("/usr/bin/node", ["server.js", "/srv"]);
        stdio.env.insert("A".into(), "1".into());
        stdio.grants.read_only.push("/srv".into());
        stdio.grants.read_write.push("/var/cache/x".into());
        stdio.limits.memory_bytes = 123 << 20;
        let spec = LaunchSpec::for_stdio("fs", &stdio);
        let p = process_spec(&spec);
        assert_eq!(p.argv, ["/usr/bin/node", "server.js", "/srv"]);
        assert_eq!(p.read_only, [std::path::PathBuf::from("/srv")]);
        assert_eq!(p.read_write, [std::path::PathBuf::from("/var/cache/x")]);
        assert!(!p.network);
        assert_eq!(p.limits.memory_bytes, 123 << 20);
        assert_eq!(p.env["A"], "1");
    }

    #[tokio::test]
    async fn without_a_sandbox_a_sandboxed_upstream_is_refused_with_the_reason() {
        let launcher = UpstreamLauncher::new(Err("bwrap missing".into()), BTreeSet::new());
        let stdio = mcp_gateway::StdioConfig::new("/bin/true", Vec::<String>::new());
        let spec = LaunchSpec::for_stdio("fs", &stdio);
        let Err(err) = launcher.launch(&spec).await else {
            panic!("launched without a sandbox");
        };
        assert!(err.to_string().contains("bwrap missing"), "{err}");
    }
}
