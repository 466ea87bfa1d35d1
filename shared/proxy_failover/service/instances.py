"""A proxy's instances: registered, listed, changed, deregistered."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..identity import Principal
from ..ids import random_uuid
from ..paging import Page
from ..store import locks, reads, remembered
from ..store.rows import Listed
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ..domain.models import Instance
    from ..store.db import Connection


def locked_proxy_of(instance_id: str, principal: Principal) -> Any:
    """The lock step of a write to one instance: its proxy, or InstanceNotFound."""
    from ..errors import InstanceNotFound

    def lock(con: Connection) -> list[str]:
        proxy_id = locks.lock_proxy_of_instance(con, instance_id, principal)
        if proxy_id is None:
            raise InstanceNotFound(f"instance {instance_id} not found")
        return [proxy_id]

    return lock


def find(instances: list[Instance], instance_id: str) -> Instance:
    from ..errors import InstanceNotFound

    found = next((i for i in instances if i.id == instance_id), None)
    if found is None:
        raise InstanceNotFound(f"instance {instance_id} not found")
    return found


class InstanceUseCases(UnitOfWork):
    def _check_url(self, url: str | None) -> None:
        from ..checks.policy import TargetPolicy, check_registration

        if url:
            settings = self.settings
            policy = TargetPolicy.from_settings(settings.probe_allow_loopback, settings.probe_allowed_cidrs)
            check_registration(url, policy)

    def register_instance(self, principal: Principal, proxy_id: str, data: dict[str, Any]) -> Listed:
        """Add an instance (the proxy is created on its first); the first one becomes active."""
        from ..domain.change import Step
        from ..domain.models import HealthStatus, Instance, ProxyAggregate
        from ..errors import DuplicateInstanceName, InstanceLimitReached

        settings = self.settings
        url = data.get("health_check_url")
        self._check_url(url)
        instance_id = random_uuid()

        def step(aggregate: ProxyAggregate, now: datetime) -> Step:
            name = data["instance_name"]
            if any(i.name == name for i in aggregate.instances):
                raise DuplicateInstanceName(
                    f"an instance named {name!r} is already registered for proxy {proxy_id}"
                )
            cap = settings.max_instances_per_proxy
            if len(aggregate.instances) >= cap:
                raise InstanceLimitReached(f"proxy {proxy_id} already has the maximum of {cap} instances")
            added = Instance(
                id=instance_id,
                proxy_id=proxy_id,
                name=name,
                priority=data["priority"],
                weight=data["weight"],
                created_at=now,
                health_check_url=url,
                instance_type=data["instance_type"],
                updated_at=now,
                health_status=HealthStatus.UNKNOWN,
                endpoint=data.get("endpoint"),
                probe=probe_options(data.get("probe")),
            )
            return Step(allow_automatic=False, added=added)

        (change,) = self.write(
            lambda con: [locks.ensure_proxy(con, proxy_id, principal)],
            step,
            actor=principal.user_id,
            known=remembered.Known(proxy_id, principal),
        )
        return Listed(change.instance(instance_id), change.active_instance_id == instance_id)

    def list_instances(
        self, principal: Principal, proxy_id: str, limit: int = 100, after: list[Any] | None = None
    ) -> Page[Listed]:
        return reads.list_instances(self.db.autocommit(), proxy_id, principal, limit, after)

    def update_instance(self, principal: Principal, instance_id: str, changes: dict[str, Any]) -> Listed:
        """Change the fields given (a null healthCheckUrl, endpoint or probe clears it)."""
        from ..domain.change import Step
        from ..domain.models import ProxyAggregate
        from ..errors import DuplicateInstanceName

        if "health_check_url" in changes:
            self._check_url(changes["health_check_url"])
        fields = {_FIELD.get(k, k): v for k, v in changes.items()}
        if "probe" in fields:
            fields["probe"] = probe_options(fields["probe"])

        def step(aggregate: ProxyAggregate, now: datetime) -> Step:
            instance = find(aggregate.instances, instance_id)
            name = fields.get("name", instance.name)
            if any(i.name == name and i.id != instance_id for i in aggregate.instances):
                raise DuplicateInstanceName(
                    f"an instance named {name!r} is already registered for this proxy"
                )
            # Applied to the instances as the engine hands them over: maintenance whose time is up has
            # ended there, and a patch must not write it back.
            return Step(
                allow_automatic=False,
                edit=lambda xs: [i._replace(**fields) if i.id == instance_id else i for i in xs],
            )

        (change,) = self.write(
            locked_proxy_of(instance_id, principal),
            step,
            actor=principal.user_id,
            known=remembered.Known(remembered.proxy_of_instance(instance_id), principal),
        )
        return Listed(change.instance(instance_id), change.active_instance_id == instance_id)

    def deregister_instance(self, principal: Principal, instance_id: str, *, force: bool = False) -> Listed:
        """Remove an instance (its ledger rows stay). The active one of a proxy with others only with
        `force`: the proxy first moves to the best other instance (a `manual` event, `deregistered`)."""
        from ..domain.change import Step
        from ..domain.models import EventType, ProxyAggregate, Switch
        from ..domain.strategies import choose_target, in_list_order
        from ..errors import ActiveInstance

        removed: list[Listed] = []

        def step(aggregate: ProxyAggregate, now: datetime) -> Step:
            instance = find(aggregate.instances, instance_id)
            active = aggregate.active_instance_id
            others = [i for i in aggregate.instances if i.id != instance_id]
            removed.append(Listed(instance, instance_id == active))
            requested = None
            if instance_id == active and others:
                if not force:
                    raise ActiveInstance(
                        f"instance {instance_id} is the active instance of its proxy; force=true moves the proxy off it"
                    )
                target = choose_target(aggregate.instances, active, aggregate.config.failover_strategy)
                chosen = (
                    target or in_list_order(others)[0]
                )  # no healthy one: another, and the proxy is degraded
                requested = Switch(EventType.MANUAL, instance_id, chosen.id, "deregistered")
            return Step(
                allow_automatic=False,
                requested=requested,
                edit=lambda xs: [i for i in xs if i.id != instance_id],
            )

        self.write(
            locked_proxy_of(instance_id, principal),
            step,
            actor=principal.user_id,
            known=remembered.Known(remembered.proxy_of_instance(instance_id), principal),
        )
        return removed[-1]


# Request field names -> the domain's, where they differ.
_FIELD = {"instance_name": "name"}


def probe_options(given: dict[str, Any] | None) -> Any:
    """A request's probe options as the domain's (defaults filled in), or None."""
    from ..domain.models import ProbeOptions

    if given is None:
        return None
    return ProbeOptions(**{k: v for k, v in given.items() if v is not None})
