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
from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from simulator.codecs.xmlsafe import XmlRefused, parse_xml
from simulator.core.clock import iso
from simulator.core.fastsql import Prepared
from simulator.core.lifecycle import Lifecycle
from simulator.ics2.catalogue import CatalogueEntry
from simulator.ics2.models import ens
from simulator.ics2.mrn import make_mrn
from simulator.ics2.replies import ReplyParties, build_ie3n99, build_ie3r01, parties_from_filing
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
        if not errors:
            errors = check_rules(root, entry.message_id)
        return Assessment(entry.message_id, lrn, declarant, list(errors),
                          circumstance=_text(root, "specificCircumstanceIndicator"),
                          parties=parties_from_filing(root))

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


def _text(root: etree._Element, path: str) -> str | None:
    element = root.find(path)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None
