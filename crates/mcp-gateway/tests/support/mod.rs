//! What the upstream tests share: where the test upstreams are, and a Python SDK server
//! process of a test's own.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcp_gateway::{ChannelSink, Gateway, GatewayConfig, GatewayEvent, UpstreamConfig};
use tokio::sync::mpsc::UnboundedReceiver;

/// How long a test waits for an upstream to connect.
pub const CONNECT: Duration = Duration::from_secs(30);

/// `tests/upstreams` of this crate.
pub fn upstreams_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstreams")
}

/// The entry script of an npm MCP server installed by `scripts/install-test-deps`.
pub fn npm_server(package: &str) -> PathBuf {
    let path = upstreams_dir()
        .join("node_modules/@modelcontextprotocol")
        .join(package)
        .join("dist/index.js");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-test-deps (npm ci in tests/upstreams)",
        path.display()
    );
    path
}

/// An absolute path of `program` from `PATH` (upstreams get no `PATH` of the test's).
pub fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| panic!("{program} not found on PATH"))
}

/// The Python that has the `mcp` SDK (the one on `PATH`; the system one may lack it).
pub fn python() -> PathBuf {
    which("python3")
}

/// Environment an upstream process needs to start (nothing secret).
pub fn base_env() -> Vec<(String, String)> {
    let mut env = vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
    for key in ["HOME", "PYENV_ROOT", "PYENV_VERSION", "LANG"] {
        if let Ok(v) = std::env::var(key) {
            env.push((key.to_owned(), v));
        }
    }
    if let Some(dir) = python().parent() {
        env[0].1 = format!("{}:/usr/bin:/bin", dir.display());
    }
    env
}

/// Starts a gateway with one upstream, an event channel, and waits for it to connect.
pub async fn gateway(upstream: UpstreamConfig) -> (Gateway, UnboundedReceiver<GatewayEvent>) {
    let (sink, events) = ChannelSink::new();
    let mut config = GatewayConfig::default();
    config.upstreams.push(upstream);
    let gateway = Gateway::builder(config)
        .events(std::sync::Arc::new(sink))
        .start()
        .expect("valid configuration");
    assert!(
        gateway.ready(CONNECT).await,
        "upstream did not come up: {:?}",
        gateway.health()
    );
    (gateway, events)
}

/// Waits (at most `CONNECT`) for an event matching `pred`.
pub async fn expect_event(
    events: &mut UnboundedReceiver<GatewayEvent>,
    pred: impl Fn(&GatewayEvent) -> bool,
) -> GatewayEvent {
    tokio::time::timeout(CONNECT, async {
        loop {
            let e = events.recv().await.expect("event channel open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event in time")
}

/// `tests/upstreams/py_upstream.py` over streamable HTTP, killed when dropped.
pub struct PyHttp {
    child: Child,
    pub port: u16,
    pub state: tempfile::TempDir,
    extra: Vec<String>,
}

impl PyHttp {
    /// Starts the server on a free port with `extra` arguments.
    pub fn start(extra: &[&str]) -> Self {
        let state = tempfile::tempdir().expect("state dir");
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let (child, port) = Self::spawn(state.path(), 0, &extra);
        Self {
            child,
            port,
            state,
            extra,
        }
    }

    fn spawn(state: &Path, port: u16, extra: &[String]) -> (Child, u16) {
        let mut child = Command::new(python())
            .arg(upstreams_dir().join("py_upstream.py"))
            .arg("--state")
            .arg(state)
            .arg("--port")
            .arg(port.to_string())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("PORT line");
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("py_upstream printed {line:?}"));
        (child, port)
    }

    /// Kills the server and starts it again on the same port.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, port) = Self::spawn(self.state.path(), self.port, &self.extra);
        assert_eq!(port, self.port);
        self.child = child;
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the server process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// The MCP endpoint of a server started with `--tls-cert`/`--tls-key`.
    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}/mcp", self.port)
    }

    /// Whether the server wrote `name` into its state dir.
    pub fn wrote(&self, name: &str) -> bool {
        self.state.path().join(name).exists()
    }
}

impl Drop for PyHttp {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `f` holds, at most `CONNECT`.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + CONNECT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client certificate (`CN=gateway`, clientAuth) signed by the CA that [`tls_certificates`]
/// made in `dir`: `(client.pem, client.key)`.
pub fn client_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    signed_certificate(
        dir,
        "client",
        "/CN=gateway",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
}

/// Runs the `openssl` command with `args` in `dir`, failing the test with its error output.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (scripts/install-test-deps installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The arguments that make a new P-256 key without a passphrase.
const NEW_EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// A certificate for `subject` with the X.509v3 `extensions`, on a new key, signed by the CA
/// that [`tls_certificates`] made in `dir`: `(<name>.pem, <name>.key)`.
fn signed_certificate(
    dir: &Path,
    name: &str,
    subject: &str,
    extensions: &str,
) -> (PathBuf, PathBuf) {
    let (key, csr, ext, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
        format!("{name}.pem"),
    );
    let mut request = vec!["req", "-new", "-subj", subject];
    request.extend(NEW_EC_KEY);
    request.extend(["-keyout", &key, "-out", &csr]);
    openssl(dir, &request);
    std::fs::write(dir.join(&ext), extensions).expect("extensions file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
    (dir.join(pem), dir.join(key))
}

/// A test CA and a server certificate it signed for `127.0.0.1` and `localhost`, made with the
/// `openssl` command in `dir`: `(ca.pem, server.pem, server.key)`.
pub fn tls_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca = vec![
        "req",
        "-x509",
        "-new",
        "-days",
        "2",
        "-subj",
        "/CN=gateway test CA",
    ];
    ca.extend(NEW_EC_KEY);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    let (server_pem, server_key) = signed_certificate(
        dir,
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    (dir.join("ca.pem"), server_pem, server_key)
}
