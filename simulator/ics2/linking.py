"""Partial ENS filings linked into one ENS: what links them, when the ENS is complete, what conflicts.

domain/ics2.md "ENS lifecycle": partial filings (master + house, F12/F14 etc.) are linked into one ENS;
if the completion timer expires, IE3N02 goes to the filer and IE3N11 to the parties named but not yet
filed. "Messages": IE3N01 answers a non-unique LRN or non-unique linking keys.

The roles of the filings and the paths of their linking keys are data (``data/linking.json``). This
module is pure: it reads a filing's linking facts from its XML and judges a set of parts; the filing
desk stores the parts and drives the lifecycle (register_partial, link_partial).

Completeness (our reading of the ICD, recorded in linking.json):
- a ``complete`` filing is an ENS on its own;
- otherwise the ENS needs its master-level part (``master`` or ``straight``);
- every house the master names needs a ``house`` part carrying it; a house filed by a ``needs_consignee``
  filing (IE3F14) also needs a ``consignee-house`` part (IE3F16) for that house;
- a ``straight`` part (IE3F13) needs a ``consignee-straight`` part (IE3F17).
A master naming no houses is complete once at least one house is linked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from lxml import etree

from simulator.ics2.replies import find_text

MASTER_LEVEL = frozenset({"master", "straight"})
HOUSE_LEVEL = frozenset({"house", "consignee-house"})


@dataclass(frozen=True)
class LinkingRules:
    roles: Mapping[str, str]  # message id (IE3Fxx) -> role
    needs_consignee: frozenset[str]
    paths: Mapping[str, str]

    def role(self, message_type: str) -> str:
        """The role of a filing (an amendment IE3Axx has the role of its filing IE3Fxx)."""
        return self.roles.get("IE3F" + message_type[4:], "complete")


@lru_cache(maxsize=1)
def linking_rules() -> LinkingRules:
    raw = json.loads(resources.files("simulator.ics2").joinpath("data/linking.json").read_text("utf-8"))
    roles = {message: role for role, messages in raw["roles"].items() for message in messages}
    return LinkingRules(roles, frozenset(raw["needs_consignee"]), dict(raw["paths"]))


@dataclass(frozen=True)
class LinkFacts:
    """What one filing says about the ENS it belongs to."""

    message_type: str
    role: str
    master_document: str | None
    houses: Mapping[str, str | None]  # house document number -> filer named for it (master only)
    carrier: str | None

    @property
    def partial(self) -> bool:
        return self.role != "complete"


def link_facts(root: etree._Element, message_type: str, rules: LinkingRules | None = None) -> LinkFacts:
    """Read the linking keys of a (schema-valid) filing."""
    rules = rules or linking_rules()
    paths = rules.paths
    houses: dict[str, str | None] = {}
    for house in root.iterfind(paths["house"]):
        number = find_text(house, paths["house_document"])
        if number is not None:
            houses[number] = find_text(house, paths["house_filer"])
    return LinkFacts(message_type, rules.role(message_type), find_text(root, paths["master_document"]), houses,
                     find_text(root, paths["carrier"]))


@dataclass(frozen=True)
class Part:
    """A registered filing of a partial ENS, as stored by the desk."""

    mrn: str
    message_type: str
    role: str
    sender: str
    houses: Mapping[str, str | None]

    @classmethod
    def from_row(cls, mrn: str, message_type: str, role: str, sender: str, houses_json: str | None) -> Part:
        houses: dict[str, Any] = json.loads(houses_json or "{}")
        return cls(mrn, message_type, role, sender, {str(k): (str(v) if v else None) for k, v in houses.items()})


@dataclass(frozen=True)
class Completeness:
    complete: bool
    missing: tuple[str, ...] = ()  # what is still awaited, in words (for the journal and IE3N02)
    missing_houses: tuple[str, ...] = ()  # house document numbers named by the master, not yet filed
    parties_not_filed: tuple[str, ...] = field(default=())  # filers named for those houses


def completeness(parts: Sequence[Part], rules: LinkingRules | None = None) -> Completeness:
    """Is the ENS made of `parts` complete? (module docstring: the completeness rules)."""
    rules = rules or linking_rules()
    roles = {part.role for part in parts}
    if "complete" in roles:
        return Completeness(True)
    missing: list[str] = []
    masters = [part for part in parts if part.role in MASTER_LEVEL]
    if not masters:
        missing.append("the master-level filing")
    filed = {number for part in parts if part.role == "house" for number in part.houses}
    consignee = {number for part in parts if part.role == "consignee-house" for number in part.houses}
    needing = {number for part in parts if part.message_type[4:] in {m[4:] for m in rules.needs_consignee}
               for number in part.houses}
    named: dict[str, str | None] = {}
    for master in masters:
        named.update(master.houses)
    missing_houses = sorted(number for number in named if number not in filed)
    if missing_houses:
        missing.append("house filings for " + ", ".join(missing_houses))
    if masters and not named and not filed and not any(m.role == "straight" for m in masters):
        missing.append("at least one house filing")
    lacking_consignee = sorted(needing - consignee)
    if lacking_consignee:
        missing.append("the consignee's information for " + ", ".join(lacking_consignee))
    if any(m.role == "straight" for m in masters) and "consignee-straight" not in roles:
        missing.append("the consignee's information for the straight bill")
    not_filed = sorted({filer for number, filer in named.items() if number in missing_houses and filer})
    return Completeness(not missing, tuple(missing), tuple(missing_houses), tuple(not_filed))


def conflict(parts: Iterable[Part], new: LinkFacts) -> str | None:
    """Why `new` cannot join the ENS of `parts` (IE3N01 non-unique linking keys), or None."""
    parts = list(parts)
    if new.role in MASTER_LEVEL and any(part.role in MASTER_LEVEL for part in parts):
        return "the master transport document is already filed for this ENS (non-unique linking key)"
    if new.role == "consignee-straight" and any(part.role == "consignee-straight" for part in parts):
        return "the consignee's information for this straight bill is already filed (non-unique linking key)"
    if new.role in HOUSE_LEVEL:
        same_role = {number for part in parts if part.role == new.role for number in part.houses}
        twice = sorted(set(new.houses) & same_role)
        if twice:
            return f"house transport document(s) {', '.join(twice)} already filed for this ENS (non-unique linking key)"
    return None


def houses_json(houses: Mapping[str, str | None]) -> str:
    return json.dumps(dict(houses), sort_keys=True, separators=(",", ":"))

