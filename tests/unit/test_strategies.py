"""Target selection by strategy and routing by load-balancing algorithm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from proxy_failover.domain.models import HealthStatus, Instance, Maintenance, Strategy
from proxy_failover.domain.strategies import choose_target, failover_order

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def inst(name, priority=100, weight=100, status=HealthStatus.HEALTHY, conns=None, flapping=False, n=0):
    return Instance(
        id=name,
        proxy_id="p",
        name=name,
        priority=priority,
        weight=weight,
        health_status=status,
        connection_count=conns,
        is_flapping=flapping,
        created_at=T0 + timedelta(seconds=n),
    )


def test_priority_picks_lowest_priority_then_highest_weight():
    fleet = [inst("a", 1), inst("b", 5, 10), inst("c", 5, 90), inst("d", 2, status=HealthStatus.UNHEALTHY)]
    assert choose_target(fleet, "a", Strategy.PRIORITY).id == "c"


def test_round_robin_takes_the_next_healthy_after_the_active_and_wraps():
    fleet = [inst("a", 1), inst("b", 2, status=HealthStatus.UNHEALTHY), inst("c", 3), inst("d", 4)]
    assert choose_target(fleet, "a", Strategy.ROUND_ROBIN).id == "c"
    assert choose_target(fleet, "d", Strategy.ROUND_ROBIN).id == "a"


def test_least_connections_uses_latest_connection_counts():
    fleet = [inst("a", 1, conns=5), inst("b", 2, conns=50), inst("c", 3, conns=7)]
    assert choose_target(fleet, "a", Strategy.LEAST_CONNECTIONS).id == "c"


def test_flapping_and_unknown_instances_are_never_targets():
    fleet = [inst("a", 1), inst("b", 2, flapping=True), inst("c", 3, status=HealthStatus.UNKNOWN)]
    assert choose_target(fleet, "a", Strategy.PRIORITY) is None


def test_instances_in_maintenance_are_never_targets():
    away = Maintenance(datetime(2030, 1, 1, tzinfo=UTC), "patching", "ops")
    fleet = [inst("a", 1), inst("b", 2)._replace(maintenance=away), inst("c", 3)]
    assert choose_target(fleet, "a", Strategy.PRIORITY).id == "c"
    assert [i.id for i in failover_order(fleet, "a", Strategy.ROUND_ROBIN)] == ["c"]


fleets = st.lists(
    st.builds(
        inst,
        name=st.uuids().map(str),
        priority=st.integers(0, 5),
        weight=st.integers(0, 5),
        status=st.sampled_from(list(HealthStatus)),
        conns=st.none() | st.integers(0, 9),
        flapping=st.booleans(),
        n=st.integers(0, 100),
    ),
    max_size=8,
    unique_by=lambda i: i.id,
)


@given(fleets, st.sampled_from(list(Strategy)), st.data())
def test_targets_are_always_eligible_non_active_and_every_eligible_backup_is_listed(fleet, strategy, data):
    active = data.draw(st.sampled_from([i.id for i in fleet])) if fleet else None
    order = failover_order(fleet, active, strategy)
    assert all(
        i.health_status is HealthStatus.HEALTHY and not i.is_flapping and i.id != active for i in order
    )
    eligible = {i.id for i in fleet if i.health_status is HealthStatus.HEALTHY and not i.is_flapping} - {
        active
    }
    assert {i.id for i in order} == eligible
