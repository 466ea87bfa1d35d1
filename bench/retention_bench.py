"""Issue 16: a simulated day of a 10,000-instance fleet's data (metrics reported every 5 minutes,
notifications, events, report keys), hour by hour, with retention run after each hour as the
dispatcher runs it and VACUUM in autovacuum's place. Once the retention windows have filled, the
tables' row counts and sizes stay flat. Windows are scaled to the simulated day (metrics and sent
notifications 6 h, events 12 h, report keys 1 h) so a day shows several turnovers."""

from __future__ import annotations

import time
from datetime import timedelta

from proxy_failover.store import retention

from bench.common import Figure, fresh_database, report

INSTANCES = 10_000
REPORTS_PER_HOUR = 12  # a metrics sample every 5 minutes per instance
KEEP = {
    "metrics": timedelta(hours=6),
    "sent_notifications": timedelta(hours=6),
    "events": timedelta(hours=12),
    "report_keys": timedelta(hours=1),
}
TABLES = ("proxy_instance_metrics", "notification_outbox", "proxy_failover_events", "report_keys")


def _hour(con, hour: int) -> None:
    """One simulated hour's rows, timestamped within it (the simulation starts 24 h ago)."""
    start = f"now() - interval '24 hours' + make_interval(hours => {hour})"
    con.run(
        "INSERT INTO proxy_instance_metrics (instance_id, recorded_at, cpu_percent, connection_count)"
        f" SELECT i.id, {start} + make_interval(mins => 5 * k), 20, 10"
        " FROM proxy_instances i, generate_series(0, :n - 1) k",
        n=REPORTS_PER_HOUR,
    )
    con.run(
        "INSERT INTO notification_outbox (id, type, proxy_id, user_id, severity, message, created_at, sent_at)"
        f" SELECT gen_random_uuid(), 'instance_unhealthy', 'sim-' || (g % 2500), 'sim', 'warning', '{{}}',"
        f" {start} + make_interval(secs => g), {start} + make_interval(secs => g + 1)"
        " FROM generate_series(1, 2000) g"
    )
    con.run(
        "INSERT INTO proxy_failover_events (id, proxy_id, owner_id, event_type, status, reason, actor,"
        " started_at, completed_at) SELECT gen_random_uuid(), 'sim-' || (g % 2500), 'bench', 'failover',"
        " 'completed', 'sim',"
        f" 'system', {start} + make_interval(secs => g), {start} + make_interval(secs => g)"
        " FROM generate_series(1, 200) g"
    )
    con.run(
        "INSERT INTO report_keys (instance_id, key, response, created_at)"
        f" SELECT i.id, 'k-' || :h, '{{}}', {start} + interval '30 minutes' FROM proxy_instances i",
        h=hour,
    )


def _sizes(con) -> dict[str, tuple[int, int]]:
    return {
        table: (
            int(con.run(f"SELECT count(*) FROM {table}")[0][0]),
            int(con.run("SELECT pg_total_relation_size(CAST(:t AS regclass))", t=table)[0][0]),
        )
        for table in TABLES
    }


def run() -> list[Figure]:
    figures = []
    with fresh_database() as (_, db):
        con = db.autocommit()
        con.run(
            "INSERT INTO proxies (proxy_id, owner_id) SELECT 'sim-' || g, 'sim' FROM generate_series(0, 2499) g"
        )
        con.run(
            "INSERT INTO proxy_instances (proxy_id, instance_name) SELECT p.proxy_id, 'i' || k"
            " FROM proxies p, generate_series(0, 3) k"
        )
        history = []
        spent = 0.0
        for hour in range(24):
            _hour(con, hour)
            now = con.run("SELECT now() - interval '23 hours' + make_interval(hours => :h)", h=hour)[0][0]
            started = time.perf_counter()
            retention.enforce(con, now, KEEP, batch_rows=5000, budget_seconds=600)
            spent = max(spent, time.perf_counter() - started)
            con.run("VACUUM " + ", ".join(TABLES))  # what autovacuum does on its own
            history.append(_sizes(con))
        print("  hour  " + "  ".join(f"{t:>32}" for t in TABLES))
        for hour, sizes in enumerate(history):
            cells = "  ".join(f"{rows:>12,} rows {size / 2**20:>8.1f} MiB" for rows, size in sizes.values())
            print(f"  {hour:>4}  {cells}")
    # flat: once the longest window has filled (hour 12), the last six hours hold no more than the six
    # before them. Peaks are compared, not single hours: a small table's size swings from one hour to
    # the next as VACUUM frees pages and new rows reuse them.
    for table in TABLES:
        rows_then = max(history[hour][table][0] for hour in range(12, 18))
        size_then = max(history[hour][table][1] for hour in range(12, 18))
        rows_end = max(history[hour][table][0] for hour in range(18, 24))
        size_end = max(history[hour][table][1] for hour in range(18, 24))
        flat = rows_end <= rows_then * 1.05 and size_end <= size_then * 1.15
        figures.append(
            report(
                Figure(
                    16,
                    f"retention over a simulated day at {INSTANCES:,} instances: {table}, peak of hours 12-17 -> 18-23",
                    f"{rows_then:,} -> {rows_end:,} rows, {size_then / 2**20:.1f} -> {size_end / 2**20:.1f} MiB",
                    "flat (rows +5%, size +15%)",
                    flat,
                )
            )
        )
    figures.append(
        report(
            Figure(
                16,
                "retention: the longest hourly run (batches of 5,000 rows, each its own statement)",
                f"{spent:.2f} s",
                "<= RETENTION_BUDGET_SECONDS (10 s)",
                spent <= 10,
            )
        )
    )
    return figures


if __name__ == "__main__":
    run()
