"""Writers that finish together publish together: one PublishBatch and one mark for all of them,
each notification once, and each writer answered only once its own were taken (or given up)."""

from __future__ import annotations

import threading

from proxy_failover.domain.models import HealthStatus
from proxy_failover.identity import Principal
from proxy_failover.notify.publisher import reset_client
from proxy_failover.service import FailoverService
from proxy_failover.settings import reset_settings
from proxy_failover.store import outbox

from tests.helpers import closing_thread
from tests.servers import HangingServer, SlowSns

OWNER = Principal("owner")
WRITERS = 12
JOIN_SECONDS = 30  # far beyond any bound of the service's: a writer still waiting has hung


def _pairs(service: FailoverService, count: int) -> list[tuple[str, str]]:
    """`count` proxies of a primary and a backup, both healthy, switching only on a full status change."""
    pairs = []
    for k in range(count):
        proxy = f"g{k}"
        service.put_config(OWNER, proxy, {"unhealthy_threshold": 1, "healthy_threshold": 1})
        ids = []
        for priority, name in enumerate(("primary", "backup")):
            data = {"instance_name": name, "instance_type": "standard", "priority": priority, "weight": 100}
            ids.append(str(service.register_instance(OWNER, proxy, data).instance.id))
            service.report_health(OWNER, ids[-1], HealthStatus.HEALTHY, None)
        pairs.append((ids[0], ids[1]))
    return pairs


def _notification_ids(db) -> set[str]:
    return {str(r[0]) for r in db.autocommit().run("SELECT id FROM notification_outbox")}


def _unsent_of(db, proxy: str) -> int:
    rows = db.autocommit().run(
        "SELECT count(*) FROM notification_outbox WHERE proxy_id = :p AND sent_at IS NULL", p=proxy
    )
    return int(rows[0][0])


def _at_once(db, work) -> list[threading.Thread]:
    barrier = threading.Barrier(WRITERS)

    def one(k: int) -> None:
        barrier.wait()
        work(k)

    threads = [closing_thread(db, one, k) for k in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_SECONDS)
    return threads


def test_writers_that_finish_together_publish_in_one_batch_each_notification_once(db, sns, monkeypatch):
    service = FailoverService(db)
    pairs = _pairs(service, WRITERS)
    before = _notification_ids(db)
    with SlowSns(delay=0.3) as slow:  # the first batch is still out when the others have written
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", slow.url)
        reset_settings()
        reset_client()
        unsent_at_answer: dict[int, int] = {}

        def backup_fails(k: int) -> None:
            service.report_health(OWNER, pairs[k][1], HealthStatus.UNHEALTHY, None)
            unsent_at_answer[k] = _unsent_of(db, f"g{k}")

        threads = _at_once(db, backup_fails)
        assert not any(t.is_alive() for t in threads)
        reset_client()
    published = [i for batch in slow.batches for i in batch]
    written = _notification_ids(db) - before
    # Every notification of the twelve writes went out once, and is marked sent
    assert sorted(published) == sorted(written) and len(published) == len(set(published))
    assert outbox.pending_count(db.autocommit()) == 0
    # in fewer calls than writes: those that finished while one was publishing went together
    assert len(slow.batches) < WRITERS
    assert all(len(batch) <= 10 for batch in slow.batches)  # never more than a PublishBatch takes
    # and no writer was answered before its own notifications were taken and marked
    assert unsent_at_answer == {k: 0 for k in range(WRITERS)}


def test_writers_queued_behind_a_hanging_sns_are_answered_and_lose_nothing(db, sns, monkeypatch):
    service = FailoverService(db)
    pairs = _pairs(service, WRITERS)
    assert outbox.pending_count(db.autocommit()) == 0
    before = _notification_ids(db)
    with HangingServer() as hanging:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", hanging.url)
        reset_settings()
        reset_client()
        threads = _at_once(
            db, lambda k: service.report_health(OWNER, pairs[k][1], HealthStatus.UNHEALTHY, None)
        )
        # Every writer answered (the first after SNS's bound, those queued behind it then or at once)
        assert not any(t.is_alive() for t in threads)
        assert hanging.connections <= 2  # no writer waited on a hung SNS of its own
    # and what SNS did not take is pending for the relay, none of it lost
    assert outbox.pending_count(db.autocommit()) == len(_notification_ids(db) - before) >= 2 * WRITERS
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", sns["endpoint"])
    reset_client()
