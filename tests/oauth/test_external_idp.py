"""The server as a resource server of an external, real OpenID provider (npm `oidc-provider`,
started here on the OS's Node): the official MCP Python SDK's OAuth client starts from a 401,
finds the provider in the Protected Resource Metadata, registers there, signs in through the
provider's pages, and calls tools with the provider's JWT, whose `groups` claim maps to local
roles; then the provider rotates its signing key and the refreshed token is still accepted.
One provider and one server for the module."""

import asyncio
import base64
import json
import hashlib
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlencode, urljoin

import httpx2
import pytest
from conftest import ADMIN_PASSWORD, Server
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from oauth_support import MemoryStorage, hidden_fields, redirect_params

HERE = Path(__file__).resolve().parent
OIDC = HERE / "oidc"
REDIRECT = "http://127.0.0.1:53683/callback"
# A resource the provider also issues tokens for (tests/oauth/oidc/provider.mjs).
OTHER_RESOURCE = "https://other.example/mcp"
# The server's scopes (its permissions), which its resource metadata lists: the provider must
# know them all, since the client registers and asks for what that metadata lists.
SCOPES = [
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


def base64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def node():
    path = shutil.which("node")
    assert path and (OIDC / "node_modules" / "oidc-provider").exists(), (
        "node and tests/oauth/oidc/node_modules are needed: run scripts/install-test-deps"
    )
    return path


class Provider:
    def __init__(self, resource, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 - open for the process's lifetime
        self.proc = subprocess.Popen(
            [node(), str(OIDC / "provider.mjs"), resource, *SCOPES],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=OIDC,
        )
        self.issuer = self.answer("issuer")

    def answer(self, key):
        """The next JSON line the provider printed with `key` (it also prints notices)."""
        for line in self.proc.stdout:
            if line.startswith("{") and key in (message := json.loads(line)):
                return message[key]
        raise AssertionError(
            f"oidc-provider exited: {self.log_path.read_text()[-2000:]}"
        )

    def rotate(self):
        self.proc.stdin.write("rotate\n")
        self.proc.stdin.flush()
        return self.answer("rotated")

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def setup():
    with tempfile.TemporaryDirectory(prefix="mcp-oauth-idp-") as d:
        server = Server(Path(d))
        # A local administrator (password sign-in) reads the audit log.
        server.add_user("admin", ADMIN_PASSWORD, "admin")
        provider = Provider(server.url + "/mcp", Path(d) / "oidc-provider.log")
        config = Path(d) / "config.toml"
        config.write_text(
            f"""
[oauth]
enabled = false

[[oauth.external_issuers]]
issuer = "{provider.issuer}"
audiences = ["{server.url}/mcp"]
roles_claim = "groups"
role_map = {{ "mcp-dev" = ["developer"], "mcp-admin" = ["admin"] }}
default_roles = ["viewer"]
allow_insecure_loopback_http = true
min_refetch_secs = 0
"""
        )
        server.args = ["--config", str(config)]
        server.start()
        try:
            yield server, provider
        finally:
            server.stop()
            provider.stop()
            print(f"--- server log {server.log_path} (tail) ---")
            print(server.read_log()[-6000:])
            print("--- oidc-provider log (tail) ---")
            print(provider.log_path.read_text(errors="replace")[-4000:])


class ProviderBrowser:
    """Signs in at oidc-provider's development pages (any user name and password) and consents."""

    def __init__(self, username):
        self.username = username
        self.result = None
        self.urls = []

    async def redirect(self, url):
        self.urls.append(url)
        with httpx2.Client(follow_redirects=False, timeout=30.0) as http:
            r = http.get(url)
            for _ in range(20):
                if r.status_code in (302, 303) and r.headers["location"].startswith(
                    REDIRECT
                ):
                    break
                if r.status_code in (302, 303):
                    r = http.get(urljoin(str(r.url), r.headers["location"]))
                    continue
                assert r.status_code == 200, (r.status_code, r.text[:1000])
                action = r.text.split('action="', 1)[1].split('"', 1)[0]
                fields = hidden_fields(r.text)
                if 'name="login"' in r.text:
                    fields.update({"login": self.username, "password": "any"})
                r = http.post(urljoin(str(r.url), action), data=fields)
            params, _ = redirect_params(r)
        self.result = AuthorizationCodeResult(
            code=params["code"], state=params.get("state"), iss=params.get("iss")
        )

    async def callback(self):
        result, self.result = self.result, None
        return result


async def call(server, auth, tool, arguments):
    async with (
        httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client,
    ):
        names = {t.name for t in (await client.list_tools()).tools}
        return names, await client.call_tool(tool, arguments)


def test_the_sdk_signs_in_at_the_external_provider_and_survives_a_key_rotation(setup):
    server, provider = setup
    prm = server.request("GET", "/.well-known/oauth-protected-resource/mcp").json
    assert prm["authorization_servers"] == [provider.issuer]
    user = ProviderBrowser("dev")
    storage = MemoryStorage()
    auth = OAuthClientProvider(
        server_url=server.url + "/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="e2e external",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            token_endpoint_auth_method="none",
            scope=" ".join(SCOPES),
        ),
        storage=storage,
        redirect_handler=user.redirect,
        callback_handler=user.callback,
    )
    names, result = asyncio.run(
        call(server, auth, "lint_code", {"language": "python", "code": "x = 1\n"})
    )
    assert user.urls and user.urls[0].startswith(provider.issuer), user.urls
    # groups ["mcp-dev"] → developer: execute_code is listed, audit_query (admin) is not.
    assert "execute_code" in names and "audit_query" not in names, names
    assert not result.is_error, result
    first = storage.tokens.access_token

    # The provider rotates its key (a new key signs; the old one stays published). The test's
    # provider restarts its engine for that, which forgets dynamic clients: the client signs in
    # again from scratch. Its new token names a kid the server has not seen: the server
    # fetches the keys again and accepts it; the old token still verifies with the old key.
    old_kid = json.loads(base64url(first.split(".")[0]))["kid"]
    new_kid = provider.rotate()
    storage.tokens = storage.client_info = None
    auth.context.current_tokens = auth.context.client_info = None
    _, result = asyncio.run(
        call(server, auth, "lint_code", {"language": "python", "code": "y = 2\n"})
    )
    assert not result.is_error, result
    second = storage.tokens.access_token
    assert json.loads(base64url(second.split(".")[0]))["kid"] == new_kid != old_kid
    assert len(user.urls) == 2
    for token in (first, second):
        r = server.request("GET", "/api/v1/me", token=token)
        assert r.status == 200, r


def test_tokens_of_the_provider_for_another_audience_or_unmapped_users_are_limited(
    setup,
):
    server, provider = setup
    # A made-up token claiming the provider as issuer: refused with the resource's challenge.
    forged = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"
    r = server.request("GET", "/api/v1/me", token=forged)
    assert r.status == 401
    assert "resource_metadata=" in r.headers["WWW-Authenticate"]

    # A real token of the provider, signed with its real key, but for another server: refused
    # and audited.
    elsewhere = provider_token(provider, "dev", OTHER_RESOURCE, "tools:lint")
    claims = json.loads(base64url(elsewhere.split(".")[1]))
    assert claims["aud"] == OTHER_RESOURCE and claims["groups"] == ["mcp-dev"], claims
    r = server.request("GET", "/api/v1/me", token=elsewhere)
    assert r.status == 401 and r.json["error"]["code"] == "invalid_token", r
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"], r.headers
    admin = server.token("admin", ADMIN_PASSWORD)
    audit = server.request(
        "GET", "/api/v1/audit?event_type=token_validation&limit=200", token=admin
    )
    refused = [
        rec["event"]
        for rec in audit.json
        if rec["event"]["action"] == "verify_external_token"
        and "audience" in (rec["event"]["error_message"] or "")
    ]
    assert refused and refused[0]["success"] is False, audit.json
    assert refused[0]["details"]["issuer"] == provider.issuer, refused[0]

    # A user of the provider whose groups map to no local role gets the default role
    # (viewer): lint yes, execute no, whatever scopes the token carries.
    token = provider_token(provider, "carol", server.url + "/mcp", "tools:lint tools:execute")
    me = server.request("GET", "/api/v1/me", token=token)
    assert me.status == 200 and me.json["roles"] == ["viewer"], me
    assert me.json["user_id"] == f"external:{provider.issuer}#carol", me
    r = server.request(
        "POST", "/api/v1/lint", {"language": "python", "code": "x = 1\n"}, token=token
    )
    assert r.status == 200, r
    r = server.request(
        "POST", "/api/v1/execute", {"language": "python", "code": "print(1)"}, token=token
    )
    assert r.status == 403 and r.json["error"]["code"] == "permission_denied", r


def provider_token(provider, username, resource, scope):
    """An access token of the provider for `resource`, obtained by hand: registration, PKCE,
    the provider's pages (as `username`) and the code exchange."""
    with httpx2.Client(timeout=30.0) as http:
        meta = http.get(provider.issuer + "/.well-known/openid-configuration").json()
        reg = http.post(
            meta["registration_endpoint"],
            json={
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            },
        )
        assert reg.status_code == 201, reg.text
        client_id = reg.json()["client_id"]
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        user = ProviderBrowser(username)
        asyncio.run(
            user.redirect(
                meta["authorization_endpoint"]
                + "?"
                + urlencode(
                    {
                        "response_type": "code",
                        "client_id": client_id,
                        "redirect_uri": REDIRECT,
                        "code_challenge": challenge,
                        "code_challenge_method": "S256",
                        "scope": scope,
                        "resource": resource,
                        "state": "s-x",
                    }
                )
            )
        )
        r = http.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": user.result.code,
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "code_verifier": verifier,
                "resource": resource,
            },
        )
        assert r.status_code == 200, r.text
        return r.json()["access_token"]
