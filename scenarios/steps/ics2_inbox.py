"""What each trader has received, for scenarios with several parties and several messages.

A trader's software fetches what customs queued for it (ICD §4.1.3.3: FIFO per MPC, EBMS:0006 when
empty); every message it fetched is kept here, by trader, so that a step can look for "an IE3Q02 for the
MRN" whatever else arrived before it (an IE3R01 copy, an IE3N03...). Each item carries the problems the
system under test's driver found with it (scenarios/drivers/observed.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from scenarios.drivers.observed import Received, SystemUnderTest


@dataclass
class Inbox:
    by_trader: dict[str, list[Received]] = field(default_factory=dict)

    def add(self, trader: str, items: Iterable[Received]) -> list[Received]:
        items = list(items)
        self.by_trader.setdefault(trader, []).extend(items)
        return items

    def fetch(self, sut: SystemUnderTest, trader: str) -> list[Received]:
        """Fetch once; every message fetched must be sound."""
        return self._sound(trader, self.add(trader, sut.fetch(trader)))

    def drain(self, sut: SystemUnderTest, trader: str) -> list[Received]:
        """Fetch until nothing is waiting; every message fetched must be sound."""
        self._sound(trader, self.add(trader, sut.drain(trader)))
        return self.by_trader[trader]

    @staticmethod
    def _sound(trader: str, items: list[Received]) -> list[Received]:
        for item in items:
            assert not item.problems, f"the {item.action} fetched by {trader} is wrong: {'; '.join(item.problems)}"
        return items

    def find(self, trader: str, action: str) -> list[Received]:
        return [r for r in self.by_trader.get(trader, []) if r.action == action]

    def expect(self, sut: SystemUnderTest, trader: str, action: str) -> Received:
        """The latest `action` received by `trader` (fetching first); fails naming what did arrive."""
        self.drain(sut, trader)
        found = self.find(trader, action)
        assert found, f"{trader} received no {action}; it received {self.describe(trader) or 'nothing'}"
        return found[-1]

    def describe(self, trader: str) -> list[str]:
        return [r.action for r in self.by_trader.get(trader, [])]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()
