"""Outbox: messages waiting for a party, one queue per party and channel.

Pull delivery takes the oldest message of the highest priority class from a queue (ICD §4.1.3.3: FIFO
per MPC; domain/ics2.md: priority classes A/B/C under backlog). A message handed out but not yet
acknowledged by a valid receipt is offered again after a redelivery interval, up to a maximum number of
deliveries (reception awareness); after that it is marked undelivered.

Push delivery (domain/ics2.md "AS4 profile": the trader's own AS4 endpoint) claims due messages of every
queue with a prefix (`claim_due`), in the same priority-then-FIFO order; each claim schedules the next
attempt (`next_attempt_at`, back-off chosen by the caller). No message is handed out, by pull or push,
before its `available_at` (e.g. an injected reply delay).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from simulator.core.clock import iso
from simulator.core.fastsql import Prepared
from simulator.core.store import Store, outbox

PRIORITY = {"A": 0, "B": 1, "C": 2}
_INSERT_KEYS = ("profile", "queue", "party", "message_id", "ref_to_message_id", "action", "priority",
                "correlation", "payload", "meta", "state", "attempts", "created_at", "envelope",
                "content_type", "signature_refs", "last_sent_at", "delivered_at", "detail", "next_attempt_at",
                "available_at")
_INSERT = Prepared(outbox.insert(), _INSERT_KEYS)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    profile: str
    queue: str
    party: str
    message_id: str
    ref_to_message_id: str | None
    action: str
    correlation: str | None
    payload: bytes
    meta: dict[str, Any]
    envelope: bytes | None
    content_type: str | None
    signature_refs: list[str] | None
    state: str
    attempts: int
    next_attempt_at: str | None = None
    available_at: str | None = None
    detail: str | None = None  # why the last delivery attempt failed (or why it is undelivered)


def enqueue(
    conn: Connection,
    *,
    profile: str,
    queue: str,
    party: str,
    message_id: str,
    action: str,
    payload: bytes,
    priority: str,
    created_at: datetime,
    ref_to_message_id: str | None = None,
    correlation: str | None = None,
    meta: dict[str, Any] | None = None,
    available_at: datetime | None = None,
) -> None:
    """Queue a message; `available_at` (simulated time) keeps it back until then, for pull and push."""
    _INSERT.run(conn, {
        "profile": profile, "queue": queue, "party": party, "message_id": message_id,
        "ref_to_message_id": ref_to_message_id, "action": action, "priority": PRIORITY[priority],
        "correlation": correlation, "payload": payload, "meta": json.dumps(meta or {}),
        "state": "queued", "attempts": 0, "created_at": iso(created_at), "envelope": None,
        "content_type": None, "signature_refs": None, "last_sent_at": None, "delivered_at": None,
        "detail": None, "next_attempt_at": None,
        "available_at": iso(available_at) if available_at is not None else None,
    })


def _row_to_message(r: Any) -> OutboxMessage:
    return OutboxMessage(
        r["id"], r["profile"], r["queue"], r["party"], r["message_id"], r["ref_to_message_id"],
        r["action"], r["correlation"], bytes(r["payload"]), json.loads(r["meta"] or "{}"),
        bytes(r["envelope"]) if r["envelope"] is not None else None, r["content_type"],
        json.loads(r["signature_refs"]) if r["signature_refs"] else None, r["state"], r["attempts"],
        r["next_attempt_at"], r["available_at"], r["detail"],
    )


def _reached(column: Any, now_iso: str) -> Any:
    """An optional instant column that is unset or not after `now` (ISO text orders as time: clock.iso)."""
    return or_(column.is_(None), column <= now_iso)


Packer = Callable[[OutboxMessage], tuple[str, bytes, list[str]]]


def claim_next(
    store: Store,
    queue: str,
    *,
    now: datetime,
    redelivery: timedelta,
    max_deliveries: int,
    pack: Packer,
) -> OutboxMessage | None:
    """Hand out the next message of `queue`, packing its envelope on first delivery.

    Packing (which signs) happens outside the write transaction; the claim itself is an optimistic
    update, so two concurrent pulls on one queue never receive the same delivery attempt.
    """
    due = iso(now - redelivery)
    condition = and_(
        outbox.c.queue == queue,
        _reached(outbox.c.available_at, iso(now)),
        or_(
            outbox.c.state == "queued",
            and_(outbox.c.state == "sent", outbox.c.last_sent_at <= due, outbox.c.attempts < max_deliveries),
        ),
    )
    return _claim(store, condition, now=now, pack=pack)


def _prefix_range(prefix: str) -> tuple[Any, Any]:
    """`queue` starts with `prefix`, as a range the (queue, state, ...) index can serve (a LIKE cannot: the
    background dispatcher runs this twice a second over an outbox that grows with every filing)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return outbox.c.queue >= prefix, outbox.c.queue < upper


def claim_due(
    store: Store,
    queue_prefix: str,
    *,
    now: datetime,
    max_attempts: int,
    retry_delay: Callable[[int], timedelta],
    pack: Packer,
) -> OutboxMessage | None:
    """Push: hand out the next due message of any queue starting with `queue_prefix`.

    Order as for pull (priority class, then FIFO). Due = queued or sent before, fewer than
    `max_attempts` attempts, `next_attempt_at` and `available_at` reached. The claim itself schedules
    the next attempt at now + retry_delay(attempt number), so a dispatcher that dies during an attempt
    leaves the message due again later instead of stuck; packing (signing) happens once, as for pull.
    """
    now_iso = iso(now)
    condition = and_(
        *_prefix_range(queue_prefix),
        outbox.c.state.in_(("queued", "sent")),
        outbox.c.attempts < max_attempts,
        _reached(outbox.c.next_attempt_at, now_iso),
        _reached(outbox.c.available_at, now_iso),
    )
    return _claim(store, condition, now=now, pack=pack,
                  schedule=lambda attempt: iso(now + retry_delay(attempt)))


def _claim(store: Store, condition: Any, *, now: datetime, pack: Packer,
           schedule: Callable[[int], str] | None = None) -> OutboxMessage | None:
    """The first row matching `condition` (priority, then id), claimed by an optimistic update."""
    for _ in range(5):
        with store.read() as conn:
            row = conn.execute(
                select(outbox).where(condition).order_by(outbox.c.priority, outbox.c.id).limit(1)
            ).mappings().first()
        if row is None:
            return None
        message = _row_to_message(row)
        values: dict[str, Any] = {"state": "sent", "attempts": message.attempts + 1, "last_sent_at": iso(now)}
        if schedule is not None:
            values["next_attempt_at"] = schedule(message.attempts + 1)
        if message.envelope is None:
            content_type, envelope, refs = pack(message)
            values.update(envelope=envelope, content_type=content_type, signature_refs=json.dumps(refs))
        with store.write() as conn:
            claimed = conn.execute(
                outbox.update()
                .where(and_(outbox.c.id == message.id, outbox.c.attempts == message.attempts,
                            outbox.c.state == message.state))
                .values(**values)
            )
            if claimed.rowcount == 1:
                fresh = conn.execute(select(outbox).where(outbox.c.id == message.id)).mappings().first()
                return _row_to_message(fresh)
    return None


def find(conn: Connection, message_id: str) -> OutboxMessage | None:
    row = conn.execute(select(outbox).where(outbox.c.message_id == message_id)).mappings().first()
    return _row_to_message(row) if row else None


DUPLICATE_KEY = "duplicate_deliveries"  # meta: how many more times a delivered message is offered (faults)


def mark(conn: Connection, message_id: str, *, state: str, at: datetime, detail: str | None = None) -> None:
    values: dict[str, Any] = {"state": state, "detail": detail}
    if state == "delivered":
        values["delivered_at"] = iso(at)
        row = conn.execute(select(outbox.c.meta).where(outbox.c.message_id == message_id)).first()
        meta = json.loads(row[0] or "{}") if row else {}
        if int(meta.get(DUPLICATE_KEY, 0)) > 0:
            # Injected fault duplicate_delivery (simulator/core/faults.py): once delivered, the same message
            # (same MessageId, same bytes) is offered again; the receiver must eliminate the duplicate.
            meta[DUPLICATE_KEY] = int(meta[DUPLICATE_KEY]) - 1
            values.update(state="queued", meta=json.dumps(meta), next_attempt_at=None,
                          detail="delivered; offered once more (injected fault duplicate_delivery)")
    conn.execute(outbox.update().where(outbox.c.message_id == message_id).values(**values))


def expire_undelivered(store: Store, *, now: datetime, redelivery: timedelta, max_deliveries: int,
                       queue: str | None = None) -> int:
    """Messages sent `max_deliveries` times without a valid receipt become undelivered."""
    due = iso(now - redelivery)
    cond = [outbox.c.state == "sent", outbox.c.attempts >= max_deliveries, outbox.c.last_sent_at <= due]
    if queue is not None:
        cond.append(outbox.c.queue == queue)
    return _mark_undelivered(store, cond, "no valid receipt after the last delivery attempt")


def expire_attempts(store: Store, queue_prefix: str, *, now: datetime, max_attempts: int) -> int:
    """Push messages whose last attempt was claimed but never got an outcome (the dispatcher stopped
    mid-attempt) become undelivered once that attempt's deadline (`next_attempt_at`) has passed."""
    cond = [*_prefix_range(queue_prefix), outbox.c.state == "sent",
            outbox.c.attempts >= max_attempts, outbox.c.next_attempt_at <= iso(now)]
    return _mark_undelivered(store, cond, "no outcome was recorded for the last delivery attempt")


def _mark_undelivered(store: Store, cond: list[Any], detail: str) -> int:
    """Reception awareness gave up on the messages matching `cond`: undelivered, with the reason."""
    with store.read() as conn:  # the common case (nothing to expire) takes no write lock
        if conn.execute(select(outbox.c.id).where(and_(*cond)).limit(1)).first() is None:
            return 0
    with store.write() as conn:
        result = conn.execute(outbox.update().where(and_(*cond)).values(state="undelivered", detail=detail))
    return int(result.rowcount or 0)


def listing(store: Store, *, queue: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    query = select(
        outbox.c.id, outbox.c.queue, outbox.c.party, outbox.c.message_id, outbox.c.ref_to_message_id,
        outbox.c.action, outbox.c.correlation, outbox.c.state, outbox.c.attempts, outbox.c.created_at,
        outbox.c.last_sent_at, outbox.c.delivered_at, outbox.c.detail, outbox.c.next_attempt_at,
        outbox.c.available_at,
    )
    if queue:
        query = query.where(outbox.c.queue == queue)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(query.order_by(outbox.c.id).limit(limit)).mappings()]
