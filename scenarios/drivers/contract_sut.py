"""A package driven through the driver contract (``--driver command|http|manual``) as the system under test.

The package is a black box: the harness asks it to act through a contract :class:`Driver` and judges from
what the simulator saw (docs/driver-contract.md, "Observation, not trust"):

- a sending action is found in the journal (by the MessageId the package reports, else as the first
  message of that action from the party since the request); customs' verdict and receipt are the
  journal's; a second message of the same action for one request, or an LRN other than the one asked
  for, is a problem of the package;
- a fetch is the package's ``poll`` followed by its ``received`` report; each reported message is checked
  against the simulator's outbox (customs sent it to that party and counts it delivered, i.e. the
  package's receipt was valid) and its payload against the journal's copy; a message customs counts as
  delivered that the package never reports is a lost message.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from scenarios.drivers.contract import (
    AmendmentOffer,
    ArrivalEntry,
    Document,
    Driver,
    DriverError,
    ReceivedMessage,
    Request,
    Response,
    request_to_json,
    response_to_json,
)
from scenarios.drivers.contract import (
    Attachment as ContractAttachment,
)
from scenarios.drivers.observed import Attachment, DocumentRef, Received, Sent, parse_payload
from scenarios.filings.ics2 import FilingMessageId, sample_data
from scenarios.pki import PkiFiles
from scenarios.simctl import SimControl
from simulator.codecs.as4 import constants as as4c

JOURNAL_PAGE = 5000  # the journal API's largest page
SEND_WAIT_SECONDS = 5.0  # a sending action returns once its receipt is read: the journal has it by then


class RecordingDriver(Driver):
    """Keeps every exchange with the package (request, answer or error, its stderr, the time it took) as
    evidence for the scenario's record; ``command`` drivers add what the command wrote to stderr."""

    def __init__(self, inner: Driver) -> None:
        self.inner = inner
        self.exchanges: list[dict[str, Any]] = []

    def perform(self, request: Request) -> Response:
        started = time.monotonic()
        entry: dict[str, Any] = {"action": request.action, "request": request_to_json(request)}
        log: list[tuple[str, str]] | None = getattr(self.inner, "stderr_log", None)
        before = len(log) if log is not None else 0
        try:
            response = self.inner.perform(request)
            entry["response"] = response_to_json(response)
            return response
        except DriverError as exc:
            entry["error"] = str(exc)
            raise
        finally:
            entry["duration_s"] = round(time.monotonic() - started, 3)
            if log is not None and len(log) > before:
                entry["stderr"] = "".join(text for _, text in log[before:])
            self.exchanges.append(entry)


class ContractSut:
    """``driver`` acts for the parties named in ``pki`` (the package is configured with their certificates);
    ``sim`` is the simulator's control API, read for every verdict."""

    @property
    def reference(self) -> None:
        return None

    def __init__(self, name: str, driver: Driver, sim: SimControl, pki: PkiFiles) -> None:
        self.name, self.driver, self.sim, self.pki = name, driver, sim, pki
        self._lrn_counter = 0
        self._journal = sim.journal_cursor()  # where the journal ends (a scene reset is noticed)
        self._reported: dict[str, set[str]] = {}  # trader -> MessageIds the package reported as received

    def eori(self, trader: str) -> str:
        return self.pki.trader(trader).eori

    def upcoming_lrn(self, trader: str) -> str:
        return f"{self.eori(trader)[:2]}LRN{self._lrn_counter + 1:08d}"

    def next_lrn(self, trader: str) -> str:
        self._lrn_counter += 1
        return f"{self.eori(trader)[:2]}LRN{self._lrn_counter:08d}"

    def reset(self) -> None:
        self._require("reset", self.driver.reset())
        self._reported.clear()

    # -- sending ------------------------------------------------------------------------------------------
    def file(self, trader: str, message_type: str, *, data: Mapping[str, Any] | None = None,
             defect: str | None = None) -> Sent:
        if data is None:
            data = sample_data(cast(FilingMessageId, message_type), lrn=self.next_lrn(trader), eori=self.eori(trader),
                               variant=defect)
        lrn = str(data["lrn"])
        return self._send(trader, message_type, lambda: self.driver.file(message_type, data, lrn=lrn, party=trader),
                          lrn=lrn)

    def amend(self, trader: str, filing_type: str, mrn: str) -> Sent:
        data = sample_data(cast(FilingMessageId, filing_type), lrn=self.next_lrn(trader), eori=self.eori(trader))
        action = "IE3A" + filing_type[4:]
        return self._send(trader, action, lambda: self.driver.amend(action, mrn, data, party=trader))

    def invalidate(self, trader: str, mrn: str) -> Sent:
        return self._send(trader, "IE3Q04", lambda: self.driver.invalidate(mrn, party=trader))

    def arrive(self, trader: str, mrns: Sequence[str]) -> Sent:
        entries = [ArrivalEntry(mrn=mrn) for mrn in mrns]
        return self._send(trader, "IE3N06", lambda: self.driver.arrive(entries, party=trader))

    def consult(self, trader: str, *, master_document: DocumentRef | None = None,
                house_document: DocumentRef | None = None) -> Sent:
        master = Document(*master_document) if master_document else None
        house = Document(*house_document) if house_document else None
        return self._send(trader, "IE3Q05", lambda: self.driver.consult(
            master_document=master, house_document=house, party=trader))

    def answer_information(self, trader: str, mrn: str, referral: str, text: str,
                           attachments: Sequence[Attachment] = (), *, amend_as: str | None = None) -> Sent:
        parts = [ContractAttachment(cid, mime_type, content) for cid, content, mime_type in attachments]
        offer = None
        if amend_as is not None:
            data = sample_data(cast(FilingMessageId, amend_as), lrn=self.next_lrn(trader), eori=self.eori(trader))
            offer = AmendmentOffer("IE3A" + amend_as[4:], data)
        actions = ("IE3R02",) if offer is None else ("IE3R02", offer.message_type)
        return self._send(trader, actions, lambda: self.driver.answer_information(
            mrn, referral, text=text, attachments=parts, amendment=offer, party=trader))

    def answer_screening(self, trader: str, mrn: str, referral: str, master_document: DocumentRef) -> Sent:
        return self._send(trader, "IE3R03", lambda: self.driver.answer_screening(
            mrn, referral, master_document=Document(*master_document), party=trader))

    def _send(self, trader: str, expected: str | tuple[str, ...], request: Any, *, lrn: str | None = None
              ) -> Sent:
        """Ask for one message (of the ``expected`` action, or one of them), then find what reached customs
        (journal) and judge it. A package that declines (``ok`` false) is given no time to send anyway."""
        actions = (expected,) if isinstance(expected, str) else expected
        action = " or ".join(actions)
        head = self._journal.mark()[0]
        response: Response = request()
        eori = self.eori(trader)

        def arrivals() -> list[dict[str, Any]]:
            return [e for e in self.sim.journal(since_id=head, limit=JOURNAL_PAGE, direction="in", kind="user",
                                                sender=eori) if e["action"] in actions]
        try:
            found: list[dict[str, Any]] = (self.sim.wait_for(arrivals, timeout=SEND_WAIT_SECONDS,
                                                             what=f"{action} from {eori}")
                                           if response.ok else arrivals())
        except TimeoutError:
            found = []
        problems: list[str] = []
        if not response.ok:
            problems.append(f"the package could not send the {action}: {response.error}"
                            + (" (it declares the action unsupported: list it in the capability file)"
                               if response.unsupported else ""))
        if not found:
            claim = f" although it reported MessageId {response.message_id}" if response.message_id else ""
            problems.append(f"no {action} from {eori} reached customs{claim}")
            return Sent(actions[0], response.message_id or "", lrn, False, tuple(problems),
                        f"{action}: " + "; ".join(problems), refused=None if response.ok else response.error)
        message_ids = list(dict.fromkeys(e["message_id"] for e in found))
        if response.message_id and response.message_id not in message_ids:
            problems.append(f"the package reported MessageId {response.message_id}, customs received {message_ids}")
        if len(message_ids) > 1:
            problems.append(f"one request, {len(message_ids)} {action} messages with different MessageIds: "
                            f"{message_ids}")
        entry = next((e for e in found if e["message_id"] == response.message_id), found[0])
        message_id, action = entry["message_id"], entry["action"]
        if lrn is not None and entry["correlation"] not in (None, lrn):
            problems.append(f"the {action} carries the LRN {entry['correlation']}, the harness asked for {lrn}")
        receipted = entry["verdict"] == "accepted" and bool(self.sim.journal(
            direction="out", kind="receipt", ref_to_message_id=message_id))
        if entry["verdict"] != "accepted":
            problems.append(f"customs refused the {action}: {entry['error_code']} {entry['detail'] or ''}".strip())
        summary = (f"{action} {message_id} from {eori}: journal verdict {entry['verdict']}"
                   + (f" {entry['error_code']}" if entry["error_code"] else ""))
        return Sent(action, message_id, entry["correlation"] or lrn, receipted, tuple(problems), summary)

    # -- receiving ----------------------------------------------------------------------------------------
    def fetch(self, trader: str) -> list[Received]:
        return self.drain(trader)

    def drain(self, trader: str) -> list[Received]:
        """``poll`` (the package pulls until its MPC is empty and acknowledges each message), then
        ``received`` (what it says it got), checked against the simulator's outbox and journal."""
        self._require("poll", self.driver.poll(party=trader))
        report = self._require("received", self.driver.received(party=trader))
        eori = self.eori(trader)
        rows = {row["message_id"]: row for row in self.sim.outbox() if row["party"] == eori}
        reported = self._reported.setdefault(trader, set())
        got = [self._judge(eori, message, rows.get(message.message_id)) for message in report.messages or ()]
        reported.update(message.message_id for message in report.messages or ())
        lost = [f"{row['action']} {mid}" for mid, row in rows.items()
                if row["state"] == "delivered" and mid not in reported and row["queue"] == as4c.c2t_mpc(eori)]
        assert not lost, (f"customs counts {lost} as delivered to {eori} (the package acknowledged them with valid "
                          "receipts), but the package does not report them received: acknowledged messages lost")
        return got

    def _judge(self, eori: str, message: ReceivedMessage, row: dict[str, Any] | None) -> Received:
        problems: list[str] = []
        sent = self.sim.journal(direction="out", kind="user", message_id=message.message_id)
        payload = next((_payload_of(e) for e in sent if e.get("payload") or e.get("payload_b64")), None)
        if row is None or payload is None:
            problems.append(f"the package reports {message.action} {message.message_id}, which customs never sent "
                            f"to {eori}")
        elif row["state"] != "delivered":
            problems.append(f"the package reports {message.action} {message.message_id}, but customs does not count "
                            f"it as delivered ({row['state']}: {row['detail']})")
        if row is not None and row["action"] != message.action:
            problems.append(f"the package reports {message.message_id} as {message.action}, customs sent "
                            f"{row['action']}")
        if message.payload is not None and payload is not None and message.payload != payload:
            problems.append(f"the payload the package reports for {message.message_id} differs from what customs "
                            "sent")
        content = payload if payload is not None else message.payload or b"<none/>"
        root = parse_payload(content)
        for key, claimed in (("MRN", message.mrn), ("LRN", message.lrn)):
            actual = (root.findtext(key) or "").strip() or None
            if claimed is not None and claimed != actual:
                problems.append(f"the package read the {key} {claimed} from {message.message_id}, which carries "
                                f"{actual}")
        return Received(message.action, message.message_id, message.ref_to_message_id, root, tuple(problems))

    def last_pull_error(self, trader: str) -> tuple[str, str] | None:
        pulls = self.sim.journal(direction="in", kind="pull", queue=as4c.c2t_mpc(self.eori(trader)),
                                 limit=JOURNAL_PAGE)
        if not pulls or pulls[-1]["verdict"] == "accepted":
            return None
        last = pulls[-1]
        # EBMS:0006 (EmptyMessagePartitionChannel) is a warning by definition (ebMS3 core §6.7.1)
        return last["error_code"], "warning" if last["verdict"] == "empty" else "failure"

    def close(self) -> None:
        close = getattr(self.driver, "close", None)
        if callable(close):
            close()

    # -- plumbing -----------------------------------------------------------------------------------------
    def _require(self, action: str, response: Response) -> Response:
        assert response.ok, f"the package could not {action}: {response.error}"
        return response



def _payload_of(entry: dict[str, Any]) -> bytes:
    """A journal entry's payload (the API gives UTF-8 text as is, anything else in base64)."""
    text = entry.get("payload")
    return text.encode("utf-8") if text is not None else base64.b64decode(entry["payload_b64"])
