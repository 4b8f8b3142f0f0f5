"""Two server instances on one Bolt store (docs/operations.md, "Several instances").

What is shared and what is not, as the operations guide documents it:

- Users, role assignments, token revocations and the graph live in Neo4j (here: FalkorDB over
  Bolt) and are shared. Both instances get the same `MCP_JWT_SECRET`, so each verifies the
  other's tokens.
- Revocations are not cached: a token revoked on one instance is refused at once on the other.
- Roles are cached for `auth.role_cache_ttl_ms` (set to 2000 ms here, the default): a role change
  made through one instance reaches the other within that bound.
- Execution rate limits (`limits.execute_per_minute`) are kept in each process, so they are
  **per instance**: a user who spent the budget on A still gets served by B.
- Audit: both instances keep their audit log in the same Bolt store, each in its own database
  (`storage.neo4j.audit_database`), because FalkorDB does not enforce the unique `seq`
  constraint that would let several writers share one chain. Each chain must verify and hold the
  events of the requests that instance served (and not the other's).
"""

import os
import time
import uuid

import pytest
from conftest import ADMIN_PASSWORD

SHARED_STORES = ["users", "tokens", "roles", "graph"]
ROLE_CACHE_TTL_MS = 2000


def bolt_env(data_dir):
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
        "MCP_EXECUTE_PER_MINUTE": "2",
        "MCP_STORAGE__AUDIT": "neo4j",
    }
    for store in SHARED_STORES:
        env[f"MCP_STORAGE__{store.upper()}"] = "neo4j"
    return env


def audit_actions(server, token):
    r = server.request("GET", "/api/v1/audit?limit=1000", token=token)
    assert r.status == 200, r
    return [e["event"].get("action") for e in r.json]


def wait_for_actions(server, token, wanted, timeout=10):
    deadline = time.time() + timeout
    while True:
        actions = audit_actions(server, token)
        if all(w in actions for w in wanted) or time.time() > deadline:
            return actions
        time.sleep(0.1)


def test_two_instances_on_one_bolt_store_share_tokens_revocations_and_roles(
    make_server, data_dir
):
    env = bolt_env(data_dir)
    dir_a = data_dir / "a"
    dir_b = data_dir / "b"
    dir_a.mkdir()
    dir_b.mkdir()
    audit_db = env["MCP_NEO4J_DATABASE"] + "_audit_"
    env_a = {**env, "MCP_NEO4J_AUDIT_DATABASE": audit_db + "a"}
    env_b = {**env, "MCP_NEO4J_AUDIT_DATABASE": audit_db + "b"}
    a = make_server(env=env_a, directory=dir_a, start=False)
    a.add_user("admin", ADMIN_PASSWORD, "admin")
    a.start()
    b = make_server(env=env_b, directory=dir_b)
    assert a.port != b.port
    for s in (a, b):
        checks = s.request("GET", "/ready").json["checks"]
        assert all(checks[store] == "ok" for store in SHARED_STORES + ["audit"]), checks
    assert not (dir_b / "users.sqlite3").exists(), "users must live in Neo4j"
    for d in (dir_a, dir_b):
        assert not list(d.glob("audit*.sqlite3")), "the audit log must live in the Bolt store"

    admin_a = a.token("admin", ADMIN_PASSWORD)
    admin_b = b.token("admin", ADMIN_PASSWORD)

    # A token issued by A verifies on B (same secret, shared accounts).
    r = a.request(
        "POST",
        "/api/v1/users",
        {"username": "dev", "password": "dev-password-1", "roles": ["developer"]},
        token=admin_a,
    )
    assert r.status == 201, r
    dev = a.token("dev", "dev-password-1")
    r = b.request("GET", "/api/v1/me", token=dev)
    assert r.status == 200 and r.json["username"] == "dev", r
    assert r.json["roles"] == ["developer"], r  # B has now cached dev's roles

    # A role change on A applies on A at once and on B within role_cache_ttl_ms.
    r = a.request("POST", "/api/v1/users/dev/roles", {"role": "viewer"}, token=admin_a)
    assert r.status == 200, r
    r = a.request("DELETE", "/api/v1/users/dev/roles/developer", token=admin_a)
    assert r.status == 200, r
    changed_at = time.monotonic()
    assert a.request("GET", "/api/v1/me", token=dev).json["roles"] == ["viewer"]
    bound = ROLE_CACHE_TTL_MS / 1000
    seen_after = None
    while time.monotonic() - changed_at < bound + 3:
        r = b.request("GET", "/api/v1/me", token=dev)
        assert r.status == 200, r
        if r.json["roles"] == ["viewer"]:
            seen_after = time.monotonic() - changed_at
            break
        time.sleep(0.05)
    assert seen_after is not None, "role change never reached B"
    # Measured from after the change returned, plus up to 1 s for polling and load.
    assert seen_after <= bound + 1.0, f"B saw the role change after {seen_after:.2f}s"
    print(f"role change reached B after {seen_after:.2f}s (bound {bound}s)")

    # A revocation on A is refused on B at once (revocations are not cached).
    victim = a.token("dev", "dev-password-1")
    assert b.request("GET", "/api/v1/me", token=victim).status == 200
    r = a.request("POST", "/auth/revoke", token=victim)
    assert r.status == 200, r
    r = b.request("GET", "/api/v1/me", token=victim)
    assert r.status == 401, r
    assert r.json["error"]["code"] == "invalid_token", r
    assert (
        b.request("GET", "/api/v1/me", token=dev).status == 200
    )  # other tokens still work

    # Execution rate limits are per instance: 2/min spent on A gives 429 on A, B still serves.
    body = {"language": "bash", "code": "echo hi"}
    statuses = [
        a.request("POST", "/api/v1/execute", body, token=admin_a).status
        for _ in range(2)
    ]
    assert statuses == [200, 200], statuses
    r = a.request("POST", "/api/v1/execute", body, token=admin_a)
    assert r.status == 429, r
    r = b.request("POST", "/api/v1/execute", body, token=admin_b)
    assert r.status == 200, r

    # B's own admin action, to tell the chains apart.
    r = b.request(
        "POST",
        "/api/v1/users",
        {"username": "made-on-b", "password": "made-on-b-pass"},
        token=admin_b,
    )
    assert r.status == 201, r

    # Each instance's audit chain verifies and holds its own requests' events, not the other's.
    a_actions = wait_for_actions(
        a, admin_a, ["assign_role:viewer", "revoke_role:developer", "create_user"]
    )
    b_actions = wait_for_actions(b, admin_b, ["create_user"])
    assert "assign_role:viewer" in a_actions, a_actions
    assert "revoke_role:developer" in a_actions, a_actions
    assert "assign_role:viewer" not in b_actions, b_actions
    assert "revoke_role:developer" not in b_actions, b_actions
    assert "create_user" in b_actions, b_actions
    for s, token in ((a, admin_a), (b, admin_b)):
        r = s.request("GET", "/api/v1/audit/verify", token=token)
        assert r.status == 200 and r.json["broken"] is None, r
        assert r.json["checked"] > 0, r
        out = s.cli("audit", "verify", check=False)
        assert out.returncode == 0, out.stdout + out.stderr
