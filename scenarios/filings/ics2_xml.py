"""XML building blocks shared by the ICS2 message builders of the harness (lxml + stdlib only).

The elements follow the simulator's own XSDs (``simulator/ics2/schemas``, shared types in
``ics2-common.xsd``): root ``IE3xxx`` in namespace ``urn:icssim:ics2:IE3xxx`` (prefix ``ie``), every
other element unqualified; absent optional values produce no element. Also the sample parties every
filing's header starts from. Used by :mod:`scenarios.filings.ics2` (Release 1 bodies, headers),
:mod:`scenarios.filings.ics2_bodies` (Release 2/3 bodies), :mod:`scenarios.filings.ics2_samples` and
:mod:`scenarios.filings.ics2_messages`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

PREFIX = "ie"


def namespace_for(message_id: str) -> str:
    """Target namespace of our XSD for ``message_id``."""
    return f"urn:icssim:ics2:{message_id}"


def _text(parent: etree._Element, tag: str, value: Any) -> None:
    if value is None or value == "":
        return
    etree.SubElement(parent, tag).text = _format(value)


def _format(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _address(parent: etree._Element, tag: str, address: Mapping[str, Any] | None) -> None:
    if not address:
        return
    el = etree.SubElement(parent, tag)
    for key, name in (
        ("city", "city"),
        ("country", "country"),
        ("sub_division", "subDivision"),
        ("street", "street"),
        ("post_code", "postCode"),
        ("street_additional_line", "streetAdditionalLine"),
        ("number", "number"),
        ("po_box", "poBox"),
    ):
        _text(el, name, address.get(key))


def _communications(parent: etree._Element, items: Sequence[Mapping[str, Any]] | None) -> None:
    for item in items or ():
        el = etree.SubElement(parent, "communication")
        _text(el, "identifier", item.get("identifier"))
        _text(el, "type", item.get("type"))


def _party(parent: etree._Element, tag: str, party: Mapping[str, Any] | None, *, kind: str) -> None:
    """kind: declarant | representative | carrier | trade (consignor/consignee)."""
    if not party:
        return
    el = etree.SubElement(parent, tag)
    _text(el, "name", party.get("name"))
    _text(el, "identificationNumber", party.get("identification_number"))
    if kind == "representative":
        _text(el, "status", party.get("status", "2"))
    if kind == "trade":
        _text(el, "typeOfPerson", party.get("type_of_person", "2"))
    _address(el, "address", party.get("address"))
    _communications(el, party.get("communications"))


def _document(parent: etree._Element, tag: str, doc: Mapping[str, Any] | None) -> None:
    if not doc:
        return
    el = etree.SubElement(parent, tag)
    _text(el, "documentNumber", doc.get("number"))
    _text(el, "type", doc.get("type"))


def _receptacle(parent: etree._Element, receptacle_id: str | None) -> None:
    if receptacle_id:
        _text(etree.SubElement(parent, "receptacle"), "receptacleIdentificationNumber", receptacle_id)


def _goods_item(parent: etree._Element, number: int, item: Mapping[str, Any]) -> None:
    el = etree.SubElement(parent, "goodsItem")
    _text(el, "goodsItemNumber", item.get("number", number))
    commodity = etree.SubElement(el, "commodity")
    _text(commodity, "descriptionOfGoods", item.get("description"))
    hs_code = item.get("hs_code")
    if hs_code:
        code = etree.SubElement(commodity, "commodityCode")
        _text(code, "harmonizedSystemSubHeadingCode", str(hs_code)[:6])
        _text(code, "combinedNomenclatureCode", str(hs_code)[6:])
    if item.get("gross_mass") is not None:
        _text(etree.SubElement(el, "weight"), "grossMass", item["gross_mass"])
    packaging = etree.SubElement(el, "packaging")
    _text(packaging, "typeOfPackages", item.get("package_type"))
    _text(packaging, "numberOfPackages", item.get("package_count", 1))
    _text(packaging, "shippingMarks", item.get("shipping_marks"))


def _house(parent: etree._Element, message_id: str, house: Mapping[str, Any]) -> None:
    el = etree.SubElement(parent, "consignmentHouseLevel")
    if message_id == "IE3F44":
        _receptacle(el, house.get("receptacle_id"))
        _document(el, "transportDocumentHouseLevel", house.get("transport_document"))
        return
    _document(el, "transportDocumentHouseLevel", house.get("transport_document"))
    if message_id == "IE3F43":
        _receptacle(el, house.get("receptacle_id"))
    _text(el, "totalGrossMass", house.get("total_gross_mass"))
    _party(el, "consignor", house.get("consignor"), kind="trade")
    _party(el, "consignee", house.get("consignee"), kind="trade")
    for number, item in enumerate(house.get("goods_items") or (), start=1):
        _goods_item(el, number, item)


# -- sample header parties ----------------------------------------------------------------------------

_ISSUED = "2024-06-03T08:15:00Z"
_SPARE_REPRESENTATIVE_IDS = ("NL800000000B01", "LU20000000000001")


def _address_of(street: str, number: str, post_code: str, city: str, country: str) -> dict[str, str]:
    return {"street": street, "number": number, "post_code": post_code, "city": city, "country": country}


def _common(message_id: str, lrn: str, eori: str) -> dict[str, Any]:
    representative_id = next(r for r in _SPARE_REPRESENTATIVE_IDS if r != eori)
    return {
        "lrn": lrn,
        "message_sender": eori,
        "document_issue_date": _ISSUED,
        "specific_circumstance_indicator": message_id[3:],
        "declarant": {
            "name": "Swift Parcel Europe NV",
            "identification_number": eori,
            "address": _address_of("Avenue du Port", "86C", "1000", "Brussels", "BE"),
            "communications": [{"identifier": "ens-desk@swiftparcel.example", "type": "EM"}],
        },
        "representative": {
            "name": "Customs Filing Services BV",
            "identification_number": representative_id,
            "status": "2",
            "address": _address_of("Stationsplein", "12", "1012AB", "Amsterdam", "NL"),
            "communications": [{"identifier": "+31201234567", "type": "TE"}],
        },
        "carrier": {"name": "Swift Air Cargo", "identification_number": "BE0400000001"},
        "place_of_loading": {"location": "Shenzhen Bao'an", "unlocode": "CNSZX", "country": "CN"},
    }
