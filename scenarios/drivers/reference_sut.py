"""The reference client as the system under test (``--driver reference``, the default).

It wraps :class:`~scenarios.drivers.reference.ReferenceDriver`, which builds and sends every message with
the test PKI's trader identities and checks every answer of the simulator itself (signature, receipt,
non-repudiation digests). Its fault switches stay reachable for @reference-client scenarios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scenarios.client.ics2 import PullOutcome, SendOutcome
from scenarios.drivers.observed import Attachment, DocumentRef, Received, Sent, parse_payload
from scenarios.drivers.reference import ReferenceDriver, RefusedByPackage
from scenarios.pki import PkiFiles

MAX_PULLS = 50  # a scenario never has more waiting for one trader; guards against a queue that never empties


def describe_outcome(outcome: SendOutcome | PullOutcome) -> str:
    """One line on what the simulator answered, for assertion messages."""
    message = outcome.response if isinstance(outcome, SendOutcome) else outcome.message
    if message is None:
        return f"HTTP {outcome.http.status} {outcome.http.content_type}: {outcome.http.body[:300]!r}"
    if message.kind == "error":
        return "ebMS errors " + "; ".join(f"{e.code} {e.detail or e.description or ''}" for e in message.errors)
    return f"a {message.kind} message {message.message_id}"


def sent_from(action: str, lrn: str | None, outcome: SendOutcome) -> Sent:
    problems = [*outcome.problems]
    if outcome.response is not None and outcome.receipt and outcome.response.signature is None:
        problems.append("the receipt is not signed")
    if not outcome.receipt:
        problems.append(describe_outcome(outcome))
    return Sent(action, outcome.message_id, lrn, outcome.receipt, tuple(problems),
                f"{action} {outcome.message_id}: {describe_outcome(outcome)}", outcome)


@dataclass
class ReferenceSut:
    driver: ReferenceDriver
    name: str = "reference"
    pulls: dict[str, PullOutcome] = field(default_factory=dict)  # the latest pull of each trader

    @property
    def reference(self) -> ReferenceDriver:
        return self.driver

    @property
    def pki(self) -> PkiFiles:
        return self.driver.pki

    def eori(self, trader: str) -> str:
        return self.driver.pki.trader(trader).eori

    def upcoming_lrn(self, trader: str) -> str:
        return self.driver.upcoming_lrn(trader)

    def next_lrn(self, trader: str) -> str:
        return self.driver.next_lrn(trader)

    def reset(self) -> None:
        self.pulls.clear()

    # -- sending ------------------------------------------------------------------------------------------
    def file(self, trader: str, message_type: str, *, data: Mapping[str, Any] | None = None,
             defect: str | None = None) -> Sent:
        if data is None:
            lrn, outcome = self.driver.file(trader, message_type, variant=defect)
        else:
            lrn, outcome = self.driver.file_data(trader, message_type, data)
        return sent_from(message_type, lrn, outcome)

    def amend(self, trader: str, filing_type: str, mrn: str) -> Sent:
        lrn, outcome = self.driver.amend(trader, filing_type, mrn)
        return sent_from("IE3A" + filing_type[4:], lrn, outcome)

    def invalidate(self, trader: str, mrn: str) -> Sent:
        return sent_from("IE3Q04", None, self.driver.invalidate(trader, mrn))

    def arrive(self, trader: str, mrns: Sequence[str]) -> Sent:
        try:
            lrn, outcome = self.driver.arrive(trader, list(mrns))
        except RefusedByPackage as refusal:
            return Sent("IE3N06", "", None, False, (f"the package refused: {refusal}",), refused=str(refusal))
        return sent_from("IE3N06", lrn, outcome)

    def consult(self, trader: str, *, master_document: DocumentRef | None = None,
                house_document: DocumentRef | None = None) -> Sent:
        outcome = self.driver.consult(trader, master_document=master_document, house_document=house_document)
        return sent_from("IE3Q05", None, outcome)

    def answer_information(self, trader: str, mrn: str, referral: str, text: str,
                           attachments: Sequence[Attachment] = (), *, amend_as: str | None = None) -> Sent:
        action, outcome = self.driver.answer_as_asked(trader, mrn, referral, text, attachments, amend_as=amend_as)
        return sent_from(action, None, outcome)

    def answer_screening(self, trader: str, mrn: str, referral: str, master_document: DocumentRef) -> Sent:
        outcome = self.driver.answer_screening(trader, mrn, referral, master_document=master_document)
        return sent_from("IE3R03", None, outcome)

    # -- receiving ----------------------------------------------------------------------------------------
    def fetch(self, trader: str) -> list[Received]:
        """One pull of the trader's MPC, acknowledged by the client's receipt (ICD §4.1.3.3)."""
        outcome = self.driver.pull(trader)
        self.pulls[trader] = outcome
        message = outcome.user_message
        if message is None or message.user_message is None:
            return []
        problems = list(outcome.problems)
        if len(message.payloads) != 1:
            problems.append(f"expected one payload, found {len(message.payloads)}")
        payload = parse_payload(message.payloads[0].content) if message.payloads else parse_payload(b"<none/>")
        return [Received(message.user_message.action, message.message_id or "", message.ref_to_message_id, payload,
                         tuple(problems))]

    def drain(self, trader: str) -> list[Received]:
        got: list[Received] = []
        for _ in range(MAX_PULLS):
            items = self.fetch(trader)
            if not items:
                outcome = self.pulls[trader]
                assert outcome.empty, f"pulling for {trader} gave neither a message nor EBMS:0006: " + (
                    describe_outcome(outcome))
                return got
            got += items
        raise AssertionError(f"{trader}'s MPC did not empty after {MAX_PULLS} pulls")

    def last_pull_error(self, trader: str) -> tuple[str, str] | None:
        outcome = self.pulls.get(trader)
        if outcome is None or outcome.message is None or outcome.message.kind != "error":
            return None
        first = outcome.message.errors[0]
        return first.code, first.severity

    def close(self) -> None:
        self.driver.close()
