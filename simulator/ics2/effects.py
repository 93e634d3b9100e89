"""What a step of the ENS lifecycle sends, to whom, and what it sets in motion.

The lifecycle (data/lifecycle.json) says which states an ENS moves through; ``data/notifications.json``
says which customs-to-trader messages each step sends and to which party (domain/ics2.md "Messages");
the routing (simulator/ics2/routing.py, ICD §3.3.2.3) says over which channel, or that a copy is not
wanted. This module joins them, in the caller's transaction:

- ``notices(conn, transitions, now)``: for every step taken (trader-driven, control-driven or fired by a
  timer, cascades included) the messages declared for its event, built by simulator/ics2/notices.py;
- ``enqueue(conn, outgoing, now)``: route each message and put it in the outbox (or journal why not);
- referrals (RFI, HRCM, DNL) are recorded so that an answer can be matched and an unanswered one shows;
- a step back into ``registered`` (registration, completed partials, an answered referral, an amendment)
  asks the risk engine for the outcomes to schedule (simulator/ics2/risk.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

from lxml import etree
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from simulator.core import journal
from simulator.core import outbox as outbox_api
from simulator.core.clock import iso
from simulator.core.fastsql import Prepared
from simulator.core.faults import FaultBook
from simulator.core.journal import JournalEntry
from simulator.core.lifecycle import Lifecycle, Transition
from simulator.ics2.catalogue import entry as catalogue_entry
from simulator.ics2.linking import Completeness, Part, completeness
from simulator.ics2.models import ens, referrals
from simulator.ics2.notices import NoticeFacts, build_notice
from simulator.ics2.parties import PartyProfiles
from simulator.ics2.replies import ReplyParties
from simulator.ics2.routing import Destination, route

PROFILE = "ics2"
RegisteredHook = Callable[[Connection, Transition, datetime, "etree._Element | None", "str | None"], None]
REFERRAL_KINDS = {"request_information": "rfi", "request_screening": "hrcm", "do_not_load": "dnl"}


@dataclass(frozen=True)
class Outgoing:
    """One customs-to-trader message decided on, before routing."""

    action: str
    payload: bytes
    recipient: str  # party id or EORI
    filer: str  # party id that filed the ENS (routing rule (b))
    correlation: str | None  # LRN or MRN
    mrn: str | None
    agreement: str
    basis: str  # what makes its MessageId unique and deterministic
    initial_reply: bool = False
    copy: bool = False
    ref_to_message_id: str | None = None


@dataclass(frozen=True)
class EnsView:
    """The facts of one ENS that notifications need (from its stored filing parts)."""

    entity: str
    filer: str
    agreement: str
    echo: ReplyParties
    carrier: str | None
    parts: tuple[Part, ...]

    @cached_property
    def completeness(self) -> Completeness:
        """What the ENS still awaits (IE3N02 / IE3N11 need it), judged once per view."""
        return completeness(self.parts)


_PARTS = Prepared(
    select(ens.c.mrn, ens.c.message_type, ens.c.role, ens.c.sender, ens.c.houses, ens.c.agreement, ens.c.echo,
           ens.c.carrier, ens.c.lrn)
    .where((ens.c.entity == bindparam("entity")) & (ens.c.state == bindparam("registered"))).order_by(ens.c.id),
    ("entity", "registered"))
_INSERT_REFERRAL = Prepared(referrals.insert(), ("entity", "referral", "kind", "response_method", "requested_at",
                                                  "answered_at", "answered_by"))


def load_ens(conn: Connection, entity: str) -> EnsView | None:
    _, rows = _PARTS.run(conn, {"entity": entity, "registered": "registered"})
    if not rows:
        return None
    first = rows[0]
    parts = tuple(Part.from_row(r[0], r[1], r[2] or "complete", r[3], r[4]) for r in rows)
    carrier = next((r[7] for r in rows if r[7]), None)
    return EnsView(entity, first[3], first[5], echo_from_json(first[6]), carrier, parts)


def echo_to_json(parties: ReplyParties | None) -> str | None:
    if parties is None:
        return None
    values = {k: getattr(parties, k) for k in ReplyParties.__dataclass_fields__}
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def echo_from_json(text: str | None) -> ReplyParties:
    if not text:
        return ReplyParties()
    values: dict[str, Any] = json.loads(text)
    document = values.get("transport_document")
    values["transport_document"] = tuple(document) if document else None
    return ReplyParties(**values)


@lru_cache(maxsize=1)
def notification_table() -> Mapping[str, tuple[Mapping[str, Any], ...]]:
    raw = json.loads(resources.files("simulator.ics2").joinpath("data/notifications.json").read_text("utf-8"))
    return {event: tuple(items) for event, items in raw["events"].items()}


def _applies(item: Mapping[str, Any], transition: Transition) -> bool:
    for key, expected in (item.get("when") or {}).items():
        if key == "changed":
            if transition.changed != bool(expected):
                return False
        elif key.startswith("context.") and transition.context.get(key[len("context."):]) != expected:
            return False
    return True


def flatten(transitions: Iterable[Transition]) -> list[Transition]:
    """The steps in the order they happened: timers a step caught up on come before the step."""
    out: list[Transition] = []
    for transition in transitions:
        for firing in transition.timers_fired:
            if firing.transition is not None:
                out.extend(flatten([firing.transition]))
        out.append(transition)
    return out


class Effects:
    def __init__(self, lifecycle: Lifecycle, profiles: PartyProfiles, message_id: Callable[[str, str], str],
                 *, on_registered: RegisteredHook | None = None, faults: FaultBook | None = None) -> None:
        self._lifecycle = lifecycle
        self._profiles = profiles
        self._message_id = message_id
        self._on_registered = on_registered
        self._faults = faults

    # -- what the steps send -------------------------------------------------------------------------
    def notices(self, conn: Connection, transitions: Iterable[Transition], now: datetime, *,
                root: etree._Element | None = None, message_type: str | None = None) -> list[Outgoing]:
        """The messages the steps send; `root`/`message_type`: the dataset that moved the ENS (a filing or an
        amendment), assessed again by the risk engine when a step brings the ENS back to registered."""
        out: list[Outgoing] = []
        for step in flatten(transitions):
            view = load_ens(conn, step.entity_id)
            if view is None:
                continue
            if step.event in REFERRAL_KINDS:
                self._record_referral(conn, step)
            for index, item in enumerate(notification_table().get(step.event, ())):
                if _applies(item, step):
                    out.extend(self._build(conn, view, step, index, item))
            if step.to_state == "registered" and step.from_state != "registered" and self._on_registered:
                self._on_registered(conn, step, now, root, message_type)
        return out

    def _build(self, conn: Connection, view: EnsView, step: Transition, index: int,
               item: Mapping[str, Any]) -> list[Outgoing]:
        action = str(item["message"])
        details = dict(step.context.get("details") or {})
        recipients: list[str]
        if item["to"] == "filer":
            recipients = [view.filer]
        elif item["to"] == "carrier":
            recipients = [view.carrier] if view.carrier and view.carrier not in _ids(view.filer) else []
        else:  # missing_filers
            recipients = list(view.completeness.parties_not_filed)
        if item.get("requested") and action not in self._profiles.get(conn, view.filer).wants:
            return []
        if item.get("copy"):
            # Copies are opt-in (ICD §3.3.2.3): ask the routing first, so that no copy is built for nobody.
            recipients = [r for r in recipients if isinstance(
                route(conn, self._profiles, action=action, recipient=r, filer=view.filer, initial_reply=False,
                      copy=True), Destination)]
        if not recipients:
            return []
        if action == "IE3N02":
            details.setdefault("parties_not_filed", list(view.completeness.parties_not_filed))
        if action == "IE3N11":
            missing = view.completeness.missing_houses
            details.setdefault("consignments", [{"number": n, "type": "N741"} for n in missing])
        if action == "IE3R01":  # the carrier's copy echoes the registration of the filing just made
            details.setdefault("lrn", step.context.get("lrn"))
        facts = NoticeFacts(mrn=step.entity_id, at=step.at, parties=view.echo, lrn=step.context.get("lrn"))
        payload = build_notice(action, facts, details)
        return [Outgoing(action, payload, recipient, view.filer, step.entity_id, step.entity_id, view.agreement,
                         basis=f"{step.entity_id}|{step.seq}|{index}|{recipient}", copy=bool(item.get("copy")))
                for recipient in recipients]

    def _record_referral(self, conn: Connection, step: Transition) -> None:
        details = step.context.get("details") or {}
        referral = details.get("referral")
        if not referral:
            return
        _INSERT_REFERRAL.run(conn, {
            "entity": step.entity_id, "referral": str(referral), "kind": REFERRAL_KINDS[step.event],
            "response_method": str(details.get("response_method", "1")) if step.event == "request_information"
            else None, "requested_at": iso(step.at), "answered_at": None, "answered_by": None})

    # -- where they go -------------------------------------------------------------------------------
    def enqueue(self, conn: Connection, outgoing: Sequence[Outgoing], now: datetime, *,
                faults: bool | None = None) -> list[Destination]:
        """Route and queue each message (unroutable ones are journaled, copies nobody wants are not). `faults`: whether
        the scene injected any (None: look); a delayed or duplicated delivery is decided here."""
        sent: list[Destination] = []
        if faults is None:
            faults = bool(outgoing) and self._faults is not None and self._faults.has_any(conn, PROFILE)
        for message in outgoing:
            where = route(conn, self._profiles, action=message.action, recipient=message.recipient,
                          filer=message.filer, initial_reply=message.initial_reply, copy=message.copy)
            if not isinstance(where, Destination):
                # A copy nobody asked for is the normal case (copies are opt-in, ICD §3.3.2.3): nothing to
                # record. Anything else that cannot be routed is journaled with the reason, as a routing entry.
                if not message.copy:
                    journal.record(conn, JournalEntry(
                        PROFILE, "out", "as4", "routing", "not-sent", iso(now), action=message.action,
                        receiver=where.party_id, correlation=message.correlation,
                        detail=f"{message.action} not sent: {where.reason}"))
                continue
            meta: dict[str, Any] = {"agreement": message.agreement, "timestamp": iso(now),
                                    "lrn": message.correlation}
            if where.ap_url:
                meta["ap_url"] = where.ap_url
            message_id = self._message_id(message.action, message.basis)
            available_at = None
            if faults and self._faults is not None:
                delay = self._faults.take(conn, PROFILE, "delay_reply", now=now, party=where.party_id,
                                          action=message.action, key=message_id)
                if delay is not None and delay.seconds:
                    available_at = now + timedelta(seconds=delay.seconds)
                if self._faults.take(conn, PROFILE, "duplicate_delivery", now=now, party=where.party_id,
                                     action=message.action, key=message_id):
                    meta[outbox_api.DUPLICATE_KEY] = 1
            outbox_api.enqueue(
                conn, profile=PROFILE, queue=where.queue, party=where.party_id,
                message_id=message_id, action=message.action,
                payload=message.payload, priority=priority(message.action), created_at=now,
                ref_to_message_id=message.ref_to_message_id, correlation=message.mrn or message.correlation,
                meta=meta, available_at=available_at)
            sent.append(where)
        return sent


def answer_referral(conn: Connection, entity: str, referral: str | None, kind: str, *, by: str,
                    at: datetime) -> tuple[str, str | None] | None:
    """Mark the open referral of `entity` answered; returns (referral, response_method) or None if there is
    no open referral of that kind (and reference, when given)."""
    query = select(referrals.c.id, referrals.c.referral, referrals.c.response_method).where(
        (referrals.c.entity == entity) & (referrals.c.kind == kind) & referrals.c.answered_at.is_(None))
    if referral:
        query = query.where(referrals.c.referral == referral)
    row = conn.execute(query.order_by(referrals.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    conn.execute(update(referrals).where(referrals.c.id == row[0]).values(answered_at=iso(at), answered_by=by))
    return str(row[1]), row[2]


def open_referral(conn: Connection, entity: str, kind: str) -> tuple[str, str | None] | None:
    row = conn.execute(select(referrals.c.referral, referrals.c.response_method).where(
        (referrals.c.entity == entity) & (referrals.c.kind == kind) & referrals.c.answered_at.is_(None))
        .order_by(referrals.c.id.desc()).limit(1)).first()
    return (str(row[0]), row[1]) if row else None


def priority(action: str) -> str:
    """Priority class under backlog (domain/ics2.md "Messages": A/B/C), from the catalogue."""
    found = catalogue_entry(action)
    return found.priority if found is not None else "B"


def _ids(party_id: str) -> set[str]:
    return set(party_id.split("@"))
