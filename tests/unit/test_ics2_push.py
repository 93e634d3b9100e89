"""Push delivery without a receiving endpoint: the outbox claim, back-off, give-up, ticker, certificates.

domain/ics2.md "AS4 profile": c2t push to the trader's own AS4 endpoint with reception awareness and
retries; priority classes A/B/C order the outbox under backlog; ICD §4.1.3.3 FIFO. simulator/ics2/push.py:
attempt n failing schedules attempt n+1 after push_retry_seconds * 2**(n-1) of simulated time, then
undelivered after push_max_attempts. The real-TLS exchanges are in tests/integration/test_push_delivery.py.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.pki import TestPki, init_test_pki, load_certificates
from simulator.codecs.as4.message import unpack
from simulator.core import journal, outbox
from simulator.core.clock import iso
from simulator.core.config import load_config
from simulator.core.context import SimContext
from simulator.core.outbox import OutboxMessage
from simulator.core.store import Store
from simulator.core.ticker import Ticker
from simulator.ics2.delivery import C2tDelivery
from simulator.ics2.push import PUSH_QUEUE_PREFIX, PushDispatcher, backoff_delay
from simulator.trust.material import SecurityMaterial
from simulator.trust.registry import PartyRegistry

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EORI = "BE0123456789"
PUSH_QUEUE = PUSH_QUEUE_PREFIX + EORI


def _pack(message: OutboxMessage) -> tuple[str, bytes, list[str]]:
    return "multipart/related; type=test", f"envelope {message.message_id}".encode(), ["ref"]


def _put(store: Store, message_id: str, *, queue: str = PUSH_QUEUE, priority: str = "B",
         available_at: datetime | None = None, ap_url: str = "https://localhost:1/as4") -> None:
    with store.write() as conn:
        party = queue.removeprefix(PUSH_QUEUE_PREFIX) if queue.startswith(PUSH_QUEUE_PREFIX) else EORI
        outbox.enqueue(conn, profile="ics2", queue=queue, party=party, message_id=message_id,
                       action="IE3R01", payload=b"<IE3R01/>", priority=priority, created_at=T0,
                       ref_to_message_id=f"ref-{message_id}", correlation="LRN1", available_at=available_at,
                       meta={"ap_url": ap_url, "agreement": "EU-ICS2-TI-V1.0", "timestamp": iso(T0)})


def _claim(store: Store, at: datetime, *, max_attempts: int = 5) -> OutboxMessage | None:
    return outbox.claim_due(store, PUSH_QUEUE_PREFIX, now=at, max_attempts=max_attempts,
                            retry_delay=lambda n: backoff_delay(30, n), pack=_pack)


def _find(store: Store, message_id: str) -> OutboxMessage:
    with store.read() as conn:
        found = outbox.find(conn, message_id)
    assert found is not None
    return found



# -- claim order and timing ---------------------------------------------------------------------------
def test_claim_due_gives_priority_class_then_fifo_across_push_queues_only(store: Store) -> None:
    """domain/ics2.md priority A before B before C under backlog; FIFO within a class (ICD §4.1.3.3);
    pull MPCs are not push queues and are never claimed by push."""
    _put(store, "b1", priority="B")
    _put(store, "c1", priority="C", queue=PUSH_QUEUE_PREFIX + "NL123456789")
    _put(store, "pulled", priority="A", queue="urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/" + EORI)
    _put(store, "a1", priority="A", queue=PUSH_QUEUE_PREFIX + "NL123456789")
    _put(store, "b2", priority="B")
    _put(store, "a2", priority="A")
    order = []
    while (message := _claim(store, T0)) is not None:
        order.append(message.message_id)
    assert order == ["a1", "a2", "b1", "b2", "c1"]
    assert _find(store, "pulled").state == "queued"


def test_a_claim_packs_once_and_schedules_the_next_attempt(store: Store) -> None:
    """outbox.claim_due: attempt 1 packs the envelope and sets next_attempt_at = now + back-off(1); the
    message is not due again before that instant, and attempt 2 keeps the same envelope."""
    _put(store, "m1")
    first = _claim(store, T0)
    assert first is not None
    assert (first.attempts, first.state) == (1, "sent")
    assert first.next_attempt_at == iso(T0 + timedelta(seconds=30))
    assert _claim(store, T0 + timedelta(seconds=29, milliseconds=999)) is None
    second = _claim(store, T0 + timedelta(seconds=30))
    assert second is not None
    assert second.attempts == 2
    assert second.envelope == first.envelope == b"envelope m1"
    assert second.next_attempt_at == iso(T0 + timedelta(seconds=30 + 60))


def test_available_at_holds_a_message_back_for_push_and_for_pull(store: Store) -> None:
    """outbox.enqueue(available_at=...): nothing is handed out before that instant (injected reply delay)."""
    mpc = "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/" + EORI
    later = T0 + timedelta(minutes=5)
    _put(store, "pushed-later", available_at=later)
    _put(store, "pulled-later", queue=mpc, available_at=later)
    assert _claim(store, T0 + timedelta(minutes=4)) is None
    assert outbox.claim_next(store, mpc, now=T0, redelivery=timedelta(seconds=300), max_deliveries=3,
                             pack=_pack) is None
    pushed = _claim(store, later)
    pulled = outbox.claim_next(store, mpc, now=later, redelivery=timedelta(seconds=300), max_deliveries=3,
                               pack=_pack)
    assert pushed is not None and pushed.message_id == "pushed-later"
    assert pulled is not None and pulled.message_id == "pulled-later"


def test_no_claim_after_the_last_attempt_and_a_silent_last_attempt_expires(store: Store) -> None:
    """claim_due stops at max_attempts; expire_attempts gives up a last attempt that never got an outcome
    (the dispatcher stopped mid-attempt) once its deadline has passed."""
    _put(store, "m1")
    at = T0
    for _ in range(2):
        claimed = _claim(store, at, max_attempts=2)
        assert claimed is not None
        assert claimed.next_attempt_at is not None
        at = datetime.fromisoformat(claimed.next_attempt_at.replace("Z", "+00:00"))
    assert _claim(store, at + timedelta(days=1), max_attempts=2) is None
    assert outbox.expire_attempts(store, PUSH_QUEUE_PREFIX, now=at - timedelta(seconds=1), max_attempts=2) == 0
    assert outbox.expire_attempts(store, PUSH_QUEUE_PREFIX, now=at, max_attempts=2) == 1
    assert _find(store, "m1").state == "undelivered"


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480)])
def test_backoff_doubles_from_the_retry_interval(attempt: int, seconds: int) -> None:
    """push.py: next_attempt_at = now + push_retry_seconds * 2**(attempt-1)."""
    assert backoff_delay(30, attempt) == timedelta(seconds=seconds)


def test_backoff_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        backoff_delay(30, 0)


# -- the dispatcher against an endpoint that refuses connections ----------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("push-pki") / "pki")


@pytest.fixture
def ctx(pki: TestPki, tmp_path: Path) -> Iterator[SimContext]:
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "pki_dir": pki.directory,
                                            "clock_mode": "frozen", "clock_start": iso(T0),
                                            "push_retry_seconds": 30, "push_max_attempts": 3,
                                            "push_timeout_seconds": 5})
    ctx = SimContext.open(config)
    ctx.reset_scene()
    yield ctx
    ctx.store.dispose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connections_are_retried_with_backoff_then_undelivered(ctx: SimContext) -> None:
    """push.py: a refused connection is a failed attempt, journaled out ("push attempt n") and in (verdict
    not-delivered, the reason); retries follow the back-off on the SIMULATED clock; after
    push_max_attempts the message is undelivered with every attempt's reason."""
    material = SecurityMaterial.from_pki(ctx.config.pki)
    dispatcher = PushDispatcher(ctx, material, C2tDelivery(ctx, material, PartyRegistry(ctx.store, "ics2")))
    port = _closed_port()
    _put(ctx.store, "m1", ap_url=f"https://127.0.0.1:{port}/as4")
    assert dispatcher.run_once(T0) == 1
    assert dispatcher.run_once(T0 + timedelta(seconds=29)) == 0
    assert dispatcher.run_once(T0 + timedelta(seconds=30)) == 1
    assert dispatcher.run_once(T0 + timedelta(seconds=89)) == 0
    assert dispatcher.run_once(T0 + timedelta(seconds=90)) == 1
    assert dispatcher.run_once(T0 + timedelta(days=1)) == 0
    final = _find(ctx.store, "m1")
    assert final.state == "undelivered"
    assert final.attempts == 3
    assert final.detail is not None
    assert final.detail.startswith("no valid receipt after 3 push attempts")
    assert [line.split(":")[0] for line in final.detail.splitlines()[1:]] == ["attempt 1", "attempt 2", "attempt 3"]
    assert f"connection refused by 127.0.0.1:{port}" in final.detail
    sent = journal.query(ctx.store, direction="out", message_id="m1")
    assert [(e["detail"], e["sim_at"]) for e in sent] == [
        ("push attempt 1", iso(T0)), ("push attempt 2", iso(T0 + timedelta(seconds=30))),
        ("push attempt 3", iso(T0 + timedelta(seconds=90)))]
    answers = journal.query(ctx.store, direction="in", ref_to_message_id="m1")
    assert [(e["kind"], e["verdict"]) for e in answers] == [("transport", "not-delivered")] * 3
    assert all("connection refused" in e["detail"] for e in answers)


def test_a_missing_or_plain_http_ap_url_fails_the_attempt(ctx: SimContext) -> None:
    """push.py: push goes over TLS only (domain/ics2.md "Transport"): meta ap_url must be https://."""
    material = SecurityMaterial.from_pki(ctx.config.pki)
    dispatcher = PushDispatcher(ctx, material, C2tDelivery(ctx, material, PartyRegistry(ctx.store, "ics2")))
    _put(ctx.store, "plain", ap_url="http://127.0.0.1:9/as4")
    assert dispatcher.run_once(T0) == 1
    (answer,) = journal.query(ctx.store, direction="in", ref_to_message_id="plain")
    assert "is not an https:// URL" in answer["detail"]
    assert _find(ctx.store, "plain").state == "sent"  # retried later, like any failed attempt


def test_a_message_that_cannot_be_packed_is_given_up_and_does_not_block_the_queue(ctx: SimContext) -> None:
    """push.py _pack: a message routing queued without meta["timestamp"] cannot be signed; it becomes
    undelivered with the reason and the next message (lower priority) is still attempted."""
    material = SecurityMaterial.from_pki(ctx.config.pki)
    dispatcher = PushDispatcher(ctx, material, C2tDelivery(ctx, material, PartyRegistry(ctx.store, "ics2")))
    with ctx.store.write() as conn:
        outbox.enqueue(conn, profile="ics2", queue=PUSH_QUEUE, party=EORI, message_id="broken", action="IE3Q01",
                       payload=b"<IE3Q01/>", priority="A", created_at=T0, meta={"ap_url": "https://127.0.0.1:9/"})
    _put(ctx.store, "next", ap_url=f"https://127.0.0.1:{_closed_port()}/as4")
    assert dispatcher.run_once(T0) == 1
    broken = _find(ctx.store, "broken")
    assert broken.state == "undelivered"
    assert broken.detail is not None
    assert "cannot be packed" in broken.detail
    assert "timestamp" in broken.detail
    assert _find(ctx.store, "next").attempts == 1


def test_a_pushed_envelope_names_no_pull_mpc(ctx: SimContext) -> None:
    """delivery.pack: a pulled message names its MPC (ICD §4.3.3); a pushed one travels on the default
    MPC, so eb:UserMessage has no mpc attribute."""
    material = SecurityMaterial.from_pki(ctx.config.pki)
    delivery = C2tDelivery(ctx, material, PartyRegistry(ctx.store, "ics2"))
    mpc = "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/" + EORI
    _put(ctx.store, "pushed")
    _put(ctx.store, "pulled", queue=mpc)
    for message_id, expected in (("pushed", None), ("pulled", mpc)):
        content_type, envelope, refs = delivery.pack(_find(ctx.store, message_id))
        um = unpack(content_type, envelope).user_message
        assert um is not None
        assert um.mpc == expected
        assert refs


# -- ticker -----------------------------------------------------------------------------------------------
def test_ticker_runs_hooks_in_order_and_survives_a_failing_one(caplog: pytest.LogCaptureFixture) -> None:
    """ticker.py: hooks run in the order added; one that raises is logged, the others still run."""
    calls: list[str] = []
    ticker = Ticker(0)

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("boom")

    ticker.add("first", lambda: calls.append("first"))
    ticker.add("broken", broken)
    ticker.add("last", lambda: calls.append("last"))
    with caplog.at_level(logging.ERROR, logger="simulator.ticker"):
        assert ticker.tick_once() == ["broken"]
        assert ticker.tick_once() == ["broken"]
    assert calls == ["first", "broken", "last"] * 2
    assert "'broken' failed" in caplog.text
    with pytest.raises(ValueError, match="already registered"):
        ticker.add("first", lambda: None)
    assert ticker.start() is False  # interval 0: disabled
    assert not ticker.running


def test_ticker_thread_keeps_ticking_after_a_failure_and_stops() -> None:
    """ticker.py: a daemon thread calls the hooks every interval, also after a hook failed; stop() ends it."""
    ticks = threading.Semaphore(0)
    count = {"n": 0}

    def flaky() -> None:
        count["n"] += 1
        ticks.release()
        if count["n"] == 1:
            raise RuntimeError("first tick fails")

    ticker = Ticker(0.02)
    ticker.add("flaky", flaky)
    assert ticker.start() is True
    try:
        assert ticker.running
        assert ticker._thread is not None and ticker._thread.daemon
        for _ in range(3):
            assert ticks.acquire(timeout=5)
    finally:
        ticker.stop()
    assert not ticker.running
    after_stop = count["n"]
    time.sleep(0.1)
    assert count["n"] == after_stop


# -- certificates ---------------------------------------------------------------------------------------
def test_push_client_certificate(pki: TestPki) -> None:
    """certs/README.md "Push delivery": server/push-client.pem is leaf + issuing, EKU clientAuth."""
    certs = load_certificates(pki.push_client.cert)
    issuing = load_certificates(pki.ca.issuing_cert)[0]
    assert len(certs) == 2
    assert certs[1] == issuing
    certs[0].verify_directly_issued_by(issuing)
    usage = certs[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert pki.push_client.key.stat().st_mode & 0o777 == 0o600


def test_every_trader_has_an_ap_server_certificate(pki: TestPki) -> None:
    """certs/README.md: traders/<name>/ap.pem is leaf + issuing, EKU serverAuth, SAN localhost and
    127.0.0.1, CN "<EORI> ap"; valid for every trader whatever its sealing condition."""
    issuing = load_certificates(pki.ca.issuing_cert)[0]
    for trader in pki.traders:
        certs = load_certificates(trader.ap_cert)
        assert certs[1:] == [issuing], trader.name
        leaf = certs[0]
        leaf.verify_directly_issued_by(issuing)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{trader.eori} ap"
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
        assert leaf.not_valid_before_utc <= datetime.now(UTC) <= leaf.not_valid_after_utc
