"""The routing answer: the active instance alone, or shares by the load-balancing algorithm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxy_failover.domain.models import FailoverConfig, HealthStatus, Instance
from proxy_failover.domain.models import LoadBalancingAlgorithm as Algorithm
from proxy_failover.domain.routing import (
    SHARE_STEP,
    Candidate,
    answer,
    decide_route,
    ramp_ends,
    route_from_json,
    route_json,
    shares_at,
)

ACTIVE = Candidate("a", "10.0.0.1:8443", 100, 3)


def shares(algorithm, candidates):
    found = answer(
        "p", ACTIVE, load_balancing=True, algorithm=algorithm, candidates=candidates, degraded=False
    )
    return {t.instance_id: t.share for t in found.targets}


def test_without_load_balancing_the_active_takes_everything():
    found = answer(
        "p", ACTIVE, load_balancing=False, algorithm=Algorithm.WEIGHTED, candidates=[], degraded=True
    )
    assert found.algorithm is None and found.endpoint == "10.0.0.1:8443" and found.degraded
    assert [(t.instance_id, t.share) for t in found.targets] == [("a", 1.0)]


def test_weighted_shares_follow_the_weights():
    assert shares(Algorithm.WEIGHTED, [Candidate("a", "x", 1, 0), Candidate("b", "y", 3, 0)]) == {
        "a": 0.25,
        "b": 0.75,
    }


def test_round_robin_shares_are_equal():
    assert shares(Algorithm.ROUND_ROBIN, [Candidate(k, None, k == "a", 0) for k in "abcd"]) == dict.fromkeys(
        "abcd", 0.25
    )


def test_least_connections_sends_more_to_the_idler():
    found = shares(
        Algorithm.LEAST_CONNECTIONS, [Candidate("busy", None, 1, 9), Candidate("idle", None, 1, 0)]
    )
    assert found == {"busy": pytest.approx(1 / 11), "idle": pytest.approx(10 / 11)}


def test_with_nobody_to_balance_over_the_active_takes_everything():
    found = answer(
        "p", ACTIVE, load_balancing=True, algorithm=Algorithm.WEIGHTED, candidates=[], degraded=True
    )
    assert found.algorithm is Algorithm.WEIGHTED and [(t.instance_id, t.share) for t in found.targets] == [
        ("a", 1.0)
    ]


@given(
    algorithm=st.sampled_from(list(Algorithm)),
    weights=st.lists(
        st.tuples(st.integers(0, 1000), st.none() | st.integers(0, 10_000)), min_size=1, max_size=50
    ),
)
def test_shares_always_sum_to_one_and_are_never_negative(algorithm, weights):
    candidates = [Candidate(str(k), None, w, c) for k, (w, c) in enumerate(weights)]
    found = shares(algorithm, candidates)
    assert sum(found.values()) == pytest.approx(1.0, abs=1e-9) and all(v >= 0 for v in found.values())


# -- the answer a write decides: steady least-connections shares, slow start ------------------------

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LC = FailoverConfig(enable_load_balancing=True, load_balancing_algorithm=Algorithm.LEAST_CONNECTIONS)


def fleet(*connections: int, healthy: tuple[bool, ...] | None = None) -> list[Instance]:
    states = healthy or tuple(True for _ in connections)
    return [
        Instance(
            f"i{k}",
            "p",
            f"n{k}",
            priority=k,
            created_at=NOW,
            health_status=HealthStatus.HEALTHY if ok else HealthStatus.UNHEALTHY,
            connection_count=c,
        )
        for k, (c, ok) in enumerate(zip(connections, states, strict=True))
    ]


def decided(instances, config=LC, previous=None, now=NOW):
    return decide_route("p", instances, "i0", config, degraded=False, previous=previous, now=now)


def test_least_connections_shares_move_only_past_the_step():
    first = decided(fleet(10, 10))
    assert [t.share for t in first.targets] == [0.5, 0.5]
    nudged = decided(fleet(11, 10), previous=first)  # 0.478 / 0.522: under the step
    assert nudged == first
    moved = decided(fleet(30, 10), previous=first)  # 0.262 / 0.738: past it
    assert moved != first
    assert abs(moved.targets[0].share - first.targets[0].share) >= SHARE_STEP
    # one target fewer is a change whatever the shares
    assert decided(fleet(10, 10, healthy=(True, False)), previous=first) != first


def test_other_algorithms_follow_their_inputs_exactly():
    config = LC._replace(load_balancing_algorithm=Algorithm.WEIGHTED)
    first = decided(fleet(1, 1), config)
    assert decided(fleet(50, 1), config, previous=first) == first  # connections do not matter


def test_slow_start_ramps_a_returning_target_and_the_answer_stays_still_during_the_ramp():
    config = LC._replace(load_balancing_algorithm=Algorithm.ROUND_ROBIN, slow_start_seconds=60)
    alone = decided(fleet(0, 0, healthy=(True, False)), config)
    assert [t.ramp for t in alone.targets] == [None]  # one target: nothing to ramp
    back = decided(fleet(0, 0), config, previous=alone)
    ramp = back.targets[1].ramp
    assert back.targets[0].ramp is None and ramp is not None
    assert (ramp.starts_at, ramp.ends_at, ramp.start) == (NOW, NOW + timedelta(seconds=60), 0.1)
    assert ramp_ends(back) == NOW + timedelta(seconds=60)
    # half-way: still the same answer (the share of the moment is computed, not stored)
    later = decided(fleet(0, 0), config, previous=back, now=NOW + timedelta(seconds=30))
    assert later == back
    moment = shares_at(back, NOW + timedelta(seconds=30))
    assert moment[1] == pytest.approx(0.5 * 0.55 / (0.5 + 0.5 * 0.55))
    assert sum(moment) == pytest.approx(1.0)
    assert shares_at(back, NOW)[1] == pytest.approx(0.05 / 0.55)
    # over: the ramp goes, and that is a change
    over = decided(fleet(0, 0), config, previous=back, now=NOW + timedelta(seconds=60))
    assert over != back and [t.ramp for t in over.targets] == [None, None]
    assert ramp_ends(over) is None


def test_a_first_answer_ramps_nothing_and_without_load_balancing_nothing_ramps():
    config = LC._replace(slow_start_seconds=60)
    assert all(t.ramp is None for t in decided(fleet(0, 0), config).targets)
    plain = FailoverConfig(slow_start_seconds=60)
    first = decided(fleet(0, 0, healthy=(True, False)), plain)
    assert all(t.ramp is None for t in decided(fleet(0, 0), plain, previous=first).targets)


def test_no_active_instance_no_answer():
    assert decide_route("p", [], None, LC, degraded=True, previous=None, now=NOW) is None


def test_the_stored_form_reads_back_as_the_same_answer():
    config = LC._replace(load_balancing_algorithm=Algorithm.ROUND_ROBIN, slow_start_seconds=60)
    alone = decided(fleet(0, 0, healthy=(True, False)), config)
    back = decided(fleet(0, 0), config, previous=alone)
    stored = route_json(back, 3)
    del stored["version"]
    assert route_from_json(stored) == back
