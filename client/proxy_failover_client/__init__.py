"""A client of the proxy failover control plane: the HTTP API (`Client`), the routing answer
(`Route`), and the route watcher (`RouteWatcher`) that keeps a data-plane node's answers current."""

from . import models
from .api import (
    ApiError,
    BadRequest,
    Client,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from .routes import Ramp, Route, Target

__all__ = [
    "ApiError",
    "BadRequest",
    "Client",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Ramp",
    "Route",
    "RouteWatcher",
    "Target",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "models",
]


def __getattr__(name: str) -> object:
    if name == "RouteWatcher":  # boto3 only for those who watch
        from .watcher import RouteWatcher

        return RouteWatcher
    raise AttributeError(name)
