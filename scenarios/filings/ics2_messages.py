"""ICS2 trader-to-customs messages that are not ENS filings: IE3N06, IE3Q05, IE3R02, IE3R03.

domain/ics2.md "Messages": the carrier notifies the arrival of the means of transport (IE3N06: LRN,
0..9999 ENS filings by MRN or transport document); a party consults its own ENS data (IE3Q05: by MRN,
master or house transport document); the filer answers an information request (IE3R02, optionally with
pdf/jpeg attachments sent as their own AS4 MIME parts) and a high-risk cargo and mail screening request
(IE3R03, air only). The structure follows the simulator's XSDs (``simulator/ics2/schemas/README.md``,
"Other messages"); like :mod:`scenarios.filings.ics2` this module uses lxml and the stdlib only.

A transport document argument is ``(number, type)`` (type from CL754, e.g. N741 master air waybill) or
``{"number", "type"}``. Date-times are ``datetime`` (written in UTC) or preformatted
``YYYY-MM-DDThh:mm:ssZ`` strings. Without ``issued`` the document issue date is a fixed moment, so the
same arguments always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from lxml import etree

from scenarios.filings.ics2_xml import PREFIX, _document, _party, _text, namespace_for

__all__ = [
    "ATTACHMENT_MIME_TYPES",
    "DEFAULT_ISSUED",
    "build_arrival",
    "build_consultation",
    "build_rfi_answer",
    "build_screening_answer",
]

DEFAULT_ISSUED: Final = "2026-01-01T00:00:00Z"  # the default of build_invalidation, too
# domain/ics2.md "Messages" (IE3R02): attachments are pdf or jpeg only.
ATTACHMENT_MIME_TYPES: Final = frozenset({"application/pdf", "image/jpeg"})

When = datetime | str
DocumentRef = tuple[str, str] | Mapping[str, Any]


def _root(message_id: str) -> etree._Element:
    namespace = namespace_for(message_id)
    return etree.Element(f"{{{namespace}}}{message_id}", nsmap={PREFIX: namespace})


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _as_document(document: DocumentRef) -> dict[str, Any]:
    if isinstance(document, tuple):
        number, kind = document
        return {"number": number, "type": kind}
    return {"number": document["number"], "type": document["type"]}


def _attachments(parent: etree._Element, attachments: Sequence[Sequence[str]] | None) -> None:
    """binaryAttachment: the MIME part's content id without ``cid:``, its type, an optional description."""
    for attachment in attachments or ():
        cid, mime_type, *rest = attachment
        if mime_type not in ATTACHMENT_MIME_TYPES:
            raise ValueError(f"attachment {cid!r}: {mime_type!r} is not one of {sorted(ATTACHMENT_MIME_TYPES)}")
        el = etree.SubElement(parent, "binaryAttachment")
        _text(el, "identifier", cid.removeprefix("cid:"))
        _text(el, "mimeType", mime_type)
        _text(el, "description", rest[0] if rest else None)


def _consignment_reference(parent: etree._Element, reference: Mapping[str, Any]) -> None:
    """consignmentReference: a master document (optionally one of its houses) or a house document,
    optionally narrowed to goods item numbers."""
    el = etree.SubElement(parent, "consignmentReference")
    master, house = reference.get("master_document"), reference.get("house_document")
    if master is None and house is None:
        raise ValueError("a consignment reference needs a master_document or a house_document")
    if master is not None:
        _document(el, "transportDocumentMasterLevel", _as_document(master))
    if house is not None:
        _document(el, "transportDocumentHouseLevel", _as_document(house))
    for number in reference.get("goods_items") or ():
        _text(el, "goodsItemNumber", number)


def build_arrival(
    lrn: str,
    sender: str,
    carrier: str | Mapping[str, Any],
    means: Mapping[str, Any],
    office: str,
    arrived_at: When,
    entries: Sequence[Mapping[str, Any]] = (),
    *,
    representative: Mapping[str, Any] | None = None,
    issued: When | None = None,
) -> bytes:
    """IE3N06 arrival notification of the means of transport at the office of first entry.

    ``carrier``: its EORI or a carrier party (``identification_number``, optional ``name``, ``address``);
    ``means``: the active border transport means (keys of :mod:`scenarios.filings.ics2_bodies`, at least
    ``mode_of_transport``); ``office``: an8 customs office reference number; ``entries``: the ENS filings
    that arrived, each ``{"mrn": ...}`` or ``{"document": (number, type)}`` (0..9999). The document issue
    date defaults to the arrival time.
    """
    root = _root("IE3N06")
    _text(root, "messageSender", sender)
    _text(root, "LRN", lrn)
    _text(root, "documentIssueDate", issued or arrived_at)
    carrier_party = {"identification_number": carrier} if isinstance(carrier, str) else carrier
    _party(root, "carrier", carrier_party, kind="carrier")
    _party(root, "representative", representative, kind="representative")
    transport = etree.SubElement(root, "activeBorderTransportMeans")
    for key, tag in (("type_of_identification", "typeOfIdentification"),
                     ("identification_number", "identificationNumber"), ("nationality", "nationality"),
                     ("mode_of_transport", "modeOfTransport"),
                     ("conveyance_reference_number", "conveyanceReferenceNumber")):
        _text(transport, tag, means.get(key))
    _text(etree.SubElement(root, "customsOfficeOfFirstEntry"), "referenceNumber", office)
    _text(root, "actualDateAndTimeOfArrival", arrived_at)
    for entry in entries:
        el = etree.SubElement(root, "entrySummaryDeclaration")
        if entry.get("mrn"):
            _text(el, "MRN", entry["mrn"])
        elif entry.get("document"):
            _document(el, "transportDocument", _as_document(entry["document"]))
        else:
            raise ValueError(f"an arrival entry names an MRN or a document, got {dict(entry)!r}")
    return _serialise(root)


def build_consultation(
    sender: str,
    issued: When,
    mrn: str | None = None,
    master_document: DocumentRef | None = None,
    house_document: DocumentRef | None = None,
    notifications_requested: bool | None = None,
) -> bytes:
    """IE3Q05 ENS consultation by exactly one of ``mrn``, ``master_document``, ``house_document``
    (domain/ics2.md "Messages": a house query returns house data only, a master query master only)."""
    subjects = [subject for subject in (mrn, master_document, house_document) if subject is not None]
    if len(subjects) != 1:
        raise ValueError("a consultation names exactly one of mrn, master_document, house_document")
    root = _root("IE3Q05")
    _text(root, "messageSender", sender)
    _text(root, "documentIssueDate", issued)
    if mrn is not None:
        _text(root, "MRN", mrn)
    elif master_document is not None:
        _document(root, "transportDocumentMasterLevel", _as_document(master_document))
    elif house_document is not None:
        _document(root, "transportDocumentHouseLevel", _as_document(house_document))
    if notifications_requested is not None:
        _text(root, "notificationsRequested", "1" if notifications_requested else "0")
    return _serialise(root)


def build_rfi_answer(
    sender: str,
    mrn: str,
    referral: str,
    responses: Sequence[Mapping[str, Any]],
    *,
    issued: When | None = None,
) -> bytes:
    """IE3R02 answer to an information request (IE3Q02) ``referral``: one response per request item,
    each ``{"text": ..., "attachments": [(cid, mime type[, description])], "sequence": n}`` (``sequence``
    defaults to the position; text and attachments are each optional, 1..999 responses)."""
    if not responses:
        raise ValueError("an information response answers at least one request item")
    root = _root("IE3R02")
    _text(root, "messageSender", sender)
    _text(root, "MRN", mrn)
    _text(root, "documentIssueDate", issued or DEFAULT_ISSUED)
    _text(root, "referralRequestReference", referral)
    for position, response in enumerate(responses, start=1):
        el = etree.SubElement(root, "responseDetails")
        _text(el, "sequenceNumber", response.get("sequence", position))
        _text(el, "responseText", response.get("text"))
        _attachments(el, response.get("attachments"))
    return _serialise(root)


def build_screening_answer(
    sender: str,
    mrn: str,
    referral: str,
    screenings: Sequence[Mapping[str, Any]],
    *,
    issued: When | None = None,
) -> bytes:
    """IE3R03 answer to a high-risk cargo and mail screening request (IE3Q03) ``referral``, one entry per
    screened consignment: ``master_document`` and/or ``house_document`` (and optional ``goods_items``),
    ``methods`` (1..9 screening method codes, e.g. XRY x-ray, ETD explosive trace detection, PHS physical
    search), ``screened_at``, ``result`` (text) and optional ``attachments`` as for IE3R02."""
    if not screenings:
        raise ValueError("a screening response reports at least one screening")
    root = _root("IE3R03")
    _text(root, "messageSender", sender)
    _text(root, "MRN", mrn)
    _text(root, "documentIssueDate", issued or DEFAULT_ISSUED)
    _text(root, "referralRequestReference", referral)
    for screening in screenings:
        el = etree.SubElement(root, "screening")
        _consignment_reference(el, screening)
        for method in screening.get("methods") or ():
            _text(el, "screeningMethod", method)
        _text(el, "screeningDate", screening.get("screened_at"))
        _text(el, "screeningResult", screening.get("result"))
        _attachments(el, screening.get("attachments"))
    return _serialise(root)
