"""Session PostgreSQL (DATABASE_URL, else an embedded server), a fresh database per run with the
migrations applied once, and a clean slate per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_failover.settings import reset_settings
from proxy_failover.store.db import Database, set_database
from proxy_failover.store.migrate import migrate

from local import embedded_pg

from .helpers import ROOT, SECRET, fresh_fleet


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The session's PostgreSQL server: DATABASE_URL, else an embedded one under .local/."""
    with embedded_pg.server_url(ROOT / ".local" / "test-pgdata") as url:
        yield url


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database for this run; dropped at the end."""
    with embedded_pg.scratch_database(server_url, "pf_test") as url:
        yield url
        set_database(None)


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    db = Database.from_url(database_url)
    migrate(db)
    db.discard()
    return database_url


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("JWT_ISSUER", "JWT_AUDIENCE", "NOTIFICATIONS_TOPIC_ARN", "PROBE_ALLOW_LOOPBACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def db(migrated: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The layer's database, emptied before the test."""
    monkeypatch.setenv("DATABASE_URL", migrated)
    reset_settings()
    database = Database.from_url(migrated)
    fresh_fleet(database.connection())
    set_database(database)
    from proxy_failover.service import get_service

    get_service.cache_clear()
    yield database
    set_database(None)


@pytest.fixture
def sns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto SNS topic with a subscribed SQS queue; NOTIFICATIONS_TOPIC_ARN points at it."""
    import boto3
    from moto import mock_aws
    from proxy_failover.notify.publisher import reset_client

    with mock_aws():
        sns_client = boto3.client("sns", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        topic = sns_client.create_topic(Name="proxy-failover-events")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns_client.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", topic)
        reset_settings()
        reset_client()
        yield {"topic": topic, "queue_url": queue_url, "sqs": sqs, "sns": sns_client}
        reset_client()


@pytest.fixture
def migrations_dir() -> Path:
    return ROOT / "migrations"
