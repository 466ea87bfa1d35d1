"""Issue 5: one sweep over 10,000 instances (2,500 proxies x 4; 10% failing, 2% hanging past a 1 s
timeout) on loopback: wall time, statements, the ratio against probing one after another; and
detection-to-published latency for a 1 s interval."""

from __future__ import annotations

import json
import os
import random
import resource
import threading
import time

from proxy_failover.checks.policy import TargetPolicy
from proxy_failover.checks.probes import Prober, ProbeRequest
from proxy_failover.settings import Settings, reset_settings
from proxy_failover.sweep import Sweeper

from bench.common import Figure, fresh_database, median, report
from local.emulators import bounded
from tests.fleet import FleetProcess, populate

PROXIES = int(os.environ.get("BENCH_SWEEP_PROXIES", "2500"))
PER_PROXY = 4
SAMPLE = 250


def sweep_10k() -> list[Figure]:
    figures = []
    rng = random.Random(7)
    with fresh_database() as (_, db), FleetProcess() as fleet:
        urls = populate(db, fleet, rng, PROXIES)
        n = len(urls)
        settings = Settings.from_environ(
            {"PROBE_ALLOW_LOOPBACK": "true", "SWEEP_BATCH_SIZE": os.environ.get("SWEEP_BATCH_SIZE", "2500")}
        )
        sweeper = Sweeper(db, settings=settings)
        con = db.connection()
        statements = con.statements
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        stats = sweeper.run_once()
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        used = db.connection().statements - statements
        assert stats.checks == n, (stats.checks, n)
        figures.append(
            report(
                Figure(5, f"sweep over {n:,} instances: wall time", f"{wall:.2f} s", "<= 5 s", wall <= 5.0)
            )
        )
        figures.append(
            report(
                Figure(
                    5,
                    f"sweep over {n:,} instances: SQL statements",
                    str(used),
                    f"<= {n // 100}",
                    used <= n // 100,
                )
            )
        )
        figures.append(
            report(
                Figure(
                    7,
                    f"sweep over {n:,} instances: peak RSS of the sweeping process",
                    f"{peak / 1024:.0f} MiB (grew {max(0, peak - rss_before) / 1024:.0f} MiB during the sweep)",
                )
            )
        )

        # The same mix probed one after another, on a sample (sequential over all would take minutes).
        sample = rng.sample(urls, SAMPLE)
        prober = Prober(TargetPolicy(allow_loopback=True), concurrency=1)
        started = time.perf_counter()
        prober.run([ProbeRequest(str(k), url, 1.0) for k, (_, url) in enumerate(sample)])
        per_probe = (time.perf_counter() - started) / SAMPLE
        sequential = per_probe * n
        figures.append(
            report(
                Figure(
                    5,
                    "sweep vs probing one after another (same instances, same run)",
                    f"{sequential / wall:.0f}x faster ({sequential:.0f} s extrapolated from {SAMPLE} sequential probes)",
                )
            )
        )
    return figures


def detection_latency(vantages: tuple[str, ...] = ("local",)) -> list[Figure]:
    """A 1 s interval, threshold 3: from the primary dying to the failover notice arriving in SQS. With
    two vantages (a and b, probing from their own addresses), each sweeps on a thread of its own and the
    majority decides."""
    import boto3
    from proxy_failover.identity import Principal
    from proxy_failover.notify.publisher import reset_client
    from proxy_failover.service import FailoverService

    from bench.common import moto_server
    from tests.servers import FleetServer

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "eu-west-1"}
    )
    latencies = []
    with fresh_database() as (_, db), moto_server() as endpoint:
        from proxy_failover.store import claims

        if vantages != ("local",):
            db.autocommit().run("DELETE FROM vantages")
            for name in vantages:
                claims.register_vantage(db.autocommit(), name)
        sns = boto3.client("sns", region_name="eu-west-1", endpoint_url=endpoint, config=bounded())
        sqs = boto3.client("sqs", region_name="eu-west-1", endpoint_url=endpoint, config=bounded())
        topic = sns.create_topic(Name="bench")["TopicArn"]
        queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        os.environ.update({"NOTIFICATIONS_TOPIC_ARN": topic, "PROBE_ALLOW_LOOPBACK": "true"})
        reset_settings()
        reset_client()
        fleet = FleetServer()
        service = FailoverService(db)
        owner = Principal("bench")
        for trial in range(3):
            proxy = f"fast-{trial}"
            service.put_config(
                owner,
                proxy,
                {
                    "health_check_interval_seconds": 1,
                    "health_check_timeout_seconds": 1,
                    "unhealthy_threshold": 3,
                },
            )
            for k, name in enumerate(["primary", "backup"]):
                service.register_instance(
                    owner,
                    proxy,
                    {
                        "instance_name": name,
                        "instance_type": "standard",
                        "priority": k,
                        "weight": 1,
                        "health_check_url": fleet.url(f"{proxy}-{name}"),
                    },
                )
        stop = threading.Event()
        sources = {"a": "127.0.0.2", "b": "127.0.0.3"}
        sources_setting = ",".join(f"{v}={a}" for v, a in sources.items())

        def keep_sweeping(vantage: str) -> None:
            env = {**os.environ, "SWEEP_VANTAGE": vantage, "PROBE_SOURCE_ADDRESSES": sources_setting}
            sweeper = Sweeper(db, settings=Settings.from_environ(env))
            while not stop.is_set():
                sweeper.run_once()
                stop.wait(0.05)
            db.discard()

        runners = [threading.Thread(target=keep_sweeping, args=(v,), daemon=True) for v in vantages]
        for runner in runners:
            runner.start()
        time.sleep(2.5)  # instances turn healthy
        for trial in range(3):
            while sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
                pass
            died = time.monotonic()
            fleet.modes[f"fast-{trial}-primary"] = "fail"
            arrived = None
            while arrived is None and time.monotonic() - died < 15:
                for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                    "Messages", []
                ):
                    body = json.loads(json.loads(message["Body"])["Message"])
                    if body["type"] == "failover" and body["proxyId"] == f"fast-{trial}":
                        arrived = time.monotonic()
                time.sleep(0.02)
            latencies.append((arrived or float("inf")) - died)
        stop.set()
        for runner in runners:
            runner.join(timeout=10)
        fleet.close()
    worst = max(latencies)
    if vantages == ("local",):
        return [
            report(
                Figure(
                    5,
                    "detection-to-published latency, 1 s interval x threshold 3 (median / worst of 3)",
                    f"{median(latencies):.2f} / {worst:.2f} s",
                    "<= 4 s",
                    worst <= 4.0,
                )
            )
        ]
    return [
        report(
            Figure(
                20,
                "detection-to-published latency with 2 vantages, 1 s interval x threshold 3 (median / worst of 3)",
                f"{median(latencies):.2f} / {worst:.2f} s",
                "<= 5 s",
                worst <= 5.0,
            )
        )
    ]


# Lambda list prices (arm64, e.g. eu-west-1): per GB-second and per request.
GB_SECOND = 0.0000133334
REQUEST = 0.20 / 1_000_000
INVOCATIONS_PER_MONTH = 30.4 * 24 * 60  # the schedule fires once a minute


class _Invocation:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def sweep_cost() -> list[Figure]:
    """What the scheduled dispatcher costs a month with nothing to do: one short invocation a minute
    (measured here, without a work queue, so it also looks for work itself). What the workers cost
    for a fleet is bench/scale_bench.py's."""
    from proxy_failover.dispatch import run_dispatcher

    from bench.common import ROOT
    from local.apigw import load_template

    dispatcher = load_template(ROOT / "template.yaml")["Resources"]["SweepFunction"]["Properties"]
    memory_gb = dispatcher["MemorySize"] / 1024
    durations = []
    with fresh_database():
        for _ in range(7):
            started = time.perf_counter()
            run_dispatcher({}, _Invocation(85))
            durations.append(time.perf_counter() - started)
    idle = median(durations)
    monthly = INVOCATIONS_PER_MONTH * (idle * memory_gb * GB_SECOND + REQUEST)
    return [
        report(
            Figure(
                11,
                "dispatcher cost a month, 0 instances (one idle invocation a minute, measured)",
                f"${monthly:.2f} ({idle * 1000:.0f} ms a minute at {memory_gb:g} GB)",
            )
        )
    ]


def answer_parsing() -> list[Figure]:
    """The probe's reading of an answer (RFC 9112: interim 1xx skipped, bodies as framed) against the
    first-line scan it replaced, on the answer a healthy instance gives, in one run: CPU per answer."""
    from proxy_failover.http_answer import HttpAnswer

    typical = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    )
    rounds = 100_000

    def first_line_scan() -> None:  # what the probe did before: the status line, nothing else
        buffer = b""
        for _ in range(rounds):
            buffer = typical
            end = buffer.find(b"\r\n")
            buffer[:end].split(b" ", 2)

    def status_only() -> None:
        for _ in range(rounds):
            HttpAnswer(False).feed(typical)

    def with_body() -> None:
        for _ in range(rounds):
            HttpAnswer(True).feed(typical)

    timings = {}
    for name, work in (("scan", first_line_scan), ("status", status_only), ("body", with_body)):
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            work()
            best = min(best, time.process_time() - started)
        timings[name] = best / rounds * 1e6
    # Next to a probe's own cost (a connection, a request, an answer: some 200 us of CPU per check in
    # the sweep above), the parse is a few per cent; the target keeps it there.
    return [
        report(
            Figure(
                19,
                "probe answer parsing, CPU per answer: status only / with body (first-line scan before)",
                f"{timings['status']:.2f} / {timings['body']:.2f} us ({timings['scan']:.2f} us)",
                "<= 10 us",
                timings["body"] <= 10.0,
            )
        )
    ]


def remote_vantage_path() -> list[Figure]:
    """A vantage in another region, the software's share of its detection time: forward a batch, the
    region's worker probes it and sends the results, the home consumer applies them (moto SQS standing
    in for the two queues: the network between regions and Lambda's polling of SQS come on top, some
    0.2-1 s deployed). Median of 20 batches of 50 instances."""
    import boto3
    from moto import mock_aws
    from proxy_failover import remote
    from proxy_failover.identity import Principal
    from proxy_failover.service import FailoverService
    from proxy_failover.store import claims

    from tests.servers import FleetServer

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "eu-west-1"}
    )
    spans = []
    with fresh_database() as (_, db), mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1", config=bounded())
        work = sqs.create_queue(QueueName="far-work")["QueueUrl"]
        results = sqs.create_queue(QueueName="far-results")["QueueUrl"]
        os.environ.update({"PROBE_ALLOW_LOOPBACK": "true", "SWEEP_RESULTS_QUEUE_URL": results})
        reset_settings()
        fleet = FleetServer()
        claims.register_vantage(db.autocommit(), "far")
        service = FailoverService(db)
        owner = Principal("bench")
        for p in range(50):
            service.register_instance(
                owner,
                f"far-{p}",
                {
                    "instance_name": "a",
                    "instance_type": "standard",
                    "priority": 1,
                    "weight": 1,
                    "health_check_url": fleet.url(f"far-{p}"),
                },
            )
        settings = Settings.from_environ(
            {**os.environ, "SWEEP_VANTAGE": "far", "SWEEP_FORWARD_QUEUE_URL": work}
        )

        def taken(url: str) -> dict:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for m in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return {"Records": [{"body": m["Body"]} for m in messages]}

        for _ in range(20):
            db.autocommit().run("UPDATE proxy_schedule SET next_check_at = now() WHERE vantage = 'far'")
            started = time.perf_counter()
            Sweeper(db, settings=settings).run_once(flush_seconds=0)
            remote.probe_batches(taken(work))
            remote.apply_results(taken(results))
            spans.append(time.perf_counter() - started)
        fleet.close()
        for name in ("SWEEP_RESULTS_QUEUE_URL",):
            os.environ.pop(name, None)
        reset_settings()
    return [
        report(
            Figure(
                20,
                "remote vantage, the software's part of a check: forward, probe, send back, apply (median of 20"
                " batches of 50)",
                f"{median(spans) * 1000:.0f} ms",
            )
        )
    ]


def _backend_cpu_seconds(con) -> float:
    """CPU (user + system) the PostgreSQL backend of this connection has used: it runs on this machine."""
    pid = int(con.run("SELECT pg_backend_pid()")[0][0])
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_history_cost() -> list[Figure]:
    """What the check history costs the sweep: the CPU (this process's and its PostgreSQL backend's)
    of applying 1,000 probe results through the engine, with the history on and off (alternating
    rounds, medians), and the bytes it holds per instance once every ring is full."""
    from proxy_failover.checks.probes import ProbeResult

    instances, rounds = 1000, int(os.environ.get("BENCH_HISTORY_ROUNDS", "15"))
    with fresh_database() as (_, db):
        con = db.autocommit()
        con.run(
            "INSERT INTO proxies (proxy_id, owner_id) SELECT 'h-' || g, 'bench' FROM generate_series(1, :n) g",
            n=instances // 4,
        )
        con.run(
            "INSERT INTO proxy_instances (proxy_id, instance_name, priority, health_check_url, health_status)"
            " SELECT proxy_id, 'i' || k, k, 'http://127.0.0.1:9/', 'healthy' FROM proxies, generate_series(0, 3) k"
        )
        con.run(
            "UPDATE proxies p SET active_instance_id = (SELECT id FROM proxy_instances i"
            " WHERE i.proxy_id = p.proxy_id ORDER BY priority LIMIT 1)"
        )
        by_proxy: dict[str, list[str]] = {}
        for proxy_id, instance_id in con.run("SELECT proxy_id, id::text FROM proxy_instances"):
            by_proxy.setdefault(proxy_id, []).append(instance_id)
        proxy_ids = sorted(by_proxy)
        results = {i: ProbeResult(i, True, 12.5) for ids in by_proxy.values() for i in ids}
        cost: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        sweepers = {
            on: Sweeper(db, settings=Settings.from_environ({"CHECK_HISTORY": str(on).lower()}))
            for on in (True, False)
        }
        for k in range(2 * rounds):
            on = k % 2 == 0 if (k // 2) % 2 == 0 else k % 2 == 1  # ABBA: drift cancels out
            connection = db.connection()
            backend, started = _backend_cpu_seconds(connection), time.process_time()
            stats = sweepers[on].apply(proxy_ids, results)
            cost[on].append((time.process_time() - started, _backend_cpu_seconds(connection) - backend))
            assert stats.checks == instances
        for _ in range(100):  # fill every ring
            sweepers[True].apply(proxy_ids, results)
        for sweeper in sweepers.values():
            sweeper.publisher.close(1.0)
        rows = int(con.run("SELECT count(*) FROM check_results")[0][0])
        size = int(con.run("SELECT pg_total_relation_size('check_results')")[0][0])
    figures = []
    for on in (True, False):
        python = median([c[0] for c in cost[on]]) * 1000
        postgres = median([c[1] for c in cost[on]]) * 1000
        figures.append(
            report(
                Figure(
                    21,
                    f"sweep CPU per 1,000 checks applied, check history {'on' if on else 'off'}",
                    f"{python + postgres:.0f} ms ({python:.0f} ms Python, {postgres:.0f} ms PostgreSQL)",
                )
            )
        )
    with_history = median([sum(c) for c in cost[True]])
    without = median([sum(c) for c in cost[False]])
    figures.append(
        report(
            Figure(
                21,
                "check history: sweep CPU with / without (same run)",
                f"{with_history / without:.2f}x",
            )
        )
    )
    figures.append(
        report(
            Figure(
                21,
                "check history: bytes per instance, one vantage's ring full (100 results)",
                f"{size / instances:,.0f} B ({rows:,} rows for {instances:,} instances, table and indexes)",
                "<= 100 results per instance and vantage",
                rows <= 100 * instances,
            )
        )
    )
    return figures


def run() -> list[Figure]:
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    return (
        answer_parsing()
        + check_history_cost()
        + sweep_10k()
        + detection_latency()
        + detection_latency(("a", "b"))
        + sweep_cost()
    )


if __name__ == "__main__":
    run()
