"""The gateway end to end: the real binary with real upstreams behind it.

One server for the module, with two upstreams:
- `fs`: the npm `@modelcontextprotocol/server-filesystem` over stdio, run by the server in the
  sandbox with one granted directory (it is told it may serve `/`: the sandbox decides);
- `web`: an MCP server built with the official Python SDK (crates/mcp-gateway/tests/upstreams/
  py_upstream.py) over streamable HTTP, behind OAuth client credentials.

The server redacts its own tools' outputs too (`redact_tool_outputs`) and looks for catalog
changes every 200 ms (list_changed notifications).

Users: `gw` holds `upstream:web:*` and `upstream:fs:read_*` / `upstream:fs:list_*` on top of
`developer`; `gw2` the same (its own rate budget); `dev` is a plain developer; `admin`.
"""

import asyncio
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from conftest import ADMIN_PASSWORD, ROOT, Server
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mcp"))
from mcp.shared.exceptions import MCPError  # noqa: E402
from mcp_support import connect, run  # noqa: E402

UPSTREAMS = ROOT / "crates" / "mcp-gateway" / "tests" / "upstreams"
PY_UPSTREAM = UPSTREAMS / "py_upstream.py"
FS_SERVER = (
    UPSTREAMS
    / "node_modules"
    / "@modelcontextprotocol"
    / "server-filesystem"
    / "dist"
    / "index.js"
)
PASSWORD = "gateway-e2e-password"
PERMISSION_DENIED = -32003
FS_CALLS_PER_MINUTE = 6


def world_readable_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return Path(d)


def write_readable(path, text):
    path.write_text(text)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)


class PyUpstream:
    """py_upstream.py over HTTP, restartable on the same port."""

    def __init__(self, state):
        self.state = state
        self.variant = state / "variant"
        self.variant.write_text("v1")
        self.port = 0
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(PY_UPSTREAM),
                "--state",
                str(self.state),
                "--port",
                str(self.port),
                "--variant-file",
                str(self.variant),
                "--require-token",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def config_toml(granted, web_port):
    return f"""
[roles.gw-user]
inherits = ["developer"]
permissions = ["upstream:web:*", "upstream:fs:read_*", "upstream:fs:list_*"]

[gateway]
redact_tool_outputs = true
[[gateway.upstreams]]
namespace = "fs"
calls_per_minute = {FS_CALLS_PER_MINUTE}
[gateway.upstreams.stdio]
command = "/usr/bin/node"
args = ["{FS_SERVER}", "/"]
env = {{ PATH = "/usr/bin:/bin" }}
grants = {{ read_only = ["{UPSTREAMS}", "{granted}"] }}

[[gateway.upstreams]]
namespace = "web"
required = true
restart_initial_ms = 100
restart_max_ms = 500
[gateway.upstreams.http]
url = "http://127.0.0.1:{web_port}/mcp"
oauth = {{ token_url = "http://127.0.0.1:{web_port}/token", client_id = "gw-client", client_secret_env = "GW_SECRET" }}
"""


@pytest.fixture(scope="module")
def gw():
    """The server, its upstreams and the users' tokens."""
    if not FS_SERVER.exists():
        pytest.fail(f"{FS_SERVER} missing: run scripts/install-test-deps")
    with tempfile.TemporaryDirectory(prefix="mcp-gw-") as data:
        data = Path(data)
        state = world_readable_dir("gw-state-")
        granted = world_readable_dir("gw-granted-")
        host = world_readable_dir("gw-host-")
        write_readable(granted / "granted.txt", "hello from the grant")
        write_readable(host / "secret.txt", "host secret 8c1f")
        web = PyUpstream(state).start()
        (data / "config.toml").write_text(config_toml(granted, web.port))
        s = Server(
            data,
            env={
                "MCP_CONFIG": str(data / "config.toml"),
                "GW_SECRET": "gw-secret",
                "MCP_MCP__WATCH_INTERVAL_MS": "200",
            },
        )
        s.add_user("admin", ADMIN_PASSWORD, "admin")
        s.add_user("gw", PASSWORD, "gw-user")
        s.add_user("gw2", PASSWORD, "gw-user")
        s.add_user("dev", PASSWORD, "developer")
        s.start()
        try:
            assert wait_until(lambda: all_up(s), 60), s.request("GET", "/ready")
            s.web = web
            s.state = state
            s.granted = granted
            s.host = host
            s.tokens = {
                "admin": s.token("admin", ADMIN_PASSWORD),
                "gw": s.token("gw", PASSWORD),
                "gw2": s.token("gw2", PASSWORD),
                "dev": s.token("dev", PASSWORD),
            }
            yield s
        finally:
            s.stop()
            web.stop()
            print(s.read_log()[-6000:])
            for d in (state, granted, host):
                shutil.rmtree(d, ignore_errors=True)


def wait_until(check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def all_up(s):
    r = s.request("GET", "/ready")
    return (r.json or {}).get("upstreams") == {"fs": "up", "web": "up"}


def audit(s, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    r = s.request("GET", f"/api/v1/audit?{q}&limit=200", token=s.tokens["admin"])
    assert r.status == 200, r
    return [stored["event"] for stored in r.json]


def call(s, user, name, args):
    return s.request(
        "POST", f"/api/v1/gateway/tools/{name}", args, token=s.tokens[user]
    )


def text_of(result):
    return "".join(c.get("text", "") for c in result["content"])


def test_the_catalog_is_namespaced_and_filtered_by_permission(gw):
    async def main():
        async with connect(gw, gw.tokens["gw"]) as c:
            names = {t.name for t in (await c.list_tools()).tools}
        async with connect(gw, gw.tokens["dev"]) as c:
            dev_names = {t.name for t in (await c.list_tools()).tools}
        return names, dev_names

    names, dev_names = run(main())
    assert {"web__add", "web__slow", "web__leak", "web__weather"} <= names, names
    assert {"fs__read_text_file", "fs__list_directory"} <= names, names
    assert "fs__write_file" not in names, "not granted: not listed"
    assert "execute_code" in names, "the server's own tools stay"
    assert not any("__" in n for n in dev_names), dev_names
    r = gw.request("GET", "/api/v1/gateway/tools", token=gw.tokens["gw"])
    assert r.status == 200, r
    add = next(t for t in r.json if t["name"] == "web__add")
    assert add["permission"] == "upstream:web:add"
    assert add["definition"]["description"] == "Adds two integers."


def test_a_tool_is_called_over_mcp_rest_and_stdio_and_audited(gw):
    async def over(transport):
        async with connect(gw, gw.tokens["gw"], transport) as c:
            r = await c.call_tool("web__add", {"a": 2, "b": 3})
            assert not r.is_error, r
            return r.content[0].text

    assert run(over("http")) == "5"
    assert run(over("stdio")) == "5"
    r = call(gw, "gw", "web__add", {"a": 2, "b": 3})
    assert r.status == 200, r
    assert text_of(r.json) == "5"
    digest = hashlib.sha256(json.dumps({"a": 2, "b": 3}, separators=(",", ":")).encode())
    events = [
        e
        for e in audit(gw, event_type="upstream_call")
        if e["resource"] == "upstream:web:add"
    ]
    assert len(events) >= 3, events
    e = events[0]
    assert e["details"]["arguments_sha256"] == digest.hexdigest(), e
    assert e["details"]["outcome"] == "ok" and e["success"] is True, e
    assert e["action"] == "tools/call" and e["duration_ms"] is not None, e
    users = {ev["user_id"] for ev in events}
    assert len(users) == 1 and "gw" not in users, "the caller's user id, not its name"


def test_a_tool_outside_the_grant_is_refused_and_audited(gw):
    async def main():
        async with connect(gw, gw.tokens["gw"]) as c:
            with pytest.raises(MCPError) as e:
                await c.call_tool("fs__write_file", {"path": "/tmp/x", "content": "x"})
            assert e.value.code == PERMISSION_DENIED
            assert e.value.data == {"permission": "upstream:fs:write_file"}

    run(main())
    r = call(gw, "dev", "web__add", {"a": 1, "b": 1})
    assert r.status == 403, r
    assert r.json["error"]["message"] == "Permission denied: upstream:web:add"
    denied = {
        e["action"]
        for e in audit(gw, event_type="authz_denied")
        if (e["action"] or "").startswith("upstream:")
    }
    assert denied == {"upstream:fs:write_file", "upstream:web:add"}, denied


def test_planted_secrets_are_redacted_and_the_audit_counts_them(gw):
    r = call(gw, "gw", "web__leak", {})
    assert r.status == 200, r
    text = json.dumps(r.json)
    for secret in ["AKIAIOSFODNN7EXAMPLE", "4111 1111 1111 1111", "ops@example.com"]:
        assert secret not in text, text
    assert "[REDACTED:" in text, text
    events = [
        e
        for e in audit(gw, event_type="upstream_call")
        if e["resource"] == "upstream:web:leak"
    ]
    assert events, "the call is audited"
    counts = events[0]["details"]["result_redactions"]
    assert counts.get("aws_access_key_id", 0) >= 1, counts
    assert "AKIAIOSFODNN7EXAMPLE" not in json.dumps(events), events


def test_progress_is_forwarded_and_a_cancelled_call_is_cancelled_upstream(gw):
    async def main():
        async with connect(gw, gw.tokens["gw"]) as c:
            seen = []

            async def on_progress(progress, total, message):
                seen.append((progress, total, message))

            r = await c.call_tool(
                "web__slow", {"steps": 3, "delay": 0.05}, progress_callback=on_progress
            )
            assert not r.is_error, r
            assert [p for p, _, _ in seen] == [1, 2, 3], seen
            assert seen[-1][2] == "step 3", seen

            marker = gw.state / "cancelled"
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:

                    async def long_call():
                        await c.call_tool("web__slow", {"steps": 100, "delay": 0.2})
                        pytest.fail("the slow call answered")

                    tg.start_soon(long_call)
                    await anyio.sleep(1.0)
                    scope.cancel()
            for _ in range(100):
                if marker.exists():
                    break
                await asyncio.sleep(0.1)
            assert marker.exists(), "the upstream was not told of the cancellation"

    run(main())
    assert wait_until(
        lambda: any(
            e["details"]["outcome"] == "cancelled"
            for e in audit(gw, event_type="upstream_call")
            if e["resource"] == "upstream:web:slow"
        ),
        10,
    ), "the cancelled call is audited as cancelled"


def test_upstream_resources_and_prompts_are_listed_and_read_over_rest_redacted(gw):
    listed = gw.request("GET", "/api/v1/gateway/resources", token=gw.tokens["gw"])
    assert listed.status == 200, listed
    uris = {r["uri"] for r in listed.json["resources"]}
    assert "web+note://deploy" in uris, listed.json
    r = gw.request(
        "POST",
        "/api/v1/gateway/resources/read",
        {"uri": "web+note://deploy"},
        token=gw.tokens["gw"],
    )
    assert r.status == 200, r
    text = r.json["contents"][0]["text"]
    assert "deploy with key" in text and "AKIAIOSFODNN7EXAMPLE" not in text, text
    assert "[REDACTED:" in text, text
    r = gw.request(
        "POST",
        "/api/v1/gateway/resources/read",
        {"uri": "web+note://deploy"},
        token=gw.tokens["dev"],
    )
    assert r.status == 403, r

    prompts = gw.request("GET", "/api/v1/gateway/prompts", token=gw.tokens["gw"])
    assert prompts.status == 200, prompts
    review = next(p for p in prompts.json if p["name"] == "web__review")
    assert [a["name"] for a in review["arguments"]] == ["topic"], review
    r = gw.request(
        "POST", "/api/v1/gateway/prompts/web__review", {"topic": "the gateway"},
        token=gw.tokens["gw"],
    )
    assert r.status == 200, r
    message = r.json["messages"][0]["content"]["text"]
    assert "Review the gateway" in message, message
    assert "4111 1111 1111 1111" not in message, message
    r = gw.request(
        "POST", "/api/v1/gateway/prompts/web__nope", {}, token=gw.tokens["gw"]
    )
    assert r.status == 404, r
    events = [
        e
        for e in audit(gw, event_type="upstream_call")
        if e["resource"] in ("upstream:web:note://deploy", "upstream:web:review")
        or e["action"] in ("resources/read", "prompts/get")
    ]
    assert {e["action"] for e in events} >= {"resources/read", "prompts/get"}, events
    assert "AKIAIOSFODNN7EXAMPLE" not in json.dumps(events)


def test_own_tool_outputs_are_redacted_over_rest_when_configured(gw):
    node = {
        "label": "Leaky",
        "key": "k1",
        "properties": {"note": "key AKIAIOSFODNN7EXAMPLE", "plain": "nothing here"},
    }
    r = gw.request("POST", "/api/v1/graph/nodes", node, token=gw.tokens["admin"])
    assert r.status == 200, r
    assert "AKIAIOSFODNN7EXAMPLE" not in r.text, r
    assert r.json["properties"]["plain"] == "nothing here", r
    r = gw.request(
        "POST",
        "/api/v1/graph/query",
        {"cypher": "MATCH (n:Leaky) RETURN n.note AS note, n.plain AS plain"},
        token=gw.tokens["gw"],
    )
    assert r.status == 200, r
    assert "AKIAIOSFODNN7EXAMPLE" not in r.text and "[REDACTED:" in r.text, r
    assert "nothing here" in r.text, r

    async def over_mcp():
        async with connect(gw, gw.tokens["gw"]) as c:
            result = await c.call_tool(
                "graph_query",
                {"cypher": "MATCH (n:Leaky) RETURN n.note AS note"},
            )
            return json.dumps(result.structured_content)

    text = run(over_mcp())
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "[REDACTED:" in text, text


def test_the_sandbox_shows_the_grant_and_no_other_host_file(gw):
    r = call(gw, "gw", "fs__read_text_file", {"path": str(gw.granted / "granted.txt")})
    assert r.status == 200, r
    assert "hello from the grant" in text_of(r.json), r
    r = call(gw, "gw", "fs__read_text_file", {"path": str(gw.host / "secret.txt")})
    assert "host secret" not in r.text, r
    assert r.status == 200 and r.json.get("isError") is True, r
    assert os.path.exists(gw.host / "secret.txt")


def test_calls_past_the_upstream_budget_are_refused_with_429(gw):
    statuses = []
    for _ in range(FS_CALLS_PER_MINUTE + 1):
        r = call(gw, "gw2", "fs__list_allowed_directories", {})
        statuses.append(r.status)
    assert statuses[:FS_CALLS_PER_MINUTE] == [200] * FS_CALLS_PER_MINUTE, statuses
    assert statuses[-1] == 429, statuses
    assert int(r.headers["Retry-After"]) >= 1
    limited = audit(gw, event_type="rate_limit_exceeded")
    assert any(e["resource"] == "upstream:fs:list_allowed_directories" for e in limited)


def test_ready_and_metrics_report_each_upstream(gw):
    r = gw.request("GET", "/ready")
    assert r.status == 200, r
    assert r.json["checks"]["upstream:web"] == "ok", r
    assert "upstream:fs" not in r.json["checks"], "fs is not required"
    text = gw.request("GET", "/metrics").text
    assert 'mcp_gateway_upstream_up{namespace="fs"} 1' in text, text[-3000:]
    assert 'mcp_gateway_upstream_up{namespace="web"} 1' in text
    assert 'mcp_gateway_upstream_calls_total{namespace="web"}' in text
    r = gw.request("GET", "/api/v1/gateway/upstreams", token=gw.tokens["admin"])
    assert r.status == 200 and {u["namespace"] for u in r.json} == {"fs", "web"}, r
    assert gw.request("GET", "/api/v1/gateway/upstreams", token=gw.tokens["gw"]).status == 403


class Inbox:
    """Notifications an MCP client received."""

    def __init__(self):
        self.items = []

    async def message(self, message):
        if not isinstance(message, Exception):
            self.items.append(message)

    def count(self, kind):
        method = f"notifications/{kind}/list_changed"
        return len([m for m in self.items if getattr(m, "method", None) == method])

    async def more(self, kind, than, seconds=20):
        deadline = asyncio.get_running_loop().time() + seconds
        while self.count(kind) <= than:
            assert asyncio.get_running_loop().time() < deadline, [
                getattr(m, "method", None) for m in self.items
            ]
            await asyncio.sleep(0.05)


class SessionThread:
    """One MCP session of user `gw` (the official client, legacy mode: a session with a change
    watcher) kept open in a thread of its own while the test drives the server synchronously."""

    def __init__(self, gw, inbox):
        self.gw = gw
        self.inbox = inbox
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.client = None
        self.done = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self):
        self.thread.start()
        self.wait(self._open())

    async def _open(self):
        self.done = asyncio.Event()
        opened = asyncio.Event()

        async def hold():
            headers = {"Authorization": f"Bearer {self.gw.tokens['gw']}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
                Client(
                    streamable_http_client(self.gw.url + "/mcp", http_client=http),
                    mode="legacy",
                    message_handler=self.inbox.message,
                ) as c,
            ):
                self.client = c
                opened.set()
                await self.done.wait()

        self.task = asyncio.ensure_future(hold())
        await asyncio.wait_for(opened.wait(), 30)

    def wait(self, coro, seconds=60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(seconds)

    def call(self, f):
        async def go():
            return await f(self.client)

        return self.wait(go())

    def stop(self):
        async def close():
            self.done.set()
            await asyncio.wait_for(self.task, 10)

        try:
            self.wait(close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def test_a_crashed_upstream_comes_back_and_a_changed_definition_waits_for_an_admin(gw):
    """Runs last: it restarts the HTTP upstream with another `weather` description. An MCP
    client connected all along is told each time the catalog changes."""
    inbox = Inbox()
    session = SessionThread(gw, inbox)
    session.start()
    try:
        crash_and_approve(gw, inbox, session)
    finally:
        session.stop()


def names_of(session):
    return {t.name for t in session.call(lambda c: c.list_tools(cache_mode="bypass")).tools}


def crash_and_approve(gw, inbox, session):
    assert "web__weather" in names_of(session)
    before = call(gw, "gw", "web__weather", {"city": "Oslo"})
    assert before.status == 200 and "sunny in Oslo" in text_of(before.json), before
    tools, resources, prompts = (inbox.count(k) for k in ("tools", "resources", "prompts"))
    r = call(gw, "gw", "web__crash", {})
    assert r.status in (502, 503), r
    gw.web.proc.wait(timeout=10)
    # Down: its tools, resources and prompts are gone, and the client is told.
    session.wait(inbox.more("tools", tools))
    session.wait(inbox.more("resources", resources))
    session.wait(inbox.more("prompts", prompts))
    down = names_of(session)
    assert not any(n.startswith("web__") for n in down), down
    assert "fs__read_text_file" in down
    tools = inbox.count("tools")
    gw.web.variant.write_text("v2")
    gw.web.start()
    # Up again, with `weather` withheld: told again.
    session.wait(inbox.more("tools", tools))

    def withheld():
        r = gw.request("GET", "/api/v1/gateway/upstreams", token=gw.tokens["admin"])
        web = next(u for u in r.json if u["namespace"] == "web")
        return web["state"] == "up" and web["withheld"] == 1

    assert wait_until(withheld, 30), gw.request(
        "GET", "/api/v1/gateway/upstreams", token=gw.tokens["admin"]
    )
    assert call(gw, "gw", "web__add", {"a": 1, "b": 2}).status == 200
    up = names_of(session)
    assert "web__add" in up and "web__weather" not in up, up
    r = call(gw, "gw", "web__weather", {"city": "Oslo"})
    assert r.status == 409, r
    listed = gw.request("GET", "/api/v1/gateway/tools", token=gw.tokens["gw"]).json
    assert "web__weather" not in {t["name"] for t in listed}

    violations = [
        e
        for e in audit(gw, event_type="security_violation")
        if e["resource"] == "upstream:web:weather"
    ]
    assert len(violations) == 1, violations
    v = violations[0]
    assert v["details"]["changed_fields"] == ["description"], v
    assert "Gets the weather for a city." in v["details"]["approved"]["text"]
    assert "IMPORTANT" in v["details"]["offered"]["text"]

    pins = gw.request("GET", "/api/v1/gateway/pins", token=gw.tokens["admin"]).json
    pending = [p for p in pins["pending"] if p["tool"] == "weather"]
    assert len(pending) == 1, pins
    new_hash = pending[0]["pending"]["hash"]
    path = "/api/v1/gateway/pins/web/weather"
    r = gw.request(
        "POST", f"{path}/approve", {"hash": new_hash}, token=gw.tokens["gw"]
    )
    assert r.status == 403, r
    r = gw.request(
        "POST", f"{path}/approve", {"hash": "0" * 64}, token=gw.tokens["admin"]
    )
    assert r.status == 409, r
    r = gw.request(
        "POST", f"{path}/reject", {"hash": new_hash}, token=gw.tokens["admin"]
    )
    assert r.status == 200 and r.json["rejected"]["hash"] == new_hash, r
    assert call(gw, "gw", "web__weather", {"city": "Oslo"}).status == 409

    listing = gw.cli("gateway", "pins").stdout
    assert "web\tweather\tpinned" in listing, listing
    tools = inbox.count("tools")
    out = gw.cli("gateway", "approve", "web", "weather", new_hash)
    assert "approved" in out.stdout, out
    # The running server picks the decision up from the shared pin store.
    assert wait_until(
        lambda: call(gw, "gw", "web__weather", {"city": "Oslo"}).status == 200, 15
    )
    # Approved: served again, and the client is told.
    session.wait(inbox.more("tools", tools))
    assert "web__weather" in names_of(session)
    approved = [
        e
        for e in audit(gw, event_type="gateway")
        if e["action"] == "definition_approved"
    ]
    assert len(approved) == 1 and approved[0]["user_id"] == "cli", approved
    assert "IMPORTANT" in approved[0]["details"]["text"], "the audit keeps the approved text"
    rejected = [
        e for e in audit(gw, event_type="gateway") if e["action"] == "definition_rejected"
    ]
    assert len(rejected) == 1, rejected
