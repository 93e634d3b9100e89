"""The outbox: messages waiting for a party, handed out by pull with reception awareness.

ICD §4.1.3.3 (FIFO per MPC) and domain/ics2.md "Messages" (priority classes A/B/C under backlog);
simulator/core/outbox.py: a message handed out but not acknowledged by a valid receipt is offered again
after a redelivery interval, up to a maximum number of deliveries, then marked undelivered; the
envelope is packed (signed) once, on first delivery; concurrent pulls never get the same attempt.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from simulator.core import outbox
from simulator.core.outbox import OutboxMessage
from simulator.core.store import Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
QUEUE = "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/BE0123456789"
INTERVAL = timedelta(seconds=300)


class CountingPacker:
    """Stands in for the profile's signer: counts calls and gives each message its own envelope."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> tuple[str, bytes, list[str]]:
        with self.lock:
            self.calls.append(message.message_id)
            n = len(self.calls)
        return "multipart/related; type=test", f"envelope {message.message_id} #{n}".encode(), [f"ref-{n}"]



def _put(store: Store, message_id: str, *, priority: str = "B", queue: str = QUEUE,
         action: str = "IE3R01", at: datetime = T0) -> None:
    with store.write() as conn:
        outbox.enqueue(conn, profile="ics2", queue=queue, party="BE0123456789", message_id=message_id,
                       action=action, payload=f"<{action}/>".encode(), priority=priority, created_at=at,
                       ref_to_message_id=f"ref-{message_id}", correlation="LRN1", meta={"k": "v"})


def _claim(store: Store, pack: CountingPacker, *, at: datetime = T0, max_deliveries: int = 3,
           queue: str = QUEUE) -> OutboxMessage | None:
    return outbox.claim_next(store, queue, now=at, redelivery=INTERVAL, max_deliveries=max_deliveries,
                             pack=pack)


def _state(store: Store, message_id: str) -> OutboxMessage:
    with store.read() as conn:
        found = outbox.find(conn, message_id)
    assert found is not None
    return found


def test_claim_hands_out_priority_then_fifo(store: Store) -> None:
    """domain/ics2.md priority classes A before B before C; ICD §4.1.3.3 FIFO within a class."""
    _put(store, "b1", priority="B")
    _put(store, "c1", priority="C")
    _put(store, "a1", priority="A")
    _put(store, "b2", priority="B")
    _put(store, "a2", priority="A")
    pack = CountingPacker()
    order = []
    while (message := _claim(store, pack)) is not None:
        order.append(message.message_id)
    assert order == ["a1", "a2", "b1", "b2", "c1"]


def test_claim_returns_the_packed_message_and_its_fields(store: Store) -> None:
    """outbox.py claim_next: the message with its envelope packed on first delivery, attempt 1."""
    _put(store, "m1")
    pack = CountingPacker()
    message = _claim(store, pack)
    assert message is not None
    assert message.state == "sent" and message.attempts == 1
    assert message.envelope == b"envelope m1 #1"
    assert message.content_type == "multipart/related; type=test"
    assert message.signature_refs == ["ref-1"]
    assert (message.payload, message.meta, message.ref_to_message_id) == (b"<IE3R01/>", {"k": "v"}, "ref-m1")


def test_queues_are_separate(store: Store) -> None:
    """ICD §4.1.3.3: one MPC per trader — a pull never gets another party's message."""
    _put(store, "other", queue=QUEUE + "X")
    assert _claim(store, CountingPacker()) is None


def test_claimed_message_is_not_handed_out_again_before_the_interval(store: Store) -> None:
    """outbox.py: a message handed out but not acknowledged is offered again only after the interval."""
    _put(store, "m1")
    pack = CountingPacker()
    assert _claim(store, pack) is not None
    assert _claim(store, pack) is None
    assert _claim(store, pack, at=T0 + INTERVAL - timedelta(seconds=1)) is None


def test_redelivery_after_the_interval_reuses_the_envelope(store: Store) -> None:
    """outbox.py: offered again after the interval; packed once, so redeliveries send the same bytes."""
    _put(store, "m1")
    pack = CountingPacker()
    first = _claim(store, pack)
    again = _claim(store, pack, at=T0 + INTERVAL)
    assert first is not None and again is not None
    assert again.message_id == "m1" and again.attempts == 2
    assert again.envelope == first.envelope
    assert again.signature_refs == first.signature_refs
    assert pack.calls == ["m1"]


def test_redelivery_stops_at_max_deliveries(store: Store) -> None:
    """outbox.py: offered again up to the maximum number of deliveries, then no more."""
    _put(store, "m1")
    pack = CountingPacker()
    attempts = []
    for n in range(5):
        message = _claim(store, pack, at=T0 + n * INTERVAL, max_deliveries=3)
        if message is not None:
            attempts.append(message.attempts)
    assert attempts == [1, 2, 3]
    assert pack.calls == ["m1"]


def test_a_redelivery_keeps_its_place_in_the_queue(store: Store) -> None:
    """ICD §4.1.3.3 FIFO: a due redelivery of an older message comes before a newer message."""
    _put(store, "old")
    pack = CountingPacker()
    assert _claim(store, pack) is not None
    _put(store, "new", at=T0 + timedelta(seconds=1))
    due = _claim(store, pack, at=T0 + INTERVAL)
    assert due is not None and due.message_id == "old"


def test_expire_undelivered_marks_exhausted_messages(store: Store) -> None:
    """outbox.py expire_undelivered: sent max_deliveries times without a valid receipt -> undelivered,
    once the last attempt's interval has passed."""
    _put(store, "m1")
    _put(store, "fresh")
    pack = CountingPacker()
    for n in range(2):
        message = _claim(store, pack, at=T0 + n * INTERVAL, max_deliveries=2)
        assert message is not None and message.message_id == "m1"
    last = T0 + INTERVAL
    assert outbox.expire_undelivered(store, now=last + INTERVAL - timedelta(seconds=1), redelivery=INTERVAL,
                                     max_deliveries=2) == 0
    assert _state(store, "m1").state == "sent"
    assert outbox.expire_undelivered(store, now=last + INTERVAL, redelivery=INTERVAL, max_deliveries=2) == 1
    assert _state(store, "m1").state == "undelivered"
    assert _state(store, "fresh").state == "queued"  # never sent: not expired
    listed = {m["message_id"]: m for m in outbox.listing(store)}
    assert listed["m1"]["detail"] == "no valid receipt after the last delivery attempt"


def test_mark_delivered_stops_redelivery(store: Store) -> None:
    """outbox.py mark: a message acknowledged by a valid receipt is delivered and never offered again."""
    _put(store, "m1")
    pack = CountingPacker()
    assert _claim(store, pack) is not None
    with store.write() as conn:
        outbox.mark(conn, "m1", state="delivered", at=T0 + timedelta(seconds=5))
    delivered = outbox.listing(store)[0]
    assert delivered["state"] == "delivered"
    assert delivered["delivered_at"] == "2025-03-01T12:00:05.000Z"
    assert _claim(store, pack, at=T0 + 10 * INTERVAL) is None
    assert outbox.expire_undelivered(store, now=T0 + 10 * INTERVAL, redelivery=INTERVAL, max_deliveries=1) == 0


def test_listing_by_queue(store: Store) -> None:
    """Control API /_sim/outbox: the messages of one queue, oldest first."""
    _put(store, "m1")
    _put(store, "m2", queue="other")
    _put(store, "m3")
    assert [m["message_id"] for m in outbox.listing(store, queue=QUEUE)] == ["m1", "m3"]
    assert [m["message_id"] for m in outbox.listing(store)] == ["m1", "m2", "m3"]


def test_concurrent_pulls_never_get_the_same_delivery(store: Store) -> None:
    """outbox.py claim_next (optimistic claim): two concurrent pulls on one queue never receive the same
    delivery attempt."""
    for n in range(12):
        _put(store, f"m{n:02d}")
    pack = CountingPacker()
    got: list[tuple[str, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def puller() -> None:
        barrier.wait(10)
        for _ in range(4):
            message = _claim(store, pack)
            if message is not None:
                with lock:
                    got.append((message.message_id, message.attempts))

    threads = [threading.Thread(target=puller) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(got) == len(set(got))
    assert all(attempt == 1 for _, attempt in got)
    while (rest := _claim(store, pack)) is not None:  # whatever the race left is still there, once
        got.append((rest.message_id, rest.attempts))
    assert sorted(m for m, _ in got) == [f"m{n:02d}" for n in range(12)]
