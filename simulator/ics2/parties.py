"""ICS2 party profiles (roles, reply channel, notification preferences) and representations.

What a trader records with the TI besides its certificates (ICD §5.1.1 and §5.3; domain/ics2.md "AS4
profile" MEPs):
- the c2t mode of operation: One-Way/Pull (no URL needed) or One-Way/Push to its own access point URL
  (ICD §4.1.3, §5.1.1 "the desired mode of communication (Pull or Push)");
- optional notification preferences: the message types it wants to receive when it is not the person
  filing (ICD §5.3; Annex 1: IE3R01/IE3N03/IE3N04 go to the carrier "when it has requested to be
  informed"). Routing by these preferences is simulator/ics2/routing.py (ICD §3.3.2.3).

A profile is keyed by an AS4 PartyId `[systemId@]EORI[@MS]` (ICD §4.2.2.1) or by a bare EORI; a
profile stored for a bare EORI applies to every PartyId with that EORI. A party without a profile is
treated as pulling and wanting no optional message.

Representations (representative EORI acts for declarant EORI) are registration data the lifecycle checks
when an amendment or invalidation comes from someone other than the declarant (domain/ics2.md, IE3N01
"amender is not declarant/representative").

Both tables are registry data (REGISTRY): a scene reset keeps them, a reset with parties wipes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Column, Index, String, Table, Text, and_, bindparam, select
from sqlalchemy.engine import Connection

from simulator.core.clock import iso
from simulator.core.fastsql import Prepared
from simulator.core.store import REGISTRY, Store, metadata
from simulator.ics2.catalogue import catalogue
from simulator.ics2.pmode import PARTY_ID, party_eori

ROLES = frozenset({"declarant", "representative", "carrier", "it-service-provider", "filer"})
CHANNELS = ("pull", "push")  # ICD §4.1.3: the trader's choice of MEP for the eu_ics2_c2t service
_MAX_URL = 2048

party_profiles = Table(
    "ics2_party_profiles",
    metadata,
    Column("party_id", String(128), primary_key=True),  # AS4 PartyId or a bare EORI
    Column("eori", String(17), nullable=False),  # 2-letter country + up to 15 alphanumerics
    Column("roles", Text, nullable=False),  # JSON list, sorted
    Column("channel", String(8), nullable=False),  # pull | push
    Column("ap_url", Text),  # the push endpoint (https), required for push
    Column("wants", Text, nullable=False),  # JSON list of c2t message ids, sorted
    Column("updated_at", String(32), nullable=False),  # simulated time
    info=REGISTRY,
)
Index("ix_ics2_party_profiles_eori", party_profiles.c.eori, party_profiles.c.party_id)  # ordered lookup

representations = Table(
    "ics2_representations",
    metadata,
    Column("representative", String(17), primary_key=True),
    Column("declarant", String(17), primary_key=True),
    info=REGISTRY,
)

_COLUMNS = (party_profiles.c.party_id, party_profiles.c.eori, party_profiles.c.roles,
            party_profiles.c.channel, party_profiles.c.ap_url, party_profiles.c.wants)
# Both run on the filing hot path (routing of every reply, amendment checks): compiled once.
_PROFILES_OF_EORI = Prepared(
    select(*_COLUMNS).where(party_profiles.c.eori == bindparam("eori")).order_by(party_profiles.c.party_id),
    ("eori",))
_REPRESENTS = Prepared(select(representations.c.representative).where(and_(
    representations.c.representative == bindparam("representative"),
    representations.c.declarant == bindparam("declarant"),
)), ("representative", "declarant"))


@dataclass(frozen=True)
class PartyProfile:
    """The profile that applies to one party. `stored_under` is the key of the recorded profile it comes
    from (the PartyId itself or its bare EORI); None means the default profile (nothing recorded)."""

    party_id: str
    eori: str
    roles: frozenset[str]
    channel: str
    ap_url: str | None
    wants: frozenset[str]
    stored_under: str | None = None

    @property
    def recorded(self) -> bool:
        """ICD §3.3.2.3 rule 3: a party that recorded no preference counts as not connected."""
        return self.stored_under is not None

    def as_json(self) -> dict[str, Any]:
        return {"party_id": self.party_id, "eori": self.eori, "roles": sorted(self.roles),
                "channel": self.channel, "ap_url": self.ap_url, "wants": sorted(self.wants),
                "recorded": self.recorded, "stored_under": self.stored_under}


def default_profile(party_id: str, eori: str) -> PartyProfile:
    """No recorded profile: pull (no URL needed, ICD §5.1.1), no optional notifications (ICD §5.3)."""
    return PartyProfile(party_id, eori, frozenset(), "pull", None, frozenset())


def require_eori(value: object, what: str = "EORI") -> str:
    """A bare EORI (domain/ics2.md "Data-quality rules": 2-letter country + up to 15 alphanumerics)."""
    if not isinstance(value, str) or party_eori(value) != value:
        raise ValueError(f"{what} must be an EORI (2 capital letters + 1..15 capital letters or digits), "
                         f"got {value!r}")
    return value


def require_party_id(value: object) -> str:
    """An AS4 trader PartyId [systemId@]EORI[@MS] (ICD §4.2.2.1) or a bare EORI."""
    if not isinstance(value, str) or not PARTY_ID.match(value):
        raise ValueError(f"party id must be [systemId@]EORI[@MS] (ICD §4.2.2.1) or a bare EORI, got {value!r}")
    return value


def check_ap_url(value: object) -> str:
    """The push endpoint of the trader's access point: an absolute https URL (ICD §4.6.1: two-way TLS)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"'ap_url' must be an https URL, got {value!r}")
    if len(value) > _MAX_URL or any(ch.isspace() for ch in value):
        raise ValueError(f"'ap_url' must be an https URL without spaces, at most {_MAX_URL} characters")
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError(f"'ap_url' must use https (ICD §4.6.1 two-way TLS), got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError(f"'ap_url' has no host: {value!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("'ap_url' must not carry credentials (the TLS client certificate authenticates)")
    if parts.fragment:
        raise ValueError("'ap_url' must not have a fragment")
    try:
        parts.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
    except ValueError as exc:
        raise ValueError(f"'ap_url' has a bad port: {exc}") from None
    return value


def _string_set(value: object, field: str) -> frozenset[str]:
    if not isinstance(value, list | tuple | set | frozenset) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{field}' must be a list of strings, got {value!r}")
    return frozenset(value)


def c2t_message_ids() -> frozenset[str]:
    """Messages customs send to traders (service eu_ics2_c2t), from the catalogue (ICD Annex 1)."""
    return frozenset(m for m, e in catalogue().items() if e.direction == "c2t")


def make_profile(party_id: object, *, roles: object = (), channel: object = "pull", ap_url: object = None,
                 wants: object = ()) -> PartyProfile:
    """Build a checked profile from loose input (JSON, CLI); ValueError names the first bad field."""
    pid = require_party_id(party_id)
    eori = party_eori(pid)
    assert eori is not None  # PARTY_ID matched
    role_set = _string_set(roles, "roles")
    unknown = sorted(role_set - ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {sorted(ROLES)}")
    if channel not in CHANNELS:
        raise ValueError(f"'channel' must be one of {list(CHANNELS)}, got {channel!r}")
    url = None if ap_url is None else check_ap_url(ap_url)
    if channel == "push" and url is None:
        raise ValueError("'ap_url' is required for channel 'push' (ICD §5.1.1: the access point URL)")
    want_set = _string_set(wants, "wants")
    not_c2t = sorted(want_set - c2t_message_ids())
    if not_c2t:
        raise ValueError(f"'wants' lists {not_c2t}, which are not customs-to-trader messages (ICD Annex 1)")
    return PartyProfile(pid, eori, role_set, str(channel), url, want_set)


def _check(profile: PartyProfile) -> PartyProfile:
    checked = make_profile(profile.party_id, roles=sorted(profile.roles), channel=profile.channel,
                           ap_url=profile.ap_url, wants=sorted(profile.wants))
    if profile.eori != checked.eori:
        raise ValueError(f"eori {profile.eori!r} is not the EORI of party id {profile.party_id!r}")
    return checked


def _row_profile(row: tuple[Any, ...], party_id: str) -> PartyProfile:
    stored, eori, roles, channel, ap_url, wants = row
    return PartyProfile(party_id, eori, frozenset(json.loads(roles)), channel, ap_url,
                        frozenset(json.loads(wants)), stored_under=stored)


class PartyProfiles:
    """The ICS2 party profiles and representations."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- hot path -----------------------------------------------------------------------------------
    def get(self, conn: Connection, party_id_or_eori: str) -> PartyProfile:
        """The profile that applies to a party, in one indexed query.

        Order: the profile recorded for exactly this PartyId; else the one recorded for its bare EORI
        (it applies to every PartyId of that EORI); else, when a bare EORI is asked for, the first
        recorded PartyId of that EORI (ICD §4.4.1: the preferences recorded at enrolment give the
        default eb:To/eb:PartyId); else the default profile.
        """
        pid = require_party_id(party_id_or_eori)
        eori = party_eori(pid)
        assert eori is not None
        _, rows = _PROFILES_OF_EORI.run(conn, {"eori": eori})
        by_key = {row[0]: row for row in rows}
        if pid in by_key:
            return _row_profile(by_key[pid], pid)
        if eori in by_key:
            return _row_profile(by_key[eori], pid)
        if pid == eori and rows:
            return _row_profile(rows[0], rows[0][0])
        return default_profile(pid, eori)

    def represents(self, conn: Connection, representative_eori: str, declarant_eori: str) -> bool:
        """Is the representative registered as acting for the declarant? PartyIds are reduced to their
        EORI; anything that is not an EORI is simply not a representative (no exception on the hot path)."""
        rep, decl = party_eori(representative_eori), party_eori(declarant_eori)
        if rep is None or decl is None:
            return False
        _, rows = _REPRESENTS.run(conn, {"representative": rep, "declarant": decl})
        return bool(rows)

    # -- registration -------------------------------------------------------------------------------
    def put(self, profile: PartyProfile, *, at: datetime) -> PartyProfile:
        """Record (or replace) a profile; checked first (ValueError says what is wrong)."""
        checked = _check(profile)
        values = {"eori": checked.eori, "roles": json.dumps(sorted(checked.roles)),
                  "channel": checked.channel, "ap_url": checked.ap_url,
                  "wants": json.dumps(sorted(checked.wants)), "updated_at": iso(at)}
        key = party_profiles.c.party_id == checked.party_id
        with self._store.write() as conn:
            if not conn.execute(party_profiles.update().where(key).values(**values)).rowcount:
                conn.execute(party_profiles.insert().values(party_id=checked.party_id, **values))
        return PartyProfile(checked.party_id, checked.eori, checked.roles, checked.channel, checked.ap_url,
                            checked.wants, stored_under=checked.party_id)

    def delete(self, party_id: str) -> bool:
        """Forget a recorded profile (the party falls back to the EORI's profile or the default)."""
        with self._store.write() as conn:
            gone = conn.execute(party_profiles.delete().where(party_profiles.c.party_id == party_id)).rowcount
        return bool(gone)

    def add_representation(self, representative_eori: str, declarant_eori: str) -> None:
        """Register that the representative acts for the declarant (idempotent). The two must differ
        (domain/ics2.md: representative identification must differ from declarant identification)."""
        rep = require_eori(representative_eori, "representative")
        decl = require_eori(declarant_eori, "declarant")
        if rep == decl:
            raise ValueError(f"representative and declarant must differ, both are {rep!r}")
        with self._store.write() as conn:
            _, rows = _REPRESENTS.run(conn, {"representative": rep, "declarant": decl})
            if not rows:
                conn.execute(representations.insert().values(representative=rep, declarant=decl))

    def remove_representation(self, representative_eori: str, declarant_eori: str) -> bool:
        """End a representation; False when there was none."""
        with self._store.write() as conn:
            gone = conn.execute(representations.delete().where(and_(
                representations.c.representative == representative_eori,
                representations.c.declarant == declarant_eori,
            ))).rowcount
        return bool(gone)

    # -- listings -----------------------------------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        """Every recorded profile, by party id."""
        with self._store.read() as conn:
            rows = conn.execute(select(party_profiles).order_by(party_profiles.c.party_id)).mappings().all()
        return [{"party_id": r["party_id"], "eori": r["eori"], "roles": json.loads(r["roles"]),
                 "channel": r["channel"], "ap_url": r["ap_url"], "wants": json.loads(r["wants"]),
                 "updated_at": r["updated_at"]} for r in rows]

    def representations(self, *, representative: str | None = None,
                        declarant: str | None = None) -> list[dict[str, str]]:
        """Recorded representations, optionally filtered by either side."""
        query = select(representations.c.representative, representations.c.declarant)
        if representative is not None:
            query = query.where(representations.c.representative == representative)
        if declarant is not None:
            query = query.where(representations.c.declarant == declarant)
        order = (representations.c.representative, representations.c.declarant)
        with self._store.read() as conn:
            rows: Iterable[Any] = conn.execute(query.order_by(*order)).all()
            return [{"representative": r[0], "declarant": r[1]} for r in rows]
