"""The plain-function views serialise exactly the documented response schemas
(contract/response_bodies.py)."""

from __future__ import annotations

from proxy_failover.api import views
from proxy_failover.domain.models import HealthStatus, MetricsSample
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService

from contract import response_bodies as schemas

OWNER = Principal("owner")
ADMIN = Principal("ops", is_admin=True)


def _matches(model, view):
    documented = {field.alias or name for name, field in model.model_fields.items()}
    assert set(view) == documented, set(view) ^ documented
    model.model_validate(view)  # every value has the documented type


def test_views_match_their_schemas(db):
    service = FailoverService(db)
    config = service.put_config(OWNER, "p", {"unhealthy_threshold": 1})
    a = service.register_instance(
        OWNER, "p", {"instance_name": "a", "instance_type": "standard", "priority": 1, "weight": 1}
    )
    b = service.register_instance(
        OWNER, "p", {"instance_name": "b", "instance_type": "standard", "priority": 2, "weight": 1}
    )
    service.report_health(OWNER, b.instance.id, HealthStatus.HEALTHY, MetricsSample(connection_count=3))
    service.report_health(OWNER, a.instance.id, HealthStatus.UNHEALTHY, None)
    _matches(schemas.ConfigOut, views.config_view(config))
    for row in service.list_instances(OWNER, "p").items:
        _matches(schemas.InstanceOut, views.instance_view(row))
    for row in service.list_events(OWNER, "p", 50).items:
        _matches(schemas.EventOut, views.event_view(row))
    _matches(schemas.RedundancyOut, views.redundancy_view(service.get_redundancy(OWNER, "p")))
    _matches(schemas.DecisionOut, views.decision_view("p", service.evaluate(OWNER, "p")))


def test_the_operations_views_match_their_schemas(db):
    service = FailoverService(db)
    service.put_config(OWNER, "q", {"enable_load_balancing": True})
    service.put_config(OWNER, "q", {"unhealthy_threshold": 2})
    ids = []
    for name in ("a", "b"):
        data = {"instance_name": name, "instance_type": "standard", "priority": 1, "weight": 1}
        ids.append(service.register_instance(OWNER, "q", data).instance.id)
        service.report_health(OWNER, ids[-1], HealthStatus.HEALTHY, None)
    _matches(schemas.RouteOut, views.route_view(service.route(OWNER, "q")))
    for target in views.route_view(service.route(OWNER, "q"))["targets"]:
        _matches(schemas.RouteTargetOut, target)
    for version in service.config_history(OWNER, "q").items:
        _matches(schemas.ConfigVersionOut, views.config_version_view(version))
    preview = service.execute_failover(ADMIN, "q", ids[0], ids[1], "dry", dry_run=True)
    _matches(schemas.DryRunOut, views.dry_run_view(preview))
    drill = service.start_drill(ADMIN, "q", None, 60, "drill")
    _matches(schemas.EventOut, views.event_view(drill))


def test_the_fleet_views_match_their_schemas(db):
    from proxy_failover.domain.change import Check, Step
    from proxy_failover.service.fleet import FleetUseCases
    from proxy_failover.store import locks

    service, fleet = FailoverService(db), FleetUseCases(db)
    service.put_config(OWNER, "f", {})
    a = service.register_instance(
        OWNER, "f", {"instance_name": "a", "instance_type": "standard", "priority": 1, "weight": 1}
    ).instance
    service.report_health(OWNER, a.id, HealthStatus.HEALTHY, MetricsSample(average_latency_ms=4.0))
    probe = Check(HealthStatus.UNHEALTHY, latency_ms=9.0, reason="connect timeout", vantage="east")
    fleet.write(
        lambda con: locks.lock_proxies(con, ["f"]), lambda agg, now: Step(checks={a.id: probe}), actor="t"
    )
    for summary in fleet.list_proxies(OWNER).items:
        _matches(schemas.ProxySummaryOut, views.proxy_summary_view(summary))
    for row in service.list_instances(OWNER, "f").items:
        view = views.instance_view(row)
        _matches(schemas.InstanceOut, view)
        assert [v["name"] for v in view["vantages"]] == ["east"]
        for vantage in view["vantages"]:
            _matches(schemas.InstanceVantageOut, vantage)
    checks = fleet.recent_checks(OWNER, a.id)
    assert {c.vantage for c in checks} == {None, "east"}
    for check in checks:
        _matches(schemas.CheckOut, views.check_view(check))
    for event in fleet.fleet_events(OWNER).items:
        _matches(schemas.EventOut, views.event_view(event))
    _matches(schemas.RemovedOut, views.removed_view(fleet.decommission(OWNER, "f", force=True)))


def test_the_fleet_ledger_handler_names_every_event_type():
    from proxy_failover.domain.models import EventType

    from tests.helpers import function

    assert set(function("list_fleet_events").EVENT_TYPES) == {t.value for t in EventType}
