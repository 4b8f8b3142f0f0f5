"""Two server instances on one Bolt store (docs/operations.md, "Several instances").

One pair of instances serves the whole module (started once): A and B share users, role
assignments, token revocations and the graph in the Bolt store (FalkorDB here) and the JWT key,
so each verifies the other's tokens. What the operations guide promises, and these tests check:

- A revocation made through one instance is refused there at once and by the other within
  `auth.revocation_cache_ttl_ms`; a role change made through one instance reaches the other
  within `auth.role_cache_ttl_ms`, and a disabled user is refused by the other within
  `auth.user_cache_ttl_ms` (all three also when made with the CLI against the shared store).
- Limits hold across the instances (`limits.counters = "auto"`: the counts live in the users'
  database): a user's execution budget is spent once across both, and the log-in lock-out of
  a name and address counts the failures made through either, even for guesses sent to both
  at once (at most the limit of them is ever checked). The OAuth endpoints' per-address
  allowances (`[oauth.rate_limits]`) are spent once across both as well.
- Behind a plain round-robin balancer, MCP clients of the stateless revision (2026-07-28) work
  across both instances; clients of a session-based revision need affinity (a session lives in
  the instance that opened it), which a sticky balancer gives.
- Audit: each instance keeps its chain in its own database of the same Bolt store
  (`storage.neo4j.audit_database`), because FalkorDB does not enforce the unique `seq`
  constraint that would let several writers share one chain. Each chain verifies and holds the
  events of the requests that instance served, not the other's.
"""

import asyncio
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from balancer import Balancer
from conftest import ADMIN_PASSWORD, Server
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

SHARED_STORES = ["users", "tokens", "roles", "graph"]
ROLE_CACHE_TTL_MS = 1000
USER_CACHE_TTL_MS = 1000
REVOCATION_CACHE_TTL_MS = 1000
# A change made elsewhere shows after at most the TTL; this much more covers the time the
# request that checks it takes on a loaded machine.
MARGIN_SECS = 0.5
DEV_PASSWORD = "dev-password-1"


def bolt_env():
    uri = os.environ.get("MCP_TEST_NEO4J_URI")
    if not uri:
        reason = "MCP_TEST_NEO4J_URI is not set: no Bolt server to test against"
        print(reason)
        if os.environ.get("MCP_TEST_BOLT_REQUIRED") == "1":
            pytest.fail("MCP_TEST_BOLT_REQUIRED=1 but MCP_TEST_NEO4J_URI is not set")
        pytest.skip(reason)
    database = f"mcp_scale_{uuid.uuid4().hex[:12]}"
    env = {
        "MCP_NEO4J_URI": uri,
        "MCP_NEO4J_USER": os.environ.get("MCP_TEST_NEO4J_USER", "neo4j"),
        "MCP_NEO4J_PASSWORD": os.environ.get("MCP_TEST_NEO4J_PASSWORD", ""),
        "MCP_NEO4J_SERVER": os.environ.get("MCP_TEST_BOLT_SERVER", "falkordb"),
        "MCP_NEO4J_DATABASE": database,
        # The graph query tool reads its whole database: the graph gets one of its own.
        "MCP_NEO4J_GRAPH_DATABASE": database + "_graph",
        "MCP_NEO4J_USERS_DATABASE": database + "_users",
        "MCP_JWT_SECRET": "scale-out-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "MCP_AUTH__ROLE_CACHE_TTL_MS": str(ROLE_CACHE_TTL_MS),
        "MCP_AUTH__USER_CACHE_TTL_MS": str(USER_CACHE_TTL_MS),
        "MCP_AUTH__REVOCATION_CACHE_TTL_MS": str(REVOCATION_CACHE_TTL_MS),
        "MCP_EXECUTE_PER_MINUTE": "2",
        "MCP_OAUTH__RATE_LIMITS__REGISTER_PER_MINUTE": "3",
        "MCP_STORAGE__AUDIT": "neo4j",
    }
    for store in SHARED_STORES:
        env[f"MCP_STORAGE__{store.upper()}"] = "neo4j"
    return env


class Pair:
    def __init__(self, a, b, admin):
        # `admin` runs the CLI against the shared stores; on FalkorDB it writes its audit events
        # to a database of its own, as every writer must (one writing sink per graph).
        self.a, self.b, self.admin = a, b, admin
        self.admin_a = a.token("admin", ADMIN_PASSWORD)
        self.admin_b = b.token("admin", ADMIN_PASSWORD)

    def add_user(self, name, *roles):
        """Creates a user through A; returns a token for it issued by A."""
        r = self.a.request(
            "POST",
            "/api/v1/users",
            {"username": name, "password": DEV_PASSWORD, "roles": list(roles)},
            token=self.admin_a,
        )
        assert r.status == 201, r
        return self.a.token(name, DEV_PASSWORD)


@pytest.fixture(scope="module")
def pair():
    env = bolt_env()
    audit_db = env["MCP_NEO4J_DATABASE"] + "_audit_"
    with tempfile.TemporaryDirectory(prefix="mcp-scale-") as d:
        dirs = [Path(d) / name for name in ("a", "b", "cli")]
        for path in dirs:
            path.mkdir()
        a, b, admin = (
            Server(path, env={**env, "MCP_NEO4J_AUDIT_DATABASE": audit_db + path.name})
            for path in dirs
        )
        try:
            admin.add_user("admin", ADMIN_PASSWORD, "admin")
            a.start()
            b.start()
            yield Pair(a, b, admin)
        finally:
            for s in (a, b):
                s.stop()
                print(f"--- server log {s.log_path} (tail) ---")
                print(s.read_log()[-6000:])


def within_bound(check, ttl_ms):
    """Waits the documented bound (the cache TTL) after a change made elsewhere, then checks
    once: the change must show by then, however slow the machine (a slower check only comes
    later)."""
    time.sleep(ttl_ms / 1000 + MARGIN_SECS)
    check()


def test_both_instances_use_the_shared_stores(pair):
    a, b = pair.a, pair.b
    assert a.port != b.port
    for s in (a, b):
        checks = s.request("GET", "/ready").json["checks"]
        assert all(checks[store] == "ok" for store in SHARED_STORES + ["audit"]), checks
        data = Path(s.data_dir)
        assert not (data / "users.sqlite3").exists(), "users must live in Neo4j"
        assert not list(data.glob("audit*.sqlite3")), "the audit log must live in Neo4j"
    # A user made through A logs in through B, and A's token verifies on B.
    dev = pair.add_user("shared-dev", "developer")
    r = b.request("GET", "/api/v1/me", token=dev)
    assert r.status == 200 and r.json["username"] == "shared-dev", r
    assert b.token("shared-dev", DEV_PASSWORD)


def test_a_revocation_is_refused_at_once_where_made_and_by_the_other_instance_within_the_revocation_cache_ttl(
    pair,
):
    a, b = pair.a, pair.b
    pair.add_user("revoked-dev", "developer")
    victim, other, by_cli = (a.token("revoked-dev", DEV_PASSWORD) for _ in range(3))
    # Both instances have checked (and cached) every token as not revoked.
    for s in (a, b):
        for token in (victim, other, by_cli):
            assert s.request("GET", "/api/v1/me", token=token).status == 200
    r = a.request("POST", "/auth/revoke", token=victim)
    assert r.status == 200, r
    r = a.request("GET", "/api/v1/me", token=victim)
    assert r.status == 401 and r.json["error"]["code"] == "invalid_token", r
    # And the other way round, revoked by an admin through B.
    r = b.request("POST", "/auth/revoke", {"token": other}, token=pair.admin_b)
    assert r.status == 200, r
    assert b.request("GET", "/api/v1/me", token=other).status == 401

    def refused_on_the_other():
        r = b.request("GET", "/api/v1/me", token=victim)
        assert r.status == 401 and r.json["error"]["code"] == "invalid_token", r
        assert a.request("GET", "/api/v1/me", token=other).status == 401

    within_bound(refused_on_the_other, REVOCATION_CACHE_TTL_MS)

    # Revoked with the CLI against the shared store (no instance is told): both refuse it
    # within the bound, and the user's other tokens still work.
    pair.admin.cli("tokens", "revoke", by_cli)

    def refused_on_both():
        for s in (a, b):
            r = s.request("GET", "/api/v1/me", token=by_cli)
            assert r.status == 401, (s.port, r)

    within_bound(refused_on_both, REVOCATION_CACHE_TTL_MS)
    fresh = b.token("revoked-dev", DEV_PASSWORD)
    assert a.request("GET", "/api/v1/me", token=fresh).status == 200


def test_a_role_change_reaches_the_other_instance_within_the_role_cache_ttl(pair):
    a, b = pair.a, pair.b
    dev = pair.add_user("role-dev", "developer")
    r = b.request("GET", "/api/v1/me", token=dev)
    assert r.json["roles"] == ["developer"], r  # B has now cached the roles
    body = {"language": "bash", "code": "echo hi"}
    r = a.request(
        "POST", "/api/v1/users/role-dev/roles", {"role": "viewer"}, token=pair.admin_a
    )
    assert r.status == 200, r
    r = a.request(
        "DELETE", "/api/v1/users/role-dev/roles/developer", token=pair.admin_a
    )
    assert r.status == 200, r
    # Removing a role ends the tokens issued before it, at once on A...
    r = a.request("GET", "/api/v1/me", token=dev)
    assert r.status == 401 and r.json["error"]["code"] == "invalid_token", r
    old = dev
    # ...and a new token carries only what is left.
    dev = a.token("role-dev", DEV_PASSWORD)
    assert a.request("GET", "/api/v1/me", token=dev).json["roles"] == ["viewer"]
    assert a.request("POST", "/api/v1/execute", body, token=dev).status == 403

    def refused_on_b():
        # B refuses the old token once its cached user record expires...
        assert b.request("GET", "/api/v1/me", token=old).status == 401
        # ...and the new one lacks the role once its cached roles expire.
        assert b.request("GET", "/api/v1/me", token=dev).json["roles"] == ["viewer"]
        r = b.request("POST", "/api/v1/execute", body, token=dev)
        assert r.status == 403 and r.json["error"]["code"] == "permission_denied", r

    within_bound(refused_on_b, max(ROLE_CACHE_TTL_MS, USER_CACHE_TTL_MS))

    # The same with the CLI against the shared store (no instance is told).
    pair.admin.cli("roles", "assign", "role-dev", "developer")

    def allowed_on_both():
        for s in (a, b):
            roles = s.request("GET", "/api/v1/me", token=dev).json["roles"]
            assert "developer" in roles, (s.port, roles)

    within_bound(allowed_on_both, ROLE_CACHE_TTL_MS)


def test_a_disabled_user_is_refused_by_the_other_instance_within_the_user_cache_ttl(
    pair,
):
    a, b = pair.a, pair.b
    dev = pair.add_user("disabled-dev", "developer")
    assert (
        b.request("GET", "/api/v1/me", token=dev).status == 200
    )  # B has cached the user
    r = a.request("POST", "/api/v1/users/disabled-dev/disable", token=pair.admin_a)
    assert r.status == 200, r
    assert a.request("GET", "/api/v1/me", token=dev).status == 401

    def refused_on_b():
        r = b.request("GET", "/api/v1/me", token=dev)
        assert r.status == 401 and r.json["error"]["code"] == "invalid_token", r
        r = b.request(
            "POST",
            "/auth/token",
            {"username": "disabled-dev", "password": DEV_PASSWORD},
        )
        assert r.status == 401, r

    within_bound(refused_on_b, USER_CACHE_TTL_MS)

    # Disabled with the CLI against the shared store: both instances refuse within the bound.
    other = pair.add_user("cli-disabled-dev", "developer")
    for s in (a, b):
        assert s.request("GET", "/api/v1/me", token=other).status == 200
    pair.admin.cli("users", "disable", "cli-disabled-dev")

    def refused_on_both():
        for s in (a, b):
            r = s.request("GET", "/api/v1/me", token=other)
            assert r.status == 401, (s.port, r)

    within_bound(refused_on_both, USER_CACHE_TTL_MS)


def test_an_execution_budget_is_spent_once_across_both_instances(pair):
    a, b = pair.a, pair.b
    body = {"language": "bash", "code": "echo hi"}
    # MCP_EXECUTE_PER_MINUTE=2: one run through each instance spends it.
    assert a.request("POST", "/api/v1/execute", body, token=pair.admin_a).status == 200
    assert b.request("POST", "/api/v1/execute", body, token=pair.admin_b).status == 200
    for s, token in ((a, pair.admin_a), (b, pair.admin_b)):
        r = s.request("POST", "/api/v1/execute", body, token=token)
        assert r.status == 429, (s.port, r)
        assert r.json["error"]["code"] == "rate_limited", r
        assert int(r.headers["Retry-After"]) >= 1, r.headers


def test_an_oauth_address_allowance_is_spent_once_across_both_instances(pair):
    a, b = pair.a, pair.b
    client = {"redirect_uris": ["http://127.0.0.1:53682/callback"]}
    client["token_endpoint_auth_method"] = "none"
    # register_per_minute = 3 for this address (127.0.0.1, the peer of every request here):
    # two registrations through A and one through B spend it; per instance, each would
    # still allow more.
    for s in (a, b, a):
        r = s.request("POST", "/oauth/register", client)
        assert r.status == 201, (s.port, r)
    for s in (a, b):
        r = s.request("POST", "/oauth/register", client)
        assert r.status == 429, (s.port, r)
        assert r.json["error"] == "temporarily_unavailable", r
        assert int(r.headers["Retry-After"]) >= 1, r.headers


def login(server, name, password):
    return server.request(
        "POST", "/auth/token", {"username": name, "password": password}
    )


def test_log_in_failures_through_both_instances_lock_the_name_on_both(pair):
    a, b = pair.a, pair.b
    pair.add_user("lockout-dev", "developer")
    # auth.max_failures_per_user = 5 (default) for one name from one address: five wrong
    # passwords, through A and B in turn, lock it on both, the right password included.
    for i in range(5):
        r = login(a if i % 2 == 0 else b, "lockout-dev", "wrong-password")
        assert r.status == 401, (i, r)
    for s in (a, b):
        r = login(s, "lockout-dev", DEV_PASSWORD)
        assert r.status == 429, (s.port, r)
        assert int(r.headers["Retry-After"]) >= 1, r.headers
    # An admin unlock through A lifts it on A at once, and on B within the user cache TTL.
    r = a.request("POST", "/api/v1/users/lockout-dev/unlock", token=pair.admin_a)
    assert r.status == 200, r
    assert login(a, "lockout-dev", DEV_PASSWORD).status == 200

    def unlocked_on_b():
        r = login(b, "lockout-dev", DEV_PASSWORD)
        assert r.status == 200, r

    within_bound(unlocked_on_b, USER_CACHE_TTL_MS)


def test_guesses_sent_to_both_instances_at_once_are_checked_at_most_up_to_the_limit(pair):
    a, b = pair.a, pair.b
    pair.add_user("parallel-dev", "developer")
    guesses = 16
    with ThreadPoolExecutor(max_workers=guesses) as pool:
        replies = list(
            pool.map(
                lambda i: login(a if i % 2 == 0 else b, "parallel-dev", f"guess-{i}"),
                range(guesses),
            )
        )
    statuses = sorted(r.status for r in replies)
    # Each guess reserves its place in the shared count before its password is checked: five
    # (auth.max_failures_per_user) are checked (401), every other one is refused (429). With
    # the counts kept per instance, up to ten would be checked.
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == guesses - 5, statuses


async def mcp_calls(url, token, mode, calls):
    """Opens an MCP client at `url` in `mode` and makes `calls` tool calls; returns the tool
    names listed and the node keys the graph query found."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
        Client(
            streamable_http_client(url + "/mcp", http_client=http), mode=mode
        ) as client,
    ):
        tools = {t.name for t in (await client.list_tools()).tools}
        key = f"rr-{uuid.uuid4().hex[:8]}"
        result = await client.call_tool(
            "graph_upsert_node",
            {"label": "Balanced", "key": key, "properties": {"n": 1}},
        )
        assert not result.is_error, result
        for _ in range(calls):
            result = await client.call_tool("list_templates", {})
            assert not result.is_error, result
        result = await client.call_tool(
            "graph_query",
            {"cypher": "MATCH (n:Balanced) WHERE n.n = 1 RETURN n.n AS n LIMIT 10"},
        )
        assert not result.is_error, result
        return tools, key, result.structured_content


def test_stateless_mcp_clients_work_across_instances_behind_round_robin(pair):
    backends = [("127.0.0.1", pair.a.port), ("127.0.0.1", pair.b.port)]
    balancer = Balancer(backends)
    try:
        tools, _, found = asyncio.run(mcp_calls(balancer.url, pair.admin_a, "auto", 6))
    finally:
        balancer.close()
    assert {"execute_code", "graph_query", "list_templates"} <= tools
    assert found["rows"], found  # written through one instance, read through the other
    # Every request went to the next instance: both served about half.
    counts = list(balancer.counts.values())
    assert min(counts) >= 4, balancer.counts


def test_session_mcp_clients_need_affinity(pair):
    backends = [("127.0.0.1", pair.a.port), ("127.0.0.1", pair.b.port)]
    plain = Balancer(backends)
    try:
        with pytest.raises(BaseException) as failed:
            asyncio.run(mcp_calls(plain.url, pair.admin_a, "legacy", 2))
    finally:
        plain.close()
    # A request of the session reached the instance that did not open it: 404
    # `session_not_found`, whose message names the missing affinity.
    assert "session_not_found" in repr(failed.value) or "affinity" in repr(
        failed.value
    ), failed.value

    sticky = Balancer(backends, sticky=True)
    try:
        tools, _, found = asyncio.run(mcp_calls(sticky.url, pair.admin_a, "legacy", 4))
    finally:
        sticky.close()
    assert "execute_code" in tools and found["rows"], found


def audit_actions(server, token):
    r = server.request("GET", "/api/v1/audit?limit=1000", token=token)
    assert r.status == 200, r
    return [e["event"].get("action") for e in r.json]


def test_each_instance_keeps_a_verifiable_chain_of_its_own_requests(pair):
    a, b = pair.a, pair.b
    pair.add_user("audited-on-a-1")
    pair.add_user("audited-on-a-2")
    r = b.request(
        "POST",
        "/api/v1/users",
        {"username": "made-on-b", "password": "made-on-b-pw"},
        token=pair.admin_b,
    )
    assert r.status == 201, r
    deadline = time.time() + 10
    while True:
        on_a, on_b = audit_actions(a, pair.admin_a), audit_actions(b, pair.admin_b)
        if ("create_user" in on_a and "create_user" in on_b) or time.time() > deadline:
            break
        time.sleep(0.1)
    assert "create_user" in on_a and "create_user" in on_b, (on_a, on_b)
    # B made one user, A at least two: each chain holds its own instance's events only.
    assert on_b.count("create_user") == 1, on_b
    assert on_a.count("create_user") >= 2, on_a
    for s, token in ((a, pair.admin_a), (b, pair.admin_b)):
        r = s.request("GET", "/api/v1/audit/verify", token=token)
        assert r.status == 200 and r.json["broken"] is None, r
        assert r.json["checked"] > 0, r
        out = s.cli("audit", "verify", check=False)
        assert out.returncode == 0, out.stdout + out.stderr
