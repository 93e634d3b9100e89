"""Reading the eb:UserMessage / eb:SignalMessage header units into model values.

Each required element of ebMS3 Core §5.2.2 (UserMessage) and §5.2.3 (SignalMessage), as profiled
by ICD §4.2 and §4.3, is looked up by name; a missing, duplicated or empty one is refused with
EBMS:0009 InvalidHeader naming the element path, so a vendor sees exactly what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from lxml import etree

from simulator.codecs.as4.constants import DEFAULT_MPC, NS_DS, NS_EB, NS_EBBP
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.model import (
    ErrorEntry,
    InboundMessage,
    MessageKind,
    NrReference,
    PartInfo,
    PartyRef,
    UserMessage,
)

__all__ = ["parse_signal_message", "parse_timestamp", "parse_user_message", "text_of"]

_EB = f"{{{NS_EB}}}"
_EB_LEN = len(_EB)
_SUB_CODE = re.compile(r"^\s*([A-Z]\d{3})\s*:\s*(.*)$", re.DOTALL)
_NR_REFERENCE = etree.ETXPath(
    f"{{{NS_EBBP}}}NonRepudiationInformation/{{{NS_EBBP}}}MessagePartNRInformation/{{{NS_DS}}}Reference"
)


def text_of(el: etree._Element) -> str:
    return (el.text or "").strip()


class _Kids:
    """The eb: children of one header element, grouped by local name in a single pass."""

    __slots__ = ("groups", "path", "ref")

    def __init__(self, parent: etree._Element, path: str, ref: str | None = None) -> None:
        self.path = path
        self.ref = ref
        self.groups: dict[str, list[etree._Element]] = {}
        for child in parent:
            tag = child.tag
            if isinstance(tag, str) and tag.startswith(_EB):
                self.groups.setdefault(tag[_EB_LEN:], []).append(child)

    def one(self, name: str) -> etree._Element:
        found = self.groups.get(name, ())
        if len(found) != 1:
            problem = "missing" if not found else f"repeated {len(found)} times"
            raise EbmsError("EBMS:0009", f"{self.path}/eb:{name} is {problem} (ebMS3 §5.2)", self.ref)
        return found[0]

    def optional(self, name: str) -> etree._Element | None:
        found = self.groups.get(name, ())
        if len(found) > 1:
            raise EbmsError("EBMS:0009", f"{self.path}/eb:{name} is repeated {len(found)} times", self.ref)
        return found[0] if found else None

    def text(self, name: str) -> str:
        value = text_of(self.one(name))
        if not value:
            raise EbmsError("EBMS:0009", f"{self.path}/eb:{name} is empty", self.ref)
        return value

    def sub(self, name: str) -> _Kids:
        return _Kids(self.one(name), f"{self.path}/eb:{name}", self.ref)


def parse_timestamp(text: str, ref: str | None = None) -> datetime:
    """xs:dateTime to an aware UTC datetime; ICD §4.2.1 makes the 'Z' optional (UTC implied)."""
    try:
        if "T" not in text:  # fromisoformat would accept a bare date; xs:dateTime needs a time
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise EbmsError("EBMS:0009", f"eb:Timestamp {text!r} is not an xs:dateTime", ref) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _message_info(unit: etree._Element, path: str) -> tuple[str, datetime, str | None]:
    info = _Kids(unit, path).sub("MessageInfo")
    message_id = info.text("MessageId")
    info.ref = message_id
    timestamp = parse_timestamp(info.text("Timestamp"), message_id)
    ref_el = info.optional("RefToMessageId")
    ref = text_of(ref_el) if ref_el is not None else None
    return message_id, timestamp, ref or None


def _party(parties: _Kids, name: str) -> PartyRef:
    holder = parties.sub(name)
    party_el = holder.one("PartyId")
    party_id = text_of(party_el)
    if not party_id:
        raise EbmsError("EBMS:0009", f"{holder.path}/eb:PartyId is empty", parties.ref)
    return PartyRef(party_id, party_el.get("type"), holder.text("Role"))


def _properties(holder: etree._Element | None, path: str, ref: str) -> dict[str, str]:
    props: dict[str, str] = {}
    if holder is None:
        return props
    for prop in holder.iterchildren(f"{{{NS_EB}}}Property"):
        name = (prop.get("name") or "").strip()
        if not name:
            raise EbmsError("EBMS:0009", f"{path}/eb:Property without @name", ref)
        props[name] = text_of(prop)
    return props


def _part_infos(user: _Kids, ref: str) -> tuple[PartInfo, ...]:
    payload_info = user.optional("PayloadInfo")
    if payload_info is None:
        return ()
    parts: list[PartInfo] = []
    for info in payload_info.iterchildren(f"{{{NS_EB}}}PartInfo"):
        href = (info.get("href") or "").strip()
        if not href:
            raise EbmsError(
                "EBMS:0009",
                "PartInfo without @href designates the SOAP Body, which must stay empty (ICD §4.2.5)",
                ref,
            )
        if not href.startswith("cid:"):
            raise EbmsError(
                "EBMS:0011",
                f"PartInfo href {href!r} is not a cid: reference; external payloads are banned (ICD §4.2.5)",
                ref,
            )
        path = f"eb:PartInfo[@href='{href}']/eb:PartProperties"
        properties = _properties(_Kids(info, path, ref).optional("PartProperties"), path, ref)
        parts.append(PartInfo(href[4:].strip(), properties))
    return tuple(parts)


def parse_user_message(user: etree._Element) -> UserMessage:
    """eb:UserMessage (ebMS3 §5.2.2, ICD §4.2.1-4.2.5) to a :class:`UserMessage`."""
    message_id, timestamp, ref_to = _message_info(user, "eb:UserMessage")
    kids = _Kids(user, "eb:UserMessage", message_id)
    parties = kids.sub("PartyInfo")
    collab = kids.sub("CollaborationInfo")
    agreement = collab.one("AgreementRef")
    if not text_of(agreement):
        raise EbmsError("EBMS:0009", f"{collab.path}/eb:AgreementRef is empty (ICD §4.2.3.1)", message_id)
    service = collab.one("Service")
    if not text_of(service):
        raise EbmsError("EBMS:0009", f"{collab.path}/eb:Service is empty", message_id)
    conversation = collab.optional("ConversationId")
    return UserMessage(
        message_id=message_id,
        timestamp=timestamp,
        from_party=_party(parties, "From"),
        to_party=_party(parties, "To"),
        agreement_ref=text_of(agreement),
        agreement_type=agreement.get("type"),
        service=text_of(service),
        service_type=service.get("type"),
        action=collab.text("Action"),
        # ICD §4.2.3.4: ConversationId is ignored by the TI; an absent one reads as "1".
        conversation_id=text_of(conversation) if conversation is not None else "1",
        ref_to_message_id=ref_to,
        mpc=user.get("mpc"),
        part_infos=_part_infos(kids, message_id),
        message_properties=_properties(
            kids.optional("MessageProperties"), "eb:MessageProperties", message_id
        ),
    )


def _error_entry(error: etree._Element, message_id: str) -> ErrorEntry:
    code = (error.get("errorCode") or "").strip()
    severity = (error.get("severity") or "").strip()
    if not code or not severity:
        raise EbmsError("EBMS:0009", "eb:Error requires @errorCode and @severity (ebMS3 §6.2)", message_id)
    description = error.find(f"{{{NS_EB}}}Description")
    detail_el = error.find(f"{{{NS_EB}}}ErrorDetail")
    detail = text_of(detail_el) if detail_el is not None else None
    sub_code = None
    if detail and (match := _SUB_CODE.match(detail)):
        sub_code, detail = match.group(1), match.group(2).strip()
    return ErrorEntry(
        code=code,
        severity=severity,
        short_description=error.get("shortDescription"),
        category=error.get("category"),
        origin=error.get("origin"),
        ref_to_message_in_error=error.get("refToMessageInError"),
        description=text_of(description) if description is not None else None,
        detail=detail or None,
        sub_code=sub_code,
    )


def _nr_reference(ref: etree._Element) -> NrReference:
    method = ref.find(f"{{{NS_DS}}}DigestMethod")
    value = ref.find(f"{{{NS_DS}}}DigestValue")
    try:
        digest = base64.b64decode(
            "".join((value.text or "").split()) if value is not None else "", validate=True
        )
    except (binascii.Error, ValueError):
        digest = b""  # an unreadable digest never matches; check_receipt_matches reports it
    return NrReference(
        ref.get("URI") or "", method.get("Algorithm", "") if method is not None else "", digest
    )


def parse_signal_message(signal: etree._Element, envelope_bytes: bytes = b"") -> InboundMessage:
    """eb:SignalMessage (ebMS3 §5.2.3, ICD §4.3): exactly one of Receipt, PullRequest or Error+."""
    message_id, timestamp, ref_to = _message_info(signal, "eb:SignalMessage")
    receipts = signal.findall(f"{{{NS_EB}}}Receipt")
    pulls = signal.findall(f"{{{NS_EB}}}PullRequest")
    errors = signal.findall(f"{{{NS_EB}}}Error")
    kinds = sum(1 for group in (receipts, pulls, errors) if group)
    if kinds != 1 or len(receipts) > 1 or len(pulls) > 1:
        raise EbmsError(
            "EBMS:0009",
            "eb:SignalMessage must hold one Receipt, one PullRequest or one or more Error elements",
            message_id,
        )
    pull_mpc: str | None = None
    references: tuple[NrReference, ...] = ()
    entries: tuple[ErrorEntry, ...] = ()
    if pulls:
        kind: MessageKind = "pull"
        pull_mpc = (pulls[0].get("mpc") or "").strip() or DEFAULT_MPC
    elif receipts:
        kind = "receipt"
        if not ref_to:
            raise EbmsError(
                "EBMS:0009", "a Receipt must carry eb:RefToMessageId (ebMS3 §5.2.3.3)", message_id
            )
        references = tuple(_nr_reference(ref) for ref in _NR_REFERENCE(receipts[0]))
    else:
        kind = "error"
        entries = tuple(_error_entry(error, message_id) for error in errors)
    return InboundMessage(
        kind=kind,
        message_id=message_id,
        timestamp=timestamp,
        ref_to_message_id=ref_to,
        pull_mpc=pull_mpc,
        errors=entries,
        receipt_references=references,
        envelope_bytes=envelope_bytes,
    )
