"""Steps for injected faults (features/ics2/faults.feature, push_delivery.feature): a maintenance window, a
lost receipt, a held-back reply, a duplicated delivery (simulator/core/faults.py, set through the control
API so that the same scene misbehaves the same way every run)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from scenarios.drivers.reference import ReferenceDriver
from scenarios.simctl import SimControl
from scenarios.steps.ics2_flow_steps import eori
from scenarios.steps.scene import Scene


@given(parsers.parse("the MSH is unavailable for the next {seconds:d} seconds"))
def msh_unavailable(sim: SimControl, seconds: int) -> None:
    sim.add_fault("msh_unavailable", seconds=seconds)


@given(parsers.parse('the simulator will drop the receipt of the next message from "{trader}"'))
def drop_receipt(driver: ReferenceDriver, sim: SimControl, trader: str) -> None:
    sim.add_fault("drop_receipt", party=eori(driver, trader), count=1)


@given(parsers.parse('the simulator will hold back the next reply to "{trader}" for {seconds:d} seconds'))
def delay_reply(driver: ReferenceDriver, sim: SimControl, trader: str, seconds: int) -> None:
    sim.add_fault("delay_reply", party=eori(driver, trader), seconds=seconds, count=1)


@given(parsers.parse('the simulator will deliver the next reply to "{trader}" twice'))
def duplicate_delivery(driver: ReferenceDriver, sim: SimControl, trader: str) -> None:
    sim.add_fault("duplicate_delivery", party=eori(driver, trader), count=1)


@then(parsers.parse("the answer is HTTP {status:d} and nothing was stored"))
def http_status_nothing_stored(sim: SimControl, scene: Scene, status: int) -> None:
    assert scene.sent is not None
    assert not scene.sent.receipt and scene.sent.http.status == status, (scene.sent.http.status,
                                                                         scene.sent.http.body[:200])
    assert sim.ics2_ens(message_id=scene.sent.message_id) == [], "a message refused with 503 was processed"


@then("the answer carries no receipt")
def no_receipt(scene: Scene) -> None:
    assert scene.sent is not None
    assert not scene.sent.receipt and scene.sent.http.status == 504, (scene.sent.http.status, scene.sent.http.body)


@then("the retry is answered with a signed receipt for the original message")
def retry_receipt(scene: Scene) -> None:
    assert scene.resent is not None and scene.sent is not None
    assert scene.resent.receipt, f"the retry got {scene.resent.http.status} {scene.resent.errors}"
    assert scene.resent.response is not None and scene.resent.response.ref_to_message_id == scene.sent.message_id
    assert not scene.resent.problems, scene.resent.problems


@then(parsers.parse('pulling again gives the same "{action}" with the same MessageId'))
def same_again(driver: ReferenceDriver, scene: Scene, action: str) -> None:
    assert scene.pulled is not None and scene.pulled.user_message is not None
    first = scene.pulled.user_message
    again = driver.pull(scene.trader).user_message
    assert again is not None and again.user_message is not None, "nothing was delivered a second time"
    assert again.user_message.action == action and again.message_id == first.message_id, (
        f"second delivery {again.user_message.action} {again.message_id}, first {first.message_id}")
    assert driver.pull(scene.trader).empty, "more than one extra delivery"
