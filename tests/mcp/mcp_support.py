"""Helpers for the MCP end-to-end tests: connect the official Python MCP client (`mcp` 2.x)
to the real binary over streamable HTTP or stdio, as a given user."""

import asyncio
import json
import subprocess
from contextlib import asynccontextmanager

import httpx2
from conftest import ADMIN_PASSWORD, server_bin
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

PASSWORD = "mcp-e2e-password-1"
ALL_TOOLS = {
    "execute_code",
    "lint_code",
    "run_tests",
    "generate_code",
    "list_templates",
    "graph_query",
    "graph_upsert_node",
    "graph_upsert_relationship",
    "graph_delete",
    "audit_query",
}
# The built-in viewer role: tools:read, tools:lint and graph:query.
VIEWER_TOOLS = {"graph_query", "lint_code"}

# (transport, client mode): HTTP negotiates 2026-07-28 through server/discover in "auto" mode;
# "legacy" forces the initialize handshake and a session (Mcp-Session-Id).
TRANSPORTS = [
    ("http", "auto"),
    ("http", "legacy"),
    ("stdio", "auto"),
    ("stdio", "legacy"),
]
TRANSPORT_IDS = [f"{t}-{m}" for t, m in TRANSPORTS]


def run(coro):
    return asyncio.run(coro)


class Users:
    """Users of one server: admin, a developer and a viewer, with tokens."""

    def __init__(self, server):
        self.server = server
        server.add_user("dev", PASSWORD, "developer")
        server.add_user("viewer", PASSWORD, "viewer")
        self.tokens = {
            "admin": server.token("admin", ADMIN_PASSWORD),
            "dev": server.token("dev", PASSWORD),
            "viewer": server.token("viewer", PASSWORD),
        }


@asynccontextmanager
async def connect(server, token, transport="http", mode="auto", headers=None):
    """An MCP client session as the user of `token`."""
    if transport == "http":
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        async with (
            httpx2.AsyncClient(headers=hdrs, timeout=httpx2.Timeout(60.0)) as http,
            Client(
                streamable_http_client(server.url + "/mcp", http_client=http), mode=mode
            ) as client,
        ):
            yield client
    else:
        env = dict(server.env)
        env["MCP_TOKEN"] = token or ""
        env["MCP_LOG_LEVEL"] = "warn"
        params = StdioServerParameters(
            command=server_bin(), args=["mcp-stdio"], env=env
        )
        async with Client(params, mode=mode) as client:
            yield client


def structured(result):
    """The structured content of a successful tool result."""
    assert not result.is_error, result
    assert isinstance(result.structured_content, dict), result
    # The text block carries the same JSON, for clients without structured output.
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def stdio_process(server, token, extra_env=None):
    """A raw `mcp-stdio` process (for protocol-level tests)."""
    env = dict(server.env)
    env["MCP_TOKEN"] = token
    env["MCP_LOG_LEVEL"] = "warn"
    env.update(extra_env or {})
    return subprocess.Popen(
        [server_bin(), "mcp-stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"},
    },
}
