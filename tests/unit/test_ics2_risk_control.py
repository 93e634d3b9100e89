"""The ICS2 risk control endpoints (simulator/ics2/control_risk.py) through Flask's test client.

domain/ics2.md "UK neighbour worth learning from" (outcomes forced through a control API, not request
headers), "Messages" (IE3Q03 HRCM screening is for air only) and DESIGN.md "Bad input gets a precise protocol
answer" (a JSON 400 naming the faulty field, never a 500). An app of role "control", as
tests/unit/test_control_api.py builds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection

from simulator.app import create_app
from simulator.core.clock import iso
from simulator.core.config import load_config
from simulator.core.context import sim_context
from simulator.ics2 import models
from simulator.ics2.risk import default_engine, referral_reference
from tests.unit.test_ics2_risk import EORI, MRN, _registered

TOKEN = "risk-control-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "control_token": TOKEN,
                                            "clock_mode": "frozen"})
    app = create_app(config, role="control")
    sim_context(app).reset_scene()
    yield app
    sim_context(app).store.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _filed(app: Flask, message_type: str, *, lrn: str = "LRNRISK1", mrn: str = MRN) -> datetime:
    """An ENS registered in the app's store (its filing row and its lifecycle instance)."""
    ctx, lifecycle = sim_context(app), app.extensions["icssim.ics2.lifecycle"]
    now = ctx.clock.now()

    def work(conn: Connection) -> None:
        conn.execute(models.ens.insert().values(
            lrn=lrn, mrn=mrn, entity=mrn, message_type=message_type, sender=EORI, declarant=EORI,
            state="registered", message_id="m1@trader.example", journal_id=1, agreement="EU-ICS2-TI-V2.0",
            filed_at=iso(now)))
        _registered(conn, lifecycle, mrn, now)

    ctx.store.transact(work)
    return now


def _bad_request(response: Any, needle: str) -> None:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body["error"] == "Bad Request" and needle in body["detail"], body


def test_force_list_and_delete_outcomes_by_lrn(client: FlaskClient) -> None:
    body = {"lrn": "LRN-R1", "outcomes": [{"outcome": "rfi", "delay_seconds": 0,
                                            "details": {"response_method": "2", "request_details": ["Amend."]}}]}
    created = client.post("/_sim/ics2/outcomes", json=body, headers=AUTH)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json() == {"lrn": "LRN-R1", "replaced": 0, "scheduled": [], "outcomes": [
        {"outcome": "rfi", "delay_seconds": 0.0, "details": {"response_method": "2", "request_details": ["Amend."]}}]}
    assert client.post("/_sim/ics2/outcomes", json=body, headers=AUTH).get_json()["replaced"] == 1
    listed = client.get("/_sim/ics2/outcomes?lrn=LRN-R1", headers=AUTH).get_json()["outcomes"]
    assert [(o["lrn"], o["applied_at"], o["outcomes"][0]["outcome"]) for o in listed] == [("LRN-R1", None, "rfi")]
    assert client.get("/_sim/ics2/outcomes?lrn=OTHER", headers=AUTH).get_json()["outcomes"] == []
    deleted = client.delete("/_sim/ics2/outcomes?lrn=LRN-R1", headers=AUTH)
    assert deleted.get_json() == {"lrn": "LRN-R1", "deleted": 1}
    assert client.get("/_sim/ics2/outcomes", headers=AUTH).get_json()["outcomes"] == []
    assert client.post("/_sim/ics2/outcomes", json=body).status_code == 401  # the control token guards it


@pytest.mark.parametrize(("body", "needle"), [
    ({"lrn": "L1", "outcomes": [{"outcome": "teleport"}]}, "outcomes[0].outcome: unknown outcome 'teleport'"),
    ({"lrn": "L1", "outcomes": [{"outcome": "dnl", "delay_seconds": -1}]},
     "outcomes[0].delay_seconds: expected a finite number of seconds from 0 to 17280000 (200 days), got -1"),
    ({"lrn": "L1", "outcomes": [{"outcome": "dnl", "delay_seconds": "soon"}]}, "got 'soon'"),
    ({"lrn": "L1", "outcomes": [{"outcome": "hrcm", "details": {"response_method": "1"}}]},
     "outcomes[0].details: outcome 'hrcm' takes no detail 'response_method' (allowed: referral, request_details)"),
    ({"lrn": "L1", "outcomes": [{"outcome": "hrcm", "details": {"request_details": []}}]},
     "outcomes[0].details.request_details: expected a list of 1..999 non-empty strings"),
    ({"lrn": "L1", "outcomes": [{"outcome": "rfi", "details": {"referral": "x" * 71}}]},
     "outcomes[0].details.referral: expected a non-empty string of at most 70 characters"),
    ({"lrn": "L1", "outcomes": []}, "outcomes: expected a list of 1..99"),
    ({"lrn": "L1", "outcomes": [{"outcome": "dnl", "delay_seconds": 1e300}]}, "(200 days), got 1e+300"),
    ({"lrn": "L1", "mrn": MRN, "outcomes": [{"outcome": "dnl"}]}, "give exactly one of 'lrn' and 'mrn'"),
    ({"outcomes": [{"outcome": "dnl"}]}, "give exactly one of 'lrn' and 'mrn'"),
    ({"mrn": "25BE123", "outcomes": [{"outcome": "dnl"}]}, "'mrn' must be an MRN of 18 characters"),
    ({"lrn": "has space", "outcomes": [{"outcome": "dnl"}]}, "'lrn' must be 1 to 22 printable ASCII characters"),
    ({"lrn": "L1", "outcomes": [{"outcome": "dnl"}], "latency": 3}, "unknown field(s) 'latency'"),
    (["not", "an", "object"], "the body must be a JSON object"),
])
def test_bad_forced_outcomes_are_refused_precisely(client: FlaskClient, body: Any, needle: str) -> None:
    _bad_request(client.post("/_sim/ics2/outcomes", json=body, headers=AUTH), needle)
    assert client.get("/_sim/ics2/outcomes", headers=AUTH).get_json()["outcomes"] == []


def test_a_non_finite_delay_is_refused(client: FlaskClient) -> None:
    raw = '{"lrn": "L1", "outcomes": [{"outcome": "dnl", "delay_seconds": Infinity}]}'
    response = client.post("/_sim/ics2/outcomes", data=raw, content_type="application/json", headers=AUTH)
    _bad_request(response, "got inf")


def test_delete_needs_a_key(client: FlaskClient) -> None:
    _bad_request(client.delete("/_sim/ics2/outcomes", headers=AUTH), "give exactly one of 'lrn' and 'mrn'")


def test_hrcm_is_refused_for_a_known_ens_not_carried_by_air(app: Flask, client: FlaskClient) -> None:
    _filed(app, "IE3F10", lrn="LRNSEA1")
    for key in ({"lrn": "LRNSEA1"}, {"mrn": MRN}):
        _bad_request(client.post("/_sim/ics2/outcomes", json={**key, "outcomes": [{"outcome": "hrcm"}]}, headers=AUTH),
                     "is for consignments carried by air only; the ENS with ")
    assert client.post("/_sim/ics2/outcomes", json={"lrn": "LRNSEA1", "outcomes": [{"outcome": "rfi"}]},
                       headers=AUTH).status_code == 201


def test_forcing_by_the_mrn_of_a_registered_ens_schedules_at_once(app: Flask, client: FlaskClient) -> None:
    now = _filed(app, "IE3F32")
    body = {"mrn": MRN, "outcomes": [{"outcome": "hrcm", "delay_seconds": 0}, {"outcome": "dnl", "delay_seconds": 30}]}
    response = client.post("/_sim/ics2/outcomes", json=body, headers=AUTH)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["scheduled"] == [
        {"timer": "risk:0", "event": "request_screening", "due": iso(now)},
        {"timer": "risk:1", "event": "do_not_load", "due": iso(now + timedelta(seconds=30))}]
    lifecycle, store = app.extensions["icssim.ics2.lifecycle"], sim_context(app).store
    with store.read() as conn:
        assert lifecycle.get(conn, MRN).state == "screening_requested"  # due now: fired at once
        history = lifecycle.history(conn, MRN)
    assert history[-1].context["details"]["referral"] == referral_reference(MRN, "forced", 0)
    (listed,) = client.get(f"/_sim/ics2/outcomes?mrn={MRN}", headers=AUTH).get_json()["outcomes"]
    assert (listed["applied_mrn"], listed["applied_at"]) == (MRN, iso(now))
    assert client.post("/_sim/clock/advance", json={"seconds": 30}, headers=AUTH).status_code == 200
    with store.read() as conn:
        assert lifecycle.get(conn, MRN).state == "do_not_load"


def test_the_rule_table_is_listed(client: FlaskClient) -> None:
    listing = client.get("/_sim/ics2/risk/rules", headers=AUTH).get_json()
    assert [r["id"] for r in listing["rules"]] == [r.id for r in default_engine().rules]
    assert listing["default"]["outcome"] == "assessment_complete"
    assert listing["outcomes"]["hrcm"] == {
        "event": "request_screening", "messages": ["IE3Q03", "IE3N05"], "details": ["referral", "request_details"],
        "air_only": True, "rule": default_engine().outcomes["hrcm"].rule}
    assert "air" in listing["screening"]["modes"]
