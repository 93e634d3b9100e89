"""Push delivery of customs-to-trader messages to the trader's own AS4 endpoint, with reception awareness.

domain/ics2.md "AS4 profile": for c2t each trader chooses push (its own AS4 endpoint) or pull; the trader
must return a signed receipt that signs the (empty) Body, and an incorrectly signed receipt means the
message counts as never delivered; reception awareness with retries; priority classes A/B/C order the
outbox under backlog. Routing puts push messages in queue PUSH_QUEUE_PREFIX + PartyId with
meta["ap_url"] (https) besides the usual meta (agreement, timestamp).

One attempt: claim the next due message (priority class, then FIFO), pack it (signed once; retries send
the same bytes), journal it as sent, POST it over mutual TLS (the simulator's push-client certificate;
the AP's server certificate must chain to the test root), judge the synchronous answer:
- a receipt that passes the checks shared with pull (`delivery.receipt_problems`) and whose sealing
  path is trusted -> delivered;
- an ebMS error signal, a non-2xx answer, an unreadable or bad receipt, a timeout or a refused
  connection -> the attempt failed; attempt n schedules attempt n+1 after
  push_retry_seconds * 2**(n-1) of SIMULATED time; after push_max_attempts -> undelivered.
Every attempt and every answer (or its absence) is journaled with its verdict and problems.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask

from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import unpack
from simulator.core import journal
from simulator.core import outbox as outbox_api
from simulator.core.clock import iso
from simulator.core.context import SimContext
from simulator.core.journal import JournalEntry
from simulator.core.outbox import OutboxMessage
from simulator.core.ticker import ticker_for
from simulator.ics2.delivery import PROFILE, PUSH_QUEUE_PREFIX, C2tDelivery, receipt_problems
from simulator.trust.material import SecurityMaterial
from simulator.trust.registry import PartyRegistry, certificate_sha256

__all__ = ["PUSH_QUEUE_PREFIX", "AttemptOutcome", "PushDispatcher", "backoff_delay", "start_push_delivery"]
_log = logging.getLogger("simulator.ics2.push")


def backoff_delay(retry_seconds: float, attempt: int) -> timedelta:
    """Wait after failed attempt number `attempt` (1-based): retry_seconds * 2**(attempt-1)."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    return timedelta(seconds=retry_seconds * 2 ** (attempt - 1))


@dataclass(frozen=True)
class AttemptOutcome:
    """What came back for one push attempt, as journaled ("in" entry)."""

    kind: str  # receipt | error | http | transport (no answer at all)
    problems: list[str] = field(default_factory=list)  # empty = delivered
    status: int | None = None
    content_type: str | None = None
    body: bytes | None = None
    signal_id: str | None = None  # MessageId of the signal that came back
    error_code: str | None = None
    peer_cert_sha256: str | None = None  # the AP's TLS server certificate

    @property
    def delivered(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Exchange:
    status: int
    content_type: str
    body: bytes
    peer_cert_sha256: str | None


class PushDispatcher:
    """Makes the due push attempts; one run at a time per process (clock hooks and the ticker share it)."""

    def __init__(self, ctx: SimContext, material: SecurityMaterial, delivery: C2tDelivery) -> None:
        self._ctx = ctx
        self._material = material
        self._delivery = delivery
        self._registry = PartyRegistry(ctx.store, PROFILE)
        self._tls: ssl.SSLContext | None = None
        self._run_lock = threading.Lock()

    @property
    def max_attempts(self) -> int:
        return self._ctx.config.push_max_attempts

    def run_once(self, now: datetime) -> int:
        """Make every push attempt due at simulated time `now`; returns the number of attempts made."""
        cfg = self._ctx.config
        with self._run_lock:
            outbox_api.expire_attempts(self._ctx.store, PUSH_QUEUE_PREFIX, now=now, max_attempts=self.max_attempts)
            attempts = 0
            while True:
                try:
                    message = outbox_api.claim_due(
                        self._ctx.store, PUSH_QUEUE_PREFIX, now=now, max_attempts=self.max_attempts,
                        retry_delay=lambda n: backoff_delay(cfg.push_retry_seconds, n),
                        pack=lambda m: self._pack(m, now))
                except _Unpackable:
                    continue  # that message is now undelivered; the next one may go
                if message is None:
                    return attempts
                self._attempt(message, now)
                attempts += 1

    def _pack(self, message: OutboxMessage, now: datetime) -> tuple[str, bytes, list[str]]:
        """Sign once (delivery.pack). A message that cannot be packed (e.g. meta without a timestamp)
        would head the queue forever: it becomes undelivered with the reason instead."""
        try:
            return self._delivery.pack(message)
        except Exception as exc:
            _log.exception("push message %s cannot be packed", message.message_id)
            with self._ctx.store.write() as conn:
                outbox_api.mark(conn, message.message_id, state="undelivered", at=now,
                                detail=f"the message cannot be packed for sending: {exc!r}")
            raise _Unpackable(message.message_id) from exc

    # -- one attempt -----------------------------------------------------------------------------------
    def _attempt(self, message: OutboxMessage, now: datetime) -> None:
        assert message.envelope is not None and message.content_type is not None
        n = message.attempts
        # Journal first (DESIGN.md "Durability"): what left is on record even if the process dies now.
        journal.record_alone(self._ctx.store, JournalEntry(
            PROFILE, "out", "as4", "user", "sent", iso(now), message_id=message.message_id,
            ref_to_message_id=message.ref_to_message_id, action=message.action, sender=as4c.STI_PARTY_ID,
            receiver=message.party, queue=message.queue, correlation=message.correlation,
            content_type=message.content_type, raw=message.envelope, payload=message.payload,
            detail=f"push attempt {n}"))
        outcome = self._send(message, now)
        reasons = "; ".join(outcome.problems)
        with self._ctx.store.write() as conn:
            journal.record(conn, JournalEntry(
                PROFILE, "in", "as4", outcome.kind, "delivered" if outcome.delivered else "not-delivered",
                iso(now), message_id=outcome.signal_id, ref_to_message_id=message.message_id,
                action=message.action, sender=None if outcome.kind == "transport" else message.party,
                receiver=as4c.STI_PARTY_ID, queue=message.queue,
                correlation=message.correlation, content_type=outcome.content_type, raw=outcome.body,
                error_code=outcome.error_code, peer_cert_sha256=outcome.peer_cert_sha256,
                detail=f"push attempt {n}: {reasons}" if reasons else f"push attempt {n}: receipt accepted"))
            if outcome.delivered:
                outbox_api.mark(conn, message.message_id, state="delivered", at=now)
                return
            history = "\n".join(filter(None, [message.detail, f"attempt {n}: {reasons}"]))
            if n >= self.max_attempts:
                outbox_api.mark(conn, message.message_id, state="undelivered", at=now,
                                detail=f"no valid receipt after {n} push attempts\n{history}")
            else:
                outbox_api.mark(conn, message.message_id, state="sent", at=now, detail=history)

    def _send(self, message: OutboxMessage, now: datetime) -> AttemptOutcome:
        url = str(message.meta.get("ap_url") or "")
        try:
            exchange = self._post(url, message.content_type or "", message.envelope or b"")
        except _NoAnswer as exc:
            return AttemptOutcome("transport", [str(exc)])
        return self._judge(message, exchange, now)

    # -- transport -------------------------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext:
        """Mutual TLS >= 1.2 (domain/ics2.md "Transport"): our push-client certificate, their server
        certificate checked (with its host name) against the test root. Built once, on first use."""
        if self._tls is None:
            pki = self._ctx.config.pki
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca" / "root.pem"))
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(pki / "server" / "push-client.pem"), str(pki / "server" / "push-client.key"))
            self._tls = context
        return self._tls

    def _post(self, url: str, content_type: str, body: bytes) -> _Exchange:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise _NoAnswer(f"the party's AP URL {url!r} is not an https:// URL (meta ap_url)")
        timeout = self._ctx.config.push_timeout_seconds
        try:
            context = self._tls_context()
        except (OSError, ssl.SSLError) as exc:
            raise _NoAnswer(f"the push client certificate cannot be loaded (run: icssim certs init): {exc}") from exc
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, context=context, timeout=timeout)
        where = f"{parts.hostname}:{parts.port or 443}"
        try:
            conn.connect()
            peer = conn.sock.getpeercert(binary_form=True) if conn.sock is not None else None
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", target, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            data = response.read()
            return _Exchange(response.status, response.getheader("Content-Type", ""), data,
                             hashlib.sha256(peer).hexdigest() if peer else None)
        except ssl.SSLCertVerificationError as exc:
            raise _NoAnswer(f"the AP's TLS server certificate was refused ({where}): {exc.verify_message}") from exc
        except TimeoutError as exc:
            raise _NoAnswer(f"no answer from {where} within {timeout:g} s") from exc
        except ConnectionRefusedError as exc:
            raise _NoAnswer(f"connection refused by {where}") from exc
        except http.client.RemoteDisconnected as exc:
            raise _NoAnswer(f"{where} closed the connection without answering") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _NoAnswer(f"transport failure with {where}: {exc!r}") from exc
        finally:
            conn.close()

    # -- the answer ------------------------------------------------------------------------------------
    def _judge(self, message: OutboxMessage, got: _Exchange, now: datetime) -> AttemptOutcome:
        """ICD §4.6.2 / domain/ics2.md "Receipts": only a valid signed receipt on the response counts."""
        if not 200 <= got.status < 300:
            return _answered(got, "http", [f"HTTP {got.status} instead of a signed receipt"],
                             error_code=f"HTTP {got.status}")
        if not got.body:
            return _answered(got, "http", [f"HTTP {got.status} without a receipt (receipts are synchronous)"])
        try:
            signal = unpack(got.content_type, got.body)
        except EbmsError as exc:
            return _answered(got, "http", [f"the answer is not a valid AS4 signal: {exc.code} {exc.detail}"],
                             error_code=exc.code)
        if signal.kind == "error":
            texts = "; ".join(f"{e.code} {e.detail or e.short_description or ''}".strip() for e in signal.errors)
            return _answered(got, "error", [f"the party answered with an ebMS error: {texts}"],
                             signal_id=signal.message_id, error_code=", ".join(e.code for e in signal.errors))
        if signal.kind != "receipt":
            return _answered(got, "http", [f"expected a Receipt signal, received a {signal.kind} message"],
                             signal_id=signal.message_id, error_code="EBMS:0302")
        problems: list[str] = []
        signer_parties: set[str] = set()
        if signal.signature is not None and signal.signature.chain:
            # As for every message from a trader (ICD §4.3): a trusted, valid path, registered for the party.
            chain = signal.signature.chain
            verdict = self._material.trust.evaluate(chain, at=now, purpose="sealing")
            if not verdict.ok:
                problems.append(f"the receipt's sealing certificate is {verdict.condition}: {verdict.detail}")
            signer_parties = self._registry.parties_for(certificate_sha256(chain[0]), "sealing")
        problems += [p for p in receipt_problems(signal, message, signer_parties) if p not in problems]
        return _answered(got, "receipt", problems, signal_id=signal.message_id,
                         error_code="EBMS:0302" if problems else None)


def _answered(got: _Exchange, kind: str, problems: list[str], *, signal_id: str | None = None,
              error_code: str | None = None) -> AttemptOutcome:
    return AttemptOutcome(kind, problems, got.status, got.content_type or None, got.body, signal_id, error_code,
                          got.peer_cert_sha256)


class _NoAnswer(Exception):
    """The attempt got no HTTP answer at all (or could not be made); the text says why."""


class _Unpackable(Exception):
    """A claimed message could not be signed; it was marked undelivered."""


def start_push_delivery(app: Flask, ctx: SimContext, *, background: bool) -> PushDispatcher | None:
    """Wire push delivery into a control app: every clock advance makes the attempts now due, and with
    `background` the process's ticker looks every background_interval_seconds (control role only).

    Without a test PKI nothing can be signed, so there is no push delivery (None, logged): a control
    API alone (e.g. in unit tests) still works.
    """
    try:
        material = SecurityMaterial.from_pki(ctx.config.pki)
    except FileNotFoundError as exc:
        _log.warning("push delivery is off: %s", exc)
        return None
    dispatcher = PushDispatcher(ctx, material, C2tDelivery(ctx, material, PartyRegistry(ctx.store, PROFILE)))

    def push_due(now: datetime) -> None:
        dispatcher.run_once(now)

    ctx.clock_hooks.append(push_due)
    ticker = ticker_for(app, ctx)
    ticker.add("ics2-push", lambda: dispatcher.run_once(ctx.clock.now()))
    if background:
        ticker.start()
    return dispatcher
