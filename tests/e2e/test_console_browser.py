"""The console in a real browser (Debian's chromium driven by Playwright, nothing downloaded) against a real proxy
with real traffic: logging in with a token, the overview's cost equal to the API's, the flows table filtered by
actor and opened with the keyboard, the live tail, approving and denying a held request from the approvals page,
data from agents shown as text, the loopback open mode, and every page free of console errors (screenshots of
each page go to $PALARYN_SCREENSHOTS, or the test's tmp_path)."""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fakesecrets import github_token
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from e2e.harness import Proxy

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
VIEWER, APPROVER = "console-viewer-token-0123456789", "console-approver-token-9876543210"
XSS_ACTOR = '<img src=x onerror="window.pwned=1">'
PACK = """
name: console-pack
version: "1"
default_effect: ALLOW
rules:
  - name: deploys-need-a-person
    effect: REQUIRE_APPROVAL
    priority: 10
    conditions: {methods: [POST], paths: ["/deploy*"]}
    approval: {scope: admin, ttl_seconds: 60, reason: "deploys are reviewed", hold_seconds: 30}
  - name: no-admin
    effect: DENY
    priority: 20
    conditions: {paths: ["/admin*"]}
  - name: exports-report
    effect: DENY
    priority: 30
    mode: report
    conditions: {paths: ["/export*"]}
"""


def sha(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def console(tmp_path_factory, upstream, shared_certs) -> Iterator[Proxy]:
    from e2e.harness import start_proxy

    workdir = tmp_path_factory.mktemp("console-browser")
    (workdir / "pack.yaml").write_text(PACK)
    extra = {
        "policy_packs": [str(workdir / "pack.yaml")],
        "dlp": {"actions": {"secrets": "block"}},
        "admin": {
            "tokens": [
                {"token": sha(VIEWER), "role": "viewer"},
                {"token": sha(APPROVER), "role": "approver", "name": "browser-test"},
            ]
        },
        "budgets": [{"name": "daily", "scope": "actor", "limit_usd": 10, "period": "day"}],
    }
    proxy = start_proxy(workdir, upstream, shared_certs, extra)
    yield proxy
    proxy.stop()


def agent(proxy: Proxy, actor: str) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(
        proxy=proxy.url, verify=trust, timeout=60, trust_env=False, headers={"X-Palaryn-Actor": actor}
    )


def api(proxy: Proxy, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{proxy.metrics_port}/api/v1/{path}"
    resp = httpx.get(url, params=params, headers={"Authorization": f"Bearer {VIEWER}"}, timeout=20)
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_stored(proxy: Proxy) -> list[dict[str, Any]]:
    """The event store is written in batches off the hot path: wait until it holds every audited flow."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        records = proxy.records()
        if api(proxy, "summary", since="1h")["requests"] >= len(records):
            return records
        time.sleep(0.1)
    raise AssertionError("the event store did not catch up with the audit log")


@pytest.fixture(scope="module")
def traffic(console: Proxy, upstream) -> list[dict[str, Any]]:
    """LLM calls from three actors (one named like markup), a DLP block, a policy deny, a report-mode hit."""
    body = (FIXTURES / "openai_chat.resp.json").read_bytes()
    upstream.app.serve_fixture("/v1/chat/completions", body, "application/json")
    for actor, calls in (("alice-bot", 3), ("bob-bot", 2), (XSS_ACTOR, 1)):
        sdk = openai.OpenAI(api_key="sk-test", max_retries=0, http_client=agent(console, actor))
        for _ in range(calls):
            sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with agent(console, "bob-bot") as c:
        assert c.post("https://upstream.test/echo", content=f"key={github_token()}").status_code == 403
        assert c.get("https://upstream.test/admin/users").status_code == 403
        assert c.get("https://upstream.test/export/all").status_code in (200, 404)
        assert c.get("https://upstream.test/echo").status_code == 200
    console.wait_records(10)
    return wait_stored(console)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Console:
    """One browser tab on the console, recording every console error and uncaught exception."""

    def __init__(self, page: Page, base: str, shots: Path):
        self.page, self.base, self.shots = page, base, shots
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("dialog", lambda d: (self.errors.append(f"dialog opened: {d.message}"), d.dismiss()))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        # The login screen's session check and a wrong token answer 401 by contract; the browser logs both.
        if msg.location.get("url", "").endswith("/api/v1/session") and "401" in msg.text:
            return
        self.errors.append(f"console error: {msg.text} at {msg.location.get('url')}")

    def open(self, route: str = "") -> None:
        self.page.goto(self.base + route)

    def go(self, route: str) -> None:
        self.page.evaluate("route => { location.hash = route; }", route)

    def login(self, token: str) -> None:
        self.open()
        self.page.get_by_label("Admin token").fill(token)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.locator("nav")).to_be_visible()

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ["PALARYN_SCREENSHOTS"]) if os.environ.get("PALARYN_SCREENSHOTS") else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {where}")
    return where


@contextmanager
def open_tab(browser: Browser, proxy: Proxy, shots: Path) -> Iterator[Console]:
    """A fresh browser context (no cookies) at a laptop's screen size."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        yield Console(context.new_page(), f"http://127.0.0.1:{proxy.metrics_port}/", shots)
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser, console: Proxy, shots: Path) -> Iterator[Console]:
    with open_tab(browser, console, shots) as t:
        yield t


def usd(text: str) -> Decimal:
    return Decimal(text.strip().lstrip("$").replace(",", ""))


def test_login_with_a_token_and_the_overview_cost_equals_the_api(tab, console, traffic):
    tab.open()
    expect(tab.page.get_by_label("Admin token")).to_be_focused()
    tab.page.get_by_label("Admin token").fill("not-a-token")
    tab.page.keyboard.press("Enter")
    expect(tab.page.locator("#login-error")).to_contain_text("admin.tokens")
    tab.shot("login")
    tab.page.get_by_label("Admin token").fill(APPROVER)
    tab.page.keyboard.press("Enter")
    cost = tab.page.locator('[data-kpi="cost-7d"]')
    expect(cost).to_be_visible()
    summary = api(console, "summary", since="7d")
    audited = sum(Decimal(r["cost_usd"]) for r in traffic if r["cost_usd"])
    assert usd(cost.inner_text()) == Decimal(str(summary["cost_usd"])) == audited > 0
    requests = tab.page.locator('[data-kpi="requests-7d"]').inner_text()
    assert int(requests.replace(",", "")) == summary["requests"] == len(traffic)
    blocked = tab.page.locator('[data-kpi="blocked-7d"]').inner_text()
    assert (
        int(blocked) == sum(summary["blocked"].values()) == sum(r["decision"] == "deny" for r in traffic) == 2
    )
    expect(tab.page.get_by_role("link", name="alice-bot")).to_be_visible()  # top actors
    expect(tab.page.get_by_text("approver", exact=True)).to_be_visible()
    tab.assert_clean()


def test_flows_table_filters_by_actor_and_opens_a_flow_with_the_keyboard(tab, console, traffic):
    tab.login(VIEWER)
    tab.go("#/flows")
    rows = tab.page.locator("table.flows tbody tr")
    expect(rows.first).to_be_visible()
    tab.page.get_by_label("Actor").fill("alice-bot")
    tab.page.get_by_label("Actor").press("Enter")
    alice = [r for r in traffic if r["actor"] == "alice-bot"]
    expect(rows).to_have_count(len(alice))
    assert re.search(r"actor=alice-bot", tab.page.url)
    assert rows.locator("td.actor").all_inner_texts() == ["alice-bot"] * len(alice)
    assert {rows.nth(i).get_attribute("data-request-id") for i in range(len(alice))} == {
        r["request_id"] for r in alice
    }
    rows.first.focus()
    tab.page.keyboard.press("Enter")
    expect(tab.page.get_by_role("heading", name="Usage and cost")).to_be_visible()
    opened = next(r for r in alice if r["request_id"] in tab.page.url)
    facts = tab.page.locator("dl.facts")
    expect(facts.get_by_text(opened["model"], exact=True)).to_be_visible()
    cost = facts.locator("dt", has_text=re.compile("^Cost$")).locator("xpath=following-sibling::dd[1]")
    assert usd(cost.inner_text()) == Decimal(opened["cost_usd"])
    tab.assert_clean()


def test_flow_detail_shows_every_reason_and_dlp_finding_without_the_secret(tab, console, traffic):
    blocked = next(r for r in traffic if r["dlp"])
    tab.login(VIEWER)
    tab.go(f"#/flows/{blocked['request_id']}")
    expect(tab.page.get_by_role("heading", name="DLP findings")).to_be_visible()
    reasons = tab.page.locator("table.reasons tbody tr")
    expect(reasons).to_have_count(len(blocked["reasons"]))
    for reason in blocked["reasons"]:
        expect(reasons.get_by_text(reason["message"], exact=True).first).to_be_visible()
    findings = tab.page.locator("table.dlp tbody tr")
    expect(findings).to_have_count(len(blocked["dlp"]))
    for finding in blocked["dlp"]:
        expect(findings.get_by_text(finding["location"], exact=True).first).to_be_visible()
        expect(findings.get_by_text(finding["type"], exact=True).first).to_be_visible()
    assert github_token() not in tab.page.content()
    tab.shot("flow-detail-dlp")
    tab.assert_clean()


def test_data_from_agents_is_shown_as_text(tab, console, traffic):
    tab.login(VIEWER)
    tab.go("#/flows")
    expect(tab.page.locator("td.actor", has_text=XSS_ACTOR)).to_have_count(1)
    assert tab.page.locator("main img").count() == 0
    tab.go("#/overview")
    expect(tab.page.get_by_role("link", name=XSS_ACTOR)).to_be_visible()
    assert tab.page.evaluate("window.pwned === undefined")
    tab.assert_clean()


def test_live_tail_shows_new_flows_as_they_finish(tab, console, traffic):
    tab.login(VIEWER)
    tab.go("#/flows?actor=live-bot")
    expect(tab.page.get_by_text("No flows match these filters.")).to_be_visible()
    tab.page.get_by_role("button", name="Live tail").click()
    expect(tab.page.get_by_text("● live")).to_be_visible()
    with agent(console, "live-bot") as c, agent(console, "someone-else") as other:
        assert other.get("https://upstream.test/echo").status_code == 200  # filtered out by actor
        resp = c.get("https://upstream.test/echo")
    row = tab.page.locator(f'tr[data-request-id="{resp.headers["x-palaryn-request-id"]}"]')
    expect(row).to_be_visible(timeout=5000)
    expect(tab.page.locator("table.flows tbody tr")).to_have_count(1)
    expect(row.locator("td.actor")).to_have_text("live-bot")
    tab.assert_clean()


def hold(proxy: Proxy, path: str, results: dict[str, Any]) -> threading.Thread:
    """A client whose POST is held for approval; its answer (and when it came) lands in `results`."""

    def run() -> None:
        with agent(proxy, "deployer") as c:
            results["response"] = c.post(f"https://upstream.test{path}", json={"release": path})
            results["answered"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def pending_row(tab: Console, path: str):
    row = tab.page.locator("table.approvals tbody tr", has=tab.page.locator("td.path", has_text=path))
    expect(row).to_be_visible(timeout=10000)  # the page polls every 2 s
    return row


def test_approving_from_the_approvals_page_releases_the_held_client(tab, console, traffic):
    tab.login(APPROVER)
    tab.go("#/approvals")
    expect(tab.page.get_by_text("No requests are waiting for approval.")).to_be_visible()
    results: dict[str, Any] = {}
    thread = hold(console, "/deploy-prod", results)
    row = pending_row(tab, "/deploy-prod")
    cells = row.locator("td").all_inner_texts()
    assert {
        "deployer",
        "POST",
        "upstream.test",
        "/deploy-prod",
        "console-pack / deploys-need-a-person",
    } <= set(cells)
    assert "response" not in results  # still held
    tab.shot("approvals-pending")
    row.get_by_role("button", name="Approve").click()
    clicked = time.monotonic()
    expect(tab.page.get_by_role("status")).to_contain_text("Approved POST upstream.test/deploy-prod")
    thread.join(15)
    assert not thread.is_alive(), "the held client got no answer after the approval"
    assert results["response"].status_code == 404  # reached the upstream (which has no /deploy route)
    assert results["answered"] - clicked < 3
    expect(row).to_have_count(0)
    expect(tab.page.locator("table.decided")).to_contain_text("browser-test")
    tab.assert_clean()


def test_denying_from_the_approvals_page_refuses_the_held_client_with_the_reason(tab, console, traffic):
    tab.login(APPROVER)
    tab.go("#/approvals")
    results: dict[str, Any] = {}
    thread = hold(console, "/deploy-staging", results)
    row = pending_row(tab, "/deploy-staging")
    row.get_by_role("textbox").fill("not during the freeze")
    row.get_by_role("button", name="Deny").click()
    expect(tab.page.get_by_role("status")).to_contain_text("Denied POST upstream.test/deploy-staging")
    thread.join(15)
    assert not thread.is_alive(), "the held client got no answer after the denial"
    denied = results["response"]
    assert denied.status_code == 403 and denied.headers["x-palaryn-decision"] == "deny"
    assert "not during the freeze" in denied.json()["error"]["message"]
    tab.assert_clean()


def test_a_viewer_sees_held_requests_but_cannot_decide(tab, console, traffic):
    tab.login(VIEWER)
    tab.go("#/approvals")
    results: dict[str, Any] = {}
    thread = hold(console, "/deploy-viewer", results)
    row = pending_row(tab, "/deploy-viewer")
    expect(row.get_by_role("button", name="Approve")).to_be_disabled()
    expect(row.get_by_role("button", name="Deny")).to_be_disabled()
    expect(tab.page.get_by_text("deciding them needs an approver token")).to_be_visible()
    approval = next(a for a in api(console, "approvals")["approvals"] if a["url"].endswith("/deploy-viewer"))
    decided = httpx.post(
        f"http://127.0.0.1:{console.metrics_port}/api/v1/approvals/{approval['id']}/approve",
        headers={"Authorization": f"Bearer {APPROVER}"},
        timeout=20,
    )
    assert decided.status_code == 200, decided.text
    thread.join(15)
    assert not thread.is_alive(), "the held client got no answer after the approval"
    assert results["response"].status_code == 404
    expect(row).to_have_count(0, timeout=5000)
    tab.assert_clean()


PAGES = [
    ("overview", '[data-kpi="cost-today"]'),
    ("flows", "table.flows tbody tr"),
    ("budgets", "table.budgets tbody tr"),
    ("approvals", "table.decided, .empty:visible"),
    ("security", '[data-kpi="dlp"]'),
    ("policy", "table.rules tbody tr"),
]


def test_every_page_renders_without_console_errors(tab, console, traffic, shots):
    tab.login(VIEWER)
    for name, ready in PAGES:
        tab.go(f"#/{name}")
        expect(tab.page.locator("main h1")).to_have_text(name.capitalize())
        expect(tab.page.locator(ready).first).to_be_visible()
        expect(tab.page.locator("main .error:visible")).to_have_count(0)
        tab.shot(name)
    llm = next(r for r in traffic if r["kind"] == "llm")
    tab.go(f"#/flows/{llm['request_id']}")
    expect(tab.page.get_by_role("heading", name="Usage and cost")).to_be_visible()
    tab.shot("flow-detail")
    tab.assert_clean()
    assert len(list(shots.glob("*.png"))) >= len(PAGES) + 1


def test_pages_show_what_the_api_says(tab, console, traffic):
    tab.login(VIEWER)
    tab.go("#/budgets")
    budgets = {b["scope_value"]: b for b in api(console, "budgets")}
    row = tab.page.locator('tr[data-budget="daily"]', has_text="alice-bot")
    expect(row).to_be_visible()
    assert usd(row.locator("td").nth(3).inner_text()) == Decimal(str(budgets["alice-bot"]["spent_usd"]))
    tab.go("#/security?since=24h")
    security = api(console, "security", since="24h")
    expect(tab.page.locator('[data-kpi="dlp"]')).to_have_text(str(sum(d["count"] for d in security["dlp"])))
    tab.go("#/policy?since=24h")
    hits = {h["rule"]: h for h in api(console, "policy", since="24h")["hits"]}
    rules = tab.page.locator("table.rules tbody tr")
    report = rules.filter(has_text="exports-report").locator("td")
    expect(report.nth(4)).to_have_text(str(hits["exports-report"]["report_only"]))
    expect(rules.filter(has_text="no-admin").locator("td").nth(3)).to_have_text(str(hits["no-admin"]["hits"]))
    assert hits["exports-report"]["report_only"] >= 1
    tab.assert_clean()


def test_open_mode_on_loopback_skips_the_login(browser, proxy_factory, shots):
    proxy = proxy_factory({"dlp": {"actions": {"secrets": "block"}}}, name="open-console")
    session = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/api/v1/session", timeout=20).json()
    assert session["open"] is True
    with open_tab(browser, proxy, shots) as tab:
        tab.open()
        expect(tab.page.locator('[data-kpi="cost-7d"]')).to_be_visible()
        expect(tab.page.get_by_label("Admin token")).to_be_hidden()
        expect(tab.page.get_by_role("button", name="Log out")).to_be_hidden()
        tab.assert_clean()
