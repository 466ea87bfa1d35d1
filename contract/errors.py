"""The catalogue of error codes, read off the layer's error classes (each declares its code, status
and meaning): the source of the OpenAPI document's code list and of the README's table."""

from __future__ import annotations

from typing import NamedTuple

from proxy_failover.errors import ProxyFailoverError


class CatalogueEntry(NamedTuple):
    code: str
    status: int
    meaning: str


def catalogue() -> list[CatalogueEntry]:
    """Every error code once, in code order."""
    found: dict[str, CatalogueEntry] = {}
    pending: list[type[ProxyFailoverError]] = [ProxyFailoverError]
    while pending:
        kind = pending.pop()
        found.setdefault(kind.code, CatalogueEntry(kind.code, kind.status, kind.meaning))
        pending.extend(kind.__subclasses__())
    return sorted(found.values())
