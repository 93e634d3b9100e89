"""Binding of certificates to parties: registration, not the certificate subject, decides (UUM&DS)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from scenarios.simctl import SimControl
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.receipts import build_pull_request
from tests.integration.conftest import SimHandle, describe, error_of, filing_payload, unpack_answer

pytestmark = pytest.mark.slow


def _nothing_registered_or_queued(control: SimControl) -> None:
    assert control.ics2_ens() == [], "a refused filing must not be registered"
    assert control.outbox() == [], "a refused filing must not get a functional reply"


def test_tls_certificate_of_another_party_is_refused_with_a001(sim: SimHandle, control: SimControl) -> None:
    """ICD Table 24 (EBMS:0004 sub-code A001) and domain/ics2.md "Transport": the TLS client certificate
    must be registered for the same party as the sealing certificate and the From EORI. trader-b's TLS
    certificate carrying trader-a's correctly sealed filing is refused, naming the TLS certificate."""
    eori_a = sim.pki.trader("trader-a").eori
    client = sim.client(identity=sim.identity("trader-a", tls_of="trader-b"))
    sent = client.send("IE3F32", filing_payload(eori_a))

    assert sent.http.status == 200
    assert sent.response is not None and sent.response.kind == "error", describe(sent.http)
    entry = error_of(sent.response, "EBMS:0004")
    assert entry.sub_code == "A001", entry
    assert entry.detail is not None and "TLS" in entry.detail, entry.detail
    assert entry.ref_to_message_in_error == sent.message_id
    rejected = control.journal(direction="in", message_id=sent.message_id)
    assert [(e["verdict"], e["error_code"]) for e in rejected] == [("rejected", "EBMS:0004/A001")]
    _nothing_registered_or_queued(control)


def test_pulling_another_partys_mpc_is_refused_with_a001(sim: SimHandle, control: SimControl) -> None:
    """ICD §4.1.3.3 / §4.3.3 and Table 24: a PullRequest is authorised only for the caller's own MPC; trader-b
    (its own TLS and sealing certificates) pulling trader-a's MPC gets EBMS:0004/A001 and no message."""
    eori_a = sim.pki.trader("trader-a").eori
    filed = sim.client("trader-a").send("IE3F32", filing_payload(eori_a))
    assert filed.receipt, describe(filed.http)
    intruder = sim.identity("trader-b")
    request = build_pull_request(as4c.c2t_mpc(eori_a), key=intruder.sealing_key,
                                 chain=list(intruder.sealing_chain),
                                 message_id=f"{uuid.uuid4()}@intruder.test", timestamp=datetime.now(UTC))
    response = sim.post(as4c.SOAP12_CONTENT_TYPE, request, name="trader-b")
    assert response.status == 200
    answer = unpack_answer(response)
    assert answer.kind == "error", describe(response)
    assert error_of(answer, "EBMS:0004").sub_code == "A001"
    outbox = control.outbox()
    assert [(m["state"], m["attempts"]) for m in outbox] == [("queued", 0)], outbox
    assert control.journal(direction="out", kind="user") == [], "a c2t message left for the wrong party"


def test_revoked_sealing_registration_is_refused_until_registered_again(
        sim: SimHandle, control: SimControl) -> None:
    """ICD Table 24 (EBMS:0004 sub-code A001: the sealing certificate is not registered for the EORI) and
    domain/ics2.md "Transport" (binding by registration in UUM&DS): once the registration of trader-a's
    sealing certificate is revoked, its next message is refused with A001; registering it again restores
    service."""
    files = sim.pki.trader("trader-a")
    sealing_pem = files.sealing_cert.read_text()
    client = sim.client("trader-a")
    first = client.send("IE3F32", filing_payload(files.eori))
    assert first.receipt and first.problems == [], describe(first.http)
    try:
        result = control.revoke(files.eori, certificate_pem=sealing_pem, purpose="sealing")
        assert result["revoked"] == 1, result
        refused = client.send("IE3F32", filing_payload(files.eori))
        assert refused.response is not None and refused.response.kind == "error", describe(refused.http)
        entry = error_of(refused.response, "EBMS:0004")
        assert entry.sub_code == "A001", entry
        assert entry.detail is not None and "sealing" in entry.detail, entry.detail
        rejected = control.journal(direction="in", message_id=refused.message_id)
        assert [(e["verdict"], e["error_code"]) for e in rejected] == [("rejected", "EBMS:0004/A001")]
        assert [e["message_id"] for e in control.ics2_ens()] == [first.message_id]
    finally:
        control.register(files.eori, sealing_pem, purpose="sealing", name="trader-a")
    restored = client.send("IE3F32", filing_payload(files.eori))
    assert restored.receipt and restored.problems == [], describe(restored.http)
    assert {e["message_id"] for e in control.ics2_ens()} == {first.message_id, restored.message_id}
