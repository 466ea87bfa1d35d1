"""The unit of work every write goes through: lock, read, let the engine apply the writer's steps,
write and commit, then publish. What the use cases share, and nothing else."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..clock import Clock, jitter_source, utcnow
from ..settings import Settings, get_settings
from ..store.db import Connection, Database, get_database

if TYPE_CHECKING:
    from ..domain.change import Change
    from ..engine import StepFor
    from ..store.changes import OutboxRow

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
    ) -> list[Change]:
        """Lock the proxies `lock` names (BEGIN travels with it), let the engine read them, decide each
        step's change and write everything with the COMMIT: three round trips (a statement more for
        an owner's storm state when the write pages someone). Then publish what was decided
        (right away, or by `publish`: the sweep's publisher thread). A `dry_run` decides the same under
        the same locks, then rolls back and publishes nothing."""
        from .. import engine

        settings = self.settings

        def work(con: Connection) -> tuple[list[OutboxRow], list[Change]]:
            return engine.run(
                con,
                lock(con),
                step_for,
                clock=self.clock,
                actor=actor,
                jitter=self.jitter,
                outbox_grace_seconds=settings.outbox_grace_seconds,
                storm_threshold=settings.notify_storm_threshold,
                record_checks=settings.check_history,
                dry_run=dry_run,
            )

        try:
            outbox, changes = self.db.run_in_transaction(work)
        except engine.DryRun as decided:
            return decided.changes
        if publish is not None:
            publish(outbox)
        else:
            from ..notify.relay import deliver_now

            deliver_now(self.db, outbox, self.settings)
        return changes
