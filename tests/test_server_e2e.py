"""End-to-end tests of the real binary over HTTP, with a temporary SQLite data dir."""

import hashlib
import json
import os
import time

import pytest
from conftest import ADMIN_PASSWORD

HELLO = 'print("hello")'

# Stores that have a Neo4j (Bolt) backend in this build; the Bolt flow puts these on the server.
BOLT_STORES = ["users", "tokens", "roles", "audit", "graph"]


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def error(reply):
    """The error object, after checking the shape."""
    body = reply.json
    assert isinstance(body, dict) and set(body) == {"error"}, reply
    err = body["error"]
    assert set(err) == {"code", "message", "request_id"}, reply
    assert err["request_id"], reply
    return err


def validation_flow(server, token):
    """health -> token -> execute print("hello") -> audit shows the execution with its hash."""
    assert server.request("GET", "/health").json == {"status": "ok"}
    r = server.request(
        "POST", "/api/v1/execute", {"language": "python", "code": HELLO}, token=token
    )
    assert r.status == 200, r
    assert r.json["stdout"] == "hello\n" and r.json["success"] is True, r
    assert r.json["code_sha256"] == sha256(HELLO)
    r = server.request(
        "GET", "/api/v1/audit?event_type=code_execution&limit=10", token=token
    )
    assert r.status == 200, r
    executions = [e["event"] for e in r.json]
    assert any(
        e["details"]["code_sha256"] == sha256(HELLO)
        and e["details"]["language"] == "python"
        and e["success"]
        for e in executions
    ), r
    assert all(HELLO not in str(e) for e in executions), (
        "the code itself must not be stored"
    )


def test_seed_validation_flow_on_sqlite(server, admin_token):
    validation_flow(server, admin_token)
    r = server.request("GET", "/ready")
    assert r.status == 200 and r.json["status"] == "ready", r


def test_seed_validation_flow_over_bolt(make_server, data_dir):
    uri = os.environ.get("MCP_TEST_NEO4J_URI")
    if not uri:
        if os.environ.get("MCP_TEST_BOLT_REQUIRED") == "1":
            pytest.fail("MCP_TEST_BOLT_REQUIRED=1 but MCP_TEST_NEO4J_URI is not set")
        pytest.skip("MCP_TEST_NEO4J_URI is not set: no Bolt server to test against")
    env = {
        "MCP_NEO4J_URI": uri,
        "MCP_NEO4J_USER": os.environ.get("MCP_TEST_NEO4J_USER", "neo4j"),
        "MCP_NEO4J_PASSWORD": os.environ.get("MCP_TEST_NEO4J_PASSWORD", ""),
        "MCP_NEO4J_SERVER": os.environ.get("MCP_TEST_BOLT_SERVER", "falkordb"),
        "MCP_NEO4J_DATABASE": f"mcp_e2e_{os.getpid()}_{data_dir.name.replace('-', '_')}",
    }
    # The graph query tool reads its whole database, so the graph gets one of its own (the
    # server refuses to start otherwise); accounts go to another one too.
    env["MCP_NEO4J_GRAPH_DATABASE"] = env["MCP_NEO4J_DATABASE"] + "_graph"
    env["MCP_NEO4J_USERS_DATABASE"] = env["MCP_NEO4J_DATABASE"] + "_users"
    # Every store with a Bolt backend (all of them, users included) goes to the server.
    for store in BOLT_STORES:
        env[f"MCP_STORAGE__{store.upper()}"] = "neo4j"
    s = make_server(env=env, start=False)
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    s.start()
    checks = s.request("GET", "/ready").json["checks"]
    assert all(checks[store] == "ok" for store in BOLT_STORES), checks
    assert not (data_dir / "users.sqlite3").exists(), "users must live in Neo4j"
    token = s.token("admin", ADMIN_PASSWORD)
    validation_flow(s, token)
    # A second instance with its own (empty) data dir on the same graph shares the accounts:
    # the admin added through the first logs in there, and a disable there stops the first.
    other_dir = data_dir / "second"
    other_dir.mkdir()
    t = make_server(env=env, directory=other_dir)
    r = s.request(
        "POST",
        "/api/v1/users",
        {"username": "shared", "password": "shared-password-1"},
        token=token,
    )
    assert r.status == 201, r
    t.token("admin", ADMIN_PASSWORD)
    shared = t.token("shared", "shared-password-1")
    assert t.request("GET", "/api/v1/me", token=shared).status == 200
    t.cli("users", "disable", "shared")
    r = s.request(
        "POST", "/auth/token", {"username": "shared", "password": "shared-password-1"}
    )
    assert r.status == 401, r
    listed = t.cli("users", "list").stdout
    assert "admin" in listed and "shared" in listed, listed
    r = s.request(
        "POST",
        "/api/v1/graph/nodes",
        {"label": "Person", "key": "ada", "properties": {"born": 1815}},
        token=token,
    )
    assert r.status == 200, r
    r = s.request(
        "POST",
        "/api/v1/graph/query",
        {"cypher": "MATCH (p:Person) RETURN p.born"},
        token=token,
    )
    assert r.status == 200 and r.json["rows"] == [[{"value": 1815}]], r
    r = s.request(
        "POST",
        "/api/v1/graph/query",
        {
            "cypher": "MATCH (u:User) WHERE u.password_hash IS NOT NULL RETURN count(u) AS n"
        },
        token=token,
    )
    assert r.status == 200 and r.json["rows"] == [[{"value": 0}]], r
    # Nor roles, revocations or audit events: they are in other databases.
    for label in ("Role", "RevokedToken", "AuditEvent"):
        r = s.request(
            "POST",
            "/api/v1/graph/query",
            {"cypher": f"MATCH (n:{label}) RETURN count(n) AS n"},
            token=token,
        )
        assert r.status == 200 and r.json["rows"] == [[{"value": 0}]], (label, r)
    r = s.request(
        "POST",
        "/api/v1/graph/query",
        {"cypher": "MATCH (n) DETACH DELETE n"},
        token=token,
    )
    assert r.status == 422, r


def test_wrong_password_and_unknown_user_get_the_same_401(server):
    wrong = server.request(
        "POST", "/auth/token", {"username": "admin", "password": "not the password"}
    )
    unknown = server.request(
        "POST", "/auth/token", {"username": "ghost", "password": "not the password"}
    )
    assert wrong.status == unknown.status == 401
    assert error(wrong)["message"] == error(unknown)["message"]
    assert error(wrong)["code"] == "invalid_credentials"


def test_brute_force_locks_the_user_name_out_with_retry_after(make_server):
    s = make_server(env={"MCP_AUTH__MAX_FAILURES_PER_USER": "3"}, start=False)
    s.add_user("victim", "the-right-password")
    s.start()
    for _ in range(3):
        assert (
            s.request(
                "POST", "/auth/token", {"username": "victim", "password": "guess-guess"}
            ).status
            == 401
        )
    r = s.request(
        "POST", "/auth/token", {"username": "victim", "password": "the-right-password"}
    )
    assert r.status == 429, r
    assert int(r.headers["Retry-After"]) > 0
    assert error(r)["code"] == "rate_limited"
    r = s.request("GET", "/metrics")
    assert 'mcp_auth_failures_total{reason="locked_out"} 1' in r.text


def test_the_eleventh_execution_in_a_minute_gets_429_with_retry_after(
    server, admin_token
):
    body = {"language": "bash", "code": "echo hi"}
    statuses = [
        server.request("POST", "/api/v1/execute", body, token=admin_token).status
        for _ in range(10)
    ]
    assert statuses == [200] * 10
    r = server.request("POST", "/api/v1/execute", body, token=admin_token)
    assert r.status == 429, r
    assert int(r.headers["Retry-After"]) >= 1


def test_a_revoked_token_is_refused(server, admin_token):
    assert server.request("GET", "/api/v1/me", token=admin_token).status == 200
    r = server.request("POST", "/auth/revoke", token=admin_token)
    assert r.status == 200, r
    r = server.request("GET", "/api/v1/me", token=admin_token)
    assert r.status == 401 and error(r)["code"] == "invalid_token"


def test_a_viewer_is_refused_execution_with_the_permission_named(server, admin_token):
    r = server.request(
        "POST",
        "/api/v1/users",
        {"username": "viv", "password": "viewer-password"},
        token=admin_token,
    )
    assert r.status == 201, r
    viewer = server.token("viv", "viewer-password")
    r = server.request(
        "POST", "/api/v1/execute", {"language": "python", "code": HELLO}, token=viewer
    )
    assert r.status == 403
    assert error(r)["message"] == "Permission denied: tools:execute"
    r = server.request(
        "GET", "/api/v1/audit?event_type=authz_denied", token=admin_token
    )
    assert any(e["event"]["action"] == "tools:execute" for e in r.json), r


@pytest.mark.parametrize(
    "headers,raw,status,code",
    [
        ({"Content-Type": "application/json"}, "{not json", 400, "bad_request"),
        (
            {"Content-Type": "application/json"},
            '{"language": 1, "code": "x"}',
            422,
            "invalid_input",
        ),
        (
            {"Content-Type": "application/json"},
            '{"language": "python", "code": "x", "x": 1}',
            422,
            "invalid_input",
        ),
        (
            {"Content-Type": "text/plain"},
            '{"language": "python", "code": "x"}',
            415,
            "unsupported_media_type",
        ),
        (
            {"Content-Type": "application/json"},
            '{"language": "python", "code": "' + "x" * 300_000 + '"}',
            413,
            "payload_too_large",
        ),
    ],
    ids=[
        "malformed-json",
        "wrong-type",
        "unknown-field",
        "wrong-content-type",
        "oversized",
    ],
)
def test_bad_bodies_get_4xx_in_the_error_shape(
    server, admin_token, headers, raw, status, code
):
    r = server.request(
        "POST", "/api/v1/execute", raw=raw, headers=headers, token=admin_token
    )
    assert r.status == status, r
    assert error(r)["code"] == code


@pytest.mark.parametrize(
    "query", ["limit=lots", "since=yesterday", "bogus=1", "event_type=nope"]
)
def test_bad_query_parameters_get_400(server, admin_token, query):
    r = server.request("GET", f"/api/v1/audit?{query}", token=admin_token)
    assert r.status == 400, r
    assert error(r)["code"] == "bad_request"


def test_request_id_is_echoed_and_made_up_when_missing(server):
    r = server.request("GET", "/health", headers={"X-Request-Id": "e2e-42"})
    assert r.headers["X-Request-Id"] == "e2e-42"
    r = server.request("GET", "/nope")
    assert r.status == 404 and error(r)["request_id"] == r.headers["X-Request-Id"]


def test_restart_keeps_users_roles_and_audit(make_server, data_dir):
    s = make_server(start=False)
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    s.start()
    token = s.token("admin", ADMIN_PASSWORD)
    r = s.request(
        "POST",
        "/api/v1/users",
        {"username": "dev", "password": "dev-password", "roles": ["developer"]},
        token=token,
    )
    assert r.status == 201, r
    dev = s.token("dev", "dev-password")
    assert (
        s.request(
            "POST", "/api/v1/execute", {"language": "python", "code": HELLO}, token=dev
        ).status
        == 200
    )
    s.stop()

    again = make_server(directory=data_dir)
    token = again.token("admin", ADMIN_PASSWORD)
    r = again.request("GET", "/api/v1/me", token=again.token("dev", "dev-password"))
    assert r.json["roles"] == ["developer"], r
    r = again.request("GET", "/api/v1/audit?event_type=code_execution", token=token)
    assert any(e["event"]["details"]["code_sha256"] == sha256(HELLO) for e in r.json), r
    r = again.request("GET", "/api/v1/audit/verify", token=token)
    assert r.status == 200 and r.json["broken"] is None, r


def test_bootstrap_admin_comes_from_the_environment_once(make_server):
    s = make_server(env={"MCP_BOOTSTRAP_ADMIN_PASSWORD": "bootstrap-password"})
    token = s.token("admin", "bootstrap-password")
    me = s.request("GET", "/api/v1/me", token=token).json
    assert "admin" in me["roles"] and "system:admin" in me["permissions"]


def test_empty_store_starts_without_a_default_password_and_says_how_to_add_an_admin(
    make_server,
):
    s = make_server()
    r = s.request("POST", "/auth/token", {"username": "admin", "password": "admin"})
    assert r.status == 401
    assert "users add" in s.read_log()


def test_generated_jwt_secret_is_private(server):
    mode = os.stat(os.path.join(server.data_dir, "jwt_secret")).st_mode & 0o777
    assert mode == 0o600


def test_tools_lint_test_generate_and_graph(server, admin_token):
    r = server.request(
        "POST",
        "/api/v1/lint",
        {"language": "python", "code": "x = = 1\n"},
        token=admin_token,
    )
    assert r.status == 200 and r.json["ok"] is False, r
    tests = "import solution\n\ndef test_add():\n    assert solution.add(1, 2) == 3\n"
    r = server.request(
        "POST",
        "/api/v1/test",
        {"code": "def add(a, b):\n    return a + b\n", "tests": tests},
        token=admin_token,
    )
    assert r.status == 200, r
    r = server.request("GET", "/api/v1/templates", token=admin_token)
    assert r.status == 200 and any(t["name"] == "python_function" for t in r.json), r
    r = server.request(
        "POST",
        "/api/v1/graph/nodes",
        {"label": "Person", "key": "ada"},
        token=admin_token,
    )
    assert r.status == 200, r
    r = server.request("GET", "/api/v1/graph/stats", token=admin_token)
    assert r.json["nodes"] == 1, r
    r = server.request(
        "POST",
        "/api/v1/graph/query",
        {"cypher": "MATCH (n) DETACH DELETE n"},
        token=admin_token,
    )
    assert r.status == 422, r


def test_metrics_and_openapi(server, admin_token):
    server.request(
        "POST",
        "/api/v1/execute",
        {"language": "python", "code": HELLO},
        token=admin_token,
    )
    text = server.request("GET", "/metrics").text
    assert 'mcp_executions_total{language="python",outcome="success"} 1' in text
    # The run took the Python standby that the sandbox started with.
    assert 'mcp_sandbox_runs_total{sandbox="standby"} 1' in text, text
    assert "mcp_http_request_duration_seconds_bucket" in text
    doc = server.request("GET", "/api-docs/openapi.json").json
    assert "/api/v1/execute" in doc["paths"]


def test_sigterm_stops_gracefully_and_flushes_the_audit_log(server, admin_token):
    server.request(
        "POST",
        "/api/v1/execute",
        {"language": "python", "code": HELLO},
        token=admin_token,
    )
    server.stop()
    assert "flushing the audit log" in server.read_log()
    out = server.cli("audit", "verify")
    assert '"broken": null' in out.stdout


def test_repeated_failures_from_one_ip_lock_it_out_across_user_names(make_server):
    s = make_server(env={"MCP_AUTH__MAX_FAILURES_PER_IP": "3"})
    for name in ["a1", "b2", "c3"]:
        assert (
            s.request(
                "POST", "/auth/token", {"username": name, "password": "guess-guess"}
            ).status
            == 401
        )
    r = s.request(
        "POST", "/auth/token", {"username": "fresh", "password": "guess-guess"}
    )
    assert r.status == 429, r
    assert int(r.headers["Retry-After"]) > 0


def test_json_log_lines_of_a_request_carry_its_request_id(server):
    server.request("GET", "/health", headers={"X-Request-Id": "trace-me-1"})
    server.request("GET", "/api/v1/me", headers={"X-Request-Id": "trace-me-2"})
    lines = [
        json.loads(line)
        for line in server.read_log().splitlines()
        if line.startswith("{")
    ]
    for rid in ["trace-me-1", "trace-me-2"]:
        mine = [line for line in lines if line.get("span", {}).get("request_id") == rid]
        assert any(line["message"] == "request finished" for line in mine), rid
    refused = [
        line for line in lines if line.get("span", {}).get("request_id") == "trace-me-2"
    ]
    assert any(line["message"] == "token refused" for line in refused)


def test_cli_disable_stops_log_in_at_once_and_a_running_users_token_within_the_cache_ttl(
    server, admin_token
):
    server.add_user("temp", "temp-password", "developer")
    token = server.token("temp", "temp-password")
    assert server.request("GET", "/api/v1/me", token=token).status == 200
    server.cli("users", "disable", "temp")
    r = server.request(
        "POST", "/auth/token", {"username": "temp", "password": "temp-password"}
    )
    assert r.status == 401 and error(r)["code"] == "invalid_credentials"
    # The command is another process: the server's user cache (auth.user_cache_ttl_ms, 2 s by
    # default) may still hold the account for up to that long.
    deadline = time.monotonic() + 2.0 + 1.0
    while server.request("GET", "/api/v1/me", token=token).status == 200:
        assert time.monotonic() < deadline, "the disable did not apply within the TTL"
        time.sleep(0.1)
    assert server.request("GET", "/api/v1/me", token=token).status == 401
    listed = server.cli("users", "list").stdout
    assert "temp" in listed and "disabled" in listed
