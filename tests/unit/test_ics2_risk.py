"""The ICS2 risk engine: rules as data, forced outcomes, outcomes scheduled on the ENS lifecycle.

domain/ics2.md "ENS lifecycle" (registered -> risk analysis -> optional RFI/HRCM/DNL -> assessment complete),
"Messages" (IE3Q02 + IE3N04, IE3Q03 + IE3N05 air only, IE3Q01, IE3N03, IE3N08/IE3N09) and "UK neighbour
worth learning from" (outcomes deterministic, chosen by data and a control API); simulator/ics2/risk.py
and data/risk.json. The control endpoints: tests/unit/test_ics2_risk_control.py.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy.engine import Connection

from scenarios.filings.ics2 import ALL_FILING_IDS, build_filing, sample_data
from simulator.core.lifecycle import Lifecycle
from simulator.core.store import Store
from simulator.ics2.catalogue import entry
from simulator.ics2.lifecycle import ens_lifecycle
from simulator.ics2.risk import (
    PlannedOutcome,
    RiskDataError,
    RiskEngine,
    default_engine,
    forced_outcomes,
    outcome_for_event,
    reassess,
    referral_reference,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MRN = "25BEA0000000000011"
OTHER_MRN = "25BEA0000000000029"
EORI = "BE0123456789"



@pytest.fixture
def ens() -> Lifecycle:
    return ens_lifecycle()


def _data(message_id: str = "IE3F32", lrn: str = "LRNRISK1") -> dict[str, Any]:
    return sample_data(message_id, lrn=lrn, eori=EORI)  # type: ignore[arg-type]


def _root(data: dict[str, Any], message_id: str = "IE3F32") -> etree._Element:
    return etree.fromstring(build_filing(message_id, data))  # type: ignore[arg-type]


def _plan(conn: Connection, root: etree._Element | None, message_type: str = "IE3F32", *, lrn: str = "LRNRISK1",
          mrn: str = MRN, engine: RiskEngine | None = None) -> list[PlannedOutcome]:
    mode = (found.mode if (found := entry(message_type)) else "")
    return (engine or default_engine()).plan(conn, root=root, message_type=message_type, mode=mode, lrn=lrn, mrn=mrn)


def _sources(planned: list[PlannedOutcome]) -> list[tuple[str, str]]:
    return [(p.outcome, p.source) for p in planned]


def _force(conn: Connection, kind: str, key: str, outcomes: list[dict[str, Any]]) -> None:
    problems: list[str] = []
    steps = default_engine().check_outcomes(outcomes, "outcomes", problems)
    assert problems == []
    conn.execute(forced_outcomes.insert().values(key_kind=kind, key=key, created_at="2025-03-01T12:00:00.000Z",
                                                 outcomes=json.dumps([s.as_json() for s in steps])))


def _registered(conn: Connection, ens: Lifecycle, mrn: str = MRN, at: datetime = T0) -> None:
    ens.start(conn, mrn, at, data={"declarant": EORI})
    ens.fire(conn, mrn, "register", at)


# --- the rule table ----------------------------------------------------------------------------------

def test_the_rule_table_loads_with_an_outcome_for_every_lifecycle_effect() -> None:
    engine = default_engine()
    assert {o: s.event for o, s in engine.outcomes.items()} == {
        "rfi": "request_information", "hrcm": "request_screening", "dnl": "do_not_load",
        "assessment_complete": "complete_assessment", "aeo_control": "notify_control",
        "control_at_first_entry": "notify_control", "no_referral": None}
    assert [s.name for s in engine.outcomes.values() if s.air_only] == ["hrcm"]
    assert engine.default_delay_seconds > 0 and len(engine.rules) >= 5
    assert all(r.source and r.description and r.outcomes for r in engine.rules)


@pytest.mark.parametrize("message_type", ALL_FILING_IDS)
def test_no_demo_rule_matches_the_harness_sample_filings(store: Store, message_type: str) -> None:
    with store.read() as conn:
        planned = _plan(conn, _root(_data(message_type), message_type), message_type)
    assert _sources(planned) == [("assessment_complete", "default")]


def test_every_problem_of_a_faulty_table_is_reported_at_once() -> None:
    rules = [
        {"id": "A", "description": "d", "source": "s", "match": {"goods_description": "(unclosed"},
         "outcomes": [{"outcome": "teleport", "delay_seconds": 1}]},
        {"id": "A", "description": "d", "source": "s", "match": {"hs_code": ["61O9"], "route": ["Iran"]},
         "outcomes": [{"outcome": "rfi", "delay_seconds": -5, "details": {"response_method": "3"}}]},
        {"id": "B", "description": "d", "source": "s", "match": {"mode": ["boat"], "message_types": ["IE9*"]},
         "outcomes": [{"outcome": "dnl", "delay_seconds": float("nan"), "details": {"colour": "red"}}]},
        {"id": "C", "description": "d", "source": "s", "match": {"goods_description": "battery"},
         "outcomes": [{"outcome": "hrcm", "details": {"response_method": "1"}}]},
        {"id": "D", "description": "d", "source": "s", "match": {}, "outcomes": []},
        {"id": "E", "description": "d", "source": "s", "match": {"mode": ["air"]},
         "outcomes": [{"outcome": "control_at_first_entry", "details": {"kind": "aeo"}}]},
    ]
    with pytest.raises(RiskDataError) as caught:
        RiskEngine(rules)
    problems = "\n".join(caught.value.problems)
    for expected in (
        "rules[0] ('A').match.goods_description: not a regular expression",
        "rules[0] ('A').outcomes[0].outcome: unknown outcome 'teleport'",
        "rules[1] ('A').match.hs_code: '61O9' is not an HS prefix",
        "rules[1] ('A').match.route: 'Iran' is not a 2-letter country code",
        "rules[1] ('A').outcomes[0].delay_seconds: expected a finite number of seconds from 0 to 17280000",
        "(200 days), got -5",
        "rules[1] ('A').outcomes[0].details.response_method: expected \"1\"",
        "rules[2] ('B').match.mode: unknown mode 'boat'",
        "rules[2] ('B').match.message_types: 'IE9*' matches no message of the catalogue",
        "rules[2] ('B').outcomes[0].delay_seconds: expected a finite number of seconds",
        "(200 days), got nan",
        "rules[2] ('B').outcomes[0].details: outcome 'dnl' takes no detail 'colour' (allowed: referral)",
        "rules[3] ('C').outcomes[0].details: outcome 'hrcm' takes no detail 'response_method'",
        "rules[3] ('C'): an air-only outcome (HRCM screening, IE3Q03) on a rule that can match non-air filings IE3F10",
        "rules[4] ('D').match: give at least one condition",
        "rules[4] ('D').outcomes: expected a list of 1..99",
        "rules[5] ('E').outcomes[0].details.kind: outcome 'control_at_first_entry' is always kind 'first-entry'",
        "rules: id 'A' used twice",
    ):
        assert expected in problems, (expected, problems)
    assert isinstance(caught.value, ValueError)


def test_an_air_only_outcome_is_accepted_when_the_rule_only_matches_air() -> None:
    rule = {"id": "AIR", "description": "d", "source": "s", "outcomes": [{"outcome": "hrcm"}],
            "match": {"goods_description": "battery", "mode": ["air"]}}
    engine = RiskEngine([rule])
    assert engine.rules[0].outcomes[0].details == {
        "request_details": ["Screen the consignment as high-risk cargo and mail."]}


# --- conditions --------------------------------------------------------------------------------------

def _rule(match: dict[str, Any], rule_id: str = "R") -> dict[str, Any]:
    return {"id": rule_id, "description": "d", "source": "s", "match": match,
            "outcomes": [{"outcome": "dnl", "delay_seconds": 5}]}


def _matches(store: Store, match: dict[str, Any], root: etree._Element | None, message_type: str = "IE3F32") -> bool:
    with store.read() as conn:
        planned = _plan(conn, root, message_type, engine=RiskEngine([_rule(match)]))
    return _sources(planned) == [("dnl", "rule:R")]


def test_goods_description_is_a_case_insensitive_search_over_every_goods_item(store: Store) -> None:
    data = _data()
    data["houses"][0]["goods_items"][1]["description"] = "Spare LITHIUM-ION batteries for cameras"
    assert _matches(store, {"goods_description": "lithium[ -]?ion"}, _root(data))
    assert not _matches(store, {"goods_description": "lithium"}, _root(_data()))
    assert not _matches(store, {"goods_description": "lithium"}, None)  # no dataset: no goods to match


def test_hs_code_matches_sub_heading_prefixes(store: Store) -> None:
    data = _data()
    data["houses"][0]["goods_items"][0]["hs_code"] = "93020000"
    assert _matches(store, {"hs_code": ["9301", "9302"]}, _root(data))
    assert not _matches(store, {"hs_code": ["9302"]}, _root(_data()))
    assert _matches(store, {"hs_code": ["6109"]}, _root(_data()))  # the sample's first item, 610910


def test_consignor_name_is_a_case_insensitive_regex(store: Store) -> None:
    data = _data()
    data["houses"][0]["consignor"]["name"] = "Redline Dual-Use Supplies Ltd"
    assert _matches(store, {"consignor_name": "^redline dual-use"}, _root(data))
    assert not _matches(store, {"consignor_name": "^redline"}, _root(_data()))


def test_route_looks_at_consignment_and_means_of_transport_routing(store: Store) -> None:
    data = _data()
    data["routing_countries"] = ["CN", "IR", "BE"]
    assert _matches(store, {"route": ["IR"]}, _root(data))
    assert not _matches(store, {"route": ["IR", "KP"]}, _root(_data()))
    transport = etree.fromstring(
        b"<ie:IE3F20 xmlns:ie='urn:icssim:ics2:IE3F20'><consignmentMasterLevel><activeBorderTransportMeans>"
        b"<countriesOfRoutingOfMeansOfTransport><sequenceNumber>1</sequenceNumber><country>KP</country>"
        b"</countriesOfRoutingOfMeansOfTransport></activeBorderTransportMeans></consignmentMasterLevel></ie:IE3F20>")
    assert _matches(store, {"route": ["KP"]}, transport, "IE3F20")


def test_message_types_and_mode_conditions(store: Store) -> None:
    root = _root(_data())
    assert _matches(store, {"message_types": ["IE3F3?"]}, root)
    assert not _matches(store, {"message_types": ["IE3F2?"]}, root)
    assert _matches(store, {"mode": ["express", "postal"]}, root)
    assert not _matches(store, {"mode": ["air"]}, root)


def test_every_condition_of_a_rule_must_hold_and_the_first_matching_rule_wins(store: Store) -> None:
    data = _data()
    data["routing_countries"] = ["CN", "SY", "BE"]
    both = {"route": ["SY"], "mode": ["express"]}
    assert _matches(store, both, _root(data))
    assert not _matches(store, {**both, "mode": ["sea"]}, _root(data))
    engine = RiskEngine([
        {**_rule({"route": ["KP"]}, "FIRST"), "outcomes": [{"outcome": "rfi"}]},
        {**_rule({"route": ["SY"]}, "SECOND"), "outcomes": [{"outcome": "rfi"}]},
        _rule({"mode": ["express"]}, "THIRD"),
    ])
    with store.read() as conn:
        assert _sources(_plan(conn, _root(data), engine=engine)) == [("rfi", "rule:SECOND")]
        assert _sources(_plan(conn, _root(_data()), engine=engine)) == [("dnl", "rule:THIRD")]


def test_the_demo_rules_produce_their_outcomes(store: Store) -> None:
    lithium, watched, route = _data(), _data(), _data()
    lithium["houses"][0]["goods_items"][0]["description"] = "Lithium metal batteries"
    watched["houses"][0]["consignor"]["name"] = "Obsidian Precursor Trading"
    route["routing_countries"] = ["CN", "IR", "BE"]
    with store.read() as conn:
        screening = _plan(conn, _root(lithium))
        assert _sources(screening) == [("hrcm", "rule:DEMO-HRCM-LITHIUM-AIR")]
        assert _sources(_plan(conn, _root(watched))) == [("dnl", "rule:DEMO-DNL-WATCHED-CONSIGNOR")]
        rfi = _plan(conn, _root(route))
        sea = _root(_data("IE3F10"), "IE3F10")
        description = sea.find(".//descriptionOfGoods")
        assert description is not None
        description.text = "Lithium metal batteries"  # the same goods by sea: no HRCM screening (air only)
        assert _sources(_plan(conn, sea, "IE3F10")) == [("assessment_complete", "default")]
    assert screening[0].event == "request_screening" and screening[0].details["referral"].startswith(MRN)
    assert (rfi[0].event, rfi[0].details["response_method"], len(rfi[0].details["request_details"])) == (
        "request_information", "1", 2)


# --- precedence and determinism ----------------------------------------------------------------------

def test_forced_for_the_mrn_beats_forced_for_the_lrn_beats_rules_beats_the_default(store: Store) -> None:
    route = _data()
    route["routing_countries"] = ["CN", "KP", "BE"]
    with store.write() as conn:
        assert _sources(_plan(conn, _root(_data()))) == [("assessment_complete", "default")]
        assert _sources(_plan(conn, _root(route))) == [("rfi", "rule:DEMO-RFI-ROUTE")]
        _force(conn, "lrn", "LRNRISK1", [{"outcome": "dnl"}])
        assert _sources(_plan(conn, _root(route))) == [("dnl", "forced")]
        assert _sources(_plan(conn, _root(route), lrn="LRNOTHER")) == [("rfi", "rule:DEMO-RFI-ROUTE")]
        _force(conn, "mrn", MRN, [{"outcome": "assessment_complete", "delay_seconds": 5},
                                  {"outcome": "aeo_control"}])
        planned = _plan(conn, _root(route))
    assert _sources(planned) == [("assessment_complete", "forced"), ("aeo_control", "forced")]
    assert planned[1].details == {"kind": "aeo"} and planned[1].context()["kind"] == "aeo"


def test_the_same_input_gives_the_same_plan(store: Store) -> None:
    route = _data()
    route["routing_countries"] = ["CN", "IR", "BE"]
    with store.read() as conn:
        first, second = _plan(conn, _root(route)), _plan(conn, _root(copy.deepcopy(route)))
        other = _plan(conn, _root(route), mrn=OTHER_MRN)
    assert first == second
    assert first[0].details["referral"] == referral_reference(MRN, "rule:DEMO-RFI-ROUTE", 0)
    assert other[0].details["referral"] != first[0].details["referral"]
    assert len(first[0].details["referral"]) <= 70


def test_plan_reads_with_one_indexed_query(store: Store) -> None:
    """DESIGN.md "Fast on the hot path": plan() runs on every filing; one statement, through the key's index."""
    statements: list[str] = []
    with store.read() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_trace_callback(statements.append)
        try:
            _plan(conn, _root(_data()))
        finally:
            raw.set_trace_callback(None)
        plans = [" ".join(str(row[-1]) for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements]
    assert len(plans) == 1 and "USING INDEX ix_ics2_forced_outcomes_key" in plans[0], plans


def test_an_air_only_forced_outcome_is_left_out_of_a_non_air_plan(store: Store) -> None:
    with store.write() as conn:
        _force(conn, "lrn", "LRNSEA", [{"outcome": "hrcm"}, {"outcome": "assessment_complete", "delay_seconds": 9}])
        planned = _plan(conn, _root(_data("IE3F10", "LRNSEA"), "IE3F10"), "IE3F10", lrn="LRNSEA")
    assert _sources(planned) == [("assessment_complete", "forced")]


# --- scheduling on the ENS lifecycle -----------------------------------------------------------------

def test_schedule_arms_timers_that_fire_the_outcome_events_with_their_context(store: Store, ens: Lifecycle) -> None:
    engine = default_engine()
    data = _data()
    data["houses"][0]["goods_items"][0]["description"] = "Replica designer handbag"
    with store.write() as conn:
        _registered(conn, ens)
        planned = _plan(conn, _root(data))
        armed = engine.schedule(conn, ens, MRN, planned, T0)
        assert ens.run_due(conn, T0 + timedelta(seconds=29)) == []
        fired = ens.run_due(conn, T0 + timedelta(hours=1))
        instance = ens.get(conn, MRN)
    assert armed == [("risk:0", "complete_assessment", T0 + timedelta(seconds=30)),
                     ("risk:1", "notify_control", T0 + timedelta(seconds=30))]
    assert [(f.timer.timer, f.transition.event if f.transition else None) for f in fired] == [
        ("risk:0", "complete_assessment"), ("risk:1", "notify_control")]
    last = fired[1].transition
    assert last is not None and last.context == {
        "outcome": "control_at_first_entry", "details": {"kind": "first-entry"},
        "source": "rule:DEMO-CONTROL-REPLICA-GOODS", "kind": "first-entry"}
    assert instance is not None and instance.state == "assessment_complete"
    assert instance.data.get("controls_notified") is True
    assert outcome_for_event(last.event, last.context) == "control_at_first_entry"


def test_delays_are_cumulative_and_no_referral_arms_nothing(store: Store, ens: Lifecycle) -> None:
    with store.write() as conn:
        _registered(conn, ens)
        _force(conn, "mrn", MRN, [{"outcome": "no_referral", "delay_seconds": 10},
                                  {"outcome": "rfi", "delay_seconds": 5, "details": {"referral": "REF-1"}},
                                  {"outcome": "dnl", "delay_seconds": 60}])
        planned = _plan(conn, None)
        armed = default_engine().schedule(conn, ens, MRN, planned, T0)
        fired = ens.run_due(conn, T0 + timedelta(minutes=5))
    assert [(name, due) for name, _, due in armed] == [("risk:1", T0 + timedelta(seconds=15)),
                                                       ("risk:2", T0 + timedelta(seconds=75))]
    assert [f.transition.to_state for f in fired if f.transition] == ["information_requested", "do_not_load"]
    assert fired[0].transition is not None and fired[0].transition.context["details"]["referral"] == "REF-1"


def test_a_forced_plan_is_consumed_and_scheduling_again_replaces_pending_risk_timers(
        store: Store, ens: Lifecycle) -> None:
    engine = default_engine()
    with store.write() as conn:
        _registered(conn, ens)
        _force(conn, "lrn", "LRNRISK1", [{"outcome": "dnl", "delay_seconds": 100},
                                         {"outcome": "assessment_complete", "delay_seconds": 100}])
        engine.schedule(conn, ens, MRN, _plan(conn, None), T0)
        again = _plan(conn, None)
        engine.schedule(conn, ens, MRN, again, T0)
        armed = [(t.timer, t.event, t.due) for t in ens.armed_timers(conn, MRN) if t.scheduled]
    assert _sources(again) == [("assessment_complete", "default")]
    assert armed == [("risk:0", "complete_assessment", T0 + timedelta(seconds=default_engine().default_delay_seconds))]


def test_reassess_does_not_repeat_an_answered_referral(store: Store, ens: Lifecycle) -> None:
    engine = default_engine()
    route = _data()
    route["routing_countries"] = ["CN", "IR", "BE"]
    root, mode = _root(route), "express"
    with store.write() as conn:
        _registered(conn, ens)
        first = reassess(engine, conn, ens, root=root, message_type="IE3F32", mode=mode, lrn="LRNRISK1", mrn=MRN,
                         now=T0)
        ens.run_due(conn, T0 + timedelta(minutes=1))
        assert ens.get(conn, MRN).state == "information_requested"  # type: ignore[union-attr]
        ens.fire(conn, MRN, "answer_information", T0 + timedelta(minutes=2))
        second = reassess(engine, conn, ens, root=root, message_type="IE3F32", mode=mode, lrn="LRNRISK1",
                          mrn=MRN, now=T0 + timedelta(minutes=2))
        ens.run_due(conn, T0 + timedelta(minutes=10))
        state = ens.get(conn, MRN).state  # type: ignore[union-attr]
    assert _sources(first) == [("rfi", "rule:DEMO-RFI-ROUTE")]
    assert _sources(second) == [("assessment_complete", "default")]
    assert state == "assessment_complete"


def test_outcome_for_event_tells_the_control_notifications_apart() -> None:
    assert outcome_for_event("request_screening") == "hrcm"
    assert outcome_for_event("notify_control", {"details": {"kind": "aeo"}}) == "aeo_control"
    assert outcome_for_event("notify_control") is None  # ambiguous without the kind
    assert outcome_for_event("arrive") is None
    assert outcome_for_event("complete_assessment", {"outcome": "assessment_complete"}) == "assessment_complete"

