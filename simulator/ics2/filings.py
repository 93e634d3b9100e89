"""The ENS filing desk: validates a filing and registers it or rejects it, with exactly one reply.

domain/ics2.md, "ENS lifecycle": received -> validated (XSD, rules/conditions, code lists, Unicode
script check) -> fail: IE3N99 (rejected, ALL errors listed, each with code, XPath pointer and text);
ok: registered with an 18-character MRN and an IE3R01. "A filing gets exactly ONE functional reply."

`assess` is pure CPU (run before the write transaction); `commit` writes the ENS row and queues the
reply inside the caller's transaction, together with the journal entry and the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from simulator.codecs.xmlsafe import XmlRefused, parse_xml
from simulator.core.clock import iso
from simulator.core.fastsql import Prepared
from simulator.core.lifecycle import Lifecycle, TransitionRefused
from simulator.ics2.catalogue import CatalogueEntry
from simulator.ics2.models import ens
from simulator.ics2.mrn import make_mrn
from simulator.ics2.replies import (
    ReplyParties,
    build_ie3n01,
    build_ie3n10,
    build_ie3n99,
    build_ie3r01,
    build_ie3r07,
    parties_from_filing,
)
from simulator.ics2.rules import check_rules
from simulator.ics2.validation import FunctionalError, SchemaSet

_INSERT_ENS = Prepared(ens.insert(), ("lrn", "mrn", "message_type", "sender", "declarant", "state",
                                      "message_id", "journal_id", "agreement", "filed_at", "errors"))
_SET_MRN = Prepared(update(ens).where(ens.c.id == bindparam("ens_id")).values(mrn=bindparam("new_mrn")),
                    ("ens_id", "new_mrn"))


@dataclass
class Assessment:
    """What the desk concluded about one filing, before anything is written."""

    message_type: str
    lrn: str | None
    declarant: str | None
    errors: list[FunctionalError] = field(default_factory=list)
    circumstance: str | None = None  # specificCircumstanceIndicator, echoed in the IE3R01
    parties: ReplyParties | None = None  # what the reply echoes of the filing
    kind: str = "filing"  # catalogue kind: filing | amendment | invalidation-request
    mrn: str | None = None  # the ENS an amendment or request refers to

    @property
    def accepted(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Reply:
    action: str  # IE3R01 | IE3N99
    payload: bytes
    correlation: str | None  # LRN (R01/N99 on filings correlate by LRN; the MRN is in the R01)
    mrn: str | None


class FilingDesk:
    """Filings register (IE3R01) or are rejected (IE3N99); amendments and invalidation requests move
    the ENS through its lifecycle (IE3N10 / IE3R07) or are refused by it (IE3N01)."""

    def __init__(self, schemas: SchemaSet, *, mrn_country: str, lifecycle: Lifecycle) -> None:
        self._schemas = schemas
        self._country = mrn_country
        self._lifecycle = lifecycle

    def assess(self, entry: CatalogueEntry, payload: bytes) -> Assessment:
        """Schema, then data-quality rules; every error is collected (IE3N99 lists ALL errors)."""
        try:
            root = parse_xml(payload)
        except XmlRefused as exc:
            return Assessment(entry.message_id, None, None,
                              [FunctionalError("12", "/", f"payload refused: {exc}", None)])
        lrn, declarant = _text(root, "LRN"), _text(root, "declarant/identificationNumber")
        local = etree.QName(root).localname
        if local != entry.message_id:
            # The AS4 Action names the message; the payload root must be that message (ICD §4.2.2.3).
            return Assessment(entry.message_id, lrn, declarant, [FunctionalError(
                "12", f"/{local}",
                f"payload root element {local} does not match the AS4 Action {entry.message_id}", local)])
        errors = self._schemas.validate(root)
        if not errors and entry.kind in ("filing", "amendment"):
            # An amendment is the full new dataset (domain/ics2.md "Messages"): the filing's rules apply.
            errors = check_rules(root, "IE3F" + entry.message_id[4:])
        return Assessment(entry.message_id, lrn, declarant, list(errors),
                          circumstance=_text(root, "specificCircumstanceIndicator"),
                          parties=parties_from_filing(root), kind=entry.kind, mrn=_text(root, "MRN"))

    def commit(
        self,
        conn: Connection,
        assessment: Assessment,
        *,
        sender: str,
        message_id: str,
        journal_id: int,
        agreement: str,
        now: datetime,
    ) -> Reply:
        """Register or reject inside the caller's transaction and build the one functional reply."""
        if assessment.kind != "filing":
            return self._about_ens(conn, assessment, sender=sender, now=now)
        state = "registered" if assessment.accepted else "rejected"
        sequence, _ = _INSERT_ENS.run(conn, {
            "lrn": assessment.lrn, "mrn": None, "message_type": assessment.message_type,
            "sender": sender, "declarant": assessment.declarant, "state": state,
            "message_id": message_id, "journal_id": journal_id, "agreement": agreement,
            "filed_at": iso(now),
            "errors": "\n".join(f"{e.code} {e.pointer} {e.reason}" for e in assessment.errors) or None,
        })
        if not assessment.accepted:
            payload = build_ie3n99(lrn=assessment.lrn, errors=assessment.errors, rejected_at=now,
                                   parties=assessment.parties)
            return Reply("IE3N99", payload, assessment.lrn, None)
        mrn = make_mrn(now.year % 100, self._country, int(sequence or 0))
        _SET_MRN.run(conn, {"ens_id": sequence, "new_mrn": mrn})
        # The ENS enters its declared lifecycle (data/lifecycle.json), keyed by MRN.
        parties = assessment.parties
        self._lifecycle.start(conn, mrn, now, data={
            "declarant": assessment.declarant,
            "representative": parties.representative_id if parties else None})
        self._lifecycle.fire(conn, mrn, "register", now)
        payload = build_ie3r01(lrn=assessment.lrn or "", mrn=mrn, registered_at=now,
                               specific_circumstance_indicator=assessment.circumstance or "F00",
                               parties=assessment.parties)
        return Reply("IE3R01", payload, assessment.lrn, mrn)

    def _about_ens(self, conn: Connection, assessment: Assessment, *, sender: str, now: datetime) -> Reply:
        """IE3Axx / IE3Q04: correlation by MRN (domain/ics2.md IE3N99 rule); the lifecycle decides."""
        mrn, message = assessment.mrn, assessment.message_type
        if not assessment.accepted:
            return Reply("IE3N99", build_ie3n99(mrn=mrn, errors=assessment.errors, rejected_at=now), mrn, None)
        assert mrn is not None  # the schema requires it
        _, rows = _FIND_ENS.run(conn, {"mrn": mrn})
        problem = None
        if not rows:
            problem = "no ENS is registered under this MRN"
        elif assessment.kind == "amendment" and rows[0][0][4:] != message[4:]:
            problem = f"{message} cannot amend an ENS filed as {rows[0][0]}"
        if problem is not None:
            error = FunctionalError("12", f"/{message}/MRN", problem, mrn)
            return Reply("IE3N99", build_ie3n99(mrn=mrn, errors=[error], rejected_at=now), mrn, None)
        event, action = _EVENT_AND_REPLY[assessment.kind]
        try:
            self._lifecycle.fire(conn, mrn, event, now, party=sender)
        except TransitionRefused as exc:
            error = FunctionalError(exc.code, f"/{message}/MRN", f"{exc.detail} ({exc.rule})", mrn)
            return Reply("IE3N01", build_ie3n01(errors=[error], at=now, mrn=mrn, parties=assessment.parties),
                         mrn, mrn)
        return Reply(action, _about_ens_reply(action, mrn, now, assessment.parties), mrn, mrn)


def _text(root: etree._Element, path: str) -> str | None:
    element = root.find(path)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


_EVENT_AND_REPLY = {"amendment": ("amend", "IE3N10"), "invalidation-request": ("invalidate", "IE3R07")}
_FIND_ENS = Prepared(select(ens.c.message_type).where(ens.c.mrn == bindparam("mrn")), ("mrn",))


def _about_ens_reply(action: str, mrn: str, now: datetime, parties: ReplyParties | None) -> bytes:
    if action == "IE3N10":
        return build_ie3n10(mrn=mrn, amended_at=now, parties=parties)
    return build_ie3r07(mrn=mrn, invalidated_at=now, parties=parties)
