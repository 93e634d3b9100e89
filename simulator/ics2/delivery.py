"""Customs-to-trader delivery and the signals around it.

- Pull (ICD §4.1.3.3): the oldest queued message of the MPC, packed as a signed UserMessage of service
  eu_ics2_c2t with RefToMessageId; an empty MPC answers the warning EBMS:0006.
- Push (domain/ics2.md "AS4 profile": a trader may run its own AS4 endpoint): queues named
  PUSH_QUEUE_PREFIX + PartyId, delivered by simulator/ics2/push.py with the same packing and checks.
- Receipts from the trader (domain/ics2.md "Receipts"): a c2t message counts as delivered only when a
  signed receipt comes back whose signature covers the (empty) Body and whose non-repudiation info
  matches what was sent (`receipt_problems`, shared by pull and push); otherwise it stays undelivered
  and is offered again (reception awareness).
- Error signals answer every refused request (never HTTP 500), signed with the simulator's key.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_user_message, sent_references
from simulator.codecs.as4.model import InboundMessage, PartyRef, UserMessage
from simulator.codecs.as4.receipts import build_error_signal, check_receipt_matches
from simulator.core import journal
from simulator.core import outbox as outbox_api
from simulator.core.clock import iso, parse_instant
from simulator.core.context import SimContext
from simulator.core.journal import JournalEntry
from simulator.core.outbox import OutboxMessage
from simulator.ics2.pmode import party_eori
from simulator.trust.material import SecurityMaterial
from simulator.trust.registry import PartyRegistry

PROFILE = "ics2"
SOAP_CT = "application/soap+xml; charset=UTF-8"
# Outbox queues of push delivery are named PUSH_QUEUE_PREFIX + PartyId (routing enqueues them).
PUSH_QUEUE_PREFIX = "push:"
_ID_NAMESPACE = uuid.UUID("6f1c7d52-0b7e-4a59-9d1e-3c2b8f6a4e10")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Caller:
    """What the transport says about the caller: the TLS client certificate (SHA-256 of its DER)."""

    tls_sha256: str | None

    @classmethod
    def from_der(cls, der: bytes | None) -> Caller:
        return cls(hashlib.sha256(der).hexdigest() if der else None)


def receipt_problems(receipt: InboundMessage, sent: OutboxMessage, signer_parties: set[str]) -> list[str]:
    """Why `receipt` does not acknowledge the c2t message `sent` (empty list: it does), for pull and push.

    domain/ics2.md "Receipts" / ICD §4.6.2: signed with a sealing certificate registered for the party
    the message was sent to (EBMS:0004/A001 semantics), the signature covers the (empty) SOAP Body and
    eb:Messaging, and the non-repudiation information acknowledges every ds:Reference we signed
    (AS4 §5.1.8, `check_receipt_matches`). Any problem means EBMS:0302 and "not delivered".
    """
    problems: list[str] = []
    signature = receipt.signature
    if signature is not None:
        eori = party_eori(sent.party) or ""
        if eori not in signer_parties:
            problems.append(f"the receipt is sealed with a certificate not registered for {eori}")
        if not signature.covers_body:
            problems.append("the receipt's signature does not cover the SOAP Body")
        if not signature.covers_messaging:
            problems.append("the receipt's signature does not cover eb:Messaging")
    signed = [base64.b64decode(r) for r in sent.signature_refs or []]
    problems += [p for p in check_receipt_matches(receipt, signed, sent_message_id=sent.message_id)
                 if p not in problems]
    return problems


class C2tDelivery:
    def __init__(self, ctx: SimContext, material: SecurityMaterial, registry: PartyRegistry) -> None:
        self._ctx = ctx
        self._material = material
        self._registry = registry

    def message_id(self, kind: str, basis: str) -> str:
        """Deterministic MessageIds (same seed + same inbound message -> same id): UUID@host."""
        value = uuid.uuid5(_ID_NAMESPACE, f"{self._ctx.config.seed}:{kind}:{basis}")
        return f"{value}@sti-taxud.icssim"

    # -- pull ----------------------------------------------------------------------------------------
    def pull(self, inbound: InboundMessage, body: bytes, content_type: str, mpc: str, party_id: str,
             caller: Caller, now: datetime) -> HttpAnswer:
        cfg = self._ctx.config
        tls = caller.tls_sha256
        redelivery = timedelta(seconds=cfg.pull_redelivery_seconds)
        # Reception awareness: what used up its deliveries without a valid receipt is undelivered.
        outbox_api.expire_undelivered(self._ctx.store, now=now, redelivery=redelivery,
                                      max_deliveries=cfg.pull_max_deliveries, queue=mpc)
        message = outbox_api.claim_next(
            self._ctx.store, mpc, now=now, redelivery=redelivery,
            max_deliveries=cfg.pull_max_deliveries, pack=self.pack,
        )
        if message is None:
            warning = EbmsError("EBMS:0006", f"no message available for pulling from {mpc}",
                                ref_to_message_id=inbound.message_id)
            return self._signal(warning, inbound, body, content_type, tls, now, verdict="empty",
                                kind="pull", queue=mpc)
        assert message.envelope is not None and message.content_type is not None
        with self._ctx.store.write() as conn:
            journal.record(conn, JournalEntry(
                PROFILE, "in", "as4", "pull", "accepted", iso(now), message_id=inbound.message_id,
                queue=mpc, sender=party_id, content_type=content_type, raw=body, peer_cert_sha256=tls))
            journal.record(conn, JournalEntry(
                PROFILE, "out", "as4", "user", "sent", iso(now), message_id=message.message_id,
                ref_to_message_id=message.ref_to_message_id, action=message.action,
                sender=as4c.STI_PARTY_ID, receiver=party_id, queue=mpc,
                correlation=message.correlation, content_type=message.content_type,
                raw=message.envelope, payload=message.payload,
                detail=f"delivery attempt {message.attempts}"))
        return HttpAnswer(200, message.content_type, message.envelope)

    def pack(self, message: OutboxMessage) -> tuple[str, bytes, list[str]]:
        """Sign the c2t UserMessage once, on first delivery; re-deliveries send the same bytes.

        Returns (Content-Type, envelope, base64 ds:References) for the outbox. A pulled message names
        its MPC; a pushed one travels on the default MPC (ebMS3 §3.4.1), so it names none.
        """
        um = UserMessage(
            message_id=message.message_id,
            timestamp=parse_instant(message.meta["timestamp"]),
            from_party=PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
            to_party=PartyRef(message.party, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER),
            agreement_ref=message.meta.get("agreement", as4c.AGREEMENT_V1),
            agreement_type=as4c.AGREEMENT_TYPE,
            service=as4c.SERVICE_C2T,
            service_type=as4c.SERVICE_TYPE,
            action=message.action,
            conversation_id=message.ref_to_message_id or message.message_id,
            ref_to_message_id=message.ref_to_message_id,
            mpc=None if message.queue.startswith(PUSH_QUEUE_PREFIX) else message.queue,
        )
        digest = hashlib.sha256(message.message_id.encode()).hexdigest()[:16]
        cid = f"{message.action.lower()}-{digest}@icssim"
        content_type, envelope = pack_user_message(
            um, [(cid, message.payload, "application/xml")],
            key=self._material.sealing_key, chain=self._material.sealing_chain,
        )
        refs = [base64.b64encode(r).decode("ascii") for r in sent_references(content_type, envelope)]
        return content_type, envelope, refs

    # -- receipts and errors from the trader ---------------------------------------------------------
    def receipt_received(self, inbound: InboundMessage, body: bytes, content_type: str,
                         signer_parties: set[str], caller: Caller, now: datetime) -> HttpAnswer:
        tls = caller.tls_sha256
        ref = inbound.ref_to_message_id or ""
        assert inbound.signature is not None  # the MSH refuses unsigned signals before this point
        problems: list[str] = []
        with self._ctx.store.write() as conn:
            sent = outbox_api.find(conn, ref)
            if sent is None:
                problems.append(f"RefToMessageId {ref!r} names no message sent to this party")
            else:
                problems = receipt_problems(inbound, sent, signer_parties)
            verdict = "not-delivered" if problems else "delivered"
            journal.record(conn, JournalEntry(
                PROFILE, "in", "as4", "receipt", verdict, iso(now), message_id=inbound.message_id,
                ref_to_message_id=ref, sender=sent.party if sent else None,
                correlation=sent.correlation if sent else None, content_type=content_type, raw=body,
                error_code="EBMS:0302" if problems else None, detail="; ".join(problems) or None,
                peer_cert_sha256=tls))
            if sent is not None and sent.state != "delivered":
                if problems:
                    outbox_api.mark(conn, ref, state=sent.state, at=now, detail="; ".join(problems))
                else:
                    outbox_api.mark(conn, ref, state="delivered", at=now, detail=None)
        if problems:
            error = EbmsError("EBMS:0302", "; ".join(problems), ref_to_message_id=inbound.message_id)
            return self._signal(error, inbound, None, content_type, tls, now, journal_in=False)
        return HttpAnswer(200, SOAP_CT, b"")

    def error_received(self, inbound: InboundMessage, body: bytes, content_type: str,
                       signer_parties: set[str], caller: Caller, now: datetime) -> HttpAnswer:
        """An ebMS error from the trader about a message we sent: that delivery failed.

        Only the party the message was sent to may say so (its sealing certificate must be registered
        for that party), else EBMS:0004/A001 and the delivery is untouched.
        """
        tls = caller.tls_sha256
        ref = inbound.ref_to_message_id
        codes = ", ".join(e.code for e in inbound.errors) if inbound.errors else None
        with self._ctx.store.read() as conn:
            sent = outbox_api.find(conn, ref) if ref else None
        if sent is not None and (party_eori(sent.party) or "") not in signer_parties:
            raise EbmsError("EBMS:0004", f"the error signal about {ref} is sealed with a certificate not "
                            f"registered for the party it was sent to", ref_to_message_id=inbound.message_id,
                            sub_code="A001")
        with self._ctx.store.write() as conn:
            sent = outbox_api.find(conn, ref) if ref else None
            journal.record(conn, JournalEntry(
                PROFILE, "in", "as4", "error", "received", iso(now), message_id=inbound.message_id,
                ref_to_message_id=ref, content_type=content_type, raw=body, error_code=codes,
                sender=sent.party if sent else None, peer_cert_sha256=tls))
            if sent is not None:
                outbox_api.mark(conn, sent.message_id, state="undelivered", at=now,
                                detail=f"the party answered with ebMS error {codes}")
        return HttpAnswer(200, SOAP_CT, b"")

    # -- refusals ------------------------------------------------------------------------------------
    def refuse(self, exc: EbmsError, inbound: InboundMessage | None, body: bytes, content_type: str,
               caller: Caller, now: datetime) -> HttpAnswer:
        tls = caller.tls_sha256
        return self._signal(exc, inbound, body, content_type, tls, now, verdict="rejected",
                            kind=inbound.kind if inbound else "unparsed")

    def _signal(self, exc: EbmsError, inbound: InboundMessage | None, body: bytes | None,
                content_type: str, tls: str | None, now: datetime, *, verdict: str = "rejected",
                kind: str = "user", queue: str | None = None, journal_in: bool = True) -> HttpAnswer:
        ref = exc.ref_to_message_id or (inbound.message_id if inbound else None)
        basis = ref or hashlib.sha256(body or b"").hexdigest()
        signal_id = self.message_id(f"error:{exc.code}", basis)
        signal = build_error_signal([exc], ref_to_message_id=ref, message_id=signal_id, timestamp=now,
                                    key=self._material.sealing_key, chain=self._material.sealing_chain)
        um = inbound.user_message if inbound else None
        code = f"{exc.code}/{exc.sub_code}" if exc.sub_code else exc.code
        with self._ctx.store.write() as conn:
            if journal_in:
                journal.record(conn, JournalEntry(
                    PROFILE, "in", "as4", kind, verdict, iso(now), message_id=ref,
                    action=um.action if um else None, sender=um.from_party.party_id if um else None,
                    queue=queue, content_type=content_type, raw=body, error_code=code,
                    detail=exc.detail, peer_cert_sha256=tls))
            journal.record(conn, JournalEntry(
                PROFILE, "out", "as4", "error", "sent", iso(now), message_id=signal_id,
                ref_to_message_id=ref, error_code=code, detail=exc.detail, content_type=SOAP_CT,
                raw=signal, queue=queue))
        return HttpAnswer(200, SOAP_CT, signal)
