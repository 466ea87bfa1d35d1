"""The use cases behind the HTTP API, one class per thing they change, sharing one unit of work.

A handler imports only its own area (`from proxy_failover.service.configs import ConfigUseCases`):
each module imported is paid for at every cold start. `FailoverService`, every use case in one object,
is for tests and tools, and is built only when asked for.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .all_use_cases import FailoverService


@lru_cache(maxsize=1)
def get_service() -> FailoverService:
    from .all_use_cases import FailoverService

    return FailoverService()


def __getattr__(name: str) -> Any:
    if name == "FailoverService":
        from .all_use_cases import FailoverService

        return FailoverService
    raise AttributeError(name)
