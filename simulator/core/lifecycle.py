"""Declared state machines on the simulated clock: the profile-neutral lifecycle engine.

DESIGN.md "One core, two profiles", "Declarative where the domain is data", "Deterministic": a profile
declares its lifecycle in JSON and supplies small Python predicates (guards) by name; a definition is
validated at load (all problems in one DefinitionError); instances run inside the caller's connection
(nothing is committed here), with instants from the simulated clock only.

    machine = Machine.from_file(path, guards={"name": predicate}, parameters={"param": seconds})
    lifecycle = Lifecycle(machine)
    lifecycle.start(conn, entity_id, at, data={...})       -> Transition into the initial state
    lifecycle.fire(conn, entity_id, event, at, **context)  -> Transition, or raises TransitionRefused
    lifecycle.schedule(conn, entity_id, name, event, due, context); lifecycle.cancel(conn, entity_id, name)
    lifecycle.due_timers(conn, now); lifecycle.run_due(conn, now) -> [TimerFiring]
`fire` first fires the instance's own timers due by `at` (on `timers_fired` of the result or refusal),
so an outcome never depends on when a sweep last ran. `run_due` fires each due timer at its due instant,
by due instant, entity id, position (declared timers in declaration order, then scheduled ones),
cascades included; a rerun with the same `now` does nothing. A scheduled timer fires its event with the
context given to `schedule` (declared timers with {}). Tables and timer semantics: simulator/core/timers.py.

Definition (JSON; keys starting with "_" are comments): name, initial, terminal [states],
  states {name: {description, rule?}}, parameters {name: {default: seconds, verified, unit?, source?}},
  refusals {name: {code, rule, reply?, description?}}, default_refusal: name,
  events {name: {description?, messages?, steps: [step...]}}; a step is {from: [states] | "*", rule,
    to: state | "same", set?: {fact: value}, when?: [guards], unless?: [guards]} or {from, rule,
    refuse: refusal, when?, unless?}: the first step whose `from` holds the state and whose guards pass
    decides, none -> default_refusal; timers [{name, event, after: seconds | {parameter}, since: {enter?:
    [states], event?: [events]}, while?: [states], restart?: bool, rule}].
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from simulator.core import timers
from simulator.core.clock import parse_instant
from simulator.core.timers import DueTimer, TimerSpec, check_names, check_object, check_text, instant

START = "start"  # the pseudo-event of Lifecycle.start; not a declarable event name


class LifecycleError(Exception):
    """Base of the engine's errors."""


class DefinitionError(LifecycleError, ValueError):
    """A definition refused at load; `problems` lists every fault found, each naming where it is."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source, self.problems = source, problems
        super().__init__(f"lifecycle definition {source} refused:\n  - " + "\n  - ".join(problems))


class UnknownEvent(LifecycleError, LookupError):
    """The caller fired an event the definition does not declare (a programming error)."""


class UnknownInstance(LifecycleError, LookupError):
    """No instance of this machine for the entity id."""


class DuplicateInstance(LifecycleError):
    """`start` for an entity id that already has an instance of this machine."""


class ConcurrentUpdate(LifecycleError):
    """Another transaction stepped the same instance between our read and our write."""


class GuardError(LifecycleError):
    """A guard needed a context or data key that the caller did not supply."""


class TransitionRefused(LifecycleError):
    """The event is not allowed now. `code` is the profile's answer code (e.g. CL723 '92' out of
    sequence), `reason` the refusal's name, `rule` the rule enforced, `reply` the message to answer with."""

    def __init__(self, code: str, detail: str, *, reason: str, rule: str, reply: str | None, event: str,
                 state: str, entity_id: str) -> None:
        super().__init__(f"{code} {reason}: {detail}")
        self.code, self.detail, self.reason, self.rule, self.reply = code, detail, reason, rule, reply
        self.event, self.state, self.entity_id = event, state, entity_id
        self.timers_fired: tuple[TimerFiring, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What a guard sees: the instance (state, data) and the event with its context."""

    entity_id: str
    state: str
    event: str
    at: datetime
    data: Mapping[str, Any]
    context: Mapping[str, Any]


Guard = Callable[[Facts], bool]


@dataclass(frozen=True)
class Refusal:
    name: str
    code: str
    rule: str
    reply: str | None
    description: str


@dataclass(frozen=True)
class Step:
    """One entry of an event's `steps`: a transition (`to`, None = stay) or a refusal (`refuse`)."""

    from_states: frozenset[str]
    to: str | None
    refuse: Refusal | None
    when: tuple[str, ...]
    unless: tuple[str, ...]
    set: Mapping[str, Any]
    rule: str


@dataclass(frozen=True)
class EventSpec:
    name: str
    description: str
    messages: Mapping[str, Any]  # opaque to the engine: which messages trigger/answer the event
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Machine:
    """A validated definition (see the module docstring for the JSON format); build with from_file."""

    name: str
    states: Mapping[str, str]  # name -> description
    initial: str
    terminal: frozenset[str]
    events: Mapping[str, EventSpec]
    refusals: Mapping[str, Refusal]
    default_refusal: Refusal
    parameters: Mapping[str, float]  # seconds, after overrides
    timers: tuple[TimerSpec, ...]
    guards: Mapping[str, Guard]

    @classmethod
    def from_file(cls, path: str | Path, guards: Mapping[str, Guard] | None = None,
                  parameters: Mapping[str, float] | None = None) -> Machine:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise DefinitionError(str(path), [f"not JSON: {exc}"]) from exc
        return cls.from_dict(data, guards, parameters, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, guards: Mapping[str, Guard] | None = None,
                  parameters: Mapping[str, float] | None = None, *, source: str = "<dict>") -> Machine:
        return _load(data, dict(guards or {}), dict(parameters or {}), source)

    def decide(self, state: str, event: str, facts: Facts) -> Step:
        """The first step of `event` that applies in `state`; TransitionRefused if it (or none) refuses."""
        if event not in self.events:
            raise UnknownEvent(f"machine {self.name!r} declares no event {event!r}")
        for step in self.events[event].steps:
            if state not in step.from_states:
                continue
            if not all(self._guard(g, facts) for g in step.when) or any(self._guard(g, facts) for g in step.unless):
                continue
            if step.refuse is None:
                return step
            raise self._refused(step.refuse, step.rule, facts)
        raise self._refused(self.default_refusal, self.default_refusal.rule, facts)

    def _refused(self, refusal: Refusal, rule: str, facts: Facts) -> TransitionRefused:
        detail = f"event {facts.event!r} is not allowed in state {facts.state!r}" + (
            f": {refusal.description}" if refusal.description else "")
        return TransitionRefused(refusal.code, detail, reason=refusal.name, rule=rule, reply=refusal.reply,
                                 event=facts.event, state=facts.state, entity_id=facts.entity_id)

    def _guard(self, name: str, facts: Facts) -> bool:
        try:
            return bool(self.guards[name](facts))
        except KeyError as exc:
            raise GuardError(f"guard {name!r} of event {facts.event!r} (entity {facts.entity_id!r}) needs "
                             f"{exc} in the event context or the instance data") from exc


_RESERVED = {"*", "same", START}
_REQUIRED = ("name", "initial", "terminal", "states", "events", "refusals", "default_refusal")


def _load(data: Any, guards: dict[str, Guard], overrides: dict[str, float], source: str) -> Machine:
    """Validate a definition; every problem found is reported at once (DefinitionError)."""
    p: list[str] = []
    top = check_object(data, "definition", p, _REQUIRED, ("description", "source", "version", "parameters", "timers"))
    name = check_text(top.get("name"), "name", p)
    states: dict[str, str] = {}
    for sname, entry in check_object(top.get("states", {}), "states", p, optional=None).items():
        if sname in _RESERVED:
            p.append(f"states: {sname!r} is a reserved word")
        states[sname] = str(check_object(entry, f"states.{sname}", p, ("description",), ("rule",)).get("description"))
    terminal = check_names(top.get("terminal", []), "terminal", states, "state", p)
    initial = str(top.get("initial"))
    if initial not in frozenset(states) - terminal:
        p.append(f"initial: {initial!r} is not a declared non-terminal state")
    p.extend(f"guards: {g!r} is not callable" for g, fn in guards.items() if not callable(fn))
    refusals = {}
    for rname, entry in check_object(top.get("refusals", {}), "refusals", p, optional=None).items():
        r = check_object(entry, f"refusals.{rname}", p, ("code", "rule"), ("reply", "description"))
        refusals[rname] = Refusal(rname, check_text(r.get("code"), f"refusals.{rname}.code", p),
                                  check_text(r.get("rule"), f"refusals.{rname}.rule", p), r.get("reply"),
                                  str(r.get("description", "")))
    if (default := refusals.get(str(top.get("default_refusal")))) is None:
        p.append(f"default_refusal: unknown refusal {top.get('default_refusal')!r}")
    events: dict[str, EventSpec] = {}
    for ename, entry in check_object(top.get("events", {}), "events", p, optional=None).items():
        if ename in _RESERVED:
            p.append(f"events: {ename!r} is a reserved word")
        e = check_object(entry, f"events.{ename}", p, ("steps",), ("description", "messages"))
        raw_steps: list[Any] = e["steps"] if isinstance(e.get("steps"), list) and e["steps"] else []
        if not raw_steps:
            p.append(f"events.{ename}.steps: expected a non-empty list")
        steps = tuple(_step(item, f"events.{ename}.steps[{i}]", p, states, terminal, refusals, guards)
                      for i, item in enumerate(raw_steps))
        messages = check_object(e.get("messages", {}), f"events.{ename}.messages", p, optional=None)
        events[ename] = EventSpec(ename, str(e.get("description", "")), messages, steps)
    transitions_from = {e: frozenset().union(*(s.from_states for s in spec.steps if s.refuse is None))
                        for e, spec in events.items()}
    parameters = timers.load_parameters(top.get("parameters", {}), overrides, p)
    timer_specs = timers.load_timers(top.get("timers", []), p, states=states, terminal=terminal,
                                     transitions_from=transitions_from, parameters=parameters)
    reached, frontier = {initial}, [initial]
    while frontier:
        here = frontier.pop()
        ahead = {s.to for e in events.values() for s in e.steps if here in s.from_states and s.to} - reached
        reached |= ahead
        frontier.extend(sorted(ahead))
    p.extend(f"states: {s!r} cannot be reached from {initial!r}" for s in states if s not in reached)
    if p or default is None:
        raise DefinitionError(source, p)
    return Machine(name, states, initial, terminal, events, refusals, default, parameters, timer_specs, guards)


def _step(item: Any, where: str, p: list[str], states: dict[str, str], terminal: frozenset[str],
          refusals: Mapping[str, Refusal], guards: Mapping[str, Guard]) -> Step:
    s = check_object(item, where, p, ("from", "rule"), ("to", "refuse", "set", "when", "unless"))
    if ("to" in s) == ("refuse" in s):
        p.append(f"{where}: give exactly one of 'to' (a transition) and 'refuse' (a refusal)")
    refuse = refusals.get(str(s.get("refuse"))) if "refuse" in s else None
    if "refuse" in s and refuse is None:
        p.append(f"{where}: unknown refusal {s.get('refuse')!r}")
    everywhere = frozenset(states) if "refuse" in s else frozenset(states) - terminal
    from_states = check_names(s.get("from", []), f"{where}.from", states, "state", p, star=everywhere)
    to = s["to"] if isinstance(s.get("to"), str) else None
    if "to" in s:
        if to != "same" and to not in states:
            p.append(f"{where}.to: unknown state {s['to']!r}")
        p.extend(f"{where}: a terminal state has no way out ({t!r})" for t in sorted(from_states & terminal))
    if "set" in s and ("to" not in s or not isinstance(s["set"], dict)):
        p.append(f"{where}.set: an object of facts, only on a transition")
    when = check_names(s.get("when", []), f"{where}.when", guards, "guard", p)
    unless = check_names(s.get("unless", []), f"{where}.unless", guards, "guard", p)
    return Step(from_states, None if to == "same" else to, refuse, tuple(sorted(when)), tuple(sorted(unless)),
                dict(s["set"]) if isinstance(s.get("set"), dict) else {}, check_text(s.get("rule"), f"{where}.rule", p))


@dataclass(frozen=True)
class Instance:
    machine: str
    entity_id: str
    state: str
    terminal: bool
    data: Mapping[str, Any]
    seq: int
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Transition:
    """One step taken (also one row of the history); `changed` is False for a stay."""

    machine: str
    entity_id: str
    seq: int
    kind: str  # start | event | timer
    event: str
    from_state: str | None
    to_state: str
    at: datetime
    rule: str | None
    timer: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    timers_fired: tuple[TimerFiring, ...] = ()

    @property
    def changed(self) -> bool:
        return self.from_state != self.to_state


@dataclass(frozen=True)
class TimerFiring:
    """A timer that fired: its transition, or the refusal its event met (the timer is consumed either way)."""

    timer: DueTimer
    transition: Transition | None
    refused: TransitionRefused | None = None


class Lifecycle:
    """Instances of one machine (rows keyed by machine name and entity id), worked in the caller's connection."""

    def __init__(self, machine: Machine) -> None:
        self.machine, self.name = machine, machine.name

    def get(self, conn: Connection, entity_id: str) -> Instance | None:
        if (row := timers.load_instance(conn, self.name, entity_id)) is None:
            return None
        state, data, seq, started, updated = row
        return Instance(self.name, entity_id, state, state in self.machine.terminal, data, seq,
                        parse_instant(started), parse_instant(updated))

    def start(self, conn: Connection, entity_id: str, at: datetime, /,
              data: Mapping[str, Any] | None = None) -> Transition:
        """Create the instance in the initial state (facts `data` for the guards) and arm its timers."""
        at = instant(at)
        if timers.load_instance(conn, self.name, entity_id) is not None:
            raise DuplicateInstance(f"{self.name} {entity_id!r} is already started")
        timers.create_instance(conn, self.name, entity_id, self.machine.initial, data or {}, at)
        return self._record(conn, entity_id, 1, START, None, self.machine.initial, at, None, None, {}, set())

    def start_and_fire(self, conn: Connection, entity_id: str, at: datetime, event: str, /,
                       data: Mapping[str, Any] | None = None, **context: Any) -> Transition:
        """`start` then `fire(event)` at the same instant, without the timer catch-up a new instance cannot need
        (nothing of it is armed yet): the common "register" of a filing, one read fewer on its hot path."""
        self.start(conn, entity_id, at, data=data)
        return self._step(conn, entity_id, event, instant(at), context, None, [])

    def fire(self, conn: Connection, entity_id: str, event: str, at: datetime, /, **context: Any) -> Transition:
        """Apply `event` at `at`, after the instance's timers due by then; TransitionRefused if refused."""
        at = instant(at)
        armed: list[DueTimer] | None = timers.armed(conn, self.name, entity_id)  # declared and scheduled
        fired: tuple[TimerFiring, ...] = ()
        if armed and armed[0].due <= at:  # catch up first; the timers are then read again
            fired, armed = tuple(self.run_due(conn, at, entity_id=entity_id)), None
        try:
            transition = self._step(conn, entity_id, event, at, context, None, armed)
        except TransitionRefused as refused:
            refused.timers_fired = fired
            raise
        return replace(transition, timers_fired=fired)

    def schedule(self, conn: Connection, entity_id: str, name: str, event: str, due: datetime,
                 context: Mapping[str, Any], *, armed_at: datetime | None = None) -> None:
        """Arm a one-off timer `name` (replacing a scheduled one so named) firing `event` with `context` at `due`,
        via run_due and fire's catch-up; no state change disarms it; a refusal when due is on its TimerFiring.
        Refused: a declared timer's name, an undeclared event, an unknown instance. `armed_at` defaults to due."""
        if event not in self.machine.events:
            raise UnknownEvent(f"machine {self.name!r} declares no event {event!r}")
        if any(spec.name == name for spec in self.machine.timers):
            raise ValueError(f"timer {name!r} is declared by {self.name!r}; a scheduled timer needs its own name")
        if timers.load_instance(conn, self.name, entity_id) is None:
            raise UnknownInstance(f"no {self.name} instance for {entity_id!r}")
        timers.schedule(conn, self.name, entity_id, name, event, due, instant(armed_at or due), context,
                        len(self.machine.timers))

    def cancel(self, conn: Connection, entity_id: str, name: str) -> bool:
        """Disarm the scheduled timer `name`; False if it was not armed (declared timers are left alone)."""
        return timers.cancel(conn, self.name, entity_id, name)

    def history(self, conn: Connection, entity_id: str) -> list[Transition]:
        """Every step taken by the instance, oldest first."""
        return [Transition(self.name, entity_id, r.seq, r.kind, r.event, r.from_state, r.to_state,
                           parse_instant(r.at), r.rule, r.timer, json.loads(r.context))
                for r in timers.history_rows(conn, self.name, entity_id)]

    def armed_timers(self, conn: Connection, entity_id: str) -> list[DueTimer]:
        return timers.armed(conn, self.name, entity_id)  # soonest first

    def has_due(self, conn: Connection, now: datetime) -> bool:
        """Is any timer of this machine due at or before `now`? (one indexed read)"""
        return timers.next_due(conn, self.name, now) is not None

    def due_timers(self, conn: Connection, now: datetime) -> list[DueTimer]:
        """Timers due at or before `now`, in firing order (not those that their firing would arm)."""
        return timers.due(conn, self.name, now)

    def run_due(self, conn: Connection, now: datetime, *, entity_id: str | None = None) -> list[TimerFiring]:
        """Fire every timer due at or before `now` (of one entity if given), each at its due instant."""
        now, out = instant(now), []
        while (timer := timers.next_due(conn, self.name, now, entity_id)) is not None:
            timers.consume(conn, self.name, timer)
            try:
                out.append(TimerFiring(timer, self._step(conn, timer.entity_id, timer.event, timer.due,
                                                         timer.context, timer.timer, None)))
            except TransitionRefused as refused:
                out.append(TimerFiring(timer, None, refused))
        return out

    def _step(self, conn: Connection, entity_id: str, event: str, at: datetime, context: Mapping[str, Any],
              timer: str | None, armed: list[DueTimer] | None) -> Transition:
        instance = self.get(conn, entity_id)
        if instance is None:
            raise UnknownInstance(f"no {self.name} instance for {entity_id!r}")
        facts = Facts(entity_id, instance.state, event, at, instance.data, context)
        step = self.machine.decide(instance.state, event, facts)
        to_state = instance.state if step.to is None else step.to
        if not timers.step_instance(conn, self.name, entity_id, instance.seq, to_state,
                                    {**instance.data, **step.set}, at):
            raise ConcurrentUpdate(f"{self.name} {entity_id!r} changed under event {event!r}; retry")
        if armed is None:
            armed = timers.armed(conn, self.name, entity_id) if self.machine.timers else []
        return self._record(conn, entity_id, instance.seq + 1, event, instance.state, to_state, at, step.rule,
                            timer, context, {t.timer for t in armed})

    def _record(self, conn: Connection, entity_id: str, seq: int, event: str, from_state: str | None,
                to_state: str, at: datetime, rule: str | None, timer: str | None, context: Mapping[str, Any],
                armed: set[str]) -> Transition:
        kind = START if from_state is None else ("timer" if timer else "event")
        timers.record(conn, self.name, entity_id, seq, kind, event, timer, from_state, to_state, at, rule, context)
        timers.apply(conn, self.name, entity_id, self.machine.timers, event=event, from_state=from_state,
                     to_state=to_state, at=at, armed_names=armed)
        return Transition(self.name, entity_id, seq, kind, event, from_state, to_state, at, rule, timer,
                          dict(context))
