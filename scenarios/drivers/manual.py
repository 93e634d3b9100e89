"""The ``manual`` driver: a person performs each action with their package; the simulator judges.

A first-time user rehearsing a connection has no adapter yet: the harness prints each action as an
instruction ("File an IE3F32 as party trader-a (EORI ...) with this business data, LRN ...") and puts it
on the page /_sim/manual (simulator/portal), where the person can also answer "My package cannot do this".
Whether the action happened is never taken from the person's word: the driver waits, within its time
budget, for the resulting message in the simulator's journal (docs/driver-contract.md, "Observation, not
trust"); ``received`` and ``sent`` come from the journal too, marked ``observed_by: simulator``.

The journal (simulator/core/journal.py, ics2/msh.py, delivery.py, push.py): a trader's message is
``in``/``user`` with ``sender`` = its AS4 PartyId ``[systemId@]EORI[@MS]`` (ICD §4.2.2.1), matched by the
EORI inside; a pull that found nothing is ``in``/``pull``/``empty`` with ``queue`` = the trader's MPC; a
message handed to a trader is ``out``/``user`` with ``receiver`` = its PartyId, pulled from its MPC or
pushed (delivered once an ``in`` entry with ``verdict=delivered`` refers to it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from lxml import etree

from scenarios.drivers.contract import (
    Amend,
    Driver,
    DriverError,
    File,
    ReceivedMessage,
    Request,
    Response,
    request_to_json,
)
from scenarios.simctl import ControlError, SimControl
from simulator.codecs.as4.constants import C2T_MPC_PREFIX
from simulator.codecs.xmlsafe import XmlRefused, parse_xml

# The message each sending action makes the package send (docs/driver-contract.md, "The actions");
# file and amend send the request's own message_type.
FIXED_MESSAGES = {"invalidate": "IE3Q04", "answer_information": "IE3R02", "answer_screening": "IE3R03",
                  "arrive": "IE3N06", "consult": "IE3Q05"}
_PARTY_ID = re.compile(r"^(?:[0-9A-Za-z._-]{1,35}@)?(?P<eori>[A-Z]{2}[0-9A-Z]{1,15})(?:@[A-Z]{2})?$")
_PAGE = 5000  # the journal API's largest page
_Outcome = tuple[Response, str]  # the answer and, in words, the result shown on the page


def eori_of(party_id: str | None) -> str | None:
    """The EORI inside an AS4 PartyId ``[systemId@]EORI[@MS]`` (None when it is none)."""
    match = _PARTY_ID.match(party_id or "")
    return match.group("eori") if match else None


@dataclass(frozen=True)
class JournalMark:
    """A place in the journal: its newest entry's id and insertion time. The time tells a journal that was
    reset since (the simulator's ids then start again at 1) from one that only grew."""

    id: int = 0
    real_at: float | None = None

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> JournalMark:
        return cls(int(entry["id"]), entry.get("real_at"))


@dataclass(frozen=True)
class _Step:
    id: str
    number: int
    action: str
    deadline: float  # time.monotonic()


class ManualDriver(Driver):
    """A person plays the system under test, guided by printed instructions and the page /_sim/manual.

    ``parties`` maps the party names of the requests (``trader-a``) to EORIs, the first being the one a
    request without ``party`` acts as; ``timeout`` is the seconds one action may take; instructions are
    printed to ``out``; ``page_url`` is where the person sees them (default: the control server's
    /_sim/manual); ``poll_interval`` is the pause between two looks at the journal.
    """

    def __init__(self, control: SimControl, parties: Mapping[str, str], *, timeout: float, out: TextIO = sys.stdout,
                 page_url: str | None = None, poll_interval: float = 0.2) -> None:
        if not parties:
            raise ValueError("the manual driver needs at least one party (name -> EORI)")
        if timeout <= 0 or poll_interval <= 0:
            raise ValueError(f"timeout and poll_interval must be positive, got {timeout}, {poll_interval}")
        self.control = control
        self.parties = dict(parties)
        self.timeout, self.out, self.poll_interval = timeout, out, poll_interval
        self.page_url = page_url or f"{control.url.rstrip('/')}/_sim/manual"
        self._steps = 0
        self._journal = control.journal_cursor()  # where the journal ends (a scene reset is noticed)
        self._default_mark = JournalMark()  # received/sent of a party not reset on its own start here
        self._received_marks: dict[str, JournalMark] = {}  # EORI -> where the next `received` starts
        self._sent_marks: dict[str, JournalMark] = {}
        self._reported: dict[str, set[str]] = {}  # EORI -> MessageIds `received` reported since its reset

    # -- the contract -------------------------------------------------------------------------------------
    def perform(self, request: Request) -> Response:
        action = request.action
        try:
            name, eori = self._party(request)
            special = {"reset": self._reset, "received": self._received, "sent": self._sent, "poll": self._poll}
            if action in special:
                return special[action](request, name, eori)
            expected = request.message_type if isinstance(request, File | Amend) else FIXED_MESSAGES.get(action)
            if expected is None:
                raise DriverError(action, "the manual driver does not know this action")
            return self._sending(request, name, eori, expected)
        except (ControlError, OSError) as exc:
            raise DriverError(action, f"the simulator's control API failed: {exc}") from None

    def _party(self, request: Request) -> tuple[str, str]:
        """(name, EORI) of the party to act as: by name, by EORI, or the first party when none is given."""
        wanted = request.party or next(iter(self.parties))
        if wanted in self.parties:
            return wanted, self.parties[wanted]
        by_eori = {eori: name for name, eori in self.parties.items()}
        if wanted in by_eori or eori_of(wanted) == wanted:
            return by_eori.get(wanted, wanted), wanted
        raise DriverError(request.action, f"unknown party {request.party!r}; the manual driver knows "
                          f"{', '.join(self.parties)}")

    # -- actions the person performs ----------------------------------------------------------------------
    def _sending(self, request: Request, name: str, eori: str, expected: str) -> Response:
        mark = self._newest()  # before the person can see the step: nothing they do precedes it
        step = self._publish(request, name, eori, expects=expected,
                             awaiting=f"{expected} from {eori} to reach the simulator")

        def arrived() -> _Outcome | None:
            for entry in self._entries(mark.id, direction="in", kind="user", action=expected):
                if eori_of(entry.get("sender")) != eori:
                    continue
                payload = _payload(entry)
                lrn = _top_level(payload, "LRN") or (entry.get("correlation") if expected.startswith("IE3F")
                                                     else None)
                verdict, code = entry.get("verdict"), entry.get("error_code")
                summary = (f"{expected} from {eori} reached the simulator: MessageId {entry.get('message_id')}, "
                           f"journal verdict {verdict}" + (f" ({code})" if code else ""))
                return Response(ok=True, message_id=entry.get("message_id"), lrn=lrn,
                                extra={"journal_verdict": verdict, "error_code": code}), summary
            return None

        return self._run(step, lambda: self._wait(
            step, arrived, f"no {expected} from {eori} reached the simulator within {self.timeout:g} s"))

    def _poll(self, request: Request, name: str, eori: str) -> Response:
        mark = self._newest()
        step = self._publish(request, name, eori, expects=None,
                             awaiting=f"a pull by {eori} that finds nothing left to fetch")

        def emptied() -> _Outcome | None:
            for entry in self._entries(mark.id, direction="in", kind="pull", verdict="empty"):
                queue = str(entry.get("queue") or "")
                if queue.startswith(C2T_MPC_PREFIX) and eori_of(queue[len(C2T_MPC_PREFIX):]) == eori:
                    count = len(self._deliveries(eori, mark, until=int(entry["id"]))[0])
                    return Response(ok=True, count=count), (f"{eori} pulled until nothing was left: {count} "
                                                            "message(s) delivered")
            return None

        return self._run(step, lambda: self._wait(
            step, emptied, f"no pull by {eori} that emptied its queue reached the simulator within "
                           f"{self.timeout:g} s"))

    def _wait(self, step: _Step, probe: Callable[[], _Outcome | None], late: str) -> _Outcome:
        """Look at the journal (``probe``) and at the person's answer until one decides, or time is up."""
        while True:
            found = probe()
            if found is not None:
                return found
            state = self.control.manual_state()
            shown, answer = state.get("instruction") or {}, state.get("answer") or {}
            if shown.get("id") == step.id and answer.get("outcome") == "cannot":
                note = answer.get("note")
                return (Response(ok=False, unsupported=True, error=note or "the person reported that the package "
                                 "cannot do this"), f"the package cannot do this: {note or 'no reason given'}")
            left = step.deadline - time.monotonic()
            if left <= 0:
                raise DriverError(step.action, late)
            time.sleep(min(self.poll_interval, left))

    # -- actions answered from the journal ----------------------------------------------------------------
    def _reset(self, request: Request, name: str, eori: str) -> Response:
        mark = self._newest()
        if request.party is None:
            self._default_mark = mark
            self._received_marks, self._sent_marks, self._reported = {}, {}, {}
        else:
            self._received_marks[eori], self._sent_marks[eori], self._reported[eori] = mark, mark, set()
        step = self._publish(request, name, eori, expects=None, awaiting=None)
        who = "every party" if request.party is None else f"{name} ({eori})"
        return self._run(step, lambda: (Response(ok=True), f"a new scenario starts: the state of {who} is reset"))

    def _received(self, request: Request, name: str, eori: str) -> Response:
        step = self._publish(request, name, eori, expects=None, awaiting=None)

        def observe() -> _Outcome:
            mark = self._valid(self._received_marks.get(eori, self._default_mark))
            reported = self._reported.setdefault(eori, set())
            delivered, self._received_marks[eori] = self._deliveries(eori, mark)
            messages = []
            for entry in delivered:
                if entry["message_id"] not in reported:  # else a redelivery of what was reported already
                    reported.add(entry["message_id"])
                    payload = _payload(entry)
                    messages.append(ReceivedMessage(entry["action"], entry["message_id"],
                                                    entry.get("ref_to_message_id"), _top_level(payload, "MRN"),
                                                    _top_level(payload, "LRN"), payload))
            actions = ", ".join(m.action for m in messages) or "none"
            return (Response(ok=True, messages=tuple(messages), extra={"observed_by": "simulator"}),
                    f"{len(messages)} message(s) delivered to {eori} since the last look: {actions}")

        return self._run(step, observe)

    def _sent(self, request: Request, name: str, eori: str) -> Response:
        step = self._publish(request, name, eori, expects=None, awaiting=None)

        def observe() -> _Outcome:
            mark = self._valid(self._sent_marks.get(eori, self._default_mark))
            entries = self._entries(mark.id, direction="in", kind="user")
            ids = list(dict.fromkeys(e["message_id"] for e in entries
                                     if eori_of(e.get("sender")) == eori and e.get("message_id")))
            self._sent_marks[eori] = JournalMark.of(entries[-1]) if entries else mark
            return (Response(ok=True, message_ids=tuple(ids), extra={"observed_by": "simulator"}),
                    f"{len(ids)} message(s) sent by {eori} since the last look")

        return self._run(step, observe)

    # -- the journal --------------------------------------------------------------------------------------
    def _entries(self, since: int, **filters: Any) -> list[dict[str, Any]]:
        """Every journal entry after ``since`` that matches ``filters``, oldest first (all pages)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.control.journal(since_id=since, limit=_PAGE, **filters)
            found += page
            if len(page) < _PAGE:
                return found
            since = int(page[-1]["id"])

    def _valid(self, mark: JournalMark) -> JournalMark:
        """``mark``, or the journal's start when the simulator was reset since (its entry is gone)."""
        return mark if self._journal.still_there((mark.id, mark.real_at or 0.0)) else JournalMark()

    def _newest(self) -> JournalMark:
        """The journal's newest entry now (read on from the last one seen, so each entry is read once)."""
        newest, real_at = self._journal.mark()
        return JournalMark(newest, real_at if newest else None)

    def _deliveries(self, eori: str, since: JournalMark, *,
                    until: int | None = None) -> tuple[list[dict[str, Any]], JournalMark]:
        """The user messages handed to ``eori`` after ``since`` (up to entry ``until``), oldest first, each
        once: pulled ones as they left, pushed ones once their delivery is on record. Also where the next
        look starts: after the last entry read, or before the first push whose delivery is not on record."""
        delivered: list[dict[str, Any]] = []
        seen: set[str] = set()
        resume, waiting = since, False
        for entry in self._entries(since.id, direction="out", kind="user"):
            if until is not None and int(entry["id"]) > until:
                break
            message_id = entry.get("message_id")
            if message_id and message_id not in seen and eori_of(entry.get("receiver")) == eori:
                pulled = str(entry.get("queue") or "").startswith(C2T_MPC_PREFIX)
                if pulled or self.control.journal(direction="in", ref_to_message_id=message_id,
                                                  verdict="delivered", limit=1):
                    seen.add(message_id)
                    delivered.append(entry)
                else:
                    waiting = True
            if not waiting:
                resume = JournalMark.of(entry)
        return delivered, resume

    # -- what the person sees -----------------------------------------------------------------------------
    def _publish(self, request: Request, name: str, eori: str, *, expects: str | None,
                 awaiting: str | None) -> _Step:
        """Print the instruction and put it on the page; the step's time budget starts now."""
        self._steps += 1
        title, text, data = describe(request, name, eori)
        step = _Step(f"{self._steps}-{secrets.token_hex(6)}", self._steps, request.action,
                     time.monotonic() + self.timeout)
        started = datetime.now(UTC)
        lines = [f"[manual {step.number}] {text}"]
        if awaiting is not None:
            if data is not None:
                body = json.dumps(data, indent=2, ensure_ascii=False)
                label = "business data" if isinstance(request, File | Amend) else "details"
                lines += [f"    {label}:", *(f"      {line}" for line in body.splitlines())]
            hint = "" if "token=" in self.page_url else " (open it once with ?token=<the token in <var>/control-token>)"
            lines += [f"    page: {self.page_url}{hint}",
                      f"    waiting up to {self.timeout:g} s for {awaiting}",
                      '    (if your package cannot do this, say so on the page: "My package cannot do this")']
        self._say(*lines)
        deadline = started + timedelta(seconds=self.timeout) if awaiting is not None else None
        self.control.manual_show({
            "id": step.id, "step": step.number, "title": title, "text": text, "action": request.action,
            "party": name, "eori": eori, "expects": expects, "awaiting": awaiting, "data": data,
            "started_at": started.isoformat(), "deadline_at": None if deadline is None else deadline.isoformat()})
        return step

    def _run(self, step: _Step, work: Callable[[], _Outcome]) -> Response:
        """Do the step's ``work``; take the step off the page with its result, whatever happens."""
        try:
            response, summary = work()
        except BaseException as exc:
            detail = exc.detail if isinstance(exc, DriverError) else f"stopped: {exc!r}"
            self._say(f"    !! {detail}")
            with contextlib.suppress(ControlError, OSError):  # the failure that got us here matters more
                self.control.manual_clear(step.id, result=detail, ok=False)
            raise
        self._say(f"    -> {summary}")
        self.control.manual_clear(step.id, result=summary, ok=response.ok)
        return response

    def _say(self, *lines: str) -> None:
        self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()


# -- instructions -----------------------------------------------------------------------------------------
def describe(request: Request, name: str, eori: str) -> tuple[str, str, Any]:
    """(title, instruction, data to show) of ``request`` for the person acting as ``name`` / ``eori``."""
    fields = json.loads(request_to_json(request))
    for key in ("contract", "action", "party"):
        fields.pop(key, None)
    for item in fields.get("attachments", []):
        # The bytes are the harness's sample; the person attaches a file of their own of that type.
        item["size_bytes"] = len(base64.b64decode(item.pop("content_b64")))
    who = f"as party {name} (EORI {eori})" if name != eori else f"as EORI {eori}"
    action, mrn, referral = request.action, fields.get("mrn"), fields.get("referral")
    if isinstance(request, File | Amend):
        data = fields["business_data"]
        lrn = fields.get("lrn") or data.get("lrn")
        lrn_text = f", LRN {lrn}" if lrn else " (the LRN is yours to choose)"
        if isinstance(request, File):
            return (f"File an {request.message_type}",
                    f"File an {request.message_type} {who} with this business data{lrn_text}.", data)
        return (f"Amend the ENS {mrn} ({request.message_type})",
                f"Amend the ENS {mrn}: send an {request.message_type} {who} with this full new dataset{lrn_text}.",
                data)
    texts = {
        "invalidate": ("Invalidate an ENS (IE3Q04)", f"Ask for the invalidation of the ENS {mrn}: send an IE3Q04 "
                       f"{who}" + (f", reason: {fields['reason']}." if fields.get("reason") else ".")),
        "answer_information": ("Answer an information request (IE3R02)", f"Answer the information request "
                               f"{referral} about the ENS {mrn}: send an IE3R02 {who} with the text and "
                               "attachments below."),
        "answer_screening": ("Report a screening (IE3R03)", f"Report the screening asked for by {referral} about "
                             f"the ENS {mrn}: send an IE3R03 {who} with the details below."),
        "arrive": ("Notify an arrival (IE3N06)", f"As the carrier, notify the arrival of the means of transport "
                   f"carrying the ENS filings below: send an IE3N06 {who}."),
        "consult": ("Consult ENS data (IE3Q05)", f"Consult your ENS data: send an IE3Q05 {who} for this subject."),
        "poll": ("Fetch your messages", f"Fetch the messages waiting for you {who}: pull until nothing is left, "
                 "acknowledging each message."),
        "reset": ("A new scenario starts", f"A new scenario starts ({who if request.party else 'every party'}): "
                  "forget what your package received and sent so far; nothing to send."),
        "received": ("What customs delivered", f"Nothing to do: the journal shows what was delivered to {eori}."),
        "sent": ("What you sent", f"Nothing to do: the journal shows what {eori} sent."),
    }
    title, text = texts[action]
    return title, text, fields or None


def _payload(entry: Mapping[str, Any]) -> bytes | None:
    if entry.get("payload_b64") is not None:
        return base64.b64decode(entry["payload_b64"])
    return None if entry.get("payload") is None else str(entry["payload"]).encode("utf-8")


def _top_level(payload: bytes | None, name: str) -> str | None:
    """The text of the payload's top-level element ``name`` (e.g. MRN, LRN), read with the hardened
    parser (no entities, no network, no DTD)."""
    try:
        root = parse_xml(payload) if payload else None
    except XmlRefused:
        return None
    for child in () if root is None else root:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip() or None
    return None
