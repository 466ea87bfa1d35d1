"""One declaration per fact: where a fact must also live elsewhere (the migration's CHECKs and
DEFAULTs, the README), a test holds the copies to the declaration."""

from __future__ import annotations

import pytest
from proxy_failover.domain.models import FailoverConfig, timeout_fits
from proxy_failover.errors import ConstraintViolation
from proxy_failover.ids import is_proxy_id

CANDIDATE_IDS = [
    "edge-1",
    "a.b:c_d",
    "x" * 255,
    "x" * 256,
    "",
    "edge 1",
    "edge\n",
    "édge",
    "a/b",
    "a;b",
    "A-Z_09",
]


@pytest.mark.parametrize("candidate", CANDIDATE_IDS)
def test_the_proxy_id_check_in_the_migration_is_the_declared_pattern(db, candidate):
    con = db.autocommit()
    try:
        con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES (:p, 'u')", p=candidate)
        accepted = True
    except ConstraintViolation:
        accepted = False
    assert accepted is is_proxy_id(candidate)


def test_the_migrations_defaults_are_the_configs_defaults(db):
    rows = db.autocommit().run(
        "SELECT column_name, column_default FROM information_schema.columns"
        " WHERE table_name = 'proxy_failover_configurations' AND column_default IS NOT NULL"
    )
    stored = {name: default for name, default in rows if name in FailoverConfig._fields}
    # a field whose default is null (off) has no column default
    defaults = {name: value for name, value in FailoverConfig()._asdict().items() if value is not None}
    assert set(stored) == set(defaults)
    for name, default in defaults.items():
        expected = getattr(default, "value", default)
        literal = stored[name].split("::")[0].strip("'")
        assert literal == str(expected).lower() if isinstance(expected, bool) else literal == str(expected), (
            name
        )


@pytest.mark.parametrize("interval", [1, 2, 5, 30])
@pytest.mark.parametrize("timeout", [1, 2, 5, 29, 30, 31])
def test_the_timeout_check_in_the_migration_is_the_declared_rule(db, interval, timeout):
    con = db.autocommit()
    con.run("INSERT INTO proxies (proxy_id, owner_id) VALUES ('t', 'u') ON CONFLICT DO NOTHING")
    con.run("DELETE FROM proxy_failover_configurations")
    try:
        con.run(
            "INSERT INTO proxy_failover_configurations (proxy_id, health_check_interval_seconds,"
            " health_check_timeout_seconds) VALUES ('t', :i, :t)",
            i=interval,
            t=timeout,
        )
        accepted = True
    except ConstraintViolation as refused:
        assert refused.constraint == "timeout_below_interval"
        accepted = False
    assert accepted is timeout_fits(interval, timeout)


def test_the_readme_error_table_is_generated_from_the_errors():
    from contract.openapi import README, readme_with_error_table

    text = README.read_text(encoding="utf-8")
    assert readme_with_error_table(text) == text, "run `make openapi`"
