"""A vantage in another region, exercised through the same path as deployed, with moto SQS for the two
queues: the home worker forwards its batch, the region's worker probes it and sends the results home,
the home consumer applies them through the engine. A result delivered twice, or after a newer one,
changes nothing; no database connection crosses regions (the region's worker runs without one)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from proxy_failover import remote
from proxy_failover.identity import Principal
from proxy_failover.service import FailoverService
from proxy_failover.settings import reset_settings
from proxy_failover.store import claims
from proxy_failover.sweep import Sweeper

from local.emulators import bounded
from tests.integration.test_sweep import make_proxy, settings
from tests.servers import FleetServer

OWNER = Principal("owner")


@pytest.fixture
def queues(monkeypatch):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1", config=bounded())
        work = sqs.create_queue(QueueName="far-work")["QueueUrl"]
        results = sqs.create_queue(QueueName="vantage-results")["QueueUrl"]
        monkeypatch.setenv("PROBE_ALLOW_LOOPBACK", "true")
        monkeypatch.setenv("SWEEP_RESULTS_QUEUE_URL", results)
        monkeypatch.setenv("SWEEP_VANTAGE", "far")
        reset_settings()
        yield {"sqs": sqs, "work": work, "results": results}


def take(sqs, url) -> dict:
    """The messages waiting on a queue, as the SQS trigger hands them to a function."""
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return {
        "Records": [
            {"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in messages
        ]
    }


def far_view(service, proxy, name):
    instance = next(i.instance for i in service.list_instances(OWNER, proxy).items if i.instance.name == name)
    return next((v for v in instance.vantages if v.vantage == "far"), None), instance


def test_a_remote_vantage_probes_from_its_region_and_its_results_are_applied_at_home(db, queues):
    fleet = FleetServer()
    try:
        service = FailoverService(db)
        claims.register_vantage(db.autocommit(), "far")
        make_proxy(service, fleet, "remote-1", ["primary", "backup"], unhealthy_threshold=2)
        db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now() WHERE vantage = 'far'")
        # Given the home worker of vantage `far`, which forwards instead of probing
        home = Sweeper(db, settings=settings(sweep_vantage="far", sweep_forward_queue_url=queues["work"]))
        stats = home.run_once()
        assert stats.checks == 0 and fleet.hits == {}  # nothing probed at home
        # When the region's worker takes the batch (no database: one it cannot reach is configured)
        batch = take(queues["sqs"], queues["work"])
        assert len(batch["Records"]) == 1
        with pytest.MonkeyPatch.context() as far_away:
            far_away.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
            reset_settings()
            sent = remote.probe_batches(batch)
        reset_settings()
        assert sent == {"batches": 1, "probes": 2} and sum(fleet.hits.values()) == 2
        # and the home consumer applies what came back
        results = take(queues["sqs"], queues["results"])
        answer = remote.apply_results(copy.deepcopy(results))
        assert answer["applied"] == 2
        seen, instance = far_view(service, "remote-1", "primary")
        assert seen is not None and seen.successes == 1 and instance.health_status.value == "healthy"
        # Then a repeat of the same message changes nothing (SQS delivers at least once)
        assert remote.apply_results(copy.deepcopy(results))["applied"] == 2
        again, _ = far_view(service, "remote-1", "primary")
        assert again == seen
        # and a result made before the latest one is dropped, whatever it says
        late = copy.deepcopy(results)
        body = json.loads(late["Records"][0]["body"])
        body["checkedAt"] = (datetime.fromisoformat(body["checkedAt"]) - timedelta(seconds=30)).isoformat()
        for r in body["results"]:
            r["healthy"] = False
        late["Records"][0]["body"] = json.dumps(body)
        remote.apply_results(late)
        still, _ = far_view(service, "remote-1", "primary")
        assert still == seen
        # and the vantage is known to be running
        ran = db.autocommit().run("SELECT last_run_at FROM vantages WHERE name = 'far'")[0][0]
        assert datetime.now(UTC) - ran < timedelta(minutes=1)
    finally:
        fleet.close()


def test_a_remote_vantage_whose_canaries_fail_is_impaired_at_home(db, queues, monkeypatch):
    canary = FleetServer()
    fleet = FleetServer()
    try:
        canary.modes["canary"] = "fail"
        monkeypatch.setenv("SWEEP_CANARY_URLS", canary.url("canary"))
        reset_settings()
        service = FailoverService(db)
        claims.register_vantage(db.autocommit(), "far")
        make_proxy(service, fleet, "remote-2", ["primary", "backup"])
        db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now() WHERE vantage = 'far'")
        Sweeper(db, settings=settings(sweep_vantage="far", sweep_forward_queue_url=queues["work"])).run_once()
        remote.probe_batches(take(queues["sqs"], queues["work"]))
        answer = remote.apply_results(take(queues["sqs"], queues["results"]))
        assert answer == {**answer, "applied": 0, "discarded": 2}
        assert db.autocommit().run("SELECT impaired FROM vantages WHERE name = 'far'") == [[True]]
        seen, _ = far_view(service, "remote-2", "primary")
        assert seen is None  # nothing of its results was applied
    finally:
        canary.close()
        fleet.close()
