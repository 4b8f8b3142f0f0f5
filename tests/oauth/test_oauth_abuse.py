"""Abuse of the OAuth endpoints anyone can call, over HTTP against the real binary.

- Per-address limits (`[oauth.rate_limits]`): 429 with `Retry-After` in the OAuth error shape
  (JSON for the API endpoints, an error page for the browser ones), counted per forwarded
  address (an IPv6 address by its /64), audited as `oauth.request_throttled`.
- Client ID Metadata Documents that point at loopback or private addresses, that are huge,
  slow or redirect: each refused (an error page, never a redirect) and audited
  (`oauth.request_refused` with the reason); a loopback or private address is never connected.
- `config check` builds the OAuth configuration as `serve` does (a client secret variable that
  is not set is reported).

Two servers: `guarded` with the default SSRF guards and small limits behind a trusted proxy
(so each test can speak from its own address), and `lenient`, allowed to fetch documents from
this host, so that a local TLS server can play the huge, slow and good document hosts."""

import base64
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from conftest import ADMIN_PASSWORD, ROOT, Server, free_port, server_bin
from oauth_support import Browser, redirect_params

PASSWORD = "oauth-abuse-password-1"
REDIRECT = "http://127.0.0.1:53682/callback"
TLS = ROOT / "crates" / "mcp-oauth" / "tests" / "tls"
BIG = 1024 * 1024


# ------------------------------------------------------------- a TLS document host


class Documents(BaseHTTPRequestHandler):
    """Serves client metadata documents, good and hostile; records every path asked for."""

    hits = []
    base = ""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - the standard library's name
        Documents.hits.append(self.path)
        if self.path == "/good.json":
            body = json.dumps(
                {
                    "client_id": Documents.base + "/good.json",
                    "client_name": "Document client",
                    "redirect_uris": [REDIRECT],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                }
            ).encode()
            self.reply(200, body)
        elif self.path == "/huge.json":
            self.reply(200, b" " * BIG)
        elif self.path == "/huge-unannounced.json":
            # No Content-Length: the size shows only while reading.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(BIG // 4096):
                    self.wfile.write(b" " * 4096)
            except OSError:
                pass
        elif self.path == "/slow.json":
            time.sleep(6)
            self.reply(200, b"{}")
        elif self.path == "/drip.json":
            # Headers at once, then one byte every half second: only a total time limit helps.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "64")
            self.end_headers()
            try:
                for _ in range(64):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass
        elif self.path == "/redirect.json":
            self.send_response(302)
            self.send_header("Location", Documents.base + "/good.json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.reply(404, b"{}")

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass


def pem_files(directory):
    cert = ssl.DER_cert_to_PEM_cert((TLS / "server.der").read_bytes())
    key = base64.encodebytes((TLS / "server-key.der").read_bytes()).decode()
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    cert_path.write_text(cert)
    key_path.write_text(f"-----BEGIN PRIVATE KEY-----\n{key}-----END PRIVATE KEY-----\n")
    return cert_path, key_path


@pytest.fixture(scope="module")
def documents():
    with tempfile.TemporaryDirectory(prefix="mcp-oauth-docs-") as d:
        cert, key = pem_files(Path(d))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Documents)
        httpd.daemon_threads = True
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        Documents.base = f"https://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield Documents.base
        finally:
            httpd.shutdown()
            httpd.server_close()


# ------------------------------------------------------------------------ servers


def start(directory, config_text):
    config = Path(directory) / "mcp.toml"
    config.write_text(config_text)
    s = Server(Path(directory), env={"MCP_CONFIG": str(config)})
    s.add_user("admin", ADMIN_PASSWORD, "admin")
    s.add_user("dev", PASSWORD, "developer")
    return s.start()


@pytest.fixture(scope="module")
def guarded():
    with tempfile.TemporaryDirectory(prefix="mcp-oauth-guarded-") as d:
        s = start(
            d,
            '[http]\ntrusted_proxies = ["127.0.0.1"]\n'
            "[oauth.rate_limits]\n"
            "register_per_minute = 3\ntoken_per_minute = 4\npages_per_minute = 5\n",
        )
        try:
            yield s
        finally:
            s.stop()
            print(f"--- server log {s.log_path} (tail) ---")
            print(s.read_log()[-6000:])


@pytest.fixture(scope="module")
def lenient(documents):
    with tempfile.TemporaryDirectory(prefix="mcp-oauth-lenient-") as d:
        s = start(
            d,
            f'[oauth]\nextra_ca_files = ["{TLS / "ca.der"}"]\n'
            "[oauth.client_metadata_documents]\n"
            "allow_private_addresses = true\ntimeout_ms = 1500\n",
        )
        try:
            yield s
        finally:
            s.stop()
            print(f"--- server log {s.log_path} (tail) ---")
            print(s.read_log()[-6000:])


def audit_events(server, action):
    admin = server.token("admin", ADMIN_PASSWORD)
    r = server.request("GET", "/api/v1/audit?limit=1000", token=admin)
    assert r.status == 200, r
    return [rec["event"] for rec in r.json if rec["event"]["action"] == action]


def from_address(address):
    return {"X-Forwarded-For": address}


def register(server, address):
    return server.request(
        "POST",
        "/oauth/register",
        {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"},
        headers=from_address(address),
    )


def form(server, path, fields, address):
    return server.request(
        "POST",
        path,
        raw=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **from_address(address),
        },
    )


def authorize_url(server, client_id):
    return (
        server.url
        + "/oauth/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
                "state": "s-1",
                "scope": "tools:read",
            }
        )
    )


def assert_throttled_json(r):
    assert r.status == 429, r
    assert int(r.headers["Retry-After"]) >= 1, r.headers
    assert r.json["error"] == "temporarily_unavailable", r.json
    assert "Too many requests" in r.json["error_description"], r.json


# ------------------------------------------------------------------ rate limits


def test_registration_over_an_addresss_allowance_gets_429_and_is_audited(guarded):
    for _ in range(3):
        assert register(guarded, "203.0.113.10").status == 201
    r = register(guarded, "203.0.113.10")
    assert_throttled_json(r)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # Another address has its own allowance.
    assert register(guarded, "203.0.113.11").status == 201
    [event] = [
        e
        for e in audit_events(guarded, "oauth.request_throttled")
        if e["ip_address"] == "203.0.113.10"
    ]
    assert event["event_type"] == "rate_limit_exceeded" and not event["success"]
    assert event["details"]["endpoint"] == "register", event


def test_the_token_and_revocation_endpoints_share_an_allowance(guarded):
    bogus = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"}
    for _ in range(4):
        r = form(guarded, "/oauth/token", bogus, "203.0.113.20")
        assert r.status in (400, 401), r
    assert_throttled_json(form(guarded, "/oauth/token", bogus, "203.0.113.20"))
    revoke = {"token": "x", "client_id": "nobody"}
    assert_throttled_json(form(guarded, "/oauth/revoke", revoke, "203.0.113.20"))
    assert form(guarded, "/oauth/token", bogus, "203.0.113.21").status in (400, 401)


def test_the_log_in_pages_are_limited_per_address_and_per_ipv6_64(guarded):
    browser = Browser()
    try:
        for i in range(5):
            # Addresses of one /64 count as one.
            r = browser.http.get(
                guarded.url + "/oauth/authorize",
                headers=from_address(f"2001:db8:7:7::{i + 1}"),
            )
            assert r.status_code == 400, r.status_code
        r = browser.http.get(
            guarded.url + "/oauth/authorize",
            headers=from_address("2001:db8:7:7:ffff::1"),
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "Too many requests" in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        # The log-in and consent forms draw on the same allowance.
        for path in ["/oauth/login", "/oauth/consent"]:
            r = browser.http.post(
                guarded.url + path,
                data={"username": "dev", "password": PASSWORD},
                headers=from_address("2001:db8:7:7::99"),
            )
            assert r.status_code == 429, (path, r.status_code)
        r = browser.http.get(
            guarded.url + "/oauth/authorize",
            headers=from_address("2001:db8:7:8::1"),
        )
        assert r.status_code == 400
    finally:
        browser.close()


# -------------------------------------------------- client metadata documents (SSRF)


def refused_document(server, client_id, address):
    browser = Browser()
    try:
        r = browser.http.get(authorize_url(server, client_id), headers=from_address(address))
    finally:
        browser.close()
    assert r.status_code == 400, (client_id, r.status_code, r.text[:500])
    assert "location" not in r.headers, client_id
    return r.text


def refusal_reason(server, client_id):
    events = [
        e
        for e in audit_events(server, "oauth.request_refused")
        if e["details"].get("client_id") == client_id
    ]
    assert events, f"no oauth.request_refused event for {client_id}"
    assert events[0]["event_type"] == "auth_failure"
    return events[0]["details"]["reason"]


def test_a_document_on_a_loopback_or_private_address_is_never_fetched(
    guarded, documents
):
    port = documents.rsplit(":", 1)[1]
    Documents.hits.clear()
    cases = [
        f"https://127.0.0.1:{port}/good.json",
        f"https://localhost:{port}/good.json",
        f"https://[::1]:{port}/good.json",
        "https://10.1.2.3/client.json",
        "https://192.168.0.10/client.json",
        "https://169.254.169.254/latest/meta-data.json",
        "https://[fd00::1]/client.json",
        "https://[::ffff:127.0.0.1]/client.json",
    ]
    for i, client_id in enumerate(cases):
        page = refused_document(guarded, client_id, f"198.51.100.{i + 1}")
        assert "not valid" in page, page[:500]
    assert Documents.hits == [], "a refused address was connected to"
    for client_id in cases:
        reason = refusal_reason(guarded, client_id)
        assert "not public" in reason or "URL refused" in reason, (client_id, reason)
    # Plain http is refused before any lookup.
    refused_document(guarded, f"http://127.0.0.1:{port}/good.json", "198.51.100.50")
    assert Documents.hits == []


def test_huge_slow_and_redirecting_documents_are_refused(lenient, documents):
    cases = {
        "/huge.json": "larger than",
        "/huge-unannounced.json": "larger than",
        "/slow.json": "timed out",
        "/drip.json": "timed out",
        "/redirect.json": "redirect",
    }
    for path, why in cases.items():
        client_id = documents + path
        refused_document(lenient, client_id, "127.0.0.1")
        reason = refusal_reason(lenient, client_id)
        assert why in reason, (path, reason)
    # A refusal is remembered: asking again does not fetch again.
    before = Documents.hits.count("/huge.json")
    refused_document(lenient, documents + "/huge.json", "127.0.0.1")
    assert Documents.hits.count("/huge.json") == before


def test_a_document_client_signs_in_and_is_disconnected_by_its_url(lenient, documents):
    client_id = documents + "/good.json"
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    browser = Browser()
    try:
        final = browser.sign_in(
            authorize_url(lenient, client_id), "dev", PASSWORD, remember=True
        )
    finally:
        browser.close()
    params, _ = redirect_params(final)
    r = lenient.request(
        "POST",
        "/oauth/token",
        raw=urlencode(
            {
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "code_verifier": verifier,
            }
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 200, r
    tokens = r.json
    assert [
        e["details"]["source"]
        for e in audit_events(lenient, "oauth.client_registered")
        if e["details"]["client_id"] == client_id
    ] == ["metadata_document"]
    own = lenient.token("dev", PASSWORD)
    listing = lenient.request("GET", "/api/v1/me/oauth/consents", token=own).json
    [mine] = [c for c in listing if c["client_id"] == client_id]
    assert mine["source"] == "metadata_document", mine
    assert mine["client_name"] == "Document client", mine
    r = lenient.request(
        "DELETE",
        "/api/v1/me/oauth/consents/" + quote(client_id, safe=""),
        token=own,
    )
    assert r.status == 204, r
    r = lenient.request(
        "POST",
        "/oauth/token",
        raw=urlencode(
            {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": client_id,
            }
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 400 and r.json["error"] == "invalid_grant", r


# ------------------------------------------------------------------ config check


def test_config_check_reports_a_client_secret_variable_that_is_not_set(tmp_path):
    config = tmp_path / "mcp.toml"
    config.write_text(
        "[[oauth.clients]]\n"
        'client_id = "ci-bot"\n'
        'client_secret_env = "MCP_TEST_CI_BOT_SECRET"\n'
        'redirect_uris = ["https://ci.example.com/cb"]\n'
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MCP_") or k.startswith("MCP_TEST")
    }
    env.pop("MCP_TEST_CI_BOT_SECRET", None)
    env["MCP_DATA_DIR"] = str(tmp_path / "data")

    def run(*args, extra=None):
        return subprocess.run(
            [server_bin(), "--config", str(config), *args],
            capture_output=True,
            text=True,
            env={**env, **(extra or {})},
            timeout=120,
            check=False,
        )

    out = run("config", "check")
    assert out.returncode != 0
    assert "MCP_TEST_CI_BOT_SECRET" in out.stderr and "not set" in out.stderr, out.stderr
    # `serve` refuses it before listening (on a fixed port, so that OAuth is on).
    served = run("serve", "--port", str(free_port()))
    assert served.returncode != 0 and "MCP_TEST_CI_BOT_SECRET" in served.stderr
    out = run("config", "check", extra={"MCP_TEST_CI_BOT_SECRET": "s" * 40})
    assert "MCP_TEST_CI_BOT_SECRET" not in out.stderr, out.stderr
