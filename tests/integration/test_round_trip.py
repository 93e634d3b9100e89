"""The happy path end to end with the reference client: filing -> receipt -> pull -> receipt back."""

from __future__ import annotations

import pytest
from lxml import etree

from scenarios.simctl import SimControl
from simulator.codecs.as4 import constants as as4c
from tests.integration.conftest import SimHandle, describe, filing_payload

pytestmark = pytest.mark.slow


def test_filing_is_receipted_registered_pulled_and_acknowledged(sim: SimHandle, control: SimControl) -> None:
    """ICD §4.3.1 / AS4 §5.1.8: a signed non-repudiation receipt acknowledging every signed part;
    ICD §4.1.3.3: the IE3R01 is pulled from the trader's own MPC with RefToMessageId = the filing;
    domain/ics2.md "Messages": IE3R01 carries the LRN and an MRN of exactly 18 characters;
    domain/ics2.md "Receipts": the c2t message counts as delivered once a valid signed receipt comes back;
    ICD §4.1.3.3: an empty MPC answers the warning EBMS:0006."""
    trader = sim.pki.trader("trader-a")
    client = sim.client("trader-a")
    lrn = "RT0000000000000000001"
    sent = client.send("IE3F32", filing_payload(trader.eori, lrn=lrn))

    assert sent.http.status == 200
    assert sent.receipt, f"expected a signed receipt, got {describe(sent.http)}"
    assert sent.problems == [], sent.problems
    assert sent.response is not None and sent.response.signature is not None
    assert sent.response.ref_to_message_id == sent.message_id

    registered = control.ics2_ens(message_id=sent.message_id)
    assert len(registered) == 1, registered
    ens = registered[0]
    assert (ens["state"], ens["lrn"], ens["sender"]) == ("registered", lrn, trader.eori)
    mrn = ens["mrn"]
    assert isinstance(mrn, str) and len(mrn) == 18, mrn

    pulled = client.pull()
    assert pulled.problems == [], pulled.problems
    message = pulled.user_message
    assert message is not None, f"expected the IE3R01, got {describe(pulled.http)}"
    um = message.user_message
    assert um is not None
    assert (um.service, um.action, um.ref_to_message_id) == (as4c.SERVICE_C2T, "IE3R01", sent.message_id)
    assert (um.from_party.party_id, um.to_party.party_id) == (as4c.STI_PARTY_ID, trader.eori)
    assert len(message.payloads) == 1
    reply = etree.fromstring(message.payloads[0].content)
    assert etree.QName(reply).localname == "IE3R01"
    assert reply.findtext("LRN") == lrn
    assert reply.findtext("MRN") == mrn

    # The client answered the pulled message with its signed receipt: accepted, and now delivered.
    assert pulled.receipt_answer is not None and pulled.receipt_answer.status == 200
    outbox = control.outbox()
    assert len(outbox) == 1, outbox
    assert (outbox[0]["action"], outbox[0]["ref_to_message_id"], outbox[0]["correlation"],
            outbox[0]["state"]) == ("IE3R01", sent.message_id, mrn, "delivered")
    receipts_in = control.journal(direction="in", kind="receipt")
    assert [e["verdict"] for e in receipts_in] == ["delivered"], receipts_in

    again = client.pull()
    assert again.empty, f"expected the warning EBMS:0006, got {describe(again.http)}"
    assert again.message is not None
    assert [(e.code, e.severity) for e in again.message.errors] == [("EBMS:0006", "warning")]
    assert control.outbox()[0]["state"] == "delivered"  # not offered again


def test_ping_earns_a_receipt_and_registers_nothing(sim: SimHandle, control: SimControl) -> None:
    """ebMS3 §5.2.2.9 / ICD §4.5.1: the ebMS test service (ping) gets a signed receipt and no business
    processing: no ENS, no functional reply queued."""
    client = sim.client("trader-a")
    sent = client.ping()
    assert sent.http.status == 200
    assert sent.receipt, f"expected a receipt, got {describe(sent.http)}"
    assert sent.problems == [], sent.problems
    assert control.ics2_ens() == []
    assert control.outbox() == []
    accepted = control.journal(direction="in", kind="user", message_id=sent.message_id)
    assert [(e["verdict"], e["action"]) for e in accepted] == [("accepted", as4c.TEST_ACTION)]
    assert client.pull().empty


def test_encrypted_payload_is_decrypted_and_registered(sim: SimHandle, control: SimControl) -> None:
    """domain/ics2.md "AS4 profile": message-level encryption is off in the ICD, but AES-128-GCM with
    RSA-OAEP key transport (WSS SwA) may still appear and must be accepted: the simulator decrypts the
    payload with its own key, verifies the signature over the plaintext, receipts and registers it."""
    from cryptography import x509

    from simulator.codecs.as4.message import pack_user_message
    from tests.integration.conftest import t2c_user_message, unpack_answer

    trader = sim.pki.trader("trader-a")
    identity = sim.identity("trader-a")
    simulator_cert = x509.load_pem_x509_certificate(
        (sim.pki.directory / "simulator" / "sealing.pem").read_bytes())
    um = t2c_user_message(trader.eori)
    content_type, body = pack_user_message(
        um, [("enc-payload@it.icssim.test", filing_payload(trader.eori), "application/xml")],
        key=identity.sealing_key, chain=list(identity.sealing_chain), encrypt_for=simulator_cert)
    assert b"EncryptedData" in body and b"<ie:IE3F32" not in body  # the payload travels encrypted

    answer = unpack_answer(sim.post(content_type, body))
    assert answer.kind == "receipt", [(e.code, e.detail) for e in answer.errors]
    registered = control.ics2_ens(message_id=um.message_id)
    assert [e["state"] for e in registered] == ["registered"]


def test_payload_encrypted_for_another_key_is_refused(sim: SimHandle, control: SimControl) -> None:
    """WSS SwA / ebMS3 §6.7: a payload the simulator cannot decrypt answers EBMS:0102 FailedDecryption,
    and nothing is registered."""
    from cryptography import x509

    from simulator.codecs.as4.message import pack_user_message
    from tests.integration.conftest import t2c_user_message, unpack_answer

    trader = sim.pki.trader("trader-a")
    identity = sim.identity("trader-a")
    other = x509.load_pem_x509_certificate(sim.pki.trader("trader-b").sealing_cert.read_bytes())
    um = t2c_user_message(trader.eori)
    content_type, body = pack_user_message(
        um, [("enc-payload@it.icssim.test", filing_payload(trader.eori), "application/xml")],
        key=identity.sealing_key, chain=list(identity.sealing_chain), encrypt_for=other)

    answer = unpack_answer(sim.post(content_type, body))
    assert answer.kind == "error"
    assert [e.code for e in answer.errors] == ["EBMS:0102"]
    assert control.ics2_ens(message_id=um.message_id) == []


def test_registered_ens_enters_its_lifecycle_and_expires_after_200_days(sim: SimHandle,
                                                                        control: SimControl) -> None:
    """domain/ics2.md "ENS lifecycle": a registered ENS is in the declared state machine
    (simulator/ics2/data/lifecycle.json); it is invalidated automatically 200 days after filing, on the
    simulated clock: not one second before, and at the due instant when the clock is advanced."""
    trader = sim.pki.trader("trader-a")
    sent = sim.client("trader-a").send("IE3F32", filing_payload(trader.eori))
    assert sent.receipt, describe(sent.http)
    [ens] = control.ics2_ens(message_id=sent.message_id)
    assert ens["lifecycle_state"] == "registered"

    control.advance_clock(200 * 86400 - 5)
    # meanwhile risk analysis finished with the default outcome (simulator/ics2/data/risk.json)
    assert control.ics2_ens(message_id=sent.message_id)[0]["lifecycle_state"] == "assessment_complete"
    control.advance_clock(10)
    assert control.ics2_ens(message_id=sent.message_id)[0]["lifecycle_state"] == "invalidated"


def test_rejected_filing_has_no_lifecycle(sim: SimHandle, control: SimControl) -> None:
    """domain/ics2.md "ENS lifecycle": a filing that fails validation is rejected (IE3N99) and never
    becomes an ENS with an MRN, so it has no lifecycle state."""
    from scenarios.filings.ics2 import build_filing, sample_data

    trader = sim.pki.trader("trader-a")
    payload = build_filing("IE3F32", sample_data("IE3F32", lrn="RTREJ000000000000001", eori=trader.eori,
                                                 variant="invalid-hs-code"))
    sent = sim.client("trader-a").send("IE3F32", payload)
    assert sent.receipt, describe(sent.http)
    [ens] = control.ics2_ens(message_id=sent.message_id)
    assert (ens["state"], ens["mrn"], ens["lifecycle_state"]) == ("rejected", None, None)
