"""Fleet-wide state: the vantages (when each last ran, which are impaired) and the safety row (the
emergency brake, checks suspended, a release the scheduled run still has to act on).

Each change of state is one statement that writes its notification with it, only when the state
really changed: a notification goes out once per change, however many writers try at once.
"""

from __future__ import annotations

from typing import Any

from ..domain.safety import AutoFailover, SafetyState, VantageState
from .changes import OutboxRow
from .db import Connection
from .rows import recordset

_OUTBOX = """
    INSERT INTO notification_outbox (id, type, proxy_id, user_id, severity, message, next_attempt_at)
    SELECT r.id, r.type, r.proxy_id, r.user_id, r.severity, r.message,
           now() + make_interval(secs => CAST(:grace AS float8))
      FROM jsonb_to_recordset(CAST(:outbox AS jsonb)) AS r(
          id uuid, type text, proxy_id text, user_id text, severity text, message jsonb)
     WHERE EXISTS (SELECT 1 FROM changed)
    RETURNING id
"""


def _outbox(rows: list[OutboxRow]) -> str:
    return recordset([r._asdict() for r in rows])


# ---- vantages ------------------------------------------------------------------------------------

_VANTAGES = "SELECT name, last_run_at, impaired, known_since FROM vantages ORDER BY name"


def vantages(con: Connection) -> list[VantageState]:
    return [VantageState(str(n), at, bool(i), since) for n, at, i, since in con.run(_VANTAGES)]


_SET_IMPAIRED = f"""
WITH changed AS (
    UPDATE vantages SET impaired = :impaired, changed_at = now(), last_run_at = now()
     WHERE name = :name AND impaired <> :impaired
    RETURNING name
), notice AS ({_OUTBOX})
SELECT (SELECT count(*) FROM notice)
"""


def set_impaired(con: Connection, name: str, impaired: bool, notice: OutboxRow, grace: float) -> bool:
    """The vantage's canaries' verdict; True (and its notice stored) when it changed."""
    rows = con.run(_SET_IMPAIRED, name=name, impaired=impaired, outbox=_outbox([notice]), grace=float(grace))
    return bool(rows[0][0])


# ---- the safety row ------------------------------------------------------------------------------

_SAFETY = """
SELECT auto_failover, reason, changed_by, changed_at, checks_suspended, release_pending FROM fleet_safety
"""


def _state(row: Any) -> SafetyState:
    held, reason, by, at, suspended, pending = row
    return SafetyState(AutoFailover(held), reason, by, at, bool(suspended), bool(pending))


def safety(con: Connection) -> SafetyState:
    rows = con.run(_SAFETY)
    if not rows:  # the migration makes the row; a database without it runs with the brake off
        return SafetyState(AutoFailover.ENABLED, None, None, None, False, False)
    return _state(rows[0])


_SET_SUSPENDED = f"""
WITH changed AS (
    UPDATE fleet_safety SET checks_suspended = :suspended WHERE checks_suspended <> :suspended
    RETURNING 1
), notice AS ({_OUTBOX})
SELECT (SELECT count(*) FROM notice)
"""


def set_checks_suspended(con: Connection, suspended: bool, notice: OutboxRow, grace: float) -> bool:
    rows = con.run(_SET_SUSPENDED, suspended=suspended, outbox=_outbox([notice]), grace=float(grace))
    return bool(rows[0][0])


# The SET expressions read the row as the update finds it (after waiting for a concurrent one), so of
# two writers that both hold, one flips the brake and announces it.
_SET_BRAKE = f"""
WITH updated AS (
    UPDATE fleet_safety SET auto_failover = :state, reason = :reason, changed_by = :by, changed_at = now(),
           release_pending = release_pending OR (:state = 'enabled' AND auto_failover = 'held'),
           flipped = (auto_failover <> :state)
    RETURNING auto_failover, reason, changed_by, changed_at, checks_suspended, release_pending, flipped
), changed AS (SELECT 1 FROM updated WHERE flipped), notice AS ({_OUTBOX})
SELECT u.auto_failover, u.reason, u.changed_by, u.changed_at, u.checks_suspended, u.release_pending,
       (SELECT count(*) FROM notice)
  FROM updated u
"""


def set_brake(
    con: Connection, state: AutoFailover, reason: str, by: str, notice: OutboxRow, grace: float
) -> tuple[SafetyState, bool]:
    """Hold or release; the state after, and whether it changed (its notice is then stored). A release
    leaves `release_pending` for the next scheduled pass."""
    row = con.run(
        _SET_BRAKE, state=state.value, reason=reason, by=by, outbox=_outbox([notice]), grace=float(grace)
    )[0]
    return _state(row[:6]), bool(row[6])


_TAKE_RELEASE = """
UPDATE fleet_safety SET release_pending = false WHERE release_pending AND auto_failover = 'enabled' RETURNING 1
"""


def take_release(con: Connection) -> bool:
    """True once after a release: the caller makes the pass that switches what still should."""
    return bool(con.run(_TAKE_RELEASE))
