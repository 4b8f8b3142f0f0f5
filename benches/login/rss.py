#!/usr/bin/env python3
"""Memory of parallel log-ins: the server's resident set size (RSS) before, at the peak of, and
after a burst of N simultaneous `POST /auth/token` calls (wrong passwords, so every one of
them is an Argon2 check), against a release binary on SQLite in a fresh temp data dir.

Usage: benches/login/rss.py [--bin target/release/mcp-server] [--parallel 100] [--rounds 3]

Each round uses its own user names, so the lock-out (per name and address) lets every
attempt be checked; the per-address lock-out is raised for the run. Prints one line per
round and a summary; the numbers go to docs/performance.md by hand. Goal: the peak stays
near `auth.max_concurrent_password_checks` x 19 MiB above the idle size, and the RSS falls
back after the burst (SECURITY.md, "Log-in")."""

import argparse
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def post(url, body, timeout=120):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/mcp-server"))
    ap.add_argument("--parallel", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="mcp-login-rss-") as data:
        env = dict(os.environ)
        env.update(
            {
                "MCP_DATA_DIR": data,
                "MCP_LOG_LEVEL": "warn",
                "MCP_AUTH__MAX_FAILURES_PER_IP": "1000000",
                "MCP_AUTH__MAX_FAILURES_PER_ACCOUNT": "1000000",
                "MCP_AUDIT__UNAUTHENTICATED_EVENTS_PER_MINUTE": "1000000",
            }
        )
        log = open(Path(data) / "server.log", "wb")
        proc = subprocess.Popen(
            [args.bin, "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/health", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise SystemExit("the server did not start")
                    time.sleep(0.1)
            time.sleep(1)
            idle = rss_kib(proc.pid)
            print(f"idle RSS: {idle / 1024:.1f} MiB")
            for rnd in range(args.rounds):
                peak = [rss_kib(proc.pid)]
                done = threading.Event()

                def sample():
                    while not done.is_set():
                        peak[0] = max(peak[0], rss_kib(proc.pid))
                        time.sleep(0.005)

                sampler = threading.Thread(target=sample)
                sampler.start()
                started = time.time()
                with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
                    statuses = list(
                        pool.map(
                            lambda i: post(
                                url + "/auth/token",
                                {"username": f"r{rnd}u{i}", "password": "wrong-password"},
                            ),
                            range(args.parallel),
                        )
                    )
                took = time.time() - started
                done.set()
                sampler.join()
                time.sleep(2)
                after = rss_kib(proc.pid)
                counts = {s: statuses.count(s) for s in sorted(set(statuses))}
                print(
                    f"round {rnd + 1}: {args.parallel} parallel log-ins in {took:.1f} s, "
                    f"statuses {counts}, peak RSS {peak[0] / 1024:.1f} MiB, "
                    f"RSS 2 s after {after / 1024:.1f} MiB"
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
