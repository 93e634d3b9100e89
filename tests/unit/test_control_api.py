"""The control and journal API (/_sim/...) through Flask's test client.

DESIGN.md "How data flows" (control API sets the scene: parties, certificates, clock; journal API: what
the SUT sent) and "House style" (a control API like moto's /moto-api); simulator/control/views.py:
every /_sim path except health needs the bearer token (401 otherwise); it is served on the control
listener only; bad input is a JSON 400 (DESIGN.md "Bad input gets a precise protocol answer ... never
an HTTP 500").
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from flask.testing import FlaskClient

from certs.pki import TestPki, init_test_pki
from simulator.app import create_app, ensure_control_token
from simulator.codecs.as4 import constants as as4c
from simulator.core import journal
from simulator.core.config import load_config
from simulator.core.journal import JournalEntry
from simulator.trust.registry import certificate_sha256
from tests.unit.test_ics2_msh import TOKEN, Sim, Trader, make_sim

AUTH = {"Authorization": f"Bearer {TOKEN}"}

GUARDED = [
    ("GET", "/_sim/clock"), ("POST", "/_sim/clock/advance"), ("POST", "/_sim/reset"),
    ("GET", "/_sim/journal"), ("GET", "/_sim/journal/stats"), ("GET", "/_sim/journal/1/raw"),
    ("GET", "/_sim/outbox"), ("GET", "/_sim/ics2/parties"), ("POST", "/_sim/ics2/parties"),
    ("POST", "/_sim/ics2/parties/BE0123456789/revoke"), ("GET", "/_sim/ics2/ens"),
    ("GET", "/_sim/ics2/ens/stats"), ("GET", "/_sim/no-such-endpoint"),
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("control-pki") / "pki")


@pytest.fixture(scope="module")
def traders(pki: TestPki) -> dict[str, Trader]:
    return {name: Trader.load(pki, name) for name in ("trader-a", "trader-b")}


def _pem(trader: Trader, purpose: str = "sealing") -> str:
    cert = trader.chain[0] if purpose == "sealing" else trader.tls_cert
    return cert.public_bytes(Encoding.PEM).decode()


def _register(client: FlaskClient, trader: Trader, purpose: str = "sealing", **extra: Any) -> Any:
    body = {"party": trader.eori, "certificate": _pem(trader, purpose), "purpose": purpose, **extra}
    return client.post("/_sim/ics2/parties", json=body, headers=AUTH)


def _bad_request(response: Any, needle: str) -> None:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body["error"] == "Bad Request"
    assert needle in body["detail"]


# -- the token ----------------------------------------------------------------------------------------
def test_health_needs_no_token(client: FlaskClient) -> None:
    """views.py require_token: /_sim/health is the one path open without the token (liveness checks)."""
    response = client.get("/_sim/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


@pytest.fixture(scope="module")
def guarded_client(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """One app for the many refusals below (a refused request changes nothing, so it can be shared)."""
    sim = make_sim(pki, tmp_path_factory.mktemp("guarded") / "var")
    yield sim.control
    sim.store.dispose()


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_every_other_sim_path_needs_the_token(guarded_client: FlaskClient, method: str, path: str) -> None:
    """views.py require_token: every /_sim path (profiles' blueprints and unknown paths included) answers
    401 as JSON without exactly "Bearer <token>"."""
    for header in (None, "Bearer wrong-token", f"Token {TOKEN}", TOKEN, f"Bearer {TOKEN}x", f"bearer{TOKEN}"):
        headers = {"Authorization": header} if header else {}
        response = guarded_client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401, (header, response.status_code)
        assert response.get_json()["error"] == "Unauthorized"


def test_unauthorised_requests_change_nothing(sim: Sim, client: FlaskClient, traders: dict[str, Trader]) -> None:
    """views.py require_token: the guard runs before the endpoint — a refused request has no effect."""
    sim.register(traders["trader-a"])
    before = client.get("/_sim/clock", headers=AUTH).get_json()
    assert client.post("/_sim/clock/advance", json={"seconds": 60}).status_code == 401
    assert client.post("/_sim/reset", json={"parties": True}).status_code == 401
    assert _register(client, traders["trader-b"]).status_code == 201  # with the token: fine
    assert client.get("/_sim/clock", headers=AUTH).get_json() == before
    assert len(client.get("/_sim/ics2/parties", headers=AUTH).get_json()["parties"]) == 2


def test_without_a_configured_token_everything_is_refused(tmp_path: Path) -> None:
    """app.py: no token configured and no token file -> the control API is closed, not open."""
    app = create_app(load_config(env={}, overrides={"var_dir": tmp_path / "var"}), role="control")
    client = app.test_client()
    for header in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        assert client.get("/_sim/journal", headers=header).status_code == 401
    assert client.get("/_sim/health").status_code == 200


def test_token_file_is_used_when_no_token_is_configured(tmp_path: Path) -> None:
    """app.py / README: the token is generated at start and written to <var>/control-token (mode 0600)."""
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var"})
    token = ensure_control_token(config)
    assert (config.token_file.stat().st_mode & 0o777) == 0o600
    client = create_app(config, role="control").test_client()
    assert client.get("/_sim/journal", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/_sim/journal", headers=AUTH).status_code == 401


def test_trader_listener_does_not_serve_the_control_api(pki: TestPki, tmp_path: Path) -> None:
    """views.py: the control API is served on its own listener, never on the trader listener."""
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "pki_dir": pki.directory,
                                            "control_token": TOKEN})
    client = create_app(config, role="trader").test_client()
    assert client.get("/_sim/health").status_code == 404
    assert client.get("/_sim/journal", headers=AUTH).status_code == 404
    assert client.get("/health").status_code == 200


# -- parties ------------------------------------------------------------------------------------------
def test_register_and_list_parties(client: FlaskClient, traders: dict[str, Trader]) -> None:
    """ICD §4.3 (certificate registered together with the EORI): POST registers, GET lists with the
    certificates per purpose."""
    a = traders["trader-a"]
    response = _register(client, a, name="Trader A")
    assert response.status_code == 201
    created = response.get_json()
    assert created["party"] == a.eori and created["purpose"] == "sealing"
    assert created["sha256"] == certificate_sha256(a.chain[0])
    assert _register(client, a, "tls").status_code == 201
    parties = client.get("/_sim/ics2/parties", headers=AUTH).get_json()["parties"]
    assert [(p["party"], p["name"]) for p in parties] == [(a.eori, "Trader A")]
    assert sorted(c["purpose"] for c in parties[0]["certificates"]) == ["sealing", "tls"]


def test_register_accepts_eori_as_the_party_key(client: FlaskClient, traders: dict[str, Trader]) -> None:
    """views.py parties_register: {"eori": ...} is the same as {"party": ...}."""
    a = traders["trader-a"]
    response = client.post("/_sim/ics2/parties", json={"eori": a.eori, "certificate": _pem(a)}, headers=AUTH)
    assert response.status_code == 201 and response.get_json()["party"] == a.eori


def test_register_twice_is_idempotent(client: FlaskClient, traders: dict[str, Trader]) -> None:
    """registry.py register: the same registration twice is one."""
    a = traders["trader-a"]
    assert _register(client, a).status_code == 201
    assert _register(client, a).status_code == 201
    (party,) = client.get("/_sim/ics2/parties", headers=AUTH).get_json()["parties"]
    assert len(party["certificates"]) == 1


@pytest.mark.parametrize(("body", "needle"), [
    ({"certificate": "x"}, "'party'"),
    ({"party": "  "}, "'party'"),
    ({"party": "BE0123456789", "certificate": "not a pem"}, "not a PEM X.509 certificate"),
    ({"party": "BE0123456789"}, "not a PEM X.509 certificate"),
    ({"party": "BE0123456789", "certificate": "@SEAL", "purpose": "signing"}, "purpose"),
])
def test_register_with_bad_input_is_400(client: FlaskClient, traders: dict[str, Trader], body: dict[str, Any],
                                        needle: str) -> None:
    """DESIGN.md "Bad input gets a precise protocol answer": JSON 400 saying what is wrong."""
    if body.get("certificate") == "@SEAL":
        body = {**body, "certificate": _pem(traders["trader-a"])}
    _bad_request(client.post("/_sim/ics2/parties", json=body, headers=AUTH), needle)


def test_register_with_a_non_object_body_is_400(client: FlaskClient) -> None:
    """views.py _json: the request body must be a JSON object."""
    _bad_request(client.post("/_sim/ics2/parties", json=["BE0123456789"], headers=AUTH), "JSON object")


def test_unknown_profile_is_404(client: FlaskClient, traders: dict[str, Trader]) -> None:
    """views.py _registry: only the profiles this simulator serves have parties."""
    response = client.get("/_sim/uk_ss/parties", headers=AUTH)
    assert response.status_code == 404 and "uk_ss" in response.get_json()["detail"]


def test_revoke_by_fingerprint_or_certificate(client: FlaskClient, traders: dict[str, Trader]) -> None:
    """views.py parties_revoke: {"sha256": hex} or {"certificate": PEM}; the listing shows revoked_at."""
    a, path = traders["trader-a"], f"/_sim/ics2/parties/{traders['trader-a'].eori}/revoke"
    _register(client, a)
    _register(client, a, "tls")
    response = client.post(path, json={"sha256": certificate_sha256(a.chain[0])}, headers=AUTH)
    assert response.status_code == 200 and response.get_json() == {"revoked": 1}
    response = client.post(path, json={"certificate": _pem(a, "tls")}, headers=AUTH)
    assert response.status_code == 200 and response.get_json() == {"revoked": 1}
    (party,) = client.get("/_sim/ics2/parties", headers=AUTH).get_json()["parties"]
    assert all(c["revoked_at"] is not None for c in party["certificates"])


def test_revoke_then_register_reactivates(sim: Sim, client: FlaskClient, traders: dict[str, Trader]) -> None:
    """registry.py: registering again re-activates a revoked registration — the trader is admitted again."""
    a = traders["trader-a"]
    _register(client, a)
    _register(client, a, "tls")
    client.post(f"/_sim/ics2/parties/{a.eori}/revoke", json={"sha256": certificate_sha256(a.chain[0])},
                headers=AUTH)
    _, refused = sim.send_user_message(a, b"<ping/>", action=as4c.TEST_ACTION, service=as4c.TEST_SERVICE)
    assert refused.kind == "error" and refused.errors[0].code == "EBMS:0004"
    assert _register(client, a).status_code == 201
    assert sim.file(a, "LRNCTRL0001")  # accepted with a receipt again


def test_revoke_errors(client: FlaskClient, traders: dict[str, Trader]) -> None:
    """views.py parties_revoke: nothing to revoke -> 404; neither sha256 nor certificate -> 400."""
    a = traders["trader-a"]
    path = f"/_sim/ics2/parties/{a.eori}/revoke"
    response = client.post(path, json={"sha256": certificate_sha256(a.chain[0])}, headers=AUTH)
    assert response.status_code == 404 and response.get_json()["error"] == "Not Found"
    _bad_request(client.post(path, json={}, headers=AUTH), "'sha256' or 'certificate'")
    _bad_request(client.post(path, json={"certificate": "junk"}, headers=AUTH), "not a PEM")


# -- journal ------------------------------------------------------------------------------------------
def _journal_scene(sim: Sim) -> list[int]:
    entries = [
        JournalEntry("ics2", "in", "as4", "user", "accepted", "t1", message_id="m1", sender="BE1",
                     action="IE3F32", correlation="LRN1", raw=b"<in/>", content_type="application/soap+xml"),
        JournalEntry("ics2", "out", "as4", "receipt", "sent", "t1", message_id="r1", ref_to_message_id="m1",
                     raw=b"<receipt/>"),
        JournalEntry("ics2", "in", "as4", "user", "rejected", "t2", message_id="m2", sender="NL2",
                     error_code="EBMS:0101"),
    ]
    return [journal.record_alone(sim.store, e) for e in entries]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["m1", "r1", "m2"]),
    ("direction=in", ["m1", "m2"]),
    ("kind=receipt", ["r1"]),
    ("verdict=rejected", ["m2"]),
    ("sender=BE1&action=IE3F32", ["m1"]),
    ("ref_to_message_id=m1", ["r1"]),
    ("correlation=LRN1", ["m1"]),
    ("message_id=m2", ["m2"]),
    ("profile=au_ics", []),
    ("limit=2", ["m1", "r1"]),
])
def test_journal_filters(sim: Sim, client: FlaskClient, query: str, expected: list[str]) -> None:
    """Control API journal (the harness grades what the SUT sent from it): exact filters, limit."""
    _journal_scene(sim)
    response = client.get(f"/_sim/journal?{query}", headers=AUTH)
    assert response.status_code == 200
    assert [e["message_id"] for e in response.get_json()["entries"]] == expected


def test_journal_since_id_pages_forward(sim: Sim, client: FlaskClient) -> None:
    """Control API journal: since_id returns only later entries (the harness polls with it)."""
    ids = _journal_scene(sim)
    entries = client.get(f"/_sim/journal?since_id={ids[0]}", headers=AUTH).get_json()["entries"]
    assert [e["id"] for e in entries] == ids[1:]


def test_journal_raw_only_when_asked(sim: Sim, client: FlaskClient) -> None:
    """Control API journal raw=1: the raw bytes as base64, otherwise only their size."""
    _journal_scene(sim)
    plain = client.get("/_sim/journal?message_id=m1", headers=AUTH).get_json()["entries"][0]
    assert "raw_b64" not in plain and plain["raw_size"] == 5
    raw = client.get("/_sim/journal?message_id=m1&raw=1", headers=AUTH).get_json()["entries"][0]
    assert base64.b64decode(raw["raw_b64"]) == b"<in/>"


def test_journal_entry_raw(sim: Sim, client: FlaskClient) -> None:
    """Control API journal/<id>/raw: the bytes as received with their content type; none -> 404."""
    ids = _journal_scene(sim)
    response = client.get(f"/_sim/journal/{ids[0]}/raw", headers=AUTH)
    assert response.status_code == 200
    assert response.data == b"<in/>" and response.content_type == "application/soap+xml"
    assert client.get(f"/_sim/journal/{ids[1]}/raw", headers=AUTH).content_type == "application/octet-stream"
    assert client.get(f"/_sim/journal/{ids[2]}/raw", headers=AUTH).status_code == 404
    assert client.get("/_sim/journal/999/raw", headers=AUTH).status_code == 404


def test_journal_stats(sim: Sim, client: FlaskClient) -> None:
    """Control API journal/stats: counts per direction, kind and verdict (load gates)."""
    _journal_scene(sim)
    counts = client.get("/_sim/journal/stats", headers=AUTH).get_json()["counts"]
    assert {(c["direction"], c["kind"], c["verdict"]): c["count"] for c in counts} == {
        ("in", "user", "accepted"): 1, ("out", "receipt", "sent"): 1, ("in", "user", "rejected"): 1}


@pytest.mark.parametrize("query", ["since_id=abc", "limit=many", "since_id=1.5"])
def test_journal_bad_query_is_400(client: FlaskClient, query: str) -> None:
    """DESIGN.md "never an HTTP 500": a non-integer since_id or limit is a JSON 400."""
    _bad_request(client.get(f"/_sim/journal?{query}", headers=AUTH), "invalid literal")


# -- clock --------------------------------------------------------------------------------------------
def test_clock_get_and_advance(client: FlaskClient) -> None:
    """DESIGN.md Deterministic (the control API advances the clock): GET shows it, advance moves it."""
    before = client.get("/_sim/clock", headers=AUTH).get_json()
    assert before["mode"] == "frozen" and before["offset_seconds"] == 0
    response = client.post("/_sim/clock/advance", json={"seconds": 3600}, headers=AUTH)
    assert response.status_code == 200
    moved = response.get_json()
    assert moved["offset_seconds"] == 3600
    assert datetime.fromisoformat(moved["now"]) - datetime.fromisoformat(before["now"]) == timedelta(hours=1)
    assert client.get("/_sim/clock", headers=AUTH).get_json() == moved
    assert client.post("/_sim/clock/advance", json={"seconds": "30"}, headers=AUTH).get_json()["offset_seconds"] == 3630


def test_clock_advance_backwards_is_400(client: FlaskClient) -> None:
    """clock.py: the simulated clock only moves forward — a JSON 400, the clock unchanged."""
    before = client.get("/_sim/clock", headers=AUTH).get_json()
    _bad_request(client.post("/_sim/clock/advance", json={"seconds": -5}, headers=AUTH), "forward")
    _bad_request(client.post("/_sim/clock/advance", json={"seconds": "soon"}, headers=AUTH), "soon")
    assert client.get("/_sim/clock", headers=AUTH).get_json() == before


@pytest.mark.parametrize("seconds", [[60], {"s": 1}, None], ids=["list", "object", "null"])
def test_clock_advance_with_a_non_number_is_400(client: FlaskClient, seconds: Any) -> None:
    """DESIGN.md "Bad input gets a precise protocol answer ... never an HTTP 500": seconds of the wrong
    JSON type is a JSON 400."""
    response = client.post("/_sim/clock/advance", json={"seconds": seconds}, headers=AUTH)
    assert response.status_code == 400, (response.status_code, response.get_json())


@pytest.mark.parametrize("seconds", ["nan", "inf", 1e300], ids=["nan", "inf", "huge"])
def test_clock_advance_by_a_non_finite_or_absurd_amount_is_400_and_harmless(client: FlaskClient,
                                                                            seconds: Any) -> None:
    """DESIGN.md "never an HTTP 500" and Deterministic: an amount that is no time (NaN, infinity) or
    beyond any date is refused with a JSON 400 and leaves the shared clock readable and unchanged."""
    before = client.get("/_sim/clock", headers=AUTH).get_json()
    response = client.post("/_sim/clock/advance", json={"seconds": seconds}, headers=AUTH)
    assert response.status_code == 400, (response.status_code, response.get_json())
    after = client.get("/_sim/clock", headers=AUTH)
    assert after.status_code == 200, (after.status_code, after.get_json())
    assert after.get_json() == before


# -- reset --------------------------------------------------------------------------------------------
def test_reset_wipes_the_scene_and_keeps_parties(sim: Sim, client: FlaskClient,
                                                 traders: dict[str, Trader]) -> None:
    """context.py reset_scene via POST /_sim/reset: journal, outbox, ENS and clock reset; parties kept."""
    a = traders["trader-a"]
    sim.register(a)
    sim.file(a, "LRNCTRL0001")
    client.post("/_sim/clock/advance", json={"seconds": 600}, headers=AUTH)
    response = client.post("/_sim/reset", headers=AUTH)
    assert response.status_code == 200 and response.get_json()["status"] == "reset"
    assert client.get("/_sim/journal", headers=AUTH).get_json()["entries"] == []
    assert client.get("/_sim/outbox", headers=AUTH).get_json()["messages"] == []
    assert client.get("/_sim/ics2/ens", headers=AUTH).get_json()["ens"] == []
    assert client.get("/_sim/clock", headers=AUTH).get_json()["offset_seconds"] == 0
    assert [p["party"] for p in client.get("/_sim/ics2/parties", headers=AUTH).get_json()["parties"]] == [a.eori]
    assert sim.file(a, "LRNCTRL0001")  # the kept registration still admits the trader


def test_reset_with_parties_forgets_them(sim: Sim, client: FlaskClient, traders: dict[str, Trader]) -> None:
    """context.py reset_scene(parties=True) via {"parties": true}: the registry is wiped too."""
    sim.register(traders["trader-a"])
    response = client.post("/_sim/reset", json={"parties": True}, headers=AUTH)
    assert response.status_code == 200
    assert client.get("/_sim/ics2/parties", headers=AUTH).get_json()["parties"] == []


def test_reset_with_a_non_object_body_is_400(sim: Sim, client: FlaskClient) -> None:
    """views.py _json: the body must be a JSON object; nothing is reset."""
    journal.record_alone(sim.store, JournalEntry("ics2", "in", "as4", "user", "accepted", "t"))
    _bad_request(client.post("/_sim/reset", json=[True], headers=AUTH), "JSON object")
    assert len(client.get("/_sim/journal", headers=AUTH).get_json()["entries"]) == 1


def test_reset_with_malformed_json_is_400_and_resets_nothing(sim: Sim, client: FlaskClient,
                                                              traders: dict[str, Trader]) -> None:
    """DESIGN.md "Bad input gets a precise protocol answer": a body that is not JSON at all (here a
    truncated {"parties": true) is a JSON 400, not silently read as "no options" and acted upon."""
    sim.register(traders["trader-a"])
    journal.record_alone(sim.store, JournalEntry("ics2", "in", "as4", "user", "accepted", "t"))
    response = client.post("/_sim/reset", data='{"parties": tru', content_type="application/json", headers=AUTH)
    assert response.status_code == 400, (response.status_code, response.get_json())
    assert len(client.get("/_sim/journal", headers=AUTH).get_json()["entries"]) == 1


# -- ICS2 ENS register and outbox ---------------------------------------------------------------------
@pytest.fixture
def filed(sim: Sim, traders: dict[str, Trader]) -> dict[str, str]:
    """One registered and one rejected filing from trader-a, one registered from trader-b."""
    for trader in traders.values():
        sim.register(trader)
    a, b = traders["trader-a"], traders["trader-b"]
    return {"ok-a": sim.file(a, "LRNCTRLA0001"),
            "bad-a": sim.file(a, "LRNCTRLA0002", variant="invalid-hs-code"),
            "ok-b": sim.file(b, "LRNCTRLB0001")}


def test_ens_lists_filings_with_their_state(client: FlaskClient, filed: dict[str, str],
                                            traders: dict[str, Trader]) -> None:
    """/_sim/ics2/ens (domain/ics2.md "ENS lifecycle"): every filing with its state; filters lrn, mrn,
    sender, state, message_id."""
    rows = client.get("/_sim/ics2/ens", headers=AUTH).get_json()["ens"]
    assert [(r["lrn"], r["state"]) for r in rows] == [
        ("LRNCTRLA0001", "registered"), ("LRNCTRLA0002", "rejected"), ("LRNCTRLB0001", "registered")]
    registered = rows[0]
    assert len(registered["mrn"]) == 18 and rows[1]["mrn"] is None and "12" in rows[1]["errors"]

    def lrns(query: str) -> list[str]:
        return [r["lrn"] for r in client.get(f"/_sim/ics2/ens?{query}", headers=AUTH).get_json()["ens"]]

    assert lrns("state=rejected") == ["LRNCTRLA0002"]
    assert lrns(f"sender={traders['trader-b'].eori}") == ["LRNCTRLB0001"]
    assert lrns(f"mrn={registered['mrn']}") == ["LRNCTRLA0001"]
    assert lrns("lrn=LRNCTRLA0002") == ["LRNCTRLA0002"]
    assert lrns(f"message_id={filed['ok-b']}") == ["LRNCTRLB0001"]
    assert lrns("lrn=NONE") == []


def test_ens_stats_counts_per_state(client: FlaskClient, filed: dict[str, str]) -> None:
    """/_sim/ics2/ens/stats: number of ENS filings per state."""
    response = client.get("/_sim/ics2/ens/stats", headers=AUTH)
    assert response.get_json() == {"states": {"registered": 2, "rejected": 1}}


def test_outbox_lists_replies_per_queue(client: FlaskClient, filed: dict[str, str],
                                        traders: dict[str, Trader]) -> None:
    """/_sim/outbox: the replies waiting per MPC (ICD §4.3.3), filter queue."""
    every = client.get("/_sim/outbox", headers=AUTH).get_json()["messages"]
    assert [(m["action"], m["ref_to_message_id"]) for m in every] == [
        ("IE3R01", filed["ok-a"]), ("IE3N99", filed["bad-a"]), ("IE3R01", filed["ok-b"])]
    mpc = traders["trader-b"].mpc
    only_b = client.get("/_sim/outbox", query_string={"queue": mpc}, headers=AUTH).get_json()["messages"]
    assert [m["ref_to_message_id"] for m in only_b] == [filed["ok-b"]]
