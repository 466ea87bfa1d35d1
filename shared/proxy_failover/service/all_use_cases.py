"""Every use case in one object: construct with a database, settings and a clock in tests and tools."""

from __future__ import annotations

from .configs import ConfigUseCases
from .failover import FailoverUseCases
from .health import HealthUseCases
from .instances import InstanceUseCases
from .maintenance import MaintenanceUseCases
from .redundancy import RedundancyUseCases
from .routing import RoutingUseCases


class FailoverService(
    ConfigUseCases,
    InstanceUseCases,
    HealthUseCases,
    FailoverUseCases,
    RedundancyUseCases,
    MaintenanceUseCases,
    RoutingUseCases,
):
    pass
