"""Steps for partial filings, arrival and consultation (features/ics2/partial_filings.feature,
arrival_consultation.feature), with several traders in one scenario.

Each trader's software is the system under test (scenarios/drivers/observed.py); customs-side facts (the
ENS register, its lifecycle) are read through the control API; what a trader received is read from the
messages it fetched (ics2_inbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from scenarios.drivers.observed import Received, Sent, SystemUnderTest
from scenarios.filings.ics2 import sample_data
from scenarios.filings.ics2_sets import partial_set
from scenarios.simctl import SimControl
from scenarios.steps.ics2_inbox import Inbox
from scenarios.steps.scene import Scene

MASTER_TYPE = "N705"  # CL754 bill of lading; the sample master documents of the sea sets use it


@dataclass
class Flow:
    """What a multi-party scenario remembers: the partial set, who filed what, the last results."""

    members: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    filed: list[tuple[str, str, Sent]] = field(default_factory=list)  # (trader, message type, outcome)
    master_document: str | None = None
    house_documents: list[str] = field(default_factory=list)
    carrier: str | None = None  # trader named as carrier of the next filing
    last: Received | None = None
    sets: int = 0


@pytest.fixture
def flow() -> Flow:
    return Flow()


def _receipted(sent: Sent, what: str) -> Sent:
    assert sent.receipt, f"{what} was not receipted: {sent.describe()}"
    return sent


# -- partial filings ------------------------------------------------------------------------------------
def _new_set(sut: SystemUnderTest, flow: Flow, filer: str, message: str, houses: int, house_filer: str,
             master: str | None = None) -> None:
    flow.sets += 1
    flow.master_document = master or f"MBL{sut.upcoming_lrn(filer)[-6:]}{flow.sets:02d}"
    flow.members = list(partial_set("sea-master-house", lrn_prefix=f"{sut.upcoming_lrn(filer)}S{flow.sets}",
                               eori=sut.eori(filer), master_document=flow.master_document, houses=houses,
                               house_filer=sut.eori(house_filer)))
    assert flow.members[0][0] == message, f"the sea master-house set starts with {flow.members[0][0]}, not {message}"
    flow.house_documents = [h["transport_document"]["number"] for h in flow.members[0][1]["houses"]]


def _file_member(sut: SystemUnderTest, flow: Flow, trader: str, index: int) -> Sent:
    message, data = flow.members[index]
    sent = _receipted(sut.file(trader, message, data=data), f"the {message} of {trader}")
    flow.filed.append((trader, message, sent))
    return sent


@given(parsers.parse('the trader "{trader}" has filed an "{message}" master naming {houses:d} house to be filed '
                     'by "{house_filer}"'))
def master_filed(sut: SystemUnderTest, sim: SimControl, scene: Scene, flow: Flow, trader: str, message: str,
                 houses: int, house_filer: str) -> None:
    _new_set(sut, flow, trader, message, houses, house_filer)
    outcome = _file_member(sut, flow, trader, 0)
    [ens] = sim.ics2_ens(message_id=outcome.message_id)
    assert ens["state"] == "registered", f"the master filing was not registered: {ens['errors']}"
    scene.trader, scene.sent, scene.mrn, scene.filing_type = trader, outcome, ens["mrn"], message


@when(parsers.parse('the trader "{trader}" files the "{message}" house filing under that master'))
@given(parsers.parse('the trader "{trader}" has filed the "{message}" house filing under that master'))
def house_filed(sut: SystemUnderTest, flow: Flow, trader: str, message: str) -> None:
    assert flow.members and flow.members[1][0] == message, f"the set's house filing is {flow.members[1][0]}"
    _file_member(sut, flow, trader, 1)


@when(parsers.parse('the trader "{trader}" files the same master transport document again as a new "{message}"'))
def master_again(sut: SystemUnderTest, flow: Flow, trader: str, message: str) -> None:
    filer = flow.filed[0][0] if flow.filed else trader
    _new_set(sut, flow, trader, message, 1, filer, master=flow.master_document)
    _file_member(sut, flow, trader, 0)


@then("each partial filing got an IE3R01 with its own MRN")
def each_part_registered(sut: SystemUnderTest, sim: SimControl, inbox: Inbox, flow: Flow) -> None:
    mrns = []
    for trader, message, outcome in flow.filed:
        [ens] = sim.ics2_ens(message_id=outcome.message_id)
        assert ens["state"] == "registered", f"{message} of {trader} is {ens['state']}: {ens['errors']}"
        replies = [r for r in inbox.drain(sut, trader) if r.ref_to_message_id == outcome.message_id]
        assert [r.action for r in replies] == ["IE3R01"], f"{trader} got {[r.action for r in replies]} for {message}"
        assert ens["mrn"] in replies[0].texts("MRN")
        mrns.append(ens["mrn"])
    assert len(set(mrns)) == len(mrns) == len(flow.filed), f"MRNs {mrns}"


@then(parsers.parse('both filings belong to one ENS, which is "{state}"'))
def one_ens(sim: SimControl, flow: Flow, state: str) -> None:
    rows = [sim.ics2_ens(message_id=outcome.message_id)[0] for _, _, outcome in flow.filed]
    entities = {row["entity"] for row in rows}
    assert len(entities) == 1, f"the filings belong to different ENS: {entities}"
    assert {row["lifecycle_state"] for row in rows} == {state}, [row["lifecycle_state"] for row in rows]


@given(parsers.parse('the trader "{trader}" has a party profile that receives pull messages'))
def pull_profile(sut: SystemUnderTest, sim: SimControl, trader: str) -> None:
    sim.ics2_set_profile(sut.eori(trader), roles=["filer"], channel="pull")


@when("the simulated clock passes the completion timer")
def past_completion_timer(sim: SimControl) -> None:
    sim.advance_clock(86_400 + 1)  # completion_timer_seconds default (simulator/ics2/data/lifecycle.json)


@then(parsers.parse('the trader "{trader}" receives an "IE3N02" naming "{other}" as not yet filed'))
def n02_names(sut: SystemUnderTest, inbox: Inbox, scene: Scene, trader: str, other: str) -> None:
    got = inbox.expect(sut, trader, "IE3N02")
    assert scene.mrn in got.texts("MRN"), f"the IE3N02 does not name the ENS {scene.mrn}"
    assert sut.eori(other) in got.texts("identificationNumber"), got.texts("identificationNumber")


@then(parsers.parse('the trader "{trader}" receives an "IE3N11" for the missing house'))
def n11_house(sut: SystemUnderTest, inbox: Inbox, flow: Flow, trader: str) -> None:
    got = inbox.expect(sut, trader, "IE3N11")
    assert set(flow.house_documents) <= set(got.texts("documentNumber")), got.texts("documentNumber")


@then(parsers.parse('the trader "{trader}" receives an "{action}" saying "{text}"'))
def receives_saying(sut: SystemUnderTest, inbox: Inbox, trader: str, action: str, text: str) -> None:
    got = inbox.expect(sut, trader, action)
    reasons = got.texts("errorReason")
    assert any(text in reason for reason in reasons), f"the {action} says {reasons}"


@then(parsers.parse('the trader "{trader}" receives an "{action}" with code "{code}"'))
def receives_code(sut: SystemUnderTest, inbox: Inbox, trader: str, action: str, code: str) -> None:
    got = inbox.expect(sut, trader, action)
    assert code in got.texts("errorCode"), f"the {action} gives codes {got.texts('errorCode')}"


# -- registered ENS of a named trader, arrival ------------------------------------------------------------
@given(parsers.parse('the trader "{trader}" has a registered "{message}" whose IE3R01 it has pulled'))
def trader_registered(sut: SystemUnderTest, sim: SimControl, inbox: Inbox, scene: Scene, flow: Flow,
                      trader: str, message: str) -> None:
    if flow.carrier is None:
        outcome = sut.file(trader, message)
    else:  # the scene named another trader as carrier of this filing
        data = sample_data(message, lrn=sut.next_lrn(trader), eori=sut.eori(trader))  # type: ignore[arg-type]
        data.setdefault("carrier", {})["identification_number"] = sut.eori(flow.carrier)
        outcome = sut.file(trader, message, data=data)
    scene.trader, scene.filing_type = trader, message
    scene.lrn = scene.record(_receipted(outcome, f"the {message}")).lrn
    reply = inbox.expect(sut, trader, "IE3R01")
    [ens] = sim.ics2_ens(message_id=outcome.message_id)
    scene.mrn = ens["mrn"]
    assert scene.mrn in reply.texts("MRN") and ens["lifecycle_state"] == "registered", ens


@given(parsers.parse('the trader "{trader}" has had that ENS invalidated'))
def had_invalidated(sut: SystemUnderTest, inbox: Inbox, scene: Scene, trader: str) -> None:
    assert scene.mrn is not None
    _receipted(sut.invalidate(trader, scene.mrn), "the IE3Q04")
    assert scene.mrn in inbox.expect(sut, trader, "IE3R07").texts("MRN")


@when(parsers.parse('the trader "{trader}" notifies the arrival of that ENS'))
def notify_arrival(sut: SystemUnderTest, scene: Scene, trader: str) -> None:
    assert scene.mrn is not None
    scene.record(_receipted(sut.arrive(trader, [scene.mrn]), "the IE3N06"))


@then(parsers.parse('the trader "{trader}" receives an "{action}" for the MRN'))
@then(parsers.parse('the trader "{trader}" receives an "{action}" naming the MRN'))
def receives_for_mrn(sut: SystemUnderTest, inbox: Inbox, scene: Scene, flow: Flow, trader: str,
                     action: str) -> None:
    got = inbox.expect(sut, trader, action)
    assert scene.mrn in got.texts("MRN"), f"the {action} names {got.texts('MRN')}, not {scene.mrn}"
    flow.last = got


# -- consultation ----------------------------------------------------------------------------------------
@when(parsers.parse('the trader "{trader}" consults the ENS by its {level} transport document'))
def consult(sut: SystemUnderTest, inbox: Inbox, flow: Flow, trader: str, level: str) -> None:
    assert flow.master_document is not None
    if level == "master":
        outcome = sut.consult(trader, master_document=(flow.master_document, MASTER_TYPE))
    else:
        outcome = sut.consult(trader, house_document=(flow.house_documents[0], "N714"))
    _receipted(outcome, "the IE3Q05")
    flow.last = inbox.expect(sut, trader, "IE3R08")


@then(parsers.parse('the "IE3R08" lists only the "{message}" filing'))
def r08_lists(flow: Flow, message: str) -> None:
    assert flow.last is not None and flow.last.action == "IE3R08"
    listed = flow.last.texts_under("ensFiling", "messageType")
    assert listed == [message], f"the IE3R08 lists {listed}"


@then('the "IE3R08" lists no filing')
def r08_empty(flow: Flow) -> None:
    assert flow.last is not None and flow.last.action == "IE3R08"
    listed = flow.last.texts_under("ensFiling", "messageType")
    assert listed == [], f"the IE3R08 lists {listed}"
