"""The engine over random histories, without I/O: checks, registrations, operator switches and time
passing, fed through `reconcile` exactly as the API and the sweep feed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from proxy_failover.domain import maintenance
from proxy_failover.domain.decisions import check_manual_switch, reconcile
from proxy_failover.domain.health import apply_check
from proxy_failover.domain.models import (
    FailoverConfig,
    HealthStatus,
    Instance,
    LoadBalancingAlgorithm,
    Maintenance,
    Strategy,
)
from proxy_failover.domain.redundancy import assess
from proxy_failover.domain.strategies import eligible
from proxy_failover.errors import ProxyFailoverError

T0 = datetime(2026, 1, 1, tzinfo=UTC)

check = st.tuples(
    st.just("check"), st.integers(0, 5), st.sampled_from([HealthStatus.HEALTHY, HealthStatus.UNHEALTHY])
)
operations = st.lists(
    st.one_of(
        check,
        check,
        check,
        st.tuples(st.just("check"), st.integers(0, 5), st.just(HealthStatus.UNKNOWN)),
        st.tuples(st.just("register"), st.integers(0, 5), st.none()),
        st.tuples(st.just("switch"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("tick"), st.integers(1, 120), st.none()),
        st.tuples(st.just("maintain"), st.integers(0, 5), st.integers(0, 120)),  # 0: end it
    ),
    min_size=20,
    max_size=80,
)
configs = st.builds(
    FailoverConfig,
    failover_strategy=st.sampled_from(list(Strategy)),
    health_check_interval_seconds=st.integers(1, 60),
    health_check_timeout_seconds=st.integers(1, 30),
    recovery_backoff_seconds=st.integers(1, 86400),
    enable_load_balancing=st.booleans(),
    load_balancing_algorithm=st.sampled_from(list(LoadBalancingAlgorithm)),
    unhealthy_threshold=st.integers(1, 3),
    healthy_threshold=st.integers(1, 3),
    failback_hold_down_seconds=st.integers(0, 60),
    flap_threshold=st.integers(2, 4),
    flap_window_seconds=st.integers(10, 300),
    enable_auto_failover=st.booleans(),
    enable_auto_recovery=st.booleans(),
    max_recovery_attempts=st.one_of(st.integers(1, 3), st.integers(1, 1000)),
)


@settings(max_examples=300, deadline=None)
@given(ops=operations, config=configs)
def test_engine_invariants_hold_over_any_history(ops, config):
    instances = [
        Instance(id=f"i{k}", proxy_id="p", name=f"i{k}", priority=k, created_at=T0) for k in range(3)
    ]
    active: str | None = "i0"
    previous = None
    now = T0
    for op, n, arg in ops:
        now += timedelta(seconds=1)
        transitions = []
        automatic = True
        if op == "check":
            k = n % len(instances)
            instances[k], transition = apply_check(instances[k], arg, config, now, connection_count=n)
            transitions = [transition] if transition else []
        elif op == "register":
            name = f"i{len(instances)}"
            instances.append(Instance(id=name, proxy_id="p", name=name, priority=n, created_at=now))
            automatic = False
        elif op == "switch":
            target = instances[n % len(instances)]
            try:
                check_manual_switch(instances, active, active, target.id, force=arg)
            except ProxyFailoverError:
                continue
            assert arg or eligible(target)  # without force, only an eligible target passes
            active = target.id
            automatic = False
        elif op == "maintain":
            k = n % len(instances)
            until = Maintenance(now + timedelta(seconds=arg), "patch", "ops") if arg else None
            instances[k] = instances[k]._replace(maintenance=until)
            automatic = False
        else:
            now += timedelta(seconds=n)
        instances = maintenance.expire(instances, now)  # as every write of the engine does

        plan = reconcile(
            instances,
            active,
            config,
            previous=previous,
            transitions=transitions,
            now=now,
            allow_automatic=automatic,
        )
        by_id = {i.id: i for i in plan.instances}
        # exactly one active instance, one of the proxy's own
        assert plan.active_instance_id in by_id
        # an automatic switch only ever lands on a healthy, non-flapping instance
        if plan.switch is not None:
            assert eligible(by_id[plan.switch.target_instance_id])
            assert plan.switch.source_instance_id == active
            assert plan.active_instance_id == plan.switch.target_instance_id
        # an instance in maintenance is never a backup and sends no alerts
        away = {i.id for i in plan.instances if i.in_maintenance}
        assert not away & set(plan.redundancy.backup_instance_ids)
        assert not any(n.details.get("instanceId") in away for n in plan.notices), plan.notices
        # the stored posture is always a recomputation from the instances
        assert plan.redundancy == assess(plan.instances, plan.active_instance_id, config.failover_strategy)
        # a switch away from a healthy active only happens as a failback, to a better instance
        if plan.switch is not None and by_id[active].health_status is not HealthStatus.UNHEALTHY:
            assert plan.switch.event_type.value == "failback"
            assert by_id[plan.switch.target_instance_id].priority < by_id[active].priority
        instances, active, previous = plan.instances, plan.active_instance_id, plan.redundancy
