"""Entity tags: the same answer, the same tag, on any Lambda (the answer's SHA-256)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def entity_tag(view: Any) -> str:
    """A strong ETag of a JSON-able answer."""
    digest = hashlib.sha256(json.dumps(view, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f'"{digest[:32]}"'
