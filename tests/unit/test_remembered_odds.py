"""When a process stops trying its copies of proxies: most recent guards failed (the proxies are
written by other processes too), and it tries again once they would pay."""

from __future__ import annotations

from proxy_failover.store.remembered import Odds


def _tried(odds: Odds, writes: int) -> int:
    return sum(odds.worth_trying() for _ in range(writes))


def test_a_copy_that_is_mostly_current_is_always_tried():
    odds = Odds()
    for k in range(200):
        assert odds.worth_trying()
        odds.record(current=k % 3 != 0)  # one in three stale: still pays


def test_a_copy_that_is_mostly_stale_is_tried_one_write_in_eight():
    odds = Odds(warm_up=16, sample_every=8)
    for _ in range(16):
        assert odds.worth_trying()
        odds.record(current=False)
    assert _tried(odds, 80) == 10


def test_tries_resume_once_the_sampled_ones_find_the_copy_current():
    odds = Odds(window=64, warm_up=16, sample_every=8)
    for _ in range(40):
        odds.record(current=False)
    assert not all(odds.worth_trying() for _ in range(8))
    for _ in range(200):  # the pattern changed: one process now sees the proxy's writes
        if odds.worth_trying():
            odds.record(current=True)
    assert _tried(odds, 20) == 20


def test_the_first_writes_are_tried_whatever_they_find():
    odds = Odds(warm_up=16)
    tried = 0
    for _ in range(16):
        tried += odds.worth_trying()
        odds.record(current=False)
    assert tried == 16
