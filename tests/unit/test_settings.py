"""Settings come from the environment with their declared types; bad values are named errors."""

import pytest
from proxy_failover.settings import Settings


def test_values_are_parsed_with_their_declared_types():
    settings = Settings.from_environ(
        {
            "DB_PORT": "6432",
            "PROBE_ALLOW_LOOPBACK": "yes",
            "PROBE_ALLOWED_CIDRS": "10.0.0.0/8, 192.168.0.0/16",
            "OUTBOX_GRACE_SECONDS": "2.5",
            "DB_SSLMODE": "require",
        }
    )
    assert settings.db_port == 6432
    assert settings.probe_allow_loopback is True
    assert settings.probe_allowed_cidrs == ("10.0.0.0/8", "192.168.0.0/16")
    assert settings.outbox_grace_seconds == 2.5
    assert settings.db_sslmode == "require"


def test_an_empty_optional_value_means_unset():
    # CloudFormation passes "" for an empty parameter; that must not become a CA file named ""
    settings = Settings.from_environ({"DB_SSLROOTCERT": "", "JWT_AUDIENCE": ""})
    assert settings.db_sslrootcert is None and settings.jwt_audience is None


@pytest.mark.parametrize(("name", "raw"), [("DB_PORT", "five"), ("PROBE_ALLOW_LOOPBACK", "maybe")])
def test_a_malformed_value_names_the_variable(name, raw):
    with pytest.raises(ValueError, match=name):
        Settings.from_environ({name: raw})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PROBE_CONCURRENCY", "-5"),
        ("PROBE_CONCURRENCY", "0"),
        ("SWEEP_BATCH_SIZE", "0"),
        ("DB_PORT", "70000"),
        ("SNS_READ_TIMEOUT_SECONDS", "0"),
        ("MAX_INSTANCES_PER_PROXY", "0"),
        ("DB_SSLMODE", "sometimes"),
        ("LOG_LEVEL", "LOUD"),
        ("JWT_ALGORITHM", "none"),
        ("PROBE_ALLOWED_CIDRS", "10.0.0.0/8,not-a-network"),
    ],
)
def test_a_value_out_of_bounds_is_refused_at_start_with_its_name(name, raw):
    with pytest.raises(ValueError, match=name):
        Settings.from_environ({name: raw})


def test_every_number_has_bounds():
    from proxy_failover.settings import BOUNDS

    declared = {
        name: getattr(kind, "__forward_arg__", kind) for name, kind in Settings.__annotations__.items()
    }
    numeric = {name for name, kind in declared.items() if kind in {"int", "float"}}
    assert numeric == set(BOUNDS)
