"""The simulated clock, shared by every server process through the store.

Time in the simulator comes only from here (DESIGN.md, "Deterministic"). Two modes:
- running: wall clock plus the sum of all advances;
- frozen:  a fixed start plus the sum of all advances, so a replay gives byte-identical timestamps.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from simulator.core.fastsql import Prepared
from simulator.core.store import Store, sim_state

_KEY = "clock"
MAX_ADVANCE_SECONDS = 100 * 366 * 86400
_READ = Prepared(select(sim_state.c.value).where(sim_state.c.key == bindparam("key")), ("key",))


@dataclass(frozen=True)
class ClockState:
    mode: str
    base: datetime  # frozen: the fixed start; running: unused (kept for the record)
    offset_seconds: float

    def now(self) -> datetime:
        if self.mode == "frozen":
            return self.base + timedelta(seconds=self.offset_seconds)
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def to_json(self) -> str:
        return json.dumps(
            {"mode": self.mode, "base": self.base.isoformat(), "offset_seconds": self.offset_seconds}
        )

    @staticmethod
    def from_json(text: str) -> ClockState:
        data = json.loads(text)
        return ClockState(data["mode"], datetime.fromisoformat(data["base"]), float(data["offset_seconds"]))


def parse_instant(text: str) -> datetime:
    """ISO 8601 with zone; a naive value is taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SimClock:
    """Reads and moves the shared clock. Cheap enough to call per request (one primary-key read)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def state(self, conn: Connection | None = None) -> ClockState:
        """The shared clock; pass an open connection to read it inside a larger read."""
        if conn is None:
            with self._store.read() as own:
                return self.state(own)
        _, rows = _READ.run(conn, {"key": _KEY})
        row = rows[0] if rows else None
        if row is None:
            return ClockState("running", datetime.now(UTC), 0.0)
        return ClockState.from_json(row[0])

    def now(self) -> datetime:
        return self.state().now()

    def reset(self, mode: str = "running", start: str | None = None) -> ClockState:
        base = parse_instant(start) if start else datetime.now(UTC).replace(microsecond=0)
        state = ClockState(mode, base, 0.0)
        self._save(state)
        return state

    def advance(self, seconds: float) -> ClockState:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the simulated clock only moves forward by a finite number of seconds")
        if seconds > MAX_ADVANCE_SECONDS:
            raise ValueError(f"an advance is limited to {MAX_ADVANCE_SECONDS} seconds (100 years)")
        with self._store.write() as conn:
            row = conn.execute(select(sim_state.c.value).where(sim_state.c.key == _KEY)).first()
            current = ClockState.from_json(row[0]) if row else ClockState("running", datetime.now(UTC), 0.0)
            moved = ClockState(current.mode, current.base, current.offset_seconds + seconds)
            _upsert(conn, moved)
        return moved

    def _save(self, state: ClockState) -> None:
        with self._store.write() as conn:
            _upsert(conn, state)


def _upsert(conn: Connection, state: ClockState) -> None:
    updated = conn.execute(sim_state.update().where(sim_state.c.key == _KEY).values(value=state.to_json()))
    if updated.rowcount == 0:
        conn.execute(sim_state.insert().values(key=_KEY, value=state.to_json()))


def iso(moment: datetime) -> str:
    """The timestamp form used in the journal and messages: YYYY-MM-DDThh:mm:ss.fffZ."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def wall_seconds() -> float:
    return time.time()
