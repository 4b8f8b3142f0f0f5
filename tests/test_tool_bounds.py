"""Bounds of the sandbox tools against the real binary and the real sandbox (one server for the
module): output size on the wire (REST and MCP), caller mistakes answered 422, time-boxed lint,
and the digest of everything a run was given in its audit event."""

import hashlib
import json
import struct
import tempfile

import pytest
from conftest import ADMIN_PASSWORD, Server

MIB = 1024 * 1024
ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="mcp-e2e-bounds-") as d:
        s = Server(
            d,
            env={
                "MCP_EXECUTE_PER_MINUTE": "1000",
                "MCP_LINT_PER_MINUTE": "1000",
                # Short, so that the shellcheck case below ends quickly.
                "MCP_SANDBOX__LINT_TIME_LIMIT_MS": "1500",
            },
        )
        s.add_user("admin", ADMIN_PASSWORD, "admin")
        s.start()
        try:
            yield s
        finally:
            s.stop()


@pytest.fixture(scope="module")
def token(server):
    return server.token("admin", ADMIN_PASSWORD)


def input_sha256(parts):
    """The documented digest of a run's input (mcp_sandbox::input_sha256)."""
    h = hashlib.sha256(b"mcp-sandbox input v1\n")
    for name, content in parts:
        name, content = name.encode(), content.encode()
        h.update(struct.pack(">Q", len(name)) + name)
        h.update(struct.pack(">Q", len(content)) + content)
    return h.hexdigest()


def nul_bomb(nbytes):
    code = f"import sys\nsys.stdout.buffer.write(b'\\0' * {nbytes})\n"
    return {
        "language": "python",
        "code": code,
        "limits": {"max_output_bytes": 16 * MIB},
    }


def test_sixteen_mib_of_control_bytes_is_a_rest_answer_of_at_most_sixteen_mib(
    server, token
):
    r = server.request(
        "POST", "/api/v1/execute", nul_bomb(16 * MIB), token=token, timeout=120
    )
    assert r.status == 200, r
    size = len(r.text.encode())
    # Before: 16 MiB of NULs became a 100 MB answer (`\u0000` is six bytes).
    assert size <= 16 * MIB + 4096, size
    assert r.json["truncated"] is True
    assert len(r.json["stdout"]) > 2 * MIB


def post_mcp(server, token, message, session=None):
    headers = {"Content-Type": "application/json", "Accept": ACCEPT}
    if session:
        headers["Mcp-Session-Id"] = session
    return server.request(
        "POST",
        "/mcp",
        raw=json.dumps(message).encode(),
        token=token,
        headers=headers,
        timeout=120,
    )


def test_the_same_over_mcp_is_a_message_of_at_most_three_times_the_limit(
    server, token
):
    initialize = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bounds-test", "version": "1"},
        },
    }
    r = post_mcp(server, token, initialize)
    assert r.status == 200, r
    session = r.headers["Mcp-Session-Id"]
    r = post_mcp(
        server,
        token,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        session,
    )
    assert r.status == 202, r
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "execute_code", "arguments": nul_bomb(16 * MIB)},
    }
    r = post_mcp(server, token, call, session)
    assert r.status == 200, r
    size = len(r.text.encode())
    # structuredContent (at most the limit) plus its JSON text copy, whose quotes and
    # backslashes are escaped once more (at most twice the limit). Before: 218 MB.
    assert size <= 3 * 16 * MIB + 8192, size
    assert '"truncated":true' in r.text.replace(" ", "")


def test_file_paths_that_run_through_each_other_get_422(server, token):
    for files in ({"a": "x", "a/b": "y"}, {"main.py/x": "y"}):
        r = server.request(
            "POST",
            "/api/v1/execute",
            {"language": "python", "code": "print(1)", "files": files},
            token=token,
        )
        assert r.status == 422, r
        assert r.json["error"]["code"] == "invalid_input", r
    r = server.request(
        "POST",
        "/api/v1/test",
        {
            "code": "x = 1\n",
            "tests": "def test_x():\n    pass\n",
            "files": {"solution.py/data": ""},
        },
        token=token,
    )
    assert r.status == 422, r


@pytest.mark.parametrize(
    "language,code,checker",
    [
        # ruff overflows its stack on this; before, the unreadable output was a 500.
        ("python", "x = " + "-" * 100_000 + "1\n", "ruff"),
        ("javascript", "x = " + "[" * 100_000 + "]" * 100_000 + ";\n", "node"),
        # shellcheck takes many seconds: killed at the 1.5 s lint time limit.
        ("bash", "x=$((" + "(" * 2000 + "1" + ")" * 2000 + "))\n", "shellcheck"),
    ],
    ids=["python", "javascript", "bash"],
)
def test_lint_of_deeply_nested_code_gets_422_naming_the_checker(
    server, token, language, code, checker
):
    r = server.request(
        "POST",
        "/api/v1/lint",
        {"language": language, "code": code},
        token=token,
        timeout=120,
    )
    assert r.status == 422, r
    assert r.json["error"]["code"] == "invalid_input", r
    assert checker in r.json["error"]["message"], r


def audit_events(server, token, event_type):
    r = server.request(
        "GET", f"/api/v1/audit?event_type={event_type}&limit=100", token=token
    )
    assert r.status == 200, r
    return [stored["event"] for stored in r.json]


def test_code_run_audit_events_carry_a_digest_of_code_stdin_and_every_file(
    server, token
):
    body = {
        "language": "bash",
        "code": "cat data/in.txt; read line; echo $line",
        "stdin": "from stdin\n",
        "files": {"data/in.txt": "from a file\n", "b.txt": "other"},
    }
    r = server.request("POST", "/api/v1/execute", body, token=token)
    assert r.status == 200 and r.json["stdout"] == "from a file\nfrom stdin\n", r
    expected = input_sha256(
        [
            ("language", "bash"),
            ("code", body["code"]),
            ("stdin", body["stdin"]),
            ("file:b.txt", "other"),
            ("file:data/in.txt", "from a file\n"),
        ]
    )
    events = audit_events(server, token, "code_execution")
    ours = [e for e in events if e["details"].get("input_sha256") == expected]
    assert len(ours) == 1, [e["details"] for e in events]
    assert ours[0]["details"]["files"] == 2
    assert ours[0]["details"]["stdin_bytes"] == len(body["stdin"])

    tests = "import solution\n\ndef test_add():\n    assert solution.add(1, 2) == 3\n"
    body = {
        "code": "def add(a, b):\n    return a + b\n",
        "tests": tests,
        "files": {"conftest.py": "# fixtures\n"},
    }
    r = server.request("POST", "/api/v1/test", body, token=token, timeout=120)
    assert r.status == 200 and r.json["passed"] == 1, r
    expected = input_sha256(
        [
            ("module", "solution"),
            ("code", body["code"]),
            ("tests", tests),
            ("file:conftest.py", "# fixtures\n"),
        ]
    )
    events = audit_events(server, token, "code_test")
    ours = [e for e in events if e["details"].get("input_sha256") == expected]
    assert len(ours) == 1, [e["details"] for e in events]
    assert ours[0]["details"]["files"] == 1


def test_template_parameters_the_runtime_reads_get_422(server, token):
    for template, params in [
        ("bash_script", {"name": "run", "args": ["LD_PRELOAD"]}),
        ("bash_script", {"name": "run", "args": ["BASH_ENV"]}),
        ("python_function", {"name": "__getattr__"}),
        ("javascript_function", {"name": "require"}),
    ]:
        r = server.request(
            "POST",
            "/api/v1/generate",
            {"template": template, "parameters": params},
            token=token,
        )
        assert r.status == 422, (template, params, r)
