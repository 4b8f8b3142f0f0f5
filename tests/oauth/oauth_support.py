"""Helpers for the OAuth end-to-end tests: a "browser" that fills in the server's log-in and
consent forms (plain HTML, no JavaScript) as a person would, and an in-memory token storage for
the official MCP client's OAuth support."""

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp.client.auth import AuthorizationCodeResult

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"\s*/?>')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)">')


def hidden_fields(page):
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def form_action(page):
    m = FORM_ACTION.search(page)
    assert m, f"no form in page: {page[:2000]}"
    return html.unescape(m.group(1))


class Browser:
    """A cookie-keeping HTTP client that follows the pages to the client's redirect URI."""

    def __init__(self):
        self.http = httpx2.Client(follow_redirects=False, timeout=30.0)
        self.last = None

    def close(self):
        self.http.close()

    def open(self, url):
        self.last = self.http.get(url)
        return self.last

    def submit(self, page_url, page, fields):
        """Posts the page's form with its hidden fields plus `fields`."""
        data = hidden_fields(page)
        data.update(fields)
        action = urljoin(str(page_url), form_action(page))
        self.last = self.http.post(action, data=data)
        return self.last

    def sign_in(
        self, authorization_url, username, password, decision="allow", remember=False
    ):
        """Opens the authorization URL, logs in and (if asked) decides on the consent page.
        Returns the final response: a 303 to the client's redirect URI, or a page."""
        r = self.open(authorization_url)
        assert r.status_code == 200, (r.status_code, r.text[:2000])
        r = self.submit(
            r.url,
            r.text,
            {"username": username, "password": password, "action": "login"},
        )
        if r.status_code != 200 or "decision" not in r.text:
            return r
        fields = {"decision": decision}
        if remember:
            fields["remember"] = "yes"
        return self.submit(r.url, r.text, fields)


def redirect_params(response):
    """The query parameters of a redirect to the client (one value each)."""
    assert response.status_code in (302, 303), (
        response.status_code,
        response.text[:2000],
    )
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}, location


class MemoryStorage:
    """TokenStorage of the MCP client, kept in memory (and readable by the test)."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class BrowserUser:
    """The redirect and callback handlers of the MCP client's OAuth provider: "opens" the
    authorization URL in a Browser and signs in as `username`."""

    def __init__(self, username, password, remember=False):
        self.username = username
        self.password = password
        self.remember = remember
        self.result = None
        self.authorization_urls = []

    async def redirect(self, url):
        self.authorization_urls.append(url)
        browser = Browser()
        try:
            final = browser.sign_in(
                url, self.username, self.password, remember=self.remember
            )
        finally:
            browser.close()
        params, _ = redirect_params(final)
        self.result = AuthorizationCodeResult(
            code=params.get("code", ""),
            state=params.get("state"),
            iss=params.get("iss"),
        )

    async def callback(self):
        assert self.result is not None, "the browser did not come back"
        result, self.result = self.result, None
        return result
