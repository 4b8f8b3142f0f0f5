"""The same guarded read as the Rust server's `GET /api/v1/tools`, written the usual Python way.

FastAPI + uvicorn + PyJWT + the standard library's sqlite3, for `benches/load/run` to compare
against. Per request it does what the Rust route does:

1. verify the bearer JWT: `kid` must be the configured one, HS256 only, same secret and issuer,
   `exp`/`iat`/`sub`/`jti` required, at most 8 KiB;
2. check the token's `jti` against a revocation table (SQLite);
3. load the user (must exist and be enabled) and the user's roles (SQLite);
4. check the permission `tools:read` against the roles (viewer < developer < admin);
5. append an `authz_granted` event to a hash-chained audit table (SQLite, WAL,
   synchronous=NORMAL, one transaction per event: prev hash read and insert under one lock);
6. answer the tool list as JSON.

Configuration comes from the environment (set by the bench script):
`BENCH_JWT_SECRET`, `BENCH_ISSUER`, `BENCH_DB` (SQLite file), and the seeded account
`BENCH_USER_ID`, `BENCH_USERNAME`, `BENCH_ROLES` (comma-separated).

Run: `uvicorn --app-dir benches/load python_app:app --workers 1 --no-access-log` (one worker is
this app's best setting: see docs/performance.md).
"""

import hashlib
import json
import os
import sqlite3
import threading
import time
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException

SECRET = os.environ["BENCH_JWT_SECRET"]
ISSUER = os.environ.get("BENCH_ISSUER", "mcp-server")
DB_PATH = os.environ["BENCH_DB"]
KID = os.environ.get("BENCH_KID", "primary")

# The built-in roles, flattened (each role includes the ones it inherits).
VIEWER = {"tools:read", "tools:lint", "graph:query"}
DEVELOPER = VIEWER | {"tools:execute", "tools:test", "tools:generate"}
ADMIN = DEVELOPER | {"graph:upsert", "graph:delete", "system:admin"}
ROLE_PERMISSIONS = {"viewer": VIEWER, "developer": DEVELOPER, "admin": ADMIN}

TOOLS = [
    {"name": "execute", "permission": "tools:execute"},
    {"name": "lint", "permission": "tools:lint"},
    {"name": "test", "permission": "tools:test"},
    {"name": "generate", "permission": "tools:generate"},
    {"name": "templates", "permission": "tools:generate"},
    {"name": "tools", "permission": "tools:read"},
    {"name": "graph_query", "permission": "graph:query"},
    {"name": "graph_stats", "permission": "graph:query"},
    {"name": "graph_upsert_node", "permission": "graph:upsert"},
    {"name": "graph_upsert_relationship", "permission": "graph:upsert"},
    {"name": "graph_delete_node", "permission": "graph:delete"},
    {"name": "graph_delete_relationship", "permission": "graph:delete"},
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, username TEXT UNIQUE NOT NULL,
                                  disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS role_assignments (user_id TEXT NOT NULL, role TEXT NOT NULL,
                                             PRIMARY KEY (user_id, role));
CREATE TABLE IF NOT EXISTS revoked (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL,
                                  event TEXT NOT NULL, prev_hash TEXT NOT NULL,
                                  hash TEXT NOT NULL);
"""

_local = threading.local()


def db() -> sqlite3.Connection:
    """One connection per thread (FastAPI runs sync dependencies in a thread pool)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB_PATH, timeout=5.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 5000")
        _local.conn = conn
    return conn


def seed() -> None:
    conn = db()
    conn.executescript(SCHEMA)
    user_id = os.environ.get("BENCH_USER_ID")
    if user_id:
        username = os.environ.get("BENCH_USERNAME", "bench")
        conn.execute(
            "INSERT OR IGNORE INTO users (id, username) VALUES (?, ?)",
            (user_id, username),
        )
        for role in filter(None, os.environ.get("BENCH_ROLES", "").split(",")):
            conn.execute(
                "INSERT OR IGNORE INTO role_assignments (user_id, role) VALUES (?, ?)",
                (user_id, role.strip()),
            )


seed()
app = FastAPI()


def invalid_token() -> HTTPException:
    return HTTPException(status_code=401, detail="invalid_token")


def principal(authorization: Annotated[str | None, Header()] = None) -> dict:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise invalid_token()
    token = authorization[7:].strip()
    if len(token) > 8192:
        raise invalid_token()
    try:
        # The Rust verifier picks the key by `kid` and refuses unknown ones; do the same.
        if jwt.get_unverified_header(token).get("kid") != KID:
            raise invalid_token()
        claims = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "iss"]},
        )
    except jwt.PyJWTError:
        raise invalid_token() from None
    conn = db()
    if conn.execute("SELECT 1 FROM revoked WHERE jti = ?", (claims["jti"],)).fetchone():
        raise invalid_token()
    row = conn.execute(
        "SELECT username, disabled FROM users WHERE id = ?", (claims["sub"],)
    ).fetchone()
    if row is None or row[1]:
        raise invalid_token()
    roles = [
        r[0]
        for r in conn.execute(
            "SELECT role FROM role_assignments WHERE user_id = ?", (claims["sub"],)
        )
    ]
    return {
        "user_id": claims["sub"],
        "username": row[0],
        "roles": roles,
        "jti": claims["jti"],
    }


# One writer at a time within the process: without it the threads' connections collide on
# SQLite's write lock and its busy handler sleeps (1, 2, 5, 10 … ms), which dominated latency.
_audit_lock = threading.Lock()


def audit(event: dict) -> None:
    """Appends one event to the hash chain: sha256(prev_hash || canonical JSON)."""
    with _audit_lock:
        _append(event)


def _append(event: dict) -> None:
    conn = db()
    body = json.dumps(event, sort_keys=True, separators=(",", ":"))
    conn.execute("BEGIN IMMEDIATE")
    try:
        last = conn.execute(
            "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        prev = last[0] if last else "0" * 64
        digest = hashlib.sha256((prev + body).encode()).hexdigest()
        conn.execute(
            "INSERT INTO audit (ts, event, prev_hash, hash) VALUES (?, ?, ?, ?)",
            (event["timestamp"], body, prev, digest),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def require(permission: str):
    def check(who: Annotated[dict, Depends(principal)]) -> dict:
        granted = any(permission in ROLE_PERMISSIONS.get(r, ()) for r in who["roles"])
        audit(
            {
                "event_type": "authz_granted" if granted else "authz_denied",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "user_id": who["user_id"],
                "resource": "/api/v1/tools",
                "action": permission,
                "success": granted,
            }
        )
        if not granted:
            raise HTTPException(
                status_code=403, detail=f"Permission denied: {permission}"
            )
        return who

    return check


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


TOOLS_READ = Depends(require("tools:read"))


@app.get("/api/v1/tools")
def list_tools(_: Annotated[dict, TOOLS_READ]) -> list:
    return TOOLS
