"""Evaluate, failback, recovery, flap damping and the never-zero-active rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from proxy_failover.domain.decisions import check_manual_switch, evaluate, reconcile
from proxy_failover.domain.models import EventType, FailoverConfig, HealthStatus, Instance
from proxy_failover.errors import InvalidFailoverTarget, SourceNotActive, TargetNotHealthy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H, U = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY


def inst(name, priority, status=H, failures=0, successes=3, changed=None, **extra):
    return Instance(
        id=name,
        proxy_id="p",
        name=name,
        priority=priority,
        health_status=status,
        consecutive_failures=failures,
        consecutive_successes=successes,
        last_status_change=changed,
        created_at=T0,
        **extra,
    )


def test_evaluate_recommends_the_strategy_target_only_when_the_active_is_down():
    dead = inst("a", 1, U, failures=3, successes=0)
    fleet = [dead, inst("b", 2), inst("c", 3)]
    decision = evaluate(fleet, "a", FailoverConfig())
    assert decision.should_failover and decision.target_instance_id == "b"
    assert not evaluate([inst("a", 1), inst("b", 2)], "a", FailoverConfig()).should_failover


@pytest.mark.parametrize(
    ("fleet", "config", "reason"),
    [
        (
            [inst("a", 1, U, failures=3), inst("b", 2)],
            FailoverConfig(enable_auto_failover=False),
            "auto_failover_disabled",
        ),
        ([inst("a", 1, U, failures=3), inst("b", 2, U)], FailoverConfig(), "no_healthy_backup"),
        ([inst("a", 1, U, failures=1), inst("b", 2)], FailoverConfig(), "below_unhealthy_threshold"),
        ([], FailoverConfig(), "no_active_instance"),
        ([inst("a", 1), inst("b", 2)], FailoverConfig(), "active_instance_healthy"),
        # never checked yet: not "healthy", and nothing to fail over from either
        ([inst("a", 1, HealthStatus.UNKNOWN), inst("b", 2)], FailoverConfig(), "active_instance_unknown"),
    ],
)
def test_evaluate_says_why_not(fleet, config, reason):
    decision = evaluate(fleet, "a" if fleet else None, config)
    assert not decision.should_failover and decision.reason == reason


def test_no_healthy_backup_keeps_the_active_and_reports_degraded():
    fleet = [inst("a", 1, U, failures=5, successes=0), inst("b", 2, U, failures=5, successes=0)]
    plan = reconcile(fleet, "a", FailoverConfig(), previous=None, now=T0)
    assert plan.switch is None and plan.active_instance_id == "a"
    assert plan.redundancy.is_degraded
    assert set(plan.redundancy.degraded_reasons) >= {"active_unhealthy", "no_healthy_backup"}


def test_failback_waits_for_the_hold_down_and_then_moves_back_once():
    config = FailoverConfig(failback_hold_down_seconds=60)
    primary = inst("a", 1, successes=2, changed=T0)
    fleet = [primary, inst("b", 2)]
    early = reconcile(fleet, "b", config, previous=None, now=T0 + timedelta(seconds=30))
    assert early.switch is None
    late = reconcile(fleet, "b", config, previous=None, now=T0 + timedelta(seconds=61))
    assert late.switch is not None and late.switch.event_type is EventType.FAILBACK
    assert late.active_instance_id == "a"
    again = reconcile(late.instances, "a", config, previous=late.redundancy, now=T0 + timedelta(seconds=62))
    assert again.switch is None


def test_no_failback_without_auto_recovery_or_for_other_strategies():
    fleet = [inst("a", 1, changed=T0), inst("b", 2)]
    later = T0 + timedelta(hours=1)
    assert (
        reconcile(fleet, "b", FailoverConfig(enable_auto_recovery=False), previous=None, now=later).switch
        is None
    )


def test_recovery_notices_back_off_exponentially_then_ask_for_manual_attention():
    config = FailoverConfig(recovery_backoff_seconds=5, max_recovery_attempts=3)
    fleet = [inst("a", 1), inst("b", 2, U, failures=3, successes=0)]
    now, notices, steps = T0, [], []
    due = []
    for _ in range(10):
        plan = reconcile(fleet, "a", config, previous=None, now=now)
        notices += [
            n.type for n in plan.notices if n.type in {"recovery_needed", "manual_attention_required"}
        ]
        steps += [s.action for s in plan.recovery]
        fleet = plan.instances
        b = fleet[1]
        if b.next_recovery_at:
            due.append((b.next_recovery_at - now).total_seconds())
            now = b.next_recovery_at
        else:
            now += timedelta(seconds=1)
    assert notices == ["recovery_needed"] * 3 + ["manual_attention_required"]
    assert due == [5, 10, 20]
    assert steps == ["open", "fail"]


def test_recovery_backoff_stops_doubling_at_one_day():
    # The API allows 1,000 attempts of a day's backoff: doubling without a cap leaves the calendar
    config = FailoverConfig(recovery_backoff_seconds=86400, max_recovery_attempts=1000)
    fleet = [inst("a", 1), inst("b", 2, U, failures=3, successes=0, recovery_attempts=600)]
    plan = reconcile(fleet, "a", config, previous=None, now=T0)
    assert plan.instances[1].recovery_attempts == 601
    assert plan.instances[1].next_recovery_at - T0 <= timedelta(days=1.2)


def test_recovery_cycle_closes_when_the_instance_is_healthy_again():
    fleet = [inst("a", 1), inst("b", 2, H, recovery_attempts=2)]
    plan = reconcile(fleet, "a", FailoverConfig(), previous=None, now=T0)
    assert [s.action for s in plan.recovery] == ["complete"]
    assert plan.instances[1].recovery_attempts == 0


def test_a_flapping_instance_keeps_one_recovery_cycle_and_its_backoff_across_its_flaps():
    config = FailoverConfig(recovery_backoff_seconds=60, max_recovery_attempts=3)
    fleet = [inst("a", 1), inst("b", 2, U, failures=3, successes=0, is_flapping=True)]
    now, notices, steps = T0, [], []
    for k in range(10):  # down and up every second, well within the backoff
        plan = reconcile(fleet, "a", config, previous=None, now=now)
        notices += [n.type for n in plan.notices if n.type == "recovery_needed"]
        steps += [s.action for s in plan.recovery]
        b = plan.instances[1]._replace(health_status=H if k % 2 == 0 else U)
        fleet = [plan.instances[0], b]
        now += timedelta(seconds=1)
    assert notices == ["recovery_needed"] and steps == ["open"]
    assert fleet[1].recovery_attempts == 1
    # once it stops flapping and is healthy, the cycle closes
    fleet = [fleet[0], fleet[1]._replace(health_status=H, is_flapping=False)]
    plan = reconcile(fleet, "a", config, previous=None, now=now)
    assert [s.action for s in plan.recovery] == ["complete"]


def test_flapping_instance_is_not_a_failover_target():
    fleet = [inst("a", 1, U, failures=3), inst("b", 2, is_flapping=True), inst("c", 3)]
    plan = reconcile(fleet, "a", FailoverConfig(), previous=None, now=T0)
    assert plan.switch is not None and plan.switch.target_instance_id == "c"


def test_missing_active_is_replaced_by_the_best_eligible_instance():
    fleet = [inst("a", 5, U, failures=1), inst("b", 2)]
    plan = reconcile(fleet, None, FailoverConfig(), previous=None, now=T0)
    assert plan.active_instance_id == "b"


def test_manual_switch_checks():
    fleet = [inst("a", 1), inst("b", 2, U), inst("c", 3)]
    with pytest.raises(SourceNotActive):
        check_manual_switch(fleet, "a", "c", "b", force=False)
    with pytest.raises(TargetNotHealthy):
        check_manual_switch(fleet, "a", "a", "b", force=False)
    with pytest.raises(InvalidFailoverTarget):
        check_manual_switch(fleet, "a", "a", "zzz", force=False)
    check_manual_switch(fleet, "a", "a", "b", force=True)


def test_degraded_and_restored_are_announced_on_transitions_only():
    healthy = [inst("a", 1), inst("b", 2)]
    plan = reconcile(healthy, "a", FailoverConfig(), previous=None, now=T0)
    assert not plan.redundancy.is_degraded and not plan.notices
    broken = [healthy[0], healthy[1]._replace(health_status=U)]
    degraded = reconcile(
        broken, "a", FailoverConfig(enable_auto_recovery=False), previous=plan.redundancy, now=T0
    )
    assert [n.type for n in degraded.notices] == ["proxy_degraded"]
    restored = reconcile(healthy, "a", FailoverConfig(), previous=degraded.redundancy, now=T0)
    assert [n.type for n in restored.notices] == ["proxy_restored"]
