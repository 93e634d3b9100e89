"""Partial ENS filings: linking keys read from the XML, completeness and non-unique linking keys
(simulator/ics2/linking.py, data/linking.json; domain/ics2.md "ENS lifecycle")."""

from __future__ import annotations

from lxml import etree

from scenarios.filings.ics2 import build_filing, sample_data
from scenarios.filings.ics2_sets import partial_set
from simulator.ics2.linking import LinkFacts, Part, completeness, conflict, link_facts, linking_rules

EORI, HOUSE_FILER = "BE0123456789", "NL123456789"


def _facts(message: str, data: dict[str, object]) -> LinkFacts:
    return link_facts(etree.fromstring(build_filing(message, data)), message)  # type: ignore[arg-type]


def _part(facts: LinkFacts, n: int, sender: str = EORI) -> Part:
    return Part(f"MRN{n}", facts.message_type, facts.role, sender, facts.houses)


def test_every_filing_has_one_role_and_amendments_take_their_filings_role() -> None:
    rules = linking_rules()
    assert len(rules.roles) == 31 and set(rules.roles.values()) == {
        "complete", "master", "straight", "house", "consignee-house", "consignee-straight"}
    assert rules.role("IE3A12") == rules.role("IE3F12") == "master"
    assert rules.role("IE3F32") == "complete"


def test_master_names_its_houses_and_their_filer() -> None:
    [(master_id, master), (house_id, house)] = partial_set("sea-master-house", lrn_prefix="L", eori=EORI,
                                                           master_document="MBL0001", houses=1,
                                                           house_filer=HOUSE_FILER)
    facts = _facts(master_id, master)
    assert (facts.role, facts.master_document) == ("master", "MBL0001")
    assert list(facts.houses.values()) == [HOUSE_FILER]
    house_facts = _facts(house_id, house)
    assert (house_facts.role, house_facts.master_document) == ("house", "MBL0001")
    assert set(house_facts.houses) == set(facts.houses)  # the house filing carries the named house


def test_completeness_waits_for_every_named_house_and_names_who_has_not_filed() -> None:
    members = partial_set("sea-master-house", lrn_prefix="L", eori=EORI, master_document="MBL0002", houses=2,
                          house_filer=HOUSE_FILER)
    master = _part(_facts(*members[0]), 1)
    alone = completeness([master])
    assert not alone.complete and len(alone.missing_houses) == 2 and alone.parties_not_filed == (HOUSE_FILER,)
    first_house = _part(_facts(*members[1]), 2, HOUSE_FILER)
    assert completeness([master, first_house]).missing_houses == alone.missing_houses[1:]
    houses = [_part(_facts(*m), i + 2, HOUSE_FILER) for i, m in enumerate(members[1:])]
    assert completeness([master, *houses]).complete


def test_house_without_consignee_information_needs_it_and_straight_bill_needs_its_consignee() -> None:
    members = partial_set("sea-consignee", lrn_prefix="L", eori=EORI, master_document="MBL0003", houses=1)
    parts = [_part(_facts(m, d), i) for i, (m, d) in enumerate(members)]
    assert [p.message_type for p in parts] == ["IE3F12", "IE3F14", "IE3F16"]
    assert not completeness(parts[:2]).complete
    assert "consignee" in completeness(parts[:2]).missing[0]
    assert completeness(parts).complete
    straight = [_part(_facts(m, d), i) for i, (m, d) in enumerate(
        partial_set("sea-straight", lrn_prefix="S", eori=EORI, master_document="SBL0001"))]
    assert not completeness(straight[:1]).complete and completeness(straight).complete


def test_complete_filing_is_an_ens_on_its_own_and_a_house_alone_waits_for_its_master() -> None:
    complete = _facts("IE3F32", sample_data("IE3F32", lrn="C1", eori=EORI))
    assert not complete.partial and completeness([_part(complete, 1)]).complete
    members = partial_set("sea-master-house", lrn_prefix="L", eori=EORI, master_document="MBL0004", houses=1)
    house_only = completeness([_part(_facts(*members[1]), 1)])
    assert not house_only.complete and house_only.missing[0] == "the master-level filing"


def test_non_unique_linking_keys() -> None:
    members = partial_set("sea-master-house", lrn_prefix="L", eori=EORI, master_document="MBL0005", houses=1)
    master, house = _facts(*members[0]), _facts(*members[1])
    parts = [_part(master, 1), _part(house, 2)]
    assert "master transport document is already filed" in (conflict(parts, master) or "")
    assert "already filed for this ENS" in (conflict(parts, house) or "")
    assert conflict(parts[:1], house) is None
