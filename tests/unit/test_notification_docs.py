"""docs/notifications.md documents every notification type the service sends, and no other."""

from __future__ import annotations

import re

from proxy_failover.domain.notices import NoticeType

from tests.helpers import ROOT


def test_every_notification_type_is_documented():
    text = (ROOT / "docs" / "notifications.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(\w+)`", text, flags=re.MULTILINE))
    assert documented == {kind.value for kind in NoticeType}
