"""SOAP 1.2 envelopes carrying eb:Messaging: building them and checking received ones.

Builders produce the layout of the ICD Annex 6 example: ``env:Header`` holding ``eb:Messaging``
(``env:mustUnderstand="true"`` and a ``wsu:Id`` so the signature can reference it) and an empty
``env:Body`` with its own ``wsu:Id``. Element ids derive from the MessageId, so output is
deterministic. The parser (:func:`parse_envelope`) enforces the ebMS3/AS4 packaging rules and
raises :class:`EbmsError` with the code each rule calls for; the header field extraction lives in
:mod:`simulator.codecs.as4.header`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from simulator.codecs.as4.constants import (
    NS_EB,
    NS_EBBP,
    NS_SOAP11,
    NS_SOAP12,
    NS_WSU,
    NS_XML,
    PROPERTY_MIME_TYPE,
    SOAP_PREFIX,
    WSU_ID,
)
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.header import parse_signal_message, parse_user_message, text_of
from simulator.codecs.as4.model import (
    ErrorEntry,
    ErrorSignal,
    InboundMessage,
    PartyRef,
    PullRequest,
    Receipt,
    UserMessage,
)
from simulator.codecs.xmlsafe import XmlRefused, parse_xml

__all__ = [
    "ParsedEnvelope",
    "build_signal_envelope",
    "build_user_message_envelope",
    "element_id",
    "format_timestamp",
    "parse_envelope",
    "serialise",
]

_ENVELOPE = f"{{{NS_SOAP12}}}Envelope"
_HEADER = f"{{{NS_SOAP12}}}Header"
_BODY = f"{{{NS_SOAP12}}}Body"
_MUST_UNDERSTAND = f"{{{NS_SOAP12}}}mustUnderstand"
_MESSAGING = f"{{{NS_EB}}}Messaging"
_USER_MESSAGE = f"{{{NS_EB}}}UserMessage"
_SIGNAL_MESSAGE = f"{{{NS_EB}}}SignalMessage"
_ID_NAMESPACE = uuid.UUID("6f1c1d1e-3b1a-4f61-9a4e-1c5b2f0e9d21")


def _eb(parent: etree._Element, local: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS_EB}}}{local}", attrs)
    if text is not None:
        el.text = text
    return el


def element_id(kind: str, seed: str) -> str:
    """A deterministic xs:ID (an NCName) for element ``kind`` of the message ``seed``."""
    return f"{kind}-{uuid.uuid5(_ID_NAMESPACE, kind + '|' + seed)}"


def format_timestamp(moment: datetime) -> str:
    """xs:dateTime in UTC with milliseconds and 'Z' (ICD §4.2.1); naive datetimes are taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _skeleton(message_id: str) -> tuple[etree._Element, etree._Element, etree._Element]:
    root = etree.Element(_ENVELOPE, nsmap={SOAP_PREFIX: NS_SOAP12})
    header = etree.SubElement(root, _HEADER)
    messaging = etree.SubElement(header, _MESSAGING, nsmap={"eb": NS_EB, "wsu": NS_WSU})
    messaging.set(_MUST_UNDERSTAND, "true")
    messaging.set(WSU_ID, element_id("id", "messaging|" + message_id))
    body = etree.SubElement(root, _BODY, nsmap={"wsu": NS_WSU})
    body.set(WSU_ID, element_id("id", "body|" + message_id))
    return root, messaging, body


def _message_info(parent: etree._Element, message_id: str, when: datetime, ref: str | None) -> None:
    info = _eb(parent, "MessageInfo")
    _eb(info, "Timestamp", format_timestamp(when))
    _eb(info, "MessageId", message_id)
    if ref:
        _eb(info, "RefToMessageId", ref)


def _party(parent: etree._Element, name: str, party: PartyRef) -> None:
    holder = _eb(parent, name)
    pid = _eb(holder, "PartyId", party.party_id)
    if party.party_type:
        pid.set("type", party.party_type)
    _eb(holder, "Role", party.role)


def build_user_message_envelope(um: UserMessage) -> etree._Element:
    """Envelope with eb:UserMessage (ebMS3 §5.2.2; ICD §4.2) and an empty Body (ICD §4.2.5)."""
    root, messaging, _ = _skeleton(um.message_id)
    user = _eb(messaging, "UserMessage")
    if um.mpc:
        user.set("mpc", um.mpc)
    _message_info(user, um.message_id, um.timestamp, um.ref_to_message_id)
    parties = _eb(user, "PartyInfo")
    _party(parties, "From", um.from_party)
    _party(parties, "To", um.to_party)
    collab = _eb(user, "CollaborationInfo")
    agreement = _eb(collab, "AgreementRef", um.agreement_ref)
    if um.agreement_type:
        agreement.set("type", um.agreement_type)
    service = _eb(collab, "Service", um.service)
    if um.service_type:
        service.set("type", um.service_type)
    _eb(collab, "Action", um.action)
    _eb(collab, "ConversationId", um.conversation_id)
    if um.message_properties:
        props = _eb(user, "MessageProperties")
        for name, value in um.message_properties.items():
            _eb(props, "Property", value, name=name)
    if um.part_infos:
        payload_info = _eb(user, "PayloadInfo")
        for part in um.part_infos:
            info = _eb(payload_info, "PartInfo", href=f"cid:{part.content_id}")
            if part.properties:
                props = _eb(info, "PartProperties")
                for name, value in part.properties.items():
                    _eb(props, "Property", value, name=name)
    return root


def _error_element(parent: etree._Element, entry: ErrorEntry, ref: str | None) -> None:
    error = _eb(parent, "Error", errorCode=entry.code, severity=entry.severity)
    for attr, value in (
        ("origin", entry.origin),
        ("category", entry.category),
        ("shortDescription", entry.short_description),
        ("refToMessageInError", entry.ref_to_message_in_error or ref),
    ):
        if value:
            error.set(attr, value)
    if entry.description:
        description = _eb(error, "Description", entry.description)
        description.set(f"{{{NS_XML}}}lang", "en")
    detail = f"{entry.sub_code}: {entry.detail or ''}".rstrip() if entry.sub_code else entry.detail
    if detail:
        _eb(error, "ErrorDetail", detail)


def build_signal_envelope(signal: PullRequest | Receipt | ErrorSignal) -> etree._Element:
    """Envelope with eb:SignalMessage: PullRequest (§4.3.3), Receipt (§4.3.1) or Error(s) (§4.3.2)."""
    root, messaging, _ = _skeleton(signal.message_id)
    sm = _eb(messaging, "SignalMessage")
    if isinstance(signal, PullRequest):
        _message_info(sm, signal.message_id, signal.timestamp, None)
        _eb(sm, "PullRequest", mpc=signal.mpc)
    elif isinstance(signal, Receipt):
        _message_info(sm, signal.message_id, signal.timestamp, signal.ref_to_message_id)
        receipt = _eb(sm, "Receipt")
        nri = etree.SubElement(receipt, f"{{{NS_EBBP}}}NonRepudiationInformation", nsmap={"ebbp": NS_EBBP})
        for raw in signal.references:
            part = etree.SubElement(nri, f"{{{NS_EBBP}}}MessagePartNRInformation")
            try:
                part.append(parse_xml(raw))
            except XmlRefused as exc:
                raise ValueError(f"reference to acknowledge is not XML: {exc}") from None
    else:
        _message_info(sm, signal.message_id, signal.timestamp, signal.ref_to_message_id)
        for entry in signal.errors:
            _error_element(sm, entry, signal.ref_to_message_id)
    return root


def serialise(root: etree._Element) -> bytes:
    """UTF-8 with an XML declaration, no re-indentation (the signed octets stay as they are)."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@dataclass(slots=True)
class ParsedEnvelope:
    """The checked SOAP structure plus the ebMS header values (not yet signature-verified)."""

    root: etree._Element
    header: etree._Element
    body: etree._Element
    messaging: etree._Element
    message: InboundMessage


def _must_understand(messaging: etree._Element) -> None:
    """ebMS3 §5.2.1: eb:Messaging MUST carry S12:mustUnderstand="true"."""
    if messaging.get(_MUST_UNDERSTAND, "").strip() not in ("true", "1"):
        raise EbmsError("EBMS:0009", 'eb:Messaging must carry env:mustUnderstand="true" (ebMS3 §5.2.1)')


def parse_envelope(
    root: etree._Element, attachment_ids: Collection[str], envelope_bytes: bytes = b""
) -> ParsedEnvelope:
    """Check the SOAP/ebMS packaging of ``root`` and extract the header (EBMS:0009 unless noted).

    Rules: SOAP 1.2 only (ICD Annex 2 PMode[1].Protocol.SOAPVersion); exactly one Header and Body;
    exactly ONE eb:Messaging, a direct child of the Header - a second one anywhere in the document
    is a signature-wrapping attempt (ebMS3 §5.2.1); exactly one UserMessage or SignalMessage (AS4
    §2.2: no bundling); an empty Body for a UserMessage (ICD §4.2.5); PartInfo hrefs must name MIME
    parts (EBMS:0011) and every MIME attachment must be referenced (EBMS:0007).
    """
    if root.tag != _ENVELOPE:
        if root.tag == f"{{{NS_SOAP11}}}Envelope":
            raise EbmsError(
                "EBMS:0009", "SOAP 1.1 envelope; the ICS2 profile requires SOAP 1.2 (ICD Annex 2)"
            )
        raise EbmsError("EBMS:0009", f"root element {root.tag!r} is not a SOAP 1.2 Envelope")
    children = [c for c in root if isinstance(c.tag, str)]
    if len(children) != 2 or children[0].tag != _HEADER or children[1].tag != _BODY:
        names = ", ".join(etree.QName(c).localname for c in children) or "nothing"
        raise EbmsError("EBMS:0009", f"env:Envelope must contain env:Header then env:Body, found {names}")
    header, body = children
    all_messaging = list(root.iter(_MESSAGING))
    direct = [el for el in all_messaging if el.getparent() is header]
    if len(all_messaging) > 1:
        where = ", ".join(root.getroottree().getpath(el) for el in all_messaging)
        raise EbmsError(
            "EBMS:0009", f"{len(all_messaging)} eb:Messaging elements ({where}); exactly one allowed"
        )
    if not direct:
        raise EbmsError("EBMS:0009", "no eb:Messaging header block directly under env:Header")
    messaging = direct[0]
    _must_understand(messaging)
    units = [c for c in messaging if c.tag in (_USER_MESSAGE, _SIGNAL_MESSAGE)]
    if len(units) != 1:
        raise EbmsError(
            "EBMS:0009",
            f"eb:Messaging must hold exactly one UserMessage or SignalMessage, found {len(units)} (AS4 §2.2)",
        )
    unit = units[0]
    if unit.tag == _USER_MESSAGE:
        user_message = parse_user_message(unit)
        ref = user_message.message_id
        if any(isinstance(c.tag, str) for c in body) or text_of(body):
            raise EbmsError("EBMS:0009", "SOAP Body must be empty for a UserMessage (ICD §4.2.5)", ref)
        _check_part_references(user_message, attachment_ids)
        message = InboundMessage(
            kind="user",
            message_id=user_message.message_id,
            timestamp=user_message.timestamp,
            ref_to_message_id=user_message.ref_to_message_id,
            user_message=user_message,
            envelope_bytes=envelope_bytes,
        )
    else:
        message = parse_signal_message(unit, envelope_bytes)
        if attachment_ids:
            raise EbmsError(
                "EBMS:0007",
                f"a SignalMessage carries no payloads, yet {len(attachment_ids)} MIME attachment(s) came",
                message.message_id,
            )
    return ParsedEnvelope(root, header, body, messaging, message)


def _check_part_references(um: UserMessage, attachment_ids: Collection[str]) -> None:
    """ICD §4.2.5: each PartInfo names a MIME part by cid:, has a MimeType; no unreferenced parts."""
    referenced: set[str] = set()
    for part in um.part_infos:
        if part.content_id in referenced:
            raise EbmsError(
                "EBMS:0009", f"two PartInfo elements reference cid:{part.content_id}", um.message_id
            )
        referenced.add(part.content_id)
        if part.content_id not in attachment_ids:
            raise EbmsError(
                "EBMS:0011",
                f"PartInfo href cid:{part.content_id} names no MIME part of this message",
                um.message_id,
            )
        if part.compression_type and not part.mime_type:
            raise EbmsError(
                "EBMS:0009",
                f"PartInfo cid:{part.content_id} is compressed but has no {PROPERTY_MIME_TYPE} (AS4 §3.1)",
                um.message_id,
            )
    unreferenced = sorted(set(attachment_ids) - referenced)
    if unreferenced:
        raise EbmsError(
            "EBMS:0007",
            "MIME part(s) not referenced by any PartInfo: " + ", ".join(f"<{c}>" for c in unreferenced),
            um.message_id,
        )
