"""Fault injection on real processes: a PostgreSQL server of its own, stopped hard and restarted while
API writes and sweeps run. Requests get 503 with Retry-After (never 500); afterwards every proxy's
ledger agrees with its active instance (no switch without its event, no event without its switch),
and the next sweep completes."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
from proxy_failover.errors import DatabaseUnavailable
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService, get_service
from proxy_failover.settings import Settings, reset_settings
from proxy_failover.store.db import Database, set_database
from proxy_failover.store.migrate import migrate
from proxy_failover.sweep import Sweeper

from tests.helpers import http_event, invoke, token
from tests.servers import FleetServer

OWNER = Principal("faulty")
TOKEN = token("faulty")


@pytest.fixture
def own_server(tmp_path, monkeypatch):
    """A PostgreSQL cluster this test may stop and start."""
    from pgserver import get_server
    from pgserver._commands import pg_ctl

    server = get_server(str(tmp_path / "pg"), cleanup_mode="stop")
    url = server.get_uri()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    db = Database.from_url(url)
    migrate(db)
    set_database(db)
    get_service.cache_clear()

    def stop() -> None:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)

    def start() -> None:
        server.ensure_postgres_running()

    yield db, stop, start
    set_database(None)
    db.discard()
    server.cleanup()


def _switch_chain_agrees(db, initial_active: dict[str, str]) -> None:
    con = db.autocommit()
    actives = {r[0]: str(r[1]) for r in con.run("SELECT proxy_id, active_instance_id FROM proxies")}
    events = con.rows_as_dicts(
        "SELECT proxy_id, source_instance_id, target_instance_id, status FROM proxy_failover_events"
        " WHERE event_type <> 'recovery' ORDER BY proxy_id, started_at, id"
    )
    chains: dict[str, list[dict]] = {}
    for e in events:
        chains.setdefault(e["proxy_id"], []).append(e)
    for proxy_id, active in actives.items():
        current = initial_active[proxy_id]
        for e in chains.get(proxy_id, []):
            assert str(e["source_instance_id"]) == current, (
                proxy_id,
                "event from an instance that was not active",
            )
            assert e["status"] == "completed"
            current = str(e["target_instance_id"])
        assert current == active, (proxy_id, "switch without its event")
    stored = {
        r[0]: str(r[1]) for r in con.run("SELECT proxy_id, active_instance_id FROM proxy_redundancy_status")
    }
    assert stored == actives


def test_postgres_stopped_and_restarted_under_api_writes_and_sweeps(own_server):
    db, stop_postgres, start_postgres = own_server
    fleet = FleetServer()
    service = FailoverService(db)
    instances: dict[str, list[str]] = {}
    for p in range(12):
        proxy = f"f{p}"
        service.put_config(
            OWNER,
            proxy,
            {"unhealthy_threshold": 1, "health_check_interval_seconds": 1, "health_check_timeout_seconds": 1},
        )
        instances[proxy] = [
            str(
                service.register_instance(
                    OWNER,
                    proxy,
                    {
                        "instance_name": n,
                        "instance_type": "standard",
                        "priority": k,
                        "weight": 1,
                        "health_check_url": fleet.url(f"{proxy}-{n}"),
                    },
                ).instance.id
            )
            for k, n in enumerate(("a", "b", "c"))
        ]
    settings = Settings.from_environ({"PROBE_ALLOW_LOOPBACK": "true"})
    db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now()")
    Sweeper(db, settings=settings).run_once()
    initial = {p: ids[0] for p, ids in instances.items()}

    statuses: Counter[int] = Counter()
    retry_after_missing = []
    sweep_failures = Counter()
    stopping = threading.Event()
    rng = random.Random(3)

    def writer() -> None:
        while not stopping.is_set():
            proxy = rng.choice(list(instances))
            target = rng.choice(instances[proxy])
            result = rng.choice(["healthy", "unhealthy"])
            code, _, headers = invoke(
                "report_health",
                http_event(
                    "PUT",
                    f"/proxy/instances/{target}/health",
                    body={"healthStatus": result},
                    token_value=TOKEN,
                ),
            )
            statuses[code] += 1
            if code == 503 and headers.get("Retry-After") != "5":
                retry_after_missing.append(headers)
            time.sleep(0.005)

    def sweeper() -> None:
        sweep = Sweeper(db, settings=settings)
        while not stopping.is_set():
            try:
                db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now()")
                sweep.run_once()
            except DatabaseUnavailable:
                sweep_failures["unavailable"] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=writer), threading.Thread(target=sweeper)]
    for t in threads:
        t.start()
    time.sleep(0.8)
    for proxy in instances:  # every primary starts failing: failovers race the outage
        fleet.modes[f"{proxy}-a"] = "fail"
    time.sleep(0.3)
    stop_postgres()
    time.sleep(1.5)
    start_postgres()
    time.sleep(2.0)
    stopping.set()
    for t in threads:
        t.join(timeout=30)
    fleet.modes.clear()

    assert statuses[500] == 0 and statuses[502] == 0, statuses
    assert statuses[503] > 0, statuses  # the outage was seen
    assert not retry_after_missing
    assert statuses[200] > 0
    assert sweep_failures["unavailable"] > 0
    # The next sweep completes, and the ledger agrees with every proxy's active instance.
    db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now()")
    stats = Sweeper(db, settings=settings).run_once()
    assert stats.proxies == len(instances)
    _switch_chain_agrees(db, initial)
    fleet.close()
