"""Protocol-level checks of `/mcp` and `mcp-stdio` with raw messages: JSON-RPC error codes for
bad input, sessions bound to their user, Host/Origin checks, and a fuzz run that checks every
message is answered and the server stays up."""

import json
import random

import pytest
from mcp_support import INITIALIZE, Users, stdio_process

ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def users(server):
    return Users(server)


def messages_of(reply):
    """The JSON-RPC messages of a reply: a JSON body or the `data:` lines of an SSE stream."""
    ctype = reply.headers.get("Content-Type", "")
    if ctype.startswith("text/event-stream"):
        out = []
        for line in reply.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                out.append(json.loads(line[5:]))
        return out
    return [reply.json] if reply.json is not None else []


def post(server, token, message=None, raw=None, session=None, headers=None):
    hdrs = {"Content-Type": "application/json", "Accept": ACCEPT, **(headers or {})}
    if session:
        hdrs["Mcp-Session-Id"] = session
    if raw is None:
        raw = json.dumps(message).encode()
    return server.request(
        "POST", "/mcp", raw=raw, token=token, headers=hdrs, timeout=30
    )


def open_session(server, token):
    r = post(server, token, INITIALIZE)
    assert r.status == 200, r
    session = r.headers["Mcp-Session-Id"]
    r = post(
        server,
        token,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        session=session,
    )
    assert r.status == 202, r
    return session


def call(server, token, session, id, method, params=None):
    msg = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        msg["params"] = params
    r = post(server, token, msg, session=session)
    replies = [
        m for m in messages_of(r) if "id" in m and ("result" in m or "error" in m)
    ]
    return r, replies


def assert_session_works(server, token, session):
    r, replies = call(server, token, session, 999, "tools/list")
    assert r.status == 200 and replies and "result" in replies[0], r


def test_bad_messages_over_http_get_json_rpc_errors_and_the_session_survives(
    server, users
):
    token = users.tokens["admin"]
    session = open_session(server, token)
    cases = [
        (b'{"jsonrpc": "2.0", "id": 1, "method": ', 400, -32700),
        (b"\xff\xfe not utf-8", 400, -32700),
        (b"[]", 400, -32600),
        (b"[1, 2]", 400, -32600),
        (b'"just a string"', 400, -32600),
        (b'{"id": 1, "method": "tools/list"}', 400, -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', 400, -32600),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}}',
            400,
            -32602,
        ),
    ]
    for raw, status, code in cases:
        r = post(server, token, raw=raw, session=session)
        assert r.status == status, (raw, r)
        assert r.json["jsonrpc"] == "2.0" and r.json["error"]["code"] == code, (raw, r)
        assert_session_works(server, token, session)
    r, replies = call(server, token, session, 2, "no/such/method")
    assert replies[0]["error"]["code"] == -32601 and replies[0]["id"] == 2, r
    r, replies = call(
        server,
        token,
        session,
        3,
        "tools/call",
        {"name": "no_such_tool", "arguments": {}},
    )
    assert (
        replies[0]["error"]["code"] == -32602
        and "unknown tool" in replies[0]["error"]["message"]
    ), r
    r, replies = call(
        server,
        token,
        session,
        4,
        "tools/call",
        {"name": "graph_query", "arguments": {"cypher": []}},
    )
    assert replies[0]["error"]["code"] == -32602, r
    assert_session_works(server, token, session)


def test_an_oversized_message_is_refused_with_413_and_a_json_rpc_error(server, users):
    token = users.tokens["admin"]
    session = open_session(server, token)
    big = {
        "jsonrpc": "2.0",
        "id": 5,
        "method": "tools/call",
        "params": {
            "name": "lint_code",
            "arguments": {"language": "python", "code": "x" * (2 * 1024 * 1024)},
        },
    }
    r = post(server, token, big, session=session)
    assert r.status == 413, r
    assert (
        r.json["error"]["code"] == -32600
        and "larger than" in r.json["error"]["message"]
    ), r
    assert_session_works(server, token, session)


def test_a_session_cannot_be_used_or_ended_by_another_user(server, users):
    owner, other = users.tokens["dev"], users.tokens["viewer"]
    session = open_session(server, owner)
    r, _ = call(server, other, session, 1, "tools/list")
    assert r.status == 404, r
    r = server.request(
        "DELETE", "/mcp", token=other, headers={"Mcp-Session-Id": session}
    )
    assert r.status == 404, r
    assert_session_works(server, owner, session)
    r = server.request(
        "DELETE", "/mcp", token=owner, headers={"Mcp-Session-Id": session}
    )
    assert r.status in (200, 204), r
    r, _ = call(server, owner, session, 2, "tools/list")
    assert r.status == 404, r
    # The refusal is audited.
    admin = users.tokens["admin"]
    r = server.request(
        "GET", "/api/v1/audit?event_type=authz_denied&limit=50", token=admin
    )
    assert any(e["event"].get("action") == "mcp:session" for e in r.json), r


def test_foreign_origins_and_hosts_are_refused_before_the_token_is_checked(
    server, users
):
    token = users.tokens["admin"]
    r = post(server, token, INITIALIZE, headers={"Origin": "https://evil.example"})
    assert r.status == 403 and "Origin" in r.json["error"]["message"], r
    r = post(server, None, INITIALIZE, headers={"Host": "evil.example:80"})
    assert r.status == 403 and "Host" in r.json["error"]["message"], r
    r = post(server, token, INITIALIZE, headers={"Host": f"localhost:{server.port}"})
    assert r.status == 200, r


def test_the_mcp_section_of_the_config_allows_an_origin(make_server, data_dir):
    config = data_dir / "mcp.toml"
    config.write_text('[mcp]\nallowed_origins = ["https://app.example"]\n')
    s = make_server(start=False, env={"MCP_CONFIG": str(config)})
    s.add_user("admin", "admin-password-123", "admin")
    s.start()
    token = s.token("admin", "admin-password-123")
    assert (
        post(s, token, INITIALIZE, headers={"Origin": "https://app.example"}).status
        == 200
    )
    assert (
        post(s, token, INITIALIZE, headers={"Origin": "https://evil.example"}).status
        == 403
    )


def stdio_exchange(server, token, lines, extra_env=None):
    """Sends `lines` to a fresh `mcp-stdio` after initializing; returns the parsed replies."""
    proc = stdio_process(server, token, extra_env)
    payload = [
        json.dumps(INITIALIZE).encode(),
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
        *lines,
    ]
    payload.append(b'{"jsonrpc":"2.0","id":"last","method":"tools/list"}')
    out, err = proc.communicate(b"\n".join(payload) + b"\n", timeout=120)
    assert proc.returncode == 0, err.decode()
    return [
        json.loads(line) for line in out.decode().splitlines() if line.strip()
    ], err.decode()


def test_bad_lines_over_stdio_get_json_rpc_errors_and_the_session_survives(
    server, users
):
    lines = [
        b"not json at all",
        b"[1, 2]",
        b'{"jsonrpc": "2.0", "id": 7, "method": "no/such"}',
        b'{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "nope"}}',
        b'{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "lint_code", "arguments": {"language": 1}}}',
        b'{"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "lint_code", "arguments": {"language": "python", "code": "'
        + b"x" * 3000
        + b'"}}}',
    ]
    replies, err = stdio_exchange(
        server, users.tokens["admin"], lines, {"MCP_MCP__MAX_MESSAGE_BYTES": "2000"}
    )
    by_id = {}
    nulls = []
    for r in replies:
        (nulls if r.get("id") is None else by_id.setdefault(r["id"], [])).append(r)
    assert sorted(e["error"]["code"] for e in nulls) == [-32700, -32600, -32600], (
        nulls,
        err,
    )
    assert any("larger than 2000 bytes" in e["error"]["message"] for e in nulls)
    assert by_id[7][0]["error"]["code"] == -32601
    assert by_id[8][0]["error"]["code"] == -32602
    assert by_id[9][0]["error"]["code"] == -32602
    assert (
        "result" in by_id["last"][0]
        and by_id[0][0]["result"]["protocolVersion"] == "2025-11-25"
    )


METHODS = [
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "no/such",
    "",
    "TOOLS/LIST",
]
TOOL_NAMES = ["execute_code", "graph_query", "graph_delete", "audit_query", "nope", ""]


def random_json(rng, depth=0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**40), 2**40)
    if kind == 3:
        return rng.random() * 1e6
    if kind == 4:
        return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(12)))
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "name",
        "arguments",
        "uri",
        "cypher",
        "language",
        "code",
        "target",
        "_meta",
        "x",
    ]
    return {
        rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(4))
    }


def fuzz_messages(rng, count):
    """Messages that each deserve exactly one answer: garbage, non-messages, and requests."""
    out = []
    for i in range(count):
        kind = rng.randrange(6)
        if kind == 0:
            raw = (
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
                .replace(b"\n", b" ")
                .replace(b"\r", b" ")
            )
            if not raw.strip():
                raw = b"?"
            try:
                json.loads(raw)
                raw = b"{" + raw
            except ValueError:
                pass
        elif kind == 1:
            raw = json.dumps(
                {"jsonrpc": "2.0", "id": i, "method": "tools/list"}
            ).encode()[: rng.randrange(1, 30)]
        elif kind == 2:
            raw = json.dumps(
                random_json(rng, 1) if rng.random() < 0.5 else [random_json(rng, 2)]
            ).encode()
            if raw.startswith(b"{"):
                raw = b"[" + raw + b"]"
        elif kind == 3:
            raw = json.dumps(
                {"id": i, "method": rng.choice(METHODS), "params": random_json(rng)}
            ).encode()
        elif kind == 4:
            raw = json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": rng.choice(METHODS),
                    "params": random_json(rng),
                }
            ).encode()
        else:
            params = {"name": rng.choice(TOOL_NAMES), "arguments": random_json(rng, 1)}
            if not isinstance(params["arguments"], dict):
                params["arguments"] = {"x": params["arguments"]}
            raw = json.dumps(
                {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}
            ).encode()
        out.append((i, raw))
    return out


def test_random_messages_over_http_are_each_answered_and_the_server_stays_up(
    server, users
):
    token = users.tokens["viewer"]
    session = open_session(server, token)
    rng = random.Random(20261125)
    for i, raw in fuzz_messages(rng, 300):
        r = post(server, token, raw=raw, session=session)
        assert r.status in (200, 400), (raw, r)
        replies = [m for m in messages_of(r) if "result" in m or "error" in m]
        assert len(replies) == 1, (raw, r)
        assert replies[0]["jsonrpc"] == "2.0" and replies[0]["id"] in (i, None), (
            raw,
            replies,
        )
    assert server.request("GET", "/health").status == 200
    assert_session_works(server, token, session)


def test_random_lines_over_stdio_are_each_answered_and_the_session_survives(
    server, users
):
    rng = random.Random(7)
    messages = fuzz_messages(rng, 300)
    replies, err = stdio_exchange(
        server, users.tokens["viewer"], [raw for _, raw in messages]
    )
    # One answer for initialize, one per fuzz line, one for the final tools/list.
    assert len(replies) == len(messages) + 2, err[-2000:]
    assert all(
        r["jsonrpc"] == "2.0" and ("result" in r or "error" in r) for r in replies
    )
    assert any(r.get("id") == "last" and "result" in r for r in replies)
