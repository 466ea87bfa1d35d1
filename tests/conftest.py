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
from local.emulators import bounded

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
    # The service bounds each database read by 5 s; the suite's own set-up statements (100,000 proxies
    # at once, two suites side by side on two cores) may take longer. Tests of that bound set their own.
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "60")
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
    from proxy_failover.store import remembered

    remembered.forget_all()  # proxies of earlier tests, by the same names
    set_database(database)
    from proxy_failover.service import get_service

    get_service.cache_clear()
    yield database
    set_database(None)


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """moto's SNS and SQS as a server on a free port, as the service reaches AWS: over HTTP (the
    publisher signs and sends its own requests, which an in-process mock would not see)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # the system's pick
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sns(monkeypatch: pytest.MonkeyPatch, aws_endpoint: str) -> Iterator[dict[str, Any]]:
    """A topic of this test's own with a subscribed SQS queue, on the moto server;
    NOTIFICATIONS_TOPIC_ARN and AWS_ENDPOINT_URL_SNS point at them."""
    import uuid

    import boto3
    from proxy_failover.notify.publisher import reset_client

    sns_client = boto3.client("sns", region_name="eu-west-1", endpoint_url=aws_endpoint, config=bounded())
    sqs = boto3.client("sqs", region_name="eu-west-1", endpoint_url=aws_endpoint, config=bounded())
    name = uuid.uuid4().hex[:12]
    topic = sns_client.create_topic(Name=f"proxy-failover-events-{name}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"notifications-{name}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    subscription = sns_client.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
    )
    monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", topic)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", aws_endpoint)
    reset_settings()
    reset_client()
    yield {"topic": topic, "queue_url": queue_url, "sqs": sqs, "sns": sns_client, "endpoint": aws_endpoint}
    reset_client()
    sns_client.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    sns_client.delete_topic(TopicArn=topic)
    sqs.delete_queue(QueueUrl=queue_url)


@pytest.fixture
def migrations_dir() -> Path:
    return ROOT / "migrations"
