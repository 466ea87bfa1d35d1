"""Forward-only migration runner: applies `migrations/NNN_name.sql` in order, once each.

Each file runs in its own transaction and is recorded with its SHA-256 in `schema_migrations`; a file
that changed after it was applied stops the run. A session advisory lock makes concurrent starts
(several Lambda cold starts, two local stacks) take turns.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MigrationError
from ..observability import begin_invocation, get_logger
from ..settings import get_settings
from .db import Database, get_database

logger = get_logger(__name__)
_LOCK_KEY = 7_294_113_905  # pg_advisory_lock key reserved for migrations
_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class MigrationFile:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def default_directory() -> Path:
    configured = os.environ.get("MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if task_root and any(Path(task_root).glob("*.sql")):
        return Path(task_root)
    return Path(__file__).resolve().parents[3] / "migrations"


def discover(directory: Path) -> list[MigrationFile]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        if not _NAME.match(path.name):
            raise MigrationError(f"migration file name not of the form NNN_name.sql: {path.name}")
        files.append(MigrationFile(path.name, path.read_text(encoding="utf-8")))
    numbers = [f.name.split("_", 1)[0] for f in files]
    if len(set(numbers)) != len(numbers):
        raise MigrationError("two migration files share a number")
    return files


def migrate(database: Database | None = None, directory: Path | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied by this call."""
    db = database or get_database()
    files = discover(directory or default_directory())
    con = db.connection()
    con.run("SELECT pg_advisory_lock(:key)", key=_LOCK_KEY)
    try:
        con.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {
            name: checksum for name, checksum in con.run("SELECT name, checksum FROM schema_migrations")
        }
        for name, checksum in applied.items():
            current = next((f for f in files if f.name == name), None)
            if current is None:
                raise MigrationError(f"applied migration {name} is missing from the migrations folder")
            if current.checksum != checksum:
                raise MigrationError(f"applied migration {name} has changed since it was applied")
        done = []
        for file in files:
            if file.name in applied:
                continue
            with db.transaction() as tx:
                tx.run_script(file.sql)
                tx.run(
                    "INSERT INTO schema_migrations (name, checksum) VALUES (:name, :checksum)",
                    name=file.name,
                    checksum=file.checksum,
                )
            logger.info("migration applied", extra={"migration": file.name})
            done.append(file.name)
        return done
    finally:
        if not con.broken:
            con.run("SELECT pg_advisory_unlock(:key)", key=_LOCK_KEY)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Deploy-time entry: invoked directly, or as the CloudFormation custom resource of the stack."""
    begin_invocation(context, get_settings())
    if "RequestType" not in event:
        return {"applied": migrate()}
    status, reason, applied = "SUCCESS", "ok", []
    if event["RequestType"] in {"Create", "Update"}:
        try:
            applied = migrate()
        except Exception as exc:
            status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
            logger.exception("migration failed")
    _respond_to_cloudformation(event, context, status, reason, applied)
    return {"status": status, "applied": applied}


def _respond_to_cloudformation(
    event: dict[str, Any], context: Any, status: str, reason: str, applied: list[str]
) -> None:
    import urllib.request

    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or "schema-migrations",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {"Applied": ",".join(applied)},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the pre-signed S3 URL CloudFormation gave us
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


if __name__ == "__main__":
    print(json.dumps({"applied": migrate()}))
