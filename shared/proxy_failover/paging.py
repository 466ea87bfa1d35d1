"""Keyset pagination: a page of rows and the sort key after which the next page starts.

The client sees the key as an opaque cursor (base64url of its JSON); the store decides what a key
holds and checks it when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from .errors import InvalidInput
from .ids import canonical_uuid

T = TypeVar("T")
# What `encode_cursor` writes: base64url without padding (the decoder would skip any other byte).
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,512}")
U = TypeVar("U")


class Page(NamedTuple, Generic[T]):
    items: list[T]
    # The sort key of the last item when more follow, else None.
    next_key: tuple[Any, ...] | None = None

    def map(self, view: Callable[[T], U]) -> Page[U]:
        return Page([view(item) for item in self.items], self.next_key)


def encode_cursor(key: tuple[Any, ...]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> list[Any]:
    """The key a cursor holds, or InvalidInput: any cursor this API did not hand out is refused."""
    if _CURSOR.fullmatch(token) is None:
        raise invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or any(isinstance(v, str) and "\x00" in v for v in key):
        raise invalid_cursor()
    return key


def invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "query parameter cursor is not a cursor this API handed out",
        details=[{"field": "cursor", "message": "not a valid cursor", "type": "cursor"}],
    )


def key_time(value: Any) -> datetime:
    """A time from a cursor's key (ISO 8601 with its offset), or InvalidInput."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        # A time whose offset takes it past year 1 or 9999 has no UTC form to send PostgreSQL.
        utc = None if parsed is None or parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        utc = None
    if utc is None:
        raise invalid_cursor()
    return utc


def key_id(value: Any) -> str:
    """A UUID from a cursor's key, or InvalidInput."""
    found = canonical_uuid(value) if isinstance(value, str) else None
    if found is None:
        raise invalid_cursor()
    return found
