"""The reference ICS2 trader client: a correct implementation of the trader side of the HTI.

Built on the same codecs as the simulator (simulator.codecs only). It sends filings as signed AS4
One-Way/Push user messages, checks the synchronous non-repudiation receipt, pulls its own MPC, and
answers every pulled message with a signed receipt over eb:Messaging and the Body (domain/ics2.md,
"AS4 profile"). `ClientFaults` switches on deliberate defects, so that scenarios can show that the
simulator catches them; scenarios/client/variants.py names the combinations real packages get wrong.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from scenarios.client.business import BusinessMemory
from scenarios.client.faults import ClientFaults
from scenarios.client.transport import HttpResponse, MutualTlsTransport, client_tls_context
from simulator.codecs import mime
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_signal, pack_user_message, sent_references, unpack
from simulator.codecs.as4.model import ErrorEntry, InboundMessage, PartInfo, PartyRef, Receipt, UserMessage
from simulator.codecs.as4.receipts import (
    build_error_signal,
    build_pull_request,
    build_receipt,
    check_receipt_matches,
)

ENDPOINT_PATH = "/ics2/as4"


@dataclass(frozen=True)
class TraderIdentity:
    party_id: str  # [systemId@]EORI[@MS]
    sealing_key: RSAPrivateKey
    sealing_chain: tuple[x509.Certificate, ...]  # leaf first
    tls_cert: Path
    tls_key: Path

    @classmethod
    def from_files(cls, party_id: str, *, sealing_key: Path, sealing_chain: Path, tls_cert: Path,
                   tls_key: Path) -> TraderIdentity:
        key = load_pem_private_key(sealing_key.read_bytes(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the sealing key must be RSA (ICD §4.3: RSA-SHA256)")
        chain = tuple(x509.load_pem_x509_certificates(sealing_chain.read_bytes()))
        return cls(party_id, key, chain, tls_cert, tls_key)

    @property
    def mpc(self) -> str:
        return as4c.c2t_mpc(self.party_id)


MAX_IGNORED = 50  # a variant that ignores messages still stops pulling after this many in a row
RETRIES = 3  # re-sends of a message whose receipt was lost, before the send is reported as it stands


@dataclass(frozen=True)
class _SentMessage:
    """What was sent under one MessageId, kept only for a package that sends it again."""

    action: str
    payload: bytes
    attachments: tuple[tuple[str, bytes, str], ...]
    service: str
    agreement: str


@dataclass
class SendOutcome:
    message_id: str
    http: HttpResponse
    response: InboundMessage | None
    problems: list[str] = field(default_factory=list)  # what is wrong with the simulator's answer
    attempts: int = 1  # how many times the message went out (retries after a lost receipt)

    @property
    def receipt(self) -> bool:
        return self.response is not None and self.response.kind == "receipt"

    @property
    def errors(self) -> tuple[ErrorEntry, ...]:
        return self.response.errors if self.response is not None else ()


@dataclass
class PullOutcome:
    http: HttpResponse
    message: InboundMessage | None
    receipt_answer: HttpResponse | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.message is not None and self.message.kind == "error" and any(
            e.code == "EBMS:0006" for e in self.message.errors)

    @property
    def user_message(self) -> InboundMessage | None:
        return self.message if self.message is not None and self.message.kind == "user" else None


class Ics2Client:
    def __init__(
        self,
        base_url: str,
        identity: TraderIdentity,
        ca_file: Path,
        *,
        agreement: str = as4c.AGREEMENT_V1,
        faults: ClientFaults | None = None,
        now: Callable[[], datetime] | None = None,
        host: str = "trader.icssim.example",
    ) -> None:
        self.identity = identity
        self.agreement = agreement
        self.faults = faults or ClientFaults()
        self._now = now or (lambda: datetime.now(UTC))
        self._ids = itertools.count(1)
        self._host = host
        self._roots = tuple(x509.load_pem_x509_certificates(ca_file.read_bytes()))
        context = client_tls_context(ca_file, identity.tls_cert, identity.tls_key)
        self._transport = MutualTlsTransport(base_url.rstrip("/") + ENDPOINT_PATH, context)
        self.sent_references: dict[str, tuple[bytes, ...]] = {}  # MessageId -> our signature's digests
        self.last_sent: tuple[str, str, bytes] | None = None
        self.resent: list[SendOutcome] = []  # messages a faulty variant sent again on its own
        self.business = BusinessMemory()  # what the package learnt from customs messages
        self._processed: set[str] = set()  # MessageIds of the customs messages already processed
        self._sent_messages: dict[str, _SentMessage] = {}

    def close(self) -> None:
        self._transport.close()

    def new_message_id(self) -> str:
        """ICD §4.2.1: MessageId = UUID@sender-host."""
        return f"{uuid.uuid4()}@{self._host}"

    # -- trader to customs ---------------------------------------------------------------------------
    def send(self, action: str, payload: bytes, *, message_id: str | None = None,
             service: str = as4c.SERVICE_T2C,
             attachments: Sequence[tuple[str, bytes, str]] = ()) -> SendOutcome:
        """Send one business payload; ``attachments`` are (Content-ID, octets, MIME type) binary parts
        (application/pdf or image/jpeg, e.g. for IE3R02), each its own MIME part, compressed and signed
        like the payload (domain/ics2.md "AS4 profile": a reference to every attachment)."""
        faults = self.faults
        business = service == as4c.SERVICE_T2C
        if business and faults.rewrite_payload is not None:
            payload = faults.rewrite_payload(action, payload)
        sent = _SentMessage(action, payload, tuple(attachments), service,
                            faults.agreement if business and faults.agreement else self.agreement)
        outcome = self._send_once(sent, message_id or self.new_message_id())
        # Reception awareness (domain/ics2.md "AS4 profile"): no signal came back, so the very same message
        # (same MessageId) goes again; duplicate elimination answers it with the original receipt.
        while business and not faults.no_retry and outcome.response is None and outcome.http.status >= 500 \
                and outcome.attempts <= RETRIES:
            outcome = dataclasses.replace(self.resend_last(), attempts=outcome.attempts + 1)
        if business and faults.resend_rejected_unchanged:
            self._sent_messages[outcome.message_id] = sent
        if business and faults.resend_with_new_message_id and outcome.receipt:
            # A package that treats its own send as unconfirmed and starts over with a fresh message.
            self.resent.append(self._send_once(sent, self.new_message_id()))
        return outcome

    def _send_once(self, sent: _SentMessage, message_id: str) -> SendOutcome:
        faults = self.faults
        business = sent.service == as4c.SERVICE_T2C
        action = sent.action
        if business and faults.amendment_action_of_filing and action.startswith("IE3A"):
            action = "IE3F" + action[4:]
        sender = PartyRef(self.identity.party_id, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER)
        receiver = PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS)
        if business:
            sender = PartyRef(sender.party_id, faults.from_party_type or sender.party_type,
                              faults.from_role or sender.role)
            receiver = PartyRef(faults.to_party_id or receiver.party_id, receiver.party_type, receiver.role)
        cid = f"payload-{uuid.uuid5(uuid.NAMESPACE_URL, message_id)}@{self._host}"
        parts = [(cid, sent.payload, "application/xml"), *sent.attachments]
        um = UserMessage(
            message_id=message_id, timestamp=self._now(), from_party=sender, to_party=receiver,
            agreement_ref=sent.agreement, agreement_type=as4c.AGREEMENT_TYPE,
            service=faults.service if business and faults.service else sent.service,
            service_type=as4c.SERVICE_TYPE, action=action, conversation_id=message_id,
            part_infos=_part_infos(parts, faults) if business and faults.part_without_mime_type else (),
        )
        content_type, body = pack_user_message(
            um, parts, key=self.identity.sealing_key, chain=list(self.identity.sealing_chain),
            token="leaf-only" if faults.leaf_only_token else "pkipath",
            gzip_payloads=not (business and faults.uncompressed_payload),
            sign_body=not (business and faults.body_not_signed),
        )
        self.sent_references[message_id] = sent_references(content_type, body)
        if faults.tamper_payload_after_signing:
            content_type, body = _tamper_attachment(content_type, body, cid)
        self.last_sent = (message_id, content_type, body)
        http = self._transport.post(content_type, body)
        return self._judge_answer(message_id, http)

    def resend_last(self) -> SendOutcome:
        """Send the very same bytes again (a retry after a lost answer: same MessageId)."""
        if self.last_sent is None:
            raise RuntimeError("nothing was sent yet")
        message_id, content_type, body = self.last_sent
        return self._judge_answer(message_id, self._transport.post(content_type, body))

    def ping(self) -> SendOutcome:
        """The ebMS test service (ICD §4.5.1): a signed message that only earns a receipt."""
        return self.send(as4c.TEST_ACTION, b"<ping/>", service=as4c.TEST_SERVICE)

    def _judge_answer(self, message_id: str, http: HttpResponse) -> SendOutcome:
        outcome = SendOutcome(message_id, http, None)
        try:
            outcome.response = unpack(http.content_type, http.body)
        except EbmsError as exc:
            outcome.problems.append(f"the answer is not a valid AS4 signal: {exc}")
            return outcome
        if outcome.response.kind == "receipt":
            outcome.problems += check_receipt_matches(outcome.response, self.sent_references[message_id],
                                                      sent_message_id=message_id)
            outcome.problems += self._check_sender(outcome.response)
        return outcome

    def _check_sender(self, message: InboundMessage) -> list[str]:
        """The customs seal must be a valid path to a root we trust (ICD §4.3, as for traders)."""
        if message.signature is None:
            return ["the answer is not signed"]
        chain = message.signature.chain
        now = self._now()
        for cert in chain:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                return [f"the sealing path has a certificate outside its validity: "
                        f"{cert.subject.rfc4514_string()}"]
        for cert, issuer in itertools.pairwise(chain):
            if not issued_by(cert, issuer):
                return [f"broken sealing path at {cert.subject.rfc4514_string()}"]
        top = chain[-1]
        if any(top == root or issued_by(top, root) for root in self._roots):
            return []
        return [f"the answer is sealed by an untrusted certificate ({top.subject.rfc4514_string()})"]

    # -- customs to trader ---------------------------------------------------------------------------
    def pull(self) -> PullOutcome:
        """Pull the own MPC once; acknowledge a received message with a signed receipt. A message received
        before (the same MessageId: ebMS3 duplicate detection, domain/ics2.md "AS4 profile") is acknowledged
        again but not processed twice, nor is a message of an action the package ignores (a faulty
        variant): the next one is pulled instead."""
        for _ in range(MAX_IGNORED):
            outcome = self.pull_once()
            um = outcome.user_message
            if um is None or um.user_message is None:
                return outcome
            duplicate = um.message_id in self._processed and not self.faults.surface_duplicates
            self._processed.add(um.message_id or "")
            if not duplicate and um.user_message.action not in self.faults.ignore_actions:
                return outcome
        return outcome

    def pull_once(self) -> PullOutcome:
        """One pull request, whatever comes back (a duplicate too), acknowledged as the MSH must."""
        if self.faults.never_pull:
            return self._imagined_empty_pull()
        request = build_pull_request(self.faults.pull_mpc or self.identity.mpc, key=self.identity.sealing_key,
                                     chain=list(self.identity.sealing_chain),
                                     message_id=self.new_message_id(), timestamp=self._now())
        http = self._transport.post(as4c.SOAP12_CONTENT_TYPE, request)
        outcome = PullOutcome(http, None)
        try:
            outcome.message = unpack(http.content_type, http.body)
        except EbmsError as exc:
            outcome.problems.append(f"the pulled answer is not valid AS4: {exc}")
            return outcome
        if outcome.message.kind == "user":
            outcome.problems += self._check_sender(outcome.message)
            outcome.receipt_answer = self._transport.post(as4c.SOAP12_CONTENT_TYPE,
                                                          self._receipt_for(outcome.message))
            self._react(outcome.message)
        return outcome

    def _receipt_for(self, message: InboundMessage) -> bytes:
        message_id, now = self.new_message_id(), self._now()
        if self.faults.unsigned_receipt:
            assert message.signature is not None and message.message_id is not None
            receipt = Receipt(message_id, now, message.message_id, message.signature.references)
            return pack_signal(receipt)[1]
        return build_receipt(message, key=self.identity.sealing_key, chain=list(self.identity.sealing_chain),
                             message_id=message_id, timestamp=now,
                             sign_body=not self.faults.receipt_without_body)

    def _react(self, message: InboundMessage) -> None:
        """What a package does on its own about a pulled message: it remembers open information requests
        and Do Not Load orders (BusinessMemory); a faulty variant may re-send a rejected filing."""
        um = message.user_message
        if um is not None and message.payloads:
            self.business.learn(um.action, message.payloads[0].content)
        if um is None or um.action != "IE3N99" or not self.faults.resend_rejected_unchanged:
            return
        rejected = self._sent_messages.pop(message.ref_to_message_id or "", None)
        if rejected is not None:  # popped: the re-sent copy is not sent a third time
            self.resent.append(self._send_once(rejected, self.new_message_id()))

    def _imagined_empty_pull(self) -> PullOutcome:
        """A package whose polling never reaches the MSH and that reports "nothing new" (EBMS:0006)."""
        signal = build_error_signal([EbmsError("EBMS:0006", "nothing pulled")], ref_to_message_id=None,
                                    message_id=self.new_message_id(), timestamp=self._now(),
                                    key=self.identity.sealing_key, chain=list(self.identity.sealing_chain))
        http = HttpResponse(200, as4c.SOAP12_CONTENT_TYPE, signal)
        return PullOutcome(http, unpack(http.content_type, http.body))

    def pull_all(self, *, limit: int = 100) -> list[InboundMessage]:
        """Pull until the MPC is empty; returns the user messages received, oldest first."""
        received: list[InboundMessage] = []
        for _ in range(limit):
            outcome = self.pull()
            if outcome.user_message is None:
                break
            received.append(outcome.user_message)
        return received


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Is `cert` signed by `issuer`'s key (one link of a chain)?"""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _part_infos(parts: Sequence[tuple[str, bytes, str]], faults: ClientFaults) -> tuple[PartInfo, ...]:
    """PartInfos as pack_user_message derives them, but the business payload's without MimeType."""
    infos = []
    for index, (cid, _, mime_type) in enumerate(parts):
        properties = {} if index == 0 else {as4c.PROPERTY_MIME_TYPE: mime_type}
        if mime_type.endswith("/xml"):
            properties[as4c.PROPERTY_CHARACTER_SET] = "UTF-8"
        if not faults.uncompressed_payload:
            properties[as4c.PROPERTY_COMPRESSION_TYPE] = as4c.GZIP_MEDIA_TYPE
        infos.append(PartInfo(cid, properties))
    return tuple(infos)


def _tamper_attachment(content_type: str, body: bytes, cid: str) -> tuple[str, bytes]:
    """Change the payload after signing (a man-in-the-middle or a buggy re-serialisation)."""
    related = mime.parse_multipart_related(content_type, body)
    part = related.attachments[cid]
    original = gzip.decompress(part.content)
    changed = original.replace(b"</", b"<!-- changed --></", 1)
    tampered = mime.MimePart(headers=dict(part.headers), content=gzip.compress(changed, mtime=0))
    parts = [tampered if p is part else p for p in related.attachments.values()]
    return mime.build_multipart_related(related.root.content, parts,
                                        root_content_id=related.root.content_id)
