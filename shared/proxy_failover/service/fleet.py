"""The fleet as operators see it: the proxies, the ledger across them, an instance's recent checks;
and a proxy's decommission."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import Forbidden, InstanceNotFound
from ..identity import Principal
from ..paging import Page
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from datetime import datetime

    from ..domain.models import LedgerEvent
    from ..store.check_history import CheckRecord
    from ..store.proxies import ProxySummary, Removed


class FleetUseCases(UnitOfWork):
    def list_proxies(
        self,
        principal: Principal,
        *,
        owner: str | None = None,
        prefix: str | None = None,
        degraded: bool | None = None,
        limit: int = 100,
        after: list[Any] | None = None,
    ) -> Page[ProxySummary]:
        """The caller's proxies (an admin's: all, or one owner's), in id order; one statement a page."""
        from ..store.proxies import list_proxies

        if owner is not None and not principal.is_admin:
            raise Forbidden("only admins may list another owner's proxies")
        return list_proxies(
            self.db.autocommit(),
            principal,
            owner=owner,
            prefix=prefix,
            degraded=degraded,
            limit=limit,
            after=after,
        )

    def fleet_events(
        self,
        principal: Principal,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        event_type: str | None = None,
        limit: int = 50,
        after: list[Any] | None = None,
    ) -> Page[LedgerEvent]:
        from ..errors import InvalidInput
        from ..store.events import fleet_events

        if since is not None and until is not None and since >= until:
            raise InvalidInput(
                "query parameter since must be before until",
                details=[{"field": "since", "message": "must be before until", "type": "range"}],
            )
        return fleet_events(
            self.db.autocommit(),
            principal,
            since=since,
            until=until,
            event_type=event_type,
            limit=limit,
            after=after,
        )

    def recent_checks(self, principal: Principal, instance_id: str, limit: int = 50) -> list[CheckRecord]:
        from ..store.check_history import recent_checks

        found = recent_checks(self.db.autocommit(), instance_id, principal, limit)
        if found is None:
            raise InstanceNotFound(f"instance {instance_id} not found")
        return found

    def decommission(self, principal: Principal, proxy_id: str, *, force: bool = False) -> Removed:
        """Remove a proxy under its lock, in one transaction: a report or a sweep of it either commits
        before (and is removed with it) or finds nothing after. Its ledger and config history stay
        until retention; `proxy_removed` is published after the commit."""
        from ..domain.notices import removed_notice
        from ..engine import outbox_row
        from ..errors import ProxyHasInstances
        from ..notify.relay import deliver_now
        from ..store import locks, outbox
        from ..store.proxies import decommission

        settings = self.settings

        def work(con: Any) -> tuple[Removed, Any]:
            locks.lock_proxy(con, proxy_id, principal)
            now = self.clock()
            removed = decommission(con, proxy_id, now, force=force)
            if removed is None:
                raise ProxyHasInstances(
                    f"proxy {proxy_id} still has instances: deregister them, or decommission with force=true"
                )
            notice = removed_notice(
                principal.user_id, removed.instance_ids, forced=bool(removed.instance_ids)
            )
            row = outbox_row(notice, proxy_id, removed.owner_id, now)
            outbox.insert(con, [row], settings.outbox_grace_seconds, commit=True)
            return removed, row

        removed, row = self.db.run_in_transaction(work)
        deliver_now(self.db, [row], settings)
        return removed
