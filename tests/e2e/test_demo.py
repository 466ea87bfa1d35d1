"""`make demo` while `make run` is up: the demo runs on data of its own, shows the failover and the
failback, and leaves nothing behind (no database, no folder, no proxy in the running stack's data)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from proxy_failover.store.db import Database

from tests.e2e.running import start_stack
from tests.helpers import ROOT, SECRET

pytestmark = pytest.mark.e2e


def test_the_demo_runs_beside_a_running_stack_and_leaves_nothing(server_url, migrated, tmp_path):
    # Given a local stack up on the machine's database, whose sweep may not probe loopback
    running = start_stack(tmp_path, DATABASE_URL=migrated, PROBE_ALLOW_LOOPBACK="false")
    try:
        # When the demo runs meanwhile
        demo = subprocess.run(
            [sys.executable, "-m", "local.demo"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": server_url, "JWT_SECRET": SECRET},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        # Then it shows the failover and the failback
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert "failed over to backup" in demo.stdout and "failed back to primary" in demo.stdout
        # and leaves nothing: not its folder, not its database (those it named: another run's demo may
        # be at work on the same machine), nothing in the running stack's data
        named = re.search(r"the demo's data: (\S+) \(database: (\S+)\)", demo.stdout)
        assert named, demo.stdout[:2000]
        folder, database = Path(named.group(1)), named.group(2)
        assert folder.name.startswith("proxy-failover-demo-") and not folder.exists()
        admin = Database.from_url(server_url)
        try:
            left = admin.autocommit().run(
                "SELECT datname FROM pg_database WHERE datname = :name", name=database
            )
        finally:
            admin.discard()
        assert database.startswith("pf_demo_") and left == []
        mine = Database.from_url(migrated)
        try:
            demo_proxies = mine.autocommit().run("SELECT count(*) FROM proxies WHERE proxy_id LIKE 'demo-%'")
        finally:
            mine.discard()
        assert demo_proxies == [[0]]
    finally:
        running.stop()
