"""Linked partial ENS filings and filings of a chosen size (client side: lxml and stdlib only).

domain/ics2.md "ENS lifecycle": partial filings (master + house, F12/F14 etc.) are linked into one ENS,
and the ENS is complete when every part has been filed; "Messages": a master-only filing may name the
party obliged to file each house (it receives IE3N11 when the completion timer expires first).

:func:`partial_set` returns the filings that together complete one ENS, master first. What links them:

* the **master transport document number** (``master_transport_document["number"]``) is the same in
  every member: the master-level filing declares it, every house-level and consignee filing refers to it;
* the **house transport document numbers**: the master-level filing names each house
  (``houses[i]["transport_document"]``), and exactly one house filing carries that house (one house per
  house filing); the consignee's filing of that house (IE3F16) carries the same number;
* for a straight bill (IE3F13 + IE3F17) the master document number alone links the two, and the goods
  item numbers of IE3F17 are those of IE3F13.

Who files: master-level members (IE3F12, IE3F13, IE3F17, IE3F21, IE3F25) are declared by ``eori``;
house-level members (IE3F14, IE3F15, IE3F16, IE3F22, IE3F24) by ``house_filer`` if given, else by
``eori``. ``house_filer`` is also written as the ``filer`` of each house the master names. Send each
member as the party in its ``message_sender``.

IE3F23 (PLACI without master reference) is an ENS on its own in the simulator's linking rules
(``simulator/ics2/data/linking.json``), so the air PLACI set links IE3F24 houses to an IE3F25.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from scenarios.filings.ics2 import FilingMessageId, build_filing, sample_data
from scenarios.filings.ics2_bodies import family_of
from scenarios.filings.ics2_samples import sample

__all__ = ["PARTIAL_SET_KINDS", "SIZED_FAMILIES", "partial_set", "sized_filing"]

# kind -> (master-level filing, house-level filing or None, consignee filing or None)
PARTIAL_SET_KINDS: Final[dict[str, tuple[FilingMessageId, FilingMessageId | None, FilingMessageId | None]]] = {
    "sea-master-house": ("IE3F12", "IE3F15", None),
    "sea-consignee": ("IE3F12", "IE3F14", "IE3F16"),
    "sea-straight": ("IE3F13", None, "IE3F17"),
    "air-master-house": ("IE3F21", "IE3F22", None),
    "air-placi": ("IE3F25", "IE3F24", None),
}
_LRN_MAX: Final = 22  # LRN is an..22 (domain/ics2.md "Messages")

Member = tuple[FilingMessageId, dict[str, Any]]


def _lrn(prefix: str, suffix: str) -> str:
    lrn = f"{prefix}-{suffix}"
    if len(lrn) > _LRN_MAX:
        raise ValueError(f"LRN {lrn!r} is longer than {_LRN_MAX} characters: shorten lrn_prefix")
    return lrn


def _one_house_each(message_id: FilingMessageId, full: Mapping[str, Any], prefix: str, tag: str) -> list[Member]:
    """Split a filing of all houses into one filing per house, each with its own LRN."""
    members: list[Member] = []
    for number, house in enumerate(full["houses"], start=1):
        data = copy.deepcopy(dict(full))
        data["houses"] = [copy.deepcopy(house)]
        data["lrn"] = _lrn(prefix, f"{tag}{number}")
        members.append((message_id, data))
    return members


def partial_set(
    kind: str,
    *,
    lrn_prefix: str,
    eori: str,
    master_document: str | Mapping[str, Any],
    houses: int = 2,
    house_filer: str | None = None,
    goods_per_house: int = 2,
) -> list[Member]:
    """The ordered (message id, data) filings that together complete one ENS (module docstring: how they
    link and who files them). ``kind``: one of :data:`PARTIAL_SET_KINDS`. LRNs are
    ``<lrn_prefix>-M`` (master level), ``-H1``.. (houses), ``-C1``.. / ``-C`` (consignee information).
    ``houses`` does not apply to a straight bill; ``goods_per_house`` is then its number of goods items.
    """
    if kind not in PARTIAL_SET_KINDS:
        raise ValueError(f"unknown partial set {kind!r}; expected one of {sorted(PARTIAL_SET_KINDS)}")
    master_id, house_id, consignee_id = PARTIAL_SET_KINDS[kind]
    house_eori = house_filer or eori
    shape: dict[str, Any] = {"master_document": master_document, "goods_per_house": goods_per_house}
    if house_id is None:  # straight bill: the carrier's document and the consignee's information
        assert consignee_id is not None
        straight = sample_data(master_id, lrn=_lrn(lrn_prefix, "M"), eori=eori, **shape)
        consignee = sample_data(consignee_id, lrn=_lrn(lrn_prefix, "C"), eori=eori, **shape)
        return [(master_id, straight), (consignee_id, consignee)]
    master = sample_data(master_id, lrn=_lrn(lrn_prefix, "M"), eori=eori, houses=houses, **shape)
    if house_filer:
        for named in master["houses"]:
            named["filer"] = house_filer
    named_documents = [named["transport_document"] for named in master["houses"]]
    members: list[Member] = [(master_id, master)]
    full = sample_data(house_id, lrn=lrn_prefix, eori=house_eori, house_documents=named_documents, **shape)
    members += _one_house_each(house_id, full, lrn_prefix, "H")
    if consignee_id is not None:
        full = sample_data(consignee_id, lrn=lrn_prefix, eori=house_eori, house_documents=named_documents, **shape)
        members += _one_house_each(consignee_id, full, lrn_prefix, "C")
    return members


# ------------------------------------------------------------------------------------------------
# filings of a chosen size (load tests: payload size is a load dimension of its own)

SIZED_FAMILIES: Final = frozenset({"master-house", "house-level", "placi-complete-house", "road-rail"})
_GOODS_PER_HOUSE: Final = 3  # typical house size used to choose the number of houses
_TOLERANCE: Final = 0.10


def _sized_payload(message_id: FilingMessageId, lrn: str, eori: str, houses: int, goods: int) -> bytes:
    """``goods`` goods items spread evenly over ``houses`` houses (the first houses take the remainder)."""
    counts = [goods // houses + (1 if index < goods % houses else 0) for index in range(houses)]
    return build_filing(message_id, sample(message_id, lrn=lrn, eori=eori, goods_counts=counts))


def sized_filing(message_id: FilingMessageId, *, lrn: str, eori: str, target_bytes: int) -> bytes:
    """A valid complete filing with house consignments (e.g. IE3F11, IE3F20; families in
    :data:`SIZED_FAMILIES`) whose serialised size is within ±10 % of ``target_bytes``.

    The number of houses is chosen for about three goods items per house; the number of goods items,
    spread over those houses, is then the one whose size comes closest to the target (one goods item is a
    few hundred bytes, well inside the tolerance from 10 KB up). Deterministic: same arguments, same
    bytes. Raises ValueError if the family has no complete houses or the target is out of reach.
    """
    if family_of(message_id) not in SIZED_FAMILIES:
        raise ValueError(f"{message_id} has no complete house consignments; use one of the families "
                         f"{sorted(SIZED_FAMILIES)}")

    def size(houses: int, goods: int) -> int:
        return len(_sized_payload(message_id, lrn, eori, houses, goods))

    one_house = size(1, _GOODS_PER_HOUSE)
    per_house = size(2, 2 * _GOODS_PER_HOUSE) - one_house
    houses = max(1, 1 + round((target_bytes - one_house) / per_house))
    while houses > 1 and size(houses, houses) > target_bytes:
        houses -= 1
    low, high = houses, houses * 2 * _GOODS_PER_HOUSE
    while size(houses, high) < target_bytes:
        low, high = high, high * 2
        if high > 99_999:
            raise ValueError(f"target of {target_bytes} bytes is out of reach")
    while high - low > 1:  # smallest goods count reaching the target (size grows with the goods count)
        middle = (low + high) // 2
        if size(houses, middle) >= target_bytes:
            high = middle
        else:
            low = middle
    best = min((high, low), key=lambda goods: (abs(size(houses, goods) - target_bytes), goods))
    payload = _sized_payload(message_id, lrn, eori, houses, best)
    if abs(len(payload) - target_bytes) > _TOLERANCE * target_bytes:
        raise ValueError(f"cannot build {message_id} within 10 % of {target_bytes} bytes "
                         f"(closest: {len(payload)} bytes)")
    return payload
