"""When the sandbox cannot isolate code, the real binary says so where an operator looks:
`GET /ready` lists each isolation layer with its state (and, for a missing one, the reason and
the fix) and each store with its backend; a tool call gets 503 `sandbox_unavailable` whose
message names the cause and the fix for an administrator and is a generic line for anyone else,
over REST and over MCP alike. A refused call spends no budget and is audited (outcome
`refused`, with the reason).

The outage is real: the rlimits layer needs `prlimit` or the wrapper shell's `ulimit`, and the
configuration below takes both away, so the start-up probe finds a required layer missing."""

import asyncio
import tempfile

import httpx2
import pytest
from conftest import ADMIN_PASSWORD, Server
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

DEV_PASSWORD = "developer-password-1"
NO_RLIMITS = {
    "MCP_SANDBOX__PRLIMIT": "/nonexistent/prlimit",
    "MCP_SANDBOX__SHELL_RLIMITS": "false",
    # Budgets of one call: a refused call that spent one would make the next answer 429.
    "MCP_EXECUTE_PER_MINUTE": "1",
    "MCP_LINT_PER_MINUTE": "1",
}
EXECUTE = {"language": "bash", "code": "echo"}


@pytest.fixture(scope="module")
def outage():
    with tempfile.TemporaryDirectory(prefix="mcp-e2e-outage-") as d:
        server = Server(d, env=NO_RLIMITS)
        server.add_user("admin", ADMIN_PASSWORD, "admin")
        server.add_user("dev", DEV_PASSWORD, "developer")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def layer(ready, name):
    found = [l for l in ready["sandbox"]["layers"] if l["layer"] == name]
    assert len(found) == 1, ready["sandbox"]["layers"]
    return found[0]


def test_ready_lists_each_layer_with_its_state_and_the_missing_ones_reason_and_fix(outage):
    r = outage.request("GET", "/ready")
    assert r.status == 503, r
    ready = r.json
    assert ready["status"] == "not_ready"
    assert ready["checks"]["sandbox"] == "down"
    sandbox = ready["sandbox"]
    assert sandbox["state"] == "unavailable"
    assert "rlimits" in sandbox["reason"] and "/nonexistent/prlimit" in sandbox["reason"]
    assert "prlimit" in sandbox["fix"] and "allow_weaker_isolation" in sandbox["fix"]
    assert sandbox["weaker_isolation_allowed"] is False
    rlimits = layer(ready, "rlimits")
    assert rlimits["state"] == "unavailable" and rlimits["required"] is True
    assert "/nonexistent/prlimit not found" in rlimits["reason"], rlimits
    assert "sandbox.prlimit" in rlimits["fix"], rlimits
    # The layers that work are listed as working, without host details.
    bwrap = layer(ready, "bubblewrap")
    assert bwrap == {"layer": "bubblewrap", "state": "ok", "required": True}
    names = {l["layer"] for l in sandbox["layers"]}
    assert {"seccomp", "user_namespace", "network_namespace", "cgroup_memory"} <= names
    assert sandbox["languages"]["python"] == "ok"
    # Each store with its backend and state.
    for store in ["users", "roles", "tokens", "audit", "graph"]:
        assert ready["storage"][store] == {"backend": "sqlite", "state": "ok"}, ready


def test_an_administrator_sees_the_cause_and_the_fix_of_a_tools_503(outage):
    token = outage.token("admin", ADMIN_PASSWORD)
    for path, body in [
        ("/api/v1/execute", {"language": "python", "code": "print(1)"}),
        ("/api/v1/lint", {"language": "python", "code": "import os\n"}),
        ("/api/v1/test", {"code": "x = 1\n", "tests": "def test_x():\n    pass\n"}),
    ]:
        r = outage.request("POST", path, body, token=token)
        assert r.status == 503, (path, r)
        error = r.json["error"]
        assert error["code"] == "sandbox_unavailable", (path, error)
        message = error["message"]
        assert "rlimits" in message and "/nonexistent/prlimit" in message, message
        assert "Fix:" in message and "sandbox.prlimit" in message, message


def test_anyone_else_gets_a_generic_line_without_host_details(outage):
    token = outage.token("dev", DEV_PASSWORD)
    r = outage.request("POST", "/api/v1/execute", EXECUTE, token=token)
    assert r.status == 503, r
    error = r.json["error"]
    assert error["code"] == "sandbox_unavailable"
    assert "sandbox is unavailable" in error["message"], error
    assert "an administrator" in error["message"], error
    for detail in ["prlimit", "rlimits", "/nonexistent", "Fix:"]:
        assert detail not in error["message"], error
    # The cause is in the server's log for the operator.
    assert "prlimit" in outage.read_log()


def audit_events(server):
    admin = server.token("admin", ADMIN_PASSWORD)
    r = server.request("GET", "/api/v1/audit?limit=1000", token=admin)
    assert r.status == 200, r
    return [e["event"] for e in r.json]


def test_a_refused_call_spends_no_budget_and_is_audited_with_its_reason(outage):
    token = outage.token("dev", DEV_PASSWORD)
    lint = {"language": "bash", "code": "echo"}
    before = {e["event_id"] for e in audit_events(outage)}
    for _ in range(3):
        for path, body in [("/api/v1/execute", EXECUTE), ("/api/v1/lint", lint)]:
            r = outage.request("POST", path, body, token=token)
            assert r.status == 503, (path, r)
            assert r.json["error"]["code"] == "sandbox_unavailable", (path, r)
    events = [e for e in audit_events(outage) if e["event_id"] not in before]
    assert not [e for e in events if e["event_type"] == "rate_limit_exceeded"], events
    dev_id = outage.request("GET", "/api/v1/me", token=token).json["user_id"]
    refused = [
        e
        for e in events
        if e.get("user_id") == dev_id and e["details"].get("outcome") == "refused"
    ]
    assert sorted(e["action"] for e in refused) == ["execute"] * 3 + ["lint"] * 3, refused
    for e in refused:
        assert e["event_type"] in ("code_execution", "code_lint"), e
        assert e["success"] is False, e
        assert "rlimits" in e["details"]["reason"], e
        assert "Fix:" in e["error_message"] and "sandbox.prlimit" in e["error_message"], e


async def mcp_execute(server, token):
    """Calls `execute_code` with the official MCP client; returns the tool's error object."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("execute_code", EXECUTE)
    assert result.is_error, result
    return result.structured_content["error"]


def test_mcp_clients_get_the_same_503_as_rest_callers(outage):
    error = asyncio.run(mcp_execute(outage, outage.token("admin", ADMIN_PASSWORD)))
    assert error["code"] == "sandbox_unavailable", error
    assert "rlimits" in error["message"] and "/nonexistent/prlimit" in error["message"], error
    assert "Fix:" in error["message"] and "sandbox.prlimit" in error["message"], error
    error = asyncio.run(mcp_execute(outage, outage.token("dev", DEV_PASSWORD)))
    assert error["code"] == "sandbox_unavailable", error
    assert "sandbox is unavailable" in error["message"], error
    for detail in ["prlimit", "rlimits", "/nonexistent", "Fix:"]:
        assert detail not in error["message"], error


def test_a_healthy_sandbox_lists_every_layer_as_working(server):
    r = server.request("GET", "/ready")
    assert r.status == 200, r
    sandbox = r.json["sandbox"]
    assert sandbox["state"] == "ok"
    assert "reason" not in sandbox and "fix" not in sandbox
    required = [l for l in sandbox["layers"] if l["required"]]
    assert required and all(l["state"] == "ok" for l in required), sandbox
    assert all("reason" not in l for l in sandbox["layers"] if l["state"] == "ok")
