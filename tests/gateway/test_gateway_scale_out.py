"""Upstream budgets across two server instances (docs/gateway.md, "Budgets and several
instances").

Two instances share the users, roles, tokens, graph and limit counters in one Bolt store (as in
tests/test_scale_out.py) and put the same upstream behind their gateways: an MCP server built
with the official Python SDK (py_upstream.py) over streamable HTTP, configured twice, as `web`
(with a budget of its own) and as `other` (only the budget for all upstreams). A user's upstream
budget is spent once across both instances: the calls that pass through A and through B together
never exceed it, and then both refuse (429 with `Retry-After` over REST, a tool error with
`retry_after_secs` over MCP), audited as `rate_limit_exceeded` naming the budget.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ADMIN_PASSWORD, ROOT, Server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mcp"))
from mcp_support import connect, run  # noqa: E402
from test_scale_out import bolt_env  # noqa: E402

PY_UPSTREAM = ROOT / "crates" / "mcp-gateway" / "tests" / "upstreams" / "py_upstream.py"
PASSWORD = "gw-scale-password-1"
ALL_PER_MINUTE = 4
WEB_PER_MINUTE = 3


def config_toml(port):
    upstream = f'[gateway.upstreams.http]\nurl = "http://127.0.0.1:{port}/mcp"\n'
    return f"""
[roles.gw-user]
inherits = ["developer"]
permissions = ["upstream:web:*", "upstream:other:*"]

[gateway]
calls_per_minute = {ALL_PER_MINUTE}

[[gateway.upstreams]]
namespace = "web"
calls_per_minute = {WEB_PER_MINUTE}
{upstream}
[[gateway.upstreams]]
namespace = "other"
{upstream}"""


def both_up(s):
    r = s.request("GET", "/ready")
    return (r.json or {}).get("upstreams") == {"web": "up", "other": "up"}


@pytest.fixture(scope="module")
def pair():
    env = bolt_env()
    audit_db = env["MCP_NEO4J_DATABASE"] + "_audit_"
    with tempfile.TemporaryDirectory(prefix="mcp-gw-scale-") as d:
        d = Path(d)
        state = d / "upstream"
        state.mkdir()
        upstream = subprocess.Popen(
            [sys.executable, str(PY_UPSTREAM), "--state", str(state), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        servers = []
        try:
            line = upstream.stdout.readline()
            assert line.startswith("PORT "), line
            (d / "config.toml").write_text(config_toml(int(line.split()[1])))
            for name in ("a", "b", "cli"):
                (d / name).mkdir()
                servers.append(
                    Server(
                        d / name,
                        env={
                            **env,
                            "MCP_CONFIG": str(d / "config.toml"),
                            "MCP_NEO4J_AUDIT_DATABASE": audit_db + name,
                        },
                    )
                )
            a, b, admin = servers
            admin.add_user("admin", ADMIN_PASSWORD, "admin")
            a.start()
            b.start()
            deadline = time.time() + 60
            while not (both_up(a) and both_up(b)) and time.time() < deadline:
                time.sleep(0.1)
            assert both_up(a) and both_up(b), (a.request("GET", "/ready"), b.request("GET", "/ready"))
            a.admin = a.token("admin", ADMIN_PASSWORD)
            b.admin = b.token("admin", ADMIN_PASSWORD)
            yield a, b
        finally:
            for s in servers[:2]:
                s.stop()
                print(f"--- server log {s.log_path} (tail) ---")
                print(s.read_log()[-4000:])
            upstream.kill()
            upstream.wait()
            shutil.rmtree(state, ignore_errors=True)


def new_user(a, name):
    """A user made through A (shared store) with the upstream permissions; its token from A."""
    r = a.request(
        "POST",
        "/api/v1/users",
        {"username": name, "password": PASSWORD, "roles": ["gw-user"]},
        token=a.admin,
    )
    assert r.status == 201, r
    return a.token(name, PASSWORD)


def add(s, token, tool):
    return s.request("POST", f"/api/v1/gateway/tools/{tool}", {"a": 2, "b": 3}, token=token)


def spend(a, b, token, tool, calls):
    """`calls` calls of `tool`, alternately through A and B; the statuses in order."""
    return [add((a, b)[i % 2], token, tool).status for i in range(calls)]


def limited_events(s, user_id):
    r = s.request("GET", "/api/v1/audit?event_type=rate_limit_exceeded&limit=200", token=s.admin)
    assert r.status == 200, r
    return [e["event"] for e in r.json if e["event"]["user_id"] == user_id]


def test_an_upstreams_own_budget_is_spent_once_across_both_instances(pair):
    a, b = pair
    token = new_user(a, "web-caller")
    statuses = spend(a, b, token, "web__add", WEB_PER_MINUTE)
    assert statuses == [200] * WEB_PER_MINUTE, statuses
    for s in (a, b):
        r = add(s, token, "web__add")
        assert r.status == 429, (s.port, r)
        assert r.json["error"]["code"] == "rate_limited", r
        assert int(r.headers["Retry-After"]) >= 1, r.headers

    async def over_mcp():
        async with connect(b, token) as c:
            return await c.call_tool("web__add", {"a": 2, "b": 3})

    result = run(over_mcp())
    assert result.is_error, result
    error = result.structured_content["error"]
    assert error["code"] == "rate_limited" and error["retry_after_secs"] >= 1, error

    # The refusals took nothing from the budget for all upstreams: `other` still answers.
    assert add(a, token, "other__add").status == 200

    user_id = a.request("GET", "/api/v1/me", token=token).json["user_id"]
    for s in (a, b):
        events = limited_events(s, user_id)
        assert events, f"instance {s.port} audited no refusal"
        for e in events:
            assert e["resource"] == "upstream:web:add", e
            assert e["details"]["limit"] == "gateway.upstreams.calls_per_minute", e
            assert e["details"]["namespace"] == "web", e


def test_the_budget_for_all_upstreams_is_spent_once_across_both_instances(pair):
    a, b = pair
    token = new_user(a, "all-caller")
    # `other` has no budget of its own: only gateway.calls_per_minute counts.
    statuses = spend(a, b, token, "other__add", ALL_PER_MINUTE + 2)
    assert statuses == [200] * ALL_PER_MINUTE + [429, 429], statuses
    # Spent for every upstream, on both instances.
    for s in (a, b):
        assert add(s, token, "web__add").status == 429
    user_id = b.request("GET", "/api/v1/me", token=token).json["user_id"]
    assert all(
        e["details"]["limit"] == "gateway.calls_per_minute"
        for s in (a, b)
        for e in limited_events(s, user_id)
    )
