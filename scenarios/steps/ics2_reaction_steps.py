"""Steps for how the trader's software behaves around its filings (features/ics2/client_reactions.feature).

The harness asks for the filings; whatever else the software sends on its own (a second copy under a new
MessageId, a reused LRN, a rejected filing sent again unchanged) shows in the simulator journal, which
records every message as received on the wire, and in the replies customs queued for the trader.
domain/ics2.md "Messages": an LRN identifies one filing, and a filing gets exactly one functional reply.
"""

from __future__ import annotations

from collections import Counter

from pytest_bdd import parsers, then, when

from scenarios.drivers.observed import SystemUnderTest
from scenarios.simctl import SimControl
from scenarios.steps.ics2_inbox import Inbox
from scenarios.steps.ics2_steps import FUNCTIONAL_REPLIES
from scenarios.steps.scene import Scene


@when(parsers.parse('the trader files {count:d} valid "{message}" filings one after the other'))
def file_several(sut: SystemUnderTest, scene: Scene, count: int, message: str) -> None:
    for _ in range(count):
        sent = scene.record(sut.file(scene.trader, message))
        scene.lrn = sent.lrn
        assert sent.receipt, f"the {message} was not receipted: {sent.describe()}"


@when("the trader pulls its MPC until it is empty")
def pull_until_empty(sut: SystemUnderTest, inbox: Inbox, scene: Scene) -> None:
    inbox.drain(sut, scene.trader)


@then(parsers.parse('each filing got exactly one functional reply, an "{action}" with its own MRN'))
@then(parsers.parse('each filing got exactly one functional reply, an "{action}"'))
def one_reply_each(inbox: Inbox, scene: Scene, action: str) -> None:
    """Per filing the harness asked for (by its MessageId): what the trader pulled in answer to it."""
    assert scene.history, "no filing was sent in this scenario"
    received = inbox.by_trader.get(scene.trader, [])
    mrns: list[str] = []
    for sent in scene.history:
        replies = [r for r in received if r.ref_to_message_id == sent.message_id and r.action in FUNCTIONAL_REPLIES]
        assert [r.action for r in replies] == [action], (
            f"expected exactly one {action} for {sent.message_id}; the trader pulled "
            f"{[r.action for r in replies] or 'nothing'} for it (everything pulled: {inbox.describe(scene.trader)})")
        mrns += replies[0].texts("MRN")
    assert len(set(mrns)) == len(mrns), f"two filings were given the same MRN: {mrns}"


@then("every LRN the trader sent reached customs once and got exactly one functional reply")
def lrns_once(sut: SystemUnderTest, sim: SimControl, scene: Scene) -> None:
    """From the wire, not from what the harness asked for: every business message the trader's software
    sent (journaled as received, duplicates of one MessageId aside) and every functional reply queued."""
    party = sut.eori(scene.trader)
    received = sim.journal(direction="in", kind="user", sender=party, verdict="accepted")
    sent = Counter(entry["correlation"] for entry in received if entry["correlation"])
    assert sent, f"customs received no filing from {party}"
    again = {lrn: count for lrn, count in sent.items() if count > 1}
    assert not again, (f"LRNs that reached customs more than once (new MessageId, same LRN): {again}; "
                       f"messages: {[(e['message_id'], e['action'], e['correlation']) for e in received]}")
    lrn_of = {entry["message_id"]: entry["correlation"] for entry in received if entry["correlation"]}
    replies = Counter(lrn_of[m["ref_to_message_id"]] for m in sim.outbox()
                      if m["ref_to_message_id"] in lrn_of and m["action"] in FUNCTIONAL_REPLIES)
    wrong = {lrn: replies.get(lrn, 0) for lrn in sent if replies.get(lrn, 0) != 1}
    assert not wrong, f"LRNs without exactly one functional reply: {wrong}"
