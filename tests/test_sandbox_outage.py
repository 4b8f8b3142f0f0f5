"""When the sandbox cannot isolate code, the real binary says so where an operator looks:
`GET /ready` lists each isolation layer with its state (and, for a missing one, the reason and
the fix) and each store with its backend; a tool call gets 503 `sandbox_unavailable` whose
message names the cause and the fix for an administrator and is a generic line for anyone else.

The outage is real: the rlimits layer needs `prlimit` or the wrapper shell's `ulimit`, and the
configuration below takes both away, so the start-up probe finds a required layer missing."""

import tempfile

import pytest

from conftest import ADMIN_PASSWORD, Server

DEV_PASSWORD = "developer-password-1"
NO_RLIMITS = {
    "MCP_SANDBOX__PRLIMIT": "/nonexistent/prlimit",
    "MCP_SANDBOX__SHELL_RLIMITS": "false",
}


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
    r = outage.request(
        "POST", "/api/v1/execute", {"language": "bash", "code": "echo"}, token=token
    )
    assert r.status == 503, r
    error = r.json["error"]
    assert error["code"] == "sandbox_unavailable"
    assert "sandbox is unavailable" in error["message"], error
    assert "an administrator" in error["message"], error
    for detail in ["prlimit", "rlimits", "/nonexistent", "Fix:"]:
        assert detail not in error["message"], error
    # The cause is in the server's log for the operator.
    assert "prlimit" in outage.read_log()


def test_a_healthy_sandbox_lists_every_layer_as_working(server):
    r = server.request("GET", "/ready")
    assert r.status == 200, r
    sandbox = r.json["sandbox"]
    assert sandbox["state"] == "ok"
    assert "reason" not in sandbox and "fix" not in sandbox
    required = [l for l in sandbox["layers"] if l["required"]]
    assert required and all(l["state"] == "ok" for l in required), sandbox
    assert all("reason" not in l for l in sandbox["layers"] if l["state"] == "ok")
