"""A health report takes one of two paths: one statement when it only moves counters, the engine when
it changes a status. The process remembers each instance as its last answer left it and sends a
report it expects to change the status straight to the engine. These tests hold that the memory only
ever chooses a path: the domain's rule agrees with the statement's, and a report predicted wrongly
either way is answered and stored exactly as one predicted right. Also the driver's decoding of
arrays and ids that the hot path relies on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_failover.domain.health import Judged, report_settles
from proxy_failover.domain.models import HealthStatus
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.service import health as health_service
from proxy_failover.store import report
from proxy_failover.store.db import array_literal

OWNER = Principal("paths-owner")
RESULTS = st.sampled_from([HealthStatus.HEALTHY, HealthStatus.UNHEALTHY])


def _fleet(service: FailoverService, proxy: str, fall: int, rise: int) -> list[str]:
    service.put_config(OWNER, proxy, {"unhealthy_threshold": fall, "healthy_threshold": rise})
    return [
        str(
            service.register_instance(
                OWNER,
                proxy,
                {"instance_name": name, "instance_type": "standard", "priority": k, "weight": 100},
            ).instance.id
        )
        for k, name in enumerate(("a", "b"))
    ]


def _instance(service: FailoverService, proxy: str, instance_id: str):
    return next(
        i.instance for i in service.list_instances(OWNER, proxy).items if i.instance.id == instance_id
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fall=st.integers(1, 3),
    rise=st.integers(1, 3),
    history=st.lists(RESULTS, max_size=6),
    result=RESULTS,
)
def test_the_domain_rule_agrees_with_the_one_statement_path(db, fall, rise, history, result):
    """Whatever the state and thresholds, `report_settles` says True exactly when the one statement
    applies (a report it calls False falls through to the engine)."""
    service = FailoverService(db)
    proxy = f"rule-{fall}-{rise}-{len(history)}-{datetime.now(UTC).timestamp()}"
    a, _b = _fleet(service, proxy, fall, rise)
    for past in history:
        service.report_health(OWNER, a, past, None)
    before = _instance(service, proxy, a)
    expected = report_settles(before, result, Judged(fall, rise, False), connections=False)
    con = db.connection()
    con.begin_pending = True  # the statement's effect is looked at, then rolled back
    found, listed, judged = report.report_fast(con, a, OWNER, result, datetime.now(UTC), None)
    con.run("ROLLBACK")
    assert found
    assert (listed is not None) == expected, (before.health_status, before.consecutive_failures, result)
    if listed is not None:
        assert judged is not None
        assert (judged.unhealthy_threshold, judged.healthy_threshold) == (fall, rise)


@pytest.mark.parametrize("wrong", ["expects a change", "expects none"])
def test_a_report_predicted_wrongly_is_answered_and_stored_as_one_predicted_right(db, wrong):
    """Two proxies alike; the process's memory of one instance is wrong, of the other right. The same
    report to each gets the same answer and leaves the same state and history."""
    service = FailoverService(db)
    misled, guided = _fleet(service, "misled", 2, 2)[0], _fleet(service, "guided", 2, 2)[0]
    if wrong == "expects a change":
        # both healthy; a healthy report changes nothing, but memory of one says it was unhealthy
        status = HealthStatus.HEALTHY
        for instance_id in (misled, guided):
            service.report_health(OWNER, instance_id, HealthStatus.HEALTHY, None)
        seen = _instance(service, "misled", misled)._replace(health_status=HealthStatus.UNHEALTHY)
        health_service._remember(seen, Judged(2, 1, False))
    else:
        # both one failure from unhealthy; memory of one says five are needed
        status = HealthStatus.UNHEALTHY
        for instance_id in (misled, guided):
            service.report_health(OWNER, instance_id, HealthStatus.HEALTHY, None)
            service.report_health(OWNER, instance_id, HealthStatus.UNHEALTHY, None)
        health_service._remember(_instance(service, "misled", misled), Judged(5, 5, False))
    assert health_service._expects_change(misled, status, None) is (wrong == "expects a change")
    assert health_service._expects_change(guided, status, None) is (wrong == "expects none")
    answered = [service.report_health(OWNER, i, status, None) for i in (misled, guided)]
    stored = [_instance(service, "misled", misled), _instance(service, "guided", guided)]
    for left, right in ((answered[0].instance, answered[1].instance), (stored[0], stored[1])):
        assert left.health_status == right.health_status
        assert (left.consecutive_failures, left.consecutive_successes) == (
            right.consecutive_failures,
            right.consecutive_successes,
        )
        assert (left.reports_recorded, left.status_changes == (), left.incident_id is None) == (
            right.reports_recorded,
            right.status_changes == (),
            right.incident_id is None,
        )
    assert answered[0].is_active == answered[1].is_active
    counted = db.autocommit().run(
        "SELECT instance_id, count(*) FROM check_results WHERE instance_id = ANY(CAST(:ids AS uuid[]))"
        " GROUP BY instance_id",
        ids=[misled, guided],
    )
    assert len(counted) == 2 and counted[0][1] == counted[1][1]  # as many checks recorded either way


def test_a_status_change_the_process_foresaw_skips_the_one_statement_path(db):
    service = FailoverService(db)
    a, _b = _fleet(service, "foreseen", 1, 1)
    # every statement prepared, those of its flapping too (from the fourth change on)
    for status in (HealthStatus.HEALTHY, HealthStatus.UNHEALTHY) * 3:
        service.report_health(OWNER, a, status, None)
    con = db.connection()

    def trips(status: HealthStatus) -> int:
        before = con.round_trips
        service.report_health(OWNER, a, status, None)
        return con.round_trips - before

    foreseen = trips(HealthStatus.HEALTHY)  # remembered unhealthy: straight to the engine
    health_service._last_seen.pop(a)
    unforeseen = trips(HealthStatus.UNHEALTHY)  # not remembered: tries the statement, falls through
    assert _instance(service, "foreseen", a).health_status is HealthStatus.UNHEALTHY
    # the engine's write is one round trip here (the proxy as this process last wrote it, guarded)
    assert (foreseen, unforeseen) == (1, 2)


TRICKY = [
    "plain",
    "",
    "with,comma",
    'with "quotes"',
    "back\\slash",
    "{braces}",
    "NULL",
    "null",
    " spaced ",
    "é✓",
    "a\nb",
]


def test_text_and_uuid_arrays_and_ids_come_back_as_they_were_stored(db):
    con = db.autocommit()
    (texts,) = con.run("SELECT CAST(:values AS text[])", values=TRICKY)[0:1]
    assert texts[0] == TRICKY
    assert con.run("SELECT CAST('{}' AS text[]), CAST(NULL AS text[])")[0] == [[], None]
    assert con.run("SELECT ARRAY['x', NULL]::text[]")[0][0] == ["x", None]
    assert con.run("SELECT ARRAY[ARRAY['a','b'],ARRAY['c','d']]::text[]")[0][0] == [["a", "b"], ["c", "d"]]
    ids = ["6f1c0d7e-2b1a-4f5e-9d3c-8a7b6c5d4e3f", "00000000-0000-4000-8000-000000000000"]
    row = con.run(
        "SELECT CAST(:one AS uuid), CAST(:ids AS uuid[])", one=ids[0].upper(), ids=array_literal(ids)
    )[0]
    assert row == [ids[0], ids]
