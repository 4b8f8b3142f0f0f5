"""Structured tool output against the real binary: every tool lists an `outputSchema`, and the
`structuredContent` of each successful call conforms to it. The official client (`mcp` 2.x)
validates results against the listed schema by itself; these tests also validate explicitly
with `jsonschema` (a dependency of `mcp`), so they do not rest on the client doing it."""

import json

import pytest
from jsonschema.validators import validator_for
from mcp_support import (
    ALL_TOOLS,
    INITIALIZE,
    TRANSPORT_IDS,
    TRANSPORTS,
    Users,
    connect,
    run,
    stdio_process,
)

# A successful call of every tool; graph calls build on each other, in this order.
CALLS = [
    ("execute_code", {"language": "python", "code": 'print("hello")'}),
    ("execute_code", {"language": "bash", "code": "echo oops >&2; exit 3"}),
    ("lint_code", {"language": "python", "code": "import os\n"}),
    ("lint_code", {"language": "bash", "code": "echo $1\n"}),
    (
        "run_tests",
        {
            "code": "def add(a, b):\n    return a + b\n",
            "tests": "import pytest\nfrom solution import add\n\n"
            "def test_add():\n    assert add(1, 2) == 3\n\n"
            "def test_wrong():\n    assert add(1, 1) == 3\n\n"
            "@pytest.mark.skip\ndef test_skipped():\n    pass\n",
        },
    ),
    ("list_templates", {}),
    ("generate_code", {"template": "python_function", "parameters": {"name": "greet"}}),
    (
        "graph_upsert_node",
        {"label": "Person", "key": "ada", "properties": {"name": "Ada", "born": 1815}},
    ),
    ("graph_upsert_node", {"label": "Person", "key": "alan"}),
    (
        "graph_upsert_relationship",
        {
            "from": {"label": "Person", "key": "ada"},
            "type": "KNOWS",
            "to": {"label": "Person", "key": "alan"},
            "properties": {"since": 1840},
        },
    ),
    (
        "graph_query",
        {
            "cypher": "MATCH (a:Person)-[r:KNOWS]->(b:Person) "
            "RETURN a, r, b.name AS name"
        },
    ),
    (
        "graph_delete",
        {
            "target": "relationship",
            "from": {"label": "Person", "key": "ada"},
            "type": "KNOWS",
            "to": {"label": "Person", "key": "alan"},
        },
    ),
    ("graph_delete", {"target": "node", "label": "Person", "key": "nobody"}),
    ("audit_query", {"limit": 100}),
]


@pytest.fixture
def users(server):
    return Users(server)


def validator(schema):
    """A validator for the draft the schema names (`$schema`), after checking the schema."""
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def assert_conforms(schema, result):
    """A successful result: its structured content conforms, and the text block holds it."""
    assert not result.is_error, result
    content = result.structured_content
    assert isinstance(content, dict), result
    errors = sorted(validator(schema).iter_errors(content), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    assert json.loads(result.content[0].text) == content
    return content


@pytest.mark.parametrize("transport,mode", TRANSPORTS, ids=TRANSPORT_IDS)
def test_every_successful_call_conforms_to_the_tool_output_schema(
    server, users, transport, mode
):
    async def main():
        async with connect(server, users.tokens["admin"], transport, mode) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) == ALL_TOOLS
            for name, tool in tools.items():
                schema = tool.output_schema
                assert schema is not None, name
                assert schema["type"] == "object", name
                assert "2020-12" in schema["$schema"], name
                validator(schema)
            outputs = {}
            for name, args in CALLS:
                result = await c.call_tool(name, args)
                outputs.setdefault(name, []).append(
                    assert_conforms(tools[name].output_schema, result)
                )
        assert set(outputs) == ALL_TOOLS
        hello, failed = outputs["execute_code"]
        assert hello["stdout"] == "hello\n" and hello["success"] is True, hello
        assert failed["exit_code"] == 3 and failed["success"] is False, failed
        assert failed["stderr"] == "oops\n", failed
        assert any(d["code"] == "F401" for d in outputs["lint_code"][0]["diagnostics"])
        tests = outputs["run_tests"][0]
        assert (tests["passed"], tests["failed"], tests["skipped"]) == (1, 1, 1), tests
        assert {t["outcome"] for t in tests["tests"]} == {"passed", "failed", "skipped"}
        (row,) = outputs["graph_query"][0]["rows"]
        assert row[0]["node"]["key"] == "ada" and row[1]["relationship"]["rel_type"]
        assert row[2] == {"value": None}, row
        assert outputs["graph_delete"] == [{"deleted": True}, {"deleted": False}]
        assert outputs["audit_query"][0]["events"], outputs["audit_query"]

    run(main())


def test_the_output_schemas_describe_the_fields(server, users):
    async def main():
        async with connect(server, users.tokens["admin"]) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
        schema = tools["execute_code"].output_schema
        assert {
            "success",
            "language",
            "stdout",
            "stderr",
            "exit_code",
            "timed_out",
            "duration_ms",
        } <= set(schema["required"])
        assert schema["properties"]["stdout"]["description"]
        assert schema["properties"]["language"]["enum"] == [
            "python",
            "javascript",
            "bash",
        ]
        # A result missing a required field, or with a value of another type, is caught.
        check = validator(schema)
        sample = {k: None for k in schema["required"]}
        assert list(check.iter_errors({})), "an empty object must not conform"
        assert list(check.iter_errors(sample)), "nulls for every field must not conform"

    run(main())


@pytest.mark.parametrize("transport,mode", TRANSPORTS[:1], ids=TRANSPORT_IDS[:1])
def test_a_failed_call_keeps_the_error_shape(server, users, transport, mode):
    async def main():
        async with connect(server, users.tokens["admin"], transport, mode) as c:
            # The client does not validate error results against the output schema.
            r = await c.call_tool("graph_query", {"cypher": "MATCH (n) DELETE n"})
            assert r.is_error
            assert set(r.structured_content) == {"error"}, r.structured_content
            assert r.structured_content["error"]["code"] == "invalid_input"
            assert json.loads(r.content[0].text) == r.structured_content

    run(main())


def stdio_session(server, token, version, lines):
    """Raw JSON-RPC lines to `mcp-stdio` after an `initialize` with `version`."""
    proc = stdio_process(server, token)
    init = dict(INITIALIZE, params=dict(INITIALIZE["params"], protocolVersion=version))
    payload = [
        json.dumps(init),
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        *(json.dumps(line) for line in lines),
    ]
    out, err = proc.communicate(("\n".join(payload) + "\n").encode(), timeout=120)
    assert proc.returncode == 0, err.decode()
    replies = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return {r["id"]: r for r in replies if "id" in r}


@pytest.mark.parametrize("version", ["2025-06-18", "2025-03-26"])
def test_clients_of_each_handshake_version_get_the_json_as_text_too(
    server, users, version
):
    """2025-06-18 introduced `outputSchema`; older clients ignore it and read the text block."""
    replies = stdio_session(
        server,
        users.tokens["admin"],
        version,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "list_templates", "arguments": {}},
            },
        ],
    )
    assert replies[0]["result"]["protocolVersion"] == version
    tools = replies[1]["result"]["tools"]
    assert all(t["outputSchema"]["type"] == "object" for t in tools), tools
    result = replies[2]["result"]
    assert result["isError"] is False
    templates = json.loads(result["content"][0]["text"])
    assert templates == result["structuredContent"]
    schema = next(t for t in tools if t["name"] == "list_templates")["outputSchema"]
    assert not list(validator(schema).iter_errors(templates))
