"""A vantage in another region, without a database connection across regions.

Three parts, each a function of its own when deployed:
- at home, the vantage's worker claims its due proxies as every worker does, and forwards each batch
  (the probes to make, with their timeouts and options) to the work queue of the vantage's region
  (`checks.forward.ForwardLoop`, in place of the probe loop);
- in that region, the vantage's workers probe each batch, canaries included, and send the results back
  to the home region's results queue (`probe_batches`);
- at home, the results consumer applies each batch through the one engine path, as the vantage's
  (`apply_results`): canaries judged as at home, each result ordered by the time it was made, so a
  message delivered twice or late changes nothing.

Every SQS call is bounded and made once: a batch lost on the way is a check missed, which the next
interval makes up for (the claim already moved the schedule on).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from .checks.forward import send_message
from .checks.probes import ProbeRequest, ProbeResult
from .domain.models import ProbeOptions
from .observability import get_logger
from .settings import get_settings

logger = get_logger(__name__)


def _records(event: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for record in event.get("Records") or []:
        try:
            body = json.loads(record.get("body") or "{}")
        except ValueError:
            logger.warning(
                "a message that is not JSON was dropped", extra={"message_id": record.get("messageId")}
            )
            continue
        if isinstance(body, dict):
            found.append(body)
    return found


def probe_batches(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The vantage region's worker: probe each forwarded batch (and this region's canaries with it),
    send the results home. No database: the home region applies them."""
    from .checks.policy import TargetPolicy
    from .checks.probes import CANARY, Prober

    settings = get_settings()
    policy = TargetPolicy.from_settings(settings.probe_allow_loopback, settings.probe_allowed_cidrs)
    prober = Prober(
        policy, settings.probe_concurrency, source_address=settings.source_address(settings.sweep_vantage)
    )
    sent = probed = 0
    for batch in _records(event):
        requests = [
            ProbeRequest(
                str(p["id"]),
                str(p["url"]),
                float(p["timeout"]),
                None if p.get("probe") is None else ProbeOptions(**p["probe"]),
            )
            for p in batch.get("probes") or []
        ]
        timeout = min((r.timeout_seconds for r in requests), default=2.0)
        requests += [
            ProbeRequest(f"{CANARY}{k}", url, timeout) for k, url in enumerate(settings.sweep_canary_urls)
        ]
        checked_at = datetime.now(UTC).isoformat()
        results = prober.run(requests)
        probed += len(requests)
        body = {
            "batch": batch.get("batch"),
            "vantage": batch.get("vantage") or settings.sweep_vantage,
            "checkedAt": checked_at,
            "results": [
                {"id": r.instance_id, "healthy": r.healthy, "latencyMs": r.latency_ms, "error": r.error}
                for r in results
            ],
        }
        if send_message(settings, settings.sweep_results_queue_url or "", body):
            sent += 1
    return {"batches": sent, "probes": probed}


def apply_results(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The home region's results consumer: each batch of a remote vantage applied through the engine,
    as that vantage's checks, ordered by when they were made (a repeat or a late one changes nothing)."""
    from .store import claims
    from .sweep import Sweeper

    started = time.perf_counter()
    settings = get_settings()
    applied = discarded = 0
    sweepers: dict[str, Sweeper] = {}
    for batch in _records(event):
        vantage = batch.get("vantage")
        checked = batch.get("checkedAt")
        if not isinstance(vantage, str) or not isinstance(checked, str):
            continue
        sweeper = sweepers.get(vantage)
        if sweeper is None:
            sweeper = Sweeper(
                settings=settings._replace(sweep_vantage=vantage, sweep_ttl_checks=False).checked()
            )
            sweepers[vantage] = sweeper
            claims.register_vantage(sweeper.db.autocommit(), vantage)  # it runs: not absent
        results = {
            str(r["id"]): ProbeResult(str(r["id"]), bool(r["healthy"]), r.get("latencyMs"), r.get("error"))
            for r in batch.get("results") or []
        }
        proxies = claims.proxies_of_instances(sweeper.db.autocommit(), [i for i in results if _is_uuid(i)])
        stats = sweeper.apply(proxies, results, checked_at=datetime.fromisoformat(checked))
        applied += stats.checks
        discarded += stats.discarded
    from .observability import emit_metric

    for vantage, sweeper in sweepers.items():
        sweeper.publisher.close(5.0)
        emit_metric(settings, "VantageRuns", 1, dimensions={"Vantage": vantage})  # the heartbeat
    return {
        "applied": applied,
        "discarded": discarded,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
