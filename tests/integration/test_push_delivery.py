"""Push delivery over real mutual TLS to a real trader endpoint (scenarios.client.receiver.PushReceiver).

domain/ics2.md "AS4 profile": c2t push to the trader's own AS4 endpoint; the trader returns a signed
receipt that signs the (empty) Body, an incorrectly signed receipt means the message counts as never
delivered; reception awareness with retries (simulator/ics2/push.py: back-off push_retry_seconds *
2**(n-1) on the simulated clock, undelivered after push_max_attempts). Most tests drive
PushDispatcher.run_once directly; the last ones go through the app's clock hook and the control server's
background ticker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certs.pki import TestPki, load_certificates
from scenarios.client.receiver import PushReceiver
from simulator.app import create_app
from simulator.core import journal, outbox
from simulator.core.clock import iso
from simulator.core.config import load_config
from simulator.core.context import SimContext, sim_context
from simulator.core.store import Store
from simulator.core.ticker import TICKER_KEY, Ticker
from simulator.ics2.delivery import C2tDelivery
from simulator.ics2.push import PUSH_QUEUE_PREFIX, PushDispatcher
from simulator.trust.material import SecurityMaterial
from simulator.trust.registry import PartyRegistry
from tests.integration.conftest import SimHandle

TRADER = "trader-a"
PAYLOAD = b'<?xml version="1.0" encoding="UTF-8"?><IE3R01><MRN>25BE000000000001R1</MRN></IE3R01>'
# Attempt n at T0 + 30 * (2**(n-1) - 1) seconds: 0, 30, 90, 210, 450.
SCHEDULE = [0, 30, 90, 210, 450]


def _sha(path: Path) -> str:
    return hashlib.sha256(load_certificates(path)[0].public_bytes(Encoding.DER)).hexdigest()


def _receiver(pki: TestPki, name: str = TRADER, **options: Any) -> PushReceiver:
    files = pki.trader(name)
    return PushReceiver.from_files(files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain,
                                   server_cert=files.ap_cert, server_key=files.ap_key, ca_file=pki.ca.root_cert,
                                   **options)


def _enqueue(store: Store, message_id: str, *, party: str, ap_url: str, at: datetime, action: str = "IE3R01",
             priority: str = "B") -> None:
    """What routing does for a push party: queue "push:" + PartyId, meta ap_url/agreement/timestamp."""
    with store.write() as conn:
        outbox.enqueue(conn, profile="ics2", queue=PUSH_QUEUE_PREFIX + party, party=party, message_id=message_id,
                       action=action, payload=PAYLOAD, priority=priority, created_at=at,
                       ref_to_message_id=f"filing-{message_id}@trader.test", correlation="25BE000000000001R1",
                       meta={"ap_url": ap_url, "agreement": "EU-ICS2-TI-V1.0", "timestamp": iso(at)})


def _state(store: Store, message_id: str) -> outbox.OutboxMessage:
    with store.read() as conn:
        found = outbox.find(conn, message_id)
    assert found is not None
    return found


@pytest.fixture
def t0() -> datetime:
    # The certificates are valid around the real now; the simulated clock starts there and is frozen.
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ctx(test_pki: TestPki, tmp_path: Path, t0: datetime) -> Iterator[SimContext]:
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "pki_dir": test_pki.directory,
                                            "clock_mode": "frozen", "clock_start": iso(t0),
                                            "push_retry_seconds": 30, "push_max_attempts": 5,
                                            "push_timeout_seconds": 5})
    ctx = SimContext.open(config)
    ctx.reset_scene()
    trader = test_pki.trader(TRADER)
    PartyRegistry(ctx.store, "ics2").register(trader.eori, load_certificates(trader.sealing_cert)[0],
                                              purpose="sealing", at=t0)
    yield ctx
    ctx.store.dispose()


@pytest.fixture
def dispatcher(ctx: SimContext) -> PushDispatcher:
    material = SecurityMaterial.from_pki(ctx.config.pki)
    return PushDispatcher(ctx, material, C2tDelivery(ctx, material, PartyRegistry(ctx.store, "ics2")))


@pytest.fixture
def receiver(test_pki: TestPki) -> Iterator[PushReceiver]:
    with _receiver(test_pki) as running:
        yield running


def test_good_receipt_delivers(ctx: SimContext, dispatcher: PushDispatcher, receiver: PushReceiver,
                               test_pki: TestPki, t0: datetime) -> None:
    """A signed receipt covering Body and eb:Messaging with matching NRR digests -> delivered, over mTLS
    with the simulator's push-client certificate; both directions journaled."""
    eori = test_pki.trader(TRADER).eori
    _enqueue(ctx.store, "m-good@sti", party=eori, ap_url=receiver.url, at=t0)
    assert dispatcher.run_once(t0) == 1
    (got,) = receiver.received
    assert (got.message_id, got.action, got.payload) == ("m-good@sti", "IE3R01", PAYLOAD)
    assert got.ref_to_message_id == "filing-m-good@sti@trader.test"
    assert (got.from_party, got.to_party, got.answered) == ("sti-taxud", eori, "good")
    assert got.client_cert_sha256 == _sha(test_pki.push_client.cert)
    assert receiver.refused == []
    state = _state(ctx.store, "m-good@sti")
    assert (state.state, state.attempts) == ("delivered", 1)
    (out,) = journal.query(ctx.store, direction="out", message_id="m-good@sti")
    assert (out["detail"], out["receiver"], out["sim_at"]) == ("push attempt 1", eori, iso(t0))
    assert state.envelope == got.raw
    (answer,) = journal.query(ctx.store, direction="in", ref_to_message_id="m-good@sti")
    assert (answer["kind"], answer["verdict"], answer["error_code"]) == ("receipt", "delivered", None)
    assert answer["peer_cert_sha256"] == _sha(test_pki.trader(TRADER).ap_cert)
    assert dispatcher.run_once(t0 + timedelta(days=1)) == 0


def test_receipt_not_signing_the_body_is_retried_with_backoff_then_undelivered(
        ctx: SimContext, dispatcher: PushDispatcher, receiver: PushReceiver, test_pki: TestPki,
        t0: datetime) -> None:
    """domain/ics2.md "Receipts": a receipt whose signature does not cover the Body -> never delivered.
    Each attempt waits for the simulated clock (30, 60, 120, 240 s), sends the same signed bytes, and is
    journaled; after 5 attempts the message is undelivered with the reasons."""
    receiver.behaviour = "unsigned-body"
    _enqueue(ctx.store, "m-body@sti", party=test_pki.trader(TRADER).eori, ap_url=receiver.url, at=t0)
    for n, offset in enumerate(SCHEDULE, start=1):
        if offset:
            assert dispatcher.run_once(t0 + timedelta(seconds=offset - 1)) == 0, f"attempt {n} came early"
        assert dispatcher.run_once(t0 + timedelta(seconds=offset)) == 1, f"attempt {n} did not come"
    assert dispatcher.run_once(t0 + timedelta(days=30)) == 0
    received = receiver.received
    assert len(received) == 5
    assert len({m.raw for m in received}) == 1  # signed once; every retry sends the same bytes
    assert [m.duplicate for m in received] == [False, True, True, True, True]
    final = _state(ctx.store, "m-body@sti")
    assert (final.state, final.attempts) == ("undelivered", 5)
    assert final.detail is not None
    assert final.detail.startswith("no valid receipt after 5 push attempts")
    assert final.detail.count("does not cover the SOAP Body") >= 5
    sent = journal.query(ctx.store, direction="out", message_id="m-body@sti")
    assert [(e["detail"], e["sim_at"]) for e in sent] == [
        (f"push attempt {n}", iso(t0 + timedelta(seconds=offset))) for n, offset in enumerate(SCHEDULE, 1)]
    answers = journal.query(ctx.store, direction="in", ref_to_message_id="m-body@sti")
    assert [(e["kind"], e["verdict"], e["error_code"]) for e in answers] == [
        ("receipt", "not-delivered", "EBMS:0302")] * 5
    assert all("does not cover the SOAP Body" in e["detail"] for e in answers)
    assert [e["detail"].split(":")[0] for e in answers] == [f"push attempt {n}" for n in range(1, 6)]


@pytest.mark.parametrize(("behaviour", "kind", "error_code", "reason"), [
    ("error", "error", "EBMS:0004", "answered with an ebMS error: EBMS:0004"),
    ("http-500", "http", "HTTP 500", "HTTP 500 instead of a signed receipt"),
    ("no-answer", "transport", None, "without answering"),
])
def test_failed_attempt_then_delivered_on_the_retry(
        ctx: SimContext, dispatcher: PushDispatcher, receiver: PushReceiver, test_pki: TestPki, t0: datetime,
        behaviour: Any, kind: str, error_code: str | None, reason: str) -> None:
    """push.py: an ebMS error signal, a non-2xx answer or a closed connection fails the attempt (journaled
    with its kind and reason); the retry 30 simulated seconds later gets a good receipt -> delivered."""
    receiver.plan(behaviour)
    _enqueue(ctx.store, "m-retry@sti", party=test_pki.trader(TRADER).eori, ap_url=receiver.url, at=t0)
    assert dispatcher.run_once(t0) == 1
    assert _state(ctx.store, "m-retry@sti").state == "sent"
    assert dispatcher.run_once(t0 + timedelta(seconds=30)) == 1
    assert [m.answered for m in receiver.received] == [behaviour, "good"]
    first, second = journal.query(ctx.store, direction="in", ref_to_message_id="m-retry@sti")
    assert (first["kind"], first["verdict"], first["error_code"]) == (kind, "not-delivered", error_code)
    assert reason in first["detail"]
    assert (second["kind"], second["verdict"]) == ("receipt", "delivered")
    assert _state(ctx.store, "m-retry@sti").state == "delivered"


def test_an_endpoint_that_does_not_answer_in_time_fails_the_attempt(
        ctx: SimContext, test_pki: TestPki, t0: datetime) -> None:
    """push_timeout_seconds: no answer in time is a failed attempt, not a stuck dispatcher."""
    quick = SimContext(dataclasses.replace(ctx.config, push_timeout_seconds=0.5), ctx.store, ctx.clock)
    material = SecurityMaterial.from_pki(quick.config.pki)
    dispatcher = PushDispatcher(quick, material, C2tDelivery(quick, material, PartyRegistry(quick.store, "ics2")))
    with _receiver(test_pki, behaviour="hang", hang_seconds=5) as hanging:
        _enqueue(ctx.store, "m-hang@sti", party=test_pki.trader(TRADER).eori, ap_url=hanging.url, at=t0)
        assert dispatcher.run_once(t0) == 1
    (answer,) = journal.query(ctx.store, direction="in", ref_to_message_id="m-hang@sti")
    assert answer["kind"] == "transport"
    assert "within 0.5 s" in answer["detail"]


def test_an_ap_without_a_server_certificate_is_refused(
        ctx: SimContext, dispatcher: PushDispatcher, test_pki: TestPki, t0: datetime) -> None:
    """domain/ics2.md "Transport": the AP's certificate must be a server certificate for its host name,
    chaining to the test root; a trader's TLS client certificate (EKU clientAuth, no SAN) is not one."""
    files = test_pki.trader(TRADER)
    wrong = PushReceiver.from_files(files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain,
                                    server_cert=files.tls_cert, server_key=files.tls_key, ca_file=test_pki.ca.root_cert)
    with wrong:
        _enqueue(ctx.store, "m-tls@sti", party=files.eori, ap_url=wrong.url, at=t0)
        assert dispatcher.run_once(t0) == 1
        assert wrong.received == []
    (answer,) = journal.query(ctx.store, direction="in", ref_to_message_id="m-tls@sti")
    assert answer["kind"] == "transport"
    assert "TLS server certificate was refused" in answer["detail"]


def test_the_receiver_requires_a_client_certificate(receiver: PushReceiver, test_pki: TestPki) -> None:
    """receiver.py: two-way TLS; a client without a certificate gets no HTTP exchange at all."""
    context = ssl.create_default_context(cafile=str(test_pki.ca.root_cert))
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)

    def exchange() -> bytes:
        conn.request("POST", "/as4", body=b"x", headers={"Content-Type": "text/plain"})
        return conn.getresponse().read()

    with pytest.raises((ssl.SSLError, ConnectionError)):
        exchange()
    conn.close()
    assert receiver.received == []


# -- wiring: the clock hook of an app, the ticker of the real control server -------------------------
def test_a_clock_advance_drives_push_in_an_app(test_pki: TestPki, tmp_path: Path, t0: datetime) -> None:
    """profile.py init_control: push runs as a clock hook; role "all" (test client) starts no thread."""
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "pki_dir": test_pki.directory,
                                            "control_token": "t", "clock_mode": "frozen",
                                            "clock_start": iso(t0)})
    app = create_app(config, role="all")
    ctx = sim_context(app)
    ctx.reset_scene()
    trader = test_pki.trader(TRADER)
    PartyRegistry(ctx.store, "ics2").register(trader.eori, load_certificates(trader.sealing_cert)[0],
                                              purpose="sealing", at=t0)
    ticker = app.extensions[TICKER_KEY]
    assert isinstance(ticker, Ticker)
    assert "ics2-push" in ticker.hook_names
    assert not ticker.running
    with _receiver(test_pki) as running:
        _enqueue(ctx.store, "m-app@sti", party=trader.eori, ap_url=running.url, at=t0)
        answer = app.test_client().post("/_sim/clock/advance", json={"seconds": 1},
                                        headers={"Authorization": "Bearer t"})
        assert answer.status_code == 200
        assert [m.message_id for m in running.received] == ["m-app@sti"]
    assert _state(ctx.store, "m-app@sti").state == "delivered"
    ctx.store.dispose()


@pytest.mark.slow
def test_the_control_servers_ticker_pushes_without_a_clock_advance(sim: SimHandle, test_pki: TestPki) -> None:
    """The control server (one process) runs the background ticker: a due push message is delivered
    within a few real seconds, with no request to the simulator at all."""
    trader = test_pki.trader(TRADER)
    store = Store(f"sqlite:///{(sim.local.var_dir / 'icssim.db').resolve()}")
    try:
        with _receiver(test_pki) as running:
            # Routing is what normally queues this; the test writes the same row into the server's store.
            _enqueue(store, "m-ticker@sti", party=trader.eori, ap_url=running.url, at=datetime.now(UTC))
            assert [m.message_id for m in running.wait_for(1, timeout=20)] == ["m-ticker@sti"]

            def delivered() -> bool:
                rows = sim.control.outbox(PUSH_QUEUE_PREFIX + trader.eori)
                return bool(rows) and rows[0]["state"] == "delivered"

            sim.control.wait_for(delivered, timeout=10, what="push delivered")
    finally:
        store.dispose()
