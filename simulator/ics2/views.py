"""ICS2 trader endpoint (Flask view: parse the HTTP request, hand it to the MSH, serialise the answer).

Views hold no rules (house style, after moto): the MSH and the filing desk decide; this module only
moves bytes and the TLS client certificate between HTTP and them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, request, stream_with_context

from simulator.codecs.as4.errors import EbmsError
from simulator.core.context import sim_context
from simulator.ics2.msh import Caller, Ics2Msh

log = logging.getLogger(__name__)
ics2_trader = Blueprint("ics2_trader", __name__)
MSH_KEY = "icssim.ics2.msh"
DRAIN_FACTOR = 4  # how much of an oversize body is read and dropped so the client gets its answer


def _client_certificate_der() -> bytes | None:
    """The TLS peer certificate, taken from the TLS socket (gunicorn) or the werkzeug dev server.

    Flask's test client passes it as environ["icssim.client_cert_der"]; nothing a remote caller sends
    can set that key.
    """
    environ = request.environ
    if "icssim.client_cert_der" in environ:
        der = environ["icssim.client_cert_der"]
        return der if isinstance(der, bytes) else None
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    der = getpeercert(binary_form=True)
    return der if isinstance(der, bytes) else None


def _read_body(limit: int) -> bytes | None:
    """The request body, or None when it is (announced as) larger than `limit`; then it is not read."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    data = request.stream.read(limit + 1)
    return None if len(data) > limit else data


def _answer_then_drain(answer: bytes, bound: int) -> Iterator[bytes]:
    """Send the answer at once, then read and drop the rest of an oversize body (up to `bound`).

    A client watching for an early answer gets it straight away; one that writes the whole request
    before reading finds its bytes consumed instead of a reset connection (RFC 9112 §9.6).
    """
    yield answer
    drained = 0
    try:
        while drained < bound:
            chunk = request.stream.read(min(1 << 20, bound - drained))
            if not chunk:
                break
            drained += len(chunk)
    except OSError:  # the client went away after reading its answer
        return


@ics2_trader.post("/ics2/as4")
def as4_endpoint() -> Response:
    msh: Ics2Msh = current_app.extensions[MSH_KEY]
    caller = Caller.from_der(_client_certificate_der())
    limit = sim_context().config.max_envelope_bytes
    body = _read_body(limit)
    try:
        if body is None:
            answer = msh.delivery.refuse(
                EbmsError("EBMS:0010", f"message larger than the limit of {limit} bytes (ICD Annex 2)"),
                None, b"", request.content_type or "", caller, sim_context().clock.now())
        else:
            answer = msh.handle(request.content_type or "", body, caller)
    except Exception:
        # Never a stack trace or HTTP 500 to the trader: an ebMS "Other" error, and the log has it.
        log.exception("unexpected failure on the ICS2 AS4 endpoint")
        answer = msh.delivery.refuse(
            EbmsError("EBMS:0004", "internal error of the simulator; the message was not accepted"),
            None, body or b"", request.content_type or "", caller, sim_context().clock.now())
    if body is not None:
        return Response(answer.body, status=answer.status, content_type=answer.content_type)
    drain = stream_with_context(_answer_then_drain(answer.body, DRAIN_FACTOR * limit))
    response = Response(drain, status=answer.status, content_type=answer.content_type)
    response.headers["Content-Length"] = str(len(answer.body))
    response.headers["Connection"] = "close"
    return response
