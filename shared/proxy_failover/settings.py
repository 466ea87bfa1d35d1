"""One typed settings object, parsed from the environment once, on first use (never at import)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # PostgreSQL: DATABASE_URL, or host/port/name/user with the password in Secrets Manager (Aurora).
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "postgres"
    db_user: str = "postgres"
    db_secret_arn: str | None = None
    db_ssl: bool = True
    db_connect_timeout_seconds: float = 5.0
    # A reused connection idle for longer than this is pinged before use (Lambda freezes kill sockets).
    db_idle_ping_seconds: float = 60.0

    # Authentication: deployed, API Gateway's JWT authorizer verifies; locally HS256 with this secret.
    jwt_secret: str | None = None
    jwt_algorithm: str = "HS256"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    admin_claim: str = "roles"

    notifications_topic_arn: str | None = None
    # A notification written by a request is relayed by the sweep only after this grace period, so the
    # request's own after-commit publish normally wins and nothing is sent twice.
    outbox_grace_seconds: float = 30.0

    probe_allow_loopback: bool = False
    probe_allowed_cidrs: Annotated[list[str], BeforeValidator(_csv)] = Field(default_factory=list)
    probe_concurrency: int = 1000

    sweep_batch_size: int = 500
    # The sweep stops claiming work when less than this is left of its invocation.
    sweep_deadline_margin_seconds: float = 3.0

    max_body_bytes: int = 64 * 1024

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
