"""The reference ICS2 trader client: a correct implementation of the trader side of the HTI.

Built on the same codecs as the simulator (simulator.codecs only). It sends filings as signed AS4
One-Way/Push user messages, checks the synchronous non-repudiation receipt, pulls its own MPC, and
answers every pulled message with a signed receipt over eb:Messaging and the Body (domain/ics2.md,
"AS4 profile"). `ClientFaults` switches on one deliberate defect at a time, so that scenarios can show
that the simulator catches it.
"""

from __future__ import annotations

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

from scenarios.client.transport import HttpResponse, MutualTlsTransport, client_tls_context
from simulator.codecs import mime
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_user_message, sent_references, unpack
from simulator.codecs.as4.model import ErrorEntry, InboundMessage, PartyRef, UserMessage
from simulator.codecs.as4.receipts import build_pull_request, build_receipt, check_receipt_matches

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


@dataclass(frozen=True)
class ClientFaults:
    """Deliberate defects, one per flag (used by scenarios to prove the simulator catches them)."""

    leaf_only_token: bool = False  # BinarySecurityToken with the leaf only (ICD §4.3 wants the path)
    tamper_payload_after_signing: bool = False  # payload changed after the signature was made
    receipt_without_body: bool = False  # receipts for pulled messages do not sign the SOAP Body


@dataclass
class SendOutcome:
    message_id: str
    http: HttpResponse
    response: InboundMessage | None
    problems: list[str] = field(default_factory=list)  # what is wrong with the simulator's answer

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
        message_id = message_id or self.new_message_id()
        um = UserMessage(
            message_id=message_id, timestamp=self._now(),
            from_party=PartyRef(self.identity.party_id, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER),
            to_party=PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
            agreement_ref=self.agreement, agreement_type=as4c.AGREEMENT_TYPE,
            service=service, service_type=as4c.SERVICE_TYPE, action=action,
            conversation_id=message_id,
        )
        cid = f"payload-{uuid.uuid5(uuid.NAMESPACE_URL, message_id)}@{self._host}"
        content_type, body = pack_user_message(
            um, [(cid, payload, "application/xml"), *attachments], key=self.identity.sealing_key,
            chain=list(self.identity.sealing_chain),
            token="leaf-only" if self.faults.leaf_only_token else "pkipath",
        )
        self.sent_references[message_id] = sent_references(content_type, body)
        if self.faults.tamper_payload_after_signing:
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
            if not _issued_by(cert, issuer):
                return [f"broken sealing path at {cert.subject.rfc4514_string()}"]
        top = chain[-1]
        if any(top == root or _issued_by(top, root) for root in self._roots):
            return []
        return [f"the answer is sealed by an untrusted certificate ({top.subject.rfc4514_string()})"]

    # -- customs to trader ---------------------------------------------------------------------------
    def pull(self) -> PullOutcome:
        """Pull the own MPC once; acknowledge a received message with a signed receipt."""
        request = build_pull_request(self.identity.mpc, key=self.identity.sealing_key,
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
            receipt = build_receipt(outcome.message, key=self.identity.sealing_key,
                                    chain=list(self.identity.sealing_chain),
                                    message_id=self.new_message_id(), timestamp=self._now(),
                                    sign_body=not self.faults.receipt_without_body)
            outcome.receipt_answer = self._transport.post(as4c.SOAP12_CONTENT_TYPE, receipt)
        return outcome

    def pull_all(self, *, limit: int = 100) -> list[InboundMessage]:
        """Pull until the MPC is empty; returns the user messages received, oldest first."""
        received: list[InboundMessage] = []
        for _ in range(limit):
            outcome = self.pull()
            if outcome.user_message is None:
                break
            received.append(outcome.user_message)
        return received


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


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
