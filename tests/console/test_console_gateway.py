"""The console's gateway page in a real browser (headless Chromium, Selenium), against the real
binary with one upstream: the Python SDK server of crates/mcp-gateway/tests/upstreams over
stdio. The server is started once with the upstream's `weather` tool as first seen, then again
after the upstream changed its description to hostile markup: the tool is withheld and the page
shows the change, as text, to an administrator, who approves it through the dialog. A user
with only upstream permissions sees the tools they may call and no decision.

Uses the browser, the helpers and the checks (axe-core, screenshot, no CSP violation, no
dialog, no script error) of test_console.py."""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, Server
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_console as ui

browser = ui.browser  # the module's own headless Chromium (same fixture function)

UPSTREAM = ROOT / "crates" / "mcp-gateway" / "tests" / "upstreams" / "py_upstream.py"
USER = ("gw-console-user", "gw-console-password")


def config(state, variant):
    python = Path(sys.executable).resolve()
    env = {"PATH": f"{python.parent}:/usr/bin:/bin"}
    for key in ("HOME", "PYENV_ROOT", "PYENV_VERSION", "LANG"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    env_toml = ", ".join(f'{k} = "{v}"' for k, v in env.items())
    return f"""
[roles.gw-console]
inherits = ["viewer"]
permissions = ["upstream:py:*"]

[gateway]
[[gateway.upstreams]]
namespace = "py"
restart_initial_ms = 100
[gateway.upstreams.stdio]
command = "{python}"
args = ["{UPSTREAM}", "--stdio", "--state", "{state}", "--variant-file", "{variant}"]
env = {{ {env_toml} }}
dangerous_no_sandbox = true
"""


def upstream(s, token):
    r = s.request("GET", "/api/v1/gateway/upstreams", token=token)
    assert r.status == 200, r
    return r.json[0]


def wait_for(check, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def gw_server():
    """A server whose upstream changed `weather` between two starts: withheld, pending."""
    with tempfile.TemporaryDirectory(prefix="mcp-console-gw-") as d:
        data = Path(d)
        state = data / "upstream-state"
        state.mkdir()
        variant = data / "variant"
        variant.write_text("v1")
        (data / "config.toml").write_text(config(state, variant))
        s = Server(data, env={"MCP_CONFIG": str(data / "config.toml")})
        s.add_user(*ui.ADMIN, "admin")
        s.add_user(*USER, "gw-console")
        s.start()
        try:
            admin = s.token(*ui.ADMIN)
            wait_for(lambda: upstream(s, admin)["state"] == "up")
            s.stop()
            variant.write_text("hostile")
            s.start()
            admin = s.token(*ui.ADMIN)
            wait_for(
                lambda: (
                    (u := upstream(s, admin))["state"] == "up" and u["withheld"] == 1
                )
            )
            s.admin = admin
            yield s
        finally:
            s.stop()
            print(s.read_log()[-4000:])
            shutil.rmtree(state, ignore_errors=True)


def test_an_admin_sees_the_withheld_change_as_text_and_approves_it(browser, gw_server):
    s = gw_server
    ui.sign_in(browser, s, *ui.ADMIN)
    pages = [
        a.get_attribute("data-page")
        for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")
    ]
    assert "gateway" in pages, pages
    ui.go(browser, "gateway")
    ui.text_in(browser, "tr[data-upstream='py']", "up")
    card = "[data-pending='py/weather']"
    # The offered description is shown as the upstream sent it, markup included, as text.
    ui.text_in(browser, card, '<img src=x onerror="window.__pwned=1">')
    ui.text_in(browser, card, "<script>window.__pwned=2</script>")
    ui.text_in(browser, card, "Gets the weather for a city.")
    ui.text_in(browser, card, "changed: description")
    assert not browser.find_elements(By.CSS_SELECTOR, f"{card} img, {card} script")
    ui.check_page(browser, "gateway")

    ui.click(browser, f"{card} [data-action=approve]")
    ui.visible(browser, "dialog[open] [data-action=dialog-confirm]")
    ui.axe(browser, "gateway-dialog")
    ui.click(browser, "dialog[open] [data-action=dialog-confirm]")
    ui.visible(browser, "[data-result=no-pending]")
    ui.assert_clean(browser)

    r = s.request("GET", "/api/v1/gateway/pins", token=s.admin)
    assert r.json["pending"] == [], r
    record = next(p for p in r.json["pins"]["py"] if p["tool"] == "weather")
    assert record["approved_by"] == "admin" and "onerror" in record["approved"]["text"]
    events = s.request(
        "GET", "/api/v1/audit?event_type=gateway&limit=50", token=s.admin
    ).json
    assert any(e["event"]["action"] == "definition_approved" for e in events), events


def test_a_user_with_upstream_permissions_sees_the_tools_and_no_decision(
    browser, gw_server
):
    s = gw_server
    ui.sign_in(browser, s, *USER)
    pages = [
        a.get_attribute("data-page")
        for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")
    ]
    assert "gateway" in pages and "audit" not in pages, pages
    ui.go(browser, "gateway")
    ui.text_in(browser, "#page table", "py__weather")
    ui.text_in(browser, "#page table", "upstream:py:weather")
    ui.text_in(browser, "#page table", "<script>window.__pwned=2</script>")
    assert not browser.find_elements(
        By.CSS_SELECTOR, "[data-action=approve], [data-upstream]"
    )
    ui.check_page(browser, "gateway-user")
    # The server refuses the decisions' routes to this user whatever the page shows.
    token = ui.token_of(browser)
    r = s.request("GET", "/api/v1/gateway/pins", token=token)
    assert r.status == 403, r


def test_the_gateway_page_is_not_offered_without_upstreams(browser):
    with tempfile.TemporaryDirectory(prefix="mcp-console-nogw-") as d:
        s = Server(d)
        s.add_user(*ui.ADMIN, "admin")
        s.start()
        try:
            ui.sign_in(browser, s, *ui.ADMIN)
            pages = [
                a.get_attribute("data-page")
                for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")
            ]
            assert "gateway" not in pages and "users" in pages, pages
        finally:
            s.stop()
