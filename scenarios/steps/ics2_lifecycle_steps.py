"""Steps for the ENS lifecycle features (features/ics2/r1_amend_invalidate.feature).

Customs-side moves (arrival, presentation) go through the control API, as a scene setting; the trader's
messages (amendment, invalidation request) go through the driver; verdicts come from what the trader
pulled and from the ENS register.
"""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from scenarios.drivers.observed import SystemUnderTest
from scenarios.simctl import SimControl
from scenarios.steps.ics2_inbox import Inbox
from scenarios.steps.ics2_steps import reply_to_filing
from scenarios.steps.scene import Scene


@given(parsers.parse('the trader has a registered "{message}" whose IE3R01 it has pulled'))
def registered_and_pulled(sut: SystemUnderTest, sim: SimControl, inbox: Inbox, scene: Scene, message: str) -> None:
    sent = scene.record(sut.file(scene.trader, message))
    scene.lrn = sent.lrn
    assert sent.receipt, f"the filing was not receipted: {sent.describe()}"
    inbox.drain(sut, scene.trader)
    reply_to_filing(inbox, scene, "IE3R01")
    [ens] = sim.ics2_ens(message_id=scene.message_id)
    scene.mrn, scene.filing_type = ens["mrn"], message
    assert ens["lifecycle_state"] == "registered", f"ENS {scene.mrn} is {ens['lifecycle_state']}"


@given("customs has recorded the goods of the ENS as arrived and presented")
def arrived_and_presented(sim: SimControl, scene: Scene) -> None:
    assert scene.mrn is not None
    for event in ("arrive", "present"):
        sim.ics2_fire(scene.mrn, event)


@when("the trader amends its ENS")
def amend(sut: SystemUnderTest, scene: Scene) -> None:
    assert scene.mrn is not None and scene.filing_type is not None
    scene.record(sut.amend(scene.trader, scene.filing_type, scene.mrn))


@when("the trader asks for the invalidation of its ENS")
def invalidate(sut: SystemUnderTest, scene: Scene) -> None:
    assert scene.mrn is not None
    scene.record(sut.invalidate(scene.trader, scene.mrn))


@then(parsers.parse('the IE3N01 gives code "{code}" for the MRN'))
def n01_code(inbox: Inbox, scene: Scene, code: str) -> None:
    reply = reply_to_filing(inbox, scene, "IE3N01")
    errors = list(zip(reply.texts("errorCode"), reply.texts("errorPointer"), strict=False))
    assert any(c == code and p.endswith("/MRN") for c, p in errors), (
        f"expected code {code} pointing at the MRN, found {errors}")
    assert scene.mrn in reply.texts("MRN"), f"the IE3N01 does not name the MRN {scene.mrn}"


@then(parsers.re(r'the ENS is (?:still|now) "(?P<state>[a-z_]+)"'))
def ens_state(sim: SimControl, scene: Scene, state: str) -> None:
    [ens] = sim.ics2_ens(mrn=scene.mrn)
    assert ens["lifecycle_state"] == state, f"ENS {scene.mrn} is {ens['lifecycle_state']}, expected {state}"
