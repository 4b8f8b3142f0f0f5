"""The interactive API reference at /api-docs/ against the real binary: served from the binary
(no other origin is ever asked: the CSP allows none and the browser records any attempt), it
renders every operation of the OpenAPI document in headless Chromium without a CSP violation or
script error, "Try it out" with a token calls this server, and `/` links to it."""

import http.client
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ADMIN_PASSWORD, Server

CHROMIUM = os.environ.get("MCP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MCP_CHROMEDRIVER", "/usr/bin/chromedriver")

# Records CSP violations, script errors and every URL the page asks for.
INSTRUMENT = """
window.__csp = []; window.__errors = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
"""


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="mcp-e2e-reference-") as d:
        s = Server(d)
        s.add_user("admin", ADMIN_PASSWORD, "admin")
        s.start()
        try:
            yield s
        finally:
            s.stop()


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed (Debian packages chromium, chromium-driver)"
        )
    profile = tempfile.mkdtemp(prefix="mcp-reference-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INSTRUMENT})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver):
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def unfollowed(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", path)
    res = conn.getresponse()
    reply = (res.status, dict(res.getheaders()), res.read().decode())
    conn.close()
    return reply


def test_root_links_the_reference_and_the_document(server):
    status, headers, text = unfollowed(server, "/")
    assert status == 303
    link = headers["link"]
    assert '</api-docs/>; rel="service-doc"' in link
    assert '</api-docs/openapi.json>; rel="service-desc"' in link
    assert "/api-docs/" in text
    status, headers, _ = unfollowed(server, "/api-docs")
    assert status == 308 and headers["location"] == "/api-docs/"
    r = server.request("GET", "/api-docs/LICENSE-swagger-ui.txt")
    assert r.status == 200 and "Apache License" in r.text
    r = server.request("GET", "/api-docs/nothing-here.js")
    assert r.status == 404 and r.json["error"]["code"] == "not_found"


def test_the_reference_renders_every_operation_offline_and_cleanly(browser, server):
    doc = server.request("GET", "/api-docs/openapi.json").json
    operations = sum(len(ops) for ops in doc["paths"].values())
    browser.get_log("performance")  # what the browser did before
    browser.get(server.url + "/api-docs/")
    WebDriverWait(browser, 60).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= operations
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
    assert "mcp-server" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    health = browser.execute_script("return {csp: window.__csp, errors: window.__errors}")
    assert health == {"csp": [], "errors": []}, health
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
    foreign = [
        u
        for u in requested_urls(browser)
        if u.startswith(("http:", "https:", "ws:", "wss:")) and not u.startswith(server.url)
    ]
    assert foreign == [], foreign


def test_try_it_out_calls_this_server_with_the_token(browser, server):
    token = server.token("admin", ADMIN_PASSWORD)
    browser.get(server.url + "/api-docs/#/auth/me")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "button.authorize"))
    browser.find_element(By.CSS_SELECTOR, "button.authorize").click()
    field = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".modal-ux input[type=text]"))
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.close-modal").click()
    block = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#operations-auth-me"))
    if "is-open" not in block.get_attribute("class"):
        block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda d: block.find_element(By.CSS_SELECTOR, "button.try-out__btn")).click()
    wait.until(lambda d: block.find_element(By.CSS_SELECTOR, "button.execute")).click()
    body = wait.until(
        lambda d: block.find_element(By.CSS_SELECTOR, ".live-responses-table .response-col_description pre")
    )
    wait.until(lambda d: '"username": "admin"' in body.text)
    health = browser.execute_script("return {csp: window.__csp, errors: window.__errors}")
    assert health == {"csp": [], "errors": []}, health
