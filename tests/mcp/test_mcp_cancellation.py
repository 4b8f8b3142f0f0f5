"""Cancelling a tool call stops its sandbox run (MCP cancellation utility), over streamable HTTP
and stdio: with the official Python client (which sends `notifications/cancelled`, or closes the
request's stream on 2026-07-28 HTTP) and with raw messages, to see that nothing is answered for
the cancelled request.

The server runs with one sandbox slot, so a run still going would hold up the next call for the
rest of its 30 s; the run is a bash `sleep 30.<n>` with a unique argument, found in /proc while
it lives."""

import hashlib
import json
import os
import queue
import random
import socket
import threading
import time
from pathlib import Path

import anyio
import pytest
from conftest import ADMIN_PASSWORD
from mcp_support import (
    INITIALIZE,
    TRANSPORT_IDS,
    TRANSPORTS,
    connect,
    run,
    stdio_process,
    structured,
)

# Bounds for "well before the 30 s the run would take"; no speed goal.
STARTS_WITHIN = 20.0
GONE_WITHIN = 15.0
ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def server1(make_server):
    """A server with one sandbox slot and an admin."""
    s = make_server(start=False, env={"MCP_SANDBOX__PARALLELISM": "1"})
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    return s.start()


def sleep_run():
    """Bash code sleeping 30 s, with an argument no other process has."""
    arg = f"30.{random.randrange(10**8, 10**9)}"
    code = f"sleep {arg}\necho never\n"
    args = {"language": "bash", "code": code, "limits": {"wall_time_ms": 45000}}
    return arg, code, args


def sleeping(arg):
    """Whether a `sleep <arg>` process exists on this host."""
    want = b"sleep\0" + arg.encode() + b"\0"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(want) or (b"/sleep\0" + arg.encode()) in cmdline:
            return True
    return False


def wait_until(predicate, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


async def async_wait_until(predicate, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await anyio.sleep(0.05)
    return predicate()


def cancelled_events(server, token, code, outcome="cancelled"):
    """The `code_execution` audit events of `code` with `outcome`."""
    r = server.request(
        "GET", "/api/v1/audit?event_type=code_execution&limit=50", token=token
    )
    assert r.status == 200, r
    digest = hashlib.sha256(code.encode()).hexdigest()
    events = r.json["events"] if isinstance(r.json, dict) else r.json
    out = []
    for e in events:
        event = e.get("event", e)
        details = event.get("details") or {}
        if details.get("code_sha256") == digest and details.get("outcome") == outcome:
            out.append(event)
    return out


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_a_cancelled_run_is_killed_frees_its_slot_and_is_audited(
    server1, transport, mode
):
    token = server1.token("admin", ADMIN_PASSWORD)
    arg, code, args = sleep_run()

    async def main():
        async with connect(server1, token, transport, mode) as c:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:

                    async def long_call():
                        await c.call_tool("execute_code", args)
                        pytest.fail("the 30 s run answered")

                    tg.start_soon(long_call)
                    assert await async_wait_until(
                        lambda: sleeping(arg), STARTS_WITHIN
                    ), "the run did not start"
                    scope.cancel()
            cancelled_at = time.monotonic()
            assert await async_wait_until(lambda: not sleeping(arg), GONE_WITHIN), (
                "the sandbox process outlived the cancellation"
            )
            # One slot: this run can only start once the cancelled one let go of it.
            out = structured(
                await c.call_tool(
                    "execute_code", {"language": "bash", "code": "echo next"}
                )
            )
            assert out["stdout"] == "next\n", out
            assert time.monotonic() - cancelled_at < GONE_WITHIN

    run(main())
    assert wait_until(lambda: cancelled_events(server1, token, code), 10), (
        "no audit event with outcome cancelled"
    )
    event = cancelled_events(server1, token, code)[0]
    assert event["success"] is False and event["error_message"], event


def test_no_answer_is_sent_for_a_request_cancelled_over_stdio(server1):
    token = server1.token("admin", ADMIN_PASSWORD)
    arg, _, args = sleep_run()
    proc = stdio_process(server1, token)
    lines = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(json.loads(line))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()

    def send(message):
        proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()

    def answer_to(id, within=60):
        seen = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                m = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if m is None:
                break
            seen.append(m)
            if m.get("id") == id:
                return m, seen
        raise AssertionError(f"no answer to {id}: {seen}")

    try:
        send(INITIALIZE)
        answer_to(0)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "execute_code", "arguments": args},
            }
        )
        assert wait_until(lambda: sleeping(arg), STARTS_WITHIN), "the run did not start"
        send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 1, "reason": "test"},
            }
        )
        assert wait_until(lambda: not sleeping(arg), GONE_WITHIN), (
            "the sandbox process outlived the cancellation"
        )
        send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "execute_code",
                    "arguments": {"language": "bash", "code": "echo next"},
                },
            }
        )
        reply, seen = answer_to(2, within=GONE_WITHIN)
        assert reply["result"]["structuredContent"]["stdout"] == "next\n", reply
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        rest = []
        while (m := lines.get(timeout=10)) is not None:
            rest.append(m)
        assert not [m for m in seen + rest if m.get("id") == 1], seen + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_no_answer_is_sent_for_a_request_cancelled_in_an_http_session(server1):
    token = server1.token("admin", ADMIN_PASSWORD)
    arg, _, args = sleep_run()

    def post(message, session=None):
        hdrs = {"Content-Type": "application/json", "Accept": ACCEPT}
        if session:
            hdrs["Mcp-Session-Id"] = session
            hdrs["Mcp-Protocol-Version"] = INITIALIZE["params"]["protocolVersion"]
        return server1.request(
            "POST",
            "/mcp",
            raw=json.dumps(message).encode(),
            token=token,
            headers=hdrs,
            timeout=60,
        )

    r = post(INITIALIZE)
    assert r.status == 200, r
    session = r.headers["Mcp-Session-Id"]
    assert (
        post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session).status
        == 202
    )

    replies = {}

    def long_call():
        started = time.monotonic()
        replies["call"] = post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "execute_code", "arguments": args},
            },
            session,
        )
        replies["took"] = time.monotonic() - started

    caller = threading.Thread(target=long_call, daemon=True)
    caller.start()
    assert wait_until(lambda: sleeping(arg), STARTS_WITHIN), "the run did not start"
    r = post(
        {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": 1, "reason": "test"},
        },
        session,
    )
    assert r.status == 202, r
    caller.join(GONE_WITHIN)
    assert not caller.is_alive(), "the cancelled request's stream stayed open"
    assert wait_until(lambda: not sleeping(arg), GONE_WITHIN), (
        "the sandbox process outlived the cancellation"
    )
    stream = replies["call"]
    assert stream.status == 200, stream
    messages = [
        json.loads(line[5:])
        for line in stream.text.splitlines()
        if line.startswith("data:") and line[5:].strip()
    ]
    assert not [m for m in messages if m.get("id") == 1], stream.text
    assert replies["took"] < GONE_WITHIN + STARTS_WITHIN


def test_a_rest_run_whose_client_disconnects_is_killed_and_audited_as_abandoned(
    server1,
):
    token = server1.token("admin", ADMIN_PASSWORD)
    arg, code, args = sleep_run()
    body = json.dumps(args).encode()
    head = (
        f"POST /api/v1/execute HTTP/1.1\r\nHost: 127.0.0.1:{server1.port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server1.port), timeout=60) as conn:
        conn.sendall(head + body)
        assert wait_until(lambda: sleeping(arg), STARTS_WITHIN), "the run did not start"
    assert wait_until(lambda: not sleeping(arg), GONE_WITHIN), (
        "the sandbox process outlived its client"
    )
    r = server1.request(
        "POST",
        "/api/v1/execute",
        {"language": "bash", "code": "echo next"},
        token=token,
        timeout=GONE_WITHIN,
    )
    assert r.status == 200 and r.json["stdout"] == "next\n", r
    assert wait_until(
        lambda: cancelled_events(server1, token, code, "abandoned"), 10
    ), "no audit event with outcome abandoned"
