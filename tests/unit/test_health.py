"""The contract's health rules, example by example and as properties over random check sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from proxy_failover.domain.health import Judged, apply_check, flapping, report_settles, status_after
from proxy_failover.domain.models import (
    FailoverConfig,
    HealthStatus,
    Instance,
    LoadBalancingAlgorithm,
    Strategy,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H, U, K = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, HealthStatus.UNKNOWN


def feed(results, config=None, instance=None, step=timedelta(seconds=30)):
    config = config or FailoverConfig()
    instance = instance or Instance(id="i", proxy_id="p", name="i")
    history = []
    for n, result in enumerate(results):
        instance, transition = apply_check(instance, result, config, T0 + n * step)
        history.append((instance, transition))
    return instance, history


def test_unknown_becomes_healthy_at_once():
    instance, [(_, transition)] = feed([H])
    assert instance.health_status is H and instance.consecutive_successes == 1
    assert transition is not None and transition.previous is K


def test_unhealthy_only_when_failures_reach_threshold():
    instance, history = feed([H, U, U, U], FailoverConfig(unhealthy_threshold=3))
    assert [h[0].health_status for h in history] == [H, H, H, U]
    assert instance.consecutive_failures == 3 and instance.consecutive_successes == 0


def test_unknown_instance_turns_unhealthy_at_threshold_too():
    _, history = feed([U, U], FailoverConfig(unhealthy_threshold=2))
    assert [h[0].health_status for h in history] == [K, U]


def test_recovery_needs_healthy_threshold_successes():
    instance, history = feed([U, U, U, H, H], FailoverConfig(unhealthy_threshold=3, healthy_threshold=2))
    assert [h[0].health_status for h in history] == [K, K, U, U, H]
    assert instance.consecutive_failures == 0 and instance.consecutive_successes == 2


def test_unknown_result_is_recorded_but_changes_no_counter():
    before, _ = feed([U])
    after, transition = apply_check(before, K, FailoverConfig(), T0 + timedelta(hours=1))
    assert transition is None
    assert (after.consecutive_failures, after.consecutive_successes) == (1, 0)
    assert after.last_health_check == T0 + timedelta(hours=1)


def test_frequent_changes_mark_flapping_and_it_clears_after_the_window():
    config = FailoverConfig(
        unhealthy_threshold=1, healthy_threshold=1, flap_threshold=4, flap_window_seconds=300
    )
    instance, history = feed([H, U, H, U, H], config, step=timedelta(seconds=10))
    assert instance.is_flapping
    assert sum(1 for _, t in history if t and t.started_flapping) == 1
    later, _ = apply_check(instance, H, config, T0 + timedelta(seconds=1000))
    assert not later.is_flapping


results = st.lists(st.sampled_from([H, U, K]), max_size=60)
configs = st.builds(
    FailoverConfig,
    unhealthy_threshold=st.integers(1, 5),
    healthy_threshold=st.integers(1, 5),
    flap_threshold=st.integers(2, 6),
    flap_window_seconds=st.integers(1, 600),
)


@given(results, configs)
def test_counters_and_status_always_follow_the_contract(sequence, config):
    instance = Instance(id="i", proxy_id="p", name="i")
    for n, result in enumerate(sequence):
        before = instance
        instance, transition = apply_check(instance, result, config, T0 + timedelta(seconds=n))
        if result is U:
            assert instance.consecutive_failures == before.consecutive_failures + 1
            assert instance.consecutive_successes == 0
            should_fall = instance.consecutive_failures >= config.unhealthy_threshold
            assert instance.health_status is (U if should_fall else before.health_status)
        elif result is H:
            assert instance.consecutive_successes == before.consecutive_successes + 1
            assert instance.consecutive_failures == 0
            if before.health_status is U:
                risen = instance.consecutive_successes >= config.healthy_threshold
                assert instance.health_status is (H if risen else U)
            else:
                assert instance.health_status is H
        else:
            assert (instance.consecutive_failures, instance.consecutive_successes) == (
                before.consecutive_failures,
                before.consecutive_successes,
            )
            assert instance.health_status is before.health_status
        assert (transition is not None) == (instance.health_status is not before.health_status)
        assert instance.health_status is status_after(before, result, config)
        assert instance.is_flapping == flapping(instance.status_changes, config, T0 + timedelta(seconds=n))


def test_the_flap_history_keeps_only_what_can_decide_flapping():
    config = FailoverConfig(
        unhealthy_threshold=1, healthy_threshold=1, flap_threshold=4, flap_window_seconds=10**6
    )
    instance = Instance(id="i", proxy_id="p", name="i", health_status=HealthStatus.HEALTHY)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for k in range(300):
        result = HealthStatus.UNHEALTHY if k % 2 == 0 else HealthStatus.HEALTHY
        instance, _ = apply_check(instance, result, config, start + timedelta(seconds=k))
        assert len(instance.status_changes) <= config.flap_threshold
    assert instance.is_flapping


@given(
    st.lists(st.sampled_from([H, U]), max_size=8),
    st.sampled_from([H, U]),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_a_report_settles_exactly_when_the_state_machine_keeps_the_status(history, result, fall, rise):
    """The rule that picks a report's path is the state machine's own: a report settles (only counters
    move) when and only when apply_check leaves the status as it was."""
    config = FailoverConfig(unhealthy_threshold=fall, healthy_threshold=rise, flap_threshold=100)
    before, _ = feed(history, config)
    after, _ = apply_check(before, result, config, T0 + timedelta(days=1))
    settles = report_settles(before, result, Judged.of(config), connections=False)
    assert settles == (after.health_status is before.health_status)


def test_a_connection_count_settles_nothing_where_connections_route():
    instance, _ = feed([H])
    for config in (
        FailoverConfig(failover_strategy=Strategy.LEAST_CONNECTIONS),
        FailoverConfig(
            enable_load_balancing=True, load_balancing_algorithm=LoadBalancingAlgorithm.LEAST_CONNECTIONS
        ),
    ):
        assert not report_settles(instance, H, Judged.of(config), connections=True)
        assert report_settles(instance, H, Judged.of(config), connections=False)
    assert report_settles(instance, H, Judged.of(FailoverConfig()), connections=True)
    assert not report_settles(
        instance._replace(is_flapping=True), H, Judged.of(FailoverConfig()), connections=False
    )
