//! [`PlainLauncher`]: an ordinary child process, no isolation.

use std::process::Stdio;

use async_trait::async_trait;

use super::{LaunchSpec, Launched, ProcessLauncher, RunningProcess};

/// Starts the command as a plain child process of the server, with the server's uid, files and
/// network: the [`LaunchSpec::grants`] and [`LaunchSpec::limits`] are **not** enforced. Only the
/// environment is cleared down to [`LaunchSpec::env`]. For embedding trusted upstreams and for
/// tests; the server uses the sandbox's launcher for untrusted ones.
#[derive(Clone, Debug, Default)]
pub struct PlainLauncher;

impl PlainLauncher {
    /// A launcher of plain child processes.
    pub fn new() -> Self {
        Self
    }
}

struct PlainProcess {
    child: tokio::process::Child,
}

#[async_trait]
impl RunningProcess for PlainProcess {
    fn id(&self) -> Option<u32> {
        self.child.id()
    }

    async fn wait(&mut self) -> std::io::Result<String> {
        Ok(self.child.wait().await?.to_string())
    }

    async fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill().await
    }
}

#[async_trait]
impl ProcessLauncher for PlainLauncher {
    async fn launch(&self, spec: &LaunchSpec) -> std::io::Result<Launched> {
        let mut cmd = tokio::process::Command::new(&spec.command);
        cmd.args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout), stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("child process without pipes"));
        };
        Ok(Launched::new(
            Box::pin(stdin),
            Box::pin(stdout),
            stderr.map(|s| Box::pin(s) as super::ProcessOutput),
            Box::new(PlainProcess { child }),
        ))
    }
}
