"""The unauthenticated edges against the real binary on SQLite: bounded log lines, the lock-out
behind a trusted proxy with the CLI unlock, sessions that end on a password change, and the
security violations of refused Host headers."""

import json
import time

from conftest import ADMIN_PASSWORD


def log_in(server, name, password, headers=None):
    return server.request(
        "POST",
        "/auth/token",
        {"username": name, "password": password},
        headers=headers,
    )


def json_lines(server):
    return [
        json.loads(line)
        for line in server.read_log().splitlines()
        if line.startswith("{")
    ]


def test_client_chosen_paths_and_names_reach_the_log_cut_to_the_bound(server):
    long_path = "/" + "p" * 20_000
    assert server.request("GET", long_path).status == 404
    huge_name = "n" * 200_000
    assert log_in(server, huge_name, "whatever-password").status == 401
    log = server.read_log()
    assert "p" * 1000 not in log, "the path is logged whole"
    assert "n" * 1000 not in log, "the user name is logged whole"
    spans = [
        line["span"]["path"]
        for line in json_lines(server)
        if line.get("span", {}).get("path", "").startswith("/ppp")
    ]
    assert spans and all(len(p.encode()) <= 512 for p in spans), spans[:1]


def test_behind_a_trusted_proxy_a_lock_hits_the_forwarded_client_and_the_cli_lifts_it(
    make_server,
):
    s = make_server(
        env={
            "MCP_HTTP__TRUSTED_PROXIES": "127.0.0.1,::1",
            "MCP_AUTH__MAX_FAILURES_PER_USER": "2",
        },
        start=False,
    )
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    s.add_user("victim", "the-right-password")
    s.start()
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    owner = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(2):
        assert log_in(s, "victim", "guess-guess", attacker).status == 401
    r = log_in(s, "victim", "the-right-password", attacker)
    assert r.status == 429, r
    assert int(r.headers["Retry-After"]) > 0
    # The owner, at another address behind the same proxy, is not locked out.
    assert log_in(s, "victim", "the-right-password", owner).status == 200
    s.cli("users", "unlock", "victim")
    assert log_in(s, "victim", "the-right-password", attacker).status == 200
    token = s.token("admin", ADMIN_PASSWORD)
    r = s.request("GET", "/api/v1/audit?event_type=security_violation", token=token)
    lock = [e["event"] for e in r.json if e["event"]["action"] == "lockout_triggered"]
    assert len(lock) == 1 and lock[0]["ip_address"] == "203.0.113.66", r.json


def test_a_password_change_from_the_cli_ends_the_users_sessions(server, admin_token):
    server.add_user("pat", "first-password", "developer")
    token = server.token("pat", "first-password")
    assert server.request("GET", "/api/v1/me", token=token).status == 200
    server.cli("users", "passwd", "pat", stdin="second-password\n")
    # Another process: the server's user cache may hold the account for up to its TTL (2 s).
    deadline = time.monotonic() + 3.0
    while server.request("GET", "/api/v1/me", token=token).status == 200:
        assert time.monotonic() < deadline, "the old token still works after the TTL"
        time.sleep(0.1)
    fresh = server.token("pat", "second-password")
    assert server.request("GET", "/api/v1/me", token=fresh).status == 200


def test_a_refused_host_is_audited_as_a_security_violation(server, admin_token):
    r = server.request(
        "POST",
        "/mcp",
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Host": "attacker.example", "Accept": "application/json, text/event-stream"},
    )
    assert r.status == 403, r
    r = server.request(
        "GET", "/api/v1/audit?event_type=security_violation", token=admin_token
    )
    refused = [e["event"] for e in r.json if e["event"]["action"] == "refused_host"]
    assert refused and refused[0]["details"]["host"] == "attacker.example", r.json


def test_unknown_methods_and_paths_collapse_into_one_metric_label_value(server):
    for i in range(5):
        server.request(f"BREW{i}", f"/nowhere/{i}")
    text = server.request("GET", "/metrics").text
    assert 'method="other",route="unmatched",status="404"} 5' in text, text
    assert "BREW" not in text and "/nowhere/" not in text
