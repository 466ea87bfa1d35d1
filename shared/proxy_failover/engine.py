"""The one failover engine shared by the API and the sweep: domain plan -> rows to write -> notifications.

Both callers lock the proxy and its instances, run `domain.decisions.reconcile`, and hand the plan to
`to_writes`; `store.changes.write` then persists any number of proxies in a few statements.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from .domain.decisions import Notice, Plan, Switch, switch_notice
from .domain.models import EventStatus, EventType, Instance
from .store.changes import EventRow, OutboxRow, ProxyWrite, recovery_closure
from .store.proxies import ProxyState


class Batch(NamedTuple):
    """Rows for one transaction, collected over one or many proxies (`Batch.empty()`, then appended to)."""

    writes: list[ProxyWrite]
    events: list[EventRow]
    outbox: list[OutboxRow]

    @classmethod
    def empty(cls) -> Batch:
        return cls([], [], [])

    @property
    def switch_events(self) -> list[EventRow]:
        return [e for e in self.events if e.event_type != EventType.RECOVERY.value]


def redundancy_row(proxy_id: str, plan: Plan, switch: Switch | None, now: datetime) -> dict[str, Any]:
    r = plan.redundancy
    return {
        "proxy_id": proxy_id,
        "total_instances": r.total_instances,
        "healthy_instances": r.healthy_instances,
        "unhealthy_instances": r.unhealthy_instances,
        "active_instance_id": r.active_instance_id,
        "backup_instance_ids": list(r.backup_instance_ids),
        "redundancy_level": r.redundancy_level,
        "is_degraded": r.is_degraded,
        "degraded_reasons": list(r.degraded_reasons),
        "last_failover_at": now if switch else None,
        "last_failover_reason": switch.reason if switch else None,
    }


def notification(
    proxy: ProxyState, notice: Notice, now: datetime, extra: dict[str, Any] | None = None
) -> OutboxRow:
    notification_id = str(uuid.uuid4())
    message = {
        "id": notification_id,
        "type": notice.type,
        "proxyId": proxy.proxy_id,
        "userId": proxy.owner_id,
        "occurredAt": now.isoformat(),
        "severity": notice.severity,
        **notice.details,
        **(extra or {}),
    }
    return OutboxRow(notification_id, notice.type, proxy.proxy_id, proxy.owner_id, notice.severity, message)


def to_writes(
    batch: Batch,
    proxy: ProxyState,
    before: list[Instance],
    plan: Plan,
    now: datetime,
    *,
    actor: str,
    switch: Switch | None = None,
    switch_status: EventStatus = EventStatus.COMPLETED,
    switch_duration_ms: int | None = 0,
) -> EventRow | None:
    """Add one proxy's plan to the batch; returns the switch event row, if any.

    `switch` overrides `plan.switch` for operator-made switches (manual failover).
    """
    switch = switch or plan.switch
    previous = {i.id: i for i in before}
    changed = [i for i in plan.instances if previous.get(i.id) != i]
    # A proxy without instances has no posture yet (GET redundancy answers 404 until one registers).
    has_instances = plan.redundancy.total_instances > 0
    posture_changed = has_instances and bool(
        changed or switch or plan.recovery or plan.notices or plan.redundancy != proxy.previous
    )
    write = ProxyWrite(
        proxy_id=proxy.proxy_id,
        instances=changed,
        active_instance_id=plan.active_instance_id,
        active_changed=plan.active_instance_id != proxy.active_instance_id,
        redundancy=redundancy_row(proxy.proxy_id, plan, switch, now) if posture_changed else None,
        recovery_closures=[],
    )
    event = None
    if switch is not None:
        done = switch_status is not EventStatus.IN_PROGRESS
        event = EventRow(
            id=str(uuid.uuid4()),
            proxy_id=proxy.proxy_id,
            event_type=switch.event_type.value,
            status=switch_status.value,
            source_instance_id=switch.source_instance_id,
            target_instance_id=switch.target_instance_id,
            reason=switch.reason,
            actor=actor,
            started_at=now,
            completed_at=now if done else None,
            duration_ms=switch_duration_ms if done else None,
        )
        batch.events.append(event)
    for step in plan.recovery:
        if step.action == "open":
            batch.events.append(
                EventRow(
                    id=str(uuid.uuid4()),
                    proxy_id=proxy.proxy_id,
                    event_type=EventType.RECOVERY.value,
                    status=EventStatus.IN_PROGRESS.value,
                    source_instance_id=step.instance_id,
                    target_instance_id=None,
                    reason=step.reason,
                    actor=actor,
                    started_at=now,
                )
            )
        else:
            status = EventStatus.COMPLETED if step.action == "complete" else EventStatus.FAILED
            error = step.reason if status is EventStatus.FAILED else None
            write.recovery_closures.append(recovery_closure(step.instance_id, status, error, now))
    batch.writes.append(write)

    notices = list(plan.notices)
    if switch is not None and switch is not plan.switch:
        notices.insert(0, switch_notice(switch, {i.id: i for i in plan.instances}))
    switch_types = {"failover", "failback", "manual_failover"}
    for notice in notices:
        extra = (
            {"eventId": event.id, "actor": actor}
            if event is not None and notice.type in switch_types
            else None
        )
        batch.outbox.append(notification(proxy, notice, now, extra))
    return event
