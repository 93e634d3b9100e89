"""Step library for the ICS2 features (features/ics2/*.feature).

Given-steps set the scene through the control API; When-steps ask the driver to act; Then-steps judge
from what the simulator saw on the wire (journal, outbox, ENS register) and from the answers the
system under test received. Every assertion message says what was expected and what was found.
"""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from scenarios.client.ics2 import ClientFaults
from scenarios.drivers.observed import Received, SystemUnderTest, needs_reference
from scenarios.drivers.reference_sut import describe_outcome
from scenarios.pki import PkiFiles
from scenarios.simctl import SimControl
from scenarios.steps.ics2_inbox import Inbox
from scenarios.steps.scene import Scene

# A message gets exactly one functional reply (domain/ics2.md "Messages").
FUNCTIONAL_REPLIES = frozenset({"IE3R01", "IE3N99", "IE3N01", "IE3N10", "IE3R07"})

# -- Given ----------------------------------------------------------------------------------------------


@given("a fresh simulator scene")
def fresh_scene(sim: SimControl, sut: SystemUnderTest) -> None:
    """Nothing of an earlier scenario remains: filings, queues, faults, and also registered parties and their
    profiles (a push endpoint of an earlier scenario is gone); each scenario registers what it needs. The
    system under test forgets what it received and sent (the contract's ``reset``)."""
    sim.reset(parties=True)
    sut.reset()

def _register(sim: SimControl, pki: PkiFiles, name: str) -> None:
    files = pki.trader(name)
    sim.register(files.eori, files.sealing_cert.read_text(), purpose="sealing", name=name)
    sim.register(files.eori, files.tls_cert.read_text(), purpose="tls", name=name)


@given(parsers.parse('the trader "{name}" is registered with its sealing and TLS certificates'))
def trader_registered(sim: SimControl, pki: PkiFiles, scene: Scene, name: str) -> None:
    _register(sim, pki, name)
    scene.trader = name


@given("every sample trader is registered with its sealing and TLS certificates")
def all_traders_registered(sim: SimControl, pki: PkiFiles) -> None:
    for name, files in pki.traders.items():
        if files.condition != "unregistered":  # that one exists to be refused with EBMS:0004/A001
            _register(sim, pki, name)


@given(parsers.parse('the trader "{name}" acknowledges pulled messages with receipts that do not sign '
                     "the Body"))
def receipts_without_body(sut: SystemUnderTest, scene: Scene, name: str) -> None:
    needs_reference(sut).set_faults(name, ClientFaults(receipt_without_body=True))
    scene.trader = name


# -- When -----------------------------------------------------------------------------------------------


def _file(sut: SystemUnderTest, scene: Scene, trader: str, message: str, defect: str | None = None) -> None:
    scene.trader = trader
    sent = scene.record(sut.file(trader, message, defect=defect))
    scene.lrn = sent.lrn


@when(parsers.parse('the trader files a valid "{message}"'))
def file_valid(sut: SystemUnderTest, scene: Scene, message: str) -> None:
    _file(sut, scene, scene.trader, message)


@when(parsers.parse('the trader files an "{message}" with the defect "{variant}"'))
def file_defective(sut: SystemUnderTest, scene: Scene, message: str, variant: str) -> None:
    _file(sut, scene, scene.trader, message, variant)


@when(parsers.parse('the trader "{trader}" files a valid "{message}"'))
def trader_files_valid(sut: SystemUnderTest, scene: Scene, trader: str, message: str) -> None:
    _file(sut, scene, trader, message)


@when(parsers.parse('the trader "{trader}" files a valid "{message}" with a leaf-only token'))
def trader_files_leaf_only(sut: SystemUnderTest, scene: Scene, trader: str, message: str) -> None:
    needs_reference(sut).set_faults(trader, ClientFaults(leaf_only_token=True))
    _file(sut, scene, trader, message)


@when(parsers.parse('the trader "{trader}" files a valid "{message}" whose payload is changed after '
                    "signing"))
def trader_files_tampered(sut: SystemUnderTest, scene: Scene, trader: str, message: str) -> None:
    needs_reference(sut).set_faults(trader, ClientFaults(tamper_payload_after_signing=True))
    _file(sut, scene, trader, message)


@when("the trader sends the same message again with the same MessageId")
def resend_same(sut: SystemUnderTest, scene: Scene) -> None:
    scene.resent = needs_reference(sut).resend_last(scene.trader)


@when("the trader pulls its MPC")
def pull(sut: SystemUnderTest, inbox: Inbox, scene: Scene) -> None:
    inbox.fetch(sut, scene.trader)


# -- Then: answers on the wire --------------------------------------------------------------------------


@then("the simulator answers with a signed receipt that acknowledges every signed part")
def signed_receipt(scene: Scene) -> None:
    sent = scene.sent
    assert sent is not None
    assert sent.receipt, f"expected a signed receipt, received {sent.describe()}"
    assert not sent.problems, "the exchange is wrong: " + "; ".join(sent.problems)


@then(parsers.parse('the answer is the ebMS warning "{code}"'))
def ebms_warning(sut: SystemUnderTest, scene: Scene, code: str) -> None:
    """The answer to the trader's latest pull (ICD §4.1.3.3: EBMS:0006 when its MPC is empty)."""
    answer = sut.last_pull_error(scene.trader)
    assert answer is not None, f"expected {code} to the latest pull of {scene.trader}, which got a message or none"
    assert answer[0] == code, f"expected {code}, the latest pull of {scene.trader} got {answer[0]}"
    assert answer[1] == "warning", f"{code} must be a warning, its severity is {answer[1]}"


@then(parsers.parse('the answer is the ebMS error "{code}" mentioning "{mention}"'))
def ebms_error(scene: Scene, code: str, mention: str) -> None:
    outcome = scene.sent.outcome if scene.sent is not None else None
    assert outcome is not None, "this step reads the reference client's own view of the answer"
    message = outcome.response
    assert message is not None and message.kind == "error", f"expected {code}, received {describe_outcome(outcome)}"
    entry = next((e for e in message.errors if e.code == code), None)
    assert entry is not None, f"expected {code}, received {describe_outcome(outcome)}"
    text = " ".join(filter(None, (entry.detail, entry.description, entry.sub_code)))
    assert mention.lower() in text.lower(), f"{code} should mention {mention!r}; its detail is {text!r}"
    assert entry.severity == "failure", f"{code} must be a failure, its severity is {entry.severity}"


@then("both answers are the same signed receipt")
def same_receipt(scene: Scene) -> None:
    assert scene.sent is not None and scene.sent.outcome is not None and scene.resent is not None
    assert scene.resent.receipt, f"the second answer is {describe_outcome(scene.resent)}"
    assert scene.resent.http.body == scene.sent.outcome.http.body, "the duplicate got a different receipt"


# -- Then: what the simulator holds ---------------------------------------------------------------------


@then("the filing is registered with an 18-character MRN")
def registered_with_mrn(sim: SimControl, scene: Scene) -> None:
    ens = sim.ics2_ens(message_id=scene.message_id)
    assert len(ens) == 1, f"expected one ENS for {scene.message_id}, found {len(ens)}"
    assert ens[0]["state"] == "registered", f"ENS state {ens[0]['state']}: {ens[0]['errors']}"
    assert ens[0]["mrn"] and len(ens[0]["mrn"]) == 18, f"MRN {ens[0]['mrn']!r} is not 18 characters"


@then("the simulator holds exactly one filing for that MessageId")
def one_filing(sim: SimControl, scene: Scene) -> None:
    ens = sim.ics2_ens(message_id=scene.message_id)
    assert len(ens) == 1, f"expected exactly one filing for {scene.message_id}, found {len(ens)}"


@then("the filing has exactly one functional reply")
def one_functional_reply(sim: SimControl, scene: Scene) -> None:
    replies = [m for m in sim.outbox() if m["ref_to_message_id"] == scene.message_id]
    actions = [m["action"] for m in replies]
    assert len(replies) == 1 and actions[0] in FUNCTIONAL_REPLIES, (
        f"expected exactly one of {sorted(FUNCTIONAL_REPLIES)} for {scene.message_id}, found {actions}")


@then(parsers.parse('no functional reply is waiting for the trader "{trader}"'))
def no_functional_reply(sim: SimControl, pki: PkiFiles, scene: Scene, trader: str) -> None:
    eori = pki.trader(trader).eori
    waiting = [m for m in sim.outbox() if m["party"] == eori]
    assert not waiting, f"expected no reply for {eori}, found {[m['action'] for m in waiting]}"
    if scene.sent is not None:
        assert not sim.ics2_ens(message_id=scene.sent.message_id), "a refused message was registered"


@then(parsers.parse('the simulator journal shows the message as rejected with "{code}"'))
def journal_rejected(sim: SimControl, scene: Scene, code: str) -> None:
    entries = sim.journal(message_id=scene.message_id, direction="in")
    verdicts = [(e["verdict"], e["error_code"]) for e in entries]
    assert any(v == "rejected" and (c or "").startswith(code) for v, c in verdicts), (
        f"expected the journal to show {scene.message_id} rejected with {code}, found {verdicts}")


# -- Then: pulled replies -------------------------------------------------------------------------------


def reply_to_filing(inbox: Inbox, scene: Scene, action: str) -> Received:
    """The latest ``action`` the trader fetched in answer to its latest message (RefToMessageId)."""
    assert scene.sent is not None, "nothing was sent in this scenario"
    got = inbox.by_trader.get(scene.trader, [])
    assert got, f"expected {action}, {scene.trader} has received nothing"
    replies = [r for r in got if r.action == action and r.ref_to_message_id == scene.message_id]
    assert replies, (f"expected {action} referring to {scene.message_id}; {scene.trader} received "
                     f"{[(r.action, r.ref_to_message_id) for r in got]}")
    reply = replies[-1]
    assert not reply.problems, f"the {action} is wrong: " + "; ".join(reply.problems)
    return reply


@then(parsers.parse('it receives an "{action}" that refers to its filing and carries the MRN'))
def receives_with_mrn(sim: SimControl, inbox: Inbox, scene: Scene, action: str) -> None:
    reply = reply_to_filing(inbox, scene, action)
    mrn = sim.ics2_ens(message_id=scene.message_id)[0]["mrn"]
    assert mrn in reply.texts("MRN"), f"{action} does not carry the MRN {mrn}"
    assert scene.lrn in reply.texts("LRN"), f"{action} does not carry the LRN {scene.lrn}"


@then(parsers.parse('it receives an "{action}" that refers to its filing'))
def receives(inbox: Inbox, scene: Scene, action: str) -> None:
    reply_to_filing(inbox, scene, action)


def _n99_errors(inbox: Inbox, scene: Scene) -> list[tuple[str, str]]:
    reply = reply_to_filing(inbox, scene, "IE3N99")
    return list(zip(reply.texts("errorCode"), reply.texts("errorPointer"), strict=False))


@then(parsers.parse('the IE3N99 lists error code "{code}" pointing at the goods description'))
def n99_description(inbox: Inbox, scene: Scene, code: str) -> None:
    errors = _n99_errors(inbox, scene)
    assert any(c == code and "descriptionOfGoods" in p for c, p in errors), (
        f"expected code {code} at the goods description, found {errors}")


@then("the IE3N99 points at the HS code")
def n99_hs_code(inbox: Inbox, scene: Scene) -> None:
    errors = _n99_errors(inbox, scene)
    assert any("harmonizedSystemSubHeadingCode" in p or "combinedNomenclatureCode" in p
               for _, p in errors), f"expected an error at the HS code, found {errors}"


def _delivery(sim: SimControl, inbox: Inbox, scene: Scene, action: str) -> dict[str, object]:
    found = inbox.find(scene.trader, action)
    assert found, f"no {action} was fetched by {scene.trader}"
    rows = [m for m in sim.outbox() if m["message_id"] == found[-1].message_id]
    assert len(rows) == 1, f"the simulator does not know the fetched {action}"
    return rows[0]


@then(parsers.parse('the "{action}" counts as delivered'))
def delivered(sim: SimControl, inbox: Inbox, scene: Scene, action: str) -> None:
    row = _delivery(sim, inbox, scene, action)
    assert row["state"] == "delivered", f"{action} state is {row['state']}: {row['detail']}"


@then(parsers.parse('the "{action}" does not count as delivered because "{reason}"'))
def not_delivered(sim: SimControl, inbox: Inbox, scene: Scene, action: str, reason: str) -> None:
    row = _delivery(sim, inbox, scene, action)
    assert row["state"] != "delivered", f"{action} counts as delivered despite a bad receipt"
    assert reason in str(row["detail"]), f"expected the reason {reason!r}, found {row['detail']!r}"
