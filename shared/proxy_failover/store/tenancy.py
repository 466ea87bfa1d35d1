"""Tenancy in SQL: the condition under which a principal sees a proxy (`p`), and its parameters."""

from __future__ import annotations

from typing import Any

from ..identity import Principal

# Admins see every proxy; anyone else their owner's (their own, or their team's: `TENANT_CLAIM`).
VISIBLE = "(CAST(:admin AS boolean) OR p.owner_id = :user)"


def visible_to(principal: Principal) -> dict[str, Any]:
    """The parameters of `VISIBLE`."""
    return {"admin": principal.is_admin, "user": principal.owner}
