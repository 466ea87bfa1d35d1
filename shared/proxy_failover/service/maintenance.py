"""Maintenance with a time limit: start (moving the proxy off the instance first), end."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..identity import Principal
from ..store.rows import Listed
from .instances import find, locked_proxy_of
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ..domain.change import Step
    from ..domain.models import ProxyAggregate


class MaintenanceUseCases(UnitOfWork):
    def start_maintenance(
        self,
        principal: Principal,
        instance_id: str,
        duration_seconds: int,
        reason: str,
        *,
        force: bool = False,
    ) -> Listed:
        """Until `duration_seconds` from now (a second call replaces the time and reason). The active
        instance is first left for the best healthy other (a `maintenance` event); with none, 409 unless
        `force`, which keeps it active and the proxy degraded (`active_in_maintenance`)."""
        from ..domain import maintenance
        from ..domain.change import Step
        from ..domain.models import EventType, Maintenance, Switch
        from ..domain.strategies import choose_target
        from ..errors import NoMaintenanceTarget

        def step(aggregate: ProxyAggregate, now: datetime) -> Step:
            current = maintenance.expire(aggregate.instances, now)
            instance = find(current, instance_id)
            started = Maintenance(now + timedelta(seconds=duration_seconds), reason, principal.user_id)
            requested = None
            active = aggregate.active_instance_id
            if instance_id == active:
                target = choose_target(current, active, aggregate.config.failover_strategy)
                if target is not None:
                    requested = Switch(EventType.MAINTENANCE, active, target.id, f"maintenance: {reason}")
                elif not force:
                    raise NoMaintenanceTarget(
                        "no healthy instance to move the proxy to; force=true keeps this one active, in maintenance"
                    )
            in_maintenance = instance._replace(maintenance=started)
            return Step(
                allow_automatic=False,
                requested=requested,
                edit=lambda xs: [in_maintenance if i.id == instance_id else i for i in xs],
            )

        (change,) = self.write(locked_proxy_of(instance_id, principal), step, actor=principal.user_id)
        return Listed(change.instance(instance_id), change.active_instance_id == instance_id)

    def end_maintenance(self, principal: Principal, instance_id: str) -> Listed:
        """End it now (nothing changes for an instance not in maintenance)."""
        from ..domain.change import Step

        def step(aggregate: ProxyAggregate, now: datetime) -> Step:
            find(aggregate.instances, instance_id)
            return Step(
                allow_automatic=False,
                edit=lambda xs: [i._replace(maintenance=None) if i.id == instance_id else i for i in xs],
            )

        (change,) = self.write(locked_proxy_of(instance_id, principal), step, actor=principal.user_id)
        return Listed(change.instance(instance_id), change.active_instance_id == instance_id)
