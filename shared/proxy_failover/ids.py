"""Identifiers, each shape declared once: checked at the edge (paths and bodies), published in the
OpenAPI document, and tied by a test to the migration's CHECK on `proxies.proxy_id`.

Patterns are matched whole (`fullmatch`): Python's `$` also matches before a trailing newline.
"""

from __future__ import annotations

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
