"""Who is asking: the authenticated principal every use case receives."""

from __future__ import annotations

from typing import NamedTuple


class Principal(NamedTuple):
    """`user_id`: who acts (the token's subject: the actor of what it does). `tenant`: the value of
    the claim `TENANT_CLAIM` names, whose proxies it sees and changes (None: the subject's own)."""

    user_id: str
    is_admin: bool = False
    tenant: str | None = None

    @property
    def owner(self) -> str:
        """The owner whose proxies this principal sees and creates."""
        return self.user_id if self.tenant is None else self.tenant

    def may_access(self, owner_id: str) -> bool:
        return self.is_admin or owner_id == self.owner
