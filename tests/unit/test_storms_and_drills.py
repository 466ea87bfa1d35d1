"""Drills and incidents, pure: how a drill ends, and which notifications share an incident's
correlation id. (Storms are counted by the store: tests/integration/test_storms.py.)"""

from __future__ import annotations

from datetime import timedelta

from proxy_failover.domain import drills
from proxy_failover.domain.decisions import reconcile
from proxy_failover.domain.health import apply_check
from proxy_failover.domain.models import Drill, EventStatus, EventType, FailoverConfig, Maintenance, Switch

from .test_decisions import T0, H, U, inst

# -- drills ------------------------------------------------------------------------------------------

DRILL = Drill("event-1", T0 + timedelta(minutes=5), return_to="a")
DUE = DRILL.until


def test_a_drill_runs_until_its_time_is_up():
    assert drills.conclude(DRILL, [inst("a", 1), inst("b", 2)], "b", DUE - timedelta(seconds=1)) is None


def test_a_due_drill_switches_back_to_a_healthy_original():
    end = drills.conclude(DRILL, [inst("a", 1), inst("b", 2)], "b", DUE)
    assert end.status is EventStatus.COMPLETED
    assert (end.switch.event_type, end.switch.source_instance_id, end.switch.target_instance_id) == (
        EventType.FAILBACK,
        "b",
        "a",
    )


def test_a_due_drill_fails_when_the_original_may_not_take_traffic():
    away = Maintenance(DUE + timedelta(hours=1), "patch", "ops")
    for original, why in [
        (inst("a", 1, U, failures=3, successes=0), "is unhealthy"),
        (inst("a", 1)._replace(maintenance=away), "is in maintenance"),
        (inst("a", 1)._replace(is_flapping=True), "is flapping"),
    ]:
        end = drills.conclude(DRILL, [original, inst("b", 2)], "b", DUE)
        assert end.switch is None and end.status is EventStatus.FAILED
        assert why in end.error and "the proxy stays on b" in end.error
    gone = drills.conclude(DRILL, [inst("b", 2)], "b", DUE)
    assert gone.status is EventStatus.FAILED and "gone" in gone.error


def test_a_drill_already_back_completes_without_a_switch():
    end = drills.conclude(DRILL, [inst("a", 1), inst("b", 2)], "a", DUE)
    assert end == drills.DrillEnd(None, EventStatus.COMPLETED)


def test_no_failback_while_a_drill_holds_the_proxy_elsewhere():
    fleet = [inst("a", 1, changed=T0 - timedelta(hours=1)), inst("b", 2)]
    config = FailoverConfig(failback_hold_down_seconds=0)
    assert reconcile(fleet, "b", config, previous=None, now=T0).switch is not None  # normally: back to a
    assert reconcile(fleet, "b", config, previous=None, now=T0, hold_failback=True).switch is None


# -- incidents ---------------------------------------------------------------------------------------


def test_an_instance_turning_unhealthy_opens_an_incident_that_its_notices_share():
    config = FailoverConfig(unhealthy_threshold=1, healthy_threshold=1, failback_hold_down_seconds=0)
    down, turned = apply_check(inst("a", 1), U, config, T0)
    assert down.incident_id is not None
    plan = reconcile([down, inst("b", 2)], "a", config, previous=None, transitions=[turned], now=T0)
    by_type = {n.type: n.correlation_id for n in plan.notices}
    assert (
        by_type["instance_unhealthy"] == by_type["failover"] == by_type["recovery_needed"] == down.incident_id
    )

    later = T0 + timedelta(minutes=1)
    up, back = apply_check(plan.instances[0], H, config, later)
    assert up.incident_id == down.incident_id  # the same incident until it turns unhealthy again
    plan = reconcile([up, plan.instances[1]], "b", config, previous=None, transitions=[back], now=later)
    by_type = {n.type: n.correlation_id for n in plan.notices}
    assert by_type["instance_healthy"] == by_type["failback"] == down.incident_id

    again, _ = apply_check(up, U, config, later + timedelta(minutes=1))
    assert again.incident_id not in {None, down.incident_id}  # a new incident


def test_a_drill_switch_says_it_is_a_drill():
    fleet = [inst("a", 1), inst("b", 2)]
    drill = Switch(EventType.DRILL, "a", "b", "quarterly")
    plan = reconcile(fleet, "a", FailoverConfig(), previous=None, now=T0, requested=drill)
    (notice,) = plan.notices
    assert notice.type == "failover" and notice.drill and notice.severity == "critical"
