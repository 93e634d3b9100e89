"""The ENS filing desk: validates a filing and registers it, links it, or rejects it, with exactly one reply.

domain/ics2.md, "ENS lifecycle": received -> validated (XSD, rules/conditions, code lists, Unicode
script check) -> fail: IE3N99 (rejected, ALL errors listed, each with code, XPath pointer and text);
ok: registered with an 18-character MRN and an IE3R01 -> lifecycle validation (IE3N01 on failure:
non-unique LRN or linking keys, a filer that is neither the declarant nor its declared representative).
"A filing gets exactly ONE functional reply" (plus the optional IE3R01 copy to the carrier, sent by
simulator/ics2/effects.py). Partial filings are linked into one ENS (simulator/ics2/linking.py).

`assess` is pure CPU (run before the write transaction); `commit` writes inside the caller's transaction,
together with the journal entry and the receipt. Messages about a registered ENS (amendments,
invalidation, arrival, consultation, answers to referrals) are handled by simulator/ics2/ens_requests.py.
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
from simulator.core.lifecycle import Lifecycle, Transition
from simulator.ics2.catalogue import CatalogueEntry
from simulator.ics2.effects import Effects, Outgoing, echo_to_json, load_ens
from simulator.ics2.linking import LinkFacts, completeness, conflict, houses_json, link_facts
from simulator.ics2.models import ens
from simulator.ics2.mrn import make_mrn
from simulator.ics2.parties import PartyProfiles
from simulator.ics2.pmode import party_eori
from simulator.ics2.replies import (
    ReplyParties,
    build_ie3n01,
    build_ie3n99,
    build_ie3r01,
    find_text,
    parties_from_filing,
)
from simulator.ics2.rules import check_rules
from simulator.ics2.validation import FunctionalError, SchemaSet

_INSERT_ENS = Prepared(ens.insert(), ("lrn", "mrn", "message_type", "sender", "declarant", "state",
                                      "message_id", "journal_id", "agreement", "filed_at", "errors", "entity",
                                      "role", "master_document", "houses", "carrier", "representative", "echo"))
_SET_MRN = Prepared(update(ens).where(ens.c.id == bindparam("ens_id"))
                    .values(mrn=bindparam("new_mrn"), entity=bindparam("new_entity")),
                    ("ens_id", "new_mrn", "new_entity"))
_REGISTERED = {"registered": "registered", "one": 1, "zero": 0}  # bound constants of the statements below
_SAME_LRN = Prepared(
    select(ens.c.mrn).where((ens.c.lrn == bindparam("lrn")) & (ens.c.sender == bindparam("sender"))
                            & (ens.c.state == bindparam("registered")))
    .limit(bindparam("one")).offset(bindparam("zero")), ("lrn", "sender", "registered", "one", "zero"))
_OPEN_FOR_MASTER = Prepared(
    select(ens.c.entity).where((ens.c.master_document == bindparam("master"))
                               & (ens.c.state == bindparam("registered")) & (ens.c.role != bindparam("complete")))
    .order_by(ens.c.id.desc()).limit(bindparam("one")).offset(bindparam("zero")),
    ("master", "registered", "complete", "one", "zero"))


@dataclass
class Assessment:
    """What the desk concluded about one message, before anything is written."""

    message_type: str
    lrn: str | None
    declarant: str | None
    errors: list[FunctionalError] = field(default_factory=list)
    circumstance: str | None = None  # specificCircumstanceIndicator, echoed in the IE3R01
    parties: ReplyParties | None = None  # what the reply echoes of the filing
    kind: str = "filing"  # catalogue kind
    mrn: str | None = None  # the ENS an amendment or request refers to
    root: etree._Element | None = None  # the parsed payload (schema-valid messages only)
    link: LinkFacts | None = None

    @property
    def accepted(self) -> bool:
        return not self.errors


class FilingDesk:
    """Filings register (IE3R01), link into a partial ENS, or are refused (IE3N99 / IE3N01)."""

    def __init__(self, schemas: SchemaSet, *, mrn_country: str, lifecycle: Lifecycle, effects: Effects,
                 profiles: PartyProfiles) -> None:
        self._schemas = schemas
        self._country = mrn_country
        self.lifecycle = lifecycle
        self.effects = effects
        self.profiles = profiles

    def assess(self, entry: CatalogueEntry, payload: bytes) -> Assessment:
        """Schema, then data-quality rules; every error is collected (IE3N99 lists ALL errors)."""
        try:
            root = parse_xml(payload)
        except XmlRefused as exc:
            return Assessment(entry.message_id, None, None,
                              [FunctionalError("12", "/", f"payload refused: {exc}", None)], kind=entry.kind)
        lrn, declarant = find_text(root, "LRN"), find_text(root, "declarant/identificationNumber")
        local = etree.QName(root).localname
        if local != entry.message_id:
            # The AS4 Action names the message; the payload root must be that message (ICD §4.2.2.3).
            return Assessment(entry.message_id, lrn, declarant, [FunctionalError(
                "12", f"/{local}",
                f"payload root element {local} does not match the AS4 Action {entry.message_id}", local)],
                kind=entry.kind)
        errors = self._schemas.validate(root)
        if not errors and entry.kind in ("filing", "amendment"):
            # An amendment is the full new dataset (domain/ics2.md "Messages"): the filing's rules apply.
            errors = check_rules(root, "IE3F" + entry.message_id[4:])
        filing_like = entry.kind in ("filing", "amendment")
        return Assessment(entry.message_id, lrn, declarant, list(errors),
                          circumstance=find_text(root, "specificCircumstanceIndicator"),
                          parties=parties_from_filing(root) if filing_like else None, kind=entry.kind,
                          mrn=find_text(root, "MRN"), root=None if errors else root,
                          link=link_facts(root, entry.message_id) if filing_like and not errors else None)

    # -- filings -------------------------------------------------------------------------------------
    def commit(self, conn: Connection, assessment: Assessment, *, sender: str, message_id: str, journal_id: int,
               agreement: str, now: datetime) -> list[Outgoing]:
        """Register, link or refuse a filing inside the caller's transaction. Returns the functional reply
        (first, routed back to the sender) and whatever the steps taken send to others."""
        reply_to = _Reply(sender, agreement, message_id)
        if not assessment.accepted:
            self._insert(conn, assessment, sender, message_id, journal_id, agreement, now, "rejected")
            payload = build_ie3n99(lrn=assessment.lrn, errors=assessment.errors, rejected_at=now,
                                   parties=assessment.parties)
            return [reply_to.reply("IE3N99", payload, assessment.lrn, None)]
        refusal = self._lifecycle_check(conn, assessment, sender)
        if refusal is not None:
            self._insert(conn, assessment, sender, message_id, journal_id, agreement, now, "rejected",
                         errors=[refusal])
            payload = build_ie3n01(errors=[refusal], at=now, lrn=assessment.lrn, parties=assessment.parties)
            return [reply_to.reply("IE3N01", payload, assessment.lrn, None)]
        link = assessment.link
        assert link is not None
        entity = self._open_entity(conn, link) if link.partial else None
        if entity is not None:
            view = load_ens(conn, entity)
            # CL723 12 for a non-unique linking key, 92 for a partial filing out of sequence
            problem, code = conflict(view.parts if view else (), link), "12"
            if problem is None:
                problem, code = self._not_linkable(conn, entity, link), "92"
            if problem is not None:
                error = FunctionalError(code, f"/{assessment.message_type}/consignmentMasterLevel", problem, None)
                self._insert(conn, assessment, sender, message_id, journal_id, agreement, now, "rejected",
                             errors=[error])
                payload = build_ie3n01(errors=[error], at=now, lrn=assessment.lrn, parties=assessment.parties)
                return [reply_to.reply("IE3N01", payload, assessment.lrn, None)]
        sequence = self._insert(conn, assessment, sender, message_id, journal_id, agreement, now, "registered")
        mrn = make_mrn(now.year % 100, self._country, sequence)
        _SET_MRN.run(conn, {"ens_id": sequence, "new_mrn": mrn, "new_entity": entity or mrn})
        steps: list[Transition] = []
        context = {"lrn": assessment.lrn, "mrn": mrn, "message": assessment.message_type}
        if entity is None:
            # The ENS enters its declared lifecycle (data/lifecycle.json), keyed by the MRN of its first filing.
            parties = assessment.parties
            event = "register_partial" if link.partial else "register"
            steps.append(self.lifecycle.start_and_fire(conn, mrn, now, event, data={
                "declarant": assessment.declarant,
                "representative": parties.representative_id if parties else None}, **context))
        else:
            view = load_ens(conn, entity)
            done = completeness(view.parts if view else ()).complete
            steps.append(self.lifecycle.fire(conn, entity, "link_partial", now, completes=done, **context))
        payload = build_ie3r01(lrn=assessment.lrn or "", mrn=mrn, registered_at=now,
                               specific_circumstance_indicator=assessment.circumstance or "F00",
                               parties=assessment.parties)
        return [reply_to.reply("IE3R01", payload, assessment.lrn, mrn),
                *self.effects.notices(conn, steps, now, root=assessment.root, message_type=assessment.message_type)]

    def _lifecycle_check(self, conn: Connection, assessment: Assessment, sender: str) -> FunctionalError | None:
        """IE3N01 before registration: non-unique LRN; a filer that is neither the declarant nor its declared
        representative (issue brief point 4; domain/ics2.md 'Messages' IE3N01)."""
        lrn, message = assessment.lrn, assessment.message_type
        if lrn:
            _, rows = _SAME_LRN.run(conn, {"lrn": lrn, "sender": sender, **_REGISTERED})
            if rows:
                return FunctionalError("12", f"/{message}/LRN", f"non-unique LRN: {lrn} is already registered "
                                       f"for this sender under MRN {rows[0][0]}", lrn)
        filer = party_eori(sender) or sender
        declarant = assessment.declarant
        if declarant and filer != declarant and not self.profiles.represents(conn, filer, declarant):
            return FunctionalError("12", f"/{message}/declarant/identificationNumber",
                                   f"the sender {filer} is not declared as a representative of the declarant "
                                   f"{declarant}", declarant)
        return None

    def _not_linkable(self, conn: Connection, entity: str, link: LinkFacts) -> str | None:
        """A partial filing can join its ENS only while the ENS awaits partials (data/lifecycle.json, event
        link_partial); once complete and under risk analysis or later, it is out of sequence (IE3N01)."""
        instance = self.lifecycle.get(conn, entity)
        linkable = {state for step in self.lifecycle.machine.events["link_partial"].steps if step.refuse is None
                    for state in step.from_states}
        if instance is None or instance.state in linkable:
            return None
        return (f"the ENS of master transport document {link.master_document} is {instance.state}: no further "
                "partial filing can be linked to it (out of sequence)")

    def _open_entity(self, conn: Connection, link: LinkFacts) -> str | None:
        """The ENS still open for this master transport document (not rejected, invalidated or presented)."""
        if not link.master_document:
            return None
        _, rows = _OPEN_FOR_MASTER.run(conn, {"master": link.master_document, "complete": "complete", **_REGISTERED})
        if not rows or rows[0][0] is None:
            return None
        instance = self.lifecycle.get(conn, str(rows[0][0]))
        return instance.entity_id if instance is not None and not instance.terminal else None

    def _insert(self, conn: Connection, assessment: Assessment, sender: str, message_id: str, journal_id: int,
                agreement: str, now: datetime, state: str, *, errors: list[FunctionalError] | None = None) -> int:
        link, parties = assessment.link, assessment.parties
        errors = assessment.errors if errors is None else errors
        sequence, _ = _INSERT_ENS.run(conn, {
            "lrn": assessment.lrn, "mrn": None, "message_type": assessment.message_type,
            "sender": sender, "declarant": assessment.declarant, "state": state,
            "message_id": message_id, "journal_id": journal_id, "agreement": agreement, "filed_at": iso(now),
            "errors": "\n".join(f"{e.code} {e.pointer} {e.reason}" for e in errors) or None,
            "entity": None, "role": link.role if link else None,
            "master_document": link.master_document if link else None,
            "houses": houses_json(link.houses) if link and link.houses else None,
            "carrier": link.carrier if link else None,
            "representative": parties.representative_id if parties else None, "echo": echo_to_json(parties),
        })
        return int(sequence or 0)


@dataclass(frozen=True)
class _Reply:
    sender: str
    agreement: str
    message_id: str

    def reply(self, action: str, payload: bytes, correlation: str | None, mrn: str | None) -> Outgoing:
        """The one functional reply: back to the sender's channel (ICD §3.3.2.3), RefToMessageId = the filing."""
        return Outgoing(action, payload, self.sender, self.sender, correlation, mrn, self.agreement,
                        basis=f"{self.sender}|{self.message_id}", initial_reply=True, ref_to_message_id=self.message_id)
