"""The unit of work every write goes through: lock, read, let the engine apply the writer's steps,
write and commit, then publish. What the use cases share, and nothing else."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..clock import Clock, jitter_source, utcnow
from ..settings import Settings, get_settings
from ..store.db import Connection, Database, get_database

if TYPE_CHECKING:
    from ..domain.change import Change
    from ..engine import StepFor
    from ..store.changes import OutboxRow
    from ..store.remembered import Known

    Publish = Callable[[Sequence[OutboxRow]], object]

# Reads import only what they use: the engine, the state machine, the probe policy and the publisher
# are imported by the write paths, so a GET handler's cold start does not pay for them.


class UnitOfWork:
    def __init__(
        self,
        db: Database | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self.clock = clock
        self.jitter = jitter_source(rng)

    @property
    def db(self) -> Database:
        return self._db or get_database()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def write(
        self,
        lock: Callable[[Connection], list[str]],
        step_for: StepFor,
        *,
        actor: str,
        publish: Publish | None = None,
        dry_run: bool = False,
        known: Known | None = None,
    ) -> list[Change]:
        """Lock the proxies `lock` names (BEGIN travels with it), let the engine read them, decide each
        step's change and write everything with the COMMIT: three round trips (a statement more for
        an owner's storm state when the write pages someone). Then publish what was decided
        (right away, or by `publish`: the sweep's publisher thread). A `dry_run` decides the same under
        the same locks, then rolls back and publishes nothing.

        `known` (the proxy `lock` would lock, if known, and the caller): when this process remembers
        that proxy as its last write left it, the write is decided on that copy and sent behind a
        guard, one round trip (`store.remembered`); if the guard finds the proxy changed, the write is
        made again as above."""
        from .. import engine

        outcome = None
        if known is not None and known.proxy_id is not None and not dry_run:
            outcome = self._write_remembered(known, step_for, actor)
        if outcome is not None:
            outbox, changes = outcome
            self._publish(outbox, publish)
            return changes

        def work(con: Connection) -> tuple[list[OutboxRow], list[Change]]:
            return engine.run(con, lock(con), step_for, **self._engine_options(actor), dry_run=dry_run)

        try:
            outbox, changes = self.db.run_in_transaction(work)
        except engine.DryRun as decided:
            return decided.changes
        self._publish(outbox, publish)
        return changes

    def _write_remembered(
        self, known: Known, step_for: StepFor, actor: str
    ) -> tuple[list[OutboxRow], list[Change]] | None:
        from .. import engine
        from ..store import remembered
        from ..store.driver_errors import StaleRead

        proxy_id = known.proxy_id
        if proxy_id is None or remembered.recall(proxy_id) is None or not remembered.odds.worth_trying():
            return None
        try:
            written = self.db.run_in_transaction(
                lambda con: engine.run_remembered(con, known, step_for, **self._engine_options(actor))
            )
        except StaleRead:
            remembered.forget(proxy_id)
            remembered.odds.record(current=False)
            return None
        if written is not None:
            remembered.odds.record(current=True)
        return written

    def _engine_options(self, actor: str) -> dict[str, Any]:
        """What the engine takes from this unit of work and its settings, whichever path writes."""
        settings = self.settings
        return {
            "clock": self.clock,
            "actor": actor,
            "jitter": self.jitter,
            "outbox_grace_seconds": settings.outbox_grace_seconds,
            "storm_threshold": settings.notify_storm_threshold,
            "record_checks": settings.check_history,
        }

    def _publish(self, outbox: Sequence[OutboxRow], publish: Publish | None) -> None:
        if publish is not None:
            publish(outbox)
        else:
            from ..notify.relay import deliver_now

            deliver_now(self.db, outbox, self.settings)
