"""Scheduled (one-off) timers of the core lifecycle engine: Lifecycle.schedule / Lifecycle.cancel.

DESIGN.md "Deterministic" (every instant comes from the caller; timers fire by due instant, entity id,
position) and "One core, two profiles" (a profile schedules outcomes, e.g. ICS2 risk outcomes, without
the core knowing them); simulator/core/lifecycle.py and simulator/core/timers.py: a scheduled timer fires
its event with the stored context through run_due and fire's catch-up, is never disarmed by a state
change, is replaced when scheduled again under the same name, and follows the declared timers on ties.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.core.lifecycle import Lifecycle, Machine, TransitionRefused, UnknownEvent, UnknownInstance
from simulator.core.store import Store
from tests.unit.test_core_lifecycle import GUARDS, MS, PARCEL, T0


@pytest.fixture
def parcel() -> Lifecycle:
    return Lifecycle(Machine.from_dict(PARCEL, GUARDS))


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_scheduled_timer_fires_its_event_with_its_context_at_the_due_instant(
        store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.schedule(conn, "P1", "hold-later", "hold", _at(30), {"by": "risk", "n": [1, 2]}, armed_at=T0)
        armed = {t.timer: t for t in parcel.armed_timers(conn, "P1")}
        assert parcel.run_due(conn, _at(30) - MS) == []
        fired = parcel.run_due(conn, _at(30))
        history = parcel.history(conn, "P1")
        instance = parcel.get(conn, "P1")
    assert armed["hold-later"].scheduled and not armed["ttl"].scheduled
    assert (armed["hold-later"].context, armed["ttl"].context) == ({"by": "risk", "n": [1, 2]}, {})
    assert [(f.timer.timer, f.timer.due) for f in fired] == [("hold-later", _at(30))]
    transition = fired[0].transition
    assert transition is not None
    assert (transition.kind, transition.event, transition.to_state, transition.at) == ("timer", "hold", "held", _at(30))
    assert transition.context == {"by": "risk", "n": [1, 2]}
    assert (history[-1].timer, history[-1].context) == ("hold-later", {"by": "risk", "n": [1, 2]})
    assert instance is not None and instance.state == "held"


def test_declared_timers_still_fire_with_an_empty_context(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.schedule(conn, "P1", "note-later", "note", _at(10), {"why": "x"})
        fired = parcel.run_due(conn, _at(7200))
    assert [(f.timer.timer, f.transition.context if f.transition else None) for f in fired] == [
        ("note-later", {"why": "x"}), ("ttl", {})]


def test_scheduling_the_same_name_again_replaces_it(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.schedule(conn, "P1", "later", "hold", _at(10), {"round": 1})
        parcel.schedule(conn, "P1", "later", "note", _at(20), {"round": 2})
        scheduled = [t for t in parcel.armed_timers(conn, "P1") if t.scheduled]
        fired = parcel.run_due(conn, _at(60))
    assert [(t.timer, t.event, t.due, t.context) for t in scheduled] == [("later", "note", _at(20), {"round": 2})]
    assert [(f.timer.event, f.timer.due) for f in fired] == [("note", _at(20))]


def test_cancel_disarms_a_scheduled_timer_only(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.schedule(conn, "P1", "later", "hold", _at(10), {})
        assert parcel.cancel(conn, "P1", "later") is True
        assert parcel.cancel(conn, "P1", "later") is False
        assert parcel.cancel(conn, "P1", "ttl") is False  # declared timers are not cancelled
        assert [t.timer for t in parcel.armed_timers(conn, "P1")] == ["ttl"]
        assert parcel.run_due(conn, _at(60)) == []


def test_state_changes_never_disarm_a_scheduled_timer_and_a_refusal_is_reported(
        store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.fire(conn, "P1", "hold", T0)
        parcel.schedule(conn, "P1", "escalate-later", "escalate", _at(30), {"level": 2})
        parcel.fire(conn, "P1", "release", _at(5), cleared=True)  # leaves every declared timer's while states
        assert [t.timer for t in parcel.armed_timers(conn, "P1")] == ["escalate-later"]
        fired = parcel.run_due(conn, _at(60))
        assert parcel.armed_timers(conn, "P1") == []  # consumed although refused
    assert len(fired) == 1 and fired[0].transition is None and fired[0].refused is not None
    assert (fired[0].refused.code, fired[0].refused.event, fired[0].refused.state) == ("92", "escalate", "released")


def test_declared_timers_win_ties_then_scheduled_ones_in_scheduling_order(store: Store, parcel: Lifecycle) -> None:
    ttl_due = _at(3600)
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.schedule(conn, "P1", "second", "note", ttl_due, {"n": 2})
        parcel.schedule(conn, "P1", "first", "note", ttl_due, {"n": 1})
        parcel.schedule(conn, "P1", "second", "note", ttl_due, {"n": 3})  # re-scheduled: goes last
        assert [t.timer for t in parcel.due_timers(conn, ttl_due)] == ["ttl", "first", "second"]
        fired = parcel.run_due(conn, ttl_due)
    # ttl expires the parcel first; the scheduled notes are then refused in the terminal state
    assert [(f.timer.timer, f.transition is not None) for f in fired] == [
        ("ttl", True), ("first", False), ("second", False)]
    assert [f.timer.context.get("n") for f in fired] == [None, 1, 3]


def test_scheduled_timers_order_by_instant_then_entity(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        for entity in ("B", "A"):
            parcel.start(conn, entity, T0)
        parcel.schedule(conn, "B", "x", "note", _at(5), {})
        parcel.schedule(conn, "A", "x", "note", _at(5), {})
        parcel.schedule(conn, "B", "y", "hold", _at(4), {})
        fired = parcel.run_due(conn, _at(10))
    assert [(f.timer.entity_id, f.timer.timer) for f in fired] == [("B", "y"), ("A", "x"), ("B", "x")]


def test_fire_catches_up_with_scheduled_timers_first(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.schedule(conn, "P1", "hold-later", "hold", _at(10), {"source": "test"})
        released = parcel.fire(conn, "P1", "release", _at(20), cleared=True)  # needs 'held': the timer first
    assert [(f.timer.timer, f.transition.context if f.transition else None) for f in released.timers_fired] == [
        ("hold-later", {"source": "test"})]
    assert (released.from_state, released.to_state) == ("held", "released")


def test_a_machine_without_declared_timers_catches_up_too(store: Store) -> None:
    definition = copy.deepcopy(PARCEL)
    definition["timers"] = []
    parcel = Lifecycle(Machine.from_dict(definition, GUARDS))
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        parcel.schedule(conn, "P1", "hold-later", "hold", _at(10), {})
        with pytest.raises(TransitionRefused) as refused:
            parcel.fire(conn, "P1", "hold", _at(20))  # already held by the scheduled timer
    assert [f.timer.timer for f in refused.value.timers_fired] == ["hold-later"]
    assert refused.value.state == "held"


def test_schedule_refuses_what_could_never_fire_properly(store: Store, parcel: Lifecycle) -> None:
    with store.write() as conn:
        parcel.start(conn, "P1", T0)
        with pytest.raises(UnknownEvent):
            parcel.schedule(conn, "P1", "x", "explode", _at(1), {})
        with pytest.raises(ValueError, match="'ttl' is declared"):
            parcel.schedule(conn, "P1", "ttl", "expire", _at(1), {})
        with pytest.raises(UnknownInstance):
            parcel.schedule(conn, "nobody", "x", "hold", _at(1), {})
        with pytest.raises(ValueError, match="time zone"):
            parcel.schedule(conn, "P1", "x", "hold", datetime(2025, 3, 1, 12, 0), {})
        assert [t.timer for t in parcel.armed_timers(conn, "P1")] == ["ttl"]


def test_a_scheduled_timer_survives_until_due_across_transactions(store: Store, parcel: Lifecycle) -> None:
    store.transact(lambda conn: parcel.start(conn, "P1", T0))
    store.transact(lambda conn: parcel.schedule(conn, "P1", "later", "hold", _at(10), {"k": "v"}, armed_at=T0))
    fired = store.transact(lambda conn: parcel.run_due(conn, _at(10)))
    assert [(f.timer.timer, f.transition.to_state if f.transition else None) for f in fired] == [("later", "held")]


def test_start_and_fire_is_start_then_fire_without_catch_up(tmp_path: Path) -> None:
    """`start_and_fire` leaves the same instance, history and timers as `start` + `fire` at one instant."""
    from simulator.ics2.lifecycle import ens_lifecycle

    ens = ens_lifecycle()
    store = Store(f"sqlite:///{tmp_path / 'saf.db'}")
    store.create_schema()
    at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with store.write() as conn:
        one = ens.start_and_fire(conn, "MRN-A", at, "register", data={"declarant": "BE1"}, lrn="L1")
        ens.start(conn, "MRN-B", at, data={"declarant": "BE1"})
        two = ens.fire(conn, "MRN-B", "register", at, lrn="L1")
        assert (one.from_state, one.to_state, one.context) == (two.from_state, two.to_state, two.context)
        assert [(t.event, t.to_state) for t in ens.history(conn, "MRN-A")] == [
            (t.event, t.to_state) for t in ens.history(conn, "MRN-B")]
        assert [(t.timer, t.due_at) for t in ens.armed_timers(conn, "MRN-A")] == [
            (t.timer, t.due_at) for t in ens.armed_timers(conn, "MRN-B")]
        assert ens.get(conn, "MRN-A").data == ens.get(conn, "MRN-B").data  # type: ignore[union-attr]
    store.dispose()


def test_has_due_tells_whether_any_timer_of_the_machine_is_due(tmp_path: Path) -> None:
    from simulator.ics2.lifecycle import ens_lifecycle

    ens = ens_lifecycle()
    store = Store(f"sqlite:///{tmp_path / 'due.db'}")
    store.create_schema()
    at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with store.write() as conn:
        assert not ens.has_due(conn, at)
        ens.start_and_fire(conn, "MRN-A", at, "register")
        ens.schedule(conn, "MRN-A", "risk:0", "complete_assessment", at + timedelta(seconds=60), {})
        assert not ens.has_due(conn, at + timedelta(seconds=59))
        assert ens.has_due(conn, at + timedelta(seconds=60))
    store.dispose()
