"""Injected faults: the scene can make the simulator misbehave on purpose, deterministically.

Issue brief point 6 (control API: "inject faults — delay a reply, drop a receipt, duplicate a delivery,
make the MSH unavailable for a window — all deterministic with a seed"). The faults are what a trader's
software must survive in production: a reply that comes late, an acknowledgement lost on the way (the
sender must retry and get the original receipt back, ebMS3 duplicate elimination), the same message
delivered twice (the receiver must eliminate the duplicate by MessageId), a maintenance window (the
ICS2 availability SLA allows up to 1 h a week, domain/ics2.md "Releases").

A fault applies to the messages that match it (profile, party, action pattern), at most `count` times
(none = every time), and to each of those with `probability` (default 1). The draw is a hash of the
scene's seed, the fault and the message, so the same scene gives the same faults, run after run.
Profile-neutral: a profile asks `FaultBook.take(conn, kind, ...)` where a fault can happen.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Table, Text, bindparam, select, update
from sqlalchemy.engine import Connection

from simulator.core.clock import iso, parse_instant
from simulator.core.fastsql import Prepared
from simulator.core.store import SCENE, Store, metadata

KINDS = {
    "delay_reply": "the reply is held back `seconds` (simulated) before it can be pulled or pushed",
    "drop_receipt": "the message is stored and processed, but its receipt is lost (HTTP 504, no receipt)",
    "duplicate_delivery": "the message is delivered a second time, same MessageId, after its receipt",
    "msh_unavailable": "the MSH answers HTTP 503 to every message between `start` and `end`",
}

faults = Table(
    "faults",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(16), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("party", String(128)),  # PartyId/EORI it applies to; null = every party
    Column("action", String(32)),  # fnmatch pattern of message ids; null = every message
    Column("remaining", Integer),  # times it may still apply; null = unlimited
    Column("probability", Float, nullable=False),
    Column("seconds", Float),  # delay_reply
    Column("window_start", String(32)),  # msh_unavailable
    Column("window_end", String(32)),
    Column("applied", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("detail", Text),
    info=SCENE,
)


_ANY = Prepared(select(faults.c.id).where(faults.c.profile == bindparam("profile"))
                .limit(bindparam("one")).offset(bindparam("zero")), ("profile", "one", "zero"))


@dataclass(frozen=True)
class Fault:
    id: int
    kind: str
    seconds: float | None
    window_end: str | None


def _number(value: Any, what: str, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{what} must be between {low} and {high if high is not None else 'infinity'}, "
                         f"got {value!r}")
    return float(value)


class FaultBook:
    def __init__(self, store: Store, seed: int | str) -> None:
        self._store, self._seed = store, seed

    def add(self, profile: str, spec: dict[str, Any], *, now: datetime) -> dict[str, Any]:
        """Validate and store a fault; ValueError names the first problem precisely."""
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        unknown = set(spec) - {"kind", "party", "action", "count", "probability", "seconds", "start", "end",
                               "detail"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        for name in ("party", "action", "detail"):
            if spec.get(name) is not None and not isinstance(spec[name], str):
                raise ValueError(f"{name} must be text")
        count = spec.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"count must be a whole number ≥ 1 (or absent: unlimited), got {count!r}")
        probability = _number(spec.get("probability", 1.0), "probability", low=0.0, high=1.0)
        seconds = start = end = None
        if kind == "delay_reply":
            seconds = _number(spec.get("seconds"), "seconds", low=0.0)
        if kind == "msh_unavailable":
            try:
                start = iso(parse_instant(str(spec.get("start") or iso(now))))
                end = iso(parse_instant(str(spec["end"]))) if spec.get("end") else None
            except (KeyError, ValueError) as exc:
                raise ValueError(f"start/end must be ISO 8601 UTC instants: {exc}") from exc
            if end is None and "seconds" in spec:
                end = iso(parse_instant(start) + timedelta(seconds=_number(spec["seconds"], "seconds", low=0.0)))
            if end is None or end <= start:
                raise ValueError("msh_unavailable needs an `end` (or `seconds`) after its `start`")
        row = {"profile": profile, "kind": kind, "party": spec.get("party"), "action": spec.get("action"),
               "remaining": count, "probability": probability, "seconds": seconds, "window_start": start,
               "window_end": end, "applied": 0, "created_at": iso(now), "detail": spec.get("detail")}
        with self._store.write() as conn:
            key = conn.execute(faults.insert().values(**row)).inserted_primary_key
            row["id"] = key[0] if key else None
        return row

    def listing(self, profile: str | None = None) -> list[dict[str, Any]]:
        query = select(faults).order_by(faults.c.id)
        if profile:
            query = query.where(faults.c.profile == profile)
        with self._store.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def clear(self, fault_id: int | None = None) -> int:
        with self._store.write() as conn:
            statement = faults.delete()
            if fault_id is not None:
                statement = statement.where(faults.c.id == fault_id)
            return int(conn.execute(statement).rowcount or 0)

    def take(self, conn: Connection, profile: str, kind: str, *, now: datetime, party: str | None = None,
             action: str | None = None, key: str = "") -> Fault | None:
        """The first fault of `kind` that applies to this message now, used up by one (in `conn`'s
        transaction, so a rolled-back message uses nothing). `key` identifies the message for the draw."""
        rows = conn.execute(select(faults).where(
            (faults.c.profile == profile) & (faults.c.kind == kind)
            & ((faults.c.remaining.is_(None)) | (faults.c.remaining > 0))).order_by(faults.c.id)).mappings().all()
        moment = iso(now)
        for row in rows:
            if row["party"] and party is not None and row["party"] not in (party, *party.split("@")):
                continue
            if row["action"] and not fnmatchcase(action or "", row["action"]):
                continue
            if row["window_start"] and not (row["window_start"] <= moment < (row["window_end"] or moment)):
                continue
            if not self._drawn(row["id"], row["probability"], key):
                continue
            values: dict[str, Any] = {"applied": row["applied"] + 1}
            if row["remaining"] is not None:
                values["remaining"] = row["remaining"] - 1
            conn.execute(update(faults).where(faults.c.id == row["id"]).values(**values))
            return Fault(row["id"], kind, row["seconds"], row["window_end"])
        return None

    def has_any(self, conn: Connection, profile: str) -> bool:
        """Cheap check first: most scenes inject nothing (keeps the hot path at one compiled read)."""
        _, rows = _ANY.run(conn, {"profile": profile, "one": 1, "zero": 0})
        return bool(rows)

    def _drawn(self, fault_id: int, probability: float, key: str) -> bool:
        if probability >= 1.0:
            return True
        digest = hashlib.sha256(f"{self._seed}|{fault_id}|{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < probability
