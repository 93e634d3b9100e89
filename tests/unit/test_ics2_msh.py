"""The ICS2 message service handler in-process: filings, pull with reception awareness, receipts and
error signals from the trader, the ebMS ping — and the filing desk behind it.

Driven through `app.extensions["icssim.ics2.msh"].handle(content_type, body, Caller(tls_sha256))`
with messages signed by the codec and a real test PKI (certs.pki.init_test_pki), on the simulated clock.

Rules: ICD §4.1.3.3 (pull, FIFO per MPC, empty -> EBMS:0006); domain/ics2.md "Receipts" (a c2t
message counts as delivered only on a signed receipt that covers the Body and matches what was sent,
otherwise it is offered again — reception awareness, ebMS3 §6.2 / AS4 §3.2); ICD Table 24 (EBMS:0004
sub-code A001: certificate not registered for the EORI); ebMS3 §6.2.5 / ICD §4.6.2 (EBMS:0302
InvalidReceipt); domain/ics2.md "ENS lifecycle" (exactly ONE functional reply per filing, IE3N99
lists ALL errors); ebMS3 §5.2.2.9 (ping).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from certs.pki import TestPki, init_test_pki, load_certificates, load_private_key
from scenarios.filings.ics2 import build_filing, expected_errors, sample_data
from simulator.app import create_app
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_user_message, unpack
from simulator.codecs.as4.model import InboundMessage, PartyRef, UserMessage
from simulator.codecs.as4.receipts import build_error_signal, build_pull_request, build_receipt
from simulator.core import journal, outbox
from simulator.core.config import load_config
from simulator.core.context import SimContext, sim_context
from simulator.core.store import Store
from simulator.ics2.catalogue import entry
from simulator.ics2.delivery import HttpAnswer
from simulator.ics2.effects import Effects
from simulator.ics2.filings import FilingDesk
from simulator.ics2.lifecycle import ens_lifecycle
from simulator.ics2.models import ens
from simulator.ics2.msh import Caller, Ics2Msh
from simulator.ics2.parties import PartyProfiles, make_profile
from simulator.ics2.pmode import c2t_mpc
from simulator.ics2.runtime import c2t_message_id
from simulator.ics2.validation import default_schema_set
from simulator.trust.registry import PartyRegistry

TOKEN = "unit-test-token"
REDELIVERY = 90  # not the default (300): the setting is what counts
MAX_DELIVERIES = 3
_ids = itertools.count(1)


# -- helpers (also used by test_control_api) ----------------------------------------------------------
@dataclass(frozen=True)
class Trader:
    """A trader of the test PKI as its own software sees itself: sealing key and path, TLS certificate."""

    name: str
    eori: str
    key: RSAPrivateKey
    chain: tuple[x509.Certificate, ...]
    tls_cert: x509.Certificate

    @classmethod
    def load(cls, pki: TestPki, name: str) -> Trader:
        files = pki.trader(name)
        return cls(name, files.eori, load_private_key(files.sealing_key, validate=False),
                   tuple(load_certificates(files.sealing_chain)), load_certificates(files.tls_cert)[0])

    @property
    def caller(self) -> Caller:
        return Caller(hashlib.sha256(self.tls_cert.public_bytes(Encoding.DER)).hexdigest())

    @property
    def mpc(self) -> str:
        return c2t_mpc(self.eori)


def new_id() -> str:
    return f"{next(_ids):08d}-0000-4000-8000-000000000000@unit.icssim.test"


class Sim:
    """One simulator app (trader + control roles) driven in-process."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.msh: Ics2Msh = app.extensions["icssim.ics2.msh"]
        self.ctx: SimContext = sim_context(app)
        self.control: FlaskClient = app.test_client()
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    @property
    def store(self) -> Store:
        return self.ctx.store

    def now(self) -> datetime:
        return self.ctx.clock.now()

    def register(self, trader: Trader, *, purposes: tuple[str, ...] = ("sealing", "tls")) -> None:
        registry = PartyRegistry(self.store, "ics2")
        for purpose in purposes:
            cert = trader.chain[0] if purpose == "sealing" else trader.tls_cert
            registry.register(trader.eori, cert, purpose=purpose, at=self.now(), name=trader.name)

    def handle(self, content_type: str, body: bytes, caller: Caller) -> tuple[HttpAnswer, InboundMessage | None]:
        answer = self.msh.handle(content_type, body, caller)
        assert answer.status == 200
        return answer, (unpack(answer.content_type, answer.body) if answer.body else None)

    def send_user_message(self, trader: Trader, payload: bytes, *, action: str = "IE3F32",
                          service: str = as4c.SERVICE_T2C, message_id: str | None = None,
                          via: Trader | None = None) -> tuple[str, InboundMessage]:
        message_id = message_id or new_id()
        um = UserMessage(
            message_id=message_id, timestamp=self.now(),
            from_party=PartyRef(trader.eori, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER),
            to_party=PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
            agreement_ref=as4c.AGREEMENT_V1, agreement_type=as4c.AGREEMENT_TYPE, service=service,
            service_type=as4c.SERVICE_TYPE, action=action, conversation_id=message_id)
        content_type, body = pack_user_message(um, [(f"p-{message_id}", payload, "application/xml")],
                                               key=trader.key, chain=list(trader.chain))
        _, answer = self.handle(content_type, body, (via or trader).caller)
        assert answer is not None
        return message_id, answer

    def file(self, trader: Trader, lrn: str, *, variant: str | None = None,
             data: dict[str, Any] | None = None) -> str:
        """Send an IE3F32 filing; returns its MessageId after checking the receipt came back."""
        payload = build_filing("IE3F32", data or sample_data("IE3F32", lrn=lrn, eori=trader.eori,
                                                              variant=variant))
        message_id, answer = self.send_user_message(trader, payload)
        assert answer.kind == "receipt", _describe(answer)
        assert answer.ref_to_message_id == message_id
        return message_id

    def pull(self, trader: Trader, *, signer: Trader | None = None, mpc: str | None = None
             ) -> tuple[HttpAnswer, InboundMessage]:
        signer = signer or trader
        request = build_pull_request(mpc or trader.mpc, key=signer.key, chain=list(signer.chain),
                                     message_id=new_id(), timestamp=self.now())
        answer, message = self.handle(as4c.SOAP12_CONTENT_TYPE, request, trader.caller)
        assert message is not None
        return answer, message

    def receipt(self, signer: Trader, pulled: InboundMessage, *, sign_body: bool = True
                ) -> tuple[HttpAnswer, InboundMessage | None]:
        body = build_receipt(pulled, key=signer.key, chain=list(signer.chain), message_id=new_id(),
                             timestamp=self.now(), sign_body=sign_body)
        return self.handle(as4c.SOAP12_CONTENT_TYPE, body, signer.caller)

    def error_signal(self, signer: Trader, ref: str, code: str = "EBMS:0004"
                     ) -> tuple[HttpAnswer, InboundMessage | None]:
        body = build_error_signal([EbmsError(code, "the trader could not process it", ref_to_message_id=ref)],
                                  ref_to_message_id=ref, message_id=new_id(), timestamp=self.now(),
                                  key=signer.key, chain=list(signer.chain))
        return self.handle(as4c.SOAP12_CONTENT_TYPE, body, signer.caller)

    def advance(self, seconds: float) -> None:
        self.ctx.clock.advance(seconds)

    def outbox(self, message_id: str | None = None) -> list[dict[str, Any]]:
        rows = outbox.listing(self.store)
        return [r for r in rows if message_id is None or r["message_id"] == message_id]

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        return journal.query(self.store, **filters)

    def ens(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            return [dict(r) for r in conn.execute(ens.select().order_by(ens.c.id)).mappings()]


def make_sim(pki: TestPki, var_dir: Path, **overrides: Any) -> Sim:
    settings: dict[str, Any] = {"var_dir": var_dir, "pki_dir": pki.directory, "control_token": TOKEN,
                                "clock_mode": "frozen", "pull_redelivery_seconds": REDELIVERY,
                                "pull_max_deliveries": MAX_DELIVERIES}
    settings.update(overrides)
    app = create_app(load_config(env={}, overrides=settings), role="all")
    sim = Sim(app)
    sim.ctx.reset_scene()  # the configured (frozen) clock
    return sim


def _describe(message: InboundMessage | None) -> str:
    if message is None:
        return "an empty answer"
    if message.kind == "error":
        return "; ".join(f"{e.code}/{e.sub_code} {e.detail}" for e in message.errors)
    return f"a {message.kind} message"


def error_codes(message: InboundMessage | None) -> list[str]:
    assert message is not None and message.kind == "error", _describe(message)
    return [e.code for e in message.errors]


# -- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("msh-pki") / "pki")


@pytest.fixture(scope="module")
def traders(pki: TestPki) -> dict[str, Trader]:
    return {name: Trader.load(pki, name) for name in ("trader-a", "trader-b", "unregistered")}


@pytest.fixture
def sim(pki: TestPki, traders: dict[str, Trader], tmp_path: Path) -> Iterator[Sim]:
    sim = make_sim(pki, tmp_path / "var")
    sim.register(traders["trader-a"])
    sim.register(traders["trader-b"])
    yield sim
    sim.store.dispose()


@pytest.fixture
def a(traders: dict[str, Trader]) -> Trader:
    return traders["trader-a"]


@pytest.fixture
def b(traders: dict[str, Trader]) -> Trader:
    return traders["trader-b"]


def _filed_and_pulled(sim: Sim, trader: Trader, lrn: str = "LRNUNIT0001") -> tuple[str, HttpAnswer, InboundMessage]:
    filing_id = sim.file(trader, lrn)
    answer, pulled = sim.pull(trader)
    assert pulled.kind == "user", _describe(pulled)
    return filing_id, answer, pulled


# -- trader to customs --------------------------------------------------------------------------------
def test_filing_is_receipted_and_gets_exactly_one_reply(sim: Sim, a: Trader) -> None:
    """domain/ics2.md "ENS lifecycle": a filing gets exactly ONE functional reply (IE3R01 here), queued
    on the filer's MPC with RefToMessageId = the filing; DESIGN.md Durability: message, registration,
    reply and receipt are journaled together."""
    filing_id = sim.file(a, "LRNUNIT0001")
    (queued,) = sim.outbox()
    assert (queued["action"], queued["ref_to_message_id"], queued["queue"]) == ("IE3R01", filing_id, a.mpc)
    assert queued["state"] == "queued"
    (registered,) = sim.ens()
    assert registered["state"] == "registered" and registered["lrn"] == "LRNUNIT0001"
    assert queued["correlation"] == registered["mrn"] and len(registered["mrn"]) == 18
    kinds = [(e["direction"], e["kind"], e["verdict"]) for e in sim.journal(message_id=filing_id)]
    assert kinds == [("in", "user", "accepted")]
    assert [e["verdict"] for e in sim.journal(kind="receipt", ref_to_message_id=filing_id)] == ["sent"]


def test_filing_with_several_defects_gets_one_ie3n99_listing_all(sim: Sim, a: Trader) -> None:
    """domain/ics2.md "Messages": IE3N99 lists ALL errors, each with code and XPath pointer; still one
    functional reply, and the ENS is rejected."""
    data = sample_data("IE3F32", lrn="LRNUNIT0002", eori=a.eori, variant="stop-word-description")
    data["houses"][0]["goods_items"][0]["hs_code"] = "61O910"
    data["representative"]["identification_number"] = data["declarant"]["identification_number"]
    sim.file(a, "LRNUNIT0002", data=data)
    (queued,) = sim.outbox()
    assert queued["action"] == "IE3N99"
    _, pulled = sim.pull(a)
    assert pulled.user_message is not None and pulled.user_message.action == "IE3N99"
    root = etree.fromstring(pulled.payloads[0].content)
    found = {(e.findtext("errorCode"), e.findtext("errorPointer")) for e in root.iter("error")}
    expected = {pair for variant in ("stop-word-description", "invalid-hs-code", "representative-equals-declarant")
                for pair in expected_errors("IE3F32", variant)}
    assert found == expected
    assert root.findtext("LRN") == "LRNUNIT0002"
    assert [row["state"] for row in sim.ens()] == ["rejected"]


def test_ping_earns_a_receipt_and_registers_nothing(sim: Sim, a: Trader) -> None:
    """ebMS3 §5.2.2.9 / ICD §4.5.1: the test service earns a signed receipt and no business processing —
    no ENS, no reply queued."""
    message_id, answer = sim.send_user_message(a, b"<ping/>", action=as4c.TEST_ACTION, service=as4c.TEST_SERVICE)
    assert answer.kind == "receipt" and answer.ref_to_message_id == message_id
    assert answer.signature is not None
    assert sim.ens() == []
    assert sim.outbox() == []
    (entry_,) = sim.journal(message_id=message_id)
    assert entry_["verdict"] == "accepted" and entry_["detail"] == "ebMS test service (ping)"
    _, pulled = sim.pull(a)
    assert error_codes(pulled) == ["EBMS:0006"]


# -- pull and reception awareness ---------------------------------------------------------------------
def test_empty_mpc_answers_ebms_0006(sim: Sim, a: Trader) -> None:
    """ICD §4.1.3.3: a pull on an empty MPC answers the warning EBMS:0006."""
    _, pulled = sim.pull(a)
    assert error_codes(pulled) == ["EBMS:0006"]
    assert pulled.errors[0].severity == "warning"


def test_pull_hands_out_the_reply_signed_with_ref_to_the_filing(sim: Sim, a: Trader) -> None:
    """ICD §4.1.3.3: the pulled message is a signed UserMessage of service eu_ics2_c2t to the trader,
    RefToMessageId = the filing."""
    filing_id, _, pulled = _filed_and_pulled(sim, a)
    um = pulled.user_message
    assert um is not None and pulled.signature is not None
    assert (um.service, um.action, um.ref_to_message_id) == (as4c.SERVICE_C2T, "IE3R01", filing_id)
    assert (um.to_party.party_id, um.from_party.party_id) == (a.eori, as4c.STI_PARTY_ID)
    assert um.mpc == a.mpc


def test_pulled_messages_come_in_filing_order(sim: Sim, a: Trader) -> None:
    """ICD §4.1.3.3: FIFO per MPC."""
    first = sim.file(a, "LRNUNIT0001")
    second = sim.file(a, "LRNUNIT0002")
    refs = [sim.pull(a)[1].ref_to_message_id for _ in range(2)]
    assert refs == [first, second]


def test_unreceipted_message_comes_back_after_the_interval_not_before(sim: Sim, a: Trader) -> None:
    """domain/ics2.md "Receipts" (reception awareness, README pull_redelivery_seconds): a pulled message
    without a valid receipt is offered again after pull_redelivery_seconds of SIMULATED time, with the
    same envelope bytes, and not before."""
    _, first_answer, first = _filed_and_pulled(sim, a)
    assert error_codes(sim.pull(a)[1]) == ["EBMS:0006"]
    sim.advance(REDELIVERY - 1)
    assert error_codes(sim.pull(a)[1]) == ["EBMS:0006"]
    sim.advance(1)
    again_answer, again = sim.pull(a)
    assert again.kind == "user" and again.message_id == first.message_id
    assert again_answer.body == first_answer.body
    assert again_answer.content_type == first_answer.content_type
    assert sim.outbox(first.message_id)[0]["attempts"] == 2
    sent = sim.journal(direction="out", kind="user", message_id=first.message_id)
    assert [e["detail"] for e in sent] == ["delivery attempt 1", "delivery attempt 2"]


def test_redelivery_follows_a_clock_advanced_through_the_control_api(sim: Sim, a: Trader) -> None:
    """DESIGN.md Deterministic (the control API advances the clock): the redelivery interval is
    measured on the simulated clock the control API moves, not on the wall clock."""
    _, first_answer, _ = _filed_and_pulled(sim, a)
    response = sim.control.post("/_sim/clock/advance", json={"seconds": REDELIVERY - 1}, headers=sim.auth)
    assert response.status_code == 200
    assert error_codes(sim.pull(a)[1]) == ["EBMS:0006"]
    assert sim.control.post("/_sim/clock/advance", json={"seconds": 1}, headers=sim.auth).status_code == 200
    again_answer, again = sim.pull(a)
    assert again.kind == "user"
    assert again_answer.body == first_answer.body


def test_valid_receipt_marks_delivered_and_it_does_not_come_back(sim: Sim, a: Trader) -> None:
    """domain/ics2.md "Receipts": a signed receipt covering the Body and matching what was sent makes the
    message delivered; it is not offered again."""
    _, _, pulled = _filed_and_pulled(sim, a)
    answer, signal = sim.receipt(a, pulled)
    assert signal is None and answer.body == b""
    (row,) = sim.outbox(pulled.message_id)
    assert row["state"] == "delivered" and row["delivered_at"] is not None
    assert [e["verdict"] for e in sim.journal(kind="receipt", direction="in")] == ["delivered"]
    sim.advance(REDELIVERY * 10)
    assert error_codes(sim.pull(a)[1]) == ["EBMS:0006"]


@pytest.mark.parametrize("signer_name", ["unregistered", "trader-b"])
def test_receipt_sealed_by_a_certificate_not_registered_for_the_party_is_ebms_0302(
        sim: Sim, a: Trader, traders: dict[str, Trader], signer_name: str) -> None:
    """domain/ics2.md "Receipts" / ICD §4.6.2 (ebMS3 §6.2.5 InvalidReceipt): a receipt sealed with a
    certificate not registered for the receiving party (an unregistered one, or another party's) is
    EBMS:0302; the message is not delivered and is offered again after the interval."""
    _, first_answer, pulled = _filed_and_pulled(sim, a)
    _, signal = sim.receipt(traders[signer_name], pulled)
    assert error_codes(signal) == ["EBMS:0302"]
    assert sim.outbox(pulled.message_id)[0]["state"] == "sent"
    (journaled,) = sim.journal(kind="receipt", direction="in")
    assert (journaled["verdict"], journaled["error_code"]) == ("not-delivered", "EBMS:0302")
    sim.advance(REDELIVERY)
    again_answer, again = sim.pull(a)
    assert again.kind == "user" and again_answer.body == first_answer.body


def test_receipt_not_covering_the_body_is_ebms_0302(sim: Sim, a: Trader) -> None:
    """domain/ics2.md "Receipts": traders must sign the (empty) Body of their receipts; otherwise the
    message counts as never delivered (EBMS:0302)."""
    _, _, pulled = _filed_and_pulled(sim, a)
    _, signal = sim.receipt(a, pulled, sign_body=False)
    assert error_codes(signal) == ["EBMS:0302"]
    assert sim.outbox(pulled.message_id)[0]["state"] == "sent"


def test_error_signal_from_the_trader_marks_the_message_undelivered(sim: Sim, a: Trader) -> None:
    """ebMS3 §6.2 (reception awareness): an ebMS error signal from the trader referring to a sent message
    ends its delivery — marked undelivered, journaled, not offered again."""
    _, _, pulled = _filed_and_pulled(sim, a)
    answer, signal = sim.error_signal(a, pulled.message_id)
    assert signal is None and answer.body == b""
    (row,) = sim.outbox(pulled.message_id)
    assert row["state"] == "undelivered"
    assert "EBMS:0004" in row["detail"]
    (journaled,) = sim.journal(kind="error", direction="in")
    assert (journaled["ref_to_message_id"], journaled["error_code"]) == (pulled.message_id, "EBMS:0004")
    sim.advance(REDELIVERY * 2)
    assert error_codes(sim.pull(a)[1]) == ["EBMS:0006"]


def test_error_signal_from_another_party_does_not_cancel_the_delivery(sim: Sim, a: Trader, b: Trader) -> None:
    """ICD Table 24 / domain/ics2.md "AS4 profile" (the certificate-party binding): only the party a
    message was sent to can answer for it — an error signal sealed by another registered party must not
    mark that party's message undelivered (compare the receipt check, EBMS:0302)."""
    _, _, pulled = _filed_and_pulled(sim, a)
    sim.error_signal(b, pulled.message_id)
    assert sim.outbox(pulled.message_id)[0]["state"] == "sent"
    sim.advance(REDELIVERY)
    assert sim.pull(a)[1].kind == "user"


def test_no_more_deliveries_after_the_maximum(sim: Sim, a: Trader) -> None:
    """README pull_max_deliveries (reception awareness): a message is handed out at most that many
    times, each after the redelivery interval."""
    _, first_answer, _ = _filed_and_pulled(sim, a)
    for _ in range(MAX_DELIVERIES - 1):
        sim.advance(REDELIVERY)
        answer, message = sim.pull(a)
        assert message.kind == "user" and answer.body == first_answer.body
    sim.advance(REDELIVERY)
    assert error_codes(sim.pull(a)[1]) == ["EBMS:0006"]


def test_message_exhausting_its_deliveries_is_marked_undelivered(sim: Sim, a: Trader) -> None:
    """simulator/core/outbox.py (reception awareness): after the maximum number of deliveries without a
    valid receipt the message "is marked undelivered" — visible as such in the outbox the harness reads."""
    _, _, pulled = _filed_and_pulled(sim, a)
    for _ in range(MAX_DELIVERIES - 1):
        sim.advance(REDELIVERY)
        sim.pull(a)
    sim.advance(REDELIVERY)
    sim.pull(a)  # the trader keeps pulling; nothing is due any more
    listed = sim.control.get("/_sim/outbox", headers=sim.auth).get_json()["messages"]
    assert [(m["message_id"], m["state"]) for m in listed] == [(pulled.message_id, "undelivered")]


def test_pull_of_another_partys_mpc_is_ebms_0004(sim: Sim, a: Trader, b: Trader) -> None:
    """ICD §4.3.3 / Table 24 A001: a PullRequest is authorised only for the signer's own MPC."""
    sim.file(a, "LRNUNIT0001")
    _, signal = sim.pull(b, mpc=a.mpc)
    assert error_codes(signal) == ["EBMS:0004"]
    assert signal is not None and signal.errors[0].sub_code == "A001"
    assert sim.outbox()[0]["state"] == "queued"


def test_pull_over_another_partys_tls_certificate_is_ebms_0004(sim: Sim, a: Trader, b: Trader) -> None:
    """README require_tls_party_match / ICD Table 24 A001: the TLS client certificate must be registered
    for the party whose MPC is pulled."""
    sim.file(a, "LRNUNIT0001")
    request = build_pull_request(a.mpc, key=a.key, chain=list(a.chain), message_id=new_id(), timestamp=sim.now())
    _, signal = sim.handle(as4c.SOAP12_CONTENT_TYPE, request, b.caller)
    assert error_codes(signal) == ["EBMS:0004"]
    assert sim.outbox()[0]["state"] == "queued"


# -- the filing desk ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> FilingDesk:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('desk') / 'profiles.db'}")
    lifecycle, profiles = ens_lifecycle(), PartyProfiles(store)
    effects = Effects(lifecycle, profiles, lambda kind, basis: c2t_message_id(0, kind, basis))
    return FilingDesk(default_schema_set(), mrn_country="BE", lifecycle=lifecycle, effects=effects,
                      profiles=profiles)


def _f32() -> Any:
    found = entry("IE3F32")
    assert found is not None
    return found


def test_desk_accepts_a_valid_filing(desk: FilingDesk) -> None:
    """domain/ics2.md "ENS lifecycle": a filing passing schema and rules is accepted (no errors)."""
    assessment = desk.assess(_f32(), build_filing("IE3F32", sample_data("IE3F32", lrn="LRNDESK1", eori="BE0123456789")))
    assert assessment.accepted and assessment.errors == []
    assert (assessment.lrn, assessment.declarant) == ("LRNDESK1", "BE0123456789")


def test_desk_collects_every_error(desk: FilingDesk) -> None:
    """domain/ics2.md "Messages": IE3N99 lists ALL errors — the assessment collects each rule's error."""
    data = sample_data("IE3F32", lrn="LRNDESK2", eori="BE0123456789", variant="disallowed-script")
    data["representative"]["identification_number"] = data["declarant"]["identification_number"]
    data["houses"][0]["consignee"]["name"] = "Unknown"
    assessment = desk.assess(_f32(), build_filing("IE3F32", data))
    found = {(e.code, e.pointer) for e in assessment.errors}
    assert found == {pair for variant in ("disallowed-script", "representative-equals-declarant",
                                          "unknown-party-name") for pair in expected_errors("IE3F32", variant)}


def test_desk_refuses_a_payload_whose_root_is_not_the_action(desk: FilingDesk) -> None:
    """ICD §4.2.2.3 / domain/ics2.md "Messages" (payload root element = message id = AS4 Action): an
    IE3F43 sent with Action IE3F32 is one error, code 12, pointing at the root."""
    payload = build_filing("IE3F43", sample_data("IE3F43", lrn="LRNDESK3", eori="BE0123456789"))
    assessment = desk.assess(_f32(), payload)
    assert [(e.code, e.pointer) for e in assessment.errors] == [("12", "/IE3F43")]
    assert "IE3F43" in assessment.errors[0].reason and "IE3F32" in assessment.errors[0].reason
    assert assessment.lrn == "LRNDESK3"  # still correlated by its LRN


def test_desk_refuses_hostile_xml_as_a_functional_error(desk: FilingDesk) -> None:
    """DESIGN.md "Bad input gets a precise protocol answer" (DTDs refused): an IE3N99 error, not a crash."""
    payload = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><IE3F32>&e;</IE3F32>'
    assessment = desk.assess(_f32(), payload)
    assert not assessment.accepted
    assert [(e.code, e.pointer) for e in assessment.errors] == [("12", "/")]


def test_desk_commit_registers_with_an_mrn_and_builds_ie3r01(desk: FilingDesk, tmp_path: Path) -> None:
    """domain/ics2.md "Messages": IE3R01 carries the LRN and an MRN of exactly 18 characters."""
    store = Store(f"sqlite:///{tmp_path / 'desk.db'}")
    store.create_schema()
    assessment = desk.assess(_f32(), build_filing("IE3F32", sample_data("IE3F32", lrn="LRNDESK4", eori="BE0123456789")))
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with store.write() as conn:
        reply, *others = desk.commit(conn, assessment, sender="BE0123456789", message_id="m@x", journal_id=7,
                                     agreement=as4c.AGREEMENT_V1, now=now)
    # domain/ics2.md "Messages": the IE3R01 copy to the carrier named in the filing is optional; this carrier
    # has not asked for it (ICD §3.3.2.3), so nothing else is sent.
    assert others == []
    assert reply.action == "IE3R01" and reply.mrn is not None and len(reply.mrn) == 18
    assert reply.mrn.startswith("25BE")  # year of registration, then the configured mrn_country
    assert reply.correlation == "LRNDESK4"
    root = etree.fromstring(reply.payload)
    assert (root.findtext("LRN"), root.findtext("MRN")) == ("LRNDESK4", reply.mrn)
    with store.read() as conn:
        (row,) = conn.execute(ens.select()).mappings().all()
    assert (row["state"], row["mrn"], row["journal_id"], row["errors"]) == ("registered", reply.mrn, 7, None)
    store.dispose()


def test_desk_commit_sends_the_carrier_the_ie3r01_copy_it_asked_for(desk: FilingDesk, tmp_path: Path) -> None:
    """domain/ics2.md "Messages": "plus an optional IE3R01 copy to the carrier" — sent to a carrier whose
    profile wants it; the copy carries the same LRN and MRN as the reply."""
    store = Store(f"sqlite:///{tmp_path / 'desk.db'}")
    store.create_schema()
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    PartyProfiles(store).put(make_profile("BE0400000001", roles=["carrier"], wants=["IE3R01"]), at=now)
    assessment = desk.assess(_f32(), build_filing("IE3F32", sample_data("IE3F32", lrn="LRNDESK6", eori="BE0123456789")))
    with store.write() as conn:
        reply, copy = desk.commit(conn, assessment, sender="BE0123456789", message_id="m@x", journal_id=7,
                                  agreement=as4c.AGREEMENT_V1, now=now)
    assert (copy.action, copy.recipient, copy.copy, copy.initial_reply) == ("IE3R01", "BE0400000001", True, False)
    sent = etree.fromstring(copy.payload)
    assert (sent.findtext("LRN"), sent.findtext("MRN")) == ("LRNDESK6", reply.mrn)
    store.dispose()


def test_desk_commit_rejects_with_ie3n99_listing_all_errors(desk: FilingDesk, tmp_path: Path) -> None:
    """domain/ics2.md "Messages": a rejected filing gets IE3N99 with every error (code, pointer, reason);
    no MRN is attributed."""
    store = Store(f"sqlite:///{tmp_path / 'desk.db'}")
    store.create_schema()
    data = sample_data("IE3F32", lrn="LRNDESK5", eori="BE0123456789", variant="invalid-hs-code")
    data["houses"][0]["consignee"]["name"] = "Unknown"
    assessment = desk.assess(_f32(), build_filing("IE3F32", data))
    assert len(assessment.errors) == 2
    with store.write() as conn:
        (reply,) = desk.commit(conn, assessment, sender="BE0123456789", message_id="m@x", journal_id=1,
                               agreement=as4c.AGREEMENT_V1, now=datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    assert reply.action == "IE3N99" and reply.mrn is None
    root = etree.fromstring(reply.payload)
    listed = [(e.findtext("errorCode"), e.findtext("errorPointer")) for e in root.iter("error")]
    assert listed == [(e.code, e.pointer) for e in assessment.errors]
    with store.read() as conn:
        (row,) = conn.execute(ens.select()).mappings().all()
    assert row["state"] == "rejected" and row["mrn"] is None
    assert all(e.pointer in row["errors"] for e in assessment.errors)
    store.dispose()
