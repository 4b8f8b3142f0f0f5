"""Errors that name the fix, against the real binary over HTTP: query parameters, the audit
filter by user name, 405 with `Allow`, and the audit log from the command line."""

import csv
import io
import json

from conftest import ADMIN_PASSWORD


def error(reply):
    body = reply.json
    assert isinstance(body, dict) and set(body) == {"error"}, reply
    return body["error"]


def test_query_errors_name_the_parameter_and_the_expected_form(server, admin_token):
    def bad(query):
        r = server.request("GET", f"/api/v1/audit?{query}", token=admin_token)
        assert r.status == 400, (query, r)
        return error(r)["message"]

    msg = bad("since=yesterday")
    assert "`since`" in msg and "RFC 3339" in msg and "2026-01-31T12:00:00Z" in msg, msg
    msg = bad("until=2026-13-01")
    assert "`until`" in msg and "RFC 3339" in msg, msg
    msg = bad("event_type=login")
    assert "`event_type`" in msg and "code_execution" in msg and "auth_failure" in msg, msg
    msg = bad("limit=lots")
    assert "`limit`" in msg and "0 to 1000" in msg, msg
    msg = bad("limit=1001")
    assert "`limit`" in msg, msg
    msg = bad("success=yes")
    assert "`success`" in msg and "true or false" in msg, msg
    msg = bad("colour=red")
    assert "colour" in msg, msg
    r = server.request(
        "GET",
        "/api/v1/audit?since=2026-01-31T12:00:00%2B01:00&limit=5&success=true",
        token=admin_token,
    )
    assert r.status == 200, r


def test_the_audit_filter_takes_a_user_name_as_well_as_an_id(server, admin_token):
    me = server.request("GET", "/api/v1/me", token=admin_token).json
    # By name first: the query by id, later, also holds the events of the query by name.
    by_name = server.request(
        "GET", "/api/v1/audit?user_id=admin&limit=1000", token=admin_token
    )
    by_id = server.request(
        "GET", f"/api/v1/audit?user_id={me['user_id']}&limit=1000", token=admin_token
    )
    assert by_id.status == 200 and by_name.status == 200
    assert by_name.json, "events of admin are found by name"
    assert {e["seq"] for e in by_name.json} <= {e["seq"] for e in by_id.json}
    assert all(e["event"]["user_id"] == me["user_id"] for e in by_name.json)


def test_405_carries_allow(server, admin_token):
    r = server.request("PUT", "/api/v1/users", token=admin_token)
    assert r.status == 405, r
    assert error(r)["code"] == "method_not_allowed"
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allow == {"GET", "POST"}, r.headers["Allow"]
    r = server.request("DELETE", "/health")
    assert r.status == 405 and r.headers["Allow"] == "GET", r
    r = server.request("GET", "/api/v1/graph/relationships", token=admin_token)
    assert r.status == 405, r
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"POST", "DELETE"}


def test_audit_list_and_export_from_the_command_line(server, admin_token):
    server.request(
        "POST",
        "/api/v1/execute",
        {"language": "python", "code": "print(1)"},
        token=admin_token,
    )
    server.request(
        "POST", "/auth/token", {"username": "admin", "password": "wrong-password"}
    )
    out = server.cli("audit", "list", "--event-type", "auth_failure", "--limit", "5")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines and all(e["event"]["event_type"] == "auth_failure" for e in lines)
    assert all({"seq", "hash", "prev_hash", "event"} <= set(e) for e in lines)
    # Newest first, as the REST route answers.
    assert [e["seq"] for e in lines] == sorted((e["seq"] for e in lines), reverse=True)
    mine = server.cli("audit", "list", "--user", "admin", "--success", "true")
    mine = [json.loads(line) for line in mine.stdout.splitlines()]
    assert mine and all(e["event"]["success"] for e in mine)
    me = server.request("GET", "/api/v1/me", token=admin_token).json
    assert all(e["event"]["user_id"] == me["user_id"] for e in mine)
    exported = server.cli("audit", "export", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows[0]["seq"] == "1", rows[0]
    assert [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))
    assert {"timestamp", "event_type", "user_id", "details", "hash"} <= set(rows[0])
    assert any(r["event_type"] == "code_execution" for r in rows)
    json.loads(rows[-1]["details"])
    out = server.cli("audit", "list", "--since", "yesterday", check=False)
    assert out.returncode != 0 and "RFC 3339" in out.stderr, out.stderr
    out = server.cli("audit", "list", "--event-type", "login", check=False)
    assert out.returncode != 0 and "code_execution" in out.stderr, out.stderr


def test_audit_export_to_a_file_is_private_and_never_overwrites(server, tmp_path):
    target = tmp_path / "audit.jsonl"
    out = server.cli("audit", "export", "--output", str(target))
    assert target.stat().st_mode & 0o777 == 0o600
    lines = target.read_text().splitlines()
    assert lines and json.loads(lines[0])["seq"] == 1
    assert f"exported {len(lines)} events" in out.stderr, out.stderr
    again = server.cli("audit", "export", "--output", str(target), check=False)
    assert again.returncode != 0 and str(target) in again.stderr
    assert len(target.read_text().splitlines()) == len(lines)


def test_users_list_json_lists_admin(server):
    listed = json.loads(server.cli("users", "list", "--json").stdout)
    assert [u["username"] for u in listed] == ["admin"]
    assert ADMIN_PASSWORD not in json.dumps(listed)
