"""Every use case in one object: construct with a database, settings and a clock in tests and tools."""

from __future__ import annotations

from .configs import ConfigUseCases
from .failover import FailoverUseCases
from .health import HealthUseCases
from .instances import InstanceUseCases
from .redundancy import RedundancyUseCases


class FailoverService(ConfigUseCases, InstanceUseCases, HealthUseCases, FailoverUseCases, RedundancyUseCases):
    pass
