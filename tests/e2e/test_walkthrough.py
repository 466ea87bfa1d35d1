"""The README's walk-through holds when followed literally: every step against the local stack, with
the scheduled sweep running (every second) between the steps, gets the answer the README shows."""

from __future__ import annotations

import pytest

from local import walkthrough
from tests.helpers import token

pytestmark = pytest.mark.e2e


def test_the_readme_walk_through_holds_step_by_step(stack):
    kept = walkthrough.run(
        stack.url, token("local-user"), token("local-admin", admin=True), pause=1.1, echo=False
    )
    assert {"A", "B", "EVENT", "ETAG"} <= set(kept)


def test_the_readme_shows_the_steps_that_are_run():
    current = walkthrough.README.read_text(encoding="utf-8")
    assert walkthrough.readme_block() in current
