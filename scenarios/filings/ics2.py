"""ICS2 ENS filings (all 31 IE3Fxx) and their amendments built from neutral business data.

The Release 1 PLACI filings (IE3F32, IE3F43, IE3F44) are built here; the bodies of the Release 2/3
filings come from :mod:`scenarios.filings.ics2_bodies` (its docstring lists the further data keys) and
their samples from :mod:`scenarios.filings.ics2_samples`; the header is the same for all.

Client side of the harness: lxml + stdlib only, no :mod:`simulator` import. The XML follows the
simulator's own XSDs (``simulator/ics2/schemas``): root ``IE3Fxx`` in namespace
``urn:icssim:ics2:IE3Fxx`` (prefix ``ie``), all other elements unqualified.

Business-data keys (a plain mapping; optional keys may be absent or None):

``lrn`` (str, an..22), ``message_sender`` (EORI; default: the declarant's identification number),
``document_issue_date`` (``datetime`` -> UTC ``YYYY-MM-DDThh:mm:ssZ``, or a preformatted str),
``specific_circumstance_indicator`` (default ``F32``/``F43``/``F44``), ``addressed_member_state``
(country code), ``declarant`` (party), ``representative`` (party + ``status`` "2" direct / "3"
indirect), ``carrier`` (``identification_number``, optional ``name``, ``address``,
``communications``), ``master_transport_document`` / house ``transport_document``
(``{"number", "type"}``, type from CL754 e.g. N740, N741, N750), ``place_of_loading``
(``{"location", "unlocode", "country"}``), ``routing_countries`` (list of country codes, in order),
``houses`` (list; one per express shipment / postal item / receptacle) with ``transport_document``,
``receptacle_id`` (F43 optional, F44 required), ``total_gross_mass`` (kg), ``consignor``,
``consignee`` (parties) and ``goods_items`` (list of ``description``, ``hs_code`` (6 digits + optional
2 CN digits: "61091000" -> sub-heading 610910 + CN 00), ``gross_mass``, ``package_count``,
``package_type``, ``shipping_marks``; goods item numbers are 1..n in list order).

A party is ``name``, ``identification_number``, ``type_of_person`` (CL729 "1" natural / "2" legal
person; consignor/consignee only), ``address`` (``street``, ``number``, ``post_code``, ``city``,
``country``, ``sub_division``, ``street_additional_line``, ``po_box``) and ``communications``
(list of ``{"identifier", "type"}``, type e.g. EM e-mail, TE telephone).

:data:`MESSAGE_IDS` stays the Release 1 set: the :data:`VARIANTS` (known defects) and the load mixes
are defined for those; :data:`ALL_FILING_IDS` lists every filing, :data:`AMENDMENT_IDS` every amendment.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from lxml import etree

from scenarios.filings import ics2_bodies, ics2_samples
from scenarios.filings.ics2_xml import (
    PREFIX,
    _address_of,
    _common,
    _document,
    _house,
    _party,
    _text,
    namespace_for,
)

__all__ = [
    "ALL_FILING_IDS",
    "AMENDMENT_IDS",
    "MESSAGE_IDS",
    "VARIANTS",
    "FilingMessageId",
    "build_amendment",
    "build_filing",
    "build_invalidation",
    "expected_errors",
    "namespace_for",
    "sample_data",
]

FilingMessageId = Literal[
    "IE3F10", "IE3F11", "IE3F12", "IE3F13", "IE3F14", "IE3F15", "IE3F16", "IE3F17",
    "IE3F20", "IE3F21", "IE3F22", "IE3F23", "IE3F24", "IE3F25", "IE3F26", "IE3F27", "IE3F28", "IE3F29",
    "IE3F30", "IE3F31", "IE3F32", "IE3F33", "IE3F34",
    "IE3F40", "IE3F41", "IE3F42", "IE3F43", "IE3F44", "IE3F45", "IE3F50", "IE3F51",
]
MESSAGE_IDS: tuple[FilingMessageId, ...] = ("IE3F32", "IE3F43", "IE3F44")
ALL_FILING_IDS: tuple[FilingMessageId, ...] = get_args(FilingMessageId)
# domain/ics2.md "Messages": amendments carry the codes of the filings, except that there is no IE3A25.
AMENDMENT_IDS: tuple[str, ...] = tuple("IE3A" + f[4:] for f in ALL_FILING_IDS if f != "IE3F25")

VARIANTS: dict[str, str] = {
    "stop-word-description": "goods item 1 is described only as 'Gift' (ICS2 stop word) -> CL723 100",
    "invalid-hs-code": "goods item 1 has HS sub-heading '61O910' (letter O, not digits) -> CL723 12",
    "representative-equals-declarant": "representative identification = declarant's -> CL723 12",
    "disallowed-script": "Chinese characters in a description (F44: declarant name) -> CL723 102",
    "unknown-party-name": "consignee name 'Unknown' (F44: declarant name) -> CL723 100",
}


# ------------------------------------------------------------------------------------------------
# building




def build_filing(
    message_id: FilingMessageId, data: Mapping[str, Any], *, namespace: str | None = None
) -> bytes:
    """Serialise ``data`` (keys in the module docstring) as an ``message_id`` payload (UTF-8 bytes).

    Absent optional keys produce no element. The builder does not validate: a defective dataset
    gives a defective filing, which is how the harness provokes IE3N99 rejections.
    """
    if message_id not in ALL_FILING_IDS:
        raise ValueError(f"unsupported filing {message_id!r}; expected one of {ALL_FILING_IDS}")
    ns = namespace or namespace_for(message_id)
    root = etree.Element(f"{{{ns}}}{message_id}", nsmap={PREFIX: ns})
    declarant = data.get("declarant") or {}
    _text(root, "messageSender", data.get("message_sender") or declarant.get("identification_number"))
    _text(root, "LRN", data.get("lrn"))
    _text(root, "documentIssueDate", data.get("document_issue_date"))
    indicator = data.get("specific_circumstance_indicator") or message_id[3:]
    _text(root, "specificCircumstanceIndicator", indicator)
    if data.get("addressed_member_state"):
        _text(etree.SubElement(root, "addressedMemberState"), "country", data["addressed_member_state"])
    _party(root, "declarant", declarant, kind="declarant")
    _party(root, "representative", data.get("representative"), kind="representative")
    _party(root, "carrier", data.get("carrier"), kind="carrier")
    if message_id not in MESSAGE_IDS:
        ics2_bodies.build_body(root, message_id, data)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    master = etree.SubElement(root, "consignmentMasterLevel")
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    place = data.get("place_of_loading")
    if place:
        loading = etree.SubElement(master, "placeOfLoading")
        _text(loading, "location", place.get("location"))
        _text(loading, "UNLOCODE", place.get("unlocode"))
        if place.get("country"):
            _text(etree.SubElement(loading, "address"), "country", place["country"])
    if message_id != "IE3F44":
        for sequence, country in enumerate(data.get("routing_countries") or (), start=1):
            routing = etree.SubElement(master, "countriesOfRoutingOfConsignment")
            _text(routing, "sequenceNumber", sequence)
            _text(routing, "country", country)
    for house in data.get("houses") or ():
        _house(master, message_id, house)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ------------------------------------------------------------------------------------------------
# samples



def _consignor() -> dict[str, Any]:
    return {
        "name": "Shenzhen Bright Trading Co., Ltd.",
        "type_of_person": "2",
        "address": _address_of("Keyuan Road", "88", "518057", "Shenzhen", "CN"),
    }


def _consignee() -> dict[str, Any]:
    return {
        "name": "Marie Dubois",
        "type_of_person": "1",
        "address": _address_of("Rue de la Loi", "16", "1040", "Etterbeek", "BE"),
    }


def _goods(first: str, first_hs: str, second: str, second_hs: str) -> list[dict[str, Any]]:
    return [
        {"description": first, "hs_code": first_hs, "gross_mass": "0.8", "package_count": 1,
         "package_type": "PK"},
        {"description": second, "hs_code": second_hs, "gross_mass": "1.1", "package_count": 1,
         "package_type": "BX"},
    ]


def _base(message_id: str, lrn: str, eori: str) -> dict[str, Any]:
    data = _common(message_id, lrn, eori)
    if message_id == "IE3F32":
        data["master_transport_document"] = {"number": "176-12345675", "type": "N741"}
        data["routing_countries"] = ["CN", "AE", "BE"]
        data["houses"] = [
            {
                "transport_document": {"number": "SPX4471200931", "type": "N740"},
                "total_gross_mass": "1.9",
                "consignor": _consignor(),
                "consignee": _consignee(),
                "goods_items": _goods(
                    "Men's cotton T-shirts, knitted", "61091000", "Stainless steel kitchen knives", "821191"
                ),
            }
        ]
    elif message_id == "IE3F43":
        data["master_transport_document"] = {"number": "784-20481736", "type": "N741"}
        data["routing_countries"] = ["CN", "BE"]
        data["houses"] = [
            {
                "transport_document": {"number": "RR123456785CN", "type": "N750"},
                "receptacle_id": "CNSZXABEBRUAAUN40001001110050",
                "total_gross_mass": "1.9",
                "consignor": _consignor(),
                "consignee": _consignee(),
                "goods_items": _goods(
                    "Printed silk scarf for women", "621410", "Porcelain tea cups", "69111000"
                ),
            }
        ]
    elif message_id == "IE3F44":
        data["master_transport_document"] = {"number": "784-20481736", "type": "N741"}
        data["houses"] = [
            {
                "receptacle_id": "CNSZXABEBRUAAUN40001001110050",
                "transport_document": {"number": "CNSZXBEBRUAA40001", "type": "N750"},
            },
            {
                "receptacle_id": "CNSZXABEBRUAAUN40001001120031",
                "transport_document": {"number": "CNSZXBEBRUAA40001", "type": "N750"},
            },
        ]
    else:
        raise ValueError(f"unsupported filing {message_id!r}; expected one of {MESSAGE_IDS}")
    return data


def _goods_pointer(message_id: str, leaf: str) -> str:
    return f"/{message_id}/consignmentMasterLevel/consignmentHouseLevel/goodsItem[1]/commodity/{leaf}"


def expected_errors(message_id: FilingMessageId, variant: str | None) -> list[tuple[str, str]]:
    """(CL723 code, XPath pointer) pairs the simulator must report for a sample ``variant``."""
    if variant is None:
        return []
    if message_id not in MESSAGE_IDS and variant != "representative-equals-declarant":
        raise ValueError(f"variant {variant!r} does not apply to {message_id}; the Release 2/3 filings know "
                         "only 'representative-equals-declarant'")
    postal_receptacle = message_id == "IE3F44"
    if variant == "stop-word-description" and not postal_receptacle:
        return [("100", _goods_pointer(message_id, "descriptionOfGoods"))]
    if variant == "invalid-hs-code" and not postal_receptacle:
        return [("12", _goods_pointer(message_id, "commodityCode/harmonizedSystemSubHeadingCode"))]
    if variant == "representative-equals-declarant":
        return [("12", f"/{message_id}/representative/identificationNumber")]
    if variant == "disallowed-script":
        if postal_receptacle:
            return [("102", f"/{message_id}/declarant/name")]
        return [("102", _goods_pointer(message_id, "descriptionOfGoods"))]
    if variant == "unknown-party-name":
        if postal_receptacle:
            return [("100", f"/{message_id}/declarant/name")]
        return [("100", f"/{message_id}/consignmentMasterLevel/consignmentHouseLevel/consignee/name")]
    raise ValueError(f"variant {variant!r} does not apply to {message_id}; known: {sorted(VARIANTS)}")


def sample_data(
    message_id: FilingMessageId,
    *,
    lrn: str,
    eori: str,
    variant: str | None = None,
    houses: int | None = None,
    goods_per_house: int | None = None,
    master_document: str | Mapping[str, Any] | None = None,
    house_documents: Sequence[str | Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A valid business dataset for ``message_id`` or, with ``variant`` (see :data:`VARIANTS`), one
    with exactly one known defect (its expected error: :func:`expected_errors`).

    ``eori`` is the message sender and the declarant; the representative has another EORI.
    IE3F44 carries no goods, so ``stop-word-description`` and ``invalid-hs-code`` raise ValueError;
    the Release 2/3 filings know only the ``representative-equals-declarant`` variant.

    Shape (all optional; without them the Release 1 samples are unchanged): ``houses`` (number of house
    consignments, receptacles or named houses), ``goods_per_house``, ``master_document`` (number, or
    ``{"number", "type"}``) and ``house_documents`` (one number or mapping per house; sets the number of
    houses). Defaults and the derivation of house numbers: :mod:`scenarios.filings.ics2_samples`.
    Variants' expected pointers assume the default shape.
    """
    expected_errors(message_id, variant)  # validates the variant name for this message
    shape: dict[str, Any] = {"houses": houses, "goods_per_house": goods_per_house,
                             "master_document": master_document, "house_documents": house_documents}
    if message_id in MESSAGE_IDS:
        data = copy.deepcopy(_base(message_id, lrn, eori))
        if any(value is not None for value in shape.values()):
            data = ics2_samples.reshape_release1(message_id, data, **shape)
    elif message_id in ALL_FILING_IDS:
        data = ics2_samples.sample(message_id, lrn=lrn, eori=eori, **shape)
    else:
        raise ValueError(f"unsupported filing {message_id!r}; expected one of {ALL_FILING_IDS}")
    first_goods = data["houses"][0]["goods_items"][0] if message_id in {"IE3F32", "IE3F43"} else None
    if variant == "stop-word-description" and first_goods is not None:
        first_goods["description"] = "Gift"
    elif variant == "invalid-hs-code" and first_goods is not None:
        first_goods["hs_code"] = "61O910"
    elif variant == "representative-equals-declarant":
        data["representative"]["identification_number"] = data["declarant"]["identification_number"]
    elif variant == "disallowed-script":
        if first_goods is not None:
            first_goods["description"] = "男士棉质T恤"
        else:
            data["declarant"]["name"] = "中国邮政速递"
    elif variant == "unknown-party-name":
        if message_id == "IE3F44":
            data["declarant"]["name"] = "Unknown"
        else:
            data["houses"][0]["consignee"]["name"] = "Unknown"
    return data


def build_amendment(filing_message_id: FilingMessageId, data: Mapping[str, Any], *, mrn: str) -> bytes:
    """IE3Axx: the full new dataset of the filing, with the MRN of the ENS it replaces right after the
    LRN (domain/ics2.md "Messages": amendments carry the same codes as filings and refer to the MRN)."""
    amendment_id = "IE3A" + filing_message_id[4:]
    if amendment_id not in AMENDMENT_IDS:
        raise ValueError(f"{filing_message_id!r} has no amendment; amendments are {AMENDMENT_IDS}")
    namespace = namespace_for(amendment_id)
    root = etree.fromstring(build_filing(filing_message_id, data, namespace=namespace))
    root.tag = f"{{{namespace}}}{amendment_id}"
    lrn = root.find("LRN")
    assert lrn is not None
    mrn_element = etree.Element("MRN")
    mrn_element.text = mrn
    lrn.addnext(mrn_element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_invalidation(*, mrn: str, sender: str, declarant: str, issued: datetime | None = None,
                       representative: str | None = None, reason: str | None = None) -> bytes:
    """IE3Q04 invalidation request for the ENS `mrn` (domain/ics2.md "Messages")."""
    namespace = namespace_for("IE3Q04")
    root = etree.Element(f"{{{namespace}}}IE3Q04", nsmap={"ie": namespace})
    _text(root, "messageSender", sender)
    _text(root, "MRN", mrn)
    _text(root, "documentIssueDate", issued or datetime(2026, 1, 1, tzinfo=UTC))
    _text(etree.SubElement(root, "declarant"), "identificationNumber", declarant)
    if representative:
        _text(etree.SubElement(root, "representative"), "identificationNumber", representative)
    if reason:
        _text(root, "invalidationReason", reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
