"""Duplicate elimination and many traders' filings at once on the real, multi-process server."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from load.presign import SignedFiling, presign
from scenarios.client.ics2 import TraderIdentity
from scenarios.client.transport import HttpResponse, MutualTlsTransport
from scenarios.simctl import SimControl
from simulator.codecs.as4.message import pack_user_message, sent_references
from simulator.codecs.as4.receipts import check_receipt_matches
from tests.integration.conftest import (
    SimHandle,
    describe,
    filing_payload,
    new_message_id,
    receipt_problems,
    t2c_user_message,
    unpack_answer,
)

pytestmark = pytest.mark.slow

THREADS = 8
PER_THREAD = 50


def _counts(control: SimControl) -> Counter[tuple[str, str, str]]:
    return Counter({(c["direction"], c["kind"], c["verdict"]): c["count"] for c in control.journal_stats()})


def test_same_bytes_twice_give_the_same_receipt_and_one_ens(sim: SimHandle, control: SimControl) -> None:
    """ebMS3 §6.2 / AS4 reception awareness (duplicate detection on MessageId, domain/ics2.md "AS4
    profile"): the very same message sent again is not processed again; the original receipt is answered
    byte for byte; one ENS, one functional reply."""
    trader = sim.pki.trader("trader-a")
    client = sim.client("trader-a")
    first = client.send("IE3F32", filing_payload(trader.eori))
    again = client.resend_last()
    assert first.receipt and first.problems == [], describe(first.http)
    assert again.receipt and again.problems == [], describe(again.http)
    assert again.http.body == first.http.body, "a duplicate must get the original receipt's bytes"
    assert [e["message_id"] for e in control.ics2_ens()] == [first.message_id]
    assert [m["ref_to_message_id"] for m in control.outbox()] == [first.message_id]
    inbound = control.journal(direction="in", kind="user", message_id=first.message_id)
    verdicts = [e["verdict"] for e in inbound]
    assert verdicts == ["accepted", "duplicate"], verdicts


def test_concurrent_copies_of_one_message_are_registered_once(sim: SimHandle, control: SimControl) -> None:
    """ebMS3 §6.2 duplicate elimination under a race (msh.py: the copy that loses the race to commit gets
    the winner's receipt): six connections send the same bytes at the same moment -> six identical
    receipts, one ENS, one functional reply."""
    trader = sim.pki.trader("trader-a")
    client = sim.client("trader-a")
    original = client.send("IE3F32", filing_payload(trader.eori))  # sent once to learn the exact bytes
    assert original.receipt
    control.reset()  # forget it: the copies below race for the first registration
    assert client.last_sent is not None
    message_id, content_type, body = client.last_sent
    copies = 6
    barrier = threading.Barrier(copies)
    transports = [sim.transport("trader-a") for _ in range(copies)]

    def send(transport: MutualTlsTransport) -> HttpResponse:
        barrier.wait(timeout=30)
        return transport.post(content_type, body)

    with ThreadPoolExecutor(copies) as pool:
        responses = list(pool.map(send, transports))
    assert all(unpack_answer(r).kind == "receipt" for r in responses), [describe(r) for r in responses]
    assert len({r.body for r in responses}) == 1, "every copy must get the same receipt"
    assert [e["message_id"] for e in control.ics2_ens()] == [message_id]
    assert len(control.outbox()) == 1
    verdicts = Counter(e["verdict"] for e in control.journal(direction="in", kind="user"))
    assert verdicts == Counter({"accepted": 1, "duplicate": copies - 1}), verdicts


def test_eight_threads_of_distinct_filings_are_all_registered_once(sim: SimHandle,
                                                                    control: SimControl) -> None:
    """DESIGN.md "Durability" (journal committed before the receipt) and domain/ics2.md "Messages" (a
    filing gets exactly ONE functional reply): 8 threads x 50 distinct pre-signed filings of two traders
    -> 400 valid signed receipts, 400 registered ENS, 400 queued replies, no duplicates, nothing lost."""
    traders = ("trader-a", "trader-b")
    filings = presign(sim.pki, traders, THREADS * PER_THREAD)
    assert len({f.message_id for f in filings}) == len(filings) == THREADS * PER_THREAD

    def run(batch: list[SignedFiling]) -> list[tuple[SignedFiling, list[str]]]:
        transports = {name: sim.transport(name) for name in traders}
        return [(f, receipt_problems(f, transports[f.trader].post(f.content_type, f.body))) for f in batch]

    batches = [filings[i * PER_THREAD:(i + 1) * PER_THREAD] for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = [item for batch in pool.map(run, batches) for item in batch]
    bad = [(f.message_id, problems) for f, problems in results if problems]
    assert bad == [], f"{len(bad)} filings without a valid receipt, e.g. {bad[:3]}"

    total = THREADS * PER_THREAD
    assert control.ics2_ens_stats() == {"registered": total}
    ens = control.ics2_ens()
    assert len(ens) == total
    assert {e["message_id"] for e in ens} == {f.message_id for f in filings}
    assert len({e["lrn"] for e in ens}) == total, "an LRN was registered twice"
    assert len({e["mrn"] for e in ens}) == total, "an MRN was given twice"
    outbox = control.outbox()
    assert len(outbox) == total
    assert Counter(m["ref_to_message_id"] for m in outbox) == Counter({f.message_id: 1 for f in filings})
    assert {(m["action"], m["state"]) for m in outbox} == {("IE3R01", "queued")}
    counts = _counts(control)
    assert counts[("in", "user", "accepted")] == total
    assert counts[("out", "receipt", "sent")] == total
    assert counts[("in", "user", "duplicate")] == 0
    assert counts[("in", "user", "rejected")] == 0


def test_message_id_of_another_party_does_not_earn_that_partys_receipt(sim: SimHandle,
                                                                        control: SimControl) -> None:
    """AS4 §5.1.8 (a non-repudiation receipt acknowledges the parts of the message received) and ebMS3
    §6.2 (duplicate elimination: a *resend* of the same message): trader-b sending its own filing under a
    MessageId that trader-a already used must not receive trader-a's receipt (which discloses trader-a's
    digests and acknowledges a message trader-b never sent) while its own filing is silently dropped. The
    answer is either a receipt for trader-b's own message (and its filing registered) or an error signal."""
    a, b = sim.identity("trader-a"), sim.identity("trader-b")
    message_id = new_message_id()

    def packed(identity: TraderIdentity) -> tuple[str, bytes]:
        um = t2c_user_message(identity.party_id, message_id=message_id)
        return pack_user_message(um, [(f"payload-{identity.party_id}@it.icssim.test",
                                       filing_payload(identity.party_id), "application/xml")],
                                 key=identity.sealing_key, chain=list(identity.sealing_chain))

    first_ct, first_body = packed(a)
    first = sim.post(first_ct, first_body, name="trader-a")
    assert unpack_answer(first).kind == "receipt", describe(first)
    second_ct, second_body = packed(b)
    second = sim.post(second_ct, second_body, name="trader-b")
    assert second.status == 200, describe(second)
    handed_over = second.body == first.body
    assert not handed_over, "trader-b was handed trader-a's receipt byte for byte (and nothing registered)"
    answer = unpack_answer(second)
    if answer.kind == "receipt":
        problems = check_receipt_matches(answer, sent_references(second_ct, second_body),
                                         sent_message_id=message_id)
        assert problems == [], problems
        senders = sorted(e["sender"] for e in control.ics2_ens(message_id=message_id))
        assert senders == sorted([a.party_id, b.party_id]), "trader-b's acknowledged filing was dropped"
    else:
        assert answer.kind == "error", describe(second)
        assert [e["sender"] for e in control.ics2_ens()] == [a.party_id]
