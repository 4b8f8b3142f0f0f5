"""The official Python MCP client against the real binary, over streamable HTTP and stdio:
initialize, per-role tool lists, every tool, resources, prompts, progress, refusals."""

import json

import pytest
from mcp.shared.exceptions import MCPError
from mcp_support import (
    ALL_TOOLS,
    TRANSPORT_IDS,
    TRANSPORTS,
    VIEWER_TOOLS,
    Users,
    connect,
    run,
    structured,
)

PERMISSION_DENIED = -32003


@pytest.fixture
def users(server):
    return Users(server)


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_a_viewer_sees_fewer_tools_than_an_admin(server, users, transport, mode):
    async def main():
        async with connect(server, users.tokens["admin"], transport, mode) as admin:
            expected = "2026-07-28" if mode == "auto" else "2025-11-25"
            assert admin.protocol_version == expected
            admin_tools = {t.name for t in (await admin.list_tools()).tools}
        async with connect(server, users.tokens["viewer"], transport, mode) as viewer:
            viewer_tools = {t.name for t in (await viewer.list_tools()).tools}
        assert admin_tools == ALL_TOOLS
        assert viewer_tools == VIEWER_TOOLS

    run(main())


def test_every_tool_has_an_object_input_schema_with_descriptions(server, users):
    async def main():
        async with connect(server, users.tokens["admin"]) as c:
            tools = (await c.list_tools()).tools
        for tool in tools:
            assert tool.description, tool.name
            assert tool.input_schema["type"] == "object", tool.name
        schema = next(t for t in tools if t.name == "execute_code").input_schema
        assert set(schema["required"]) == {"language", "code"}
        assert "description" in schema["properties"]["code"]

    run(main())


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_an_admin_calls_every_tool(server, users, transport, mode):
    async def main():
        async with connect(server, users.tokens["admin"], transport, mode) as c:
            called = set()

            async def call(name, args):
                called.add(name)
                return structured(await c.call_tool(name, args))

            out = await call(
                "execute_code", {"language": "python", "code": 'print("hello")'}
            )
            assert out["stdout"] == "hello\n" and out["success"] is True, out
            out = await call("lint_code", {"language": "python", "code": "import os\n"})
            assert any(d["code"] == "F401" for d in out["diagnostics"]), out
            out = await call(
                "run_tests",
                {
                    "code": "def add(a, b):\n    return a + b\n",
                    "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
                },
            )
            assert out["passed"] == 1 and out["failed"] == 0, out
            templates = (await call("list_templates", {}))["templates"]
            assert any(t["name"] == "python_function" for t in templates)
            out = await call(
                "generate_code",
                {"template": "python_function", "parameters": {"name": "greet"}},
            )
            assert "def greet" in json.dumps(out), out
            await call(
                "graph_upsert_node",
                {"label": "Person", "key": "ada", "properties": {"name": "Ada"}},
            )
            await call(
                "graph_upsert_node",
                {"label": "Person", "key": "alan", "properties": {"name": "Alan"}},
            )
            await call(
                "graph_upsert_relationship",
                {
                    "from": {"label": "Person", "key": "ada"},
                    "type": "KNOWS",
                    "to": {"label": "Person", "key": "alan"},
                },
            )
            out = await call(
                "graph_query",
                {
                    "cypher": "MATCH (a:Person)-[:KNOWS]->(b:Person) RETURN b.name AS name"
                },
            )
            assert "Alan" in json.dumps(out["rows"]), out
            out = await call(
                "graph_delete",
                {
                    "target": "relationship",
                    "from": {"label": "Person", "key": "ada"},
                    "type": "KNOWS",
                    "to": {"label": "Person", "key": "alan"},
                },
            )
            assert out == {"deleted": True}
            assert await call(
                "graph_delete", {"target": "node", "label": "Person", "key": "ada"}
            ) == {"deleted": True}
            events = (
                await call("audit_query", {"event_type": "code_execution", "limit": 5})
            )["events"]
            assert events and events[0]["event"]["event_type"] == "code_execution", (
                events[:1]
            )
            assert called == ALL_TOOLS

    run(main())


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_resources_and_prompts_are_readable(server, users, transport, mode):
    async def main():
        async with connect(server, users.tokens["viewer"], transport, mode) as c:
            uris = {str(r.uri) for r in (await c.list_resources()).resources}
            # A viewer may query the graph but not use templates (tools:generate).
            assert uris == {"mcp-server://me", "mcp-server://graph/stats"}
            me = json.loads((await c.read_resource("mcp-server://me")).contents[0].text)
            assert me["username"] == "viewer" and me["roles"] == ["viewer"], me
            assert (
                "graph:query" in me["permissions"]
                and "tools:execute" not in me["permissions"]
            )
            stats = json.loads(
                (await c.read_resource("mcp-server://graph/stats")).contents[0].text
            )
            assert isinstance(stats, dict), stats
            prompts = {p.name for p in (await c.list_prompts()).prompts}
            assert prompts == {"graph_exploration", "code_review"}
            p = await c.get_prompt("graph_exploration", {"topic": "people"})
            assert "people" in p.messages[0].content.text
            with pytest.raises(MCPError) as e:
                await c.read_resource("mcp-server://templates")
            assert e.value.code == PERMISSION_DENIED
        async with connect(server, users.tokens["dev"], transport, mode) as c:
            templates = json.loads(
                (await c.read_resource("mcp-server://templates")).contents[0].text
            )
            assert templates["templates"], templates
            p = await c.get_prompt(
                "code_review", {"code": "print(1)", "language": "python"}
            )
            assert (
                "lint_code" in p.messages[0].content.text
                and "print(1)" in p.messages[0].content.text
            )
            with pytest.raises(MCPError) as e:
                await c.get_prompt("code_review", {})
            assert e.value.code == -32602

    run(main())


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_long_runs_send_progress_notifications(server, users, transport, mode):
    async def main():
        async with connect(server, users.tokens["dev"], transport, mode) as c:
            seen = []

            async def on_progress(progress, total, message):
                seen.append((progress, message))

            r = await c.call_tool(
                "execute_code",
                {
                    "language": "python",
                    "code": "import time\ntime.sleep(1.2)\nprint('done')",
                },
                progress_callback=on_progress,
            )
            assert structured(r)["stdout"] == "done\n"
            messages = [m for _, m in seen]
            assert messages[0] == "started" and messages[-1] == "finished", seen
            assert "running" in messages, seen
            values = [p for p, _ in seen]
            assert values == sorted(values), seen
            seen.clear()
            r = await c.call_tool(
                "run_tests",
                {
                    "code": "x = 1\n",
                    "tests": "import solution\n\ndef test_x():\n    assert solution.x == 1\n",
                },
                progress_callback=on_progress,
            )
            assert structured(r)["passed"] == 1
            assert [m for _, m in seen][-1] == "finished", seen

    run(main())


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_a_tool_the_roles_do_not_allow_is_refused_and_audited(
    server, users, transport, mode
):
    async def main():
        async with connect(server, users.tokens["viewer"], transport, mode) as c:
            with pytest.raises(MCPError) as e:
                await c.call_tool(
                    "execute_code", {"language": "python", "code": "print(1)"}
                )
            assert e.value.code == PERMISSION_DENIED
            assert "tools:execute" in e.value.message
            assert e.value.data == {"permission": "tools:execute"}
            # The session survives the refusal.
            r = await c.call_tool(
                "graph_query", {"cypher": "MATCH (n:Person) RETURN n.name AS name"}
            )
            assert not r.is_error, r
        async with connect(server, users.tokens["admin"], transport, mode) as admin:
            events = structured(
                await admin.call_tool(
                    "audit_query", {"event_type": "authz_denied", "limit": 20}
                )
            )["events"]
        denied = [
            e["event"]
            for e in events
            if e["event"].get("resource") == "mcp:tools/call:execute_code"
        ]
        assert denied, events
        assert (
            denied[0]["action"] == "tools:execute" and denied[0]["success"] is False
        ), denied[0]

    run(main())


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_bad_calls_get_json_rpc_errors_and_the_session_survives(
    server, users, transport, mode
):
    async def main():
        async with connect(server, users.tokens["admin"], transport, mode) as c:
            with pytest.raises(MCPError) as e:
                await c.call_tool("no_such_tool", {})
            assert e.value.code == -32602 and "unknown tool" in e.value.message
            with pytest.raises(MCPError) as e:
                await c.call_tool("graph_query", {"cypher": 5})
            assert e.value.code == -32602 and "invalid arguments" in e.value.message
            with pytest.raises(MCPError) as e:
                await c.call_tool("execute_code", {"language": "cobol", "code": "x"})
            assert e.value.code == -32602
            with pytest.raises(MCPError) as e:
                await c.call_tool(
                    "lint_code", {"language": "python", "code": "x", "extra": 1}
                )
            assert e.value.code == -32602
            # A tool that runs and fails is a tool result with isError, not a protocol error.
            r = await c.call_tool("graph_query", {"cypher": "CREATE (n:X)"})
            assert (
                r.is_error and r.structured_content["error"]["code"] == "invalid_input"
            ), r
            r = await c.call_tool("list_templates", {})
            assert not r.is_error

    run(main())


def test_http_without_a_token_is_refused_with_401(server, users):
    r = server.request(
        "POST", "/mcp", raw=b"{}", headers={"Content-Type": "application/json"}
    )
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = server.request(
        "POST",
        "/mcp",
        raw=b"{}",
        token="not-a-jwt",
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 401

    async def main():
        try:
            async with connect(server, None) as c:
                await c.list_tools()
        except BaseException as e:  # noqa: BLE001 - anyio wraps it in an exception group
            return repr(e)
        return None

    refused = run(main())
    # The client reports the 401 as an error response (it has no OAuth provider to retry with).
    assert refused is not None and "MCPError" in refused, refused


def test_stdio_with_a_bad_token_exits_with_an_error(server, users):
    out = server.cli("mcp-stdio", "--token", "not-a-jwt", check=False)
    assert out.returncode != 0
    assert "token was refused" in out.stderr


def test_a_revoked_token_stops_working_on_an_open_stdio_session(server, users):
    token = server.token("dev", "mcp-e2e-password-1")

    async def main():
        async with connect(server, token, "stdio") as c:
            assert {t.name for t in (await c.list_tools()).tools}
            r = server.request("POST", "/auth/revoke", token=token)
            assert r.status in (200, 204), r
            with pytest.raises(MCPError) as e:
                await c.list_tools()
            assert e.value.code == -32001

    run(main())
