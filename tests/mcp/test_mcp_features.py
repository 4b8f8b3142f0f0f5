"""Protocol features beyond tools (issue 16), with the official Python client against the real
binary: logging, completions, resource templates, pagination, subscriptions and list_changed
notifications, elicitation before a destructive call, and what differs between the protocol
revisions the server accepts. One server for the module: pages of 3 items and a change
watcher that looks every 200 ms."""

import asyncio
import json
import tempfile
from contextlib import asynccontextmanager

import httpx2
import pytest
from conftest import ADMIN_PASSWORD, Server, server_bin
from mcp import Client, StdioServerParameters, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_support import PASSWORD, Users

PAGE = 3
WAIT = 10.0  # seconds a notification may take (the watcher looks every 200 ms)


@pytest.fixture(scope="module")
def env():
    with tempfile.TemporaryDirectory(prefix="mcp-features-") as d:
        server = Server(
            d,
            env={
                "MCP_MCP__PAGE_SIZE": str(PAGE),
                "MCP_MCP__WATCH_INTERVAL_MS": "200",
            },
        )
        server.add_user("admin", ADMIN_PASSWORD, "admin")
        server.start()
        try:
            users = Users(server)
            server.add_user("other", PASSWORD, "developer")
            users.tokens["other"] = server.token("other", PASSWORD)
            yield server, users.tokens
        finally:
            server.stop()
            print(server.read_log()[-4000:])


class Inbox:
    """Notifications a client received."""

    def __init__(self):
        self.items = []
        self.logs = []

    async def message(self, message):
        if not isinstance(message, Exception):
            self.items.append(message)

    async def log(self, params):
        self.logs.append(params)

    def methods(self):
        return [getattr(m, "method", None) for m in self.items]

    async def wait_for(self, predicate, timeout=WAIT):
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            found = [m for m in self.items if predicate(m)]
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no such notification in {self.methods()}")


@asynccontextmanager
async def connect(server, token, mode="legacy", **kwargs):
    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(60.0)
        ) as http,
        Client(
            streamable_http_client(server.url + "/mcp", http_client=http),
            mode=mode,
            **kwargs,
        ) as client,
    ):
        yield client


def run(coro):
    return asyncio.run(coro)


def rest(server, token, method, path, body=None):
    reply = server.request(method, path, body, token=token)
    assert reply.status < 300, reply
    return reply.json


# ---------------------------------------------------------------- capabilities


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_capabilities_name_logging_completions_subscriptions_and_list_changed(
    env, mode
):
    server, tokens = env

    async def go():
        async with connect(server, tokens["viewer"], mode=mode) as client:
            return client.server_capabilities

    caps = run(go())
    assert caps.logging is not None
    assert caps.completions is not None
    assert caps.resources.subscribe is True
    assert caps.resources.list_changed is True
    assert caps.tools.list_changed is True
    assert caps.prompts.list_changed is True


# ---------------------------------------------------------------- pagination


def test_every_list_is_paged_with_cursors_and_a_bad_cursor_is_invalid_params(env):
    server, tokens = env

    async def collect(fetch):
        items, cursor, pages = [], None, 0
        while True:
            page = await fetch(cursor)
            pages += 1
            assert len(page[0]) <= PAGE
            items += page[0]
            cursor = page[1]
            if cursor is None:
                return items, pages

    async def go():
        async with connect(server, tokens["admin"]) as client:
            tools, tool_pages = await collect(
                lambda c: _pair(
                    client.list_tools(cursor=c, cache_mode="bypass"), "tools"
                )
            )
            resources, _ = await collect(
                lambda c: _pair(
                    client.list_resources(cursor=c, cache_mode="bypass"), "resources"
                )
            )
            templates, _ = await collect(
                lambda c: _pair(
                    client.list_resource_templates(cursor=c, cache_mode="bypass"),
                    "resource_templates",
                )
            )
            prompts, _ = await collect(
                lambda c: _pair(
                    client.list_prompts(cursor=c, cache_mode="bypass"), "prompts"
                )
            )
            with pytest.raises(MCPError) as bad:
                await client.list_tools(cursor="not-a-cursor", cache_mode="bypass")
            return tools, tool_pages, resources, templates, prompts, bad.value

    tools, tool_pages, resources, templates, prompts, bad = run(go())
    assert len(tools) == 10 and len({t.name for t in tools}) == 10
    assert tool_pages == 4
    assert {r.uri for r in resources} == {
        "mcp-server://templates",
        "mcp-server://graph/stats",
        "mcp-server://me",
    }
    assert len(templates) == 3
    assert {p.name for p in prompts} == {"code_review", "graph_exploration"}
    assert bad.error.code == -32602


async def _pair(awaitable, field):
    result = await awaitable
    return getattr(result, field), result.next_cursor


# ---------------------------------------------------------------- templates


def test_templates_are_listed_by_permission_and_read_as_json(env):
    server, tokens = env
    rest(
        server,
        tokens["admin"],
        "POST",
        "/api/v1/graph/nodes",
        {"label": "Person", "key": "ada/l", "properties": {"born": 1815}},
    )

    async def go():
        async with connect(server, tokens["viewer"]) as viewer:
            seen = await viewer.list_resource_templates(cache_mode="bypass")
            node = await viewer.read_resource("mcp-server://graph/nodes/Person/ada%2Fl")
            with pytest.raises(MCPError) as missing:
                await viewer.read_resource("mcp-server://graph/nodes/Person/nobody")
            with pytest.raises(MCPError) as denied:
                await viewer.read_resource(
                    "mcp-server://audit/events/01900000-0000-7000-8000-000000000000"
                )
        async with connect(server, tokens["admin"]) as admin:
            templates = await admin.list_resource_templates(cache_mode="bypass")
            events = await admin.call_tool("audit_query", {"limit": 1})
            event_id = events.structured_content["events"][0]["event"]["event_id"]
            event = await admin.read_resource(f"mcp-server://audit/events/{event_id}")
            names = await admin.call_tool("list_templates", {})
            name = names.structured_content["templates"][0]["name"]
            code = await admin.read_resource(f"mcp-server://templates/{name}")
        return (
            seen,
            node,
            missing.value,
            denied.value,
            templates,
            event_id,
            event,
            name,
            code,
        )

    seen, node, missing, denied, templates, event_id, event, name, code = run(go())
    assert {t.uri_template for t in seen.resource_templates} == {
        "mcp-server://graph/nodes/{label}/{key}"
    }
    assert {t.uri_template for t in templates.resource_templates} == {
        "mcp-server://graph/nodes/{label}/{key}",
        "mcp-server://audit/events/{id}",
        "mcp-server://templates/{name}",
    }
    content = node.contents[0]
    assert content.mime_type == "application/json"
    assert json.loads(content.text) == {
        "label": "Person",
        "key": "ada/l",
        "properties": {"born": 1815},
    }
    assert missing.error.code == -32002
    assert denied.error.code == -32003
    assert json.loads(event.contents[0].text)["event"]["event_id"] == event_id
    assert json.loads(code.contents[0].text)["name"] == name


# ---------------------------------------------------------------- completions


def test_completions_suggest_by_prefix_within_the_callers_permissions(env):
    server, tokens = env
    for key in ("alan", "alonzo", "grace"):
        rest(
            server,
            tokens["admin"],
            "POST",
            "/api/v1/graph/nodes",
            {"label": "Scientist", "key": key, "properties": {}},
        )
    prompt = types.PromptReference(type="ref/prompt", name="code_review")
    node = types.ResourceTemplateReference(
        type="ref/resource", uri="mcp-server://graph/nodes/{label}/{key}"
    )
    audit = types.ResourceTemplateReference(
        type="ref/resource", uri="mcp-server://audit/events/{id}"
    )

    async def go():
        async with connect(server, tokens["viewer"]) as viewer:
            language = await viewer.complete(
                prompt, {"name": "language", "value": "ja"}
            )
            labels = await viewer.complete(node, {"name": "label", "value": "sci"})
            keys = await viewer.complete(
                node,
                {"name": "key", "value": "al"},
                context_arguments={"label": "Scientist"},
            )
            hidden = await viewer.complete(audit, {"name": "id", "value": ""})
            with pytest.raises(MCPError) as unknown:
                await viewer.complete(prompt, {"name": "nope", "value": ""})
        async with connect(server, tokens["admin"]) as admin:
            ids = await admin.complete(audit, {"name": "id", "value": ""})
        return language, labels, keys, hidden, unknown.value, ids

    language, labels, keys, hidden, unknown, ids = run(go())
    assert language.completion.values == ["javascript"]
    assert labels.completion.values == ["Scientist"]
    assert keys.completion.values == ["alan", "alonzo"]
    assert keys.completion.total == 2 and keys.completion.has_more is False
    # The viewer may not read audit events: no suggestions (not an error).
    assert hidden.completion.values == []
    assert unknown.error.code == -32602
    assert len(ids.completion.values) > 0


# ---------------------------------------------------------------- logging


def test_log_messages_follow_the_level_and_reach_only_the_callers_session(env):
    server, tokens = env

    async def go():
        mine, quiet, other = Inbox(), Inbox(), Inbox()
        async with (
            connect(server, tokens["dev"], logging_callback=mine.log) as dev,
            connect(server, tokens["dev"], logging_callback=quiet.log) as dev_default,
            connect(server, tokens["other"], logging_callback=other.log) as bystander,
        ):
            await dev.set_logging_level("info")
            await bystander.set_logging_level("debug")
            ok = await dev.call_tool(
                "execute_code", {"language": "python", "code": "print(1)"}
            )
            killed = await dev.call_tool(
                "execute_code",
                {
                    "language": "python",
                    "code": "while True: pass",
                    "limits": {"wall_time_ms": 300},
                },
            )
            await dev_default.call_tool(
                "execute_code", {"language": "python", "code": "print(2)"}
            )
            await asyncio.sleep(0.5)
        return ok, killed, mine.logs, quiet.logs, other.logs

    ok, killed, mine, quiet, other = run(go())
    assert not ok.is_error, ok
    assert killed.structured_content["timed_out"] is True, killed
    events = [(p.level, p.data["event"]) for p in mine]
    assert ("info", "run_started") in events
    assert ("info", "run_finished") in events
    assert ("warning", "run_killed") in events
    kill = next(p.data for p in mine if p.data["event"] == "run_killed")
    assert kill["limit"] == "wall_time" and kill["tool"] == "execute_code"
    assert all(p.logger == "mcp-server" for p in mine)
    # Without a level: warnings only, and this session's own run finished normally.
    assert quiet == []
    # Another user, listening at debug, hears nothing of dev's runs.
    assert other == []


# ---------------------------------------------------------------- subscriptions


def updated(uri):
    return lambda m: (
        getattr(m, "method", None) == "notifications/resources/updated"
        and (m.params.uri == uri)
    )


def test_a_subscribed_node_and_the_graph_stats_notify_changes_until_unsubscribed(env):
    server, tokens = env
    node = {"label": "Watched", "key": "w1", "properties": {"v": 1}}
    rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
    uri = "mcp-server://graph/nodes/Watched/w1"
    stats = "mcp-server://graph/stats"

    async def go():
        inbox = Inbox()
        async with connect(
            server, tokens["viewer"], message_handler=inbox.message
        ) as c:
            await c.subscribe_resource(uri)
            await c.subscribe_resource(stats)
            node["properties"]["v"] = 2
            rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
            await inbox.wait_for(updated(uri))
            # A new node changes the statistics, not the subscribed node.
            rest(
                server,
                tokens["admin"],
                "POST",
                "/api/v1/graph/nodes",
                {"label": "Other", "key": "o1", "properties": {}},
            )
            await inbox.wait_for(updated(stats))
            await c.unsubscribe_resource(uri)
            before = len(inbox.items)
            node["properties"]["v"] = 3
            rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
            await asyncio.sleep(1.0)
            later = [m for m in inbox.items[before:] if updated(uri)(m)]
            with pytest.raises(MCPError) as denied:
                await c.subscribe_resource("mcp-server://audit/events/x")
            with pytest.raises(MCPError) as unknown:
                await c.subscribe_resource("mcp-server://nothing")
        return later, denied.value, unknown.value

    later, denied, unknown = run(go())
    assert later == []
    assert denied.error.code == -32003
    assert unknown.error.code == -32002


def test_a_2026_client_listens_for_resource_updates_and_list_changes(env):
    server, tokens = env
    node = {"label": "Listened", "key": "l1", "properties": {"v": 1}}
    rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
    uri = "mcp-server://graph/nodes/Listened/l1"

    async def go():
        async with connect(server, tokens["viewer"], mode="auto") as c:
            assert c.protocol_version == "2026-07-28"
            with pytest.raises(MCPError) as legacy:
                await c.subscribe_resource(uri)
            async with c.listen(resource_subscriptions=[uri]) as sub:
                node["properties"]["v"] = 2
                rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
                event = await asyncio.wait_for(sub.__anext__(), WAIT)
        return legacy.value, event

    legacy, event = run(go())
    # rmcp refuses the removed method (-32601; over HTTP already at its header check, -32020).
    assert legacy.error.code in (-32601, -32020)
    assert uri in repr(event)


def test_list_changed_follows_a_role_assigned_and_removed(env):
    server, tokens = env
    server.add_user("promoted", PASSWORD, "viewer")
    token = server.token("promoted", PASSWORD)

    def changed(kind):
        return lambda m: (
            getattr(m, "method", None) == f"notifications/{kind}/list_changed"
        )

    async def go():
        inbox = Inbox()
        async with connect(server, token, message_handler=inbox.message) as c:
            before = {t.name for t in (await c.list_tools(cache_mode="bypass")).tools}
            await c.list_tools(cache_mode="bypass")
            rest(
                server,
                tokens["admin"],
                "POST",
                "/api/v1/users/promoted/roles",
                {"role": "developer"},
            )
            await inbox.wait_for(changed("tools"))
            await inbox.wait_for(changed("resources"))
            tools = []
            cursor = None
            while True:
                page = await c.list_tools(cursor=cursor, cache_mode="bypass")
                tools += [t.name for t in page.tools]
                cursor = page.next_cursor
                if not cursor:
                    break
            count = len([m for m in inbox.items if changed("tools")(m)])
            reply = server.request(
                "DELETE",
                "/api/v1/users/promoted/roles/developer",
                token=tokens["admin"],
            )
            assert reply.status < 300, reply
            deadline = asyncio.get_running_loop().time() + WAIT
            while len([m for m in inbox.items if changed("tools")(m)]) == count:
                assert asyncio.get_running_loop().time() < deadline, inbox.methods()
                await asyncio.sleep(0.05)
        return before, set(tools)

    before, after = run(go())
    assert before == {"graph_query", "lint_code"}
    assert "execute_code" in after and before < after


# ---------------------------------------------------------------- revisions

ACCEPT = "application/json, text/event-stream"


def raw(server, token, message, session=None, version=None):
    headers = {"Content-Type": "application/json", "Accept": ACCEPT}
    if session:
        headers["Mcp-Session-Id"] = session
    if version:
        headers["MCP-Protocol-Version"] = version
    if version == "2026-07-28" and "method" in message:
        # SEP-2243: the method, and the name or URI it acts on, as headers too.
        headers["Mcp-Method"] = message["method"]
        params = message.get("params") or {}
        if "uri" in params or "name" in params:
            headers["Mcp-Name"] = params.get("uri") or params.get("name")
    reply = server.request(
        "POST", "/mcp", raw=json.dumps(message), token=token, headers=headers
    )
    messages = []
    if reply.headers.get("Content-Type", "").startswith("text/event-stream"):
        for line in reply.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                messages.append(json.loads(line[5:]))
    elif reply.json is not None:
        messages.append(reply.json)
    return reply, [m for m in messages if "id" in m]


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
def test_each_handshake_revision_is_negotiated_with_a_session(env, version):
    server, tokens = env
    token = tokens["viewer"]
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "revisions", "version": "1"},
        },
    }
    reply, answers = raw(server, token, init)
    assert reply.status == 200, reply
    assert answers[0]["result"]["protocolVersion"] == version
    session = reply.headers["Mcp-Session-Id"]
    raw(
        server,
        token,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        session,
        version,
    )
    # What the handshake revisions share and 2026-07-28 does not: ping, resources/subscribe,
    # -32002 for an unknown resource.
    _, answers = raw(
        server, token, {"jsonrpc": "2.0", "id": 2, "method": "ping"}, session, version
    )
    assert answers[0]["result"] == {}
    _, answers = raw(
        server,
        token,
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "resources/subscribe",
            "params": {"uri": "mcp-server://me"},
        },
        session,
        version,
    )
    assert answers[0]["result"] == {}
    _, answers = raw(
        server,
        token,
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "resources/read",
            "params": {"uri": "mcp-server://none"},
        },
        session,
        version,
    )
    assert answers[0]["error"]["code"] == -32002
    # No result carries the 2026-07-28 `resultType`.
    _, answers = raw(
        server,
        token,
        {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
        session,
        version,
    )
    assert "resultType" not in answers[0]["result"]


def test_2026_07_28_is_stateless_and_differs_where_the_revision_says(env):
    server, tokens = env
    token = tokens["viewer"]
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "revisions", "version": "1"},
    }

    def ask(id, method, params=None):
        message = {
            "jsonrpc": "2.0",
            "id": id,
            "method": method,
            "params": {**(params or {}), "_meta": meta},
        }
        return raw(server, token, message, version="2026-07-28")

    reply, answers = ask(1, "server/discover")
    assert reply.status == 200, reply
    assert "Mcp-Session-Id" not in reply.headers
    versions = answers[0]["result"]["supportedVersions"]
    assert sorted(versions) == ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]
    _, answers = ask(2, "tools/list")
    assert answers[0]["result"]["resultType"] == "complete"
    _, answers = ask(3, "ping")
    assert answers[0]["error"]["code"] == -32601
    _, answers = ask(4, "resources/subscribe", {"uri": "mcp-server://me"})
    assert answers[0]["error"]["code"] == -32601
    _, answers = ask(5, "resources/read", {"uri": "mcp-server://none"})
    assert answers[0]["error"]["code"] == -32602


def test_a_revision_not_accepted_is_answered_with_the_newest_handshake_revision(env):
    server, tokens = env
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": "old", "version": "1"},
        },
    }
    reply, answers = raw(server, tokens["viewer"], init)
    assert reply.status == 200, reply
    assert answers[0]["result"]["protocolVersion"] == "2025-11-25"


# ---------------------------------------------------------------- elicitation


def test_deleting_a_connected_node_asks_a_client_that_elicits(env):
    server, tokens = env
    for key in ("hub", "spoke", "lonely"):
        rest(
            server,
            tokens["admin"],
            "POST",
            "/api/v1/graph/nodes",
            {"label": "Del", "key": key, "properties": {}},
        )
    rest(
        server,
        tokens["admin"],
        "POST",
        "/api/v1/graph/relationships",
        {
            "from": {"label": "Del", "key": "hub"},
            "type": "LINKS",
            "to": {"label": "Del", "key": "spoke"},
        },
    )
    asked = []

    def answering(action, confirm=None):
        async def callback(context, params):
            asked.append(params.message)
            content = None if confirm is None else {"confirm": confirm}
            return types.ElicitResult(action=action, content=content)

        return callback

    def exists(key):
        reply = server.request(
            "GET",
            f"/api/v1/graph/neighborhood?label=Del&key={key}",
            token=tokens["admin"],
        )
        return reply.status == 200

    delete = {"target": "node", "label": "Del", "key": "hub"}

    async def go():
        results = {}
        async with connect(
            server, tokens["admin"], elicitation_callback=answering("decline")
        ) as c:
            results["decline"] = await c.call_tool("graph_delete", delete)
        async with connect(
            server, tokens["admin"], elicitation_callback=answering("accept", False)
        ) as c:
            results["false"] = await c.call_tool("graph_delete", delete)
        still = exists("hub")
        async with connect(
            server, tokens["admin"], elicitation_callback=answering("accept", True)
        ) as c:
            # A node without relationships is deleted without asking.
            n = len(asked)
            results["lonely"] = await c.call_tool(
                "graph_delete", {"target": "node", "label": "Del", "key": "lonely"}
            )
            assert len(asked) == n
            results["accept"] = await c.call_tool("graph_delete", delete)
        return results, still

    results, still = run(go())
    assert still
    for refused in ("decline", "false"):
        assert results[refused].is_error
        assert results[refused].structured_content["error"]["code"] == "not_confirmed"
    assert "Del/hub" in asked[0] and "1 other node" in asked[0]
    assert results["accept"].structured_content == {"deleted": True}
    assert results["lonely"].structured_content == {"deleted": True}


def test_a_client_without_elicitation_deletes_a_connected_node_without_being_asked(env):
    server, tokens = env
    for key in ("a", "b"):
        rest(
            server,
            tokens["admin"],
            "POST",
            "/api/v1/graph/nodes",
            {"label": "NoAsk", "key": key, "properties": {}},
        )
    rest(
        server,
        tokens["admin"],
        "POST",
        "/api/v1/graph/relationships",
        {
            "from": {"label": "NoAsk", "key": "a"},
            "type": "R",
            "to": {"label": "NoAsk", "key": "b"},
        },
    )

    async def go():
        async with connect(server, tokens["admin"]) as c:
            return await c.call_tool(
                "graph_delete", {"target": "node", "label": "NoAsk", "key": "a"}
            )

    assert run(go()).structured_content == {"deleted": True}


# ---------------------------------------------------------------- stdio


def test_over_stdio_log_messages_and_updates_of_changes_made_by_another_process(env):
    """A `mcp-stdio` process on the server's data dir: its watcher sees a node written through
    the HTTP server (another process on the same SQLite files)."""
    server, tokens = env
    node = {"label": "Stdio", "key": "s1", "properties": {"v": 1}}
    rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
    uri = "mcp-server://graph/nodes/Stdio/s1"
    environment = dict(server.env)
    environment.update(
        {
            "MCP_TOKEN": tokens["dev"],
            "MCP_LOG_LEVEL": "warn",
            "MCP_MCP__WATCH_INTERVAL_MS": "200",
        }
    )
    params = StdioServerParameters(
        command=server_bin(), args=["mcp-stdio"], env=environment
    )

    async def go():
        inbox = Inbox()
        async with Client(
            params,
            mode="legacy",
            logging_callback=inbox.log,
            message_handler=inbox.message,
        ) as c:
            await c.set_logging_level("info")
            await c.call_tool("lint_code", {"language": "python", "code": "x = 1\n"})
            await c.subscribe_resource(uri)
            node["properties"]["v"] = 2
            rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
            await inbox.wait_for(updated(uri))
        return inbox.logs

    logs = run(go())
    events = [p.data["event"] for p in logs]
    assert "run_started" in events and "run_finished" in events


def test_a_2026_client_confirms_through_an_input_required_result(env):
    """2026-07-28 takes no server-to-client requests: the form comes back as an
    InputRequiredResult and the client retries with the answer (the client does both)."""
    server, tokens = env
    for key in ("x", "y"):
        rest(
            server,
            tokens["admin"],
            "POST",
            "/api/v1/graph/nodes",
            {"label": "Mrtr", "key": key, "properties": {}},
        )
    rest(
        server,
        tokens["admin"],
        "POST",
        "/api/v1/graph/relationships",
        {
            "from": {"label": "Mrtr", "key": "x"},
            "type": "R",
            "to": {"label": "Mrtr", "key": "y"},
        },
    )
    asked = []

    def answering(confirm):
        async def callback(context, params):
            asked.append(params.message)
            return types.ElicitResult(action="accept", content={"confirm": confirm})

        return callback

    delete = {"target": "node", "label": "Mrtr", "key": "x"}

    async def go():
        async with connect(
            server, tokens["admin"], mode="auto", elicitation_callback=answering(False)
        ) as c:
            assert c.protocol_version == "2026-07-28"
            refused = await c.call_tool("graph_delete", delete)
        async with connect(
            server, tokens["admin"], mode="auto", elicitation_callback=answering(True)
        ) as c:
            done = await c.call_tool("graph_delete", delete)
        return refused, done

    refused, done = run(go())
    assert len(asked) == 2 and "Mrtr/x" in asked[0]
    assert refused.structured_content["error"]["code"] == "not_confirmed"
    assert done.structured_content == {"deleted": True}


def test_a_revoked_token_ends_the_watcher_with_list_changed_and_no_more_updates(env):
    server, tokens = env
    server.add_user("leaving", PASSWORD, "viewer")
    token = server.token("leaving", PASSWORD)
    node = {"label": "Revoked", "key": "r1", "properties": {"v": 1}}
    rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
    uri = "mcp-server://graph/nodes/Revoked/r1"

    async def go():
        inbox = Inbox()
        async with connect(server, token, message_handler=inbox.message) as c:
            await c.subscribe_resource(uri)
            node["properties"]["v"] = 2
            rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
            await inbox.wait_for(updated(uri))
            reply = server.request("POST", "/auth/revoke", token=token)
            assert reply.status == 200, reply
            for kind in ("tools", "resources", "prompts"):
                await inbox.wait_for(
                    lambda m, k=kind: (
                        getattr(m, "method", None) == f"notifications/{k}/list_changed"
                    )
                )
            count = len(inbox.items)
            node["properties"]["v"] = 3
            rest(server, tokens["admin"], "POST", "/api/v1/graph/nodes", node)
            await asyncio.sleep(1.0)
            return inbox.items[count:]

    assert run(go()) == []
