"""Signals: NRR receipts (AS4 §5.1.8, ICD §4.3.1) and their checking for EBMS:0302, error signals
(ICD §4.3.2, Annex 4 incl. the UUM&DS sub-code), pull requests (ICD §4.3.3)."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import UnpackLimits, pack_signal, pack_user_message, sent_references, unpack
from simulator.codecs.as4.model import InboundMessage, NrReference, Receipt
from simulator.codecs.as4.receipts import (
    build_error_signal,
    build_pull_request,
    build_receipt,
    check_receipt_matches,
    error_entry,
)
from tests.unit.codec_fixtures import DS, EB, T0, filing, identity, payload_xml

SOAP = "application/soap+xml"
EBBP = "{http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0}"


def _sent() -> tuple[InboundMessage, tuple[bytes, ...]]:
    """A filing as the STI received it, and the references the trader kept when sending it."""
    trader = identity()
    content_type, body = pack_user_message(
        filing(), [("message", payload_xml(), "application/xml")], key=trader.key, chain=trader.chain
    )
    return unpack(content_type, body), sent_references(content_type, body)


def _receipt(inbound: InboundMessage, **options: object) -> bytes:
    sti = identity("sti")
    return build_receipt(inbound, key=sti.key, chain=sti.chain, message_id="r1@sti", timestamp=T0, **options)  # type: ignore[arg-type]


def test_receipt_round_trip_matches() -> None:
    inbound, sent = _sent()
    receipt = unpack(SOAP, _receipt(inbound))
    assert receipt.kind == "receipt"
    assert receipt.ref_to_message_id == inbound.message_id
    assert receipt.signature is not None and receipt.signature.covers_body
    assert [ref.uri for ref in receipt.receipt_references] == [
        uri
        for uri in inbound.signature.referenced_uris  # type: ignore[union-attr]
    ]
    assert check_receipt_matches(receipt, sent, sent_message_id=inbound.message_id) == []


def test_receipt_copies_each_reference_into_nr_information() -> None:
    inbound, _ = _sent()
    root = etree.fromstring(_receipt(inbound))
    parts = root.findall(f".//{EB}Receipt/{EBBP}NonRepudiationInformation/{EBBP}MessagePartNRInformation")
    assert len(parts) == 3
    copied = [etree.tostring(part[0], method="c14n", exclusive=True) for part in parts]
    assert tuple(copied) == inbound.signature.references  # type: ignore[union-attr]


def test_receipt_is_deterministic() -> None:
    inbound, _ = _sent()
    assert _receipt(inbound) == _receipt(inbound)


def test_receipt_with_unsigned_body_is_invalid() -> None:
    """ICD §4.6.2 FAQ: receipts that do not sign the (empty) Body make the message count as undelivered."""
    inbound, sent = _sent()
    receipt = unpack(SOAP, _receipt(inbound, sign_body=False))
    problems = check_receipt_matches(receipt, sent)
    assert problems == ["the receipt's signature does not cover the SOAP Body (ICD §4.6.2)"]


def test_receipt_for_another_message_is_invalid() -> None:
    inbound, _ = _sent()
    trader = identity()
    other_ct, other_body = pack_user_message(
        filing("other@trader.example"),
        [("message", b"<x/>", "application/xml")],
        key=trader.key,
        chain=trader.chain,
    )
    receipt = unpack(SOAP, _receipt(inbound))
    problems = check_receipt_matches(
        receipt, sent_references(other_ct, other_body), sent_message_id="other@trader.example"
    )
    assert any("RefToMessageId" in p for p in problems)
    assert any("is not acknowledged" in p for p in problems)
    assert any("acknowledges parts we did not send" in p for p in problems)


def test_wrong_digest_and_missing_nri_are_reported() -> None:
    inbound, sent = _sent()
    receipt = unpack(SOAP, _receipt(inbound))
    first = receipt.receipt_references[0]
    forged = dataclasses.replace(
        receipt, receipt_references=(NrReference(first.uri, first.digest_algorithm, b"x" * 32),)
    )
    problems = check_receipt_matches(forged, sent)
    assert f"digest acknowledged for {first.uri} does not match the digest we signed" in problems
    empty = dataclasses.replace(receipt, receipt_references=())
    assert (
        "the receipt has no ebbp:NonRepudiationInformation/MessagePartNRInformation"
        in check_receipt_matches(empty, sent)
    )


def test_unsigned_receipt_and_non_receipts_are_invalid() -> None:
    inbound, sent = _sent()
    _, body = pack_signal(Receipt("r@x", T0, inbound.message_id, inbound.signature.references))  # type: ignore[union-attr]
    unsigned = unpack(SOAP, body, limits=UnpackLimits(require_signature=False))
    assert "the receipt is not signed (non-repudiation receipts must be signed)" in check_receipt_matches(
        unsigned, sent
    )
    assert check_receipt_matches(inbound, sent) == ["expected a Receipt signal, received a user message"]


def test_receipt_needs_a_signed_message() -> None:
    inbound, _ = _sent()
    with pytest.raises(ValueError, match="ds:Reference"):
        _receipt(dataclasses.replace(inbound, signature=None))


def test_error_signal_carries_the_annex4_fields_and_sub_code() -> None:
    errors = [
        EbmsError("EBMS:0004", "sealing certificate not registered for NL0123456789", sub_code="A001"),
        EbmsError("EBMS:0101", "digest mismatch for reference cid:message"),
    ]
    body = build_error_signal(errors, ref_to_message_id="m@x", message_id="e@sti", timestamp=T0)
    root = etree.fromstring(body)
    first = root.find(f".//{EB}Error")
    assert first is not None
    assert first.attrib == {
        "errorCode": "EBMS:0004",
        "severity": "failure",
        "origin": "ebMS",
        "category": "Content",
        "shortDescription": "Other",
        "refToMessageInError": "m@x",
    }
    description = first.find(f"{EB}Description")
    assert description is not None and description.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert first.findtext(f"{EB}ErrorDetail") == "A001: sealing certificate not registered for NL0123456789"
    signal = unpack(SOAP, body, limits=UnpackLimits(require_signature=False))
    assert signal.kind == "error"
    assert signal.ref_to_message_id == "m@x"
    assert [(e.code, e.sub_code, e.origin) for e in signal.errors] == [
        ("EBMS:0004", "A001", "ebMS"),
        ("EBMS:0101", None, "security"),
    ]
    assert signal.errors[0].detail == "sealing certificate not registered for NL0123456789"
    assert signal.errors[0] == error_entry(errors[0], "m@x")


def test_error_signal_for_an_unreadable_message_and_signed_variant() -> None:
    sti = identity("sti")
    body = build_error_signal(
        [EbmsError("EBMS:0007", "no closing delimiter")],
        ref_to_message_id=None,
        message_id="e@sti",
        timestamp=T0,
    )
    root = etree.fromstring(body)
    assert root.find(f".//{EB}RefToMessageId") is None
    assert root.find(f".//{EB}Error").get("refToMessageInError") is None
    signed = build_error_signal(
        [EbmsError("EBMS:0006", "")],
        ref_to_message_id="p@x",
        message_id="e2@sti",
        timestamp=T0,
        key=sti.key,
        chain=sti.chain,
    )
    inbound = unpack(SOAP, signed)
    assert inbound.signature is not None and inbound.errors[0].severity == "warning"
    with pytest.raises(ValueError, match="at least one"):
        build_error_signal([], ref_to_message_id=None, message_id="e@x", timestamp=T0)


def test_pull_request_round_trip() -> None:
    trader = identity()
    mpc = c.c2t_mpc("NL0123456789")
    assert mpc == "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/NL0123456789"
    body = build_pull_request(mpc, key=trader.key, chain=trader.chain, message_id="p1@trader", timestamp=T0)
    pull = unpack(SOAP, body)
    assert (pull.kind, pull.pull_mpc, pull.message_id, pull.timestamp) == ("pull", mpc, "p1@trader", T0)
    assert pull.signature is not None and pull.signature.chain == trader.chain
    assert etree.fromstring(body).find(f".//{DS}Signature") is not None
