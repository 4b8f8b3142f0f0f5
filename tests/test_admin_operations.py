"""Complete admin operations against the real binary on SQLite (one server for the module):
delete a user (their tokens stop working, their roles go, the name can be used again), an
administrator's password reset, one's own password change (checked like a log-in, with its
lock-out), the matching CLI command, and the audit event of each."""

import tempfile
import time

import pytest

from conftest import ADMIN_PASSWORD, Server


@pytest.fixture(scope="module")
def srv():
    with tempfile.TemporaryDirectory(prefix="mcp-e2e-admin-") as d:
        # A low per-account threshold, so the lock-out of the password change shows quickly;
        # the user cache off, so a change made by the CLI shows at once.
        s = Server(
            d,
            env={
                "MCP_AUTH__MAX_FAILURES_PER_USER": "3",
                "MCP_AUTH__USER_CACHE_TTL_MS": "0",
            },
        )
        s.add_user("admin", ADMIN_PASSWORD, "admin")
        s.start()
        try:
            yield s
        finally:
            s.stop()
            print(s.read_log()[-6000:])


@pytest.fixture(scope="module")
def admin(srv):
    return srv.token("admin", ADMIN_PASSWORD)


def create(srv, admin, name, password, roles=()):
    r = srv.request(
        "POST",
        "/api/v1/users",
        {"username": name, "password": password, "roles": list(roles)},
        token=admin,
    )
    assert r.status == 201, r
    return r.json


def log_in(srv, name, password):
    return srv.request(
        "POST", "/auth/token", {"username": name, "password": password}
    )


def audit_events(srv, admin, action):
    r = srv.request("GET", "/api/v1/audit?limit=1000", token=admin)
    assert r.status == 200, r
    return [e["event"] for e in r.json if e["event"].get("action") == action]


def test_deleting_a_user_ends_their_tokens_takes_their_roles_and_frees_the_name(
    srv, admin
):
    bob = create(srv, admin, "bob", "bob-password-1", ["developer"])
    token = srv.token("bob", "bob-password-1")
    assert srv.request("GET", "/api/v1/me", token=token).status == 200

    r = srv.request("DELETE", "/api/v1/users/bob", token=admin)
    assert r.status == 204, r
    assert r.text == ""
    r = srv.request("GET", "/api/v1/me", token=token)
    assert r.status == 401, r
    assert log_in(srv, "bob", "bob-password-1").status == 401
    names = [u["username"] for u in srv.request("GET", "/api/v1/users", token=admin).json]
    assert "bob" not in names
    [event] = audit_events(srv, admin, "delete_user")
    assert event["details"]["target_user"] == "bob"
    assert event["details"]["target_user_id"] == bob["id"]
    assert event["details"]["roles"] == ["developer"]

    # The name is free again: a new account with a new id and none of the old roles.
    again = create(srv, admin, "bob", "bob-password-2")
    assert again["id"] != bob["id"]
    assert again["roles"] == ["viewer"]
    # The old token names the old id: still refused.
    assert srv.request("GET", "/api/v1/me", token=token).status == 401

    r = srv.request("DELETE", "/api/v1/users/nobody-here", token=admin)
    assert r.status == 404 and r.json["error"]["code"] == "not_found", r


def test_an_administrator_cannot_lock_themselves_out(srv, admin):
    for method, path, body, says in [
        ("DELETE", "/api/v1/users/admin", None, "another administrator"),
        ("POST", "/api/v1/users/admin/disable", None, "another administrator"),
        ("DELETE", "/api/v1/users/admin/roles/admin", None, "system:admin"),
        (
            "POST",
            "/api/v1/users/admin/password",
            {"password": "long-enough-1"},
            "/api/v1/me/password",
        ),
    ]:
        r = srv.request(method, path, body, token=admin)
        assert r.status == 409 and r.json["error"]["code"] == "conflict", (path, r)
        assert says in r.json["error"]["message"], (path, r)
    # Nothing changed: the token works, the account keeps its role.
    me = srv.request("GET", "/api/v1/me", token=admin)
    assert me.status == 200 and "admin" in me.json["roles"], me
    # Taking from oneself a role that leaves system:admin in place is fine.
    create(srv, admin, "gina", "gina-password-1", ["admin", "developer"])
    gina = srv.token("gina", "gina-password-1")
    r = srv.request("DELETE", "/api/v1/users/gina/roles/developer", token=gina)
    assert r.status == 200 and r.json["roles"] == ["admin"], r


def test_a_password_reset_ends_the_users_sessions_and_the_new_password_works(srv, admin):
    carol = create(srv, admin, "carol", "carol-password-1")
    token = srv.token("carol", "carol-password-1")

    r = srv.request(
        "POST", "/api/v1/users/carol/password", {"password": "short"}, token=admin
    )
    assert r.status == 422 and r.json["error"]["code"] == "invalid_input", r
    assert srv.request("GET", "/api/v1/me", token=token).status == 200

    r = srv.request(
        "POST",
        "/api/v1/users/carol/password",
        {"password": "carol-password-2"},
        token=admin,
    )
    assert r.status == 200, r
    assert r.json["username"] == "carol"
    assert srv.request("GET", "/api/v1/me", token=token).status == 401
    assert log_in(srv, "carol", "carol-password-1").status == 401
    assert log_in(srv, "carol", "carol-password-2").status == 200
    [event] = audit_events(srv, admin, "reset_password")
    assert event["details"]["target_user_id"] == carol["id"]
    assert "carol-password" not in str(event)

    r = srv.request(
        "POST",
        "/api/v1/users/nobody-here/password",
        {"password": "long-enough-1"},
        token=admin,
    )
    assert r.status == 404, r
    r = srv.request(
        "POST",
        "/api/v1/users/carol/password",
        {"password": "long-enough-1", "extra": 1},
        token=admin,
    )
    assert r.status == 422, r


def test_changing_ones_own_password_checks_the_current_one_and_returns_a_new_token(
    srv, admin
):
    dave = create(srv, admin, "dave", "dave-password-1", ["developer"])
    token = srv.token("dave", "dave-password-1")

    def change(current, new, tok=token):
        return srv.request(
            "POST",
            "/api/v1/me/password",
            {"current_password": current, "new_password": new},
            token=tok,
        )

    r = change("not-the-password", "dave-password-2")
    assert r.status == 403 and r.json["error"]["code"] == "wrong_password", r
    # A wrong current password is not a signed-out session.
    assert srv.request("GET", "/api/v1/me", token=token).status == 200
    r = change("dave-password-1", "short")
    assert r.status == 422, r
    r = change("dave-password-1", "dave-password-1")
    assert r.status == 422 and "current one" in r.json["error"]["message"], r
    r = srv.request("POST", "/api/v1/me/password", {"new_password": "x" * 10}, token=token)
    assert r.status == 422, r
    r = srv.request(
        "POST",
        "/api/v1/me/password",
        {"current_password": "dave-password-1", "new_password": "dave-password-2"},
    )
    assert r.status == 401, r

    r = change("dave-password-1", "dave-password-2")
    assert r.status == 200, r
    new_token = r.json["access_token"]
    assert r.json["token_type"] == "bearer" and r.json["expires_in"] > 0
    assert srv.request("GET", "/api/v1/me", token=token).status == 401
    me = srv.request("GET", "/api/v1/me", token=new_token)
    assert me.status == 200 and me.json["roles"] == ["developer"], me
    assert log_in(srv, "dave", "dave-password-1").status == 401
    assert log_in(srv, "dave", "dave-password-2").status == 200

    [event] = audit_events(srv, admin, "change_password")
    assert event["user_id"] == dave["id"]
    assert event["event_type"] == "data_write"
    failures = [
        e
        for e in audit_events(srv, admin, "authenticate")
        if e["event_type"] == "auth_failure" and e.get("user_id") == dave["id"]
    ]
    assert failures, "the wrong current password is not audited"


def test_wrong_current_passwords_lock_the_name_out_like_log_ins(srv, admin):
    create(srv, admin, "erin", "erin-password-1")
    token = srv.token("erin", "erin-password-1")
    body = {"current_password": "guess-guess", "new_password": "erin-password-2"}
    statuses = [
        srv.request("POST", "/api/v1/me/password", body, token=token).status
        for _ in range(3)
    ]
    assert statuses == [403, 403, 403], statuses
    r = srv.request(
        "POST",
        "/api/v1/me/password",
        {"current_password": "erin-password-1", "new_password": "erin-password-2"},
        token=token,
    )
    assert r.status == 429, r
    assert int(r.headers["Retry-After"]) > 0


def test_an_unlock_lifts_the_lock_out_and_is_audited_over_rest_and_the_cli(srv, admin):
    # Continues from the lock-out above: erin is locked out.
    me = srv.request("GET", "/api/v1/me", token=admin).json
    r = srv.request("POST", "/api/v1/users/erin/unlock", token=admin)
    assert r.status == 200 and r.json["username"] == "erin", r
    assert log_in(srv, "erin", "erin-password-1").status == 200
    [event] = audit_events(srv, admin, "unlock_user")
    assert event["user_id"] == me["user_id"] and event["success"] is True, event
    assert event["details"]["target_user"] == "erin", event
    for _ in range(3):
        assert log_in(srv, "erin", "guess-guess").status == 401
    assert log_in(srv, "erin", "erin-password-1").status == 429
    out = srv.cli("users", "unlock", "erin")
    assert "unlocked erin" in out.stdout, out.stdout
    assert log_in(srv, "erin", "erin-password-1").status == 200
    [by_cli] = [e for e in audit_events(srv, admin, "unlock_user") if e["user_id"] == "cli"]
    assert by_cli["details"]["target"] == "erin", by_cli
    r = srv.request("POST", "/api/v1/users/nobody-here/unlock", token=admin)
    assert r.status == 404, r


def test_the_cli_deletes_a_user_only_when_confirmed(srv, admin):
    frank = create(srv, admin, "frank", "frank-password-1", ["developer"])
    token = srv.token("frank", "frank-password-1")
    out = srv.cli("users", "delete", "frank", stdin="", check=False)
    assert out.returncode != 0
    assert "--yes" in out.stderr
    assert srv.request("GET", "/api/v1/me", token=token).status == 200

    out = srv.cli("users", "delete", "frank", "--yes")
    assert "deleted user frank" in out.stdout and "developer" in out.stdout, out.stdout
    deadline = time.monotonic() + 5
    while srv.request("GET", "/api/v1/me", token=token).status != 401:
        assert time.monotonic() < deadline, "the deleted user's token still works"
        time.sleep(0.2)
    assert log_in(srv, "frank", "frank-password-1").status == 401
    listed = srv.cli("users", "list", "--json").stdout
    assert '"frank"' not in listed
    [event] = [
        e for e in audit_events(srv, admin, "delete_user") if e["user_id"] == "cli"
    ]
    assert event["details"]["target_user_id"] == frank["id"]
    assert event["details"]["roles"] == ["developer"]

    out = srv.cli("users", "delete", "frank", "--yes", check=False)
    assert out.returncode != 0 and "no user `frank`" in out.stderr
