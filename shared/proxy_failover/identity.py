"""Who is asking: the authenticated principal every use case receives."""

from __future__ import annotations

from typing import NamedTuple


class Principal(NamedTuple):
    user_id: str
    is_admin: bool = False

    def may_access(self, owner_id: str) -> bool:
        return self.is_admin or owner_id == self.user_id
