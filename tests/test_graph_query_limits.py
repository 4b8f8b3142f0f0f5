"""Graph queries on the embedded default (SQLite) against the real binary: a query that would
enumerate an explosion of paths, build huge lists or hold huge intermediate results is stopped
with a clear error, and the server keeps answering other requests meanwhile and afterwards."""

import concurrent.futures

QUERY = "/api/v1/graph/query"
CLIQUE = 12


def error(reply):
    body = reply.json or {}
    return body.get("error", body)


def build_clique(server, token):
    """CLIQUE nodes, each with a KNOWS relationship to every other one (both directions)."""
    for i in range(CLIQUE):
        r = server.request(
            "POST",
            "/api/v1/graph/nodes",
            {"label": "N", "key": f"n{i}", "properties": {"i": i}},
            token=token,
        )
        assert r.status == 200, r
    for i in range(CLIQUE):
        for j in range(CLIQUE):
            if i != j:
                r = server.request(
                    "POST",
                    "/api/v1/graph/relationships",
                    {
                        "from": {"label": "N", "key": f"n{i}"},
                        "type": "KNOWS",
                        "to": {"label": "N", "key": f"n{j}"},
                    },
                    token=token,
                )
                assert r.status == 200, r


def test_runaway_graph_queries_are_stopped_and_the_server_stays_responsive(
    server, admin_token
):
    build_clique(server, admin_token)

    # Sanity: the graph is there and everyday queries run.
    r = server.request(
        "POST",
        QUERY,
        {"cypher": "MATCH (n:N) RETURN count(n) AS nodes"},
        token=admin_token,
    )
    assert r.status == 200 and r.json["rows"] == [[{"value": CLIQUE}]], r

    explosion = {
        # Paths of up to 11 hops through a 12-clique: billions of them.
        "cypher": "MATCH p = (a:N {__mcp_key: 'n0'})-[*1..11]-(b) RETURN count(p) AS paths"
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(
            server.request, "POST", QUERY, explosion, admin_token, None, None, 120
        )
        # While it runs, the server answers other callers.
        answered = 0
        while not running.done() and answered < 5:
            assert server.request("GET", "/health", timeout=30).status == 200
            r = server.request(
                "POST",
                QUERY,
                {"cypher": "MATCH (n:N {__mcp_key: 'n1'}) RETURN n.i AS i"},
                token=admin_token,
                timeout=30,
            )
            assert r.status == 200 and r.json["rows"] == [[{"value": 1}]], r
            answered += 1
        stopped = running.result()
    assert answered >= 1, "the runaway query ended before any other request was tried"
    assert stopped.status == 422, stopped
    assert "timed out" in error(stopped)["message"], stopped

    # A list too long to build is refused before it is built.
    r = server.request(
        "POST",
        QUERY,
        {"cypher": "RETURN size(range(1, 100000000)) AS n"},
        token=admin_token,
    )
    assert r.status == 422, r
    assert "1000000 elements" in error(r)["message"], r

    # Collecting a list of large lists stops at the memory budget.
    r = server.request(
        "POST",
        QUERY,
        {
            "cypher": "UNWIND range(1, 1000000) AS x "
            "RETURN size(collect(range(1, 1000))) AS n"
        },
        token=admin_token,
    )
    assert r.status == 422, r
    assert "MiB of intermediate results" in error(r)["message"], r

    # Sorting a huge cartesian product stops at the memory budget too.
    r = server.request(
        "POST",
        QUERY,
        {
            "cypher": "MATCH (a:N), (b:N), (c:N), (d:N), (e:N) "
            "RETURN a.i, b.i, c.i, d.i, e.i ORDER BY a.i, b.i LIMIT 1"
        },
        token=admin_token,
    )
    assert r.status == 422, r

    # The row limit: at most `limit` rows, and `truncated` says more matched.
    r = server.request(
        "POST",
        QUERY,
        {"cypher": "MATCH (a:N), (b:N) RETURN a.i, b.i", "limit": 7},
        token=admin_token,
    )
    assert r.status == 200, r
    assert len(r.json["rows"]) == 7 and r.json["truncated"] is True, r

    # Writes are still refused, and the server still answers correctly afterwards.
    r = server.request(
        "POST", QUERY, {"cypher": "MATCH (n) DETACH DELETE n"}, token=admin_token
    )
    assert r.status == 422, r
    r = server.request(
        "POST",
        QUERY,
        {
            "cypher": "MATCH (a:N {__mcp_key: 'n0'})-[:KNOWS]->(b) RETURN count(b) AS n"
        },
        token=admin_token,
    )
    assert r.status == 200 and r.json["rows"] == [[{"value": CLIQUE - 1}]], r
