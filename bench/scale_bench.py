"""Issue 16: the sweep as a fleet. K worker processes (each a sweep worker as Lambda runs it) against
one PostgreSQL and a local fleet of targets (10% failing, 2% hanging past the 5 s timeout) for T
seconds, the fleet's due times spread over the interval as in steady state. Measures the lag (now
minus the due time of the oldest due proxy, sampled every half second), checks per second, and the
workers' CPU-seconds per 1,000 checks; from those, what Lambda workers cost a month.

    python -m bench.scale_bench --instances 20000 --workers 2 --interval 30 --seconds 60

prints as its last line `scale: instances=N workers=K interval_s=S max_lag_s=X checks_per_s=Y
cpu_s_per_1k=Z`. `make bench` runs a small matrix (BENCH_SCALE_SECONDS per run)."""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import resource
import time
from typing import Any

from bench.common import ROOT, Figure, fresh_database, report

PER_PROXY = 4
TIMEOUT_SECONDS = 5  # the deployed default: a hanging target holds its probe this long
# Lambda list prices (arm64): per GB-second; a function's vCPU share grows with memory, 1 vCPU at 1,769 MB.
GB_SECOND = 0.0000133334
MB_PER_VCPU = 1769
SECONDS_PER_MONTH = 30.4 * 24 * 3600


SOURCES = {"a": "127.0.0.2", "b": "127.0.0.3"}  # two vantages probe from their own addresses


def _worker(url: str, seconds: float, ready: Any, go: Any, results: Any, vantage: str = "local") -> None:
    """One sweep worker, as the worker function runs it (its own connection, probe loop, publisher),
    started when all are ready (imports and connections are a cold start's business, not the sweep's)."""
    from proxy_failover.settings import Settings
    from proxy_failover.store.db import Database, set_database
    from proxy_failover.sweep import Sweeper

    db = Database.from_url(url)
    set_database(db)
    settings = Settings.from_environ(
        {
            "PROBE_ALLOW_LOOPBACK": "true",
            "LOG_LEVEL": "WARNING",
            "SWEEP_SCHEDULE_SECONDS": "60",
            "SWEEP_VANTAGE": vantage,
            "PROBE_SOURCE_ADDRESSES": ",".join(f"{v}={a}" for v, a in SOURCES.items()),
        }
    )
    db.autocommit().run("SELECT 1")
    ready.put(True)
    go.wait()
    before = resource.getrusage(resource.RUSAGE_SELF)
    stats = Sweeper(db, settings=settings).run_until(time.monotonic() + seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results.put((stats.checks, cpu))


def measure(
    instances: int, workers: int, interval: int, seconds: float, vantages: int = 1
) -> dict[str, float]:
    """`workers` per vantage; with two vantages (a and b) every proxy is due at each."""
    from proxy_failover.store import claims

    from tests.fleet import FleetProcess, populate

    names = ["local"] if vantages == 1 else list(SOURCES)[:vantages]
    with fresh_database() as (url, db), FleetProcess() as fleet:
        if names != ["local"]:
            db.autocommit().run("DELETE FROM vantages")
            for name in names:
                claims.register_vantage(db.autocommit(), name)
        populate(
            db,
            fleet,
            random.Random(16),
            max(1, instances // PER_PROXY),
            per_proxy=PER_PROXY,
            timeout_seconds=TIMEOUT_SECONDS,
            interval_seconds=interval,
        )
        con = db.autocommit()
        con.run("VACUUM ANALYZE")
        # spawned, not forked: a forked child would share (and on exit close) this process's connections
        context = multiprocessing.get_context("spawn")
        ready, go, results = context.Queue(), context.Event(), context.Queue()
        processes = [
            context.Process(target=_worker, args=(url, seconds, ready, go, results, name))
            for name in names
            for _ in range(workers)
        ]
        for p in processes:
            p.start()
        for _ in processes:
            ready.get(timeout=120)
        # steady state: due times spread over one interval from now
        con.run(
            "UPDATE proxy_schedule SET next_check_at = now() + random() * make_interval(secs => :s)",
            s=interval,
        )
        go.set()
        started = time.monotonic()
        max_lag = 0.0
        # while the workers claim (after their deadline they only finish and flush)
        while time.monotonic() < started + seconds and any(p.is_alive() for p in processes):
            max_lag = max([max_lag] + [claims.lag_seconds(con, name) for name in names])
            time.sleep(0.5)
        ended = con.run("SELECT now()")[0][0]  # the workers' deadline: they claim no more
        elapsed = seconds
        done = [results.get(timeout=10) for _ in processes]
        for p in processes:
            p.join()
        # every instance checked from every vantage within its last interval (the run's end)
        missed = con.run(
            "SELECT count(*) FROM proxy_instances i CROSS JOIN unnest(CAST(:names AS text[])) AS v(name)"
            " WHERE i.health_check_url IS NOT NULL AND (i.vantage_state -> v.name ->> 'checkedAt' IS NULL"
            " OR CAST(i.vantage_state -> v.name ->> 'checkedAt' AS timestamptz)"
            " < CAST(:ended AS timestamptz) - make_interval(secs => :window))",
            names=names,
            ended=ended,
            window=interval + max_lag + 5.0,  # a due check may be as late as the lag, and take its timeout
        )[0][0]
    checks = sum(c for c, _ in done)
    cpu = sum(c for _, c in done)
    return {
        "instances": instances,
        "vantages": len(names),
        "missed": missed,
        "workers": workers,
        "interval_s": interval,
        "max_lag_s": max_lag,
        "checks_per_s": checks / elapsed,
        "cpu_s_per_1k": cpu / max(1, checks) * 1000,
    }


def line(found: dict[str, float]) -> str:
    return (
        f"scale: instances={found['instances']:.0f} vantages={found['vantages']:.0f} workers={found['workers']:.0f} "
        f"interval_s={found['interval_s']:.0f} max_lag_s={found['max_lag_s']:.1f} "
        f"checks_per_s={found['checks_per_s']:.0f} cpu_s_per_1k={found['cpu_s_per_1k']:.3f}"
        f" missed={found['missed']:.0f}"
    )


def monthly_cost(instances: int, interval: int, cpu_s_per_1k: float) -> tuple[int, float, float]:
    """(workers, per-worker checks/s, $ a month) for a fleet on the template's worker function: each
    worker sustains what its vCPU share allows at the measured CPU per check (the probes' waiting
    costs no CPU), at 80% to leave headroom, and stays SWEEP_RUN_SECONDS of every minute."""
    from local.apigw import load_template

    worker = load_template(ROOT / "template.yaml")["Resources"]["SweepWorkerFunction"]["Properties"]
    memory_mb = worker["MemorySize"]
    run_seconds = float(worker["Environment"]["Variables"]["SWEEP_RUN_SECONDS"])
    per_worker = 0.8 * (memory_mb / MB_PER_VCPU) * 1000 / cpu_s_per_1k
    needed = instances / interval
    workers = max(1, math.ceil(needed / per_worker))
    seconds = workers * SECONDS_PER_MONTH * run_seconds / 60
    return workers, per_worker, seconds * memory_mb / 1024 * GB_SECOND


# AWS list prices used below (eu-west-1, as published in 2025; check the pricing pages before relying
# on them): SQS standard requests, inter-region data transfer, Lambda arm64 requests and GB-seconds.
PRICES_AS_OF = "2025 list prices, eu-west-1"
SQS_REQUEST = 0.40 / 1_000_000
TRANSFER_PER_GB = 0.02
PROBE_BYTES = 300  # a probe forwarded and its result sent back, JSON, about


def remote_vantage_cost(instances: int, interval: int, cpu_s_per_1k: float) -> dict[str, float]:
    """What a vantage in another region costs a month on top of the home stack, for `instances` at
    `interval`: the forwarder at home (one worker, SWEEP_RUN_SECONDS of every minute, 512 MB), one
    message a second each way (SWEEP_FORWARD_EVERY_SECONDS), three SQS requests a message (send,
    receive, delete) plus the idle long polls of two triggers, the region's worker once a message
    (waiting on probes as long as the home workers do: their measured CPU plus a 50 ms floor), the
    consumer at home once per ten messages, and the bytes between regions."""
    month = SECONDS_PER_MONTH
    messages = month * 1.0  # one a second each way, whatever the fleet's size (more probes a message)
    checks = instances / interval * month
    forwarder = month * 70 / 60 * 0.5 * GB_SECOND
    idle_polls = 2 * month / 20 * 5  # two triggers, five pollers each, 20 s long polls
    sqs = (2 * messages * 3 + idle_polls) * SQS_REQUEST
    worker_seconds = messages * 0.05 + checks / 1000 * cpu_s_per_1k
    worker = messages * REQUEST + worker_seconds * 0.5 * GB_SECOND
    consumer = (
        messages / 10 * REQUEST + (messages / 10 * 0.05 + checks / 1000 * cpu_s_per_1k) * 0.5 * GB_SECOND
    )
    transfer = checks * PROBE_BYTES / 1e9 * TRANSFER_PER_GB
    return {
        "forwarder": forwarder,
        "sqs": sqs,
        "worker": worker,
        "consumer": consumer,
        "transfer": transfer,
        "total": forwarder + sqs + worker + consumer + transfer,
    }


REQUEST = 0.20 / 1_000_000

MATRIX = [(10_000, 1), (20_000, 1), (20_000, 2), (40_000, 2), (80_000, 2)]


def run() -> list[Figure]:
    seconds = float(os.environ.get("BENCH_SCALE_SECONDS", "45"))
    figures: list[Figure] = []
    rates = []
    for instances, workers in MATRIX:
        found = measure(instances, workers, 30, seconds)
        print("  " + line(found), flush=True)
        rates.append(found["cpu_s_per_1k"])
        target = instances == 20_000 and workers == 2
        figures.append(
            report(
                Figure(
                    16,
                    f"sweep at {instances:,} instances, {workers} worker{'s' if workers > 1 else ''}, 30 s interval:"
                    " checks/s, max lag, CPU-s per 1,000 checks",
                    f"{found['checks_per_s']:.0f}/s, {found['max_lag_s']:.1f} s, {found['cpu_s_per_1k']:.3f}",
                    "max lag <= 30 s" if target else "",
                    found["max_lag_s"] <= 30 if target else None,
                )
            )
        )
    # Two vantages (each its own worker), every proxy checked from both within its interval, against
    # one vantage with two workers, in the same run: what a second checker costs per check.
    one = measure(20_000, 2, 30, seconds)
    two = measure(20_000, 1, 30, seconds, vantages=2)
    for found in (one, two):
        print("  " + line(found), flush=True)
    figures.append(
        report(
            Figure(
                20,
                "sweep at 20,000 instances, 30 s, two vantages: checks/s (both), max lag, instances missed by"
                " a vantage within an interval, CPU-s per 1,000 checks (one vantage's in the same run)",
                f"{two['checks_per_s']:.0f}/s, {two['max_lag_s']:.1f} s, {two['missed']:.0f} missed,"
                f" {two['cpu_s_per_1k']:.3f} ({one['cpu_s_per_1k']:.3f}, {two['cpu_s_per_1k'] / one['cpu_s_per_1k']:.2f}x)",
                "none missed, max lag <= 30 s",
                two["missed"] == 0 and two["max_lag_s"] <= 30,
            )
        )
    )
    cpu = max(rates)  # the costliest run's CPU per check: a conservative rate
    for instances in (1_000, 10_000):
        cost = remote_vantage_cost(instances, 30, cpu)
        parts = ", ".join(f"{k} ${v:.2f}" for k, v in cost.items() if k != "total")
        figures.append(
            report(
                Figure(
                    20,
                    f"a vantage in another region a month, {instances:,} instances at 30 s ({PRICES_AS_OF})",
                    f"${cost['total']:.2f} ({parts})",
                )
            )
        )
    for instances in (1_000, 10_000, 100_000):
        workers, per_worker, dollars = monthly_cost(instances, 30, cpu)
        figures.append(
            report(
                Figure(
                    16,
                    f"Lambda workers a month, {instances:,} instances at 30 s",
                    f"${dollars:.2f} ({workers} worker{'s' if workers > 1 else ''} at ~{per_worker:.0f} checks/s each)",
                )
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--vantages", type=int, default=1, choices=(1, 2))
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    found = measure(args.instances, args.workers, args.interval, args.seconds, args.vantages)
    print(line(found), flush=True)


if __name__ == "__main__":
    main()
