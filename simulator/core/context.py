"""What every request handler of one server process shares: configuration, store and clock.

Built once per process by create_app (keys, schemas and connections are never loaded per request:
DESIGN.md, "Fast on the hot path").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy.engine import Connection

import simulator.core.lifecycle  # noqa: F401  (its tables join the schema before create_schema)
from simulator.core.clock import SimClock
from simulator.core.config import SimConfig
from simulator.core.store import Store, metadata

EXTENSION_KEY = "icssim"


@dataclass
class SimContext:
    config: SimConfig
    store: Store
    clock: SimClock
    # Called with the new simulated time after every clock advance (profiles fire their due timers).
    clock_hooks: list[Callable[[datetime], None]] = field(default_factory=list)

    @classmethod
    def open(cls, config: SimConfig, *, create_schema: bool = True) -> SimContext:
        config.var_dir.mkdir(parents=True, exist_ok=True)
        store = Store(config.db_url, sync=config.journal_sync)
        if create_schema:
            store.create_schema()
        return cls(config=config, store=store, clock=SimClock(store))

    def reset_scene(self, *, parties: bool = False) -> None:
        """Wipe the scene (every table marked SCENE, of the core or a profile) and reset the clock; the
        registry (REGISTRY tables) only when asked. Simulator state (schema version, clock) stays."""
        wiped = {"scene", "registry"} if parties else {"scene"}
        with self.store.write() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.info.get("icssim") in wiped:
                    conn.execute(table.delete())
            if self.store.is_sqlite and _has_sequence(conn):
                # Restart AUTOINCREMENT sequences so that MRNs repeat after a reset (determinism).
                conn.exec_driver_sql("DELETE FROM sqlite_sequence")
        self.clock.reset(self.config.clock_mode, self.config.clock_start)


def _has_sequence(conn: Connection) -> bool:
    row = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='sqlite_sequence'"
    ).first()
    return row is not None


def sim_context(app: Flask | None = None) -> SimContext:
    ctx = (app or current_app).extensions[EXTENSION_KEY]
    assert isinstance(ctx, SimContext)
    return ctx
