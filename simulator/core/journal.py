"""The journal: every message in and out, with raw bytes, verdicts and timestamps.

Entries are written inside the caller's write transaction, so a message and its receipt (or its
rejection) are committed together before anything leaves (DESIGN.md, "Durability"). The control API
reads the journal; the harness grades what the system under test sent from it.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from simulator.core.fastsql import Prepared
from simulator.core.store import Store, journal


@dataclass
class JournalEntry:
    profile: str
    direction: str  # "in" | "out"
    channel: str
    kind: str
    verdict: str  # accepted | rejected | delivered | not-delivered | sent | duplicate | empty | ...
    sim_at: str
    message_id: str | None = None
    ref_to_message_id: str | None = None
    action: str | None = None
    sender: str | None = None
    receiver: str | None = None
    queue: str | None = None
    correlation: str | None = None
    content_type: str | None = None
    raw: bytes | None = None
    payload: bytes | None = None
    error_code: str | None = None
    detail: str | None = None
    peer_cert_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "direction": self.direction, "channel": self.channel,
            "kind": self.kind, "verdict": self.verdict, "sim_at": self.sim_at, "real_at": time.time(),
            "message_id": self.message_id, "ref_to_message_id": self.ref_to_message_id,
            "action": self.action, "sender": self.sender, "receiver": self.receiver,
            "queue": self.queue, "correlation": self.correlation, "content_type": self.content_type,
            "raw": self.raw, "payload": self.payload, "error_code": self.error_code,
            "detail": self.detail, "peer_cert_sha256": self.peer_cert_sha256,
        }


_ROW_KEYS = ("profile", "direction", "channel", "kind", "verdict", "sim_at", "real_at", "message_id",
             "ref_to_message_id", "action", "sender", "receiver", "queue", "correlation", "content_type",
             "raw", "payload", "error_code", "detail", "peer_cert_sha256")
_INSERT = Prepared(journal.insert(), _ROW_KEYS)  # compiled once; on the filing hot path


def record(conn: Connection, entry: JournalEntry) -> int:
    """Insert one entry in the caller's transaction; returns its id."""
    row_id, _ = _INSERT.run(conn, entry.row())
    return int(row_id or 0)


def record_alone(store: Store, entry: JournalEntry) -> int:
    """Insert one entry in a transaction of its own (rejections, signals)."""
    with store.write() as conn:
        return record(conn, entry)


_FILTERS = ("profile", "direction", "kind", "message_id", "ref_to_message_id", "correlation",
            "sender", "queue", "verdict", "action")


def query(
    store: Store,
    *,
    since_id: int = 0,
    limit: int = 200,
    include_raw: bool = False,
    **filters: str | None,
) -> list[dict[str, Any]]:
    """Journal entries in order, filtered by exact field values; raw bytes base64 when asked."""
    cond = [journal.c.id > since_id]
    for name, value in filters.items():
        if value is None:
            continue
        if name not in _FILTERS:
            raise ValueError(f"unknown journal filter {name!r}")
        cond.append(journal.c[name] == value)
    with store.read() as conn:
        rows = conn.execute(
            select(journal).where(and_(*cond)).order_by(journal.c.id).limit(max(1, min(limit, 5000)))
        ).mappings().all()
    return [_to_json(dict(r), include_raw) for r in rows]


def entry_raw(store: Store, entry_id: int) -> tuple[bytes, str] | None:
    with store.read() as conn:
        row = conn.execute(
            select(journal.c.raw, journal.c.content_type).where(journal.c.id == entry_id)
        ).first()
    if row is None or row[0] is None:
        return None
    return bytes(row[0]), row[1] or "application/octet-stream"


def _to_json(row: dict[str, Any], include_raw: bool) -> dict[str, Any]:
    raw = row.pop("raw")
    payload = row.pop("payload")
    row["raw_size"] = len(raw) if raw is not None else 0
    if include_raw and raw is not None:
        row["raw_b64"] = base64.b64encode(raw).decode()
    if payload is not None:
        try:
            row["payload"] = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            row["payload_b64"] = base64.b64encode(payload).decode()
    return row


def counts(store: Store) -> list[dict[str, Any]]:
    """Number of entries per (profile, direction, kind, verdict)."""
    query = select(journal.c.profile, journal.c.direction, journal.c.kind, journal.c.verdict,
                   func.count().label("count")).group_by(
        journal.c.profile, journal.c.direction, journal.c.kind, journal.c.verdict)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
