"""The web console in a real browser: headless Chromium (the OS package) driven by Selenium,
against the real binary. One server and one browser for the whole module.

Every page is checked with axe-core (no serious or critical violation), saved as a screenshot
(under target/console-screenshots, or MCP_CONSOLE_SCREENSHOTS), and the page must have had no
Content-Security-Policy violation, no dialog and no script error by the end of each test. Each
browser test also leaves a screenshot of where it ended (`test-<name>.png`)."""

import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import ROOT, Server
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ADMIN = ("admin", "console-admin-password")
CHROMIUM = os.environ.get("MCP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MCP_CHROMEDRIVER", "/usr/bin/chromedriver")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(
    os.environ.get("MCP_CONSOLE_SCREENSHOTS") or ROOT / "target" / "console-screenshots"
)
WAIT = 30

# Strings that would run script if the console ever handled data as HTML. Each sets a flag a
# real script would set; the CSP would also report the attempt.
HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "javascript:window.__pwned=3",
    '"><svg onload="window.__pwned=4">',
]
HOSTILE_TEXT = " ".join(HOSTILE)

# Runs in every document before its own scripts: records CSP violations, dialogs and errors.
INSTRUMENT = """
window.__csp = []; window.__dialogs = []; window.__errors = []; window.__pwned = 0;
document.addEventListener('securitypolicyviolation', (e) =>
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));
window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
for (const k of ['alert', 'confirm', 'prompt']) {
  window[k] = (m) => { window.__dialogs.push(k + ': ' + String(m)); return null; };
}
"""


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="mcp-console-") as d:
        s = Server(d)
        s.add_user(*ADMIN, "admin")
        s.start()
        try:
            yield s
        finally:
            s.stop()
            print(f"--- server log {s.log_path} (tail) ---")
            print(s.read_log()[-4000:])


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed (Debian packages chromium, chromium-driver)"
        )
    if not AXE.exists():
        pytest.fail(
            f"{AXE} missing: run npm ci in tests/console (scripts/install-test-deps does)"
        )
    profile = tempfile.mkdtemp(prefix="mcp-console-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": INSTRUMENT}
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots in {SHOTS}")
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def last_screen(request):
    """Every browser test leaves a screenshot of where it ended (passed or failed) beside the
    pages' ones: `test-<test name>.png`."""
    yield
    if "browser" in request.fixturenames:
        driver = request.getfixturevalue("browser")
        try:
            driver.save_screenshot(str(SHOTS / f"test-{request.node.name}.png"))
        except Exception as e:  # noqa: BLE001 - a lost screenshot must not fail the test
            print(f"no final screenshot for {request.node.name}: {e}")


# ------------------------------------------------------------------ helpers


def wait(driver, condition, timeout=WAIT):
    """Until `condition` holds; a re-rendered (stale) element just means: try again."""
    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def click_when(driver, find):
    """Clicks what `find(driver)` returns, finding it again if the page re-rendered it."""

    def attempt(d):
        find(d).click()
        return True

    wait(driver, attempt)


def visible(driver, css, timeout=WAIT):
    return wait(
        driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout
    )


def text_in(driver, css, text, timeout=WAIT):
    """The first element matching `css` whose text contains `text`, once there is one."""

    def found(d):
        return next(
            (e for e in d.find_elements(By.CSS_SELECTOR, css) if text in e.text), False
        )

    try:
        return wait(driver, found, timeout)
    except TimeoutException:
        shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]
        raise AssertionError(f"{text!r} not in {css}: {shown}") from None


def open_console(driver, server, page=""):
    driver.get(f"{server.url}/console/{'#/' + page if page else ''}")


def signed_out_page(driver, server):
    """A fresh console tab, signed out; True when it signs in through the server's OAuth."""
    open_console(driver, server)
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    wait(
        driver,
        lambda d: (
            d.find_element(By.ID, "username").is_displayed()
            or d.find_element(By.ID, "oauth-start").is_displayed()
        ),
    )
    return driver.find_element(By.ID, "oauth-start").is_displayed()


def to_authorization_server(driver):
    """From the console's sign-in button to the authorization server's log-in page."""
    button = driver.find_element(By.ID, "oauth-start")
    button.click()
    wait(driver, EC.staleness_of(button))
    visible(driver, "#username")


def sign_in(driver, server, username, password):
    """Signs in the way the console offers: the server's OAuth log-in page, or the
    console's own form (both name their fields username and password)."""
    if signed_out_page(driver, server):
        to_authorization_server(driver)
    visible(driver, "#username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password, Keys.ENTER)
    visible(driver, "#nav a")
    # The first page is rendered, so no render still pending from the sign-in replaces
    # the page the test opens next.
    visible(driver, "#page h1")
    return token_of(driver)


def sign_in_error(driver):
    """The refusal shown on the sign-in page (the console's or the authorization server's)."""
    return wait(
        driver,
        lambda d: next(
            (
                e.text
                for e in d.find_elements(By.CSS_SELECTOR, ".error[role=alert]")
                if e.text
            ),
            False,
        ),
    )


def token_of(driver):
    raw = driver.execute_script("return sessionStorage.getItem('mcp-console-session')")
    return json.loads(raw)["token"] if raw else None


def go(driver, page):
    driver.find_element(By.CSS_SELECTOR, f"#nav a[data-page='{page}']").click()
    text_in(driver, "#page h1", "")


def set_code(driver, text, index=0):
    driver.execute_script(
        "document.querySelectorAll('.CodeMirror')[arguments[1]].CodeMirror.setValue(arguments[0])",
        text,
        index,
    )


def click(driver, css):
    el = visible(driver, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()
    return el


def tab(driver, name):
    for el in driver.find_elements(By.CSS_SELECTOR, "[role=tab]"):
        if el.text == name:
            el.click()
            return
    raise AssertionError(f"no tab {name}")


def page_health(driver):
    """What the page recorded: CSP violations, dialogs, script errors, the hostile flag."""
    return driver.execute_script(
        "return {csp: window.__csp, dialogs: window.__dialogs, errors: window.__errors,"
        " pwned: window.__pwned}"
    )


def assert_clean(driver):
    health = page_health(driver)
    assert health["csp"] == [], health
    assert health["dialogs"] == [], health
    assert health["errors"] == [], health
    assert health["pwned"] == 0, health
    severe = [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]
    assert severe == [], severe


def axe(driver, name):
    """axe-core on the current page: no serious or critical violation."""
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}))))"
        ".catch((e) => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"


def shot(driver, name):
    """A screenshot of the whole page (up to 2000 px high)."""
    path = SHOTS / f"console-{name}.png"
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 900), 2000))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(1280, 900)
    return path


def check_page(driver, name):
    axe(driver, name)
    shot(driver, name)
    assert_clean(driver)


def api(server, method, path, token=None, body=None):
    return server.request(method, path, body, token=token)


def add_user(server, token, name, role):
    """Creates `name` with the password `<name>-password-1` and one role, through the API."""
    r = api(
        server,
        "POST",
        "/api/v1/users",
        token,
        {"username": name, "password": f"{name}-password-1", "roles": [role]},
    )
    assert r.status in (200, 201), r


# ------------------------------------------------------------------ server side


def raw_get(server, path, headers=None):
    """GET without following redirects: (status, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        res = conn.getresponse()
        res.read()
        return res.status, res.headers
    finally:
        conn.close()


def test_root_leads_to_the_console_and_every_file_has_the_security_headers(server):
    status, headers = raw_get(server, "/")
    assert status == 303 and headers["Location"] == "/console/", (status, headers)
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    for path, kind in [
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/codemirror.js", "text/javascript"),
    ]:
        r = server.request("GET", path)
        assert r.status == 200, (path, r)
        assert r.headers["Content-Type"].startswith(kind), path
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Cache-Control"] == "no-cache"
        status, _ = raw_get(server, path, {"If-None-Match": r.headers["ETag"]})
        assert status == 304, path
    for missing in [
        "/console/nope.js",
        "/console/..%2FCargo.toml",
        "/console/vendor%2Fcodemirror%2FLICENSE",
    ]:
        r = server.request("GET", missing)
        assert r.status == 404 and r.json["error"]["code"] == "not_found", (missing, r)
    status, headers = raw_get(server, "/console")
    assert status == 308 and headers["Location"] == "/console/"


# ------------------------------------------------------------------ scenarios


def test_admin_signs_in_and_sees_every_page(browser, server):
    signed_out_page(browser, server)
    check_page(browser, "sign-in")
    sign_in(browser, server, *ADMIN)
    pages = [
        a.get_attribute("data-page")
        for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")
    ]
    expected = ["tools", "graph", "audit", "users", "status"]
    if oauth_metadata(server) is not None:
        expected.append("apps")
    assert pages == expected
    assert "admin" in browser.find_element(By.ID, "who-name").text
    assert browser.execute_script("return localStorage.length") == 0
    assert server.url.replace("http://", "") not in (token_of(browser) or "x")
    assert (
        "token" not in browser.current_url
        and token_of(browser) not in browser.current_url
    )


def test_run_python_and_see_its_output_then_lint_and_see_a_diagnostic(browser, server):
    sign_in(browser, server, *ADMIN)
    go(browser, "tools")
    visible(browser, ".CodeMirror")
    set_code(
        browser,
        'import sys\nprint("hello from the console")\nprint("to stderr", file=sys.stderr)\n',
    )
    browser.find_element(By.CSS_SELECTOR, "textarea[name=stdin]").send_keys(
        "ignored input"
    )
    click(browser, "[data-action=execute]")
    text_in(browser, "pre[data-stream=stdout]", "hello from the console")
    text_in(browser, "pre[data-stream=stderr]", "to stderr")
    facts = text_in(browser, "[data-result=execute]", "exit code: 0").text
    assert (
        "timed out: no" in facts
        and "out of memory: no" in facts
        and "duration:" in facts
    )
    check_page(browser, "tools")

    tab(browser, "Lint")
    set_code(browser, "import os\nx = = 1\n")
    click(browser, "[data-action=lint]")
    text_in(browser, "[data-result=lint]", "errors found")
    cells = [
        td.text
        for td in browser.find_elements(
            By.CSS_SELECTOR, "[role=tabpanel]:not([hidden]) tbody td"
        )
    ]
    assert "2:5" in cells and any("Expected an expression" in c for c in cells), cells
    markers = browser.find_elements(By.CSS_SELECTOR, ".cm-diag-marker")
    assert len(markers) >= 1
    assert browser.find_elements(By.CSS_SELECTOR, ".CodeMirror .cm-diag-line")
    check_page(browser, "tools-lint")


def test_tests_and_templates_show_their_results(browser, server):
    sign_in(browser, server, *ADMIN)
    go(browser, "tools")
    tab(browser, "Test")
    set_code(browser, "def add(a, b):\n    return a + b\n", 0)
    set_code(
        browser,
        "from solution import add\n\ndef test_ok():\n    assert add(1, 2) == 3\n\ndef test_bad():\n    assert add(1, 2) == 4\n",
        1,
    )
    click(browser, "[data-action=test]")
    facts = text_in(browser, "[data-result=test]", "passed: 1").text
    assert "failed: 1" in facts
    rows = browser.find_elements(
        By.CSS_SELECTOR, "[role=tabpanel]:not([hidden]) tbody tr"
    )
    outcomes = {
        r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[
            1
        ].text
        for r in rows
    }
    assert outcomes == {
        "test_solution.py::test_ok": "passed",
        "test_solution.py::test_bad": "failed",
    }, outcomes

    tab(browser, "Generate")
    name = visible(browser, "form.params input[name=name]")
    name.send_keys("greet")
    click(browser, "[data-action=generate]")
    text_in(browser, "[data-result=generate]", "def greet(")
    check_page(browser, "tools-generate")


def test_graph_query_and_neighbourhood_drawing_expand_by_click_and_keyboard(
    browser, server
):
    token = sign_in(browser, server, *ADMIN)
    for key, bio in [
        ("ada", "mathematician"),
        ("charles", "engineer"),
        ("alan", HOSTILE_TEXT),
    ]:
        r = api(
            server,
            "POST",
            "/api/v1/graph/nodes",
            token,
            {"label": "Person", "key": key, "properties": {"bio": bio}},
        )
        assert r.status == 200, r
    r = api(
        server,
        "POST",
        "/api/v1/graph/nodes",
        token,
        {"label": "Machine", "key": "engine"},
    )
    assert r.status == 200, r
    for a, b in [("ada", "charles"), ("alan", "ada")]:
        r = api(
            server,
            "POST",
            "/api/v1/graph/relationships",
            token,
            {
                "from": {"label": "Person", "key": a},
                "type": "KNOWS",
                "to": {"label": "Person", "key": b},
            },
        )
        assert r.status == 200, r
    r = api(
        server,
        "POST",
        "/api/v1/graph/relationships",
        token,
        {
            "from": {"label": "Person", "key": "charles"},
            "type": "BUILT",
            "to": {"label": "Machine", "key": "engine"},
        },
    )
    assert r.status == 200, r

    go(browser, "graph")
    cypher = visible(browser, "textarea.code")
    cypher.clear()
    cypher.send_keys("MATCH (n:Person) RETURN n")
    click(browser, "[data-action=query]")
    text_in(browser, "[data-result=query]", "3 row(s)")
    table = browser.find_element(By.CSS_SELECTOR, "[data-result=query] + table").text
    assert "Person:ada" in table and "<img src=x onerror=" in table

    label, key = browser.find_elements(
        By.CSS_SELECTOR, "form[aria-label='Draw a neighbourhood'] input"
    )
    label.send_keys("Person")
    key.send_keys("ada", Keys.ENTER)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg .node")) == 3)
    keys = {
        g.get_attribute("data-key")
        for g in browser.find_elements(By.CSS_SELECTOR, "svg .node")
    }
    assert keys == {"ada", "charles", "alan"}
    # Click charles: his machine joins the drawing.
    browser.find_element(By.CSS_SELECTOR, "svg .node[data-key=charles]").click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg .node")) == 4)
    assert browser.find_elements(By.CSS_SELECTOR, "svg .node[data-key=engine]")
    text_in(browser, ".node-details", "charles")
    # Keyboard: focus alan and press Enter: his properties show, as text.
    alan = browser.find_element(By.CSS_SELECTOR, "svg .node[data-key=alan]")
    browser.execute_script("arguments[0].focus()", alan)
    alan.send_keys(Keys.ENTER)
    text_in(browser, ".node-details", HOSTILE[1])
    # The drawing may still be settling (re-rendered): read the labels until they hold.
    wait(
        browser,
        lambda d: (
            {e.text for e in d.find_elements(By.CSS_SELECTOR, "svg .edge-label")}
            >= {"KNOWS", "BUILT"}
        ),
    )
    check_page(browser, "graph")


def test_the_runs_audit_event_is_found_and_the_chain_verified(browser, server):
    token = sign_in(browser, server, *ADMIN)
    r = api(
        server,
        "POST",
        "/api/v1/execute",
        token,
        {"language": "python", "code": "print(1)"},
    )
    assert r.status == 200, r
    request_id = r.headers["X-Request-Id"]
    go(browser, "audit")
    visible(browser, "input[name=event_type]").send_keys("code_execution")
    box = browser.find_element(By.CSS_SELECTOR, "input[name=request_id]")
    box.send_keys(request_id)
    click(browser, "[data-action=filter]")
    wait(
        browser,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-event-type]")) == 1,
    )
    wait(
        browser,
        lambda d: (
            "admin" in d.find_element(By.CSS_SELECTOR, "tr[data-event-type]").text
        ),
    )
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-event-type]").text
    assert "code_execution" in row and request_id in row, row
    click_when(
        browser, lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-event-type] button")
    )
    text_in(browser, "pre[data-detail=details]", "code_sha256")
    click(browser, "[data-action=verify]")
    text_in(browser, "[data-result=chain]", "Chain verified")
    check_page(browser, "audit")


def shown_seqs(driver):
    return [
        int(tr.get_attribute("data-seq"))
        for tr in driver.find_elements(By.CSS_SELECTOR, "tr[data-seq]")
    ]


def test_audit_pages_follow_seq_without_gap_or_overlap(browser, server):
    token = sign_in(browser, server, *ADMIN)
    # Enough events for two pages of 25 (each call leaves at least its permission check).
    for i in range(30):
        assert api(server, "GET", "/api/v1/graph/stats", token).status == 200
    assert len(api(server, "GET", "/api/v1/audit?limit=60", token).json) > 50
    go(browser, "audit")
    Select(visible(browser, "select[name=limit]")).select_by_value("25")
    click(browser, "[data-action=filter]")
    wait(browser, lambda d: len(shown_seqs(d)) == 25)
    first = shown_seqs(browser)
    assert first == sorted(first, reverse=True), first
    click(browser, "[data-action=older]")
    wait(browser, lambda d: shown_seqs(d) and shown_seqs(d)[0] < first[-1])
    second = shown_seqs(browser)
    # No filter: the second page starts right below the first one's oldest event.
    assert second[0] == first[-1] - 1 and len(second) == 25, (first, second)
    assert second == list(range(second[0], second[0] - 25, -1)), second
    # Newer comes back to the same page, though the audit queries above logged events.
    click(browser, "[data-action=newer]")
    wait(browser, lambda d: shown_seqs(d) == first)
    assert_clean(browser)


def audit_database(server):
    """The SQLite file holding the server's audit log."""
    for path in sorted(Path(server.data_dir).rglob("*")):
        if not path.is_file() or path.suffix in (".log", ".jsonl", ".lock"):
            continue
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as c:
                c.execute("SELECT 1 FROM audit_events LIMIT 1")
            return path
        except sqlite3.DatabaseError:
            continue
    raise AssertionError(f"no audit database in {server.data_dir}")


def test_a_tampered_event_is_shown_as_the_first_broken_link(browser, server):
    sign_in(browser, server, *ADMIN)
    conn = sqlite3.connect(audit_database(server), timeout=10)
    try:
        (seq,) = conn.execute(
            "SELECT seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 2"
        ).fetchone()
        # Flip one stored outcome behind the server's back; flipped again below.
        conn.execute(
            "UPDATE audit_events SET success = 1 - success WHERE seq = ?", (seq,)
        )
        conn.commit()
        go(browser, "audit")
        click(browser, "[data-action=verify]")
        broken = text_in(browser, "[data-result=chain]", f"Chain broken at seq {seq}")
        assert "the event was altered" in broken.text, broken.text
        assert f"last intact link: seq {seq - 1}" in broken.text, broken.text
        click(browser, "[data-action=show-broken]")
        text_in(browser, "#audit-detail-title", f"seq {seq}")
        axe(browser, "audit-broken")
        assert_clean(browser)
        # The cards under the table: the offending event and the verification result.
        cards = browser.find_element(By.CSS_SELECTOR, "#page .two")
        browser.execute_script("arguments[0].scrollIntoView()", cards)
        cards.screenshot(str(SHOTS / "console-audit-broken.png"))
    finally:
        conn.execute(
            "UPDATE audit_events SET success = 1 - success WHERE seq = ?", (seq,)
        )
        conn.commit()
        conn.close()
    click(browser, "[data-action=verify]")
    text_in(browser, "[data-result=chain]", "Chain verified")


def test_live_tail_shows_new_events(browser, server):
    token = sign_in(browser, server, *ADMIN)
    go(browser, "audit")
    visible(browser, "tr[data-event-type]")
    browser.find_element(By.CSS_SELECTOR, "label.inline input[type=checkbox]").click()
    time.sleep(0.5)
    r = api(
        server, "POST", "/api/v1/graph/nodes", token, {"label": "Tail", "key": "t1"}
    )
    assert r.status == 200, r
    wait(
        browser,
        lambda d: d.find_elements(
            By.CSS_SELECTOR, "tr.fresh[data-event-type=graph_upsert]"
        ),
    )
    assert_clean(browser)


def test_admin_creates_a_user_who_sees_no_admin_page_and_gets_the_servers_403(
    browser, server
):
    sign_in(browser, server, *ADMIN)
    go(browser, "users")
    visible(browser, "[data-result=roles]")
    assert "admin" in browser.find_element(By.CSS_SELECTOR, "[data-result=roles]").text
    form = browser.find_element(By.CSS_SELECTOR, "form[aria-labelledby=create-title]")
    inputs = form.find_elements(By.TAG_NAME, "input")
    inputs[0].send_keys("dana")
    inputs[1].send_keys("dana-password-1")
    click(browser, "[data-action=create-user]")
    visible(browser, "[data-username=dana]")
    # Give dana developer; take away any role she got by default (the configured default role).
    dana_row = lambda: browser.find_element(
        By.XPATH, "//span[@data-username='dana']/ancestor::tr"
    )
    wait(
        browser,
        lambda d: (
            Select(dana_row().find_element(By.TAG_NAME, "select")).select_by_value(
                "developer"
            )
            or True
        ),
    )
    click_when(
        browser,
        lambda d: dana_row().find_element(By.XPATH, ".//button[text()='Give role']"),
    )
    roles_cell = lambda: dana_row().find_elements(By.TAG_NAME, "td")[2].text
    wait(browser, lambda d: "developer" in roles_cell())
    if "viewer" in roles_cell():
        click_when(
            browser,
            lambda d: dana_row().find_element(
                By.CSS_SELECTOR, "button[aria-label='Remove role viewer from dana']"
            ),
        )
        wait(browser, lambda d: "viewer" not in roles_cell())
    assert roles_cell().replace("×", "").split() == ["developer"], roles_cell()
    click_when(
        browser,
        lambda d: dana_row().find_element(By.XPATH, ".//button[text()='Permissions']"),
    )
    perms = text_in(browser, "[data-result=permissions]", "tools:execute").text
    assert "system:admin" not in perms and "graph:upsert" not in perms
    check_page(browser, "users")

    # A hostile user name is refused by the server, and the refusal is shown as text.
    inputs = browser.find_element(
        By.CSS_SELECTOR, "form[aria-labelledby=create-title]"
    ).find_elements(By.TAG_NAME, "input")
    inputs[0].send_keys(HOSTILE[0])
    inputs[1].send_keys("whatever-password")
    click(browser, "[data-action=create-user]")
    text_in(browser, ".error", "username may contain only")

    # dana: no admin pages offered; the users page opened by address shows the server's 403.
    sign_in(browser, server, "dana", "dana-password-1")
    pages = [
        a.get_attribute("data-page")
        for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")
    ]
    assert "audit" not in pages and "users" not in pages, pages
    assert "tools" in pages and "graph" in pages
    go(browser, "tools")
    tabs = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "[role=tab]")]
    assert tabs == ["Run", "Lint", "Test", "Generate"], tabs
    open_console(browser, server, "users")
    refusal = text_in(browser, "#page .error", "Permission denied: system:admin").text
    assert "HTTP 403 · permission_denied" in refusal, refusal
    assert_clean(browser)


def server_offers(server, method, path):
    paths = server.request("GET", "/api-docs/openapi.json").json["paths"]
    return method in paths.get(path, {})


def can_sign_in(server, username, password):
    r = server.request(
        "POST", "/auth/token", {"username": username, "password": password}
    )
    return r.status == 200


def test_admin_resets_a_password_and_deletes_a_user_through_dialogs(browser, server):
    # The console offers both actions because the server's document lists them.
    assert server_offers(server, "delete", "/api/v1/users/{username}")
    assert server_offers(server, "post", "/api/v1/users/{username}/password")
    token = sign_in(browser, server, *ADMIN)
    for name in ["erin", "gus"]:
        add_user(server, token, name, "viewer")
    go(browser, "users")
    visible(browser, "[data-username=erin]")

    # Reset erin's password: the dialog has the focus; the new password works, the old not.
    click(browser, "button[aria-label='Reset the password of erin']")
    dialog = visible(browser, "dialog[open]")
    assert browser.switch_to.active_element.get_attribute("name") == "new-password"
    axe(browser, "users-dialog")
    shot(browser, "users-reset-password")
    browser.switch_to.active_element.send_keys("erin-password-2", Keys.ENTER)
    wait(browser, EC.staleness_of(dialog))
    text_in(browser, "#page .ok", "password of erin reset")
    assert can_sign_in(server, "erin", "erin-password-2")
    assert not can_sign_in(server, "erin", "erin-password-1")

    # Delete: Escape cancels (erin stays), confirming deletes; she can no longer sign in.
    click(browser, "button[aria-label='Delete erin']")
    dialog = visible(browser, "dialog[open]")
    assert "Delete erin?" in dialog.text
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(browser, EC.staleness_of(dialog))
    assert browser.find_elements(By.CSS_SELECTOR, "[data-username=erin]")
    click(browser, "button[aria-label='Delete erin']")
    click(browser, "dialog[open] [data-action=dialog-confirm]")
    text_in(browser, "#page .ok", "erin deleted")
    wait(
        browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-username=erin]")
    )
    assert not can_sign_in(server, "erin", "erin-password-2")

    # The server refuses to delete the signed-in administrator: its message shows in the dialog.
    click(browser, "button[aria-label='Delete admin']")
    click(browser, "dialog[open] [data-action=dialog-confirm]")
    refusal = text_in(browser, "dialog[open] .error", "HTTP 409").text
    assert "conflict" in refusal, refusal
    click(browser, "dialog[open] [data-action=dialog-cancel]")
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"))
    assert_clean(browser)


def test_a_user_changes_their_own_password(browser, server):
    assert server_offers(server, "post", "/api/v1/me/password")
    admin = api(
        server,
        "POST",
        "/auth/token",
        None,
        {"username": ADMIN[0], "password": ADMIN[1]},
    )
    add_user(server, admin.json["access_token"], "finn", "viewer")
    old = sign_in(browser, server, "finn", "finn-password-1")
    click(browser, "#change-password")
    visible(browser, "dialog[open]")
    fields = browser.find_elements(By.CSS_SELECTOR, "dialog[open] input")
    assert [f.get_attribute("name") for f in fields] == [
        "current-password",
        "new-password",
        "repeat-password",
    ]
    # A wrong current password: the server's 403 shows in the dialog; nothing changes.
    fields[0].send_keys("not-my-password")
    fields[1].send_keys("finn-password-2")
    fields[2].send_keys("finn-password-2", Keys.ENTER)
    refusal = text_in(browser, "dialog[open] .error", "HTTP 403").text
    assert "wrong_password" in refusal, refusal
    assert token_of(browser) == old
    fields[0].clear()
    fields[0].send_keys("finn-password-1", Keys.ENTER)
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"))
    new = token_of(browser)
    assert new and new != old
    assert api(server, "GET", "/api/v1/me", new).status == 200
    assert api(server, "GET", "/api/v1/me", old).status == 401
    assert can_sign_in(server, "finn", "finn-password-2")
    assert not can_sign_in(server, "finn", "finn-password-1")
    # The console still works with the new token.
    go(browser, "status")
    text_in(browser, "[data-result=ready]", "ready")
    assert_clean(browser)


def test_every_signed_in_user_sees_the_build_version_and_the_api_reference_link(
    browser, server
):
    admin = api(
        server, "POST", "/auth/token", None, {"username": ADMIN[0], "password": ADMIN[1]}
    )
    add_user(server, admin.json["access_token"], "vera", "viewer")
    version = server.cli("--version").stdout.split()[-1]
    # Not to anonymous callers: /api/v1/me needs a token.
    assert api(server, "GET", "/api/v1/me").status == 401
    sign_in(browser, server, "vera", "vera-password-1")
    # A viewer has no status page (the admin-only build details), yet sees the version.
    assert not browser.find_elements(By.CSS_SELECTOR, "#nav a[data-page='users']")
    text_in(browser, "[data-result=server-version]", f"mcp-server {version}")
    link = visible(browser, "footer a#api-reference")
    assert link.get_attribute("href") == server.url + "/api-docs/"
    check_page(browser, "footer-viewer")
    # Role-aware: a viewer (tools:read, tools:lint, graph:query) gets the Lint tab only and
    # the graph page without its write forms.
    go(browser, "tools")
    visible(browser, ".CodeMirror")
    tabs = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "[role=tab]")]
    assert tabs == ["Lint"], tabs
    go(browser, "graph")
    visible(browser, "textarea.code")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-action=upsert-node]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-action=delete-node]")
    link = visible(browser, "footer a#api-reference")
    link.click()
    wait(browser, lambda d: d.current_url == server.url + "/api-docs/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".info .title"))
    assert "mcp-server" in browser.find_element(By.CSS_SELECTOR, ".info .title").text


def test_status_page_shows_readiness_layers_metrics_and_version(browser, server):
    token = sign_in(browser, server, *ADMIN)
    r = api(
        server, "POST", "/api/v1/execute", token, {"language": "bash", "code": "echo"}
    )
    assert r.status == 200, r
    go(browser, "status")
    text_in(browser, "[data-result=ready]", "ready")
    text_in(browser, "[data-result=version]", "Server version")
    expected = [
        "Isolation layers",
        "bubblewrap",
        "Storage backends",
        "sqlite",
        "Audit queue depth",
        "Latency p95",
    ]
    # The page fills its cards as its requests answer (the metrics last) and renders them
    # anew every 5 s: wait for every part, and read the metrics in one snapshot.
    try:
        wait(
            browser,
            lambda d: all(e in d.find_element(By.ID, "page").text for e in expected),
            timeout=60,
        )
    except TimeoutException:
        tables = browser.find_element(By.ID, "page").text
        raise AssertionError(
            f"missing {[e for e in expected if e not in tables]}: {tables}"
        ) from None

    def metrics(d):
        return d.execute_script(
            """const out = {};
            for (const row of document.querySelectorAll('#page tbody tr')) {
              const cells = row.querySelectorAll('td');
              if (cells.length >= 2) out[cells[0].textContent.trim()] = cells[1].textContent.trim();
            }
            return out;"""
        )

    # The numbers are the server's, after the run above; the rate needs a second refresh.
    snapshot = wait(
        browser,
        lambda d: (m := metrics(d)).get("Request rate", "").endswith("/s") and m,
        timeout=60,
    )
    assert int(snapshot["Requests served"]) >= 3, snapshot
    assert int(snapshot["Sandbox runs"]) >= 1, snapshot
    assert int(snapshot["Code executions"]) >= 1, snapshot
    assert snapshot["Latency p50"].startswith("≤ "), snapshot
    check_page(browser, "status")


def oauth_metadata(server):
    r = server.request("GET", "/.well-known/oauth-authorization-server")
    return r.json if r.status == 200 else None


def test_sign_in_through_the_servers_oauth_with_pkce_and_sign_out_revokes_it(
    browser, server
):
    meta = oauth_metadata(server)
    if meta is None:
        pytest.skip("this server runs no authorization server (password sign-in only)")
    assert signed_out_page(browser, server), "the console must offer the OAuth sign-in"
    # Cancelled on the server's page: back in the console, which says so.
    to_authorization_server(browser)
    assert browser.current_url.startswith(meta["issuer"] + "/oauth/")
    pending = browser.execute_script(
        "return sessionStorage.getItem('mcp-console-pkce')"
    )
    assert pending and "verifier" in pending
    click(browser, "button[value=cancel]")
    text_in(browser, "#sign-in-error", "cancelled")
    assert "error=" not in browser.current_url and "state=" not in browser.current_url

    # An answer this tab never asked for is refused, and leaves the address bar.
    browser.get(f"{server.url}/console/?code=forged&state=forged")
    text_in(browser, "#sign-in-error", "not asked for by this tab")
    assert browser.current_url == f"{server.url}/console/"
    assert token_of(browser) is None

    # The whole flow: log-in page, code, PKCE exchange; the code is gone from the address.
    to_authorization_server(browser)
    visible(browser, "#username").send_keys(ADMIN[0])
    browser.find_element(By.ID, "password").send_keys(ADMIN[1], Keys.ENTER)
    visible(browser, "#nav a")
    assert "code=" not in browser.current_url and "state=" not in browser.current_url
    session = json.loads(
        browser.execute_script("return sessionStorage.getItem('mcp-console-session')")
    )
    assert session["refreshToken"] and session["token"]
    assert (
        browser.execute_script("return sessionStorage.getItem('mcp-console-pkce')")
        is None
    )
    assert browser.execute_script("return localStorage.length") == 0
    me = api(server, "GET", "/api/v1/me", session["token"])
    assert me.status == 200 and me.json["username"] == "admin", me
    go(browser, "users")
    visible(browser, "[data-result=roles]")
    assert_clean(browser)

    # Sign-out revokes the grant: the access token and the refresh token stop working.
    click(browser, "#sign-out")
    visible(browser, "#oauth-start")
    wait(
        browser,
        lambda d: api(server, "GET", "/api/v1/me", session["token"]).status == 401,
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            "POST",
            urllib.parse.urlsplit(meta["token_endpoint"]).path,
            body=f"grant_type=refresh_token&refresh_token={session['refreshToken']}&client_id=console",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        res = conn.getresponse()
        answer = json.loads(res.read() or b"{}")
    finally:
        conn.close()
    assert res.status == 400 and answer.get("error") == "invalid_grant", answer
    assert session["token"] not in server.read_log()
    assert session["refreshToken"] not in server.read_log()


def test_sign_out_revokes_the_token(browser, server):
    token = sign_in(browser, server, *ADMIN)
    assert api(server, "GET", "/api/v1/me", token).status == 200
    click(browser, "#sign-out")
    visible(browser, "#sign-in")
    assert token_of(browser) is None
    wait(browser, lambda d: api(server, "GET", "/api/v1/me", token).status == 401)
    assert (
        api(server, "GET", "/api/v1/me", token).json["error"]["code"] == "invalid_token"
    )
    # The token never went into a URL the server saw, nor into its log.
    assert token not in server.read_log()


def test_hostile_strings_render_as_text_everywhere(browser, server):
    # A sign-in with a hostile user name: the audit log stores it as the user and a detail.
    driver = browser
    if signed_out_page(driver, server):
        to_authorization_server(driver)
    visible(driver, "#username").send_keys(HOSTILE_TEXT)
    driver.find_element(By.ID, "password").send_keys("wrong-password", Keys.ENTER)
    assert "invalid" in sign_in_error(driver).lower()
    token = sign_in(driver, server, *ADMIN)
    # Program output.
    go(driver, "tools")
    visible(driver, ".CodeMirror")
    set_code(driver, f"print({HOSTILE_TEXT!r})\n")
    click(driver, "[data-action=execute]")
    out = text_in(driver, "pre[data-stream=stdout]", HOSTILE[0]).text
    assert HOSTILE[1] in out
    # Audit: the failed sign-in's user and details.
    go(driver, "audit")
    visible(driver, "input[name=event_type]").send_keys("auth_failure")
    click(driver, "[data-action=filter]")
    # A failed sign-in has no user id: the table shows the name tried, from the details.
    text_in(driver, "tr[data-event-type=auth_failure]", f"tried: {HOSTILE[0]}")
    click_when(
        driver,
        lambda d: d.find_element(
            By.CSS_SELECTOR, "tr[data-event-type=auth_failure] button"
        ),
    )
    text_in(driver, "pre[data-detail=details]", HOSTILE[0].replace('"', '\\"'))
    # Graph property (stored by the graph test; stored again here so the test stands alone).
    api(
        server,
        "POST",
        "/api/v1/graph/nodes",
        token,
        {"label": "Evil", "key": HOSTILE[3], "properties": {"x": HOSTILE_TEXT}},
    )
    go(driver, "graph")
    cypher = visible(driver, "textarea.code")
    cypher.clear()
    cypher.send_keys("MATCH (n:Evil) RETURN n")
    click(driver, "[data-action=query]")
    text_in(driver, "[data-result=query] + table", HOSTILE[2])
    assert (
        driver.find_elements(
            By.CSS_SELECTOR, "#page img, #page script:not([src]), #page iframe"
        )
        == []
    )
    assert_clean(driver)


def test_every_action_works_with_the_keyboard(browser, server):
    active = lambda: browser.switch_to.active_element
    if signed_out_page(browser, server):
        # The console's button has the focus; Enter leads to the server's log-in page.
        assert active().get_attribute("id") == "oauth-start"
        button = active()
        button.send_keys(Keys.ENTER)
        wait(browser, EC.staleness_of(button))
    visible(browser, "#username")
    assert active().get_attribute("id") == "username"
    active().send_keys(ADMIN[0], Keys.TAB)
    active().send_keys(ADMIN[1], Keys.TAB)
    assert active().text == "Sign in"
    active().send_keys(Keys.ENTER)
    visible(browser, "#nav a")

    def tab_to(predicate, limit=80):
        for _ in range(limit):
            active().send_keys(Keys.TAB)
            if predicate(active()):
                return active()
        raise AssertionError("not reachable with Tab")

    # The nav comes before the page: start again from the top of the document.
    browser.execute_script("document.activeElement.blur(); document.body.focus()")
    link = tab_to(lambda e: e.get_attribute("data-page") == "tools")
    link.send_keys(Keys.ENTER)
    text_in(browser, "#page h1", "Tools")
    # The code editor takes keys and Tab leaves it (no trap), on to the Execute button.
    editor = tab_to(
        lambda e: (
            e.tag_name == "textarea"
            and e.find_elements(
                By.XPATH, "ancestor::div[contains(@class,'CodeMirror')]"
            )
        )
    )
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(Keys.DELETE)
    editor.send_keys('print("typed")')
    run = tab_to(lambda e: e.get_attribute("data-action") == "execute")
    run.send_keys(Keys.ENTER)
    text_in(browser, "pre[data-stream=stdout]", "typed")
    # Tabs switch with the arrow keys.
    tab_el = next(
        t
        for t in browser.find_elements(By.CSS_SELECTOR, "[role=tab]")
        if t.get_attribute("aria-selected") == "true"
    )
    browser.execute_script("arguments[0].focus()", tab_el)
    active().send_keys(Keys.ARROW_RIGHT)
    assert active().text == "Lint" and active().get_attribute("aria-selected") == "true"
    lint = tab_to(lambda e: e.get_attribute("data-action") == "lint", limit=5)
    lint.send_keys(Keys.ENTER)
    text_in(browser, "[data-result=lint]", "tools: ruff")
    # Sign out from the keyboard.
    browser.execute_script("document.activeElement.blur(); document.body.focus()")
    tab_to(lambda e: e.get_attribute("id") == "sign-out").send_keys(Keys.ENTER)
    visible(browser, "#sign-in")
    assert_clean(browser)


# ------------------------------------------------ connected apps (OAuth clients of an account)

APP_REDIRECT = "http://127.0.0.1:53684/callback"


def form_post(server, path, fields):
    """A form POST without following redirects: (status, JSON answer or {})."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=urllib.parse.urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        res = conn.getresponse()
        raw = res.read()
        return res.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


def connect_app(driver, server, client_id, username, password, pages=False):
    """Connects the app `client_id` to the account in the browser, through the server's
    log-in and consent pages ("remember" ticked), then redeems the code as the app would.
    With `pages`, both pages are checked with axe and saved as screenshots. Returns the
    app's tokens."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        .decode()
        .rstrip("=")
    )
    driver.get(
        server.url
        + "/oauth/authorize?"
        + urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": APP_REDIRECT,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": "app-state",
                "scope": "tools:read tools:lint",
            }
        )
    )
    visible(driver, "#username").send_keys(username)
    if pages:
        check_page(driver, "oauth-log-in")
    driver.find_element(By.ID, "password").send_keys(password, Keys.ENTER)
    text_in(driver, "h1", "access?")
    consent = driver.find_element(By.TAG_NAME, "main").text
    # The consent page names the app (its self-chosen name, as text), where it returns you
    # to, and what it may do.
    assert HOSTILE[0] in consent and "not verified" in consent, consent
    assert "127.0.0.1:53684" in consent and "tools:lint" in consent, consent
    if pages:
        check_page(driver, "oauth-consent")
    driver.find_element(By.CSS_SELECTOR, "input[name=remember]").click()
    driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    # The app's redirect URI has no server behind it here: the browser shows an error page
    # with the code in its address, as a real app's listener would receive it.
    wait(driver, lambda d: d.current_url.startswith(APP_REDIRECT))
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)
    assert params["state"] == ["app-state"] and params["iss"] == [server.url], params
    status, tokens = form_post(
        server,
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": APP_REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert status == 200, tokens
    return tokens


def app_is_cut_off(server, client_id, tokens):
    status, answer = form_post(
        server,
        "/oauth/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client_id,
        },
    )
    assert status == 400 and answer["error"] == "invalid_grant", answer
    assert api(server, "GET", "/api/v1/me", tokens["access_token"]).status == 401


def app_row(driver, client_id):
    return driver.find_element(
        By.XPATH, f"//span[@data-client-id='{client_id}']/ancestor::tr"
    )


def disconnect(driver, client_id):
    """Clicks the Disconnect button of the app's row (scrolled into view first)."""

    def attempt(d):
        button = app_row(d, client_id).find_element(By.TAG_NAME, "button")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        return True

    wait(driver, attempt)


def test_connected_apps_are_listed_and_disconnected_by_the_user_and_by_an_admin(
    browser, server
):
    if oauth_metadata(server) is None:
        pytest.skip("this server runs no authorization server: no connected apps")
    admin = api(
        server, "POST", "/auth/token", None, {"username": ADMIN[0], "password": ADMIN[1]}
    ).json["access_token"]
    add_user(server, admin, "hana", "viewer")
    # An MCP client registers itself with a name of its choosing (markup included).
    r = api(
        server,
        "POST",
        "/oauth/register",
        None,
        {
            "client_name": f"Editor {HOSTILE[0]}",
            "redirect_uris": [APP_REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        },
    )
    assert r.status == 201, r
    client_id = r.json["client_id"]

    # hana connects it, then finds it in the console and disconnects it.
    signed_out_page(browser, server)
    tokens = connect_app(browser, server, client_id, "hana", "hana-password-1", True)
    sign_in(browser, server, "hana", "hana-password-1")
    go(browser, "apps")
    row = wait(browser, lambda d: app_row(d, client_id)).text
    assert f"Editor {HOSTILE[0]}" in row and "self-registered" in row, row
    assert "127.0.0.1:53684" in row and "tools:lint" in row and "1 (until" in row, row
    assert "this console" in browser.find_element(By.ID, "page").text
    check_page(browser, "apps")
    disconnect(browser, client_id)
    dialog = visible(browser, "dialog[open]")
    assert "loses access to your account" in dialog.text
    click(browser, "dialog[open] [data-action=dialog-confirm]")
    text_in(browser, "#page .ok", "disconnected")
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, f"[data-client-id='{client_id}']"))
    app_is_cut_off(server, client_id, tokens)
    assert_clean(browser)

    # Connected again; this time an administrator disconnects it from the users page.
    signed_out_page(browser, server)
    tokens = connect_app(browser, server, client_id, "hana", "hana-password-1")
    sign_in(browser, server, *ADMIN)
    go(browser, "users")
    click(browser, "button[aria-label='Connected apps of hana']")
    text_in(browser, "#apps-title", "Connected apps of hana")
    wait(browser, lambda d: app_row(d, client_id))
    disconnect(browser, client_id)
    dialog = visible(browser, "dialog[open]")
    assert "loses access to hana's account" in dialog.text
    click(browser, "dialog[open] [data-action=dialog-confirm]")
    text_in(browser, "#page .ok", "disconnected")
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, f"[data-client-id='{client_id}']"))
    app_is_cut_off(server, client_id, tokens)
    assert_clean(browser)
    # Both disconnections are audited, with who did it.
    events = [
        e["event"]
        for e in api(server, "GET", "/api/v1/audit?limit=500", admin).json
        if e["event"]["action"] == "oauth.consent_revoked"
        and e["event"]["details"]["client_id"] == client_id
    ]
    by = {e["details"]["revoked_by"] for e in events}
    hana_id = api(
        server,
        "GET",
        "/api/v1/me",
        api(
            server,
            "POST",
            "/auth/token",
            None,
            {"username": "hana", "password": "hana-password-1"},
        ).json["access_token"],
    ).json["user_id"]
    admin_id = api(server, "GET", "/api/v1/me", admin).json["user_id"]
    assert by == {hana_id, admin_id}, events


def test_graph_audit_and_users_actions_work_with_the_keyboard(browser, server):
    """Beyond the tools page (test_every_action_works_with_the_keyboard): a graph query and a
    node saved, an audit filter, the chain verification and an event's details, a user created
    and given a role, all with Tab, typing and Enter only."""
    active = lambda: browser.switch_to.active_element
    sign_in(browser, server, *ADMIN)

    def tab_to(predicate, limit=120):
        for _ in range(limit):
            active().send_keys(Keys.TAB)
            if predicate(active()):
                return active()
        raise AssertionError("not reachable with Tab")

    def open_page(page, title):
        browser.execute_script("document.activeElement.blur(); document.body.focus()")
        tab_to(lambda e: e.get_attribute("data-page") == page).send_keys(Keys.ENTER)
        text_in(browser, "#page h1", title)

    action = lambda name: lambda e: e.get_attribute("data-action") == name

    # Graph: save a node through the form, then find it with a query.
    open_page("graph", "Graph")
    save = browser.find_element(By.CSS_SELECTOR, "[data-action=upsert-node]")
    node_form = save.find_element(By.XPATH, "ancestor::form")
    first = node_form.find_elements(By.CSS_SELECTOR, "input, textarea")[0]
    tab_to(lambda e: e == first).send_keys("Keyed")
    active().send_keys(Keys.TAB, "k1", Keys.TAB, '{"by": "keyboard"}')
    tab_to(action("upsert-node"), limit=5).send_keys(Keys.ENTER)
    text_in(browser, "#page .ok", "Done.")
    query = browser.find_element(By.CSS_SELECTOR, "textarea.code")
    browser.execute_script("arguments[0].focus()", query)
    active().send_keys(Keys.CONTROL, "a")
    active().send_keys("MATCH (n:Keyed) RETURN n")
    tab_to(action("query"), limit=10).send_keys(Keys.ENTER)
    text_in(browser, "[data-result=query] + table", "keyboard")

    # Audit: filter by event type, open an event's details, verify the chain.
    open_page("audit", "Audit")
    tab_to(lambda e: e.get_attribute("name") == "event_type").send_keys(
        "graph_upsert", Keys.ENTER
    )
    wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-event-type]")
        and all(
            r.get_attribute("data-event-type") == "graph_upsert"
            for r in d.find_elements(By.CSS_SELECTOR, "tr[data-event-type]")
        ),
    )
    tab_to(
        lambda e: e.tag_name == "button"
        and e.find_elements(By.XPATH, "ancestor::tr[@data-event-type]")
    ).send_keys(Keys.ENTER)
    text_in(browser, "pre[data-detail=details]", "Keyed")
    tab_to(action("verify")).send_keys(Keys.ENTER)
    text_in(browser, "[data-result=chain]", "Chain verified")

    # Users: create one with the form, give a role from the row's list.
    open_page("users", "Users and roles")
    visible(browser, "[data-result=roles]")
    form = browser.find_element(By.CSS_SELECTOR, "form[aria-labelledby=create-title]")
    name_box = form.find_elements(By.TAG_NAME, "input")[0]
    tab_to(lambda e: e == name_box).send_keys("kim", Keys.TAB, "kim-password-1", Keys.ENTER)
    visible(browser, "[data-username=kim]")
    role_list = tab_to(
        lambda e: e.get_attribute("aria-label") == "Role to give kim", limit=200
    )
    role_list.send_keys("developer")
    assert Select(role_list).first_selected_option.get_attribute("value") == "developer"
    tab_to(
        lambda e: e.get_attribute("aria-label") == "Give the chosen role to kim", limit=3
    ).send_keys(Keys.ENTER)
    text_in(browser, "#page .ok", "developer given to kim")
    assert_clean(browser)


# ------------------------------------------------ the rest of each page's actions


def test_audit_filters_by_user_outcome_and_time_range(browser, server):
    admin = sign_in(browser, server, *ADMIN)
    add_user(server, admin, "uma", "viewer")
    assert not can_sign_in(server, "uma", "not-her-password")
    assert can_sign_in(server, "uma", "uma-password-1")
    go(browser, "audit")
    visible(browser, "input[name=user]").send_keys("uma")
    outcome = Select(browser.find_element(By.CSS_SELECTOR, "select[name=success]"))

    def shown(d):
        rows = d.find_elements(By.CSS_SELECTOR, "tr[data-event-type]")
        return [r.text for r in rows]

    for choice, word, other in [("false", "failure", "success"), ("true", "success", "failure")]:
        outcome.select_by_value(choice)
        click(browser, "[data-action=filter]")
        rows = wait(
            browser,
            lambda d: (rows := shown(d))
            and all(word in r and other not in r for r in rows)
            and rows,
        )
        assert all("uma" in r for r in rows), rows
        assert any("auth_failure" in r for r in rows) == (word == "failure"), rows

    # A time range after now shows nothing; one that covers now shows uma's events again.
    def set_range(since, until):
        browser.execute_script(
            "const f = document.querySelector('form.filters');"
            "f.querySelector('[name=since]').value = arguments[0];"
            "f.querySelector('[name=until]').value = arguments[1];",
            since,
            until,
        )
        click(browser, "[data-action=filter]")

    set_range("2999-01-01T00:00:00", "")
    text_in(browser, "td.empty", "No rows.")
    set_range("2000-01-01T00:00:00", "2999-01-01T00:00:00")
    wait(browser, lambda d: shown(d) and all("uma" in r for r in shown(d)))
    set_range("2000-01-01T00:00:00", "2000-01-02T00:00:00")
    text_in(browser, "td.empty", "No rows.")
    assert_clean(browser)


def test_admin_disables_and_enables_a_user_and_takes_a_role(browser, server):
    admin = sign_in(browser, server, *ADMIN)
    add_user(server, admin, "otto", "developer")
    go(browser, "users")
    visible(browser, "[data-username=otto]")
    otto = lambda: browser.find_element(
        By.XPATH, "//span[@data-username='otto']/ancestor::tr"
    )
    cell = lambda i: otto().find_elements(By.TAG_NAME, "td")[i].text

    click(browser, "button[aria-label='Disable otto']")
    text_in(browser, "#page .ok", "otto disabled")
    wait(browser, lambda d: cell(1) == "disabled")
    assert not can_sign_in(server, "otto", "otto-password-1")
    click(browser, "button[aria-label='Enable otto']")
    text_in(browser, "#page .ok", "otto enabled")
    wait(browser, lambda d: cell(1) == "active")
    assert can_sign_in(server, "otto", "otto-password-1")

    assert "developer" in cell(2)
    click(browser, "button[aria-label='Remove role developer from otto']")
    text_in(browser, "#page .ok", "developer removed from otto")
    wait(browser, lambda d: "developer" not in cell(2))
    [stored] = [
        u for u in api(server, "GET", "/api/v1/users", admin).json if u["username"] == "otto"
    ]
    assert "developer" not in stored["roles"], stored
    # The hierarchy: developer inherits viewer's permissions, and says so.
    developer = browser.find_element(By.CSS_SELECTOR, "[data-result=roles] li[data-role=developer]")
    assert "inherited" in developer.text and "viewer" in developer.text, developer.text
    assert_clean(browser)


def test_files_limits_and_each_language_in_the_tools_page(browser, server):
    sign_in(browser, server, *ADMIN)
    go(browser, "tools")
    visible(browser, ".CodeMirror")
    language = Select(
        browser.find_element(By.XPATH, "//label[text()='Language']/following-sibling::select")
    )
    mode = lambda: browser.execute_script(
        "return document.querySelector('.CodeMirror').CodeMirror.getOption('mode')"
    )

    # JavaScript: highlighted as such, and run.
    language.select_by_value("javascript")
    assert mode() == "javascript"
    set_code(browser, 'const x = 6 * 7;\nconsole.log(`js says ${x}`);\n')
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".CodeMirror .cm-keyword"))
    click(browser, "[data-action=execute]")
    text_in(browser, "pre[data-stream=stdout]", "js says 42")

    # Bash with a file given to the run.
    language.select_by_value("bash")
    assert mode() == "shell"
    set_code(browser, "cat notes.txt\n")
    click(browser, "details summary")  # Files
    click(browser, "details[open] button")  # Add file
    fieldset = visible(browser, "fieldset.file")
    name, content = fieldset.find_elements(By.CSS_SELECTOR, "input, textarea")
    name.send_keys("notes.txt")
    content.send_keys("read from a file")
    click(browser, "[data-action=execute]")
    text_in(browser, "pre[data-stream=stdout]", "read from a file")
    click(browser, "fieldset.file button")  # Remove file

    # Python past a wall-time limit set on the page: timed out.
    language.select_by_value("python")
    assert mode() == "python"
    set_code(browser, "while True:\n    pass\n")
    summaries = browser.find_elements(By.CSS_SELECTOR, "details summary")
    limits = next(s for s in summaries if s.text == "Limits")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", limits)
    limits.click()
    wall = browser.find_element(
        By.XPATH, "//label[text()='Wall time (ms)']/following-sibling::input"
    )
    wall.send_keys("1000")
    click(browser, "[data-action=execute]")
    facts = text_in(browser, "[data-result=execute]", "timed out: yes").text
    assert "succeeded" not in facts, facts

    # Past a memory limit set on the page: the note says memory ended it and what to raise.
    set_code(browser, "data = b'x' * (96 << 20)\nprint(len(data))\n")
    wall.clear()
    memory = browser.find_element(
        By.XPATH, "//label[text()='Memory (bytes)']/following-sibling::input"
    )
    memory.send_keys(str(32 << 20))
    click(browser, "[data-action=execute]")
    note = text_in(browser, "p[data-note=run]", "memory:").text
    assert "limits.memory_bytes = 32 MiB" in note, note
    assert_clean(browser)


def test_graph_forms_save_and_delete_relationships_and_nodes(browser, server):
    token = sign_in(browser, server, *ADMIN)
    for key in ["f1", "f2"]:
        r = api(server, "POST", "/api/v1/graph/nodes", token, {"label": "Form", "key": key})
        assert r.status == 200, r
    go(browser, "graph")
    visible(browser, "textarea.code")

    def fill(form_label, values):
        form = browser.find_element(By.CSS_SELECTOR, f"form[aria-label='{form_label}']")
        boxes = form.find_elements(By.CSS_SELECTOR, "input, textarea")
        for box, value in zip(boxes, values):
            box.clear()
            box.send_keys(value)
        button = form.find_element(By.CSS_SELECTOR, "button[type=submit]")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        text_in(browser, "#page .ok", "Done.")
        browser.execute_script(
            "for (const p of document.querySelectorAll('#page .ok')) p.remove()"
        )

    def rows_of(cypher):
        query = browser.find_element(By.CSS_SELECTOR, "textarea.code")
        query.clear()
        query.send_keys(cypher)
        click(browser, "[data-action=query]")
        return text_in(browser, "[data-result=query]", "row(s)").text

    fill(
        "Create or update a relationship",
        ["Form", "f1", "PAIRS", "Form", "f2", '{"since": 2026}'],
    )
    wait(browser, lambda d: "1 row(s)" in rows_of("MATCH ()-[r:PAIRS]->() RETURN r"))
    fill("Delete a relationship", ["Form", "f1", "PAIRS", "Form", "f2"])
    wait(browser, lambda d: "0 row(s)" in rows_of("MATCH ()-[r:PAIRS]->() RETURN r"))
    fill("Delete a node", ["Form", "f1"])
    wait(browser, lambda d: "1 row(s)" in rows_of("MATCH (n:Form) RETURN n"))
    assert_clean(browser)
