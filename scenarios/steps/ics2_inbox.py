"""What each trader has received, for scenarios with several parties and several messages.

A trader's software pulls its MPC until it is empty (ICD §4.1.3.3: FIFO per MPC, EBMS:0006 when empty);
every message it pulled is kept here, by trader, so that a step can look for "an IE3Q02 for the MRN"
whatever else arrived before it (an IE3R01 copy, an IE3N03...). Pushed messages are read from the
trader's access point (scenarios/client/receiver.py) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from scenarios.drivers.reference import ReferenceDriver

MAX_PULLS = 50  # a scenario never has more waiting for one trader; guards against a queue that never empties


@dataclass(frozen=True)
class Received:
    action: str
    message_id: str
    ref_to_message_id: str | None
    payload: etree._Element

    def texts(self, local: str) -> list[str]:
        return [(el.text or "").strip() for el in self.payload.iter() if etree.QName(el).localname == local]

    def texts_under(self, parent: str, child: str) -> list[str]:
        """`child` texts of every `parent` element, e.g. the messageType of each ensFiling of an IE3R08."""
        return [(el.findtext(child) or "").strip() for el in self.payload.iter()
                if etree.QName(el).localname == parent]


@dataclass
class Inbox:
    by_trader: dict[str, list[Received]] = field(default_factory=dict)

    def drain(self, driver: ReferenceDriver, trader: str) -> list[Received]:
        """Pull until the MPC is empty; every pulled message is acknowledged by the client's receipt."""
        got = self.by_trader.setdefault(trader, [])
        for _ in range(MAX_PULLS):
            outcome = driver.pull(trader)
            message = outcome.user_message
            if message is None or message.user_message is None:
                assert outcome.empty, f"pulling for {trader} gave neither a message nor EBMS:0006: {outcome.http}"
                return got
            assert not outcome.problems, f"the message pulled by {trader} is wrong: {outcome.problems}"
            got.append(Received(message.user_message.action, message.message_id or "", message.ref_to_message_id,
                                etree.fromstring(message.payloads[0].content)))
        raise AssertionError(f"{trader}'s MPC did not empty after {MAX_PULLS} pulls")

    def add(self, trader: str, items: Iterable[Received]) -> None:
        self.by_trader.setdefault(trader, []).extend(items)

    def find(self, trader: str, action: str) -> list[Received]:
        return [r for r in self.by_trader.get(trader, []) if r.action == action]

    def expect(self, driver: ReferenceDriver, trader: str, action: str) -> Received:
        """The latest `action` received by `trader` (pulling first); fails naming what did arrive."""
        self.drain(driver, trader)
        found = self.find(trader, action)
        seen = [r.action for r in self.by_trader.get(trader, [])]
        assert found, f"{trader} received no {action}; it received {seen or 'nothing'}"
        return found[-1]

    def describe(self, trader: str) -> list[str]:
        return [r.action for r in self.by_trader.get(trader, [])]
