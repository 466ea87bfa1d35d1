"""The routing answer: the active instance alone, or shares by the load-balancing algorithm."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxy_failover.domain.models import LoadBalancingAlgorithm as Algorithm
from proxy_failover.domain.routing import Candidate, answer

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
