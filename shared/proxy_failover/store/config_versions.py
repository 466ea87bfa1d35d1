"""The history of a proxy's configuration: one version per change that changed something."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..identity import Principal
from ..paging import Page, invalid_cursor
from .db import Connection


class ConfigVersion:
    """A version: the whole configuration after the change, the fields it changed, who and when."""

    __slots__ = ("changed_at", "changed_by", "changes", "config", "version")

    def __init__(
        self,
        version: int,
        config: dict[str, Any],
        changes: dict[str, Any],
        changed_by: str,
        changed_at: datetime,
    ) -> None:
        self.version, self.config, self.changes = version, config, changes
        self.changed_by, self.changed_at = changed_by, changed_at


# Newest first, before a version (the cursor); the proxy row says whether the caller may see it.
_LIST = """
SELECT p.proxy_id AS visible_proxy, v.version, v.config, v.changes, v.changed_by, v.changed_at
  FROM proxies p
  LEFT JOIN LATERAL (
      SELECT * FROM config_versions v
       WHERE v.proxy_id = p.proxy_id AND v.removed_at IS NULL
         AND (CAST(:before AS integer) IS NULL OR v.version < CAST(:before AS integer))
       ORDER BY v.version DESC LIMIT :limit
  ) v ON true
 WHERE p.proxy_id = :proxy_id AND (CAST(:admin AS boolean) OR p.owner_id = :user)
 ORDER BY v.version DESC
"""


def list_versions(
    con: Connection, proxy_id: str, principal: Principal, limit: int, after: list[Any] | None = None
) -> Page[ConfigVersion] | None:
    """A page, newest first; None when the proxy is not visible to the principal."""
    if after is not None and (len(after) != 1 or type(after[0]) is not int or after[0] < 1):
        raise invalid_cursor()
    rows = con.run(
        _LIST,
        proxy_id=proxy_id,
        limit=limit + 1,
        before=None if after is None else after[0],
        admin=principal.is_admin,
        user=principal.owner,
    )
    if not rows:
        return None
    found = [ConfigVersion(*row[1:]) for row in rows if row[1] is not None]
    if len(found) <= limit:
        return Page(found)
    return Page(found[:limit], (found[limit - 1].version,))
