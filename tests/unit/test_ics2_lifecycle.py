"""The ICS2 ENS lifecycle as data (simulator/ics2/data/lifecycle.json) run by the core engine.

domain/ics2.md "ENS lifecycle": registered -> risk analysis -> assessment complete -> arrived / partially
arrived -> presented; invalidated on request or automatically 200 days after filing; partial filings
linked, completion timer -> IE3N02 + IE3N11. domain/ics2.md "Messages": IE3N01 for amend after goods
presented, amender not declarant/representative, invalidation after presentation (CL723 92 out of
sequence); IE3N06 -> IE3R04 or IE3N07 ENS in incorrect state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from sqlalchemy.engine import Connection

from simulator.core.lifecycle import Lifecycle, TransitionRefused
from simulator.core.store import Store
from simulator.ics2.lifecycle import DEFINITION, ens_lifecycle, ens_machine, event_for_message

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)
MRN = "25DE0000000000001T"
DECLARANT, REPRESENTATIVE, STRANGER = "DE123456789012345", "NL000000001", "FR999999999"



@pytest.fixture
def ens() -> Lifecycle:
    return ens_lifecycle()


def _registered(conn: Connection, ens: Lifecycle, at: datetime = T0, mrn: str = MRN) -> None:
    ens.start(conn, mrn, at, data={"declarant": DECLARANT, "representative": REPRESENTATIVE})
    ens.fire(conn, mrn, "register", at)


def _state(conn: Connection, ens: Lifecycle, mrn: str = MRN) -> str:
    instance = ens.get(conn, mrn)
    assert instance is not None
    return instance.state


def _refusal(conn: Connection, ens: Lifecycle, event: str, at: datetime, **context: object) -> TransitionRefused:
    with pytest.raises(TransitionRefused) as caught:
        ens.fire(conn, MRN, event, at, **context)
    return caught.value


def test_the_definition_names_a_rule_for_every_step_refusal_and_timer() -> None:
    raw = json.loads(resources.files("simulator.ics2").joinpath(DEFINITION).read_text("utf-8"))
    machine = ens_machine()
    assert machine.name == "ics2-ens"
    assert machine.terminal == {"rejected", "invalidated", "presented"}
    assert all(step.rule for spec in machine.events.values() for step in spec.steps)
    assert all(r.rule and r.code and r.reply in ("IE3N01", "IE3N07") for r in machine.refusals.values())
    assert all(t.rule for t in machine.timers)
    assert raw["parameters"]["completion_timer_seconds"]["verified"] is False
    assert machine.parameters == {"completion_timer_seconds": 86400.0, "automatic_invalidation_seconds": 200 * 86400.0}
    assert machine.default_refusal.code == "92"


def test_trader_messages_map_to_their_events() -> None:
    assert {m: event_for_message(m) for m in ("IE3A32", "IE3Q04", "IE3N06", "IE3R02", "IE3R03", "IE3F32")} == {
        "IE3A32": "amend", "IE3Q04": "invalidate", "IE3N06": "arrive", "IE3R02": "answer_information",
        "IE3R03": "answer_screening", "IE3F32": None}


def test_main_path_register_assess_arrive_present(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        ens.fire(conn, MRN, "complete_assessment", T0 + timedelta(minutes=5))
        ens.fire(conn, MRN, "arrive", T0 + timedelta(hours=8), all_goods=True)
        presented = ens.fire(conn, MRN, "present", T0 + timedelta(hours=9))
        history = ens.history(conn, MRN)
        assert ens.armed_timers(conn, MRN) == []
    assert [h.to_state for h in history] == ["received", "registered", "assessment_complete", "arrived", "presented"]
    assert "arrival -> presented" in str(presented.rule)


def test_a_rejected_filing_goes_no_further(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        ens.start(conn, "LRN-1", T0)
        ens.fire(conn, "LRN-1", "reject", T0)
        with pytest.raises(TransitionRefused) as caught:
            ens.fire(conn, "LRN-1", "amend", T0)
        assert ens.armed_timers(conn, "LRN-1") == []
    assert (caught.value.code, caught.value.reply, caught.value.state) == ("92", "IE3N01", "rejected")


def test_amend_after_presentation_is_refused_with_ie3n01(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        accepted = ens.fire(conn, MRN, "amend", T0 + timedelta(minutes=1), party=DECLARANT)
        ens.fire(conn, MRN, "arrive", T0 + timedelta(hours=1))
        ens.fire(conn, MRN, "present", T0 + timedelta(hours=2))
        refused = _refusal(conn, ens, "amend", T0 + timedelta(hours=3), party=DECLARANT)
    assert (accepted.from_state, accepted.to_state) == ("registered", "registered")
    assert (refused.code, refused.reply, refused.reason) == ("92", "IE3N01", "amend-after-presentation")
    assert "amend after goods presented" in refused.rule


def test_invalidate_after_presentation_is_refused_and_before_it_accepted(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        ens.fire(conn, MRN, "arrive", T0 + timedelta(hours=1))
        ens.fire(conn, MRN, "present", T0 + timedelta(hours=2))
        refused = _refusal(conn, ens, "invalidate", T0 + timedelta(hours=3), party=DECLARANT)
        _registered(conn, ens, mrn="OTHER")
        invalidated = ens.fire(conn, "OTHER", "invalidate", T0 + timedelta(hours=3), party=REPRESENTATIVE)
    assert (refused.code, refused.reply, refused.reason) == ("92", "IE3N01", "invalidation-after-presentation")
    assert invalidated.to_state == "invalidated"


def test_amend_refused_after_controls_notified_and_from_a_stranger(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        stranger = _refusal(conn, ens, "amend", T0, party=f"sys1@{STRANGER}")
        ens.fire(conn, MRN, "amend", T0, party=f"sys1@{REPRESENTATIVE}@NL")
        ens.fire(conn, MRN, "notify_control", T0)
        controlled = _refusal(conn, ens, "amend", T0, party=DECLARANT)
    assert (stranger.code, stranger.reason) == ("12", "not-declarant-or-representative")
    assert (controlled.reply, controlled.reason) == ("IE3N01", "amend-after-control-notification")


def test_information_request_answered_by_ie3r02_or_by_amendment(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        ens.fire(conn, MRN, "request_information", T0)
        ens.fire(conn, MRN, "answer_information", T0)
        ens.fire(conn, MRN, "request_information", T0)
        by_amendment = ens.fire(conn, MRN, "amend", T0, party=DECLARANT)
        out_of_sequence = _refusal(conn, ens, "answer_information", T0)
    assert (by_amendment.from_state, by_amendment.to_state) == ("information_requested", "registered")
    assert (out_of_sequence.code, out_of_sequence.reason) == ("92", "out-of-sequence")


def test_do_not_load_allows_only_amendment_or_invalidation(store: Store, ens: Lifecycle) -> None:
    """After a Do Not Load the goods cannot arrive; the declarant may amend (the amended ENS is assessed
    again: back to registered) or invalidate; someone else may do neither."""
    with store.write() as conn:
        _registered(conn, ens)
        ens.fire(conn, MRN, "do_not_load", T0)
        assert _refusal(conn, ens, "arrive", T0).reply == "IE3N07"
        assert _refusal(conn, ens, "amend", T0, party=STRANGER).reason == "not-declarant-or-representative"
        assert _refusal(conn, ens, "complete_assessment", T0).reason == "out-of-sequence"
        assert ens.fire(conn, MRN, "amend", T0, party=DECLARANT).to_state == "registered"
        ens.fire(conn, MRN, "do_not_load", T0)
        assert ens.fire(conn, MRN, "invalidate", T0, party=DECLARANT).to_state == "invalidated"


def test_arrival_partial_then_complete_and_ie3n07_in_an_incorrect_state(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        assert ens.fire(conn, MRN, "arrive", T0, all_goods=False).to_state == "partially_arrived"
        assert ens.fire(conn, MRN, "arrive", T0, all_goods=True).to_state == "arrived"
        again = _refusal(conn, ens, "arrive", T0)
        ens.fire(conn, MRN, "present", T0)
        presented = _refusal(conn, ens, "arrive", T0)
    assert (again.reply, again.reason, again.state) == ("IE3N07", "incorrect-state", "arrived")
    assert (presented.reply, presented.state) == ("IE3N07", "presented")


def test_automatic_invalidation_200_days_after_filing(store: Store, ens: Lifecycle) -> None:
    due = T0 + timedelta(days=200)
    with store.write() as conn:
        _registered(conn, ens)
        ens.fire(conn, MRN, "complete_assessment", T0 + timedelta(days=1))
        assert ens.run_due(conn, due - MS) == []
        assert [(t.entity_id, t.event) for t in ens.due_timers(conn, due)] == [(MRN, "expire")]
        fired = ens.run_due(conn, due)
        assert _state(conn, ens) == "invalidated"
        late = _refusal(conn, ens, "arrive", due + timedelta(days=1))
    assert [(f.timer.timer, f.transition.at if f.transition else None) for f in fired] == [
        ("automatic-invalidation", due)]
    assert (late.reply, late.state) == ("IE3N07", "invalidated")


def test_arrival_stops_the_automatic_invalidation(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        ens.fire(conn, MRN, "arrive", T0 + timedelta(days=10))
        assert ens.run_due(conn, T0 + timedelta(days=400)) == []
        assert _state(conn, ens) == "arrived"


def test_an_amendment_after_200_days_meets_an_invalidated_ens(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        refused = _refusal(conn, ens, "amend", T0 + timedelta(days=201), party=DECLARANT)
    assert [f.timer.event for f in refused.timers_fired] == ["expire"]
    assert (refused.state, refused.code) == ("invalidated", "92")


def test_completion_timer_fires_for_a_partial_ens(store: Store) -> None:
    ens = ens_lifecycle({"completion_timer_seconds": 3600})
    due = T0 + timedelta(hours=1)
    with store.write() as conn:
        ens.start(conn, MRN, T0)
        ens.fire(conn, MRN, "register_partial", T0)
        ens.fire(conn, MRN, "link_partial", T0 + timedelta(minutes=30), completes=False)  # does not restart it
        assert ens.run_due(conn, due - MS) == []
        fired = ens.run_due(conn, due)
        assert _state(conn, ens) == "incomplete"
        assert ens.run_due(conn, due + timedelta(hours=5)) == []  # fired once
        completed = ens.fire(conn, MRN, "link_partial", due + timedelta(hours=6), completes=True)
        timers = {t.timer for t in ens.armed_timers(conn, MRN)}
    assert [(f.timer.timer, f.timer.event, f.timer.due) for f in fired] == [("completion", "completion_timeout", due)]
    assert completed.to_state == "registered"
    assert timers == {"automatic-invalidation"}  # still counted from the first filing


def test_the_default_completion_timer_is_24_hours(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        ens.start(conn, MRN, T0)
        ens.fire(conn, MRN, "register_partial", T0)
        armed = {t.timer: t.due for t in ens.armed_timers(conn, MRN)}
    assert armed == {"completion": T0 + timedelta(hours=24), "automatic-invalidation": T0 + timedelta(days=200)}
