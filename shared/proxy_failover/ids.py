"""Identifiers, each shape declared once: checked at the edge (paths and bodies), published in the
OpenAPI document, and tied by a test to the migration's CHECK on `proxies.proxy_id`.

Patterns are matched whole (`fullmatch`): Python's `$` also matches before a trailing newline.
"""

from __future__ import annotations

import os
import re
import uuid

# A client-chosen proxy id: 1-255 letters, digits, '-', '_', '.', ':'. Anchored for JSON Schema and
# pydantic-core, whose `$` is the end of the text.
PROXY_ID_CHARACTERS = "[A-Za-z0-9._:-]"
PROXY_ID_PATTERN = rf"^{PROXY_ID_CHARACTERS}{{1,255}}$"
PROXY_ID_RULE = "1-255 letters, digits, '-', '_', '.', ':'"
_PROXY_ID = re.compile(PROXY_ID_PATTERN.strip("^$"))
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Whole numbers in query strings: ASCII digits only (str.isdigit also takes superscripts, Arabic-Indic and full-width digits).
_INTEGER = re.compile(r"-?[0-9]{1,12}")


def is_proxy_id(text: str) -> bool:
    return _PROXY_ID.fullmatch(text) is not None


def canonical_uuid(text: str) -> str | None:
    """The server's spelling of a UUID (lower case), or None when `text` is not one."""
    if _UUID.fullmatch(text) is None:
        return None
    return str(uuid.UUID(text))


def parse_integer(text: str) -> int | None:
    return int(text) if _INTEGER.fullmatch(text) else None


def random_uuid() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` spells it, without building a UUID
    object first: a status change makes two or three, and the object cost five times the bytes."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
