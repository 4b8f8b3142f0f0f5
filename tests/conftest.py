"""Fixtures for the end-to-end tests: start the real `mcp-server` binary on a free port with a
temporary data dir, and talk to it over HTTP with the standard library only."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "e2e-admin-password"


def server_bin():
    path = os.environ.get("MCP_SERVER_BIN") or str(
        ROOT / "target" / "debug" / "mcp-server"
    )
    if not Path(path).exists():
        pytest.fail(
            f"server binary {path} not found: build it (cargo build -p mcp-server --all-features) or set MCP_SERVER_BIN"
        )
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reply:
    def __init__(self, status, headers, text):
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.json = json.loads(text) if text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.text[:300]}>"


class Server:
    """A running server process with its data dir and environment."""

    def __init__(self, data_dir, env=None, args=()):
        self.data_dir = str(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update(
            {
                "MCP_LOG_FORMAT": "json",
                "MCP_DATA_DIR": self.data_dir,
            }
        )
        self.env.update(env or {})
        self.args = list(args)
        self.proc = None
        self.log_path = Path(self.data_dir) / f"server-{self.port}.log"

    def cli(self, *args, stdin=None, check=True):
        """Runs an administrative subcommand against the same data dir and environment."""
        out = subprocess.run(
            [server_bin(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"{args} failed: {out.stderr}")
        return out

    def start(self):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - open for the process's lifetime
        self.proc = subprocess.Popen(
            [server_bin(), "serve", "--port", str(self.port), *self.args],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode}: {self.read_log()[-3000:]}"
                )
            try:
                if self.request("GET", "/health").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            f"server did not answer /health: {self.read_log()[-3000:]}"
        )

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def read_log(self):
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def request(
        self, method, path, body=None, token=None, headers=None, raw=None, timeout=60
    ):
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers=hdrs
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return Reply(res.status, res.headers, res.read().decode())
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.headers, e.read().decode())

    def token(self, username, password):
        r = self.request(
            "POST", "/auth/token", {"username": username, "password": password}
        )
        assert r.status == 200, r
        return r.json["access_token"]

    def add_user(self, username, password, *roles):
        # --init: the first user of a test's fresh data dir creates the store.
        args = ["users", "add", username, "--init"]
        for role in roles:
            args += ["--role", role]
        return self.cli(*args, stdin=password + "\n")


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="mcp-e2e-") as d:
        yield Path(d)


@pytest.fixture
def make_server(data_dir):
    """Factory: make_server(env=..., args=...) -> a started Server; all are stopped afterwards."""
    servers = []

    def make(env=None, args=(), start=True, directory=None):
        s = Server(directory or data_dir, env=env, args=args)
        servers.append(s)
        return s.start() if start else s

    yield make
    for s in servers:
        s.stop()
        # Shown by pytest only when the test failed.
        print(f"--- server log {s.log_path} (tail) ---")
        print(s.read_log()[-6000:])


@pytest.fixture
def server(make_server):
    """A started server on SQLite with an admin user (`admin`)."""
    s = make_server(start=False)
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    return s.start()


@pytest.fixture
def admin_token(server):
    return server.token("admin", ADMIN_PASSWORD)
