"""Routing of customs-to-trader messages: ICD v3.30 §3.3.2.3 "Response and notification routing".

Rule 1 (a): the initial reply goes back to the access point of the sender, on its channel; rule 2 (b): a
message about an MRN goes to the access point of the person filing that obtained it; rule 3 (c): any
other addressee only by its recorded preference — without one it is not connected and nothing is sent
(and, for messages sent "when it has requested to be informed" (Annex 1), only if it opted in, §5.3).
The channel is the trader's c2t MEP (ICD §4.1.3): push to its access point URL if its profile says so,
else its pull MPC (ICD §4.3.3). simulator/ics2/routing.py, data/routing.json.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from simulator.core.store import Store
from simulator.ics2.parties import PartyProfiles, make_profile
from simulator.ics2.pmode import c2t_mpc
from simulator.ics2.routing import Destination, Skipped, route, routing_table

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FILER_EORI = "BE0123456789"
FILER = f"sysA@{FILER_EORI}"
CARRIER_EORI = "NL123456789"
CARRIER = f"carrier@{CARRIER_EORI}@NL"
FILER_URL = "https://filer.example.test/as4"
CARRIER_URL = "https://carrier.example.test:8443/as4"

RULE_A = ("IE3R01", "IE3N99", "IE3N01", "IE3N10", "IE3R07", "IE3R04", "IE3N07", "IE3R08")
RULE_B = ("IE3Q01", "IE3Q02", "IE3Q03", "IE3N03", "IE3N08", "IE3N09", "IE3N02")
RULE_C = ("IE3N04", "IE3N05", "IE3N11")



@pytest.fixture
def profiles(store: Store) -> PartyProfiles:
    return PartyProfiles(store)


def _route(store: Store, profiles: PartyProfiles, action: str, recipient: str, *, filer: str = FILER,
           initial_reply: bool = False, copy: bool = False) -> Destination | Skipped:
    with store.read() as conn:
        return route(conn, profiles, action=action, recipient=recipient, filer=filer,
                     initial_reply=initial_reply, copy=copy)


def _pull(party: str, rule: str) -> Destination:
    return Destination(party, "pull", c2t_mpc(party), None, rule)


def _push(party: str, url: str, rule: str) -> Destination:
    return Destination(party, "push", "push:" + party, url, rule)


def _push_filer(profiles: PartyProfiles) -> None:
    profiles.put(make_profile(FILER, roles=["filer"], channel="push", ap_url=FILER_URL), at=T0)


# -- the table ----------------------------------------------------------------------------------------
def test_the_table_classifies_every_message_as_the_icd_does() -> None:
    """data/routing.json: rule 1 replies, rule 2 MRN-subject messages, rule 3 third-party notifications;
    each entry cites the ICD."""
    table = routing_table()
    assert {a for a, e in table.items() if e.rule == "a"} == set(RULE_A)
    assert {a for a, e in table.items() if e.rule == "b"} == set(RULE_B)
    assert {a for a, e in table.items() if e.rule == "c"} == set(RULE_C)
    assert all("§" in e.icd or "Annex" in e.icd for e in table.values())


def test_unknown_action_is_a_value_error(store: Store, profiles: PartyProfiles) -> None:
    with pytest.raises(ValueError, match="no routing rule for 'IE3F32'"):
        _route(store, profiles, "IE3F32", FILER)


# -- rule (a): the initial reply --------------------------------------------------------------------------
@pytest.mark.parametrize("action", RULE_A)
def test_initial_reply_goes_to_the_senders_pull_mpc_by_default(store: Store, profiles: PartyProfiles,
                                                               action: str) -> None:
    """§3.3.2.3 rule 1 with no recorded profile: the sender's own MPC (ICD §4.3.3), whatever the filer."""
    sender = f"sysZ@{CARRIER_EORI}"
    assert _route(store, profiles, action, sender, initial_reply=True) == _pull(sender, "a")


@pytest.mark.parametrize("action", RULE_A)
def test_initial_reply_is_pushed_to_a_pushing_sender(store: Store, profiles: PartyProfiles, action: str) -> None:
    """§3.3.2.3 rule 1 + §4.1.3: a sender that declared push gets it at its access point URL."""
    _push_filer(profiles)
    assert _route(store, profiles, action, FILER, initial_reply=True) == _push(FILER, FILER_URL, "a")


def test_rule_a_actions_follow_rule_a_without_the_flag(store: Store, profiles: PartyProfiles) -> None:
    """data/routing.json: IE3R07 is a reply, so it goes back to the sender even if not flagged."""
    assert _route(store, profiles, "IE3R07", FILER) == _pull(FILER, "a")


def test_initial_reply_flag_wins_over_the_table(store: Store, profiles: PartyProfiles) -> None:
    """route: initial_reply=True is rule (a) for any action (the sender's channel)."""
    other = f"x@{CARRIER_EORI}"
    assert _route(store, profiles, "IE3N02", other, initial_reply=True) == _pull(other, "a")


def test_an_eori_profile_sets_the_channel_of_each_of_its_party_ids(store: Store, profiles: PartyProfiles) -> None:
    """parties.py: a profile stored for the bare EORI applies to every PartyId; the reply is addressed to
    the PartyId that sent the request (its own MPC or the EORI's push URL)."""
    profiles.put(make_profile(FILER_EORI, channel="push", ap_url=FILER_URL), at=T0)
    assert _route(store, profiles, "IE3R01", FILER, initial_reply=True) == _push(FILER, FILER_URL, "a")


def test_a_bare_eori_nobody_recorded_is_addressed_as_itself(store: Store, profiles: PartyProfiles) -> None:
    assert _route(store, profiles, "IE3N99", FILER_EORI, initial_reply=True) == _pull(FILER_EORI, "a")


# -- rule (b): a message about an MRN, to the person filing -------------------------------------------------
@pytest.mark.parametrize("action", RULE_B)
def test_mrn_messages_go_to_the_filer_by_pull(store: Store, profiles: PartyProfiles, action: str) -> None:
    """§3.3.2.3 rule 2: the access point the person filing used; no profile -> its pull MPC."""
    assert _route(store, profiles, action, FILER) == _pull(FILER, "b")


@pytest.mark.parametrize("action", RULE_B)
def test_mrn_messages_go_to_the_filer_by_push(store: Store, profiles: PartyProfiles, action: str) -> None:
    _push_filer(profiles)
    assert _route(store, profiles, action, FILER) == _push(FILER, FILER_URL, "b")


def test_the_filer_named_by_its_eori_gets_it_at_its_filing_access_point(store: Store,
                                                                        profiles: PartyProfiles) -> None:
    """§3.3.2.3 rule 2 / §4.4.1: the person is its EORI; the destination is the PartyId that filed."""
    assert _route(store, profiles, "IE3Q02", FILER_EORI) == _pull(FILER, "b")
    assert _route(store, profiles, "IE3Q02", f"other@{FILER_EORI}") == _pull(FILER, "b")


# -- rule (c): other parties, by their recorded preference ---------------------------------------------------
@pytest.mark.parametrize("action", ["IE3N04", "IE3N05"])
def test_carrier_notifications_need_a_recorded_profile_and_an_opt_in(store: Store, profiles: PartyProfiles,
                                                                     action: str) -> None:
    """§3.3.2.3 rule 3: no recorded preference -> not connected, not sent; Annex 1 / §5.3: sent only
    to a carrier that asked for it; then by its preferred channel."""
    not_connected = _route(store, profiles, action, CARRIER)
    assert isinstance(not_connected, Skipped) and "not connected" in not_connected.reason
    profiles.put(make_profile(CARRIER, roles=["carrier"], wants=["IE3N03"]), at=T0)
    not_asked = _route(store, profiles, action, CARRIER)
    assert isinstance(not_asked, Skipped) and "did not ask" in not_asked.reason
    assert not_asked.party_id == CARRIER
    profiles.put(make_profile(CARRIER, roles=["carrier"], wants=[action]), at=T0)
    assert _route(store, profiles, action, CARRIER) == _pull(CARRIER, "c")
    profiles.put(make_profile(CARRIER, channel="push", ap_url=CARRIER_URL, wants=[action]), at=T0)
    assert _route(store, profiles, action, CARRIER) == _push(CARRIER, CARRIER_URL, "c")


def test_a_carrier_named_by_eori_is_reached_at_its_recorded_party_id(store: Store,
                                                                     profiles: PartyProfiles) -> None:
    """§4.4.1: the preferences recorded at enrolment give the default eb:To/eb:PartyId."""
    profiles.put(make_profile(CARRIER, channel="push", ap_url=CARRIER_URL, wants=["IE3N04"]), at=T0)
    assert _route(store, profiles, "IE3N04", CARRIER_EORI) == _push(CARRIER, CARRIER_URL, "c")


def test_the_do_not_load_copy_reaches_any_connected_carrier(store: Store, profiles: PartyProfiles) -> None:
    """§3.1.8 / Annex 1 IE3Q01: it "must be also communicated to the Carrier" — no opt-in needed, but
    the carrier must be connected (§3.3.2.3 rule 3)."""
    skipped = _route(store, profiles, "IE3Q01", CARRIER_EORI, copy=True)
    assert isinstance(skipped, Skipped) and "not connected" in skipped.reason
    profiles.put(make_profile(CARRIER_EORI, roles=["carrier"]), at=T0)
    assert _route(store, profiles, "IE3Q01", CARRIER_EORI, copy=True) == _pull(CARRIER_EORI, "c")
    # Addressed to the carrier without the copy flag it is the same decision (rule 2 needs the filer).
    assert _route(store, profiles, "IE3Q01", CARRIER_EORI) == _pull(CARRIER_EORI, "c")


@pytest.mark.parametrize("action", ["IE3R01", "IE3N03", "IE3N09", "IE3N02"])
def test_other_copies_need_the_carriers_opt_in(store: Store, profiles: PartyProfiles, action: str) -> None:
    """Annex 1 / Annex 3 (3): the IE3R01 (and IE3N03 ...) copy goes to the carrier only when it "has
    requested to be informed"."""
    profiles.put(make_profile(CARRIER, roles=["carrier"]), at=T0)
    skipped = _route(store, profiles, action, CARRIER, copy=True)
    assert isinstance(skipped, Skipped) and action in skipped.reason
    profiles.put(make_profile(CARRIER, channel="push", ap_url=CARRIER_URL, wants=[action]), at=T0)
    assert _route(store, profiles, action, CARRIER, copy=True) == _push(CARRIER, CARRIER_URL, "c")


def test_copy_flag_is_rule_c_even_for_a_reply(store: Store, profiles: PartyProfiles) -> None:
    """route: copy=True wins over initial_reply (the IE3R01 copy to the carrier is not the reply)."""
    profiles.put(make_profile(CARRIER, wants=["IE3R01"]), at=T0)
    assert _route(store, profiles, "IE3R01", CARRIER, initial_reply=True, copy=True) == _pull(CARRIER, "c")


def test_no_copy_to_the_person_filing(store: Store, profiles: PartyProfiles) -> None:
    """Annex 1: copies go to a carrier *different from* the person filing (it gets the original)."""
    profiles.put(make_profile(FILER_EORI, wants=["IE3R01", "IE3N04"]), at=T0)
    for action in ("IE3R01", "IE3Q01"):
        skipped = _route(store, profiles, action, FILER_EORI, copy=True)
        assert isinstance(skipped, Skipped) and "person filing" in skipped.reason
    assert isinstance(_route(store, profiles, "IE3N04", FILER), Skipped)


def test_ens_pending_reaches_a_connected_person_not_yet_filed(store: Store, profiles: PartyProfiles) -> None:
    """§3.1.1 / §3.1.8 IE3N11: to the person named as obliged to file, when connected (no opt-in)."""
    assert isinstance(_route(store, profiles, "IE3N11", CARRIER), Skipped)
    profiles.put(make_profile(CARRIER, channel="push", ap_url=CARRIER_URL), at=T0)
    assert _route(store, profiles, "IE3N11", CARRIER) == _push(CARRIER, CARRIER_URL, "c")


def test_a_recipient_that_is_no_party_id_is_skipped(store: Store, profiles: PartyProfiles) -> None:
    """A party reference that is neither a PartyId nor an EORI cannot be addressed: skipped, with why."""
    skipped = _route(store, profiles, "IE3N04", "carrier without eori")
    assert isinstance(skipped, Skipped) and "not an AS4 PartyId or EORI" in skipped.reason


def test_one_query_per_decision(store: Store, profiles: PartyProfiles) -> None:
    """Hot path: a routing decision reads one profile (one statement)."""
    profiles.put(make_profile(CARRIER, wants=["IE3N04"]), at=T0)
    statements: list[str] = []
    with store.read() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_trace_callback(statements.append)
        try:
            for action, recipient, reply in (("IE3R01", FILER, True), ("IE3Q02", FILER, False),
                                             ("IE3N04", CARRIER, False)):
                route(conn, profiles, action=action, recipient=recipient, filer=FILER, initial_reply=reply)
        finally:
            raw.set_trace_callback(None)
    assert len(statements) == 3, statements
