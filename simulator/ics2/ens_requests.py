"""Trader messages about a registered ENS: amendment, invalidation, arrival, consultation, referral answers.

domain/ics2.md "Messages" (correlation by MRN unless said otherwise; business errors are IE3N99/IE3N01):
- IE3Axx amendment (full new dataset, refers to the MRN) -> IE3N10, or IE3N01 (after presentation, after
  controls were notified, amender not the declarant or its representative);
- IE3Q04 invalidation request -> IE3R07, or IE3N01 (after presentation);
- IE3N06 arrival notification (carrier; its own LRN; 0..9999 ENS by MRN or transport document) -> IE3R04
  for the ENS registered as arrived and IE3N07 for those in an incorrect state;
- IE3Q05 consultation (MRN, master or house transport document) -> IE3R08: only the sender's own filings,
  only notifications of the last 30 days; a house query returns house-level data only, a master query
  master-level data only;
- IE3R02 / IE3R03 answer an information request (IE3Q02) / HRCM screening request (IE3Q03); an RFI says
  whether it is answered by IE3R02 or by amendment. No functional reply on success (the ENS moves on and
  is assessed again); out of sequence -> IE3N01 code 92.
Every refusal comes from the lifecycle definition (data/lifecycle.json) or names its rule here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import Connection

from simulator.core.clock import iso, parse_instant
from simulator.core.lifecycle import TransitionRefused
from simulator.core.store import outbox
from simulator.ics2.effects import Outgoing, answer_referral, echo_from_json, open_referral
from simulator.ics2.filings import Assessment, FilingDesk, _Reply
from simulator.ics2.models import ens
from simulator.ics2.notices import NoticeFacts, build_notice
from simulator.ics2.pmode import party_eori
from simulator.ics2.replies import build_ie3n01, build_ie3n10, build_ie3n99, build_ie3r07, find_text
from simulator.ics2.validation import FunctionalError

CONSULTATION_WINDOW = timedelta(days=30)  # domain/ics2.md: notifications of the last 30 days
MASTER_ROLES = ("complete", "master", "straight", "consignee-straight")
HOUSE_ROLES = ("complete", "house", "consignee-house")
_ANSWERS = {"rfi-answer": ("answer_information", "rfi"), "hrcm-answer": ("answer_screening", "hrcm")}


class EnsRequests:
    """Messages that refer to an ENS already registered (the filing desk's second counter)."""

    def __init__(self, desk: FilingDesk) -> None:
        self._desk = desk

    def commit(self, conn: Connection, assessment: Assessment, *, sender: str, message_id: str, agreement: str,
               now: datetime) -> list[Outgoing]:
        reply_to = _Reply(sender, agreement, message_id)
        kind, message = assessment.kind, assessment.message_type
        correlation = assessment.lrn if kind == "arrival-notification" else assessment.mrn
        if not assessment.accepted:
            payload = build_ie3n99(lrn=assessment.lrn if kind == "arrival-notification" else None,
                                   mrn=assessment.mrn, errors=assessment.errors, rejected_at=now)
            return [reply_to.reply("IE3N99", payload, correlation, None)]
        root = assessment.root
        assert root is not None
        if kind == "arrival-notification":
            return self._arrival(conn, root, reply_to, assessment, now)
        if kind == "consultation":
            return self._consultation(conn, root, reply_to, sender, now)
        mrn = assessment.mrn
        assert mrn is not None  # the schemas of the remaining kinds require it
        row = conn.execute(select(ens.c.message_type, ens.c.entity, ens.c.declarant, ens.c.representative,
                                  ens.c.echo).where(ens.c.mrn == mrn)).first()
        problem = None
        if row is None or row[1] is None:
            problem = "no ENS is registered under this MRN"
        elif kind == "amendment" and row[0][4:] != message[4:]:
            problem = f"{message} cannot amend an ENS filed as {row[0]}"
        if problem is not None or row is None:
            error = FunctionalError("12", f"/{message}/MRN", problem or "", mrn)
            return [reply_to.reply("IE3N99", build_ie3n99(mrn=mrn, errors=[error], rejected_at=now), mrn, None)]
        entity, echo = str(row[1]), echo_from_json(row[4])
        allowed = [value for value in (row[2], row[3]) if value]
        try:
            if kind in _ANSWERS:
                return self._answer(conn, root, kind, entity, mrn, reply_to, now)
            event, action = ("amend", "IE3N10") if kind == "amendment" else ("invalidate", "IE3R07")
            step = self._desk.lifecycle.fire(conn, entity, event, now, party=sender, allowed=allowed, mrn=mrn)
        except TransitionRefused as exc:
            error = FunctionalError(exc.code, f"/{message}/MRN", f"{exc.detail} ({exc.rule})", mrn)
            return [reply_to.reply("IE3N01", build_ie3n01(errors=[error], at=now, mrn=mrn, parties=echo), mrn, mrn)]
        if kind == "amendment":
            # An RFI that asked for an amendment is answered by it (domain/ics2.md IE3Q02).
            answer_referral(conn, entity, None, "rfi", by=message, at=now)
            payload = build_ie3n10(mrn=mrn, amended_at=now, parties=assessment.parties or echo)
        else:
            payload = build_ie3r07(mrn=mrn, invalidated_at=now, parties=echo)
        return [reply_to.reply(action, payload, mrn, mrn),
                *self._desk.effects.notices(conn, [step], now, root=root, message_type=message)]

    # -- referral answers ----------------------------------------------------------------------------
    def _answer(self, conn: Connection, root: etree._Element, kind: str, entity: str, mrn: str, reply_to: _Reply,
                now: datetime) -> list[Outgoing]:
        event, referral_kind = _ANSWERS[kind]
        message = "IE3R02" if kind == "rfi-answer" else "IE3R03"
        reference = find_text(root, "referralRequestReference")
        expected = open_referral(conn, entity, referral_kind)
        problem = None
        if expected is not None and reference != expected[0]:
            problem = f"referralRequestReference {reference} does not name the open request {expected[0]}"
        elif expected is not None and kind == "rfi-answer" and expected[1] == "2":
            problem = (f"the information request {expected[0]} asks to be answered by an amendment of the "
                       "ENS, not by IE3R02")
        if problem is not None:
            error = FunctionalError("92", f"/{message}/referralRequestReference", problem, reference)
            return [reply_to.reply("IE3N01", build_ie3n01(errors=[error], at=now, mrn=mrn), mrn, mrn)]
        step = self._desk.lifecycle.fire(conn, entity, event, now, referral=reference, mrn=mrn)
        answer_referral(conn, entity, reference, referral_kind, by=message, at=now)
        return self._desk.effects.notices(conn, [step], now)

    # -- arrival -------------------------------------------------------------------------------------
    def _arrival(self, conn: Connection, root: etree._Element, reply_to: _Reply, assessment: Assessment,
                 now: datetime) -> list[Outgoing]:
        lrn = assessment.lrn
        arrived: list[str] = []
        refused: list[dict[str, Any]] = []
        steps = []
        for entry in root.iterfind("entrySummaryDeclaration"):
            mrn, document = find_text(entry, "MRN"), find_text(entry, "transportDocument/documentNumber")
            reference: dict[str, Any] = ({"mrn": mrn} if mrn else
                                         {"document": (document, find_text(entry, "transportDocument/type") or "N741")})
            entity, all_goods = self._resolve(conn, mrn, document)
            if entity is None:
                refused.append({**reference, "reason": "no ENS is registered under this reference"})
                continue
            try:
                steps.append(self._desk.lifecycle.fire(conn, entity, "arrive", now, all_goods=all_goods, lrn=lrn))
                arrived.append(entity)
            except TransitionRefused as exc:
                refused.append({**reference, "reason": f"{exc.detail} ({exc.rule})"})
        out: list[Outgoing] = []
        if not arrived and not refused:
            # IE3R04 registers the arrival of named ENS (MRN mandatory): an arrival naming none has nothing
            # to register (our reading, unverified).
            error = FunctionalError("13", "/IE3N06/entrySummaryDeclaration",
                                    "the arrival notification names no ENS (MRN or transport document)", None)
            return [reply_to.reply("IE3N99", build_ie3n99(lrn=lrn, errors=[error], rejected_at=now), lrn, None)]
        for mrn in arrived:  # one IE3R04 per ENS registered as arrived (its MRN is a single element)
            payload = build_notice("IE3R04", NoticeFacts(mrn=mrn, at=now, parties=None, lrn=lrn), {})
            out.append(replace(reply_to.reply("IE3R04", payload, lrn, mrn), basis=f"{reply_to.sender}|"
                                                                                f"{reply_to.message_id}|{mrn}"))
        if refused:
            payload = build_notice("IE3N07", NoticeFacts(mrn=None, at=now, parties=None, lrn=lrn),
                                   {"entries": refused})
            out.append(reply_to.reply("IE3N07", payload, lrn, None))
        return out + self._desk.effects.notices(conn, steps, now)

    def _resolve(self, conn: Connection, mrn: str | None, document: str | None) -> tuple[str | None, bool]:
        """The ENS an arrival entry names, and whether it covers all its goods (an entry naming one house of an
        ENS with several houses is a partial arrival: our reading, unverified)."""
        if mrn:
            row = conn.execute(select(ens.c.entity).where(ens.c.mrn == mrn)).first()
            return (str(row[0]) if row and row[0] else None), True
        if not document:
            return None, True
        row = conn.execute(select(ens.c.entity).where((ens.c.master_document == document)
                                                      & (ens.c.state == "registered"))
                           .order_by(ens.c.id.desc()).limit(1)).first()
        if row is not None and row[0]:
            return str(row[0]), True
        rows = conn.execute(select(ens.c.entity, ens.c.houses).where(
            ens.c.houses.like(f'%"{_like(document)}"%', escape="\\") & (ens.c.state == "registered"))
            .order_by(ens.c.id.desc())).all()
        if not rows or not rows[0][0]:
            return None, True
        entity = str(rows[0][0])
        houses = {h for r in rows if r[0] == entity for h in _houses(r[1])}
        return entity, houses <= {document}

    # -- consultation --------------------------------------------------------------------------------
    def _consultation(self, conn: Connection, root: etree._Element, reply_to: _Reply, sender: str,
                      now: datetime) -> list[Outgoing]:
        mrn = find_text(root, "MRN")
        master = find_text(root, "transportDocumentMasterLevel/documentNumber")
        house = find_text(root, "transportDocumentHouseLevel/documentNumber")
        query = select(ens.c.mrn, ens.c.lrn, ens.c.message_type, ens.c.filed_at, ens.c.entity, ens.c.sender,
                       ens.c.role).where(ens.c.state == "registered")
        subject: dict[str, Any]
        if mrn:
            query, subject = query.where(ens.c.mrn == mrn), {"mrn": mrn}
        elif master:
            query = query.where((ens.c.master_document == master) & ens.c.role.in_(MASTER_ROLES))
            subject = {"master_document": (master, find_text(root, "transportDocumentMasterLevel/type") or "N741")}
        else:
            assert house is not None  # the schema requires one of the three
            query = query.where(ens.c.houses.like(f'%"{_like(house)}"%', escape="\\") & ens.c.role.in_(HOUSE_ROLES))
            subject = {"house_document": (house, find_text(root, "transportDocumentHouseLevel/type") or "N741")}
        own = party_eori(sender) or sender
        rows = [r for r in conn.execute(query.order_by(ens.c.id)).all() if (party_eori(r[5]) or r[5]) == own]
        states = {}
        for r in rows:
            instance = self._desk.lifecycle.get(conn, str(r[4]))
            states[r[0]] = instance.state if instance else "registered"
        filings = [{"mrn": r[0], "lrn": r[1], "message_type": r[2], "state": states[r[0]],
                    "registered_at": parse_instant(r[3])} for r in rows]
        notifications = self._notifications(conn, sorted({str(r[c]) for r in rows for c in (0, 4)}), sender, now) \
            if find_text(root, "notificationsRequested") != "0" else []
        payload = build_notice("IE3R08", NoticeFacts(mrn=mrn, at=now, parties=None),
                               {"subject": subject, "filings": filings, "notifications": notifications})
        return [reply_to.reply("IE3R08", payload, mrn, mrn)]

    def _notifications(self, conn: Connection, mrns: Sequence[str], sender: str, now: datetime) -> list[dict[str, Any]]:
        if not mrns:
            return []
        since = iso(now - CONSULTATION_WINDOW)
        rows = conn.execute(select(outbox.c.action, outbox.c.correlation, outbox.c.created_at).where(
            outbox.c.correlation.in_(list(mrns)) & (outbox.c.party == sender) & (outbox.c.created_at >= since)
            & (outbox.c.profile == "ics2")).order_by(outbox.c.id)).all()
        return [{"message_type": r[0], "mrn": r[1], "at": parse_instant(r[2])} for r in rows]


def _houses(text: str | None) -> set[str]:
    return set(json.loads(text or "{}"))


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace('"', '\\"')

