"""The STI's message service handler: what happens to one AS4 request on the ICS2 trader endpoint.

Order of checks (each failure answers the precise ebMS error signal, journaled, nothing half-written):
 1. MIME/SOAP/ebMS header well-formed and signature valid ..... codecs (EBMS:0007/0009/0101/0103/0303)
 2. signing chain trusted, valid, not revoked, right key usage ... trust (EBMS:0101; leaf-only 0103)
 3. P-Mode: parties, roles, AgreementRef, Service, Action ........ pmode (EBMS:0010/0003)
 4. sealing certificate registered for the From EORI, TLS client certificate registered for the same
    party ............................................................ registry (EBMS:0004 sub-code A001)
 5. body and every attachment signed, one business payload ....... (EBMS:0103 / 0010)
Then, for a filing: duplicate MessageId -> the original receipt again; otherwise ONE transaction
journals the message, registers or rejects it, queues the functional reply and journals the signed
receipt, and only after the commit does the receipt leave (DESIGN.md, "Durability").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import UnpackLimits, unpack
from simulator.codecs.as4.model import InboundMessage
from simulator.codecs.as4.receipts import build_receipt
from simulator.core import journal
from simulator.core.clock import iso
from simulator.core.context import SimContext
from simulator.core.fastsql import Prepared
from simulator.core.faults import FaultBook
from simulator.core.journal import JournalEntry
from simulator.core.store import accepted_messages
from simulator.core.store import journal as journal_table
from simulator.ics2.delivery import SOAP_CT, C2tDelivery, Caller, HttpAnswer
from simulator.ics2.ens_requests import EnsRequests
from simulator.ics2.filings import Assessment, FilingDesk
from simulator.ics2.pmode import Route, check_user_message, party_eori, party_of_mpc
from simulator.trust.material import SecurityMaterial
from simulator.trust.registry import PartyRegistry, certificate_sha256

PROFILE = "ics2"
__all__ = ["Caller", "Ics2Msh", "Lookups"]  # Caller lives in delivery.py; views and tests import it here


@dataclass(frozen=True)
class Lookups:
    """Everything a request reads from the store, read together in one short read transaction."""

    now: datetime
    signer_parties: set[str]  # parties the sealing certificate is registered for
    tls_parties: set[str]  # parties the TLS client certificate is registered for
    prior_receipt: bytes | None  # the receipt already given for this MessageId (duplicate)
    faults: bool = False  # the scene has injected faults (simulator/core/faults.py)


_ACCEPT = Prepared(accepted_messages.insert(), ("profile", "sender", "message_id", "journal_id",
                                                "receipt_journal_id"))
# The receipt given for a MessageId: answered again, byte for byte, to a duplicate (ebMS3 §6.2).
_PRIOR_RECEIPT = Prepared(
    select(journal_table.c.raw)
    .select_from(accepted_messages.join(journal_table,
                                        journal_table.c.id == accepted_messages.c.receipt_journal_id))
    .where((accepted_messages.c.profile == bindparam("profile"))
           & (accepted_messages.c.sender == bindparam("sender"))
           & (accepted_messages.c.message_id == bindparam("message_id"))),
    ("profile", "sender", "message_id"))


class Ics2Msh:
    def __init__(self, ctx: SimContext, material: SecurityMaterial, desk: FilingDesk) -> None:
        self._ctx = ctx
        self._material = material
        self._desk = desk
        self._requests = EnsRequests(desk)
        self._registry = PartyRegistry(ctx.store, PROFILE)
        cfg = ctx.config
        self._limits = UnpackLimits(
            max_envelope_bytes=cfg.max_envelope_bytes,
            max_compressed_bytes=cfg.max_compressed_bytes,
            max_uncompressed_bytes=cfg.max_uncompressed_bytes,
        )
        self.delivery = C2tDelivery(ctx, material, self._registry)
        self._faults = FaultBook(ctx.store, ctx.config.seed)

    # -- entry point ---------------------------------------------------------------------------------
    def handle(self, content_type: str, body: bytes, caller: Caller) -> HttpAnswer:
        inbound: InboundMessage | None = None
        now: datetime | None = None
        try:
            if len(body) > self._limits.max_envelope_bytes:
                raise EbmsError("EBMS:0010", f"message of {len(body)} bytes exceeds the limit of "
                                f"{self._limits.max_envelope_bytes} bytes")
            inbound = unpack(content_type, body, limits=self._limits,
                             decrypt_key=self._material.sealing_key)
            found = self._lookups(inbound, caller)
            now = found.now
            if found.faults and (outage := self._unavailable(inbound, body, content_type, caller, now)):
                return outage
            self._authenticate(inbound, now)
            if inbound.kind == "user":
                return self._user_message(inbound, body, content_type, found, caller)
            if inbound.kind == "pull":
                return self._pull(inbound, body, content_type, found, caller)
            if inbound.kind == "receipt":
                return self.delivery.receipt_received(inbound, body, content_type, found.signer_parties,
                                                      caller, now)
            return self.delivery.error_received(inbound, body, content_type, found.signer_parties, caller,
                                                now)
        except EbmsError as exc:
            return self.delivery.refuse(exc, inbound, body, content_type, caller,
                                        now or self._ctx.clock.now())

    def _lookups(self, inbound: InboundMessage, caller: Caller) -> Lookups:
        signature = inbound.signature
        signer = certificate_sha256(signature.chain[0]) if signature is not None and signature.chain else None
        with self._ctx.store.read() as conn:
            now = self._ctx.clock.state(conn).now()
            signer_parties = self._registry.parties_for(signer, "sealing", conn)
            tls_parties = self._registry.parties_for(caller.tls_sha256, "tls", conn)
            prior = None
            if inbound.user_message is not None:
                _, rows = _PRIOR_RECEIPT.run(conn, {
                    "profile": PROFILE, "sender": inbound.user_message.from_party.party_id,
                    "message_id": inbound.message_id})
                prior = bytes(rows[0][0]) if rows else None
            faulty = self._faults.has_any(conn, PROFILE)
        return Lookups(now, signer_parties, tls_parties, prior, faulty)

    # -- security ------------------------------------------------------------------------------------
    def _authenticate(self, inbound: InboundMessage, now: datetime) -> None:
        """Judge the signing chain (ICD §4.3: X509PKIPathv1 with the full path, trusted CA)."""
        signature = inbound.signature
        if signature is None:
            raise EbmsError("EBMS:0103", "the message is not signed (WSS 1.1.1 signature required)",
                            ref_to_message_id=inbound.message_id)
        verdict = self._material.trust.evaluate(signature.chain, at=now, purpose="sealing")
        if not verdict.ok:
            code = "EBMS:0103" if verdict.condition == "leaf-only" else "EBMS:0101"
            raise EbmsError(code, f"sealing certificate {verdict.condition}: {verdict.detail}",
                            ref_to_message_id=inbound.message_id)

    def _authorise(self, eori: str, found: Lookups, inbound: InboundMessage, caller: Caller) -> None:
        """EBMS:0004 / A001 (ICD Table 24): sealing (and TLS) certificate not registered for the EORI."""
        ref = inbound.message_id
        if eori not in found.signer_parties:
            signer = certificate_sha256(inbound.signature.chain[0]) if inbound.signature else None
            raise EbmsError("EBMS:0004", f"the sealing certificate (sha256 {signer}) is not registered "
                            f"for EORI {eori}", ref_to_message_id=ref, sub_code="A001")
        if self._ctx.config.require_tls_party_match and eori not in found.tls_parties:
            raise EbmsError("EBMS:0004", f"the TLS client certificate (sha256 {caller.tls_sha256}) is "
                            f"not registered for EORI {eori}", ref_to_message_id=ref, sub_code="A001")

    # -- trader to customs ---------------------------------------------------------------------------
    def _user_message(self, inbound: InboundMessage, body: bytes, content_type: str, found: Lookups,
                      caller: Caller) -> HttpAnswer:
        um = inbound.user_message
        assert um is not None
        now = found.now
        route = check_user_message(um)
        self._authorise(route.eori, found, inbound, caller)
        signature = inbound.signature
        assert signature is not None
        # ICD §4.3 / Annex 6: the signature covers eb:Messaging, the (empty) Body and every attachment.
        if not (signature.covers_messaging and signature.covers_body and signature.covers_attachments):
            raise EbmsError("EBMS:0103", "the signature must reference eb:Messaging, the SOAP Body and "
                            "every attachment", ref_to_message_id=um.message_id)
        if found.prior_receipt is not None:
            return self._duplicate(inbound, body, content_type, caller, now, found.prior_receipt)
        if route.entry is None:  # ebMS test service: a receipt, no business processing
            return self._accept(inbound, body, content_type, caller, now, route, None, None, found.faults)
        binary_allowed = route.entry.kind in _BINARY_ATTACHMENTS
        if len(inbound.payloads) != 1 and not (binary_allowed and inbound.payloads):
            raise EbmsError("EBMS:0010", f"exactly one business payload is expected (ICD §4.2.3), got "
                            f"{len(inbound.payloads)}", ref_to_message_id=um.message_id)
        for extra in inbound.payloads[1:]:
            # domain/ics2.md: IE3R02/IE3R03 may carry pdf/jpeg attachments beside the business payload.
            mime = (extra.mime_type or "").split(";")[0].strip()
            if mime not in _BINARY_TYPES:
                raise EbmsError("EBMS:0010", f"attachment {extra.content_id!r} of type {mime!r}: only "
                                f"{', '.join(sorted(_BINARY_TYPES))} may accompany {um.action}",
                                ref_to_message_id=um.message_id)
        part = inbound.payloads[0]
        # ICD §4.2.5: the business payload is XML, sent gzip-compressed (PartProperties say so).
        if not part.compressed:
            raise EbmsError("EBMS:0010", "the payload must be gzip-compressed (PartProperties "
                            "CompressionType=application/gzip, ICD §4.2.5)", ref_to_message_id=um.message_id)
        if (part.mime_type or "").split(";")[0].strip() != "application/xml":
            raise EbmsError("EBMS:0010", f"the payload MimeType must be application/xml (ICD §4.2.5), got "
                            f"{part.mime_type!r}", ref_to_message_id=um.message_id)
        payload = part.content
        assessment = self._desk.assess(route.entry, payload)
        return self._accept(inbound, body, content_type, caller, now, route, assessment, payload, found.faults)

    def _accept(self, inbound: InboundMessage, body: bytes, content_type: str, caller: Caller,
                now: datetime, route: Route, assessment: Assessment | None,
                payload: bytes | None, faults: bool = False) -> HttpAnswer:
        """Sign the receipt, then commit message, registration, reply and receipt together."""
        um = inbound.user_message
        assert um is not None
        # Ids derived from (sender, MessageId): another party reusing a MessageId is another message.
        basis = f"{route.party_id}|{um.message_id}"
        receipt_id = self.delivery.message_id("receipt", basis)
        receipt = build_receipt(inbound, key=self._material.sealing_key, chain=self._material.sealing_chain,
                                message_id=receipt_id, timestamp=now)
        # Filings correlate by LRN, messages about an ENS by MRN (domain/ics2.md, IE3N99 correlation).
        lrn = (assessment.mrn or assessment.lrn) if assessment is not None else None

        def store(conn: Connection) -> bytes | None:
            """Returns the earlier receipt when a concurrent copy of this message won the race."""
            _, rows = _PRIOR_RECEIPT.run(conn, {"profile": PROFILE, "sender": route.party_id,
                                                "message_id": um.message_id})
            if rows:
                return bytes(rows[0][0])
            journal_id = journal.record(conn, JournalEntry(
                PROFILE, "in", "as4", "user", "accepted", iso(now), message_id=um.message_id,
                action=um.action, sender=route.party_id, receiver=um.to_party.party_id,
                correlation=lrn, content_type=content_type, raw=body, payload=payload,
                peer_cert_sha256=caller.tls_sha256,
                detail="ebMS test service (ping)" if route.entry is None else None))
            if assessment is not None:
                if assessment.kind == "filing":
                    outgoing = self._desk.commit(conn, assessment, sender=route.party_id,
                                                 message_id=um.message_id, journal_id=journal_id,
                                                 agreement=route.agreement, now=now)
                else:
                    outgoing = self._requests.commit(conn, assessment, sender=route.party_id,
                                                     message_id=um.message_id, agreement=route.agreement, now=now)
                self._desk.effects.enqueue(conn, outgoing, now, faults=faults)
            receipt_journal_id = journal.record(conn, JournalEntry(
                PROFILE, "out", "as4", "receipt", "sent", iso(now), message_id=receipt_id,
                ref_to_message_id=um.message_id, sender=um.to_party.party_id, receiver=route.party_id,
                correlation=lrn, content_type=SOAP_CT, raw=receipt))
            _ACCEPT.run(conn, {"profile": PROFILE, "sender": route.party_id, "message_id": um.message_id,
                               "journal_id": journal_id, "receipt_journal_id": receipt_journal_id})
            if found_faults and self._faults.take(conn, PROFILE, "drop_receipt", now=now, party=route.party_id,
                                                  action=um.action, key=um.message_id):
                dropped.append(receipt_journal_id)
            return None

        dropped: list[int] = []
        found_faults = faults
        earlier = self._ctx.store.transact(store)
        if earlier is not None:
            return self._duplicate(inbound, body, content_type, caller, now, earlier)
        if dropped:
            # Injected fault: the message is stored and processed, its receipt is lost on the way. The sender
            # must retry; the retry gets this very receipt (duplicate elimination, ebMS3 §6.2).
            return HttpAnswer(504, "text/plain; charset=utf-8",
                              b"injected fault drop_receipt: the receipt of this message was lost\n")
        return HttpAnswer(200, SOAP_CT, receipt)

    def _unavailable(self, inbound: InboundMessage, body: bytes, content_type: str, caller: Caller,
                     now: datetime) -> HttpAnswer | None:
        """Injected maintenance window: HTTP 503 with Retry-After semantics, nothing processed or stored
        but the journal line (domain/ics2.md "Releases": up to 1 h maintenance a week)."""
        um = inbound.user_message
        party = um.from_party.party_id if um else None
        with self._ctx.store.write() as conn:
            fault = self._faults.take(conn, PROFILE, "msh_unavailable", now=now, party=party,
                                      action=um.action if um else None, key=inbound.message_id or "")
            if fault is None:
                return None
            journal.record(conn, JournalEntry(
                PROFILE, "in", "as4", inbound.kind, "unavailable", iso(now), message_id=inbound.message_id,
                action=um.action if um else None, sender=party, content_type=content_type, raw=body,
                peer_cert_sha256=caller.tls_sha256,
                detail=f"injected fault msh_unavailable until {fault.window_end}: HTTP 503, not processed"))
        return HttpAnswer(503, "text/plain; charset=utf-8",
                          f"service unavailable (maintenance) until {fault.window_end}\n".encode())

    def _duplicate(self, inbound: InboundMessage, body: bytes, content_type: str, caller: Caller,
                   now: datetime, receipt: bytes) -> HttpAnswer:
        """ebMS3 duplicate elimination: no second registration; the original receipt is answered again."""
        um = inbound.user_message
        journal.record_alone(self._ctx.store, JournalEntry(
            PROFILE, "in", "as4", "user", "duplicate", iso(now), message_id=inbound.message_id,
            action=um.action if um else None, sender=um.from_party.party_id if um else None,
            content_type=content_type, raw=body, peer_cert_sha256=caller.tls_sha256,
            detail="duplicate MessageId: not processed again; the original receipt was returned"))
        return HttpAnswer(200, SOAP_CT, receipt)

    # -- pull ----------------------------------------------------------------------------------------
    def _pull(self, inbound: InboundMessage, body: bytes, content_type: str, found: Lookups,
              caller: Caller) -> HttpAnswer:
        """ICD §4.1.3.3 / §4.3.3: a signed PullRequest, authorised only for the caller's own MPC."""
        mpc = inbound.pull_mpc or ""
        party_id = party_of_mpc(mpc)
        if party_id is None:
            raise EbmsError("EBMS:0010", f"unknown MPC {mpc!r}: expected "
                            "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/<PartyId>",
                            ref_to_message_id=inbound.message_id)
        eori = party_eori(party_id)
        assert eori is not None
        self._authorise(eori, found, inbound, caller)
        return self.delivery.pull(inbound, body, content_type, mpc, party_id, caller, found.now)


_BINARY_ATTACHMENTS = frozenset({"rfi-answer", "hrcm-answer"})
_BINARY_TYPES = frozenset({"application/pdf", "image/jpeg"})
