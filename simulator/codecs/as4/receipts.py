"""Signal messages: non-repudiation receipts, error signals, pull requests, and receipt checking.

- Receipts are signed and carry ``ebbp:NonRepudiationInformation`` with one
  ``ebbp:MessagePartNRInformation`` per ds:Reference of the received message (AS4 §5.1.8, ICD
  Annex 2 PMode[1].Security.SendReceipt.NonRepudiation = True, ICD §4.3.1).
- Error signals carry eb:Error with the ICD Annex 4 attributes and, for EBMS:0004, the UUM&DS
  sub-code at the start of eb:ErrorDetail ("A001: …", ICD Table 24).
- :func:`check_receipt_matches` lists why a receipt does not acknowledge what was sent; any
  problem means EBMS:0302 InvalidReceipt, and the message counts as not delivered (ICD §4.6.2).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.codecs.as4.constants import NS_DS
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_signal
from simulator.codecs.as4.model import (
    ErrorEntry,
    ErrorSignal,
    InboundMessage,
    NrReference,
    PullRequest,
    Receipt,
)
from simulator.codecs.as4.wss import PKIPATH, TokenKind
from simulator.codecs.xmlsafe import XmlRefused, parse_xml

__all__ = [
    "build_error_signal",
    "build_pull_request",
    "build_receipt",
    "check_receipt_matches",
    "error_entry",
]


def build_receipt(
    inbound: InboundMessage,
    *,
    key: rsa.RSAPrivateKey,
    chain: Sequence[x509.Certificate],
    message_id: str,
    timestamp: datetime,
    sign_body: bool = True,
    token: TokenKind = PKIPATH,
) -> bytes:
    """Signed NRR receipt for ``inbound`` (a verified, signed message); returns envelope bytes.

    ``sign_body=False`` reproduces the commonest trader receipt error (ICD §4.6.2 FAQ).
    """
    if inbound.signature is None:
        raise ValueError("a non-repudiation receipt needs the signed message's ds:Reference elements")
    receipt = Receipt(message_id, timestamp, inbound.message_id, inbound.signature.references)
    return pack_signal(receipt, key=key, chain=chain, sign_body=sign_body, token=token)[1]


def error_entry(error: EbmsError, ref_to_message_id: str | None = None) -> ErrorEntry:
    """The eb:Error content for an :class:`EbmsError` (ebMS3 §6.2, ICD §4.3.2)."""
    return ErrorEntry(
        code=error.code,
        severity=error.severity,
        short_description=error.short_description,
        category=error.category,
        origin=error.origin,
        ref_to_message_in_error=error.ref_to_message_id or ref_to_message_id,
        description=error.description,
        detail=error.detail or None,
        sub_code=error.sub_code,
    )


def build_error_signal(
    errors: Sequence[EbmsError],
    *,
    ref_to_message_id: str | None,
    message_id: str,
    timestamp: datetime,
    key: rsa.RSAPrivateKey | None = None,
    chain: Sequence[x509.Certificate] | None = None,
) -> bytes:
    """Error signal (signed when ``key`` and ``chain`` are given); returns envelope bytes.

    ``ref_to_message_id`` is None when the faulty message could not even be read (ebMS3 §6.3).
    """
    if not errors:
        raise ValueError("an error signal needs at least one error")
    entries = tuple(error_entry(error, ref_to_message_id) for error in errors)
    signal = ErrorSignal(message_id, timestamp, ref_to_message_id, entries)
    return pack_signal(signal, key=key, chain=chain)[1]


def build_pull_request(
    mpc: str,
    *,
    key: rsa.RSAPrivateKey,
    chain: Sequence[x509.Certificate],
    message_id: str,
    timestamp: datetime,
    token: TokenKind = PKIPATH,
) -> bytes:
    """Signed PullRequest for ``mpc`` (ICD §4.3.3); returns envelope bytes."""
    return pack_signal(PullRequest(message_id, timestamp, mpc), key=key, chain=chain, token=token)[1]


def _sent_reference(raw: bytes) -> NrReference:
    try:
        ref = parse_xml(raw)
    except XmlRefused as exc:
        raise ValueError(f"sent reference is not XML: {exc}") from None
    method = ref.find(f"{{{NS_DS}}}DigestMethod")
    value = ref.find(f"{{{NS_DS}}}DigestValue")
    try:
        digest = base64.b64decode("".join((value.text or "").split()) if value is not None else "")
    except (binascii.Error, ValueError):
        digest = b""
    return NrReference(ref.get("URI", ""), method.get("Algorithm", "") if method is not None else "", digest)


def check_receipt_matches(
    receipt: InboundMessage,
    sent_signature_references: Sequence[bytes],
    *,
    sent_message_id: str | None = None,
) -> list[str]:
    """Problems that make ``receipt`` invalid for the message we sent (empty list = valid).

    Checks (AS4 §5.1.8 NRR, ICD §4.3.1, §4.6.2 FAQ): it is a Receipt; it refers to our MessageId;
    it is signed and its signature covers the SOAP Body; every ds:Reference we signed is
    acknowledged with the same digest; it acknowledges nothing we did not sign. Report any problem
    as EBMS:0302 InvalidReceipt.
    """
    problems: list[str] = []
    if receipt.kind != "receipt":
        return [f"expected a Receipt signal, received a {receipt.kind} message"]
    if sent_message_id is not None and receipt.ref_to_message_id != sent_message_id:
        problems.append(
            f"RefToMessageId {receipt.ref_to_message_id!r} is not the sent MessageId {sent_message_id!r}"
        )
    if receipt.signature is None:
        problems.append("the receipt is not signed (non-repudiation receipts must be signed)")
    elif not receipt.signature.covers_body:
        problems.append("the receipt's signature does not cover the SOAP Body (ICD §4.6.2)")
    acknowledged = {ref.uri: ref for ref in receipt.receipt_references}
    if not acknowledged:
        problems.append("the receipt has no ebbp:NonRepudiationInformation/MessagePartNRInformation")
    sent = [_sent_reference(raw) for raw in sent_signature_references]
    for ref in sent:
        got = acknowledged.get(ref.uri)
        if got is None:
            problems.append(f"signed part {ref.uri} is not acknowledged in the receipt")
        elif got.digest_value != ref.digest_value or got.digest_algorithm != ref.digest_algorithm:
            problems.append(f"digest acknowledged for {ref.uri} does not match the digest we signed")
    extra = sorted(set(acknowledged) - {ref.uri for ref in sent})
    if extra:
        problems.append("the receipt acknowledges parts we did not send: " + ", ".join(extra))
    return problems
