"""A hanging SNS (a listener that accepts and never answers) stalls neither writes nor the sweep, and
what it held back is delivered once it answers again."""

from __future__ import annotations

import threading

import pytest
from proxy_failover.domain.models import HealthStatus
from proxy_failover.identity import Principal
from proxy_failover.notify.publisher import reset_client
from proxy_failover.service import FailoverService
from proxy_failover.settings import Settings, reset_settings
from proxy_failover.store import outbox
from proxy_failover.sweep import Sweeper

from tests.helpers import drain
from tests.servers import FleetServer, HangingServer

OWNER = Principal("owner")
# Far longer than any bound the service sets itself: a call still waiting when the test checks has hung.
JOIN_SECONDS = 30


def in_thread(work):
    """Run `work` in a thread; (finished, result) after at most JOIN_SECONDS."""
    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", work()), daemon=True)
    thread.start()
    thread.join(JOIN_SECONDS)
    return not thread.is_alive(), box.get("result")


@pytest.fixture
def hanging_sns(sns, monkeypatch):
    """The moto topic stays configured, but SNS calls go to a listener that never answers."""
    with HangingServer() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", server.url)
        reset_settings()
        reset_client()
        yield server
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", sns["endpoint"])
        reset_client()


def healthy_pair(service: FailoverService, proxy_id: str) -> tuple[str, str]:
    service.put_config(OWNER, proxy_id, {"unhealthy_threshold": 1})
    ids = []
    for priority, name in enumerate(("primary", "backup")):
        data = {"instance_name": name, "instance_type": "standard", "priority": priority, "weight": 100}
        ids.append(str(service.register_instance(OWNER, proxy_id, data).instance.id))
        service.report_health(OWNER, ids[-1], HealthStatus.HEALTHY, None)
    return ids[0], ids[1]


def test_publishing_is_bounded_and_never_retried_by_the_client():
    settings = Settings()
    assert settings.sns_connect_timeout_seconds + settings.sns_read_timeout_seconds <= 2.0


def test_a_write_that_fails_over_answers_while_sns_hangs(db, sns, monkeypatch):
    service = FailoverService(db)
    primary, backup = healthy_pair(service, "edge")
    drain(sns)
    with HangingServer() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", server.url)
        reset_client()
        # When a report kills the active instance while SNS hangs
        finished, row = in_thread(lambda: service.report_health(OWNER, primary, HealthStatus.UNHEALTHY, None))
        # Then the failover is committed and answered; SNS was called once, not retried
        assert finished, "the report waited on SNS"
        assert row.instance.health_status == "unhealthy" and not row.is_active
        assert server.connections == 1
        pending = outbox.pending_count(db.autocommit())
        assert pending >= 2  # failover, instance_unhealthy, ...
        # And the next write does not wait on SNS again while it is known to be unreachable
        finished, _ = in_thread(lambda: service.report_health(OWNER, backup, HealthStatus.HEALTHY, None))
        assert finished
        service.execute_failover(
            Principal("ops", is_admin=True), "edge", backup, primary, "drill", force=True
        )
        assert server.connections == 1
    # When SNS answers again and the retry is due, the relay delivers each held notification once
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", sns["endpoint"])
    reset_client()
    db.autocommit().run("UPDATE notification_outbox SET next_attempt_at = now() WHERE sent_at IS NULL")
    from proxy_failover.notify.relay import relay_pending
    from proxy_failover.settings import get_settings

    held = outbox.pending_count(db.autocommit())
    assert relay_pending(db, get_settings())["sent"] == held
    messages = drain(sns, routes=True)  # the outbox holds route_changed too
    assert len(messages) == held == len({m["id"] for m in messages})
    assert "failover" in {m["type"] for m in messages}


def test_the_sweep_checks_and_fails_over_every_proxy_while_sns_hangs(db, hanging_sns, sns, monkeypatch):
    monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
    reset_settings()
    fleet = FleetServer()
    try:
        service = FailoverService(db)
        for k in range(12):
            service.put_config(
                OWNER,
                f"p{k}",
                {
                    "unhealthy_threshold": 1,
                    "health_check_interval_seconds": 30,
                    "health_check_timeout_seconds": 1,
                },
            )
            for priority, name in enumerate(("primary", "backup")):
                url = fleet.url(f"p{k}-{name}")
                data = {
                    "instance_name": name,
                    "instance_type": "standard",
                    "priority": priority,
                    "weight": 100,
                    "health_check_url": url,
                }
                service.register_instance(OWNER, f"p{k}", data)
            fleet.modes[f"p{k}-primary"] = "fail"
        db.autocommit().run(
            "UPDATE proxy_instances SET health_status = 'healthy', consecutive_successes = 2,"
            " last_status_change = now() - interval '1 hour'"
        )
        db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now()")
        settings = Settings.from_environ(
            {"PROBE_ALLOW_LOOPBACK": "true", "SWEEP_BATCH_SIZE": "3", "NOTIFICATIONS_TOPIC_ARN": sns["topic"]}
        )
        sweeper = Sweeper(db, settings=settings)
        # When the sweep runs four batches while SNS hangs
        finished, stats = in_thread(lambda: sweeper.run_once(flush_seconds=3))
        # Then every proxy was checked and failed over; the notifications wait in the outbox
        assert finished, "the sweep waited on SNS"
        assert stats.proxies == 12 and stats.checks == 24 and stats.failovers == 12
        switched = db.autocommit().run(
            "SELECT count(*) FROM proxies p JOIN proxy_instances i ON i.id = p.active_instance_id"
            " WHERE i.instance_name = 'backup'"
        )[0][0]
        assert switched == 12
        assert outbox.pending_count(db.autocommit()) >= 24
        assert hanging_sns.connections <= 2  # the first publish trips the breaker; no retry storm
    finally:
        fleet.close()


def test_a_kept_connection_sns_closed_meanwhile_is_replaced_once_and_nothing_is_lost(monkeypatch):
    """SNS closes connections that idle; the next publish finds its kept one closed and sends again on
    a new one, once: the first request never got there."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from proxy_failover.notify.publisher import Message, publish

    connections: list[int] = []

    class ClosingSns(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = (
                b"<PublishBatchResponse><PublishBatchResult><Successful><member><Id>0</Id>"
                b"<MessageId>m</MessageId></member></Successful></PublishBatchResult></PublishBatchResponse>"
            )
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()  # no "Connection: close": the client keeps it, then finds it closed
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ClosingSns)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", "arn:aws:sns:eu-west-1:000000000000:closing")
        reset_settings()
        reset_client()
        from proxy_failover.settings import get_settings

        for n in range(3):
            published = publish([Message(f"id-{n}", "failover", "p", "critical", {"n": n})], get_settings())
            assert published.sent == [f"id-{n}"] and published.failed == []
        assert len(connections) == 3  # one per publish: each found the last one closed, and replaced it
    finally:
        server.shutdown()
        reset_client()
