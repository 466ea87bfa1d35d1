"""The console in a real browser: Debian's Chromium driven by Playwright (its own browser is never
downloaded), against the local stack over HTTP.

Screenshots go to the test's folder; `make screenshots` writes the README's copies to docs/."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.running import RunningStack
from tests.helpers import ROOT, token

ADMIN = token("ops", admin=True)
CHROMIUM = "/usr/bin/chromium"
# Flags for a headless Chromium in a container: no sandbox (root), no GPU, nothing fetched.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def on_call() -> str:
    """A token of an owner of its own: the stack's database is shared by the tests of the session."""
    return token(f"on-call-{uuid.uuid4().hex[:8]}")


def seed_fleet(
    stack: RunningStack, owner: str, count: int = 20, prefix: str = "edge"
) -> dict[str, dict[str, Any]]:
    """`count` proxies of two instances each, both reported healthy (thresholds of 1)."""
    SEEDED.append(owner)
    primaries = {}
    for k in range(count):
        proxy_id = f"{prefix}-{k:02d}"
        config = {"unhealthyThreshold": 1, "healthyThreshold": 1, "failbackHoldDownSeconds": 0}
        code, _, _ = stack.request(
            "POST", "/proxy/failover/config", {"proxyId": proxy_id, "config": config}, owner
        )
        assert code in (200, 201)
        for name, priority in (("a", 0), ("b", 1)):
            body = {"proxyId": proxy_id, "instanceData": {"instanceName": name, "priority": priority}}
            code, answer, _ = stack.request("POST", "/proxy/instances", body, owner)
            assert code == 201, answer
            instance = answer["data"]
            code, _, _ = stack.request(
                "PUT",
                f"/proxy/instances/{instance['id']}/health",
                {"healthStatus": "healthy", "metrics": {"averageLatencyMs": 20 + k}},
                owner,
            )
            assert code == 200
            if name == "a":
                primaries[proxy_id] = instance
    return primaries


@pytest.fixture(autouse=True)
def decommissioned_afterwards(stack: RunningStack) -> Iterator[None]:
    """The session's stacks share a database: what a test seeded goes when it ends (every proxy of its
    owners, decommissioned over HTTP), so no later stack sweeps it."""
    yield
    for owner in SEEDED:
        code, body, _ = stack.request("GET", "/proxies?limit=500", token=owner)
        for proxy in body["data"] if code == 200 else []:
            stack.request("DELETE", f"/proxy/{proxy['proxyId']}?force=true", token=owner)
    SEEDED.clear()


SEEDED: list[str] = []


def report_history(
    stack: RunningStack, owner: str, instance_id: str, results: list[tuple[str, float]]
) -> None:
    """Reports with their latency, for the timeline to show."""
    for status, latency in results:
        body = {"healthStatus": status, "metrics": {"averageLatencyMs": latency}}
        code, _, _ = stack.request("PUT", f"/proxy/instances/{instance_id}/health", body, owner)
        assert code == 200


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    # the page's policy forbids eval: wait through locators (run outside the page's scripts), never
    # with wait_for_function
    return playwright_expect(locator)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is installed by `make test` (see the Makefile)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, browser: Any, width: int, height: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("CONSOLE_SCREENSHOTS") == "docs":
        shutil.copy(path, ROOT / "docs" / name)


def rows(page: Any) -> list[str]:
    return page.eval_on_selector_all("#proxies tbody tr", "rows => rows.map(r => r.dataset.proxy)")


def test_an_operator_signs_in_sees_the_fleet_filters_a_failure_and_maintains_an_instance(
    stack: RunningStack, browser: Any, tmp_path: Path
):
    user = on_call()
    primaries = seed_fleet(stack, user)
    watched = Watched(browser, 1280, 800)
    page = watched.page
    started = time.perf_counter()
    page.goto(f"{stack.url}/console#token={user}")
    page.wait_for_selector("#proxies tbody tr")
    first_render = time.perf_counter() - started
    assert rows(page) == [f"edge-{k:02d}" for k in range(20)]
    # the token left the address bar and stays in the tab's session
    assert "token=" not in page.url
    assert page.evaluate("sessionStorage.getItem('console-token')") == user
    assert page.inner_text("#counts").split()[:1] == ["20"]

    # a failure: edge-07 fails over, and with "degraded first" it leads the table
    code, _, _ = stack.request(
        "PUT", f"/proxy/instances/{primaries['edge-07']['id']}/health", {"healthStatus": "unhealthy"}, user
    )
    assert code == 200
    page.check("#degraded-first")
    expect(page.locator("#proxies tbody tr").first).to_have_attribute("data-proxy", "edge-07", timeout=20_000)
    assert "degraded" in page.inner_text("#proxies tbody tr:first-child")
    expect(page.locator("#counts .count.alert .n").first).to_have_text("1", timeout=20_000)
    screenshot(page, tmp_path, "console-fleet.png")
    page.fill("#search", "edge-1")
    expect(page.locator("#proxies tbody tr")).to_have_count(10)
    page.fill("#search", "")

    # recent checks to look at: a latency that wanders, and two failures the operator should see
    wave = [("healthy", 18 + 9 * ((k * 7) % 5) + (k % 3) * 4.5) for k in range(40)]
    wave[24] = ("unhealthy", 250.0)
    wave[25] = ("unhealthy", 260.0)
    report_history(stack, user, primaries["edge-03"]["id"], wave)

    # one proxy, reached with the keyboard alone: focus its link and press Enter
    page.focus("a[href='#/proxy/edge-03']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#instance-table tr[data-instance='b']")
    assert "active" in page.inner_text("#instance-table tr[data-instance='a']")
    page.wait_for_selector("#timeline svg.chart")
    assert "Routing answer" in page.inner_text("main")

    # start maintenance through the page; the confirmation says what will happen
    page.click("#instance-table tr[data-instance='b'] button[data-action='start-maintenance']")
    dialog = page.locator("#confirm")
    assert dialog.is_visible()
    assert "takes no traffic" in page.inner_text("#confirm-text")
    page.fill("#field-minutes", "30")
    page.fill("#field-reason", "kernel patch")
    page.click("#confirm-ok")
    page.wait_for_selector("#instance-table tr[data-instance='b'] button[data-action='end-maintenance']")
    b = instance_of(stack, user, "edge-03", "b")
    assert b["maintenance"]["reason"] == "kernel patch"
    screenshot(page, tmp_path, "console-proxy.png")
    page.locator("#timeline").scroll_into_view_if_needed()
    screenshot(page, tmp_path, "console-checks.png")
    page.evaluate("window.scrollTo(0, 0)")

    # end it with the keyboard: Enter on the button, Enter on the dialog's confirm (focused)
    page.focus("#instance-table tr[data-instance='b'] button[data-action='end-maintenance']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm[open]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#instance-table tr[data-instance='b'] button[data-action='start-maintenance']")
    assert instance_of(stack, user, "edge-03", "b")["maintenance"] is None

    # a cancelled confirmation changes nothing
    page.click("#instance-table tr[data-instance='b'] button[data-action='start-maintenance']")
    page.keyboard.press("Escape")
    expect(page.locator("#confirm")).to_be_hidden()
    assert instance_of(stack, user, "edge-03", "b")["maintenance"] is None
    assert watched.errors == []
    (tmp_path / "first_render_seconds").write_text(f"{first_render:.3f}")


def test_the_page_on_a_phone_and_the_api_errors_it_shows(stack: RunningStack, browser: Any, tmp_path: Path):
    user = on_call()
    seed_fleet(stack, user, 3, prefix="pop")
    watched = Watched(browser, 390, 844)
    page = watched.page
    page.goto(f"{stack.url}/console#token={user}")
    page.wait_for_selector("#proxies tbody tr")
    # readable: nothing wider than the window
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, tmp_path, "console-phone.png")
    assert watched.errors == []
    # an error of the API is shown as the envelope's message, never a blank page
    page.goto(f"{stack.url}/console#/proxy/nobody-has-this")
    page.wait_for_selector("#error:not([hidden])")
    assert "proxy nobody-has-this not found" in page.inner_text("#error-text")
    assert page.inner_text("h1") == "nobody-has-this"
    # a user is offered no admin action
    assert page.locator("button[data-action='execute']").count() == 0


def test_without_a_token_the_page_asks_for_one_and_a_bad_one_is_refused(
    stack: RunningStack, browser: Any, tmp_path: Path
):
    watched = Watched(browser, 1280, 800)
    page = watched.page
    page.goto(f"{stack.url}/console")
    page.wait_for_selector("#signin")
    page.fill("#token", "not a token")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#error:not([hidden])")
    assert "not a JWT" in page.inner_text("#error-text")
    page.fill("#token", token("x", secret="a-secret-the-stack-does-not-know-at-all"))
    page.click("#signin button[type=submit]")
    page.wait_for_selector("main [role=alert]")
    assert "Signed out" in page.inner_text("main [role=alert]")
    page.fill("#token", on_call())
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#counts .count")
    # served with its policy: nothing from another origin
    response = page.request.get(f"{stack.url}/console")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["cache-control"] == "no-cache" and response.headers["etag"]


def instance_of(stack: RunningStack, owner: str, proxy_id: str, name: str) -> dict[str, Any]:
    code, body, _ = stack.request("GET", f"/proxy/{proxy_id}/instances", token=owner)
    assert code == 200
    return next(i for i in body["data"] if i["instanceName"] == name)
