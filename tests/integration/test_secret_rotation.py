"""A rotated database password: the warm connection keeps working until it is replaced, and the
replacement reads the secret again when the server refuses the old password."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from proxy_failover.errors import DatabaseUnavailable
from proxy_failover.settings import Settings
from proxy_failover.store.db import Database

from local.emulators import bounded
from tests.password_pg import PasswordCluster


@pytest.fixture(scope="module")
def cluster():
    with PasswordCluster() as running:
        yield running


def _admin(cluster: PasswordCluster) -> Database:
    return Database.from_url(cluster.admin_url)


def _terminate(admin: Database, pid: int) -> None:
    """Ends a session and waits until it is gone (its socket closed), as a restart or failover does."""
    import time

    admin.connection().run(f"SELECT pg_terminate_backend({pid})")
    deadline = time.monotonic() + 30
    while admin.connection().run("SELECT count(*) FROM pg_stat_activity WHERE pid = :p", p=pid) != [[0]]:
        assert time.monotonic() < deadline, "the session did not end"
        time.sleep(0.05)
    time.sleep(0.2)  # its goodbye reaches the client's socket


def test_a_refused_login_reads_the_secret_again_and_reconnects(cluster, monkeypatch):
    admin = _admin(cluster)
    admin.connection().run("DROP ROLE IF EXISTS rotating")
    admin.connection().run("CREATE ROLE rotating LOGIN PASSWORD 'first-password'")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1", config=bounded())
        arn = secrets.create_secret(Name="db", SecretString=json.dumps({"password": "first-password"}))["ARN"]
        settings = Settings.from_environ(
            {
                "DB_HOST": "127.0.0.1",
                "DB_PORT": str(cluster.port),
                "DB_NAME": "postgres",
                "DB_USER": "rotating",
                "DB_SECRET_ARN": arn,
                "DB_SSLMODE": "disable",
            }
        )
        db = Database(settings=settings)
        # Given a warm connection made with the first password
        pid = db.autocommit().run("SELECT pg_backend_pid()")[0][0]
        # When the secret rotates (the role's password and the secret both change) and the server
        # drops that connection
        admin.connection().run("ALTER ROLE rotating PASSWORD 'second-password'")
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"password": "second-password"}))
        _terminate(admin, pid)
        # Then the next statement gets a new connection: the cached password is refused, the secret is
        # read again once, and the login with the new one succeeds
        assert db.autocommit().run("SELECT current_user") == [["rotating"]]
        assert db.params.password == "second-password"
        # And a login that is refused with the current secret too is a 503, not a loop
        admin.connection().run("ALTER ROLE rotating PASSWORD 'third-password'")
        db.discard()
        with pytest.raises(DatabaseUnavailable):
            db.autocommit().run("SELECT 1")
    admin.connection().run("DROP ROLE rotating")
    admin.discard()


def test_the_secret_is_read_again_once_it_is_older_than_its_maximum_age(cluster, monkeypatch):
    admin = _admin(cluster)
    admin.connection().run("DROP ROLE IF EXISTS aging")
    admin.connection().run("CREATE ROLE aging LOGIN PASSWORD 'first-password'")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1", config=bounded())
        arn = secrets.create_secret(Name="db", SecretString=json.dumps({"password": "first-password"}))["ARN"]
        base = {
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(cluster.port),
            "DB_NAME": "postgres",
            "DB_USER": "aging",
        }
        settings = Settings.from_environ(
            {**base, "DB_SECRET_ARN": arn, "DB_SSLMODE": "disable", "DB_SECRET_MAX_AGE_SECONDS": "0"}
        )
        db = Database(settings=settings)
        assert db.params.password == "first-password"
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"password": "second-password"}))
        assert db.params.password == "second-password"
    admin.connection().run("DROP ROLE aging")
    admin.discard()
