#!/usr/bin/env python3
"""`tools/call` round trips per second for a cheap tool (`list_templates`), over streamable
HTTP and over stdio, against the real (release) binary on loopback.

Usage: python3 benches/mcp/roundtrips.py [--bin target/release/mcp-server] [--calls 2000]
       [--seconds 10] [--connections 16]

Measures, each sequentially (one call after the other) unless said otherwise:
- http/official-client: the official Python client (`mcp` 2.x), protocol 2026-07-28;
- http/official-client-legacy: the same with the initialize handshake and a session;
- http/raw: one keep-alive connection, hand-written JSON-RPC POSTs in a session (httpx2);
- http/wrk: wrk with --connections connections on one session, for --seconds (concurrent);
- stdio/official-client: the official client over `mcp-stdio`;
- stdio/raw: hand-written lines to `mcp-stdio`, one at a time;
- stdio/pipelined: --calls lines written at once, replies read back.
The Python client's own cost dominates its rows; the raw rows show the server's.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "mcp"))

import conftest

PASSWORD = "bench-password-123"
CALL = {
    "jsonrpc": "2.0",
    "method": "tools/call",
    "params": {"name": "list_templates", "arguments": {}},
}
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}


def rate(n, seconds):
    return n / seconds if seconds > 0 else float("inf")


async def official_client(server, token, transport, mode, calls):
    from mcp_support import connect

    async with connect(server, token, transport, mode) as c:
        await c.call_tool("list_templates", {})
        start = time.perf_counter()
        for _ in range(calls):
            r = await c.call_tool("list_templates", {})
            assert not r.is_error
        return rate(calls, time.perf_counter() - start)


async def raw_http(server, token, calls):
    import httpx2

    async with httpx2.AsyncClient(
        headers={**HEADERS, "Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        r = await http.post(server.url + "/mcp", content=json.dumps(INIT))
        session = r.headers["mcp-session-id"]
        h = {"Mcp-Session-Id": session}
        await http.post(
            server.url + "/mcp",
            content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            headers=h,
        )
        start = time.perf_counter()
        for i in range(calls):
            r = await http.post(
                server.url + "/mcp",
                content=json.dumps({**CALL, "id": i + 1}),
                headers=h,
            )
            assert r.status_code == 200 and b'"result"' in r.content, r.text[:200]
        return rate(calls, time.perf_counter() - start), session


def wrk(server, token, session, seconds, connections):
    if not shutil.which("wrk"):
        return None
    body = json.dumps({**CALL, "id": 1})
    script = Path(tempfile.mkdtemp()) / "mcp.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Accept"] = "application/json, text/event-stream"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        f'wrk.headers["Mcp-Session-Id"] = "{session}"\n'
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            server.url + "/mcp",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(m.group(1)) if m else None, int(errors.group(1)) if errors else 0, out


def stdio_proc(server, token):
    env = dict(server.env, MCP_TOKEN=token, MCP_LOG_LEVEL="warn")
    p = subprocess.Popen(
        [conftest.server_bin(), "mcp-stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    p.stdin.write(
        json.dumps(INIT).encode()
        + b"\n"
        + b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
    )
    p.stdin.flush()
    assert b'"result"' in p.stdout.readline()
    return p


def raw_stdio(server, token, calls):
    p = stdio_proc(server, token)
    start = time.perf_counter()
    for i in range(calls):
        p.stdin.write(json.dumps({**CALL, "id": i + 1}).encode() + b"\n")
        p.stdin.flush()
        assert b'"result"' in p.stdout.readline()
    sequential = rate(calls, time.perf_counter() - start)
    lines = b"".join(
        json.dumps({**CALL, "id": i + 1}).encode() + b"\n" for i in range(calls)
    )
    start = time.perf_counter()
    p.stdin.write(lines)
    p.stdin.flush()
    for _ in range(calls):
        assert b'"result"' in p.stdout.readline()
    pipelined = rate(calls, time.perf_counter() - start)
    p.stdin.close()
    p.wait(timeout=30)
    return sequential, pipelined


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "mcp-server"))
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    os.environ["MCP_SERVER_BIN"] = args.bin
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as d:
        server = conftest.Server(d, env={"MCP_LOG_LEVEL": "warn"})
        server.add_user("admin", PASSWORD, "admin")
        server.start()
        try:
            token = server.token("admin", PASSWORD)
            results = {}
            n = args.calls
            results["http/official-client (2026-07-28)"] = asyncio.run(
                official_client(server, token, "http", "auto", n // 4)
            )
            results["http/official-client-legacy (session)"] = asyncio.run(
                official_client(server, token, "http", "legacy", n // 4)
            )
            results["http/raw (1 keep-alive connection)"], session = asyncio.run(
                raw_http(server, token, n)
            )
            w = wrk(server, token, session, args.seconds, args.connections)
            if w:
                results[f"http/wrk ({args.connections} connections, 1 session)"] = w[0]
                if w[1]:
                    print(f"wrk: {w[1]} non-2xx responses", file=sys.stderr)
            results["stdio/official-client"] = asyncio.run(
                official_client(server, token, "stdio", "auto", n // 4)
            )
            seq, pipe = raw_stdio(server, token, n)
            results["stdio/raw (one at a time)"] = seq
            results["stdio/pipelined"] = pipe
        finally:
            server.stop()
    print(f"{'transport/client':48} calls/s")
    for name, value in results.items():
        print(f"{name:48} {value:10.0f}")


if __name__ == "__main__":
    main()
