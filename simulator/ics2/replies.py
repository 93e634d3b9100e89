"""Functional replies to ENS filings: IE3R01 registration response and IE3N99 error notification.

domain/ics2.md "Messages": a filing gets exactly ONE functional reply; IE3R01 carries the LRN, the
MRN (18 characters) and the registration date/time; IE3N99 lists ALL errors, each with a CL723
code, an XPath pointer and an English description, and correlates by LRN (filings, arrival
notification) or MRN (amendments, requests). ICD §4 "Validation errors": the reply echoes the
representative, transport document, declarant and office of first entry of the original message
"if available", and carries the LRN only "if it could be extracted".

Both builders are pure and deterministic: the same arguments give the same bytes. The XML is valid
against our ``schemas/IE3R01.xsd`` / ``schemas/IE3N99.xsd``; values that would not fit those types
(an LRN longer than 22 characters taken from a rejected filing, say) are left out, never sent
malformed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from lxml import etree

from simulator.ics2.errors import FunctionalError
from simulator.ics2.mrn import MRN_PATTERN

__all__ = [
    "MAX_ERRORS",
    "ReplyParties",
    "build_ie3n99",
    "build_ie3r01",
    "namespace_for",
    "parties_from_filing",
]

MAX_ERRORS: Final = 999  # IE3N99 Error cardinality (ICD §4 "Validation errors")
PREFIX: Final = "ie"
_LRN: Final = re.compile(r"[!-~]{1,22}")
_ID17: Final = re.compile(r".{1,17}", re.DOTALL)
_COUNTRY: Final = re.compile(r"[A-Z]{2}")
_OFFICE: Final = re.compile(r"[A-Z]{2}[A-Z0-9]{6}")
_DOC_TYPE: Final = re.compile(r"[A-Z0-9]{4}")
_SCI: Final = re.compile(r"F[0-9]{2}")
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def namespace_for(message_id: str) -> str:
    """Target namespace of our XSD for ``message_id``."""
    return f"urn:icssim:ics2:{message_id}"


@dataclass(frozen=True, slots=True)
class ReplyParties:
    """What a reply echoes of the original filing (all optional)."""

    addressed_member_state: str | None = None
    representative_id: str | None = None
    transport_document: tuple[str, str] | None = None  # (documentNumber, type)
    carrier_id: str | None = None
    declarant_id: str | None = None
    customs_office_of_first_entry: str | None = None


def find_text(root: etree._Element, path: str) -> str | None:
    """The stripped text of the first element at `path`, or None when absent or blank."""
    element = root.find(path)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def parties_from_filing(root: etree._Element) -> ReplyParties:
    """Extract the echoed parties from a filing payload (tolerant: works on rejected filings too)."""
    number = find_text(root, "consignmentMasterLevel/transportDocumentMasterLevel/documentNumber")
    doc_type = find_text(root, "consignmentMasterLevel/transportDocumentMasterLevel/type")
    return ReplyParties(
        addressed_member_state=find_text(root, "addressedMemberState/country"),
        representative_id=find_text(root, "representative/identificationNumber"),
        transport_document=(number, doc_type) if number and doc_type else None,
        carrier_id=find_text(root, "carrier/identificationNumber"),
        declarant_id=find_text(root, "declarant/identificationNumber"),
        customs_office_of_first_entry=find_text(root, "customsOfficeOfFirstEntry/referenceNumber"),
    )


# ------------------------------------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    """an20 ``YYYY-MM-DDThh:mm:ssZ``; a naive datetime is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(text: str, limit: int) -> str:
    text = _NOT_XML.sub("\ufffd", text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _fits(pattern: re.Pattern[str], value: str | None) -> str | None:
    return value if value is not None and pattern.fullmatch(value) else None


def _sub(parent: etree._Element, tag: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = text
    return element


def _party_reference(parent: etree._Element, tag: str, identification: str | None) -> None:
    identification = _fits(_ID17, identification)
    if identification is not None:
        _sub(etree.SubElement(parent, tag), "identificationNumber", identification)


def _reply_parties(parent: etree._Element, parties: ReplyParties | None) -> None:
    """The ReplyPartiesGroup of ics2-common.xsd, in schema order; unfit values are dropped."""
    if parties is None:
        return
    country = _fits(_COUNTRY, parties.addressed_member_state)
    if country is not None:
        _sub(etree.SubElement(parent, "addressedMemberState"), "country", country)
    _party_reference(parent, "representative", parties.representative_id)
    if parties.transport_document is not None:
        number, doc_type = parties.transport_document
        if 0 < len(number) <= 70 and _DOC_TYPE.fullmatch(doc_type):
            document = etree.SubElement(parent, "transportDocument")
            _sub(document, "documentNumber", _clean(number, 70))
            _sub(document, "type", doc_type)
    _party_reference(parent, "carrier", parties.carrier_id)
    _party_reference(parent, "declarant", parties.declarant_id)
    office = _fits(_OFFICE, parties.customs_office_of_first_entry)
    if office is not None:
        _sub(etree.SubElement(parent, "customsOfficeOfFirstEntry"), "referenceNumber", office)


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_ie3r01(
    *,
    lrn: str,
    mrn: str,
    registered_at: datetime,
    specific_circumstance_indicator: str | None = None,
    parties: ReplyParties | None = None,
    namespace: str | None = None,
) -> bytes:
    """IE3R01 ENS registration response: LRN of the filing, MRN attributed, registration time.

    ``specific_circumstance_indicator`` (CL742, e.g. F32) is mandatory in the data model: pass the
    filing's; our XSD accepts its absence so that callers without it still get a valid reply.
    Raises ValueError if ``lrn``, ``mrn`` or the indicator do not have their an..22 / an18 / an3
    forms (the simulator produced them, so that is a bug, not a trader error).
    """
    if _LRN.fullmatch(lrn) is None:
        raise ValueError(f"LRN is not an..22 printable ASCII: {lrn!r}")
    if MRN_PATTERN.fullmatch(mrn) is None:
        raise ValueError(f"MRN is not 18 characters of the MRN form: {mrn!r}")
    sci = specific_circumstance_indicator
    if sci is not None and _SCI.fullmatch(sci) is None:
        raise ValueError(f"not a specific circumstance indicator: {specific_circumstance_indicator!r}")
    ns = namespace or namespace_for("IE3R01")
    root = etree.Element(f"{{{ns}}}IE3R01", nsmap={PREFIX: ns})
    _sub(root, "LRN", lrn)
    _sub(root, "MRN", mrn)
    _sub(root, "registrationDate", _timestamp(registered_at))
    if sci is not None:
        _sub(root, "specificCircumstanceIndicator", sci)
    _reply_parties(root, parties)
    return _serialise(root)


def _error_notification(message_id: str, *, errors: Sequence[FunctionalError], at: datetime, lrn: str | None,
                        mrn: str | None, parties: ReplyParties | None, namespace: str | None) -> bytes:
    if not errors:
        raise ValueError(f"an {message_id} needs at least one error")
    if lrn is not None and mrn is not None:
        raise ValueError("give the LRN or the MRN, not both")
    ns = namespace or namespace_for(message_id)
    root = etree.Element(f"{{{ns}}}{message_id}", nsmap={PREFIX: ns})
    if _fits(_LRN, lrn) is not None:
        _sub(root, "LRN", str(lrn))
    elif _fits(MRN_PATTERN, mrn) is not None:
        _sub(root, "MRN", str(mrn))
    _sub(root, "notificationDate", _timestamp(at))
    _reply_parties(root, parties)
    for error in errors[:MAX_ERRORS]:
        item = etree.SubElement(root, "error")
        _sub(item, "errorCode", error.code)
        _sub(item, "errorPointer", _clean(error.pointer or "/", 512))
        _sub(item, "errorReason", _clean(error.reason or "Error", 512))
        if error.original_value:
            _sub(item, "originalAttributeValue", _clean(error.original_value, 512))
    return _serialise(root)


def build_ie3n99(
    *,
    errors: Sequence[FunctionalError],
    rejected_at: datetime,
    lrn: str | None = None,
    mrn: str | None = None,
    parties: ReplyParties | None = None,
    namespace: str | None = None,
) -> bytes:
    """IE3N99 error notification listing ``errors`` in order (at most :data:`MAX_ERRORS`).

    Correlation: ``lrn`` (filings) or ``mrn`` (amendments and requests), not both; a value that
    does not have the LRN/MRN form (taken from an unreadable filing) is omitted, leaving only the
    AS4 RefToMessageId to correlate. Texts longer than the schema allows are cut with an ellipsis.
    """
    return _error_notification("IE3N99", errors=errors, at=rejected_at, lrn=lrn, mrn=mrn, parties=parties,
                               namespace=namespace)


def build_ie3n01(*, errors: Sequence[FunctionalError], at: datetime, lrn: str | None = None,
                 mrn: str | None = None, parties: ReplyParties | None = None) -> bytes:
    """IE3N01 lifecycle validation error (domain/ics2.md "Messages"): the message was valid but not
    allowed in the ENS's state (code 92 out of sequence, amend/invalidate after presentation, amender
    not declarant or representative, ...)."""
    return _error_notification("IE3N01", errors=errors, at=at, lrn=lrn, mrn=mrn, parties=parties,
                               namespace=None)


def _mrn_reply(message_id: str, date_element: str, mrn: str, at: datetime, parties: ReplyParties | None) -> bytes:
    if MRN_PATTERN.fullmatch(mrn) is None:
        raise ValueError(f"MRN is not 18 characters of the MRN form: {mrn!r}")
    ns = namespace_for(message_id)
    root = etree.Element(f"{{{ns}}}{message_id}", nsmap={PREFIX: ns})
    _sub(root, "MRN", mrn)
    _sub(root, date_element, _timestamp(at))
    _reply_parties(root, parties)
    return _serialise(root)


def build_ie3n10(*, mrn: str, amended_at: datetime, parties: ReplyParties | None = None) -> bytes:
    """IE3N10 amendment accepted (domain/ics2.md "Messages")."""
    return _mrn_reply("IE3N10", "amendmentDate", mrn, amended_at, parties)


def build_ie3r07(*, mrn: str, invalidated_at: datetime, parties: ReplyParties | None = None) -> bytes:
    """IE3R07 invalidation acceptance, answering IE3Q04 (domain/ics2.md "Messages")."""
    return _mrn_reply("IE3R07", "invalidationDate", mrn, invalidated_at, parties)
