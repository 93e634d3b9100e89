"""The profile-neutral lifecycle engine: definitions validated at load, instances stepped in the caller's
transaction, timers fired exactly at their due instant on the simulated clock.

DESIGN.md "Declarative where the domain is data" (the machine is a JSON definition), "Deterministic"
(no wall clock: every instant is given; timers fire by due instant, entity id, declaration order);
simulator/core/lifecycle.py and simulator/core/timers.py.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from simulator.core import timers
from simulator.core.lifecycle import (
    DefinitionError,
    DuplicateInstance,
    Facts,
    GuardError,
    Lifecycle,
    Machine,
    TransitionRefused,
    UnknownEvent,
    UnknownInstance,
)
from simulator.core.store import Store
from simulator.core.timers import lifecycle_history, lifecycle_instances, lifecycle_timers

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)

# A parcel held at a depot: enough to exercise steps, refusals, guards, facts and both kinds of timer.
PARCEL: dict[str, Any] = {
    "_comment": "test machine",
    "name": "parcel",
    "initial": "new",
    "terminal": ["cancelled", "expired"],
    "states": {s: {"description": s} for s in ("new", "held", "released", "cancelled", "expired")},
    "parameters": {"ttl_seconds": {"default": 3600, "unit": "seconds", "verified": False}},
    "refusals": {
        "out-of-sequence": {"code": "92", "rule": "R-SEQ", "reply": "NACK"},
        "too-late": {"code": "93", "rule": "R-LATE", "description": "already released"},
        "not-cleared": {"code": "94", "rule": "R-CLEAR"},
    },
    "default_refusal": "out-of-sequence",
    "events": {
        "hold": {"steps": [{"from": ["new"], "to": "held", "rule": "R-HOLD"}]},
        "release": {"steps": [
            {"from": ["held"], "unless": ["cleared"], "refuse": "not-cleared", "rule": "R-RELEASE-CLEAR"},
            {"from": ["held"], "to": "released", "rule": "R-RELEASE"},
        ]},
        "note": {"steps": [{"from": "*", "to": "same", "set": {"noted": True}, "rule": "R-NOTE"}]},
        "cancel": {"steps": [
            {"from": ["released"], "refuse": "too-late", "rule": "R-CANCEL-LATE"},
            {"from": ["new", "held"], "when": ["noted"], "to": "cancelled", "rule": "R-CANCEL"},
        ]},
        "escalate": {"steps": [{"from": ["held"], "to": "same", "set": {"escalated": True}, "rule": "R-ESC"}]},
        "expire": {"steps": [{"from": ["new", "held"], "to": "expired", "rule": "R-TTL"}]},
    },
    "timers": [
        {"name": "ttl", "event": "expire", "after": {"parameter": "ttl_seconds"}, "since": {"enter": ["new"]},
         "while": ["new", "held"], "rule": "R-TTL"},
        {"name": "escalation", "event": "escalate", "after": 60, "since": {"event": ["hold", "note", "escalate"]},
         "while": ["held"], "restart": True, "rule": "R-ESC"},
    ],
}


def _cleared(facts: Facts) -> bool:
    return bool(facts.context["cleared"])


def _noted(facts: Facts) -> bool:
    return bool(facts.data.get("noted"))


GUARDS = {"cleared": _cleared, "noted": _noted}



@pytest.fixture
def parcel() -> Lifecycle:
    return Lifecycle(Machine.from_dict(PARCEL, GUARDS))


def _problems(definition: dict[str, Any], guards: dict[str, Any] | None = None, **params: float) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        Machine.from_dict(definition, GUARDS if guards is None else guards, params)
    return caught.value.problems


def _broken(**changes: Any) -> dict[str, Any]:
    definition = copy.deepcopy(PARCEL)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = definition
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return definition


# --- loading -----------------------------------------------------------------------------------------

def test_the_definition_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "parcel.json"
    path.write_text(json.dumps(PARCEL), "utf-8")
    machine = Machine.from_file(path, GUARDS, {"ttl_seconds": 10})
    assert machine.initial == "new"
    assert machine.terminal == {"cancelled", "expired"}
    assert machine.parameters == {"ttl_seconds": 10.0}
    assert [t.seconds for t in machine.timers] == [10.0, 60.0]


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{nope", "utf-8")
    with pytest.raises(DefinitionError, match="not JSON"):
        Machine.from_file(path, GUARDS)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"events__hold__steps__0__from": ["nowhere"]}, "events.hold.steps[0].from: unknown state 'nowhere'"),
    ({"events__hold__steps__0__to": "limbo"}, "events.hold.steps[0].to: unknown state 'limbo'"),
    ({"events__cancel__steps__1__when": ["psychic"]}, "events.cancel.steps[1].when: unknown guard 'psychic'"),
    ({"events__cancel__steps__0__refuse": "nope"}, "events.cancel.steps[0]: unknown refusal 'nope'"),
    ({"timers__0__event": "explode"}, "timers[0] ('ttl'): unknown event 'explode'"),
    ({"timers__0__after": {"parameter": "ttl"}}, "timers[0] ('ttl'): unknown parameter 'ttl'"),
    ({"timers__1__after": -5}, "timers[1] ('escalation'): 'after' must be seconds > 0"),
    ({"timers__1__while": ["held", "new"]}, "event 'escalate' has no transition from ['new']"),
    ({"events__hold__steps__0__rule": ""}, "events.hold.steps[0].rule: expected a non-empty string"),
    ({"events__hold__steps__0__form": ["new"]}, "events.hold.steps[0]: unknown key 'form'"),
    ({"events__expire__steps__0__from": ["new", "held", "expired"]}, "a terminal state has no way out ('expired')"),
    ({"initial": "expired"}, "initial: 'expired' is not a declared non-terminal state"),
    ({"default_refusal": "whatever"}, "default_refusal: unknown refusal 'whatever'"),
    ({"states__orphan": {"description": "never reached"}}, "states: 'orphan' cannot be reached from 'new'"),
    ({"events__start": {"steps": [{"from": "*", "to": "same", "rule": "x"}]}}, "events: 'start' is a reserved word"),
    ({"parameters__ttl_seconds__verified": "maybe"}, "parameters.ttl_seconds: say whether the value is verified"),
])
def test_a_faulty_definition_is_refused_naming_the_fault(changes: dict[str, Any], expected: str) -> None:
    problems = _problems(_broken(**changes))
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    definition = _broken(events__hold__steps__0__to="limbo", timers__0__event="explode", initial="nowhere")
    with pytest.raises(DefinitionError) as caught:
        Machine.from_dict(definition, GUARDS, source="parcel.json")
    assert len(caught.value.problems) >= 3
    assert str(caught.value).startswith("lifecycle definition parcel.json refused:")


def test_guards_and_parameters_must_match_the_definition() -> None:
    assert any("unknown guard 'noted'" in p for p in _problems(PARCEL, {"cleared": _cleared}))
    assert any("override 'colour'" in p for p in _problems(PARCEL, colour=3))
    assert any("override 'ttl_seconds'" in p for p in _problems(PARCEL, ttl_seconds=0))


# --- stepping ----------------------------------------------------------------------------------------

def test_start_puts_the_instance_in_the_initial_state_once(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        started = parcel.start(conn, "P1", T0, data={"owner": "A"})
        assert (started.kind, started.from_state, started.to_state, started.seq) == ("start", None, "new", 1)
        with pytest.raises(DuplicateInstance):
            parcel.start(conn, "P1", T0)
        instance = parcel.get(conn, "P1")
    assert instance is not None
    assert (instance.state, instance.data, instance.terminal, instance.started_at) == ("new", {"owner": "A"}, False, T0)


def test_allowed_events_step_and_are_recorded_with_their_rule(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        held = parcel.fire(conn, "P1", "hold", T0 + timedelta(seconds=1), by="clerk")
        released = parcel.fire(conn, "P1", "release", T0 + timedelta(seconds=2), cleared=True)
        history = parcel.history(conn, "P1")
    assert (held.from_state, held.to_state, held.rule, held.changed) == ("new", "held", "R-HOLD", True)
    assert released.to_state == "released"
    assert [(h.seq, h.kind, h.event, h.to_state, h.rule) for h in history] == [
        (1, "start", "start", "new", None), (2, "event", "hold", "held", "R-HOLD"),
        (3, "event", "release", "released", "R-RELEASE")]
    assert history[1].context == {"by": "clerk"}
    assert history[2].at == T0 + timedelta(seconds=2)


def test_a_refused_event_names_code_rule_and_reply_and_changes_nothing(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        with pytest.raises(TransitionRefused) as default:
            parcel.fire(conn, "P1", "release", T0, cleared=True)
        parcel.fire(conn, "P1", "hold", T0)
        with pytest.raises(TransitionRefused) as guarded:
            parcel.fire(conn, "P1", "release", T0, cleared=False)
        parcel.fire(conn, "P1", "release", T0, cleared=True)
        with pytest.raises(TransitionRefused) as explicit:
            parcel.fire(conn, "P1", "cancel", T0)
        instance = parcel.get(conn, "P1")
        assert len(parcel.history(conn, "P1")) == 3
    assert (default.value.code, default.value.reason, default.value.rule, default.value.reply) == (
        "92", "out-of-sequence", "R-SEQ", "NACK")
    assert (default.value.event, default.value.state, default.value.entity_id) == ("release", "new", "P1")
    assert (guarded.value.code, guarded.value.rule) == ("94", "R-RELEASE-CLEAR")
    assert (explicit.value.code, explicit.value.rule, explicit.value.reply) == ("93", "R-CANCEL-LATE", None)
    assert "already released" in explicit.value.detail
    assert instance is not None and instance.state == "released"


def test_facts_set_by_a_step_feed_the_guards(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        with pytest.raises(TransitionRefused):
            parcel.fire(conn, "P1", "cancel", T0)  # the 'noted' guard fails, no other step: default refusal
        noted = parcel.fire(conn, "P1", "note", T0)
        cancelled = parcel.fire(conn, "P1", "cancel", T0)
        instance = parcel.get(conn, "P1")
    assert (noted.changed, cancelled.to_state) == (False, "cancelled")
    assert instance is not None and instance.terminal and instance.data == {"noted": True}


def test_programming_errors_are_not_refusals(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.fire(conn, "P1", "hold", T0)
        with pytest.raises(UnknownEvent):
            parcel.fire(conn, "P1", "teleport", T0)
        with pytest.raises(UnknownInstance):
            parcel.fire(conn, "P9", "hold", T0)
        with pytest.raises(GuardError, match="'cleared'"):
            parcel.fire(conn, "P1", "release", T0)
        with pytest.raises(ValueError, match="time zone"):
            parcel.fire(conn, "P1", "note", datetime(2025, 3, 1, 12, 0))


def test_a_stale_read_is_not_written_over(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.fire(conn, "P1", "hold", T0)
        assert not timers.step_instance(conn, "parcel", "P1", 1, "expired", {}, T0)  # read at seq 1, now 2


# --- timers ------------------------------------------------------------------------------------------

def test_a_timer_fires_exactly_at_its_due_instant_and_not_before(store: Store, parcel: Lifecycle) -> None:
    due = T0 + timedelta(hours=1)
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        assert [(t.entity_id, t.timer, t.due) for t in parcel.armed_timers(conn, "P1")] == [("P1", "ttl", due)]
        assert parcel.due_timers(conn, due - MS) == []
        assert parcel.run_due(conn, due - MS) == []
        assert [t.event for t in parcel.due_timers(conn, due)] == ["expire"]
        fired = parcel.run_due(conn, due + timedelta(days=3))
        instance = parcel.get(conn, "P1")
        history = parcel.history(conn, "P1")
    assert len(fired) == 1 and fired[0].transition is not None
    assert (fired[0].transition.kind, fired[0].transition.timer, fired[0].transition.at) == ("timer", "ttl", due)
    assert instance is not None and instance.state == "expired"
    assert (history[-1].kind, history[-1].rule, history[-1].at) == ("timer", "R-TTL", due)


def test_run_due_is_idempotent(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        later = T0 + timedelta(days=1)
        assert len(parcel.run_due(conn, later)) == 1
        assert parcel.run_due(conn, later) == []
        assert len(parcel.history(conn, "P1")) == 2


def test_timers_fire_by_due_instant_then_entity_then_declaration(store: Store) -> None:
    parcel = Lifecycle(Machine.from_dict(PARCEL, GUARDS, {"ttl_seconds": 60}))  # ttl and escalation both 60 s
    with store.write() as conn:
        for entity, start in (("B", T0), ("A", T0), ("C", T0 - timedelta(seconds=5)), ("D", T0 - MS)):
            parcel.start(conn, entity, start)
        parcel.fire(conn, "D", "hold", T0 - MS)  # D: ttl and escalation both due at T0 + 60 s - 1 ms
        fired = parcel.run_due(conn, T0 + timedelta(minutes=5))
    # D's ttl (declared first) expires it, which disarms its escalation; A and B tie on the instant.
    assert [(f.timer.entity_id, f.timer.timer, f.timer.due) for f in fired] == [
        ("C", "ttl", T0 + timedelta(seconds=55)), ("D", "ttl", T0 + timedelta(seconds=60) - MS),
        ("A", "ttl", T0 + timedelta(seconds=60)), ("B", "ttl", T0 + timedelta(seconds=60))]


def test_same_due_instant_same_entity_follows_declaration_order(store: Store) -> None:
    parcel = Lifecycle(Machine.from_dict(PARCEL, GUARDS, {"ttl_seconds": 60}))
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.fire(conn, "P1", "hold", T0)  # escalation armed at T0 + 60 s, ttl already due then
        assert [t.timer for t in parcel.due_timers(conn, T0 + timedelta(seconds=60))] == ["ttl", "escalation"]
        fired = parcel.run_due(conn, T0 + timedelta(seconds=60))
    # ttl fires first and expires the parcel, which disarms the escalation (expired is terminal).
    assert [(f.timer.timer, f.transition.to_state if f.transition else None) for f in fired] == [("ttl", "expired")]


def test_leaving_the_while_states_disarms_and_restart_rearms(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.fire(conn, "P1", "hold", T0)
        parcel.fire(conn, "P1", "note", T0 + timedelta(seconds=30))  # restart: escalation due at T0 + 90 s
        assert {t.timer: t.due for t in parcel.armed_timers(conn, "P1")} == {
            "ttl": T0 + timedelta(hours=1), "escalation": T0 + timedelta(seconds=90)}
        assert parcel.run_due(conn, T0 + timedelta(seconds=89)) == []
        parcel.fire(conn, "P1", "release", T0 + timedelta(seconds=89), cleared=True)
        assert parcel.armed_timers(conn, "P1") == []
        assert parcel.run_due(conn, T0 + timedelta(days=9)) == []


def test_a_timer_cascade_fires_in_one_run(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.fire(conn, "P1", "hold", T0)
        fired = parcel.run_due(conn, T0 + timedelta(minutes=2, seconds=30))
        assert [t.due for t in parcel.armed_timers(conn, "P1") if t.timer == "escalation"] == [
            T0 + timedelta(seconds=180)]
    # each escalation re-arms the timer (since.event 'escalate', restart): +60 s, +120 s, then +180 s waits
    assert [(f.timer.timer, f.timer.due) for f in fired] == [
        ("escalation", T0 + timedelta(seconds=60)), ("escalation", T0 + timedelta(seconds=120))]


def test_fire_first_catches_up_with_the_instance_timers(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        with pytest.raises(TransitionRefused) as refused:
            parcel.fire(conn, "P1", "hold", T0 + timedelta(hours=2))
        instance = parcel.get(conn, "P1")
    assert [f.timer.timer for f in refused.value.timers_fired] == ["ttl"]
    assert refused.value.state == "expired"
    assert instance is not None and instance.state == "expired"


def test_a_timer_whose_event_is_refused_is_consumed_and_reported(store: Store) -> None:
    definition = copy.deepcopy(PARCEL)
    definition["events"]["expire"]["steps"].insert(
        0, {"from": ["new"], "when": ["noted"], "refuse": "too-late", "rule": "R-KEEP-NOTED"})
    parcel = Lifecycle(Machine.from_dict(definition, GUARDS))
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.fire(conn, "P1", "note", T0)
        fired = parcel.run_due(conn, T0 + timedelta(days=1))
        assert parcel.armed_timers(conn, "P1") == []
    assert fired[0].transition is None and fired[0].refused is not None and fired[0].refused.rule == "R-KEEP-NOTED"


# --- transactions and determinism --------------------------------------------------------------------

def _count(store: Store) -> list[int]:
    with store.read() as conn:
        return [conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (lifecycle_instances, lifecycle_history, lifecycle_timers)]


class Abort(Exception):
    """Raised on purpose to roll a transaction back."""


def test_everything_happens_in_the_callers_transaction(store: Store, parcel: Lifecycle) -> None:
    seen: list[list[int]] = []

    def work_then_abort() -> None:
        with store.write() as conn:
            parcel.start(conn, "P1", T0)
            parcel.fire(conn, "P1", "hold", T0)
            assert len(parcel.run_due(conn, T0 + timedelta(seconds=60))) == 1
            seen.append(_count(store))  # another connection: nothing committed while the transaction is open
            raise Abort

    with pytest.raises(Abort):
        work_then_abort()
    assert seen == [[0, 0, 0]]
    assert _count(store) == [0, 0, 0]
    store.transact(lambda conn: parcel.start(conn, "P2", T0))
    assert _count(store) == [1, 1, 1]


def test_the_same_script_gives_the_same_history(tmp_path: Path) -> None:
    def run(name: str) -> list[tuple[Any, ...]]:
        (store := Store(f"sqlite:///{tmp_path / name}")).create_schema()
        parcel = Lifecycle(Machine.from_dict(PARCEL, GUARDS))
        with store.write() as conn:
            for entity in ("X", "Y"):
                parcel.start(conn, entity, T0)
                parcel.fire(conn, entity, "hold", T0 + timedelta(seconds=1))
            parcel.run_due(conn, T0 + timedelta(hours=3))
            rows = [tuple(r) for r in conn.execute(select(lifecycle_history).order_by(lifecycle_history.c.id))]
        store.dispose()
        return rows
    assert run("one.db") == run("two.db")
