"""Issue 21: the console's first render against the local stack, in Debian's Chromium: from navigation
to the fleet table shown (20 proxies), cold (a new browser context: nothing cached) and warm (the
page, script and styles revalidated by ETag), medians of several loads."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.common import Figure, fresh_database, median, percentile, report
from tests.e2e.running import start_stack
from tests.e2e.test_console import ARGS, CHROMIUM, on_call, seed_fleet

LOADS = int(os.environ.get("BENCH_CONSOLE_LOADS", "7"))


def first_render() -> list[Figure]:
    from playwright.sync_api import sync_playwright

    with fresh_database() as (url, _db):
        stack = start_stack(Path(tempfile.mkdtemp(prefix="console-bench-")), DATABASE_URL=url)
        try:
            user = on_call()
            seed_fleet(stack, user)
            cold, warm, in_page = [], [], []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                for _ in range(LOADS):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    for times in (cold, warm):  # the second load revalidates what the first fetched
                        started = time.perf_counter()
                        page.goto(f"{stack.url}/console#token={user}")
                        page.wait_for_selector("#proxies tbody tr:nth-child(20)")
                        times.append((time.perf_counter() - started) * 1000)
                        page.goto("about:blank")
                    # the browser's own clock: navigation start to the table's rows in the DOM
                    page.goto(f"{stack.url}/console#token={user}")
                    page.wait_for_selector("#proxies tbody tr:nth-child(20)")
                    in_page.append(page.evaluate("performance.now()"))
                    context.close()
                browser.close()
        finally:
            stack.stop()
    return [
        report(
            Figure(
                21,
                "console first render (20 proxies), new browser context: p50 / worst",
                f"{median(cold):.0f} / {max(cold):.0f} ms",
            )
        ),
        report(
            Figure(
                21,
                "console first render, files revalidated by ETag: p50 / p90",
                f"{median(warm):.0f} / {percentile(warm, 90):.0f} ms"
                f" (in the page: table at {median(in_page):.0f} ms after navigation start)",
            )
        ),
    ]


def run() -> list[Figure]:
    return first_render()


if __name__ == "__main__":
    run()
