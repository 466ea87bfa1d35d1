"""A proxy's failover configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigNotFound, InvalidInput
from ..identity import Principal
from ..paging import Page
from ..store import locks, reads
from ..store.rows import StoredConfig
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ..store.config_versions import ConfigVersion


class ConfigUseCases(UnitOfWork):
    def put_config(self, principal: Principal, proxy_id: str, provided: dict[str, Any]) -> StoredConfig:
        """Create the configuration, or change only the fields given (the rest keep their values)."""
        from ..domain.change import Step
        from ..domain.models import (
            TIMEOUT_RULE,
            LoadBalancingAlgorithm,
            ProxyAggregate,
            Strategy,
            timeout_fits,
        )

        typed = dict(provided)
        if "failover_strategy" in typed:
            typed["failover_strategy"] = Strategy(typed["failover_strategy"])
        if "load_balancing_algorithm" in typed:
            typed["load_balancing_algorithm"] = LoadBalancingAlgorithm(typed["load_balancing_algorithm"])

        def step(aggregate: ProxyAggregate, now: Any) -> Step:
            config = aggregate.config._replace(**typed)
            if not timeout_fits(config.health_check_interval_seconds, config.health_check_timeout_seconds):
                field = {
                    "field": "config.healthCheckTimeoutSeconds",
                    "message": TIMEOUT_RULE,
                    "type": "value_error",
                }
                raise InvalidInput(TIMEOUT_RULE, details=[field])
            return Step(allow_automatic=False, config=config)

        (change,) = self.write(
            lambda con: [locks.ensure_proxy(con, proxy_id, principal)], step, actor=principal.user_id
        )
        created = change.before.config_created_at or change.now
        config = change.before.config._replace(**typed)
        return StoredConfig(proxy_id, config, created, change.now)

    def get_config(self, principal: Principal, proxy_id: str) -> StoredConfig:
        found = reads.get_config(self.db.autocommit(), proxy_id, principal)
        if found is None:
            raise ConfigNotFound(f"no failover configuration for proxy {proxy_id}")
        return found

    def config_history(
        self, principal: Principal, proxy_id: str, limit: int = 50, after: list[Any] | None = None
    ) -> Page[ConfigVersion]:
        """Every change that changed something, newest first (an empty list before the first POST)."""
        from ..errors import ProxyNotFound
        from ..store.config_versions import list_versions

        found = list_versions(self.db.autocommit(), proxy_id, principal, limit, after)
        if found is None:
            raise ProxyNotFound(f"proxy {proxy_id} not found")
        return found
