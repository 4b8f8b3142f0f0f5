"""The official MCP Python SDK's OAuth client against the real binary, starting from a bare 401:
Protected Resource Metadata, authorization server metadata, Dynamic Client Registration, PKCE,
the log-in and consent pages submitted as a browser would, the token, `tools/call`, refresh and
revocation. One server for the module."""

import asyncio
import base64
import hashlib
import json
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import httpx2
import pytest
from conftest import ADMIN_PASSWORD, Server
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from oauth_support import (
    Browser,
    BrowserUser,
    MemoryStorage,
    hidden_fields,
    redirect_params,
)

PASSWORD = "oauth-e2e-password-1"
REDIRECT = "http://127.0.0.1:53682/callback"


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="mcp-oauth-e2e-") as d:
        s = Server(Path(d))
        s.add_user("admin", ADMIN_PASSWORD, "admin")
        s.add_user("dev", PASSWORD, "developer")
        s.add_user("viewer", PASSWORD, "viewer")
        s.start()
        try:
            yield s
        finally:
            s.stop()
            print(f"--- server log {s.log_path} (tail) ---")
            print(s.read_log()[-6000:])


def provider(server, user, scope=None):
    metadata = OAuthClientMetadata(
        client_name="e2e MCP client",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope=scope,
    )
    storage = MemoryStorage()
    auth = OAuthClientProvider(
        server_url=server.url + "/mcp",
        client_metadata=metadata,
        storage=storage,
        redirect_handler=user.redirect,
        callback_handler=user.callback,
    )
    return auth, storage


async def tools_as(server, auth, call=None):
    async with (
        httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client,
    ):
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool(*call) if call else None
        return names, result


def audit_text(server):
    """The newest 1,000 audit events as one JSON text (actions like `oauth.token_issued`)."""
    admin = server.token("admin", ADMIN_PASSWORD)
    r = server.request("GET", "/api/v1/audit?limit=1000", token=admin)
    assert r.status == 200, r
    return json.dumps(r.json)


def test_the_sdk_client_connects_from_a_bare_401_and_refreshes_and_revokes(server):
    # A bare request: 401 and where to look.
    r = server.request(
        "POST", "/mcp", raw="{}", headers={"Content-Type": "application/json"}
    )
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="{server.url}/.well-known/oauth-protected-resource/mcp"'
    )
    user = BrowserUser("dev", PASSWORD)
    auth, storage = provider(server, user)

    names, result = asyncio.run(
        tools_as(server, auth, ("lint_code", {"language": "python", "code": "x = 1\n"}))
    )
    assert "execute_code" in names and "audit_query" not in names, names
    assert not result.is_error, result
    # Discovery led the client to register and to ask with PKCE for this resource.
    assert storage.client_info.client_id
    [url] = user.authorization_urls
    assert "code_challenge_method=S256" in url and "resource=" in url
    first = storage.tokens
    assert first.refresh_token and first.token_type.lower() == "bearer"
    granted = set(first.scope.split())
    assert {"tools:read", "tools:execute"} <= granted and "system:admin" not in granted
    # The access token is a JWT bound to the MCP resource, with the client and the scopes.
    r = server.request("GET", "/api/v1/me", token=first.access_token)
    assert r.status == 200, r

    # Refresh: the client sees an expired token and refreshes before the next request.
    auth.context.token_expiry_time = time.time() - 1
    asyncio.run(tools_as(server, auth))
    second = storage.tokens
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    assert len(user.authorization_urls) == 1, "refreshed, not signed in again"

    # Revocation (RFC 7009) of the refresh token ends the grant and its access tokens.
    r = server.request(
        "POST",
        "/oauth/revoke",
        raw=f"token={second.refresh_token}&client_id={storage.client_info.client_id}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 200, r
    r = server.request("GET", "/api/v1/me", token=second.access_token)
    assert r.status == 401, r

    # Every step is in the audit log.
    events = audit_text(server)
    for step in [
        "client_registered",
        "login_succeeded",
        "consent_granted",
        "code_issued",
        "token_issued",
        "token_refreshed",
        "token_revoked",
    ]:
        assert f"oauth.{step}" in events, step


def test_a_token_without_a_scope_the_roles_allow_is_stepped_up(server, client_id):
    # The client holds a token for `tools:read tools:lint` only (as after an earlier sign-in).
    verifier, challenge = pkce()
    code = code_for(server, client_id, challenge, user="dev")
    narrow = exchange(server, client_id, code, verifier).json
    assert narrow["scope"] == "tools:lint tools:read", narrow
    user = BrowserUser("dev", PASSWORD)
    auth, storage = provider(server, user)
    storage.client_info = OAuthClientInformationFull(
        client_id=client_id,
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )
    storage.tokens = OAuthToken(**narrow)
    _, result = asyncio.run(
        tools_as(
            server, auth, ("execute_code", {"language": "python", "code": "print(6*7)"})
        )
    )
    # execute_code got 403 insufficient_scope with scope="tools:execute"; the client signed in
    # again for the union of scopes, and the retried call went through.
    [url] = user.authorization_urls
    assert "tools%3Aexecute" in url and "tools%3Alint" in url, url
    assert {"tools:execute", "tools:lint"} <= set(storage.tokens.scope.split())
    assert not result.is_error, result


# ---------------------------------------------------------------- attacks at the HTTP level


def form(server, path, fields, headers=None):
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
    hdrs.update(headers or {})
    return server.request("POST", path, raw=urlencode(fields), headers=hdrs)


@pytest.fixture(scope="module")
def client_id(server):
    """A public client registered dynamically, as MCP clients do."""
    r = server.request(
        "POST",
        "/oauth/register",
        {
            "client_name": "attack test client",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        },
    )
    assert r.status == 201, r
    assert "client_secret" not in r.json
    return r.json["client_id"]


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        .decode()
        .rstrip("=")
    )
    return verifier, challenge


def authorization_url(server, client_id, challenge, **extra):
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s-1",
        "scope": "tools:read tools:lint",
        "resource": server.url + "/mcp",
    }
    params.update(extra)
    return (
        server.url
        + "/oauth/authorize?"
        + urlencode({k: v for k, v in params.items() if v is not None})
    )


def code_for(server, client_id, challenge, user="viewer", remember=False):
    browser = Browser()
    try:
        final = browser.sign_in(
            authorization_url(server, client_id, challenge),
            user,
            PASSWORD,
            remember=remember,
        )
    finally:
        browser.close()
    params, _ = redirect_params(final)
    assert params["iss"] == server.url and params["state"] == "s-1", params
    return params["code"]


def exchange(server, client_id, code, verifier, **extra):
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    fields.update(extra)
    # None leaves a field out (a missing verifier).
    return form(
        server, "/oauth/token", {k: v for k, v in fields.items() if v is not None}
    )


def refresh(server, client_id, refresh_token):
    return form(
        server,
        "/oauth/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        },
    )


def refusals(server):
    """How many `oauth.request_refused` events the audit log holds, by (endpoint, error)."""
    admin = server.token("admin", ADMIN_PASSWORD)
    r = server.request(
        "GET", "/api/v1/audit?event_type=auth_failure&limit=1000", token=admin
    )
    assert r.status == 200, r
    counts = Counter()
    for e in (record["event"] for record in r.json):
        if e["action"] != "oauth.request_refused":
            continue
        assert e["success"] is False, e
        counts[(e["details"]["endpoint"], e["details"]["error"])] += 1
    return counts


def new_refusals(server, before):
    """The refusals audited since `before` (a `refusals` count)."""
    return refusals(server) - before


def test_pkce_is_required_s256_only_and_checked(server, client_id):
    before = refusals(server)
    verifier, challenge = pkce()
    for extra in [
        {"code_challenge": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
    ]:
        browser = Browser()
        r = browser.open(authorization_url(server, client_id, challenge, **extra))
        browser.close()
        params, _ = redirect_params(r)
        assert params["error"] == "invalid_request", (extra, params)
        assert params["iss"] == server.url
    # A wrong verifier is refused and uses the code up.
    code = code_for(server, client_id, challenge)
    r = exchange(server, client_id, code, pkce()[0])
    assert r.status == 400 and r.json["error"] == "invalid_grant", r
    r = exchange(server, client_id, code, verifier)
    assert r.status == 400 and r.json["error"] == "invalid_grant", r
    # So is a missing one.
    code = code_for(server, client_id, challenge)
    r = exchange(server, client_id, code, None)
    assert r.status == 400 and r.json["error"] == "invalid_request", r
    # Each refusal is in the audit log.
    audited = new_refusals(server, before)
    assert audited[("authorize", "invalid_request")] == 3, audited
    assert audited[("token", "invalid_grant")] == 2, audited
    assert audited[("token", "invalid_request")] == 1, audited


def test_a_replayed_code_is_refused_and_revokes_the_tokens_it_gave(server, client_id):
    verifier, challenge = pkce()
    code = code_for(server, client_id, challenge)
    first = exchange(server, client_id, code, verifier)
    assert first.status == 200, first
    access = first.json["access_token"]
    assert server.request("GET", "/api/v1/me", token=access).status == 200
    again = exchange(server, client_id, code, verifier)
    assert again.status == 400 and again.json["error"] == "invalid_grant", again
    assert server.request("GET", "/api/v1/me", token=access).status == 401
    assert "oauth.code_replay_detected" in audit_text(server)


def test_a_redirect_uri_not_registered_is_never_redirected_to(server, client_id):
    before = refusals(server)
    _, challenge = pkce()
    for uri in [
        "https://evil.example/cb",
        "http://127.0.0.1:53682/other",
        REDIRECT + "?x=1",
    ]:
        browser = Browser()
        r = browser.open(
            authorization_url(server, client_id, challenge, redirect_uri=uri)
        )
        browser.close()
        assert r.status_code == 400, (uri, r.status_code)
        assert "location" not in r.headers
        assert "evil.example" not in r.headers.get("content-security-policy", "")
    audited = new_refusals(server, before)
    assert audited[("authorize", "invalid_request")] == 3, audited
    # Loopback redirect URIs match on any port (RFC 8252).
    browser = Browser()
    r = browser.open(
        authorization_url(
            server, client_id, challenge, redirect_uri="http://127.0.0.1:40001/callback"
        )
    )
    browser.close()
    assert r.status_code == 200, r.text[:500]


def test_a_token_for_another_resource_cannot_be_had_or_used(server, client_id):
    before = refusals(server)
    _, challenge = pkce()
    browser = Browser()
    r = browser.open(
        authorization_url(
            server, client_id, challenge, resource="https://other.example/mcp"
        )
    )
    browser.close()
    params, _ = redirect_params(r)
    assert params["error"] == "invalid_target", params
    # At the token endpoint, a resource other than the authorized one is refused too.
    verifier, challenge = pkce()
    code = code_for(server, client_id, challenge)
    r = exchange(
        server, client_id, code, verifier, resource="https://other.example/mcp"
    )
    assert r.status == 400 and r.json["error"] == "invalid_target", r
    audited = new_refusals(server, before)
    assert audited[("authorize", "invalid_target")] == 1, audited
    assert audited[("token", "invalid_target")] == 1, audited


def test_a_reused_refresh_token_revokes_the_whole_family(server, client_id):
    verifier, challenge = pkce()
    tokens = exchange(
        server, client_id, code_for(server, client_id, challenge), verifier
    ).json
    second = refresh(server, client_id, tokens["refresh_token"])
    assert second.status == 200, second
    assert (
        server.request("GET", "/api/v1/me", token=second.json["access_token"]).status
        == 200
    )
    reuse = refresh(server, client_id, tokens["refresh_token"])
    assert reuse.status == 400 and reuse.json["error"] == "invalid_grant", reuse
    # The thief's reuse ended the grant: the newest refresh and access tokens are dead too.
    assert refresh(server, client_id, second.json["refresh_token"]).status == 400
    assert (
        server.request("GET", "/api/v1/me", token=second.json["access_token"]).status
        == 401
    )
    assert (
        server.request("GET", "/api/v1/me", token=tokens["access_token"]).status == 401
    )
    assert "oauth.refresh_reuse_detected" in audit_text(server)


def test_the_forms_need_the_csrf_token_of_the_browsers_own_cookie(server, client_id):
    before = refusals(server)
    _, challenge = pkce()
    browser = Browser()
    login = browser.open(authorization_url(server, client_id, challenge))
    assert login.status_code == 200
    page = browser.submit(
        login.url,
        login.text,
        {"username": "viewer", "password": PASSWORD, "action": "login"},
    )
    assert page.status_code == 200 and "decision" in page.text
    fields = hidden_fields(page.text)
    # Without the token, with a forged one, and from another browser (no cookie): refused.
    for data, use in [
        ({"request": fields["request"], "decision": "allow"}, browser.http),
        ({**fields, "csrf_token": "forged", "decision": "allow"}, browser.http),
        ({**fields, "decision": "allow"}, httpx2.Client()),
    ]:
        r = use.post(server.url + "/oauth/consent", data=data)
        assert r.status_code in (400, 403), (r.status_code, r.text[:300])
        assert "location" not in r.headers
    browser.close()
    audited = new_refusals(server, before)
    assert sum(n for (at, _), n in audited.items() if at == "consent") == 3, audited
    # The pages cannot be framed and run no script.
    csp = login.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp.replace(
        "script-src 'none'", ""
    )
    assert login.headers["x-frame-options"] == "DENY"


def test_a_denied_consent_returns_access_denied_and_is_audited(server, client_id):
    _, challenge = pkce()
    browser = Browser()
    try:
        final = browser.sign_in(
            authorization_url(server, client_id, challenge), "viewer", PASSWORD, "deny"
        )
    finally:
        browser.close()
    params, location = redirect_params(final)
    assert location.startswith(REDIRECT + "?"), location
    assert params["error"] == "access_denied" and "code" not in params, params
    assert params["state"] == "s-1" and params["iss"] == server.url, params
    denied = [
        e
        for e in audit_events(server, "oauth.consent_denied")
        if e["details"].get("client_id") == client_id
    ]
    assert denied and denied[0]["success"] is False, denied
    assert denied[0]["event_type"] == "auth_failure", denied[0]


def test_the_console_signs_in_as_a_first_party_public_client(server):
    meta = server.request("GET", "/.well-known/oauth-authorization-server").json
    assert meta["issuer"] == server.url
    assert meta["authorization_endpoint"] == server.url + "/oauth/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert server.request("GET", "/.well-known/openid-configuration").json == meta
    verifier, challenge = pkce()
    redirect = server.url + "/console/"
    url = (
        server.url
        + "/oauth/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": "console",
                "redirect_uri": redirect,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": "s-c",
                "resource": server.url,
            }
        )
    )
    browser = Browser()
    try:
        # The log-in page, then straight back to the console: no consent page.
        final = browser.sign_in(url, "viewer", PASSWORD)
    finally:
        browser.close()
    params, location = redirect_params(final)
    assert location.startswith(redirect + "?"), location
    r = form(
        server,
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect,
            "client_id": "console",
            "code_verifier": verifier,
        },
    )
    assert r.status == 200, r
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # Every scope the viewer's roles allow, nothing more.
    assert set(r.json["scope"].split()) == {
        "tools:read",
        "tools:lint",
        "graph:query",
    }, r.json
    me = server.request("GET", "/api/v1/me", token=r.json["access_token"])
    assert me.status == 200 and me.json["username"] == "viewer", me
    # The console (first party) manages the user's connections; it is one of them.
    listing = server.request(
        "GET", "/api/v1/me/oauth/consents", token=r.json["access_token"]
    )
    assert listing.status == 200, listing
    console = connection_of(listing.json, "console")
    assert console["first_party"] is True and console["consent"] is None, console
    assert console["grants"] and console["source"] == "config", console
    # Another redirect URI is not the console's.
    browser = Browser()
    r2 = browser.open(url.replace("%2Fconsole%2F", "%2Fconsole%2Fx"))
    browser.close()
    assert r2.status_code == 400 and "location" not in r2.headers


# ------------------------------------------------ connected clients (remembered consents)


def audit_events(server, action):
    admin = server.token("admin", ADMIN_PASSWORD)
    r = server.request("GET", "/api/v1/audit?limit=1000", token=admin)
    assert r.status == 200, r
    events = [record["event"] for record in r.json]
    return [e for e in events if e["action"] == action]


def connection_of(listing, client_id):
    found = [c for c in listing if c["client_id"] == client_id]
    return found[0] if found else None


def test_a_user_lists_and_revokes_their_connected_clients(server, client_id):
    verifier, challenge = pkce()
    code = code_for(server, client_id, challenge, user="dev", remember=True)
    tokens = exchange(server, client_id, code, verifier).json
    own = server.token("dev", PASSWORD)
    dev_id = server.request("GET", "/api/v1/me", token=own).json["user_id"]

    r = server.request("GET", "/api/v1/me/oauth/consents", token=own)
    assert r.status == 200, r
    mine = connection_of(r.json, client_id)
    assert mine is not None, r.json
    assert mine["client_name"] == "attack test client"
    assert mine["source"] == "dynamic" and mine["first_party"] is False
    assert mine["redirect_hosts"] == ["127.0.0.1:53682"]
    assert set(mine["consent"]["scopes"]) == {"tools:read", "tools:lint"}
    assert server.url + "/mcp" in mine["consent"]["resources"]
    assert mine["grants"] and all(g["expires_at"] for g in mine["grants"])

    # The client's own token cannot see or end the user's connections.
    for method, path in [
        ("GET", "/api/v1/me/oauth/consents"),
        ("DELETE", f"/api/v1/me/oauth/consents/{client_id}"),
    ]:
        r = server.request(method, path, token=tokens["access_token"])
        assert r.status == 403 and r.json["error"]["code"] == "permission_denied", r
    assert server.request("GET", "/api/v1/me", token=tokens["access_token"]).status == 200
    # Without a token: 401 with the challenge.
    r = server.request("GET", "/api/v1/me/oauth/consents")
    assert r.status == 401 and "resource_metadata" in r.headers["WWW-Authenticate"]

    r = server.request("DELETE", f"/api/v1/me/oauth/consents/{client_id}", token=own)
    assert r.status == 204, r
    # The consent, the grants, their refresh and access tokens all ended.
    r = server.request("GET", "/api/v1/me/oauth/consents", token=own)
    assert connection_of(r.json, client_id) is None, r.json
    assert refresh(server, client_id, tokens["refresh_token"]).status == 400
    assert server.request("GET", "/api/v1/me", token=tokens["access_token"]).status == 401
    # Nothing left to revoke; an unknown client (a URL id, percent-encoded) likewise.
    r = server.request("DELETE", f"/api/v1/me/oauth/consents/{client_id}", token=own)
    assert r.status == 404 and r.json["error"]["code"] == "not_found", r
    r = server.request(
        "DELETE",
        "/api/v1/me/oauth/consents/https%3A%2F%2Fclient.example%2Fmeta.json",
        token=own,
    )
    assert r.status == 404 and "no consent" in r.json["error"]["message"], r
    # The next authorization asks again (the remembered consent is gone).
    browser = Browser()
    try:
        login = browser.open(authorization_url(server, client_id, pkce()[1]))
        page = browser.submit(
            login.url,
            login.text,
            {"username": "dev", "password": PASSWORD, "action": "login"},
        )
    finally:
        browser.close()
    assert page.status_code == 200 and "decision" in page.text

    [event] = [
        e
        for e in audit_events(server, "oauth.consent_revoked")
        if e["details"]["revoked_by"] == dev_id
    ]
    assert event["user_id"] == dev_id and event["success"] is True
    assert event["details"]["client_id"] == client_id
    assert event["details"]["grants_revoked"] >= 1


def test_an_admin_lists_and_revokes_any_users_connected_clients(server, client_id):
    verifier, challenge = pkce()
    code = code_for(server, client_id, challenge, user="viewer", remember=True)
    tokens = exchange(server, client_id, code, verifier).json
    admin = server.token("admin", ADMIN_PASSWORD)
    admin_id = server.request("GET", "/api/v1/me", token=admin).json["user_id"]
    path = "/api/v1/users/viewer/oauth/consents"

    r = server.request("GET", path, token=admin)
    assert r.status == 200, r
    assert connection_of(r.json, client_id)["consent"] is not None, r.json
    # Not for other users.
    dev = server.token("dev", PASSWORD)
    assert server.request("GET", path, token=dev).status == 403
    assert server.request("DELETE", f"{path}/{client_id}", token=dev).status == 403
    r = server.request("GET", "/api/v1/users/nobody/oauth/consents", token=admin)
    assert r.status == 404, r

    r = server.request("DELETE", f"{path}/{client_id}", token=admin)
    assert r.status == 204, r
    assert connection_of(server.request("GET", path, token=admin).json, client_id) is None
    assert refresh(server, client_id, tokens["refresh_token"]).status == 400
    assert server.request("GET", "/api/v1/me", token=tokens["access_token"]).status == 401
    assert server.request("DELETE", f"{path}/{client_id}", token=admin).status == 404
    events = [
        e
        for e in audit_events(server, "oauth.consent_revoked")
        if e["details"]["revoked_by"] == admin_id
    ]
    assert len(events) == 1 and events[0]["details"]["client_id"] == client_id, events


# --------------------------------------------- the log-in page uses the accounts' lock-out
# (last in the module: its failed passwords count against 127.0.0.1 too)


def test_the_log_in_page_shares_the_accounts_lock_out_and_audits_each_failure(
    server, client_id
):
    admin = server.token("admin", ADMIN_PASSWORD)
    r = server.request(
        "POST",
        "/api/v1/users",
        {"username": "locky", "password": PASSWORD, "roles": ["viewer"]},
        token=admin,
    )
    assert r.status in (200, 201), r
    _, challenge = pkce()
    browser = Browser()
    try:
        # Five wrong passwords on the page (the default allowance per name and address).
        for _ in range(5):
            page = browser.open(authorization_url(server, client_id, challenge))
            r = browser.submit(
                page.url,
                page.text,
                {"username": "locky", "password": "wrong-password", "action": "login"},
            )
            assert r.status_code == 401 and "Invalid user name or password" in r.text
            assert "location" not in r.headers
        # Now even the right password is refused, on the page and at /auth/token alike.
        page = browser.open(authorization_url(server, client_id, challenge))
        r = browser.submit(
            page.url,
            page.text,
            {"username": "locky", "password": PASSWORD, "action": "login"},
        )
        assert r.status_code == 429 and "Too many failed attempts" in r.text, r.text
        assert "location" not in r.headers
    finally:
        browser.close()
    r = server.request(
        "POST", "/auth/token", {"username": "locky", "password": PASSWORD}
    )
    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1, r
    # Each failure is audited once (by the password check), with the name tried; the lock
    # itself is a security violation.
    events = audit_events(server, "authenticate")
    tried = [
        e
        for e in events
        if e["details"].get("username") == "locky" and e["success"] is False
    ]
    assert len(tried) >= 6, tried
    locks = [
        e
        for e in audit_events(server, "lockout_triggered")
        if e["event_type"] == "security_violation"
        and e["details"].get("username") == "locky"
    ]
    assert locks, "no lockout_triggered event"
