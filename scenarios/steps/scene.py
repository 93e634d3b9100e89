"""What one scenario remembers between its steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.client.ics2 import PullOutcome, SendOutcome


@dataclass
class Scene:
    trader: str = "trader-a"
    lrn: str | None = None
    sent: SendOutcome | None = None
    resent: SendOutcome | None = None
    pulled: PullOutcome | None = None
    history: list[SendOutcome] = field(default_factory=list)
    mrn: str | None = None  # the ENS the scenario works on
    filing_type: str | None = None

    @property
    def message_id(self) -> str:
        assert self.sent is not None, "no filing was sent in this scenario"
        return self.sent.message_id

    @property
    def last_answer(self) -> SendOutcome | PullOutcome:
        if self.pulled is not None and (self.sent is None or self._pulled_last):
            return self.pulled
        assert self.sent is not None, "nothing was sent in this scenario"
        return self.sent

    _pulled_last: bool = False
