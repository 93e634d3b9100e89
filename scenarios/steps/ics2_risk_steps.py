"""Steps for risk outcomes, push delivery and injected faults (features/ics2/risk_outcomes.feature,
push_delivery.feature).

Outcomes are forced for the LRN of the next filing through the control API (simulator/ics2/risk.py:
forced outcomes come before the rules), so the same scene always gives the same referrals; the clock is
the simulator's, advanced by the scene. A trader that chose push gets a real AS4 endpoint with mutual TLS
(scenarios/client/receiver.py) whose receipts can be made wrong on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from scenarios.client.receiver import PushReceiver
from scenarios.drivers.observed import SystemUnderTest
from scenarios.simctl import SimControl
from scenarios.steps.ics2_flow_steps import Flow
from scenarios.steps.ics2_inbox import Inbox
from scenarios.steps.scene import Scene

RFI_DELAY = HRCM_DELAY = DNL_DELAY = 60  # seconds after registration, on the simulated clock
MAX_RETRY_ROUNDS = 12  # clock advances while waiting for push retries to run out (push_max_attempts is 5)


@pytest.fixture
def receivers() -> Iterator[dict[str, PushReceiver]]:
    started: dict[str, PushReceiver] = {}
    yield started
    for receiver in started.values():
        receiver.stop()


def _force(sut: SystemUnderTest, sim: SimControl, scene: Scene, outcome: str, delay: int,
           details: dict[str, object] | None = None) -> None:
    sim.ics2_force_outcomes([{"outcome": outcome, "delay_seconds": delay, "details": details or {}}],
                            lrn=sut.upcoming_lrn(scene.trader))


# -- forced outcomes --------------------------------------------------------------------------------------
@given(parsers.parse('customs will ask for information about the next filing, to be answered by "{how}"'))
def force_rfi(sut: SystemUnderTest, sim: SimControl, scene: Scene, how: str) -> None:
    method = {"IE3R02": "1", "amendment": "2"}[how]
    _force(sut, sim, scene, "rfi", RFI_DELAY, {"response_method": method,
                                                  "request_details": ["Provide the commercial invoice"]})


@given("customs will ask for HRCM screening of the next filing")
def force_hrcm(sut: SystemUnderTest, sim: SimControl, scene: Scene) -> None:
    _force(sut, sim, scene, "hrcm", HRCM_DELAY)


@given("customs will order Do Not Load for the next filing")
def force_dnl(sut: SystemUnderTest, sim: SimControl, scene: Scene) -> None:
    _force(sut, sim, scene, "dnl", DNL_DELAY)


@given(parsers.parse('the trader "{trader}" is the carrier and wants copies of screening requests'))
def carrier_wants_copies(sut: SystemUnderTest, sim: SimControl, flow: Flow, trader: str) -> None:
    sim.ics2_set_profile(sut.eori(trader), roles=["carrier"], channel="pull", wants=["IE3N05", "IE3N04"])
    flow.carrier = trader


@when(parsers.parse("the simulated clock advances {seconds:d} seconds"))
def advance(sim: SimControl, seconds: int) -> None:
    sim.advance_clock(seconds)


def _referral(inbox: Inbox, trader: str, action: str) -> str:
    found = inbox.find(trader, action)
    # no request received: answer with a reference of our own (an out-of-sequence answer)
    return found[-1].texts("referralRequestReference")[0] if found else "NO-OPEN-REQUEST"


@when(parsers.parse('the trader "{trader}" answers the information request with an IE3R02'))
def answer_rfi(sut: SystemUnderTest, inbox: Inbox, scene: Scene, trader: str) -> None:
    assert scene.mrn is not None
    sent = sut.answer_information(trader, scene.mrn, _referral(inbox, trader, "IE3Q02"),
                                  "The commercial invoice is attached.",
                                  [("invoice@trader.example", b"%PDF-1.4\n% invoice\n", "application/pdf")])
    assert sent.receipt, f"the IE3R02 was not receipted: {sent.describe()}"
    scene.record(sent)


@when(parsers.parse('the trader "{trader}" answers the information request the way it asks'))
def answer_rfi_as_asked(sut: SystemUnderTest, inbox: Inbox, scene: Scene, trader: str) -> None:
    """The package reads the IE3Q02's responseMethod and answers by IE3R02 or by an amendment of its ENS
    (offered with a full dataset); which one it chose shows in the journal and the referral's record."""
    assert scene.mrn is not None and scene.filing_type is not None
    sent = sut.answer_information(trader, scene.mrn, _referral(inbox, trader, "IE3Q02"),
                                  "The commercial invoice is attached.",
                                  [("invoice@trader.example", b"%PDF-1.4\n% invoice\n", "application/pdf")],
                                  amend_as=scene.filing_type)
    assert sent.receipt, f"the answer was not receipted: {sent.describe()}"
    scene.record(sent)


@when(parsers.parse('the trader "{trader}" is asked to notify the arrival of that ENS'))
def asked_to_arrive(sut: SystemUnderTest, scene: Scene, trader: str) -> None:
    """No assertion here: whether the package sends or declines is what the next step judges."""
    assert scene.mrn is not None
    scene.record(sut.arrive(trader, [scene.mrn]))


@then(parsers.parse('the package declines, and customs received no "{action}" from "{trader}"'))
def declined(sut: SystemUnderTest, sim: SimControl, scene: Scene, action: str, trader: str) -> None:
    """domain/ics2.md "Messages": after a Do Not Load (IE3Q01) the consignment is held until its ENS is
    amended; a package that keeps acting on it is judged from the wire, whatever it answered."""
    sent = sim.journal(direction="in", kind="user", sender=sut.eori(trader), action=action)
    assert not sent, (f"customs received {len(sent)} {action} from {trader} while a Do Not Load was in force: "
                      f"{[e['message_id'] for e in sent]}")
    assert scene.sent is not None and scene.sent.refused, (
        f"the package did not say it declined; it answered: {scene.sent.describe() if scene.sent else 'nothing'}")


@when(parsers.parse('the trader "{trader}" answers the screening request with an IE3R03'))
def answer_hrcm(sut: SystemUnderTest, sim: SimControl, inbox: Inbox, scene: Scene, trader: str) -> None:
    assert scene.mrn is not None
    [ens] = sim.ics2_ens(mrn=scene.mrn)
    sent = sut.answer_screening(trader, scene.mrn, _referral(inbox, trader, "IE3Q03"),
                                (ens["master_document"], "N740"))
    assert sent.receipt, f"the IE3R03 was not receipted: {sent.describe()}"
    scene.record(sent)


@then(parsers.parse('the information request is recorded as answered by "{by}"'))
def referral_answered(sim: SimControl, scene: Scene, by: str) -> None:
    assert scene.mrn is not None
    referrals = [r for r in sim.ics2_history(scene.mrn)["referrals"] if r["kind"] == "rfi"]
    assert referrals and referrals[-1]["answered_by"] == by, f"referrals: {referrals}"


@then("the information request is recorded as unanswered")
def referral_open(sim: SimControl, scene: Scene) -> None:
    assert scene.mrn is not None
    history = sim.ics2_history(scene.mrn)
    referrals = [r for r in history["referrals"] if r["kind"] == "rfi"]
    assert referrals and referrals[-1]["answered_at"] is None, f"referrals: {referrals}"
    assert any(step["event"] == "request_information" for step in history["history"]), history["history"]


# -- push delivery -----------------------------------------------------------------------------------------
@given(parsers.parse('the trader "{trader}" receives by push at its access point, which returns "{behaviour}" '
                     "receipts"))
def push_endpoint(sut: SystemUnderTest, sim: SimControl, receivers: dict[str, PushReceiver], trader: str,
                  behaviour: str) -> None:
    files = sut.pki.trader(trader)
    assert files.ap_cert is not None and files.ap_key is not None, "the test PKI has no AP certificate"
    receiver = PushReceiver.from_files(files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain,
                                       server_cert=files.ap_cert, server_key=files.ap_key,
                                       ca_file=sut.pki.trust_bundle, behaviour=behaviour).start()
    receivers[trader] = receiver
    sim.ics2_set_profile(files.eori, roles=["filer"], channel="push", ap_url=receiver.url)


def _push_row(sut: SystemUnderTest, sim: SimControl, trader: str, action: str) -> dict[str, Any]:
    rows = [m for m in sim.outbox(queue=f"push:{sut.eori(trader)}") if m["action"] == action]
    assert rows, f"no {action} is queued for push to {trader}"
    return rows[-1]


@when("the simulator pushes what is due")
def pushed(sut: SystemUnderTest, sim: SimControl, receivers: dict[str, PushReceiver], scene: Scene) -> None:
    receiver = receivers[scene.trader]
    # the control server's background ticker pushes what is due; wait for the attempt and its outcome
    sim.wait_for(lambda: receiver.received and _push_row(sut, sim, scene.trader, "IE3R01")["state"] != "queued",
                 what="the push of the IE3R01")


@when("the simulator pushes what is due, advancing the clock through every retry")
def pushed_with_retries(sut: SystemUnderTest, sim: SimControl, receivers: dict[str, PushReceiver],
                        scene: Scene) -> None:
    receiver = receivers[scene.trader]
    sim.wait_for(lambda: receiver.received, what="the first push attempt")
    for _ in range(MAX_RETRY_ROUNDS):
        if _push_row(sut, sim, scene.trader, "IE3R01")["state"] == "undelivered":
            return
        sim.advance_clock(3600)  # beyond the longest back-off; the clock hook runs the due retry
    raise AssertionError(f"the IE3R01 is still {_push_row(sut, sim, scene.trader, 'IE3R01')['state']}")


@then(parsers.parse('the access point of "{trader}" received an "{action}"'))
def ap_received(receivers: dict[str, PushReceiver], trader: str, action: str) -> None:
    actions = [m.action for m in receivers[trader].received]
    assert action in actions, f"the access point of {trader} received {actions}"


@then(parsers.parse('the "{action}" for "{trader}" counts as delivered'))
def push_delivered(sut: SystemUnderTest, sim: SimControl, trader: str, action: str) -> None:
    sim.wait_for(lambda: _push_row(sut, sim, trader, action)["state"] == "delivered",
                 what=f"the {action} to be delivered")


@then(parsers.parse('the access point of "{trader}" received the "{action}" once per attempt'))
def once_per_attempt(sut: SystemUnderTest, sim: SimControl, receivers: dict[str, PushReceiver], trader: str,
                     action: str) -> None:
    row = _push_row(sut, sim, trader, action)
    received = [m for m in receivers[trader].received if m.action == action]
    assert len(received) == row["attempts"] > 1, f"{len(received)} received, {row['attempts']} attempts"
    assert len({m.message_id for m in received}) == 1, "a retry must resend the same MessageId"


@then(parsers.parse('the "{action}" for "{trader}" is undelivered after the last attempt'))
def push_undelivered(sut: SystemUnderTest, sim: SimControl, trader: str, action: str) -> None:
    row = _push_row(sut, sim, trader, action)
    assert row["state"] == "undelivered", row
    attempts = sim.journal(direction="in", ref_to_message_id=row["message_id"], verdict="not-delivered")
    assert len(attempts) == row["attempts"], f"journal shows {len(attempts)} failed attempts of {row['attempts']}"
