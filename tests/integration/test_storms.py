"""Storms, counted where they are decided: the `page_storm` function of the write statement, on real
PostgreSQL. More than the threshold of one owner's proxies paging within a sliding minute opens one
storm (its fleet_incident once), which lasts a minute past the last page that kept it over; concurrent
writers of one owner count each other."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tests.helpers import closing_thread

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def page(db, proxies, at, threshold=3, owner="owner"):
    row = db.autocommit().one(
        "SELECT * FROM page_storm(:owner, CAST(:ids AS text[]), CAST(:at AS timestamptz), :threshold)",
        owner=owner,
        ids=list(proxies),
        at=at,
        threshold=threshold,
    )
    return row


def test_up_to_the_threshold_is_no_storm_and_one_more_opens_one(db):
    for k in range(3):
        verdict = page(db, [f"p{k}"], T0 + timedelta(seconds=k))
        assert not verdict["in_storm"] and not verdict["opened"]
    verdict = page(db, ["p3"], T0 + timedelta(seconds=3))
    assert verdict["in_storm"] and verdict["opened"] and verdict["paged"] == 4
    assert verdict["proxy_ids"] == ["p3", "p2", "p1", "p0"]  # newest first
    assert verdict["storm_id"] is not None


def test_a_proxy_that_pages_again_counts_once(db):
    for k in range(5):
        verdict = page(db, ["same"], T0 + timedelta(seconds=k))
    assert verdict["paged"] == 1 and not verdict["in_storm"]


def test_a_storm_opens_once_however_long_it_lasts(db):
    first = page(db, [f"p{k}" for k in range(5)], T0)
    assert first["opened"]
    for k in range(100):  # a page every second for 100 s
        verdict = page(db, [f"q{k}"], T0 + timedelta(seconds=k + 1))
        assert verdict["in_storm"] and not verdict["opened"]
        assert verdict["storm_id"] == first["storm_id"]


def test_the_storm_keeps_its_minute_then_a_new_burst_opens_a_new_one(db):
    opened = page(db, [f"p{k}" for k in range(5)], T0)
    later = page(db, ["x"], T0 + timedelta(seconds=30))  # the same minute
    assert later["in_storm"] and not later["opened"] and later["storm_id"] == opened["storm_id"]
    quiet = page(db, ["y"], T0 + timedelta(seconds=200))  # a quiet minute: one page
    assert not quiet["in_storm"]
    again = page(db, [f"r{k}" for k in range(5)], T0 + timedelta(seconds=201))
    assert again["opened"] and again["storm_id"] != opened["storm_id"]


def test_the_window_slides_and_forgets_pages_older_than_a_minute(db):
    page(db, ["a", "b", "c"], T0)  # at the threshold: no storm
    verdict = page(db, ["d"], T0 + timedelta(seconds=61))
    assert not verdict["in_storm"] and verdict["paged"] == 1


def test_a_fleet_incident_names_at_most_a_thousand_proxies(db):
    verdict = page(db, [f"p{k}" for k in range(1500)], T0, threshold=20)
    assert verdict["paged"] == 1500 and len(verdict["proxy_ids"]) == 1000


def test_owners_are_counted_apart(db):
    page(db, ["a", "b", "c"], T0, owner="one")
    verdict = page(db, ["a", "b", "c"], T0, owner="two")
    assert verdict["paged"] == 3 and not verdict["in_storm"]


def test_concurrent_writers_of_one_owner_count_each_other_and_open_one_storm(db):
    # Given 40 transactions of one owner, each paging for a proxy of its own, held open together
    barrier = threading.Barrier(40)
    verdicts: list[dict] = []
    lock = threading.Lock()

    def writer(k: int) -> None:
        barrier.wait()
        with db.transaction() as con:
            row = con.one(
                "SELECT * FROM page_storm('owner', CAST(:ids AS text[]), CAST(:at AS timestamptz), 20)",
                ids=[f"c{k}"],
                at=T0 + timedelta(milliseconds=k),
            )
        with lock:
            verdicts.append(row)

    threads = [closing_thread(db, writer, k) for k in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every page was counted (21 of them over the threshold of 20) and exactly one opened the storm
    assert sorted(v["paged"] for v in verdicts) == list(range(1, 41))
    assert sum(1 for v in verdicts if v["opened"]) == 1
    assert sum(1 for v in verdicts if v["in_storm"]) == 20
