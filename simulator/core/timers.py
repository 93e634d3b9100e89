"""The lifecycle engine's tables and timers, on the simulated clock (DESIGN.md "Deterministic").

simulator/core/lifecycle.py is the engine's API; this module holds what it keeps (instances, their
history, armed timers: the `lifecycle_*` tables on the core MetaData), the timer arithmetic and the
checks of the time-related sections of a definition (`parameters`, `timers`).

A timer fires one event a fixed number of seconds after it was armed, e.g. the ICS2 completion timer
and the automatic invalidation of an ENS 200 days after filing (domain/ics2.md "ENS lifecycle"):
- armed when the instance enters one of its `since.enter` states, or when one of its `since.event`
  events is applied, provided the new state is one of its `while` states (default: the `since.enter`
  states, else every non-terminal state) and it is not armed already (`restart: true` re-arms it);
- disarmed as soon as the instance is in a state outside `while` (terminal states never are in it);
- consumed when it fires; it fires at its due instant, whenever the sweep runs.
A scheduled timer (Lifecycle.schedule) is a one-off: armed by name for an instant and an event context
given by the caller (e.g. a risk outcome), never disarmed by a state change (only cancelled by name or
consumed when it fires); its stored `context` (JSON, NULL for declared timers) marks it as scheduled.
Its `position` follows the declared timers', so declared ones fire first when both are due together.
Instants are held to the millisecond and stored as fixed-width ISO 8601 UTC text (`clock.iso`,
YYYY-MM-DDThh:mm:ss.fffZ), so that their text order is their time order on every back end. No wall
clock is read here: every instant comes from the caller.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.engine import Connection

from simulator.core.clock import iso, parse_instant
from simulator.core.fastsql import Prepared
from simulator.core.store import SCENE, metadata

lifecycle_instances = Table(
    "lifecycle_instances",
    metadata,
    Column("machine", String(64), primary_key=True),
    Column("entity_id", String(128), primary_key=True),
    Column("state", String(64), nullable=False),
    Column("data", Text, nullable=False),  # JSON object: facts set by steps, read by guards
    Column("seq", Integer, nullable=False),  # steps taken so far; detects concurrent updates
    Column("started_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    info=SCENE,
)
lifecycle_history = Table(
    "lifecycle_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("machine", String(64), nullable=False),
    Column("entity_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # start | event | timer
    Column("event", String(64), nullable=False),
    Column("timer", String(64)),
    Column("from_state", String(64)),
    Column("to_state", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("rule", Text),
    Column("context", Text, nullable=False),  # JSON object given to fire(**context)
    UniqueConstraint("machine", "entity_id", "seq", name="uq_lifecycle_history_seq"),
    info=SCENE,
)
lifecycle_timers = Table(
    "lifecycle_timers",
    metadata,
    Column("machine", String(64), primary_key=True),
    Column("entity_id", String(128), primary_key=True),
    Column("timer", String(64), primary_key=True),
    Column("position", Integer, nullable=False),  # declaration order: the last tie-breaker
    Column("event", String(64), nullable=False),
    Column("armed_at", String(32), nullable=False),
    Column("due_at", String(32), nullable=False),
    Column("context", Text),  # JSON event context of a scheduled timer; NULL for a declared one
    info=SCENE,
)
Index("ix_lifecycle_timers_due", lifecycle_timers.c.machine, lifecycle_timers.c.due_at,
      lifecycle_timers.c.entity_id, lifecycle_timers.c.position)
# Every table of the engine: for the scene reset (simulator/core/context.py).

_i, _h = lifecycle_instances.c, lifecycle_history.c
_LOAD = Prepared(select(_i.state, _i.data, _i.seq, _i.started_at, _i.updated_at).where(
    _i.machine == bindparam("m"), _i.entity_id == bindparam("e")), ("m", "e"))
_CREATE = Prepared(lifecycle_instances.insert(), ("machine", "entity_id", "state", "data", "seq", "started_at",
                                                  "updated_at"))
_STEP = Prepared(update(lifecycle_instances).where(
    _i.machine == bindparam("m"), _i.entity_id == bindparam("e"), _i.seq == bindparam("old_seq"),
).values(state=bindparam("new_state"), data=bindparam("new_data"), seq=bindparam("new_seq"),
         updated_at=bindparam("new_at")).returning(_i.seq),
    ("m", "e", "old_seq", "new_state", "new_data", "new_seq", "new_at"))
_RECORD = Prepared(lifecycle_history.insert(), ("machine", "entity_id", "seq", "kind", "event", "timer",
                                                "from_state", "to_state", "at", "rule", "context"))


def to_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def load_instance(conn: Connection, machine: str, entity_id: str) -> tuple[str, dict[str, Any], int, str, str] | None:
    """(state, data, seq, started_at, updated_at) of one instance, or None."""
    _, rows = _LOAD.run(conn, {"m": machine, "e": entity_id})
    if not rows:
        return None
    state, data, seq, started, updated = rows[0]
    return str(state), json.loads(data), int(seq), str(started), str(updated)


def create_instance(conn: Connection, machine: str, entity_id: str, state: str, data: Mapping[str, Any],
                    at: datetime) -> None:
    _CREATE.run(conn, {"machine": machine, "entity_id": entity_id, "state": state, "data": to_json(data),
                       "seq": 1, "started_at": iso(at), "updated_at": iso(at)})


def step_instance(conn: Connection, machine: str, entity_id: str, old_seq: int, state: str,
                  data: Mapping[str, Any], at: datetime) -> bool:
    """Move the instance on if nobody else did since it was read at `old_seq`; False if somebody did."""
    _, rows = _STEP.run(conn, {"m": machine, "e": entity_id, "old_seq": old_seq, "new_state": state,
                               "new_data": to_json(data), "new_seq": old_seq + 1, "new_at": iso(at)})
    return bool(rows)


def record(conn: Connection, machine: str, entity_id: str, seq: int, kind: str, event: str, timer: str | None,
           from_state: str | None, to_state: str, at: datetime, rule: str | None,
           context: Mapping[str, Any]) -> None:
    _RECORD.run(conn, {"machine": machine, "entity_id": entity_id, "seq": seq, "kind": kind, "event": event,
                       "timer": timer, "from_state": from_state, "to_state": to_state, "at": iso(at),
                       "rule": rule, "context": to_json(context)})


def history_rows(conn: Connection, machine: str, entity_id: str) -> list[Any]:
    """History rows of one instance in step order (seq, kind, event, from/to state, at, rule, timer, context)."""
    query = (select(_h.seq, _h.kind, _h.event, _h.from_state, _h.to_state, _h.at, _h.rule, _h.timer, _h.context)
             .where(_h.machine == machine, _h.entity_id == entity_id).order_by(_h.seq))
    return list(conn.execute(query))


_t = lifecycle_timers.c
_COLUMNS = (_t.entity_id, _t.timer, _t.event, _t.due_at, _t.position, _t.context)
_ORDER = (_t.due_at, _t.entity_id, _t.position)
_OF_ENTITY = Prepared(
    select(*_COLUMNS).where(_t.machine == bindparam("m"), _t.entity_id == bindparam("e")).order_by(*_ORDER),
    ("m", "e"))
_NEXT_DUE = Prepared(
    select(*_COLUMNS).where(_t.machine == bindparam("m"), _t.due_at <= bindparam("now")).order_by(*_ORDER)
    .limit(bindparam("one")).offset(bindparam("zero")), ("m", "now", "one", "zero"))
_INSERT = Prepared(lifecycle_timers.insert(), ("machine", "entity_id", "timer", "position", "event", "armed_at",
                                               "due_at", "context"))
_DELETE = Prepared(delete(lifecycle_timers).where(
    _t.machine == bindparam("m"), _t.entity_id == bindparam("e"), _t.timer == bindparam("t")), ("m", "e", "t"))
_CANCEL = Prepared(delete(lifecycle_timers).where(
    _t.machine == bindparam("m"), _t.entity_id == bindparam("e"), _t.timer == bindparam("t"),
    _t.context.is_not(None)).returning(_t.timer), ("m", "e", "t"))


def instant(moment: datetime) -> datetime:
    """`moment` held to the millisecond, in UTC; a naive datetime is refused (it has no place in time)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a lifecycle instant needs a time zone: {moment!r}")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class TimerSpec:
    """One declared timer: fire `event` `seconds` after arming (see the module docstring)."""

    name: str
    event: str
    seconds: float
    enter: frozenset[str]
    events: frozenset[str]
    while_states: frozenset[str]
    restart: bool
    rule: str
    position: int

    def triggered(self, event: str, from_state: str | None, to_state: str) -> bool:
        """Does this step arm (or, with `restart`, re-arm) the timer?"""
        entering = from_state != to_state and to_state in self.enter
        return to_state in self.while_states and (entering or event in self.events)


@dataclass(frozen=True)
class DueTimer:
    """An armed timer of one instance, as stored."""

    entity_id: str
    timer: str
    event: str
    due_at: str  # ISO 8601 UTC, clock.iso form
    position: int
    context_json: str | None = None  # set for a scheduled timer only

    @property
    def due(self) -> datetime:
        return parse_instant(self.due_at)

    @property
    def scheduled(self) -> bool:
        """Armed by Lifecycle.schedule (a one-off), not by the definition's `timers`."""
        return self.context_json is not None

    @property
    def context(self) -> dict[str, Any]:
        """The event context the timer fires with: the scheduled one, {} for a declared timer."""
        return dict(json.loads(self.context_json)) if self.context_json is not None else {}


def _row(row: tuple[object, ...]) -> DueTimer:
    entity_id, timer, event, due_at, position, context = row
    return DueTimer(str(entity_id), str(timer), str(event), str(due_at), int(position),  # type: ignore[call-overload]
                    None if context is None else str(context))


def armed(conn: Connection, machine: str, entity_id: str) -> list[DueTimer]:
    """The armed timers of one instance, soonest first."""
    _, rows = _OF_ENTITY.run(conn, {"m": machine, "e": entity_id})
    return [_row(r) for r in rows]


def next_due(conn: Connection, machine: str, now: datetime, entity_id: str | None = None) -> DueTimer | None:
    """The first timer due at or before `now`: by due instant, then entity id, then declaration order."""
    if entity_id is None:
        _, rows = _NEXT_DUE.run(conn, {"m": machine, "now": iso(instant(now)), "one": 1, "zero": 0})
        return _row(rows[0]) if rows else None
    for timer in armed(conn, machine, entity_id):
        return timer if timer.due_at <= iso(instant(now)) else None
    return None


def due(conn: Connection, machine: str, now: datetime) -> list[DueTimer]:
    """Every timer due at or before `now`, in firing order (no cascade: timers they would arm are not listed)."""
    query = select(*_COLUMNS).where(_t.machine == machine, _t.due_at <= iso(instant(now))).order_by(*_ORDER)
    return [_row(tuple(r)) for r in conn.execute(query)]


def apply(conn: Connection, machine: str, entity_id: str, specs: Iterable[TimerSpec], *, event: str,
          from_state: str | None, to_state: str, at: datetime, armed_names: set[str]) -> None:
    """Arm and disarm the timers of one instance after it stepped from `from_state` to `to_state`."""
    for spec in specs:
        keys = {"m": machine, "e": entity_id, "t": spec.name}
        if to_state not in spec.while_states:
            if spec.name in armed_names:
                _DELETE.run(conn, keys)
            continue
        if not spec.triggered(event, from_state, to_state) or (spec.name in armed_names and not spec.restart):
            continue
        if spec.name in armed_names:
            _DELETE.run(conn, keys)
        _INSERT.run(conn, {"machine": machine, "entity_id": entity_id, "timer": spec.name,
                           "position": spec.position, "event": spec.event, "armed_at": iso(at),
                           "due_at": iso(at + timedelta(seconds=spec.seconds)), "context": None})


def schedule(conn: Connection, machine: str, entity_id: str, name: str, event: str, due: datetime,
             armed_at: datetime, context: Mapping[str, Any], first_position: int) -> None:
    """Arm (or re-arm: the same name is replaced) a one-off timer; `apply` never touches it, because it
    only ever deletes declared timers by their names. Its position is after every timer the instance
    has (at least `first_position`, the number of declared timers): among timers due at the same instant,
    declared ones fire first, then scheduled ones in the order they were scheduled."""
    _DELETE.run(conn, {"m": machine, "e": entity_id, "t": name})
    position = max([first_position - 1, *(t.position for t in armed(conn, machine, entity_id))]) + 1
    _INSERT.run(conn, {"machine": machine, "entity_id": entity_id, "timer": name, "position": position,
                       "event": event, "armed_at": iso(armed_at), "due_at": iso(instant(due)),
                       "context": to_json(context)})


def cancel(conn: Connection, machine: str, entity_id: str, name: str) -> bool:
    """Disarm a scheduled timer by name; False if none was armed (declared timers are never cancelled)."""
    _, rows = _CANCEL.run(conn, {"m": machine, "e": entity_id, "t": name})
    return bool(rows)


def consume(conn: Connection, machine: str, timer: DueTimer) -> None:
    """Remove a timer that is about to fire."""
    _DELETE.run(conn, {"m": machine, "e": timer.entity_id, "t": timer.timer})


def check_object(value: Any, where: str, problems: list[str], required: Iterable[str] = (),
                 optional: Iterable[str] | None = ()) -> dict[str, Any]:
    """`value` as an object without its "_" comment keys; missing and (unless `optional` is None) unknown
    keys are reported to `problems`."""
    if not isinstance(value, dict):
        problems.append(f"{where}: expected an object")
        return {}
    keys, required = {k for k in value if not k.startswith("_")}, tuple(required)
    problems.extend(f"{where}: missing {k!r}" for k in required if k not in keys)
    if optional is not None:
        problems.extend(f"{where}: unknown key {k!r}" for k in sorted(keys - set(required) - set(optional)))
    return {k: v for k, v in value.items() if k in keys}


def check_text(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: expected a non-empty string")
        return ""
    return value


def check_names(value: Any, where: str, known: Iterable[str], what: str, problems: list[str],
                star: frozenset[str] | None = None) -> frozenset[str]:
    """A list of known names (or "*" = `star`, when given)."""
    if value == "*" and star is not None:
        return star
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: expected a list of {what} names" + (' or "*"' if star is not None else ""))
        return frozenset()
    known = set(known)
    problems.extend(f"{where}: unknown {what} {v!r}" for v in value if v not in known)
    return frozenset(v for v in value if v in known)


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def load_parameters(raw: Any, overrides: Mapping[str, float], problems: list[str]) -> dict[str, float]:
    """The `parameters` section: durations in seconds, each a setting (overrides win over defaults)."""
    out: dict[str, float] = {}
    if not isinstance(raw, dict):
        problems.append("parameters: expected an object")
        raw = {}
    for name, spec in raw.items():
        if name.startswith("_"):
            continue
        if not isinstance(spec, dict) or not _seconds(spec.get("default")) or spec.get("unit", "seconds") != "seconds":
            problems.append(f"parameters.{name}: expected {{default: seconds > 0, unit: 'seconds', verified: bool}}")
            continue
        if not isinstance(spec.get("verified"), bool):
            problems.append(f"parameters.{name}: say whether the value is verified (true/false)")
        out[name] = float(spec["default"])
    for name, value in overrides.items():
        if name not in out:
            problems.append(f"parameter override {name!r}: the definition declares no such parameter")
        elif not _seconds(value):
            problems.append(f"parameter override {name!r}: expected a number of seconds > 0, got {value!r}")
        else:
            out[name] = float(value)
    return out


_TIMER_KEYS = {"name", "event", "after", "since", "while", "restart", "rule"}


def load_timers(raw: Any, problems: list[str], *, states: Iterable[str], terminal: frozenset[str],
                transitions_from: Mapping[str, frozenset[str]], parameters: Mapping[str, float]
                ) -> tuple[TimerSpec, ...]:
    """The `timers` section (see the module docstring). `transitions_from` maps each event to the states
    it has a transition (not a refusal) from: a timer must be able to fire in every one of its states."""
    if not isinstance(raw, list):
        problems.append("timers: expected a list")
        return ()
    live = [s for s in states if s not in terminal]
    out: list[TimerSpec] = []
    for position, item in enumerate(raw):
        where = f"timers[{position}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object")
            continue
        where = f"timers[{position}] ({item.get('name')!r})"
        problems.extend(f"{where}: unknown key {k!r}" for k in sorted(set(item) - _TIMER_KEYS) if k[:1] != "_")
        problems.extend(f"{where}: missing {k!r}" for k in ("name", "event", "after", "since", "rule") if k not in item)
        event, after, since = str(item.get("event")), item.get("after"), item.get("since") or {}
        if event not in transitions_from:
            problems.append(f"{where}: unknown event {event!r}")
        if isinstance(after, dict) and set(after) == {"parameter"}:
            if str(after["parameter"]) not in parameters:
                problems.append(f"{where}: unknown parameter {after['parameter']!r}")
            seconds = parameters.get(str(after["parameter"]), 1.0)
        elif isinstance(after, int | float) and _seconds(after):
            seconds = float(after)
        else:
            problems.append(f"{where}: 'after' must be seconds > 0 or {{\"parameter\": name}}")
            seconds = 1.0
        if not isinstance(since, dict) or not set(since) <= {"enter", "event"} or not since:
            problems.append(f"{where}: 'since' must be {{enter: [states]}} and/or {{event: [events]}}")
            since = {}
        enter = check_names(since.get("enter", []), f"{where}.since.enter", live, "non-terminal state", problems)
        events = check_names(since.get("event", []), f"{where}.since.event", transitions_from, "event", problems)
        while_states = check_names(item["while"], f"{where}.while", live, "non-terminal state", problems) \
            if "while" in item else (enter or frozenset(live))
        if not enter <= while_states:
            problems.append(f"{where}: 'since.enter' states must be among its 'while' states")
        cannot = sorted(while_states - transitions_from.get(event, frozenset()))
        if event in transitions_from and cannot:
            problems.append(f"{where}: event {event!r} has no transition from {cannot}, where the timer may fire")
        if not isinstance(item.get("rule"), str) or not item.get("rule", "").strip():
            problems.append(f"{where}: 'rule' must name the rule the timer enforces")
        if not isinstance(item.get("restart", False), bool):
            problems.append(f"{where}: 'restart' must be true or false")
        out.append(TimerSpec(str(item.get("name")), event, seconds, enter, events, while_states,
                             bool(item.get("restart", False)), str(item.get("rule", "")), position))
    names = [t.name for t in out]
    problems.extend(f"timers: name {n!r} declared twice" for n in sorted({n for n in names if names.count(n) > 1}))
    return tuple(out)
