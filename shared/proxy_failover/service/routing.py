"""The routing answer the data plane asks for: one statement, no lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..identity import Principal
from ..store import route as route_store
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ..domain.routing import VersionedRoute


class RoutingUseCases(UnitOfWork):
    def route(self, principal: Principal, proxy_id: str) -> VersionedRoute:
        """The answer as its last write stored it, with its version."""
        answer: VersionedRoute = route_store.route(self.db.autocommit(), proxy_id, principal)
        return answer
