"""A throwaway PostgreSQL cluster that checks passwords (scram-sha-256), for tests of logins that fail:
the machine's own server trusts every local connection. Made with the server's initdb (as the
`postgres` user when run as root, since initdb refuses root) in a temporary folder, on a free port."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise AssertionError(f"PostgreSQL's {name} is needed for this test (Debian: postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PasswordCluster:
    SUPERUSER_PASSWORD = "cluster-admin-password"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="pg-password-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
        pwfile = self.folder / "pw"
        pwfile.write_text(self.SUPERUSER_PASSWORD)
        if self._as_postgres:
            shutil.chown(pwfile, "postgres")
        self._run(
            _bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )
        self.admin_url = f"postgresql://postgres:{self.SUPERUSER_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else list(argv)
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            time.sleep(0.1)
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PasswordCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
