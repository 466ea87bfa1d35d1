"""Storms, counted where they are decided: the `page_storm` function, called by the statement that
follows each write's COMMIT (`storm_after_commit`), on real PostgreSQL. More than the threshold of one
owner's proxies paging within a sliding minute opens one storm (its fleet_incident once), which lasts
a minute past the last page that kept it over; concurrent writers of one owner count each other."""

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


def _decide(db, owner, proxies, outbox_ids, at, threshold=3):
    import json

    pages = [{"owner_id": owner, "proxy_ids": proxies, "outbox_ids": outbox_ids}]
    return db.autocommit().rows_as_dicts(
        "SELECT * FROM storm_after_commit(CAST(:pages AS jsonb), CAST(:at AS timestamptz), :threshold, 30)",
        pages=json.dumps(pages),
        at=at,
        threshold=threshold,
    )


def _outbox_row(db, owner, proxy):
    import json
    import uuid

    notice_id = str(uuid.uuid4())
    message = {"id": notice_id, "type": "failover", "severity": "critical", "proxyId": proxy}
    db.autocommit().run(
        "INSERT INTO notification_outbox (id, type, proxy_id, user_id, severity, message, next_attempt_at)"
        " VALUES (CAST(:id AS uuid), 'failover', :proxy, :owner, 'critical', CAST(:message AS jsonb), now())",
        id=notice_id,
        proxy=proxy,
        owner=owner,
        message=json.dumps(message),
    )
    return notice_id


def test_after_the_commit_only_writes_that_committed_are_counted(db):
    """The storm statement follows the write's COMMIT in the same message: when the write rolled back,
    its notifications are not in the outbox, and nothing of it is counted."""
    import uuid

    assert _decide(db, "owner", ["gone"], [str(uuid.uuid4())], T0) == []
    assert db.autocommit().run("SELECT count(*) FROM fleet_page_last")[0][0] == 0
    committed = _outbox_row(db, "owner", "here")
    assert _decide(db, "owner", ["here"], [committed], T0) == []  # counted, below the threshold
    assert db.autocommit().run("SELECT count(*) FROM fleet_page_last")[0][0] == 1


def test_after_the_commit_a_storm_demotes_the_writes_pages_and_the_opener_adds_its_incident(db):
    for k in range(3):
        _decide(db, "owner", [f"p{k}"], [_outbox_row(db, "owner", f"p{k}")], T0 + timedelta(seconds=k))
    fourth = _outbox_row(db, "owner", "p3")
    changed = _decide(db, "owner", ["p3"], [fourth], T0 + timedelta(seconds=3))
    incident, demoted = changed
    assert incident["type"] == "fleet_incident" and incident["severity"] == "critical" and incident["n"] == 0
    assert incident["message"]["count"] == 4 and incident["message"]["proxyIds"] == ["p3", "p2", "p1", "p0"]
    assert demoted["id"] == fourth and demoted["severity"] == "warning"
    assert demoted["message"]["fleetIncidentId"] == incident["message"]["correlationId"]
    # the next page of the storm is demoted, and opens nothing
    (later,) = _decide(db, "owner", ["p4"], [_outbox_row(db, "owner", "p4")], T0 + timedelta(seconds=4))
    assert later["severity"] == "warning" and later["type"] == "failover"


def test_forty_concurrent_failovers_of_one_owner_open_one_storm_through_the_engine(db, sns, monkeypatch):
    """The race test of the whole path: 40 proxies of one owner failing over at once, each write
    deciding its storm after its own COMMIT; every page counted, exactly one fleet_incident."""
    from proxy_failover.domain.models import HealthStatus
    from proxy_failover.identity import Principal
    from proxy_failover.service import FailoverService
    from proxy_failover.settings import reset_settings

    from tests.helpers import drain

    monkeypatch.setenv("NOTIFY_STORM_THRESHOLD", "20")
    reset_settings()
    owner = Principal("racer")
    service = FailoverService(db)
    primaries = []
    for k in range(40):
        service.put_config(owner, f"r{k}", {"unhealthy_threshold": 1, "healthy_threshold": 1})
        ids = [
            str(
                service.register_instance(
                    owner,
                    f"r{k}",
                    {"instance_name": n, "instance_type": "standard", "priority": p, "weight": 1},
                ).instance.id
            )
            for p, n in enumerate(("a", "b"))
        ]
        for i in ids:
            service.report_health(owner, i, HealthStatus.HEALTHY, None)
        primaries.append(ids[0])
    drain(sns)
    barrier = threading.Barrier(40)

    def fail(instance_id: str) -> None:
        barrier.wait()
        FailoverService(db).report_health(owner, instance_id, HealthStatus.UNHEALTHY, None)

    threads = [closing_thread(db, fail, i) for i in primaries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = drain(sns)
    failovers = [m for m in sent if m["type"] == "failover"]
    assert len(failovers) == 40
    (incident,) = [m for m in sent if m["type"] == "fleet_incident"]
    assert 20 < incident["count"] <= 40  # the pages committed when it opened: past the threshold
    critical = [m for m in sent if m["severity"] == "critical" and m["type"] != "fleet_incident"]
    paged_proxies = {m["proxyId"] for m in critical}
    assert len(paged_proxies) <= 20  # no more than the threshold's proxies page before the storm
    assert all(
        m.get("fleetIncidentId") == incident["correlationId"]
        for m in sent
        if m["severity"] == "warning" and m["type"] in ("failover", "instance_unhealthy")
    )
