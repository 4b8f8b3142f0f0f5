"""Schemathesis hooks for tests/test_api_fuzz.py: the run authenticates as an administrator by
logging in (POST /auth/token) and logs in again whenever a request answers 401, since the run
itself may end its token (`POST /auth/revoke` without a body revokes the caller's own)."""

import json
import os
import urllib.request

import schemathesis


@schemathesis.auth(refresh_interval=3600)
class AdminLogIn:
    def get(self, case, context):
        body = json.dumps(
            {
                "username": os.environ["MCP_FUZZ_USER"],
                "password": os.environ["MCP_FUZZ_PASSWORD"],
            }
        ).encode()
        req = urllib.request.Request(
            os.environ["MCP_FUZZ_URL"] + "/auth/token",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as res:
            return json.load(res)["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
