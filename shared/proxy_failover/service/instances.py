"""Registering and listing a proxy's instances."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ..identity import Principal
from ..paging import Page
from ..store import proxies
from ..store.rows import Listed
from .unit_of_work import UnitOfWork


class InstanceUseCases(UnitOfWork):
    def register_instance(self, principal: Principal, proxy_id: str, data: dict[str, Any]) -> Listed:
        """Add an instance (the proxy is created on its first); the first one becomes active."""
        from ..checks.policy import TargetPolicy, check_registration
        from ..domain.models import HealthStatus, Instance
        from ..engine import Step
        from ..errors import DuplicateInstanceName, InstanceLimitReached
        from ..store.proxies import ProxyAggregate

        settings = self.settings
        url = data.get("health_check_url")
        if url:
            check_registration(
                url, TargetPolicy.from_settings(settings.probe_allow_loopback, settings.probe_allowed_cidrs)
            )
        instance_id = str(uuid.uuid4())

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
            )
            return Step(allow_automatic=False, added=added)

        (outcome,) = self.write(
            lambda con: [proxies.ensure_proxy(con, proxy_id, principal)], step, actor=principal.user_id
        )
        return Listed(outcome.instance(instance_id), outcome.active_instance_id == instance_id)

    def list_instances(
        self, principal: Principal, proxy_id: str, limit: int = 100, after: list[Any] | None = None
    ) -> Page[Listed]:
        return proxies.list_instances(self.db.autocommit(), proxy_id, principal, limit, after)
