"""What one scenario remembers between its steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.client.ics2 import SendOutcome
from scenarios.drivers.observed import Sent


@dataclass
class Scene:
    trader: str = "trader-a"
    lrn: str | None = None
    sent: Sent | None = None  # the latest message the system under test sent, as customs saw it
    resent: SendOutcome | None = None  # a retry of the same message (reference client only)
    history: list[Sent] = field(default_factory=list)
    mrn: str | None = None  # the ENS the scenario works on
    filing_type: str | None = None

    @property
    def message_id(self) -> str:
        assert self.sent is not None, "no filing was sent in this scenario"
        return self.sent.message_id

    def record(self, sent: Sent) -> Sent:
        self.sent = sent
        self.history.append(sent)
        return sent
