"""Every route of the server's own route table, over HTTP against the real binary: no token is
refused with 401, a token without the route's permission with 403 naming the permission, and a
token with exactly that permission is accepted."""

import json

PERMISSIONS = [
    "tools:read",
    "tools:lint",
    "tools:execute",
    "tools:test",
    "tools:generate",
    "graph:query",
    "graph:upsert",
    "graph:delete",
    "system:admin",
]


def role_of(perm):
    return "only-" + perm.replace(":", "-")


def config_toml():
    lines = ["[roles.nobody]", "permissions = []", ""]
    for perm in PERMISSIONS:
        lines += [f"[roles.{role_of(perm)}]", f'permissions = ["{perm}"]', ""]
    return "\n".join(lines)


def request_for(method, path):
    """Path with parameters filled in, and a valid body."""
    path = path.replace("{username}", "target").replace("{role}", "viewer")
    path = path.replace("{name}", "up__thing")
    path = path.replace("{namespace}", "up").replace("{tool}", "thing")
    path = path.replace("{client_id}", "some-client")
    bodies = {
        ("POST", "/auth/token"): {
            "username": "nobody-here",
            "password": "whatever-123",
        },
        ("POST", "/api/v1/execute"): {"language": "python", "code": 'print("hi")'},
        ("POST", "/api/v1/lint"): {"language": "python", "code": "x = 1\n"},
        ("POST", "/api/v1/test"): {
            "code": "def f():\n    return 1\n",
            "tests": "def test_f():\n    pass\n",
        },
        ("POST", "/api/v1/generate"): {
            "template": "python_function",
            "parameters": {"name": "add"},
        },
        ("POST", "/api/v1/graph/query"): {"cypher": "MATCH (n:Person) RETURN n"},
        ("POST", "/api/v1/graph/nodes"): {"label": "Person", "key": "ada"},
        ("POST", "/api/v1/graph/relationships"): {
            "from": {"label": "Person", "key": "bob"},
            "type": "KNOWS",
            "to": {"label": "Person", "key": "bob"},
        },
        ("DELETE", "/api/v1/graph/relationships"): {
            "from": {"label": "Person", "key": "bob"},
            "type": "KNOWS",
            "to": {"label": "Person", "key": "bob"},
        },
        ("POST", "/api/v1/users"): {
            "username": "created",
            "password": "a-long-password",
        },
        ("POST", "/api/v1/users/target/roles"): {"role": "viewer"},
        ("POST", "/api/v1/gateway/tools/up__thing"): {},
        ("POST", "/api/v1/gateway/prompts/up__thing"): {},
        ("POST", "/api/v1/gateway/resources/read"): {"uri": "up+x:/y"},
        ("POST", "/api/v1/gateway/pins/up/thing/approve"): {"hash": "0" * 64},
        ("POST", "/api/v1/gateway/pins/up/thing/reject"): {"hash": "0" * 64},
        ("POST", "/api/v1/users/target/password"): {"password": "target-password-2"},
        ("POST", "/api/v1/me/password"): {
            "current_password": "someone-password",
            "new_password": "someone-password-2",
        },
    }
    if (method, path) == ("DELETE", "/api/v1/graph/nodes"):
        path += "?label=Person&key=ada"
    if (method, path) == ("GET", "/api/v1/graph/neighborhood"):
        path += "?label=Person&key=bob"
    return path, bodies.get((method, path))


# Without an upstream configured, the gateway's calls and decisions name nothing that exists,
# and no OAuth client is connected to anyone: 404 once the guard let them through (never
# 401/403).
NO_UPSTREAM = {
    "/api/v1/me/oauth/consents/{client_id}",
    "/api/v1/users/{username}/oauth/consents/{client_id}",
    "/api/v1/gateway/tools/{name}",
    "/api/v1/gateway/prompts/{name}",
    "/api/v1/gateway/resources/read",
    "/api/v1/gateway/pins/{namespace}/{tool}/approve",
    "/api/v1/gateway/pins/{namespace}/{tool}/reject",
}


def accepted(route, r):
    if route["path"] in NO_UPSTREAM:
        return r.status == 404
    return r.status < 300


def test_every_route_answers_401_403_and_2xx_by_permission(make_server, data_dir):
    (data_dir / "config.toml").write_text(config_toml())
    s = make_server(env={"MCP_CONFIG": str(data_dir / "config.toml")}, start=False)
    routes = [json.loads(line) for line in s.cli("routes").stdout.splitlines()]
    assert len(routes) >= 25
    s.add_user("nobody", "nobody-password", "nobody")
    s.add_user("target", "target-password")
    s.add_user("someone", "someone-password")
    for perm in PERMISSIONS:
        s.add_user(role_of(perm), "holder-password", role_of(perm))
    tokens = {
        name: s.cli("tokens", "issue", name).stdout.strip()
        for name in ["nobody", *map(role_of, PERMISSIONS)]
    }
    s.start()
    admin = tokens[role_of("graph:upsert")]
    r = s.request(
        "POST", "/api/v1/graph/nodes", {"label": "Person", "key": "bob"}, token=admin
    )
    assert r.status == 200, r

    for route in routes:
        method, access = route["method"], route["access"]
        path, body = request_for(method, route["path"])
        name = f"{method} {route['path']} ({access})"
        if access == "public":
            r = s.request(method, path, body)
            # The OAuth log-in and consent forms refuse a post without their CSRF token with a
            # 403 page (no token or permission is involved).
            csrf_refusal = (
                route["path"] in ("/oauth/login", "/oauth/consent") and r.json is None
            )
            # (OAuth endpoints answer RFC 6749 errors: {"error": "<code>"}.)
            error = (r.json or {}).get("error", {})
            code = error.get("code") if isinstance(error, dict) else error
            assert (r.status != 403 or csrf_refusal) and code != "invalid_token", (
                name,
                r,
            )
            continue
        r = s.request(method, path, body)
        assert r.status == 401, (name, r)
        assert r.json["error"]["code"] == "invalid_token", (name, r)
        if access == "authenticated":
            # A fresh token each time: one of these routes revokes the token it is called with.
            fresh = s.cli("tokens", "issue", "someone").stdout.strip()
            r = s.request(method, path, body, token=fresh)
            assert accepted(route, r), (name, r)
            continue
        r = s.request(method, path, body, token=tokens["nobody"])
        assert r.status == 403, (name, r)
        assert r.json["error"]["message"] == f"Permission denied: {access}", (name, r)
        r = s.request(method, path, body, token=tokens[role_of(access)])
        assert accepted(route, r), (name, r)
