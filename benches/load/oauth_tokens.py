#!/usr/bin/env python3
"""Set-up of the OAuth rows of benches/load/run (standard library only).

Registers a public client, then signs in `--codes` times through the server's own pages
(GET /oauth/authorize, the log-in form, the consent form on the first pass, remembered after
it) as a browser would, each sign-in giving one authorization code (PKCE S256). Writes:

- `--exchange-out`: `--codes` lines `CODE&code_verifier=VERIFIER`, for the wrk run of
  `POST /oauth/token grant_type=authorization_code` (each code works once);
- `--refresh-out`: `--refresh` refresh tokens, each of its own grant (from as many more
  sign-ins, exchanged here), for the wrk run of `grant_type=refresh_token`, which follows
  each grant's rotation;
- the client id on stdout.

Every sign-in is a real log-in (Argon2), so this takes about as long as that many log-ins.
"""

import argparse
import base64
import hashlib
import html
import http.cookiejar
import json
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the redirect is not followed
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"\s*/?>')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)">')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(opener, url, data=None, json_body=None):
    headers = {}
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif data is not None:
        data = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with opener.open(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def submit(opener, page_url, page, fields):
    data = {name: html.unescape(value) for name, value in HIDDEN.findall(page)}
    data.update(fields)
    action = FORM_ACTION.search(page)
    if not action:
        raise SystemExit(f"oauth set-up: no form in page: {page[:500]}")
    return call(opener, urllib.parse.urljoin(page_url, html.unescape(action.group(1))), data)


def sign_in(base, client_id, username, password):
    """One sign-in through the pages: returns (code, verifier)."""
    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        "state": "bench",
        "resource": base + "/mcp",
    }
    url = base + "/oauth/authorize?" + urllib.parse.urlencode(params)
    status, _, page = call(opener, url)
    if status != 200:
        raise SystemExit(f"oauth set-up: authorize answered {status}: {page[:500]}")
    status, headers, page = submit(
        opener, url, page, {"username": username, "password": password, "action": "login"}
    )
    if status == 200 and "decision" in page:
        status, headers, page = submit(
            opener, url, page, {"decision": "allow", "remember": "yes"}
        )
    location = headers.get("Location") or headers.get("location") or ""
    if status not in (302, 303) or not location.startswith(REDIRECT):
        raise SystemExit(f"oauth set-up: sign-in ended with {status}: {page[:500]}")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    return query["code"][0], verifier


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--codes", type=int, required=True)
    p.add_argument("--refresh", type=int, required=True)
    p.add_argument("--exchange-out", required=True)
    p.add_argument("--refresh-out", required=True)
    p.add_argument("--parallel", type=int, default=4)
    args = p.parse_args()
    password = open(args.password_file).read().strip()
    plain = urllib.request.build_opener(NoRedirect)

    status, _, body = call(
        plain,
        args.base + "/oauth/register",
        json_body={
            "client_name": "load test",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        },
    )
    if status != 201:
        raise SystemExit(f"oauth set-up: registration answered {status}: {body[:500]}")
    client_id = json.loads(body)["client_id"]
    # The first sign-in remembers the consent, so the others skip the consent page.
    first = sign_in(args.base, client_id, args.username, password)
    with ThreadPoolExecutor(args.parallel) as pool:
        rest = list(
            pool.map(
                lambda _: sign_in(args.base, client_id, args.username, password),
                range(args.codes + args.refresh - 1),
            )
        )
    signed = [first, *rest]

    refresh_tokens = []
    for code, verifier in signed[args.codes :]:
        status, _, body = call(
            plain,
            args.base + "/oauth/token",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        if status != 200:
            raise SystemExit(f"oauth set-up: code exchange answered {status}: {body[:500]}")
        refresh_tokens.append(json.loads(body)["refresh_token"])
    with open(args.exchange_out, "w") as f:
        for code, verifier in signed[: args.codes]:
            f.write(f"{code}&code_verifier={verifier}\n")
    with open(args.refresh_out, "w") as f:
        f.write("".join(t + "\n" for t in refresh_tokens))
    print(client_id)


if __name__ == "__main__":
    sys.exit(main())
