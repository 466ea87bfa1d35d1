"""Identifiers the service makes: random UUIDs spelled as the standard library spells them."""

from __future__ import annotations

import uuid

from proxy_failover.ids import canonical_uuid, random_uuid


def test_a_random_uuid_is_a_version_4_uuid_in_its_canonical_spelling():
    made = [random_uuid() for _ in range(2000)]
    for text in made:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text == canonical_uuid(text)
    assert len(set(made)) == len(made)


def test_a_recent_status_change_is_written_as_its_instant_in_its_own_zone():
    from datetime import UTC, datetime, timedelta, timezone

    from proxy_failover.store.rows import _history

    at = datetime(2026, 12, 7, 18, 0, 0, 123456, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=2)))  # the same instant, another offset
    assert _history((at, elsewhere, at)) == [at.isoformat(), elsewhere.isoformat(), at.isoformat()]
