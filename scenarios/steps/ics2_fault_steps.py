"""Steps for injected faults (features/ics2/faults.feature, push_delivery.feature): a maintenance window, a
lost receipt, a held-back reply, a duplicated delivery (simulator/core/faults.py, set through the control
API so that the same scene misbehaves the same way every run)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from scenarios.drivers.observed import SystemUnderTest, needs_reference
from scenarios.drivers.reference_sut import describe_outcome
from scenarios.simctl import SimControl
from scenarios.steps.ics2_inbox import Inbox
from scenarios.steps.scene import Scene


@given(parsers.parse("the MSH is unavailable for the next {seconds:d} seconds"))
def msh_unavailable(sim: SimControl, seconds: int) -> None:
    sim.add_fault("msh_unavailable", seconds=seconds)


@given(parsers.parse('the simulator will drop the receipt of the next message from "{trader}"'))
def drop_receipt(sut: SystemUnderTest, sim: SimControl, trader: str) -> None:
    sim.add_fault("drop_receipt", party=sut.eori(trader), count=1)


@given(parsers.parse('the simulator will hold back the next reply to "{trader}" for {seconds:d} seconds'))
def delay_reply(sut: SystemUnderTest, sim: SimControl, trader: str, seconds: int) -> None:
    sim.add_fault("delay_reply", party=sut.eori(trader), seconds=seconds, count=1)


@given(parsers.parse('the simulator will deliver the next reply to "{trader}" twice'))
def duplicate_delivery(sut: SystemUnderTest, sim: SimControl, trader: str) -> None:
    sim.add_fault("duplicate_delivery", party=sut.eori(trader), count=1)


@then(parsers.parse("the answer is HTTP {status:d} and nothing was stored"))
def http_status_nothing_stored(sim: SimControl, scene: Scene, status: int) -> None:
    outcome = scene.sent.outcome if scene.sent is not None else None
    assert outcome is not None, "this step reads the reference client's own view of the answer"
    assert not outcome.receipt and outcome.http.status == status, describe_outcome(outcome)
    assert sim.ics2_ens(message_id=outcome.message_id) == [], f"a message refused with {status} was processed"


@then("customs received the filing again under the same MessageId and answered it with the original receipt")
def retried_same_message_id(sim: SimControl, scene: Scene) -> None:
    """domain/ics2.md "AS4 profile" (reception awareness with retries, duplicate detection on MessageId): the
    journal shows the filing accepted (its receipt lost on the way), then the same MessageId again, answered
    with the original receipt and not processed again."""
    entries = sim.journal(direction="in", kind="user", message_id=scene.message_id)
    verdicts = [entry["verdict"] for entry in entries]
    assert verdicts[:1] == ["accepted"], f"the filing {scene.message_id} was not accepted first: {verdicts}"
    assert "duplicate" in verdicts[1:], (f"after the lost receipt the trader's software did not send "
                                        f"{scene.message_id} again (journal verdicts: {verdicts})")
    assert scene.sent is not None and scene.sent.receipt, f"no receipt in the end: {scene.sent}"


@then("the retry is answered with a signed receipt for the original message")
def retry_receipt(scene: Scene) -> None:
    assert scene.resent is not None and scene.sent is not None
    assert scene.resent.receipt, f"the retry got {describe_outcome(scene.resent)}"
    assert scene.resent.response is not None and scene.resent.response.ref_to_message_id == scene.sent.message_id
    assert not scene.resent.problems, scene.resent.problems


@then(parsers.parse('pulling again gives the same "{action}" with the same MessageId'))
def same_again(sut: SystemUnderTest, inbox: Inbox, scene: Scene, action: str) -> None:
    reference = needs_reference(sut)
    first = inbox.find(scene.trader, action)
    assert first, f"no {action} was fetched first"
    client = reference.client(scene.trader)  # the raw pull: the simulator's behaviour, before duplicate detection
    again = client.pull_once().user_message
    assert again is not None and again.user_message is not None, "nothing was delivered a second time"
    assert again.user_message.action == action and again.message_id == first[-1].message_id, (
        f"second delivery {again.user_message.action} {again.message_id}, first {first[-1].message_id}")
    assert client.pull_once().empty, "more than one extra delivery"


@then(parsers.parse('the simulator delivered the "{action}" twice with the same MessageId'))
def delivered_twice(sut: SystemUnderTest, sim: SimControl, inbox: Inbox, scene: Scene, action: str) -> None:
    got = inbox.find(scene.trader, action)
    assert got, f"{scene.trader} received no {action}"
    deliveries = sim.journal(direction="out", kind="user", message_id=got[-1].message_id)
    assert len(deliveries) == 2, f"the {action} {got[-1].message_id} went out {len(deliveries)} time(s), not twice"


@then(parsers.parse("the trader's software processed the \"{action}\" once"))
def processed_once(inbox: Inbox, scene: Scene, action: str) -> None:
    """ebMS3 duplicate detection on MessageId (domain/ics2.md "AS4 profile"): a message delivered again is
    acknowledged again, but the package does not act on it, or report it, twice."""
    ids = [r.message_id for r in inbox.find(scene.trader, action)]
    assert len(ids) == len(set(ids)) == 1, f"{scene.trader} processed {action} {len(ids)} times: {ids}"
