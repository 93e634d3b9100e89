"""Steps for the ENS lifecycle features (features/ics2/r1_amend_invalidate.feature).

Customs-side moves (arrival, presentation) go through the control API, as a scene setting; the trader's
messages (amendment, invalidation request) go through the driver; verdicts come from what the trader
pulled and from the ENS register.
"""

from __future__ import annotations

from lxml import etree
from pytest_bdd import given, parsers, then, when

from scenarios.client.ics2 import SendOutcome
from scenarios.drivers.reference import ReferenceDriver
from scenarios.simctl import SimControl
from scenarios.steps.ics2_steps import _pulled_payload, _texts
from scenarios.steps.scene import Scene


@given(parsers.parse('the trader has a registered "{message}" whose IE3R01 it has pulled'))
def registered_and_pulled(driver: ReferenceDriver, sim: SimControl, scene: Scene, message: str) -> None:
    scene.lrn, scene.sent = driver.file(scene.trader, message)
    assert scene.sent.receipt, f"the filing was not receipted: {scene.sent.errors}"
    scene.pulled = driver.pull(scene.trader)
    _pulled_payload(scene, "IE3R01")
    [ens] = sim.ics2_ens(message_id=scene.message_id)
    scene.mrn, scene.filing_type = ens["mrn"], message
    assert ens["lifecycle_state"] == "registered", f"ENS {scene.mrn} is {ens['lifecycle_state']}"


@given("customs has recorded the goods of the ENS as arrived and presented")
def arrived_and_presented(sim: SimControl, scene: Scene) -> None:
    assert scene.mrn is not None
    for event in ("arrive", "present"):
        sim.ics2_fire(scene.mrn, event)


def _sent(scene: Scene, outcome: SendOutcome) -> None:
    scene.sent = outcome
    scene.history.append(outcome)
    scene._pulled_last = False


@when("the trader amends its ENS")
def amend(driver: ReferenceDriver, scene: Scene) -> None:
    assert scene.mrn is not None and scene.filing_type is not None
    _, outcome = driver.amend(scene.trader, scene.filing_type, scene.mrn)
    _sent(scene, outcome)


@when("the trader asks for the invalidation of its ENS")
def invalidate(driver: ReferenceDriver, scene: Scene) -> None:
    assert scene.mrn is not None
    _sent(scene, driver.invalidate(scene.trader, scene.mrn))


@then(parsers.parse('the IE3N01 gives code "{code}" for the MRN'))
def n01_code(scene: Scene, code: str) -> None:
    payload: etree._Element = _pulled_payload(scene, "IE3N01")
    errors = list(zip(_texts(payload, "errorCode"), _texts(payload, "errorPointer"), strict=False))
    assert any(c == code and p.endswith("/MRN") for c, p in errors), (
        f"expected code {code} pointing at the MRN, found {errors}")
    assert scene.mrn in _texts(payload, "MRN"), f"the IE3N01 does not name the MRN {scene.mrn}"


@then(parsers.re(r'the ENS is (?:still|now) "(?P<state>[a-z_]+)"'))
def ens_state(sim: SimControl, scene: Scene, state: str) -> None:
    [ens] = sim.ics2_ens(mrn=scene.mrn)
    assert ens["lifecycle_state"] == state, f"ENS {scene.mrn} is {ens['lifecycle_state']}, expected {state}"
