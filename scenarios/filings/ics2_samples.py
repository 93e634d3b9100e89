"""Deterministic sample business data for every ICS2 filing (keys: :mod:`scenarios.filings.ics2` and
:mod:`scenarios.filings.ics2_bodies`).

Samples pass our XSDs and the simulator's data-quality rules (domain/ics2.md "Data-quality rules"):
6-digit HS sub-headings with optional 2-digit CN extensions, specific goods descriptions (never a
stop word), real party names, EORIs of the form "BE0123456789", UTC date-times. The mode of transport
of each filing follows its ICD Annex 1 category (domain/ics2.md "Releases": R2 air, R3 sea, road,
rail); postal and express filings travel by the mode their dataset names.

Linking keys (domain/ics2.md "ENS lifecycle": partial filings are linked into one ENS): the master
transport document number comes from ``master_document`` (else a fixed number per mode); house
transport document numbers come from ``house_documents``, else they are derived from the master
number (``<master>H001``, ``<master>H002`` ...), so that samples for different masters never share a
house number.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from scenarios.filings.ics2_bodies import family_of
from scenarios.filings.ics2_xml import _address_of, _common

__all__ = ["MODE_OF", "carriage", "placi_house", "reshape_release1", "sample"]

DocumentArg = str | Mapping[str, Any] | None

MODE_OF: dict[str, str] = {
    **dict.fromkeys(("IE3F10", "IE3F11", "IE3F12", "IE3F13", "IE3F14", "IE3F15", "IE3F16", "IE3F17",
                     "IE3F45"), "sea"),
    **dict.fromkeys(("IE3F20", "IE3F21", "IE3F22", "IE3F23", "IE3F24", "IE3F25", "IE3F26", "IE3F27",
                     "IE3F28", "IE3F29", "IE3F30", "IE3F31", "IE3F32", "IE3F33", "IE3F42", "IE3F43",
                     "IE3F44"), "air"),
    **dict.fromkeys(("IE3F34", "IE3F40", "IE3F50"), "road"),
    **dict.fromkeys(("IE3F41", "IE3F51"), "rail"),
}

_PLACE: dict[str, tuple[str, str, str]] = {  # key -> (location, UN/LOCODE, country)
    "shanghai": ("Shanghai", "CNSHA", "CN"), "antwerp": ("Antwerp", "BEANR", "BE"),
    "hongkong": ("Hong Kong", "HKHKG", "HK"), "frankfurt": ("Frankfurt am Main", "DEFRA", "DE"),
    "istanbul": ("Istanbul", "TRIST", "TR"), "sofia": ("Sofia", "BGSOF", "BG"),
    "chengdu": ("Chengdu", "CNCTU", "CN"), "lodz": ("Lodz", "PLLOD", "PL"),
    "duisburg": ("Duisburg", "DEDUI", "DE"), "shenzhen": ("Shenzhen", "CNSZX", "CN"),
}

# Per mode: carriage of the master, document numbers and types (CL754), office of first entry.
_MODES: dict[str, dict[str, Any]] = {
    "sea": {
        "mass_factor": Decimal("100"),  # a container or truck carries more than a parcel
        "means": {"type_of_identification": "10", "identification_number": "9321483", "nationality": "MT",
                  "mode_of_transport": "1", "conveyance_reference_number": "0MW4RE1MA"},
        "loading": "shanghai", "unloading": "antwerp", "means_routing": ["CN", "SG", "EG", "BE"],
        "equipment": [{"container_id": "MSCU4521873", "seals": ["CN7345120"]},
                      {"container_id": "MSCU4521899", "seals": ["CN7345121", "CN7345122"]}],
        "office": ("BE101000", "2024-07-08T06:00:00Z"), "container": "1",
        "carrier": {"name": "Mediterranean Blue Line SA", "identification_number": "BE0412345678"},
        "master": ("MEDU4512378901", "N704"), "straight": ("MEDU4512378955", "N705"), "house_type": "N714",
    },
    "air": {
        "mass_factor": Decimal("1"),  # a container or truck carries more than a parcel
        "means": {"type_of_identification": "40", "identification_number": "LH8401", "nationality": "DE",
                  "mode_of_transport": "4", "conveyance_reference_number": "LH8401"},
        "loading": "hongkong", "unloading": "frankfurt", "means_routing": ["HK", "AE", "DE"],
        "equipment": [{"container_id": "AKE12345LH"}],
        "office": ("DE004700", "2024-06-04T05:40:00Z"), "container": "0",
        "carrier": {"name": "Lufthansa Cargo AG", "identification_number": "DE1234567890123"},
        "master": ("020-41234566", "N741"), "straight": ("020-41234570", "N740"), "house_type": "N740",
    },
    "road": {
        "mass_factor": Decimal("40"),  # a container or truck carries more than a parcel
        "means": {"type_of_identification": "30", "identification_number": "34ABC123", "nationality": "TR",
                  "mode_of_transport": "3"},
        "loading": "istanbul", "unloading": "sofia", "means_routing": ["TR", "BG"],
        "equipment": [{"container_id": "34XY9876", "seals": ["TR0048811"]}],
        "office": ("BG005800", "2024-06-05T14:00:00Z"), "container": "0",
        "carrier": {"name": "Anatolia Road Freight AS", "identification_number": "BG204567890"},
        "master": ("CMR-TR-2406-0042", "N730"), "straight": ("CMR-TR-2406-0042", "N730"), "house_type": "N703",
    },
    "rail": {
        "mass_factor": Decimal("100"),  # a container or truck carries more than a parcel
        "means": {"type_of_identification": "20", "identification_number": "X8024", "nationality": "CN",
                  "mode_of_transport": "2", "conveyance_reference_number": "X8024-2406"},
        "loading": "chengdu", "unloading": "lodz", "means_routing": ["CN", "KZ", "RU", "BY", "PL"],
        "equipment": [{"container_id": "TGHU4521873", "seals": ["CR2406118"]}],
        "office": ("PL301010", "2024-06-21T09:00:00Z"), "container": "1",
        "carrier": {"name": "Eurasia Rail Logistics Sp. z o.o.", "identification_number": "PL5272345678"},
        "master": ("CIM-CN-24-061802", "N720"), "straight": ("CIM-CN-24-061802", "N720"), "house_type": "N703",
    },
}

# Goods: description (specific, never a stop word), HS code (6 + optional CN), package type, gross mass kg,
# optional CUS code and UN number (dangerous goods).
_GOODS: tuple[tuple[str, str, str, str, str | None, str | None], ...] = (
    ("Men's cotton T-shirts, knitted", "61091000", "CT", "12.4", None, None),
    ("Stainless steel kitchen knives", "821191", "BX", "8.75", None, None),
    ("Porcelain tea cups and saucers", "69111000", "BX", "15.2", None, None),
    ("Printed silk scarves for women", "621410", "PK", "3.6", None, None),
    ("Lithium-ion batteries for laptops, 14.4 V", "850760", "BX", "22.5", None, "3480"),
    ("Wooden dining chairs of oak, unassembled", "940161", "CT", "48.0", None, None),
    ("Rubber tyres for bicycles, 28 inch", "401150", "PK", "19.3", None, None),
    ("Roasted coffee beans, not decaffeinated", "09012100", "BG", "60.0", None, None),
    ("Citric acid, anhydrous, food grade", "291814", "BG", "25.0", "0017608-4", None),
    ("Women's leather handbags", "420221", "CT", "9.8", None, None),
    ("Plastic toy building brick sets", "950300", "CT", "14.1", None, None),
    ("Cotton terry bath towels", "630260", "BL", "30.5", None, None),
)

_CONSIGNORS = (
    ("Shenzhen Bright Trading Co., Ltd.", ("Keyuan Road", "88", "518057", "Shenzhen", "CN")),
    ("Ningbo Harbour Export Corp.", ("Zhongshan East Road", "181", "315000", "Ningbo", "CN")),
    ("Kowloon Precision Goods Ltd.", ("Nathan Road", "300", "999077", "Hong Kong", "HK")),
    ("Bursa Tekstil Sanayi AS", ("Ataturk Caddesi", "12", "16050", "Bursa", "TR")),
)
_CONSIGNEES = (
    ("Rhein Handelsgesellschaft mbH", "DE4711000000123", ("Hafenstrasse", "7", "47119", "Duisburg", "DE")),
    ("Maison Lefevre SARL", "FR12345678901", ("Rue de Rivoli", "54", "75001", "Paris", "FR")),
    ("Vlaamse Woninginrichting BV", "BE0456789012", ("Meir", "23", "2000", "Antwerpen", "BE")),
    ("Casa Rossi SRL", "IT01234567890", ("Via Torino", "9", "20123", "Milano", "IT")),
)
_FORWARDER = "NL812345678B01"


def _place(key: str) -> dict[str, str]:
    location, unlocode, country = _PLACE[key]
    return {"location": location, "unlocode": unlocode, "country": country}


def _trade_party(name: str, address: tuple[str, str, str, str, str], ident: str | None = None) -> dict[str, Any]:
    party: dict[str, Any] = {"name": name, "type_of_person": "2", "address": _address_of(*address)}
    if ident:
        party["identification_number"] = ident
    return party


def _document(value: DocumentArg, default: tuple[str, str]) -> dict[str, Any]:
    if value is None:
        return {"number": default[0], "type": default[1]}
    if isinstance(value, str):
        return {"number": value, "type": default[1]}
    return {"number": value["number"], "type": value.get("type", default[1])}


def _house_documents(master: Mapping[str, Any], house_type: str, houses: int,
                     given: Sequence[DocumentArg] | None) -> list[dict[str, Any]]:
    if given is not None:
        return [_document(value, ("", house_type)) for value in given]
    stem = "".join(ch for ch in str(master["number"]) if ch.isalnum())
    return [{"number": f"{stem}H{index:03d}", "type": house_type} for index in range(1, houses + 1)]


def _goods(first: int, count: int, mass_factor: Decimal = Decimal(1)) -> list[dict[str, Any]]:
    """``count`` goods items, the first being the ``first``-th of the sample catalogue (cycling)."""
    items = []
    for position in range(first, first + count):
        description, hs_code, package_type, mass, cus_code, un_number = _GOODS[position % len(_GOODS)]
        item: dict[str, Any] = {
            "description": description, "hs_code": hs_code, "gross_mass": str(Decimal(mass) * mass_factor),
            "package_count": 1 + position % 7, "package_type": package_type,
            "shipping_marks": f"ICS-{position + 1:05d}",
        }
        if cus_code:
            item["cus_code"] = cus_code
        if un_number:
            item["un_numbers"] = [un_number]
        items.append(item)
    return items


def _total(masses: Sequence[Any]) -> str:
    return str(sum((Decimal(str(mass)) for mass in masses), Decimal(0)))


def _trade_details(index: int, first_goods: int, goods: int, mode: Mapping[str, Any]) -> dict[str, Any]:
    """Trade details of the ``index``-th consignment (0-based): parties, places, documents and goods."""
    consignor_name, consignor_address = _CONSIGNORS[index % len(_CONSIGNORS)]
    consignee_name, consignee_id, consignee_address = _CONSIGNEES[index % len(_CONSIGNEES)]
    consignor = _trade_party(consignor_name, consignor_address)
    consignee = _trade_party(consignee_name, consignee_address, consignee_id)
    items = _goods(first_goods, goods, mode["mass_factor"])
    return {
        "total_gross_mass": _total([item["gross_mass"] for item in items]),
        "place_of_acceptance": _place(mode["loading"]),
        "place_of_delivery": _place(mode["unloading"]),
        "consignor": consignor,
        "consignee": consignee,
        "buyer": copy.deepcopy(consignee),
        "seller": copy.deepcopy(consignor),
        "supply_chain_actors": [{"role": "FW", "identification_number": _FORWARDER}],
        "routing_countries": list(mode["means_routing"]),
        "transport_charges": "H",
        "supporting_documents": [{"reference_number": f"INV-2406-{index + 1:05d}", "type": "N380"}],
        "goods_items": items,
    }


def _complete_houses(documents: Sequence[Mapping[str, Any]], counts: Sequence[int],
                     mode: Mapping[str, Any]) -> list[dict[str, Any]]:
    houses, first = [], 0
    for index, (document, count) in enumerate(zip(documents, counts, strict=True)):
        houses.append({"transport_document": dict(document), **_trade_details(index, first, count, mode)})
        first += count
    return houses


def _without_consignee_information(details: dict[str, Any]) -> dict[str, Any]:
    """A partial dataset lacking the consignee's necessary information (F13, F14): no buyer, seller or
    commodity codes; those come in the consignee's own filing (F17, F16)."""
    details = {key: value for key, value in details.items() if key not in {"buyer", "seller"}}
    details["goods_items"] = [{k: v for k, v in item.items() if k != "hs_code"} for item in details["goods_items"]]
    return details


def _consignee_information(details: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "buyer": details["buyer"], "seller": details["seller"],
        "goods_items": [{"number": number, "description": item["description"], "hs_code": item["hs_code"]}
                        for number, item in enumerate(details["goods_items"], start=1)],
    }


def placi_house(house: Mapping[str, Any]) -> dict[str, Any]:
    """The PLACI minimum dataset of a complete house (F23, F24, F32: document, mass, parties, goods)."""
    keys = ("transport_document", "total_gross_mass", "consignor", "consignee", "goods_items")
    return {key: house[key] for key in keys}


def carriage(mode_name: str) -> dict[str, Any]:
    """Sample carriage data of a mode ("sea", "air", "road", "rail"): office of first entry with expected
    arrival, container indicator, active border transport means, places, routing, equipment."""
    return _carriage(_MODES[mode_name])


def _carriage(mode: dict[str, Any]) -> dict[str, Any]:
    office, arrival = mode["office"]
    return {
        "customs_office_of_first_entry": {"reference_number": office, "expected_arrival": arrival},
        "container_indicator": mode["container"],
        "active_border_transport_means": dict(mode["means"]),
        "place_of_loading": _place(mode["loading"]),
        "place_of_unloading": _place(mode["unloading"]),
        "means_routing_countries": list(mode["means_routing"]),
        "transport_equipment": copy.deepcopy(mode["equipment"]),
    }


_HEADER_KEYS = ("lrn", "message_sender", "document_issue_date", "specific_circumstance_indicator", "declarant",
                "representative", "carrier")
_NO_HOUSES_BY_DEFAULT = frozenset({"IE3F50", "IE3F51"})  # a road/rail consignment note without houses


def _goods_per_house(goods_per_house: int | None) -> int:
    goods = 2 if goods_per_house is None else goods_per_house
    if goods < 1:
        raise ValueError(f"goods_per_house must be at least 1, got {goods}")
    return goods


def _goods_counts(message_id: str, family: str, houses: int | None, goods_per_house: int | None,
                  house_documents: Sequence[DocumentArg] | None) -> list[int]:
    """Goods items per house, one entry per house (empty: goods under the master itself)."""
    goods = _goods_per_house(goods_per_house)
    if house_documents is not None:
        if houses is not None and houses != len(house_documents):
            raise ValueError(f"houses={houses} but {len(house_documents)} house documents were given")
        houses = len(house_documents)
    if houses is None:
        houses = 0 if message_id in _NO_HOUSES_BY_DEFAULT else 2
    minimum = 0 if family in {"master-only", "road-rail"} else 1
    if houses < minimum:
        raise ValueError(f"{message_id} ({family}) needs at least {minimum} house(s), got {houses}")
    return [goods] * houses


def sample(message_id: str, *, lrn: str, eori: str, houses: int | None = None, goods_per_house: int | None = None,
           master_document: DocumentArg = None, house_documents: Sequence[DocumentArg] | None = None,
           goods_counts: Sequence[int] | None = None) -> dict[str, Any]:
    """A valid dataset for a Release 2/3 filing ``message_id`` (see :func:`scenarios.filings.ics2.sample_data`).

    ``houses`` (default 2; F50/F51 default 0 = goods under the master) and ``goods_per_house`` (default 2;
    for straight documents and house-less road/rail consignments: the goods items at master level) shape
    it; ``goods_counts`` (goods items per house) overrides both, for uneven houses. Straight documents
    (F10, F13, F17, F28, F29) have no houses: ``houses`` and ``house_documents`` are ignored.
    """
    family = family_of(message_id)
    mode = _MODES[MODE_OF[message_id]]
    data = _common(message_id, lrn, eori)
    data["declarant"]["name"] = "Eurofreight Logistics NV"
    data["declarant"]["communications"] = [{"identifier": "ens-desk@eurofreight.example", "type": "EM"}]
    data["carrier"] = dict(mode["carrier"])
    straight = family in {"straight", "consignee-straight"}
    master = _document(master_document, mode["straight" if straight else "master"])
    data["master_transport_document"] = master
    data.update(_carriage(mode))
    if straight:
        counts: list[int] = []
    elif goods_counts is not None:
        counts = list(goods_counts)
    else:
        counts = _goods_counts(message_id, family, houses, goods_per_house, house_documents)
    goods = goods_counts[0] if goods_counts else _goods_per_house(goods_per_house)
    if straight or (family == "road-rail" and not counts):  # goods under the master itself
        details = _trade_details(0, 0, goods, mode)
        if family == "consignee-straight":
            kept = {key: data[key] for key in _HEADER_KEYS}
            return {**kept, "master_transport_document": master, **_consignee_information(details)}
        if message_id == "IE3F13":
            details = _without_consignee_information(details)
        if straight:
            data["reference_number_ucr"] = "4" + "".join(ch for ch in master["number"] if ch.isalnum())[:30]
        data.update(details)
        return data
    documents = _house_documents(master, mode["house_type"], len(counts), house_documents)
    complete = _complete_houses(documents, counts, mode)
    # a master naming no houses (yet) still declares the gross mass of the whole consignment
    masses = [house["total_gross_mass"] for house in complete]
    masses = masses or [_trade_details(0, 0, goods, mode)["total_gross_mass"]]
    data["total_gross_mass"] = _total(masses)
    data["houses"] = _shape_houses(message_id, family, complete)
    return _trim(family, data)


def _shape_houses(message_id: str, family: str, complete: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if family in {"master-only", "master-link"}:
        return [{"transport_document": house["transport_document"]} for house in complete]
    if family == "consignee-house":
        return [{"transport_document": house["transport_document"], **_consignee_information(house)}
                for house in complete]
    if family in {"placi-without-master", "placi-with-master"}:
        return [placi_house(house) for house in complete]
    if message_id == "IE3F14":
        return [_without_consignee_information(house) for house in complete]
    return complete


_KEPT_BY_FAMILY: dict[str, frozenset[str]] = {
    "house-level": frozenset({"master_transport_document", "customs_office_of_first_entry", "place_of_loading",
                              "place_of_unloading"}),
    "consignee-house": frozenset({"master_transport_document"}),
    "master-link": frozenset({"master_transport_document"}),
    "placi-without-master": frozenset({"place_of_loading", "routing_countries"}),
    "placi-with-master": frozenset({"master_transport_document", "place_of_loading", "routing_countries"}),
    "placi-complete-house": frozenset({"master_transport_document", "place_of_loading", "routing_countries"}),
}


def _trim(family: str, data: dict[str, Any]) -> dict[str, Any]:
    """Keep only what the family's body carries (house-level and PLACI masters have no carriage), so that
    a sample reads like the filing it builds."""
    kept = _KEPT_BY_FAMILY.get(family)
    if kept is None:
        return data
    data["routing_countries"] = list(data["means_routing_countries"])
    return {key: value for key, value in data.items() if key in kept or key in _HEADER_KEYS or key == "houses"}


def reshape_release1(message_id: str, data: dict[str, Any], *, houses: int | None, goods_per_house: int | None,
                     master_document: DocumentArg, house_documents: Sequence[DocumentArg] | None) -> dict[str, Any]:
    """Apply the shape arguments of ``sample_data`` to a Release 1 PLACI sample (F32, F43, F44); without
    them the sample is left as it is."""
    if master_document is not None:
        current = data["master_transport_document"]
        data["master_transport_document"] = _document(master_document, (current["number"], current["type"]))
    if houses is None and goods_per_house is None and house_documents is None:
        return data
    counts = _goods_counts(message_id, "placi", len(data["houses"]) if houses is None and house_documents is None
                           else houses, goods_per_house, house_documents)
    if message_id == "IE3F44":  # receptacles of one despatch: no goods
        despatch = data["houses"][0]["transport_document"]
        documents = ([_document(value, ("", "N750")) for value in house_documents] if house_documents is not None
                     else [dict(despatch) for _ in counts])
        data["houses"] = [{"receptacle_id": f"CNSZXABEBRUAAUN40001{index + 1:03d}11{50 + index:04d}",
                           "transport_document": document} for index, document in enumerate(documents)]
        return data
    if message_id == "IE3F43" and house_documents is None:
        documents = [{"number": _upu_item_id(index + 1), "type": "N750"} for index in range(len(counts))]
    else:
        documents = _house_documents(data["master_transport_document"], "N740", len(counts), house_documents)
    data["houses"] = [placi_house(house) for house in _complete_houses(documents, counts, _MODES["air"])]
    if message_id == "IE3F43":
        for index, house in enumerate(data["houses"]):
            house["receptacle_id"] = f"CNSZXABEBRUAAUN40001{index + 1:03d}110050"
    return data


_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def _upu_item_id(serial: int) -> str:
    """UPU S10 item identifier: service indicator, 8 digits, check digit, origin country."""
    digits = f"{12345600 + serial:08d}"
    check = 11 - sum(int(digit) * weight for digit, weight in zip(digits, _S10_WEIGHTS, strict=True)) % 11
    check = {10: 0, 11: 5}.get(check, check)
    return f"RR{digits}{check}CN"
