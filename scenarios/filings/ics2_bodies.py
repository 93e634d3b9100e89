"""Bodies of the ICS2 Release 2 / 3 filings (IE3F10-F17, F20-F31, F33, F34, F40-F42, F45, F50, F51).

:func:`scenarios.filings.ics2.build_filing` writes the filing header (domain/ics2.md "Messages": an
IE3Fxx is identified by its LRN) and hands the body to :func:`build_body`, which follows the body group
of the family the filing belongs to (``simulator/ics2/schemas/README.md``, "Filings and amendments").
Client side of the harness: lxml and the Release 1 module's XML helpers only.

Business-data keys beyond those of :mod:`scenarios.filings.ics2` (a plain mapping; optional keys may be
absent or None):

Master level: ``customs_office_of_first_entry`` (``{"reference_number", "expected_arrival"}``, an8
office such as "BE101000", arrival ``datetime`` or str), ``container_indicator`` ("0"/"1"),
``total_gross_mass`` (kg, whole consignment), ``reference_number_ucr``, ``master_transport_document``,
carriage: ``active_border_transport_means`` (``type_of_identification`` n2, ``identification_number``,
``nationality``, ``mode_of_transport`` 1 sea, 2 rail, 3 road, 4 air, ``conveyance_reference_number``
e.g. voyage or flight number), ``place_of_loading`` / ``place_of_unloading`` (``{"location",
"unlocode", "country"}``), ``means_routing_countries`` (countries of routing of the means of transport,
in order), ``transport_equipment`` (list of ``{"container_id", "seals": [...]}``).

Trade details (of a complete house; of the master itself for straight / direct documents and for
road or rail consignments without houses): ``place_of_acceptance``, ``place_of_delivery``,
``consignor``, ``consignee``, ``notify_party``, ``buyer``, ``seller`` (parties as in the Release 1
module), ``supply_chain_actors`` (``{"role", "identification_number"}``), ``routing_countries``
(countries of routing of the consignment), ``transport_charges`` (method of payment, one letter),
``supporting_documents`` (``{"reference_number", "type"}``), ``additional_information``
(``{"code", "text"}``) and ``goods_items``. A complete house also has ``transport_document``,
``total_gross_mass``, optional ``container_indicator`` and ``reference_number_ucr``.

Goods item (complete): the Release 1 keys plus ``cus_code`` ("0012345-6"), ``un_numbers`` (list of
UN numbers of dangerous goods), ``packagings`` (list of ``{"type", "count", "marks"}``; without it one
packaging from ``package_type`` / ``package_count`` / ``shipping_marks``), ``supporting_documents``
and ``additional_information``. Consignee-information filings (F16/F17) write only each goods item's
number (``number``, else its position), ``description`` (optional) and ``hs_code``.

House named by a master-only filing (F12, F21, F25, F40-F42, F45): ``transport_document`` and optional
``filer`` (EORI of the party obliged to file that house; it receives IE3N11 if it has not filed when
the completion timer expires, domain/ics2.md "Messages").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lxml import etree

from scenarios.filings.ics2_xml import _document, _house, _party, _text

__all__ = ["FAMILIES", "FAMILY_OF", "build_body", "family_of"]

Data = Mapping[str, Any]

# Body group per filing (simulator/ics2/schemas/README.md, "Filings and amendments").
FAMILIES: dict[str, tuple[str, ...]] = {
    "straight": ("IE3F10", "IE3F13", "IE3F28", "IE3F29"),
    "master-house": ("IE3F11", "IE3F20", "IE3F27", "IE3F30"),
    "master-only": ("IE3F12", "IE3F21", "IE3F40", "IE3F41", "IE3F42", "IE3F45"),
    "house-level": ("IE3F14", "IE3F15", "IE3F22", "IE3F31", "IE3F33"),
    "consignee-house": ("IE3F16",),
    "consignee-straight": ("IE3F17",),
    "placi-without-master": ("IE3F23",),
    "placi-with-master": ("IE3F24",),
    "master-link": ("IE3F25",),
    "placi-complete-house": ("IE3F26",),
    "road-rail": ("IE3F34", "IE3F50", "IE3F51"),
    "placi-express": ("IE3F32",),
    "postal-item": ("IE3F43",),
    "postal-receptacle": ("IE3F44",),
}
FAMILY_OF: dict[str, str] = {message: family for family, messages in FAMILIES.items() for message in messages}


def family_of(message_id: str) -> str:
    """The body family of a filing (IE3Fxx) or of its amendment (IE3Axx)."""
    family = FAMILY_OF.get("IE3F" + message_id[4:])
    if family is None:
        raise ValueError(f"{message_id!r} is not an ICS2 filing or amendment")
    return family


# ------------------------------------------------------------------------------------------------
# shared parts


def _location(parent: etree._Element, tag: str, place: Data | None) -> None:
    if not place:
        return
    el = etree.SubElement(parent, tag)
    _text(el, "location", place.get("location"))
    _text(el, "UNLOCODE", place.get("unlocode"))
    if place.get("country"):
        _text(etree.SubElement(el, "address"), "country", place["country"])


def _routing(parent: etree._Element, tag: str, countries: Sequence[str] | None) -> None:
    for sequence, country in enumerate(countries or (), start=1):
        el = etree.SubElement(parent, tag)
        _text(el, "sequenceNumber", sequence)
        _text(el, "country", country)


def _office(parent: etree._Element, office: Data | None) -> None:
    if not office:
        return
    el = etree.SubElement(parent, "customsOfficeOfFirstEntry")
    _text(el, "referenceNumber", office.get("reference_number"))
    _text(el, "expectedDateAndTimeOfArrival", office.get("expected_arrival"))


def _means(parent: etree._Element, means: Data | None) -> None:
    """Active border transport means; its mode of transport is data, not fixed by the filing type."""
    if not means:
        return
    el = etree.SubElement(parent, "activeBorderTransportMeans")
    for key, tag in (
        ("type_of_identification", "typeOfIdentification"),
        ("identification_number", "identificationNumber"),
        ("nationality", "nationality"),
        ("mode_of_transport", "modeOfTransport"),
        ("conveyance_reference_number", "conveyanceReferenceNumber"),
    ):
        _text(el, tag, means.get(key))


def _carriage(parent: etree._Element, data: Data) -> None:
    """CarriageGroup: means, places of loading and unloading, routing of the means, equipment."""
    _means(parent, data.get("active_border_transport_means"))
    _location(parent, "placeOfLoading", data.get("place_of_loading"))
    _location(parent, "placeOfUnloading", data.get("place_of_unloading"))
    _routing(parent, "countriesOfRoutingOfMeansOfTransport", data.get("means_routing_countries"))
    for equipment in data.get("transport_equipment") or ():
        el = etree.SubElement(parent, "transportEquipment")
        _text(el, "containerIdentificationNumber", equipment.get("container_id"))
        seals = list(equipment.get("seals") or ())
        if seals:
            _text(el, "numberOfSeals", len(seals))
        for seal in seals:
            _text(etree.SubElement(el, "seal"), "identifier", seal)


def _supporting_documents(parent: etree._Element, documents: Sequence[Data] | None) -> None:
    for document in documents or ():
        el = etree.SubElement(parent, "supportingDocument")
        _text(el, "referenceNumber", document.get("reference_number"))
        _text(el, "type", document.get("type"))


def _additional_information(parent: etree._Element, items: Sequence[Data] | None) -> None:
    for item in items or ():
        el = etree.SubElement(parent, "additionalInformation")
        _text(el, "code", item.get("code"))
        _text(el, "text", item.get("text"))


def _commodity_code(parent: etree._Element, hs_code: Any) -> None:
    if hs_code:
        code = etree.SubElement(parent, "commodityCode")
        _text(code, "harmonizedSystemSubHeadingCode", str(hs_code)[:6])
        _text(code, "combinedNomenclatureCode", str(hs_code)[6:])


def _packagings(item: Data) -> list[Data]:
    if item.get("packagings"):
        return list(item["packagings"])
    return [{"type": item.get("package_type"), "count": item.get("package_count", 1),
             "marks": item.get("shipping_marks")}]


def _complete_goods_item(parent: etree._Element, number: int, item: Data) -> None:
    el = etree.SubElement(parent, "goodsItem")
    _text(el, "goodsItemNumber", item.get("number", number))
    commodity = etree.SubElement(el, "commodity")
    _text(commodity, "descriptionOfGoods", item.get("description"))
    _commodity_code(commodity, item.get("hs_code"))
    _text(commodity, "cusCode", item.get("cus_code"))
    for un_number in item.get("un_numbers") or ():
        _text(etree.SubElement(commodity, "dangerousGoods"), "UNNumber", un_number)
    if item.get("gross_mass") is not None:
        _text(etree.SubElement(el, "weight"), "grossMass", item["gross_mass"])
    for packaging in _packagings(item):
        pack = etree.SubElement(el, "packaging")
        _text(pack, "typeOfPackages", packaging.get("type"))
        _text(pack, "numberOfPackages", packaging.get("count", 1))
        _text(pack, "shippingMarks", packaging.get("marks"))
    _supporting_documents(el, item.get("supporting_documents"))
    _additional_information(el, item.get("additional_information"))


def _trade_details(parent: etree._Element, data: Data) -> None:
    """TradeDetailsGroup, in schema order (parties, places, documents, goods)."""
    _location(parent, "placeOfAcceptance", data.get("place_of_acceptance"))
    _location(parent, "placeOfDelivery", data.get("place_of_delivery"))
    for key, tag in (("consignor", "consignor"), ("consignee", "consignee"), ("notify_party", "notifyParty"),
                     ("buyer", "buyer"), ("seller", "seller")):
        _party(parent, tag, data.get(key), kind="trade")
    for actor in data.get("supply_chain_actors") or ():
        el = etree.SubElement(parent, "additionalSupplyChainActor")
        _text(el, "role", actor.get("role"))
        _text(el, "identificationNumber", actor.get("identification_number"))
    _routing(parent, "countriesOfRoutingOfConsignment", data.get("routing_countries"))
    if data.get("transport_charges"):
        _text(etree.SubElement(parent, "transportCharges"), "methodOfPayment", data["transport_charges"])
    _supporting_documents(parent, data.get("supporting_documents"))
    _additional_information(parent, data.get("additional_information"))
    for number, item in enumerate(data.get("goods_items") or (), start=1):
        _complete_goods_item(parent, number, item)


def _complete_house(parent: etree._Element, house: Data) -> None:
    el = etree.SubElement(parent, "consignmentHouseLevel")
    _text(el, "containerIndicator", house.get("container_indicator"))
    _text(el, "totalGrossMass", house.get("total_gross_mass"))
    _text(el, "referenceNumberUCR", house.get("reference_number_ucr"))
    _document(el, "transportDocumentHouseLevel", house.get("transport_document"))
    _trade_details(el, house)


def _house_reference(parent: etree._Element, house: Data) -> None:
    el = etree.SubElement(parent, "consignmentHouseLevel")
    _document(el, "transportDocumentHouseLevel", house.get("transport_document"))
    if house.get("filer"):
        _text(etree.SubElement(el, "filer"), "identificationNumber", house["filer"])


def _consignee_information(parent: etree._Element, data: Data) -> None:
    """What the consignee adds (F16/F17): buyer, seller and each goods item's commodity code."""
    _party(parent, "buyer", data.get("buyer"), kind="trade")
    _party(parent, "seller", data.get("seller"), kind="trade")
    for number, item in enumerate(data.get("goods_items") or (), start=1):
        el = etree.SubElement(parent, "goodsItem")
        _text(el, "goodsItemNumber", item.get("number", number))
        commodity = etree.SubElement(el, "commodity")
        _text(commodity, "descriptionOfGoods", item.get("description"))
        _commodity_code(commodity, item.get("hs_code"))


def _master(root: etree._Element, data: Data, *, gross_mass: bool = True) -> etree._Element:
    master = etree.SubElement(root, "consignmentMasterLevel")
    if gross_mass:
        _text(master, "containerIndicator", data.get("container_indicator"))
        _text(master, "totalGrossMass", data.get("total_gross_mass"))
    return master


# ------------------------------------------------------------------------------------------------
# bodies per family


def _straight(root: etree._Element, data: Data) -> None:
    _office(root, data.get("customs_office_of_first_entry"))
    master = _master(root, data)
    _text(master, "referenceNumberUCR", data.get("reference_number_ucr"))
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    _carriage(master, data)
    _trade_details(master, data)


def _master_house(root: etree._Element, data: Data) -> None:
    _office(root, data.get("customs_office_of_first_entry"))
    master = _master(root, data)
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    _carriage(master, data)
    for house in data.get("houses") or ():
        _complete_house(master, house)


def _master_only(root: etree._Element, data: Data) -> None:
    _office(root, data.get("customs_office_of_first_entry"))
    master = _master(root, data)
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    _carriage(master, data)
    for house in data.get("houses") or ():
        _house_reference(master, house)


def _house_level(root: etree._Element, data: Data) -> None:
    _office(root, data.get("customs_office_of_first_entry"))
    master = _master(root, data, gross_mass=False)
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    _location(master, "placeOfLoading", data.get("place_of_loading"))
    _location(master, "placeOfUnloading", data.get("place_of_unloading"))
    for house in data.get("houses") or ():
        _complete_house(master, house)


def _consignee_house(root: etree._Element, data: Data) -> None:
    master = _master(root, data, gross_mass=False)
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    for house in data.get("houses") or ():
        el = etree.SubElement(master, "consignmentHouseLevel")
        _document(el, "transportDocumentHouseLevel", house.get("transport_document"))
        _consignee_information(el, house)


def _consignee_straight(root: etree._Element, data: Data) -> None:
    master = _master(root, data, gross_mass=False)
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    _consignee_information(master, data)


def _placi(root: etree._Element, data: Data, *, master_reference: bool, complete_houses: bool) -> None:
    master = _master(root, data, gross_mass=False)
    if master_reference:
        _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    _location(master, "placeOfLoading", data.get("place_of_loading"))
    _routing(master, "countriesOfRoutingOfConsignment", data.get("routing_countries"))
    for house in data.get("houses") or ():
        if complete_houses:
            _complete_house(master, house)
        else:
            _house(master, "IE3F32", house)  # the PLACI house of F23/F24 is the one of F32


def _master_link(root: etree._Element, data: Data) -> None:
    master = _master(root, data, gross_mass=False)
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    for house in data.get("houses") or ():
        _house_reference(master, house)


def _road_rail(root: etree._Element, data: Data) -> None:
    """Road or rail: complete houses if ``houses`` is non-empty, else goods under the master itself."""
    _office(root, data.get("customs_office_of_first_entry"))
    master = _master(root, data)
    _document(master, "transportDocumentMasterLevel", data.get("master_transport_document"))
    _carriage(master, data)
    houses = data.get("houses") or ()
    if houses:
        for house in houses:
            _complete_house(master, house)
    else:
        _trade_details(master, data)


_BODIES: dict[str, Callable[[etree._Element, Data], None]] = {
    "straight": _straight,
    "master-house": _master_house,
    "master-only": _master_only,
    "house-level": _house_level,
    "consignee-house": _consignee_house,
    "consignee-straight": _consignee_straight,
    "placi-without-master": lambda root, data: _placi(root, data, master_reference=False, complete_houses=False),
    "placi-with-master": lambda root, data: _placi(root, data, master_reference=True, complete_houses=False),
    "master-link": _master_link,
    "placi-complete-house": lambda root, data: _placi(root, data, master_reference=True, complete_houses=True),
    "road-rail": _road_rail,
}


def build_body(root: etree._Element, message_id: str, data: Data) -> None:
    """Append the body of ``message_id`` (a Release 2/3 filing or its amendment) to ``root``, which
    already holds the filing header. Absent optional keys produce no element; nothing is validated."""
    family = family_of(message_id)
    body = _BODIES.get(family)
    if body is None:
        raise ValueError(f"{message_id} is a Release 1 filing: its body is built by scenarios.filings.ics2")
    body(root, data)
