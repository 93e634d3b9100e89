"""XML of the customs-to-trader notifications about an ENS, from checked, typed values.

The public entry point is :func:`simulator.ics2.notices.build_notice`, which takes the caller's
``details``, checks them and fills in defaults. Here are the typed values, the readers of the
transport documents and consignment references found in several messages' details (ValueError on a
wrong type, form or count), and the writers, which only put the typed values into the element order
of our XSDs (``schemas/README.md`` "Other messages"; shared groups in
``ics2-common.xsd``: ``NotificationHeaderGroup``, ``InformationRequestGroup``,
``ScreeningRequestGroup``, ``ConsignmentReferenceType``, ``EnsStateReferenceType``,
``ConsultationSubjectGroup``, ``EnsFilingSummaryType``, ``NotificationSummaryType``).

Conventions shared with :mod:`simulator.ics2.replies`: the root is the message id in its own
namespace (:func:`~simulator.ics2.replies.namespace_for`, prefix ``ie``), children are unqualified,
date-times are ``YYYY-MM-DDThh:mm:ssZ`` in UTC, echoed parties that would not fit their XSD types are
left out, and the same arguments give the same bytes (DESIGN.md "Deterministic").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from lxml import etree

from simulator.ics2.replies import (
    _DOC_TYPE,
    _NOT_XML,
    PREFIX,
    ReplyParties,
    _reply_parties,
    _serialise,
    _sub,
    _timestamp,
    namespace_for,
)

__all__ = [
    "ConsignmentRef",
    "Document",
    "EnsStateEntry",
    "FilingSummary",
    "NotificationSummary",
    "RequestItem",
    "arrival_registration",
    "check_identifier",
    "check_items",
    "consultation_results",
    "incorrect_state",
    "information_request",
    "notification",
    "read_consignment",
    "read_document",
    "screening_request",
]

Document = tuple[str, str]  # TransportDocumentType: (documentNumber an..70, type an4 CL754)


@dataclass(frozen=True, slots=True)
class ConsignmentRef:
    """``ConsignmentReferenceType``: a master document (optionally one of its houses) or a house
    document alone, optionally narrowed to goods item numbers."""

    master: Document | None
    house: Document | None = None
    goods_items: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.master is None and self.house is None:
            raise ValueError("a consignment reference needs a master or a house transport document")


@dataclass(frozen=True, slots=True)
class RequestItem:
    """``RequestDetailsType`` without its sequence number (that is the item's position, from 1)."""

    description: str
    consignment: ConsignmentRef | None = None


@dataclass(frozen=True, slots=True)
class EnsStateEntry:
    """``EnsStateReferenceType``: an ENS named by MRN or transport document, and why its state is wrong."""

    mrn: str | None
    document: Document | None
    reason: str | None

    def __post_init__(self) -> None:
        if (self.mrn is None) == (self.document is None):
            raise ValueError("an ENS entry names either an MRN or a transport document")


@dataclass(frozen=True, slots=True)
class FilingSummary:
    """``EnsFilingSummaryType``: one of the requester's ENS filings in consultation results."""

    mrn: str
    lrn: str | None
    message_type: str
    state: str
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class NotificationSummary:
    """``NotificationSummaryType``: one notification exchanged with the requester."""

    message_type: str
    mrn: str
    at: datetime


# ----------------------------------------------------------------------------- reading values


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def check_items(value: object, what: str, minimum: int, maximum: int) -> Sequence[Any]:
    """``value`` as a list of ``minimum``..``maximum`` items (the XSD cardinality)."""
    if not _is_sequence(value):
        raise ValueError(f"{what} must be a list, not {type(value).__name__}")
    items = cast(Sequence[Any], value)
    if not minimum <= len(items) <= maximum:
        raise ValueError(f"{what} must have {minimum}..{maximum} items, not {len(items)}")
    return items


def check_identifier(value: object, what: str, limit: int) -> str:
    """An identifier of an..``limit`` (referral, document number, EORI, state): never cut, since a cut
    identifier would name something else."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= limit or not value.strip() or _NOT_XML.search(value):
        raise ValueError(f"{what} must be 1..{limit} XML characters, not all blank: {value!r}")
    return value


def read_document(value: object, what: str) -> Document:
    """A *document* of :mod:`simulator.ics2.notices`: ``(documentNumber, type)`` or a mapping of both
    (``number`` is accepted for ``documentNumber``)."""
    if isinstance(value, Mapping):  # "number" is the spelling of the scenario filing builders
        number = value["documentNumber"] if "documentNumber" in value else value.get("number")
        doc_type = value.get("type")
    elif _is_sequence(value) and len(cast(Sequence[Any], value)) == 2:
        number, doc_type = cast(Sequence[Any], value)
    else:
        raise ValueError(f"{what} must be (documentNumber, type) or a mapping of both: {value!r}")
    number = check_identifier(number, f"{what} documentNumber", 70)
    if not isinstance(doc_type, str) or _DOC_TYPE.fullmatch(doc_type) is None:
        raise ValueError(f"{what} type must be an4 (CL754 form, e.g. N741): {doc_type!r}")
    return number, doc_type


def _goods_items(value: object, what: str) -> tuple[int, ...]:
    if value is None:
        return ()
    numbers = check_items(value, f"{what} goods_items", 0, 9999)
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or not 0 < number <= 99999:
            raise ValueError(f"{what} goods item numbers must be integers 1..99999: {number!r}")
    return tuple(numbers)


def read_consignment(value: object, what: str, level: str) -> ConsignmentRef:
    """A *consignment* of :mod:`simulator.ics2.notices`; ``level`` ("master" or "house") is where a bare
    document goes."""
    if isinstance(value, Mapping) and ("master" in value or "house" in value):
        master, house = value.get("master"), value.get("house")
        if master is None and house is None:
            raise ValueError(f"{what} needs a master or a house document")
        return ConsignmentRef(
            master=None if master is None else read_document(master, f"{what} master"),
            house=None if house is None else read_document(house, f"{what} house"),
            goods_items=_goods_items(value.get("goods_items"), what),
        )
    goods: tuple[int, ...] = ()
    if isinstance(value, Mapping):
        level = value.get("level", level)
        if level not in ("master", "house"):
            raise ValueError(f"{what} level must be 'master' or 'house': {level!r}")
        goods = _goods_items(value.get("goods_items"), what)
    document = read_document(value, what)
    if level == "house":
        return ConsignmentRef(master=None, house=document, goods_items=goods)
    return ConsignmentRef(master=document, goods_items=goods)


# ------------------------------------------------------------------------------------------------


def _root(action: str) -> etree._Element:
    ns = namespace_for(action)
    return etree.Element(f"{{{ns}}}{action}", nsmap={PREFIX: ns})


def _document(parent: etree._Element, tag: str, document: Document) -> None:
    element = etree.SubElement(parent, tag)
    _sub(element, "documentNumber", document[0])
    _sub(element, "type", document[1])


def _consignment(parent: etree._Element, tag: str, reference: ConsignmentRef) -> None:
    element = etree.SubElement(parent, tag)
    if reference.master is not None:
        _document(element, "transportDocumentMasterLevel", reference.master)
    if reference.house is not None:
        _document(element, "transportDocumentHouseLevel", reference.house)
    for number in reference.goods_items:
        _sub(element, "goodsItemNumber", str(number))


def _header(action: str, mrn: str, at: datetime, parties: ReplyParties | None) -> etree._Element:
    """``NotificationHeaderGroup``: MRN, notificationDate, echoed parties."""
    root = _root(action)
    _sub(root, "MRN", mrn)
    _sub(root, "notificationDate", _timestamp(at))
    _reply_parties(root, parties)
    return root


def _request_details(root: etree._Element, items: Sequence[RequestItem]) -> None:
    for sequence_number, item in enumerate(items, start=1):
        element = etree.SubElement(root, "requestDetails")
        _sub(element, "sequenceNumber", str(sequence_number))
        _sub(element, "description", item.description)
        if item.consignment is not None:
            _consignment(element, "consignmentReference", item.consignment)


def notification(
    action: str,
    *,
    mrn: str,
    at: datetime,
    parties: ReplyParties | None,
    referral: str | None = None,
    control: str | None = None,
    consignments: Sequence[ConsignmentRef] = (),
    parties_not_filed: Sequence[str] = (),
) -> bytes:
    """The notifications made of the header plus optional parts, in the XSD order
    referralRequestReference, controlDescription, consignmentReference*, partyNotYetFiled*:
    IE3N03 (header only), IE3Q01 (referral + consignments), IE3N08/IE3N09 (referral? control?
    consignments), IE3N11 (consignments), IE3N02 (parties not filed). The caller passes exactly the
    parts the message's XSD has."""
    root = _header(action, mrn, at, parties)
    if referral is not None:
        _sub(root, "referralRequestReference", referral)
    if control is not None:
        _sub(root, "controlDescription", control)
    for reference in consignments:
        _consignment(root, "consignmentReference", reference)
    for identification in parties_not_filed:
        _sub(etree.SubElement(root, "partyNotYetFiled"), "identificationNumber", identification)
    return _serialise(root)


def information_request(
    action: str,
    *,
    mrn: str,
    at: datetime,
    parties: ReplyParties | None,
    referral: str,
    response_method: str,
    items: Sequence[RequestItem],
) -> bytes:
    """IE3Q02 / IE3N04: header + ``InformationRequestGroup``."""
    root = _header(action, mrn, at, parties)
    _sub(root, "referralRequestReference", referral)
    _sub(root, "responseMethod", response_method)
    _request_details(root, items)
    return _serialise(root)


def screening_request(
    action: str,
    *,
    mrn: str,
    at: datetime,
    parties: ReplyParties | None,
    referral: str,
    items: Sequence[RequestItem],
) -> bytes:
    """IE3Q03 / IE3N05: header + ``ScreeningRequestGroup``."""
    root = _header(action, mrn, at, parties)
    _sub(root, "referralRequestReference", referral)
    _request_details(root, items)
    return _serialise(root)


def arrival_registration(*, lrn: str, mrn: str, at: datetime, parties: ReplyParties | None) -> bytes:
    """IE3R04: LRN of the arrival notification, MRN, registrationDate, echoed parties."""
    root = _root("IE3R04")
    _sub(root, "LRN", lrn)
    _sub(root, "MRN", mrn)
    _sub(root, "registrationDate", _timestamp(at))
    _reply_parties(root, parties)
    return _serialise(root)


def incorrect_state(*, lrn: str, at: datetime, parties: ReplyParties | None,
                    entries: Sequence[EnsStateEntry]) -> bytes:
    """IE3N07: LRN of the arrival notification, notificationDate, echoed parties, 1.. ENS entries."""
    root = _root("IE3N07")
    _sub(root, "LRN", lrn)
    _sub(root, "notificationDate", _timestamp(at))
    _reply_parties(root, parties)
    for entry in entries:
        element = etree.SubElement(root, "entrySummaryDeclaration")
        if entry.mrn is not None:
            _sub(element, "MRN", entry.mrn)
        elif entry.document is not None:
            _document(element, "transportDocument", entry.document)
        if entry.reason is not None:
            _sub(element, "reason", entry.reason)
    return _serialise(root)


def consultation_results(
    *,
    subject: tuple[str, str | Document],
    at: datetime,
    filings: Sequence[FilingSummary],
    notifications: Sequence[NotificationSummary],
) -> bytes:
    """IE3R08: the consulted subject (``("MRN", mrn)``, ``("transportDocumentMasterLevel", doc)`` or
    ``("transportDocumentHouseLevel", doc)``), consultationDate, filings, notifications."""
    root = _root("IE3R08")
    tag, value = subject
    if isinstance(value, str):
        _sub(root, tag, value)
    else:
        _document(root, tag, value)
    _sub(root, "consultationDate", _timestamp(at))
    for filing in filings:
        element = etree.SubElement(root, "ensFiling")
        _sub(element, "MRN", filing.mrn)
        if filing.lrn is not None:
            _sub(element, "LRN", filing.lrn)
        _sub(element, "messageType", filing.message_type)
        _sub(element, "state", filing.state)
        _sub(element, "registrationDate", _timestamp(filing.registered_at))
    for summary in notifications:
        element = etree.SubElement(root, "notification")
        _sub(element, "messageType", summary.message_type)
        _sub(element, "MRN", summary.mrn)
        _sub(element, "notificationDate", _timestamp(summary.at))
    return _serialise(root)
