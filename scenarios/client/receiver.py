"""A trader's own AS4 endpoint (access point) for push delivery, for tests and scenarios.

domain/ics2.md "AS4 profile": for customs-to-trader messages a trader may choose push, which needs its
own AS4 endpoint; it must answer each message with a signed non-repudiation receipt that signs the
(empty) Body, over mutual TLS (>= 1.2). `PushReceiver` is that endpoint: HTTPS in a thread, the
customs client certificate required and checked against the test root, every pushed message unpacked
and its signature verified (simulator.codecs only, like the reference client), recorded, and answered
according to the chosen behaviour:

- "good": a correct signed receipt;
- "unsigned-body": a signed receipt whose signature does not cover the Body (ICD §4.6.2 FAQ: counts as
  never delivered);
- "error": an ebMS error signal (EBMS:0004) instead of a receipt;
- "http-500": HTTP 500 without AS4 content;
- "no-answer": the connection is closed without any answer;
- "hang": no answer for `hang_seconds`, then the connection is closed (the sender's timeout fires).

A message that cannot be read, is not a user message or is sealed by an untrusted path is answered with
an ebMS error signal whatever the behaviour (a correct AP never acknowledges it) and recorded in
`refused`.
"""

from __future__ import annotations

import hashlib
import itertools
import ssl
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from scenarios.client.ics2 import issued_by
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import unpack
from simulator.codecs.as4.model import InboundMessage
from simulator.codecs.as4.receipts import build_error_signal, build_receipt

Behaviour = Literal["good", "unsigned-body", "error", "http-500", "no-answer", "hang"]
BEHAVIOURS: tuple[Behaviour, ...] = ("good", "unsigned-body", "error", "http-500", "no-answer", "hang")
_ID_NAMESPACE = uuid.UUID("0d6f3b8e-61a4-4c3e-9a57-2f1e7c5b9d20")


@dataclass(frozen=True)
class ReceivedMessage:
    """One pushed user message as the endpoint received it."""

    message_id: str
    action: str
    ref_to_message_id: str | None
    from_party: str
    to_party: str
    payload: bytes  # the first business payload, decompressed
    content_type: str
    raw: bytes
    answered: Behaviour
    duplicate: bool  # the same MessageId was received before (a retry)
    client_cert_sha256: str | None  # the customs TLS client certificate


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes


class PushReceiver:
    """HTTPS AS4 endpoint of one trader; use as a context manager or start()/stop()."""

    def __init__(self, *, party_id: str, sealing_key: RSAPrivateKey, sealing_chain: Sequence[x509.Certificate],
                 server_cert: Path, server_key: Path, ca_file: Path, behaviour: Behaviour = "good",
                 host: str = "127.0.0.1", port: int = 0, path: str = "/as4", hang_seconds: float = 5.0,
                 now: Callable[[], datetime] | None = None) -> None:
        self.party_id = party_id
        self.behaviour: Behaviour = behaviour
        self.hang_seconds = hang_seconds
        self._key = sealing_key
        self._chain = list(sealing_chain)
        self._roots = tuple(x509.load_pem_x509_certificates(ca_file.read_bytes()))
        self._now = now or (lambda: datetime.now(UTC))
        self._path = path
        self._lock = threading.Condition()
        self._planned: list[Behaviour] = []
        self._received: list[ReceivedMessage] = []
        self.refused: list[str] = []  # messages answered with an error signal, and why
        self.tls_failures: list[str] = []  # connections that failed, e.g. a refused TLS handshake
        self._serial = itertools.count(1)
        self._closing = threading.Event()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED  # domain/ics2.md "Transport": two-way TLS
        context.load_cert_chain(str(server_cert), str(server_key))
        self._server = _TlsServer((host, port), _Handler, self, context)
        self._thread: threading.Thread | None = None

    @classmethod
    def from_files(cls, party_id: str, *, sealing_key: Path, sealing_chain: Path, server_cert: Path,
                   server_key: Path, ca_file: Path, **options: Any) -> PushReceiver:
        """Keys from a trader folder of the test PKI (sealing.key, sealing-chain.pem, ap.pem, ap.key)."""
        key = load_pem_private_key(sealing_key.read_bytes(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the sealing key must be RSA (ICD §4.3: RSA-SHA256)")
        chain = x509.load_pem_x509_certificates(sealing_chain.read_bytes())
        return cls(party_id=party_id, sealing_key=key, sealing_chain=chain, server_cert=server_cert,
                   server_key=server_key, ca_file=ca_file, **options)

    # -- life cycle --------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        raw_host, port = self._server.server_address[:2]
        host = raw_host.decode() if isinstance(raw_host, bytes) else str(raw_host)
        shown = f"[{host}]" if ":" in host else host
        return f"https://{shown}:{port}{self._path}"

    def start(self) -> PushReceiver:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="push-receiver", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # releases "hang" handlers at once
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> PushReceiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- what tests see and set --------------------------------------------------------------------------
    def plan(self, *behaviours: Behaviour) -> None:
        """Answer the next messages with these behaviours, in order; then `behaviour` again."""
        unknown = [b for b in behaviours if b not in BEHAVIOURS]
        if unknown:
            raise ValueError(f"unknown behaviour(s) {unknown}; known: {BEHAVIOURS}")
        with self._lock:
            self._planned.extend(behaviours)

    @property
    def received(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages were received (or `timeout` real seconds passed)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._received) >= count, timeout)
            return list(self._received)

    # -- one request -------------------------------------------------------------------------------------
    def handle(self, content_type: str, body: bytes, client_der: bytes | None) -> _Answer | None:
        """The answer to one POST; None = give no answer (the connection is closed)."""
        try:
            inbound = unpack(content_type, body)
        except EbmsError as exc:
            return self._refuse(exc, f"unreadable message: {exc.code} {exc.detail}")
        if inbound.kind != "user" or inbound.user_message is None:
            return self._refuse(EbmsError("EBMS:0004", f"expected a user message, received {inbound.kind}",
                                          ref_to_message_id=inbound.message_id), f"{inbound.kind} signal")
        untrusted = self._path_problem(inbound)
        if untrusted:
            return self._refuse(EbmsError("EBMS:0101", untrusted, ref_to_message_id=inbound.message_id),
                                f"{inbound.message_id}: {untrusted}")
        um = inbound.user_message
        with self._lock:
            behaviour = self._planned.pop(0) if self._planned else self.behaviour
            duplicate = any(m.message_id == inbound.message_id for m in self._received)
            self._received.append(ReceivedMessage(
                inbound.message_id, um.action, um.ref_to_message_id, um.from_party.party_id,
                um.to_party.party_id, inbound.payloads[0].content if inbound.payloads else b"", content_type,
                body, behaviour, duplicate, hashlib.sha256(client_der).hexdigest() if client_der else None))
            self._lock.notify_all()
        return self._answer(behaviour, inbound)

    def _answer(self, behaviour: Behaviour, inbound: InboundMessage) -> _Answer | None:
        if behaviour in ("good", "unsigned-body"):
            receipt = build_receipt(inbound, key=self._key, chain=self._chain, message_id=self._new_id("receipt"),
                                    timestamp=self._now(), sign_body=behaviour == "good")
            return _Answer(200, as4c.SOAP12_CONTENT_TYPE, receipt)
        if behaviour == "error":
            error = EbmsError("EBMS:0004", "the trader's endpoint refuses the message (test behaviour 'error')",
                              ref_to_message_id=inbound.message_id)
            return self._signal(error)
        if behaviour == "http-500":
            return _Answer(500, "text/plain; charset=utf-8", b"internal error (test behaviour 'http-500')")
        if behaviour == "hang":
            self._closing.wait(self.hang_seconds)
        return None  # "no-answer" and "hang": close without a response

    def note_failure(self, what: str) -> None:
        """A connection that ended in an exception (e.g. a refused TLS handshake)."""
        with self._lock:
            self.tls_failures.append(what)

    def _refuse(self, error: EbmsError, why: str) -> _Answer:
        with self._lock:
            self.refused.append(why)
        return self._signal(error)

    def _signal(self, error: EbmsError) -> _Answer:
        signal = build_error_signal([error], ref_to_message_id=error.ref_to_message_id,
                                    message_id=self._new_id("error"), timestamp=self._now(),
                                    key=self._key, chain=self._chain)
        return _Answer(200, as4c.SOAP12_CONTENT_TYPE, signal)

    def _new_id(self, kind: str) -> str:
        """MessageId = UUID@sender-host (ICD §4.2.1), numbered so that a replay gives the same ids."""
        value = uuid.uuid5(_ID_NAMESPACE, f"{self.party_id}:{kind}:{next(self._serial)}")
        return f"{value}@ap.{self.party_id.lower()}.icssim"

    def _path_problem(self, inbound: InboundMessage) -> str | None:
        """The customs seal must be a valid path to a trusted root (ICD §4.3), as for the trader's own
        messages; the cryptographic signature itself was verified by `unpack`."""
        signature = inbound.signature
        if signature is None or not signature.chain:
            return "the message is not signed"
        now = self._now()
        for cert in signature.chain:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                return f"certificate outside its validity: {cert.subject.rfc4514_string()}"
        for cert, issuer in itertools.pairwise(signature.chain):
            if not issued_by(cert, issuer):
                return f"broken sealing path at {cert.subject.rfc4514_string()}"
        top = signature.chain[-1]
        if any(top == root or issued_by(top, root) for root in self._roots):
            return None
        return f"sealed by an untrusted certificate ({top.subject.rfc4514_string()})"


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], receiver: PushReceiver,
                 context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.receiver = receiver
        # The handshake runs in each connection's own thread (see _Handler.setup), so a peer that
        # stalls or fails it never blocks the accept loop.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Refused handshakes are expected in tests (no client certificate): record them, print nothing.
        self.receiver.note_failure(f"{client_address[0]}: {sys.exc_info()[1]!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TlsServer

    def setup(self) -> None:
        sock: socket = self.request
        sock.settimeout(30)
        if isinstance(sock, ssl.SSLSocket):
            sock.do_handshake()
        super().setup()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        sock = self.request
        client_der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        answer = self.server.receiver.handle(self.headers.get("Content-Type", ""), body, client_der)
        if answer is None:
            self.close_connection = True
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the receiver's record is the log."""
