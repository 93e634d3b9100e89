"""The manual driver's instruction board: the one step a person is asked to perform, and their answer.

The harness (scenarios/drivers/manual.py) puts an instruction up, watches the simulator's journal for
what the package sends, and takes the instruction down with its result; the person's page
(simulator/portal/views.py) shows it and records the person's answer: "done", or "cannot" (the package
cannot do this). Instructions are transient and are not customs messages, so they live in memory: the
control server is one process (one gunicorn worker) whose request threads share the board under a lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("done", "cannot")
HISTORY_LENGTH = 10  # finished steps the page lists, newest first
_ID_LIMIT = 200
_TEXT_LIMIT = 4000

_INSTRUCTION_KEYS = ("id", "step", "title", "text", "action", "party", "eori", "expects", "awaiting", "data",
                     "started_at", "deadline_at")


class BoardConflict(Exception):
    """An answer for an instruction that is not (or no longer) the current one."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Instruction:
    """One step for the person: what to do (``title``, ``text``), as whom (``party``, ``eori``), the
    message the harness waits for (``expects``, e.g. IE3F32, or None when nothing is sent), the data to
    use (``data``, any JSON) and the time budget (``started_at`` .. ``deadline_at``)."""

    id: str
    step: int
    title: str
    text: str
    action: str
    party: str
    eori: str
    expects: str | None
    awaiting: str | None  # what the harness waits for, in words; derived from ``expects`` when absent
    data: Any
    started_at: datetime | None
    deadline_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.step, "title": self.title, "text": self.text, "action": self.action,
                "party": self.party, "eori": self.eori, "expects": self.expects, "awaiting": self.awaiting,
                "data": self.data, "started_at": _iso(self.started_at), "deadline_at": _iso(self.deadline_at)}


@dataclass(frozen=True)
class Answer:
    """What the person said about the current instruction."""

    outcome: str  # one of OUTCOMES
    note: str | None
    answered_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "note": self.note, "answered_at": _iso(self.answered_at)}


@dataclass(frozen=True)
class Finished:
    """A step the harness took down, with its result in words (shown under "Earlier steps")."""

    id: str
    step: int
    title: str
    result: str | None
    ok: bool | None
    finished_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.step, "title": self.title, "result": self.result, "ok": self.ok,
                "finished_at": _iso(self.finished_at)}


# -- input --------------------------------------------------------------------------------------------
def _text(data: dict[str, Any], key: str, *, required: bool, limit: int = _TEXT_LIMIT) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{key!r} is required (a non-empty string)")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"{key!r} is longer than {limit} characters")
    return value


def _moment(data: dict[str, Any], key: str) -> datetime | None:
    raw = _text(data, key, required=False, limit=64)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{key!r} must be an ISO 8601 date-time, got {raw!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{key!r} must carry its UTC offset, got {raw!r}")
    return moment.astimezone(UTC)


def parse_instruction(data: Any) -> Instruction:
    """An instruction from the harness's JSON; ValueError (a 400) names the key that is wrong."""
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    unknown = sorted(set(data) - set(_INSTRUCTION_KEYS))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a key of an instruction ({', '.join(_INSTRUCTION_KEYS)})")
    step = data.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"'step' must be a whole number >= 0, got {step!r}")
    started, deadline = _moment(data, "started_at"), _moment(data, "deadline_at")
    if started is not None and deadline is not None and deadline < started:
        raise ValueError("'deadline_at' is before 'started_at'")
    required = {key: str(_text(data, key, required=True)) for key in ("title", "text", "action", "party", "eori")}
    return Instruction(
        id=str(_text(data, "id", required=True, limit=_ID_LIMIT)), step=step, expects=_text(data, "expects",
        required=False, limit=64), awaiting=_text(data, "awaiting", required=False), data=data.get("data"),
        started_at=started, deadline_at=deadline, **required)


def parse_answer(data: Any) -> tuple[str, str, str | None]:
    """(instruction id, outcome, note) from the page's JSON; ValueError (a 400) says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    unknown = sorted(set(data) - {"id", "outcome", "note"})
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a key of an answer (id, outcome, note)")
    instruction_id = str(_text(data, "id", required=True, limit=_ID_LIMIT))
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise ValueError(f"'outcome' must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    note = _text(data, "note", required=False)
    return instruction_id, str(outcome), None if note is None else note.strip() or None


# -- the board ----------------------------------------------------------------------------------------
class InstructionBoard:
    """The current instruction, the person's answer to it, and the last finished steps; thread-safe."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._current: Instruction | None = None
        self._answer: Answer | None = None
        self._history: deque[Finished] = deque(maxlen=HISTORY_LENGTH)

    def show(self, instruction: Instruction) -> None:
        """Put ``instruction`` up; the same id again updates it and keeps the answer, a new id drops it."""
        with self._lock:
            if self._current is None or self._current.id != instruction.id:
                self._answer = None
            self._current = instruction

    def answer(self, instruction_id: str, outcome: str, note: str | None) -> Answer:
        """Record the person's answer to the current instruction (a later answer replaces an earlier one:
        "done" first, then "cannot" when the package failed after all)."""
        with self._lock:
            if self._current is None or self._current.id != instruction_id:
                shown = "no instruction is shown" if self._current is None else "another instruction is shown"
                raise BoardConflict(f"instruction {instruction_id!r} is not the current one ({shown})")
            self._answer = Answer(outcome, note, self._now())
            return self._answer

    def clear(self, instruction_id: str, *, result: str | None = None, ok: bool | None = None) -> bool:
        """Take the instruction ``instruction_id`` down with its result; False when it is not the current
        one (already cleared, or replaced): clearing is idempotent."""
        with self._lock:
            current = self._current
            if current is None or current.id != instruction_id:
                return False
            self._history.appendleft(Finished(current.id, current.step, current.title, result, ok, self._now()))
            self._current, self._answer = None, None
            return True

    def state(self) -> dict[str, Any]:
        """What the page and the harness read: instruction, answer, time left, status line, history."""
        with self._lock:
            current, answer, history = self._current, self._answer, list(self._history)
        now = self._now()
        left = None
        if current is not None and current.deadline_at is not None:
            left = max(0.0, round((current.deadline_at - now).total_seconds(), 1))
        return {"instruction": None if current is None else current.to_json(),
                "answer": None if answer is None else answer.to_json(),
                "seconds_left": left, "status": status(current, answer, left),
                "history": [item.to_json() for item in history], "now": _iso(now)}


def awaited(instruction: Instruction) -> str | None:
    """What the harness waits for, in words (None: nothing, the person's "Done" ends the step)."""
    if instruction.awaiting:
        return instruction.awaiting
    if instruction.expects:
        return f"{instruction.expects} from {instruction.eori} to reach the simulator"
    return None


def status(instruction: Instruction | None, answer: Answer | None, seconds_left: float | None) -> dict[str, str]:
    """The page's status line as {"tone": idle|waiting|done|cannot|late, "text": ...}: one wording for the
    first render and for every refresh."""
    if instruction is None:
        return {"tone": "idle", "text": "No step is waiting for you. The harness shows the next one here."}
    waiting_for = awaited(instruction)
    if answer is not None and answer.outcome == "cannot":
        note = f" ({answer.note})" if answer.note else ""
        return {"tone": "cannot", "text": f"You reported that your package cannot do this{note}. The harness "
                                          "records the step as unsupported."}
    if seconds_left == 0:
        what = waiting_for or "your answer"
        return {"tone": "late", "text": f"Time is up: {what} did not come in time."}
    if answer is not None:
        if waiting_for is None:
            return {"tone": "done", "text": "Done. The harness goes on with the next step."}
        return {"tone": "done", "text": f"You pressed Done. Still waiting for {waiting_for}: the step ends when "
                                        "the simulator sees it."}
    if waiting_for is None:
        return {"tone": "waiting", "text": "Press Done when you have finished."}
    return {"tone": "waiting", "text": f"Waiting for {waiting_for}."}
