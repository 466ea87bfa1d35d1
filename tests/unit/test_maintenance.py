"""Maintenance, pure: never a target or a backup, no cause of degradation, no alerts, ended when its
time is up; and the reason a made-up check carries into its notice."""

from __future__ import annotations

from datetime import timedelta

from proxy_failover.domain import maintenance
from proxy_failover.domain.decisions import reconcile
from proxy_failover.domain.health import apply_check
from proxy_failover.domain.models import FailoverConfig, Maintenance, Transition
from proxy_failover.domain.notices import maintenance_notices
from proxy_failover.domain.redundancy import assess

from .test_decisions import T0, H, U, inst

AWAY = Maintenance(T0 + timedelta(hours=1), "kernel patch", "ops")


def away(instance):
    return instance._replace(maintenance=AWAY)


def test_an_instance_in_maintenance_is_neither_backup_nor_cause_of_degradation():
    fleet = [inst("a", 1), away(inst("b", 2, U, failures=3, successes=0)), inst("c", 3)]
    posture = assess(fleet, "a", FailoverConfig().failover_strategy)
    assert posture.backup_instance_ids == ("c",)
    assert not posture.is_degraded, posture.degraded_reasons


def test_a_backup_away_for_maintenance_is_not_a_missing_backup():
    fleet = [inst("a", 1), away(inst("b", 2))]
    posture = assess(fleet, "a", FailoverConfig().failover_strategy)
    assert posture.backup_instance_ids == () and not posture.is_degraded


def test_the_active_instance_in_maintenance_degrades_the_proxy_with_its_own_reason():
    fleet = [away(inst("a", 1)), inst("b", 2, U, failures=3, successes=0)]
    posture = assess(fleet, "a", FailoverConfig().failover_strategy)
    assert posture.is_degraded and "active_in_maintenance" in posture.degraded_reasons
    assert "active_unhealthy" not in posture.degraded_reasons


def test_checks_of_an_instance_in_maintenance_send_no_alerts_and_open_no_recovery():
    fleet = [inst("a", 1), away(inst("b", 2, U, failures=3, successes=0)), inst("c", 3)]
    turned = Transition("b", H, U, T0)
    plan = reconcile(fleet, "a", FailoverConfig(), previous=None, transitions=[turned], now=T0)
    assert plan.notices == [] and plan.recovery == []


def test_an_instance_in_maintenance_is_never_a_failover_or_failback_target():
    config = FailoverConfig(enable_auto_recovery=True)
    dead_active = inst("a", 2, U, failures=3, successes=0)
    plan = reconcile([dead_active, away(inst("b", 1)), inst("c", 3)], "a", config, previous=None, now=T0)
    assert plan.switch.target_instance_id == "c"
    # the preferred instance (priority 1) is healthy, but away: no failback to it
    later = T0 + timedelta(hours=1)
    plan = reconcile([away(inst("b", 1)), inst("c", 3)], "c", config, previous=None, now=later)
    assert plan.switch is None


def test_maintenance_ends_when_its_time_is_up():
    fleet = [away(inst("a", 1)), inst("b", 2)]
    assert maintenance.expire(fleet, AWAY.until - timedelta(seconds=1)) == fleet
    after = maintenance.expire(fleet, AWAY.until)
    assert [i.maintenance for i in after] == [None, None]
    started, ended = maintenance.started_and_ended(fleet, after)
    assert started == [] and [i.id for i in ended] == ["a"]
    (notice,) = maintenance_notices(started, ended)
    assert notice.type == "maintenance_ended" and notice.severity == "info"


def test_maintenance_started_names_its_time_reason_and_who():
    started, ended = maintenance.started_and_ended([inst("a", 1)], [away(inst("a", 1))])
    (notice,) = maintenance_notices(started, ended)
    assert notice.type == "maintenance_started" and notice.severity == "info"
    assert notice.details == {
        "instanceId": "a",
        "instanceName": "a",
        "until": AWAY.until.isoformat(),
        "reason": "kernel patch",
        "startedBy": "ops",
    }


def test_a_made_up_failed_check_carries_its_reason_but_is_no_sign_of_life():
    config = FailoverConfig(unhealthy_threshold=1)
    seen = T0 - timedelta(minutes=5)
    checked, transition = apply_check(
        inst("a", 1)._replace(last_result_at=seen), U, config, T0, reason="report_ttl_expired", real=False
    )
    assert checked.last_result_at == seen and checked.last_health_check == T0
    assert transition.reason == "report_ttl_expired"
    plan = reconcile([checked, inst("b", 2)], "b", config, previous=None, transitions=[transition], now=T0)
    (notice,) = [n for n in plan.notices if n.type == "instance_unhealthy"]
    assert notice.details["reason"] == "report_ttl_expired"
