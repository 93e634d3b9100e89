"""ICS2 party profiles and representations: the table API and the control endpoints.

ICD §5.1.1 (a trader declares pull or push, and for push its access point URL), §5.3 (notification
preferences), §4.4.1 (the recorded preferences give the default PartyId of a party), §4.2.2.1 (PartyId
[systemId@]EORI[@MS]); domain/ics2.md "Data-quality rules" (EORI format; representative differs from
declarant). simulator/ics2/parties.py: a profile stored for a bare EORI applies to every PartyId of that
EORI; no profile = pull, nothing optional; both tables survive a scene reset (REGISTRY).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from simulator.app import create_app
from simulator.core.config import load_config
from simulator.core.context import sim_context
from simulator.core.store import Store
from simulator.ics2.parties import PartyProfile, PartyProfiles, make_profile

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EORI = "BE0123456789"
OTHER = "NL123456789"
SYS_A = f"sysA@{EORI}"
SYS_B = f"sysB@{EORI}@BE"
URL = "https://ap.example.test:8443/as4"
TOKEN = "parties-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}



@pytest.fixture
def profiles(store: Store) -> PartyProfiles:
    return PartyProfiles(store)


def _get(store: Store, profiles: PartyProfiles, party: str) -> PartyProfile:
    with store.read() as conn:
        return profiles.get(conn, party)


def _represents(store: Store, profiles: PartyProfiles, representative: str, declarant: str) -> bool:
    with store.read() as conn:
        return profiles.represents(conn, representative, declarant)


# -- profiles: the table API ---------------------------------------------------------------------------
def test_no_profile_means_pull_and_nothing_optional(store: Store, profiles: PartyProfiles) -> None:
    """parties.py default_profile: ICD §5.1.1 (pull needs no URL) and §5.3 (preferences are optional)."""
    found = _get(store, profiles, SYS_A)
    assert found == PartyProfile(SYS_A, EORI, frozenset(), "pull", None, frozenset())
    assert not found.recorded and found.stored_under is None


def test_put_then_get_round_trips(store: Store, profiles: PartyProfiles) -> None:
    """A recorded profile is returned as recorded, keyed by its PartyId."""
    stored = profiles.put(make_profile(SYS_A, roles=["carrier"], channel="push", ap_url=URL,
                                       wants=["IE3N04", "IE3Q01"]), at=T0)
    found = _get(store, profiles, SYS_A)
    assert found == stored
    assert (found.channel, found.ap_url, found.roles, found.wants) == (
        "push", URL, frozenset({"carrier"}), frozenset({"IE3N04", "IE3Q01"}))
    assert found.recorded and found.stored_under == SYS_A


def test_an_eori_profile_applies_to_every_party_id_of_that_eori(store: Store, profiles: PartyProfiles) -> None:
    """parties.py get: exact PartyId first, then the profile stored for its bare EORI."""
    profiles.put(make_profile(EORI, channel="push", ap_url=URL), at=T0)
    profiles.put(make_profile(SYS_A, channel="pull", wants=["IE3N03"]), at=T0)
    via_eori = _get(store, profiles, SYS_B)
    assert (via_eori.party_id, via_eori.channel, via_eori.stored_under) == (SYS_B, "push", EORI)
    own = _get(store, profiles, SYS_A)
    assert (own.party_id, own.channel, own.wants, own.stored_under) == (SYS_A, "pull", {"IE3N03"}, SYS_A)
    assert _get(store, profiles, EORI).stored_under == EORI


def test_another_systems_profile_does_not_apply(store: Store, profiles: PartyProfiles) -> None:
    """A profile of sysA@EORI is that access point's; sysB@EORI still has the default."""
    profiles.put(make_profile(SYS_A, channel="push", ap_url=URL), at=T0)
    assert not _get(store, profiles, SYS_B).recorded
    assert _get(store, profiles, f"{EORI}@BE").channel == "pull"


def test_a_bare_eori_resolves_to_the_recorded_party_id(store: Store, profiles: PartyProfiles) -> None:
    """ICD §4.4.1: the preferences recorded at enrolment give the default eb:To/eb:PartyId of an EO known
    only by its EORI (first recorded PartyId in order; the EORI's own profile wins when there is one)."""
    profiles.put(make_profile(SYS_B, channel="push", ap_url=URL), at=T0)
    profiles.put(make_profile(SYS_A), at=T0)
    assert _get(store, profiles, EORI).party_id == SYS_A
    profiles.put(make_profile(EORI, wants=["IE3N05"]), at=T0)
    assert (_get(store, profiles, EORI).party_id, _get(store, profiles, EORI).wants) == (EORI, {"IE3N05"})


def test_put_replaces_and_listing_shows_simulated_time(profiles: PartyProfiles) -> None:
    """put is an upsert; updated_at is the simulated time given, not the wall clock."""
    profiles.put(make_profile(SYS_A, channel="push", ap_url=URL), at=T0)
    profiles.put(make_profile(SYS_A, roles=["filer"]), at=datetime(2025, 3, 2, tzinfo=UTC))
    profiles.put(make_profile(OTHER), at=T0)
    assert profiles.listing() == [
        {"party_id": OTHER, "eori": OTHER, "roles": [], "channel": "pull", "ap_url": None, "wants": [],
         "updated_at": "2025-03-01T12:00:00.000Z"},
        {"party_id": SYS_A, "eori": EORI, "roles": ["filer"], "channel": "pull", "ap_url": None, "wants": [],
         "updated_at": "2025-03-02T00:00:00.000Z"},
    ]


def test_delete_falls_back(store: Store, profiles: PartyProfiles) -> None:
    profiles.put(make_profile(EORI, channel="push", ap_url=URL), at=T0)
    profiles.put(make_profile(SYS_A), at=T0)
    assert profiles.delete(SYS_A) and not profiles.delete(SYS_A)
    assert _get(store, profiles, SYS_A).stored_under == EORI


BAD_PROFILES: list[tuple[dict[str, Any], str]] = [
    ({"party_id": "be0123456789"}, "party id must be"),
    ({"party_id": "a@b@BE123@BE"}, "party id must be"),
    ({"party_id": 42}, "party id must be"),
    ({"roles": ["captain"]}, "unknown role(s) ['captain']"),
    ({"roles": "carrier"}, "'roles' must be a list of strings"),
    ({"roles": [1]}, "'roles' must be a list of strings"),
    ({"channel": "email"}, "'channel' must be one of ['pull', 'push']"),
    ({"channel": "push"}, "'ap_url' is required for channel 'push'"),
    ({"channel": "push", "ap_url": "http://ap.example.test/as4"}, "must use https"),
    ({"channel": "push", "ap_url": "https:///as4"}, "has no host"),
    ({"channel": "push", "ap_url": "https://u:p@ap.example.test/"}, "must not carry credentials"),
    ({"channel": "push", "ap_url": "https://ap.example.test:99999/"}, "bad port"),
    ({"channel": "push", "ap_url": "https://ap.example.test/a b"}, "without spaces"),
    ({"channel": "push", "ap_url": "https://ap.example.test/#x"}, "fragment"),
    ({"channel": "push", "ap_url": 7}, "'ap_url' must be an https URL"),
    ({"wants": ["IE3F32"]}, "not customs-to-trader messages"),
    ({"wants": ["IE3X99"]}, "not customs-to-trader messages"),
    ({"wants": "IE3N04"}, "'wants' must be a list of strings"),
]


@pytest.mark.parametrize(("fields", "needle"), BAD_PROFILES)
def test_bad_profile_input_is_a_precise_value_error(fields: dict[str, Any], needle: str) -> None:
    """parties.py make_profile: every bad field is named (the endpoint turns it into a 400)."""
    args = {"party_id": SYS_A, **fields}
    party_id = args.pop("party_id")
    with pytest.raises(ValueError) as caught:
        make_profile(party_id, **args)
    assert needle in str(caught.value)


def test_put_checks_a_hand_built_profile(profiles: PartyProfiles) -> None:
    """put re-checks: an EORI that is not the PartyId's, or push without a URL, is refused unstored."""
    with pytest.raises(ValueError, match="is not the EORI of party id"):
        profiles.put(PartyProfile(SYS_A, OTHER, frozenset(), "pull", None, frozenset()), at=T0)
    with pytest.raises(ValueError, match="'ap_url' is required"):
        profiles.put(PartyProfile(SYS_A, EORI, frozenset(), "push", None, frozenset()), at=T0)
    assert profiles.listing() == []


# -- representations ----------------------------------------------------------------------------------
def test_representations(store: Store, profiles: PartyProfiles) -> None:
    """represents: only the recorded direction; PartyIds reduce to their EORI; not-EORIs are just False."""
    profiles.add_representation(EORI, OTHER)
    profiles.add_representation(EORI, OTHER)  # idempotent
    assert _represents(store, profiles, EORI, OTHER)
    assert _represents(store, profiles, SYS_B, f"x@{OTHER}")
    assert not _represents(store, profiles, OTHER, EORI)
    assert not _represents(store, profiles, "nonsense", OTHER)
    assert profiles.representations() == [{"representative": EORI, "declarant": OTHER}]
    assert profiles.representations(declarant=EORI) == []
    assert profiles.remove_representation(EORI, OTHER) and not profiles.remove_representation(EORI, OTHER)
    assert not _represents(store, profiles, EORI, OTHER)


@pytest.mark.parametrize(("representative", "declarant", "needle"), [
    (EORI, EORI, "must differ"),
    (SYS_A, OTHER, "representative must be an EORI"),
    (EORI, "nl123", "declarant must be an EORI"),
])
def test_bad_representation_is_refused(profiles: PartyProfiles, representative: str, declarant: str,
                                       needle: str) -> None:
    """domain/ics2.md: representative identification must differ from the declarant's; both are EORIs."""
    with pytest.raises(ValueError, match=needle):
        profiles.add_representation(representative, declarant)
    assert profiles.representations() == []


# -- the hot path: one indexed query each ---------------------------------------------------------------
def _traced(store: Store, work: Any) -> list[str]:
    statements: list[str] = []
    with store.read() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_trace_callback(statements.append)
        try:
            work(conn)
        finally:
            raw.set_trace_callback(None)
        # The traced SQL has its values expanded, so it can be explained as it is.
        assert all(sql.lstrip().upper().startswith("SELECT") for sql in statements), statements
        return [" ".join(str(row[-1]) for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements]


def test_get_and_represents_are_one_indexed_query_each(store: Store, profiles: PartyProfiles) -> None:
    """The brief's hot-path rule (DESIGN.md "Fast on the hot path"): one statement, through an index."""
    profiles.put(make_profile(SYS_A), at=T0)
    profiles.add_representation(EORI, OTHER)
    (get_plan,) = _traced(store, lambda conn: profiles.get(conn, SYS_A))
    assert "USING INDEX ix_ics2_party_profiles_eori" in get_plan and "TEMP B-TREE" not in get_plan, get_plan
    (rep_plan,) = _traced(store, lambda conn: profiles.represents(conn, EORI, OTHER))
    assert "USING" in rep_plan and "INDEX" in rep_plan and "SCAN" not in rep_plan, rep_plan


# -- control endpoints --------------------------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "control_token": TOKEN,
                                            "clock_mode": "frozen"})
    app = create_app(config, role="control")
    yield app
    sim_context(app).store.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _bad(response: Any, needle: str) -> None:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body["error"] == "Bad Request" and needle in body["detail"], body


def test_put_get_and_list_profiles(client: FlaskClient) -> None:
    """PUT records and answers the profile; GET answers what applies; /profiles lists the recorded ones."""
    body = {"roles": ["carrier", "filer"], "channel": "push", "ap_url": URL, "wants": ["IE3Q01"]}
    response = client.put(f"/_sim/ics2/parties/{SYS_A}/profile", json=body, headers=AUTH)
    assert response.status_code == 200
    expected = {"party_id": SYS_A, "eori": EORI, "roles": ["carrier", "filer"], "channel": "push",
                "ap_url": URL, "wants": ["IE3Q01"], "recorded": True, "stored_under": SYS_A}
    assert response.get_json() == expected
    assert client.get(f"/_sim/ics2/parties/{SYS_A}/profile", headers=AUTH).get_json() == expected
    (listed,) = client.get("/_sim/ics2/profiles", headers=AUTH).get_json()["profiles"]
    assert listed["party_id"] == SYS_A and listed["updated_at"].endswith("Z")


def test_get_of_an_unrecorded_party_is_the_default(client: FlaskClient) -> None:
    response = client.get(f"/_sim/ics2/parties/{OTHER}/profile", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {"party_id": OTHER, "eori": OTHER, "roles": [], "channel": "pull",
                                   "ap_url": None, "wants": [], "recorded": False, "stored_under": None}


def test_partial_put_takes_the_defaults(client: FlaskClient) -> None:
    response = client.put(f"/_sim/ics2/parties/{EORI}/profile", json={"wants": ["IE3N04"]}, headers=AUTH)
    assert response.status_code == 200
    assert (response.get_json()["channel"], response.get_json()["roles"]) == ("pull", [])


@pytest.mark.parametrize(("fields", "needle"), [(f, n) for f, n in BAD_PROFILES if "party_id" not in f])
def test_put_with_bad_fields_is_400(client: FlaskClient, fields: dict[str, Any], needle: str) -> None:
    """DESIGN.md "Bad input gets a precise protocol answer": a JSON 400 naming the field, never a 500."""
    _bad(client.put(f"/_sim/ics2/parties/{SYS_A}/profile", json=fields, headers=AUTH), needle)
    assert client.get("/_sim/ics2/profiles", headers=AUTH).get_json()["profiles"] == []


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"data": b"{not json", "content_type": "application/json"}, "JSON object"),
    ({"data": b"roles=carrier", "content_type": "application/x-www-form-urlencoded"}, "JSON object"),
    ({"json": ["carrier"]}, "JSON object"),
    ({"json": None}, "JSON object"),
    ({"json": {"channel": "pull", "colour": "red"}}, "unknown field(s) ['colour']"),
])
def test_put_with_a_bad_body_is_400(client: FlaskClient, kwargs: dict[str, Any], needle: str) -> None:
    _bad(client.put(f"/_sim/ics2/parties/{SYS_A}/profile", headers=AUTH, **kwargs), needle)


def test_bad_party_id_in_the_path_is_400(client: FlaskClient) -> None:
    _bad(client.get("/_sim/ics2/parties/not-an-eori/profile", headers=AUTH), "party id must be")
    _bad(client.put("/_sim/ics2/parties/not-an-eori/profile", json={}, headers=AUTH), "party id must be")


def test_delete_profile(client: FlaskClient) -> None:
    assert client.put(f"/_sim/ics2/parties/{SYS_A}/profile", json={}, headers=AUTH).status_code == 200
    assert client.delete(f"/_sim/ics2/parties/{SYS_A}/profile", headers=AUTH).status_code == 204
    response = client.delete(f"/_sim/ics2/parties/{SYS_A}/profile", headers=AUTH)
    assert response.status_code == 404 and response.get_json()["error"] == "Not Found"


def test_representation_endpoints(client: FlaskClient) -> None:
    """POST -> 201, GET lists (filters), DELETE -> 204 then 404."""
    body = {"representative": EORI, "declarant": OTHER}
    response = client.post("/_sim/ics2/representations", json=body, headers=AUTH)
    assert response.status_code == 201 and response.get_json() == body
    assert client.get("/_sim/ics2/representations", headers=AUTH).get_json() == {"representations": [body]}
    filtered = client.get(f"/_sim/ics2/representations?declarant={EORI}", headers=AUTH).get_json()
    assert filtered == {"representations": []}
    path = f"/_sim/ics2/representations?representative={EORI}&declarant={OTHER}"
    assert client.delete(path, headers=AUTH).status_code == 204
    assert client.delete(path, headers=AUTH).status_code == 404


@pytest.mark.parametrize(("body", "needle"), [
    ({"representative": EORI}, "'declarant' (an EORI) is required"),
    ({"representative": EORI, "declarant": EORI}, "must differ"),
    ({"representative": 5, "declarant": OTHER}, "representative must be an EORI"),
    ({"representative": EORI, "declarant": OTHER, "since": "2025"}, "unknown field(s) ['since']"),
    (["BE1", "NL2"], "JSON object"),
])
def test_bad_representation_post_is_400(client: FlaskClient, body: Any, needle: str) -> None:
    _bad(client.post("/_sim/ics2/representations", json=body, headers=AUTH), needle)


def test_delete_representation_needs_both_eoris(client: FlaskClient) -> None:
    _bad(client.delete(f"/_sim/ics2/representations?representative={EORI}", headers=AUTH),
         "'declarant' (an EORI) is required")
    _bad(client.delete(f"/_sim/ics2/representations?representative=x&declarant={OTHER}", headers=AUTH),
         "representative must be an EORI")


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", f"/_sim/ics2/parties/{EORI}/profile"), ("GET", f"/_sim/ics2/parties/{EORI}/profile"),
    ("DELETE", f"/_sim/ics2/parties/{EORI}/profile"), ("GET", "/_sim/ics2/profiles"),
    ("POST", "/_sim/ics2/representations"), ("GET", "/_sim/ics2/representations"),
    ("DELETE", f"/_sim/ics2/representations?representative={EORI}&declarant={OTHER}"),
])
def test_endpoints_need_the_token(client: FlaskClient, method: str, path: str) -> None:
    """simulator/control/views.py require_token guards every /_sim path, this blueprint's included."""
    response = client.open(path, method=method, json={"representative": EORI, "declarant": OTHER})
    assert response.status_code == 401
    assert client.get("/_sim/ics2/representations", headers=AUTH).get_json() == {"representations": []}


def test_profiles_survive_a_scene_reset_but_not_a_party_reset(client: FlaskClient) -> None:
    """store.py REGISTRY: registration data stays across a scene reset; reset with parties wipes it."""
    client.put(f"/_sim/ics2/parties/{SYS_A}/profile", json={"wants": ["IE3N04"]}, headers=AUTH)
    client.post("/_sim/ics2/representations", json={"representative": EORI, "declarant": OTHER}, headers=AUTH)
    assert client.post("/_sim/reset", json={}, headers=AUTH).status_code == 200
    assert len(client.get("/_sim/ics2/profiles", headers=AUTH).get_json()["profiles"]) == 1
    assert len(client.get("/_sim/ics2/representations", headers=AUTH).get_json()["representations"]) == 1
    assert client.post("/_sim/reset", json={"parties": True}, headers=AUTH).status_code == 200
    assert client.get("/_sim/ics2/profiles", headers=AUTH).get_json()["profiles"] == []
    assert client.get("/_sim/ics2/representations", headers=AUTH).get_json()["representations"] == []
