"""The fleet's safety: the emergency brake (hold, release) and what the checkers can see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..identity import Principal
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from datetime import datetime

    from ..domain.safety import AutoFailover, FleetSafety


class SafetyUseCases(UnitOfWork):
    def safety(self, principal: Principal) -> FleetSafety:
        """For any user: the brake concerns every tenant, and names no proxy."""
        from ..domain.safety import FleetSafety, SeenVantage, absent
        from ..store import fleet

        con = self.db.autocommit()
        now: datetime = self.clock()
        absent_after = 2 * self.settings.sweep_schedule_seconds
        seen = [SeenVantage(v, absent(v, now, absent_after)) for v in fleet.vantages(con)]
        return FleetSafety(fleet.safety(con), seen)

    def set_auto_failover(self, principal: Principal, state: AutoFailover, reason: str) -> FleetSafety:
        """Hold or release (admin). A change is announced once (`auto_failover_held`, critical;
        `auto_failover_released`, info); a release leaves the next scheduled run to switch, in one pass,
        what would have switched meanwhile and still should."""
        from ..domain.safety import brake_notice
        from ..engine import outbox_row
        from ..notify.relay import deliver_now
        from ..store import fleet

        row = outbox_row(brake_notice(state, reason, principal.user_id), None, None, self.clock())
        settings = self.settings
        _, changed = fleet.set_brake(
            self.db.autocommit(), state, reason, principal.user_id, row, settings.outbox_grace_seconds
        )
        if changed:
            deliver_now(self.db, [row], settings)
        return self.safety(principal)
