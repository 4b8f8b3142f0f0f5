"""A JSON request body must be an object: serde would read an array field by field
(`["python", "print(1)"]` as `{language, code}`), so arrays and every other non-object value
get 422 `invalid_input`, on every route group, against the real binary."""

import pytest
from conftest import ADMIN_PASSWORD

# Per route: an array whose values, in field order, make a request the route would take.
ROUTES = [
    ("/api/v1/execute", '["python", "print(1)"]'),
    ("/api/v1/graph/nodes", '["Person", "ada"]'),
    ("/api/v1/users/admin/roles", '["developer"]'),
    ("/auth/token", f'["admin", "{ADMIN_PASSWORD}"]'),
]
OTHER_KINDS = {"string": '"text"', "number": "42", "boolean": "true", "null": "null"}


@pytest.mark.parametrize(
    "path,array", ROUTES, ids=["execute", "graph-write", "role-change", "log-in"]
)
def test_a_body_that_is_not_an_object_gets_422_in_the_error_shape(
    server, admin_token, path, array
):
    for kind, raw in {"array": array, **OTHER_KINDS}.items():
        r = server.request(
            "POST",
            path,
            raw=raw,
            headers={"Content-Type": "application/json"},
            token=admin_token,
        )
        assert r.status == 422, (kind, r)
        err = r.json["error"]
        assert err["code"] == "invalid_input", (kind, r)
        assert "expected a JSON object" in err["message"], (kind, r)
        assert err["request_id"] == r.headers["X-Request-Id"], (kind, r)
    # Nothing was done: no node, no new role, no execution.
    stats = server.request("GET", "/api/v1/graph/stats", token=admin_token).json
    assert stats["nodes"] == 0, stats
    me = server.request("GET", "/api/v1/me", token=admin_token).json
    assert me["roles"] == ["admin"], me
    r = server.request(
        "GET", "/api/v1/audit?event_type=code_execution", token=admin_token
    )
    assert r.json == [], r
