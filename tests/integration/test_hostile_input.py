"""Hostile and malformed AS4 input sent raw over the mutual-TLS connection of a registered trader.

DESIGN.md "Rules of the house": bad input gets a precise protocol answer (an ebMS error signal), never an
HTTP 500, a stack trace or a half-written record; hostile XML (DTDs, entities, bombs, signature wrapping,
oversize, gzip bombs) is refused. Every case checks the same four things: HTTP status below 500 (and not
413), an answer that unpacks as a signed ebMS error signal with the expected code, exactly one journaled
rejection, and nothing registered, queued or receipted for it.
"""

from __future__ import annotations

import copy
import gzip
import http.client
import socket
import ssl
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree

from scenarios.client.ics2 import ENDPOINT_PATH
from scenarios.client.transport import HttpResponse, client_tls_context
from scenarios.simctl import SimControl
from simulator.codecs import mime
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.message import pack_user_message
from simulator.codecs.as4.model import PartInfo, PartyRef
from tests.integration.conftest import (
    SimHandle,
    describe,
    filing_payload,
    t2c_user_message,
    unpack_answer,
)

pytestmark = pytest.mark.slow

_MESSAGING = f"{{{as4c.NS_EB}}}Messaging"
_HEADER = f"{{{as4c.NS_SOAP12}}}Header"
_BODY = f"{{{as4c.NS_SOAP12}}}Body"


@dataclass(frozen=True)
class Wire:
    content_type: str
    body: bytes
    message_id: str | None  # the MessageId the simulator can read from it (None: unreadable)


class Builder:
    """Builds correct messages of trader-a (sealed with its registered key) and mangles them."""

    def __init__(self, sim: SimHandle) -> None:
        self.identity = sim.identity("trader-a")
        self.eori = self.identity.party_id

    def signed(self, *, sign: bool = True, sign_body: bool = True, payload: bytes | None = None,
               payloads: list[tuple[str, bytes, str]] | None = None, gzip_payloads: bool = True,
               part_infos: tuple[PartInfo, ...] = (), **header: Any) -> Wire:
        um = t2c_user_message(self.eori, part_infos=part_infos, **header)
        if payloads is None:
            payloads = [(f"payload-{uuid.uuid4()}@it.icssim.test",
                         payload if payload is not None else filing_payload(self.eori), "application/xml")]
        content_type, body = pack_user_message(
            um, payloads, key=self.identity.sealing_key if sign else None,
            chain=list(self.identity.sealing_chain), gzip_payloads=gzip_payloads, sign_body=sign_body)
        return Wire(content_type, body, um.message_id)


def _with_root(wire: Wire, change: Callable[[bytes], bytes], *, keeps_id: bool = True) -> Wire:
    """The same SwA message with its SOAP envelope bytes changed (attachments untouched)."""
    related = mime.parse_multipart_related(wire.content_type, wire.body)
    content_type, body = mime.build_multipart_related(change(related.root.content),
                                                      list(related.attachments.values()),
                                                      root_content_id=related.root.content_id)
    return Wire(content_type, body, wire.message_id if keeps_id else None)


def _with_tree(wire: Wire, change: Callable[[etree._Element], None], *, keeps_id: bool = True) -> Wire:
    def rewrite(envelope: bytes) -> bytes:
        root = etree.fromstring(envelope)  # our own bytes: a plain parser is fine here
        change(root)
        return bytes(etree.tostring(root))
    return _with_root(wire, rewrite, keeps_id=keeps_id)


def _prolog(declaration: bytes) -> Callable[[bytes], bytes]:
    def insert(envelope: bytes) -> bytes:
        if envelope.startswith(b"<?xml"):
            end = envelope.index(b"?>") + 2
            return envelope[:end] + b"\n" + declaration + b"\n" + envelope[end:]
        return declaration + b"\n" + envelope
    return insert


_BILLION_LAUGHS = b"""<!DOCTYPE env:Envelope [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>"""


def _billion_laughs(envelope: bytes) -> bytes:
    # Declare the bomb and expand it inside the ConversationId text.
    with_dtd = _prolog(_BILLION_LAUGHS)(envelope)
    return with_dtd.replace(b"</eb:ConversationId>", b"&lol9;</eb:ConversationId>", 1)


def _doctype_entity(envelope: bytes) -> bytes:
    with_dtd = _prolog(b'<!DOCTYPE env:Envelope [<!ENTITY sender "BE0123456789">]>')(envelope)
    return with_dtd.replace(b"</eb:ConversationId>", b"&sender;</eb:ConversationId>", 1)


def _forged_messaging(original: etree._Element, party_id: str) -> etree._Element:
    forged = copy.deepcopy(original)
    forged.attrib.pop(as4c.WSU_ID, None)
    forged.find(f".//{{{as4c.NS_EB}}}MessageId").text = f"{uuid.uuid4()}@forged.test"
    forged.find(f".//{{{as4c.NS_EB}}}From/{{{as4c.NS_EB}}}PartyId").text = party_id
    return forged


def _wrap_messaging_in_body(root: etree._Element) -> None:
    """Signature wrapping: a second, unsigned eb:Messaging put into the Body next to the signed one."""
    messaging = root.find(f"{_HEADER}/{_MESSAGING}")
    root.find(_BODY).append(_forged_messaging(messaging, "NL123456789"))


def _wrap_signed_messaging_away(root: etree._Element) -> None:
    """Classic XSW: the signed eb:Messaging moves into a wrapper (its wsu:Id still resolves for the
    signature), a forged one takes its place as the header block the MSH would process."""
    header = root.find(_HEADER)
    messaging = header.find(_MESSAGING)
    forged = _forged_messaging(messaging, "NL123456789")
    wrapper = etree.SubElement(header, "{urn:attacker}Wrapper")
    header.replace(messaging, forged)
    wrapper.append(messaging)


def _alter_signed_messaging(root: etree._Element) -> None:
    """The one eb:Messaging, still with its wsu:Id, says another Action than what was signed."""
    root.find(f".//{{{as4c.NS_EB}}}Action").text = "IE3F43"


def _tamper_attachment(wire: Wire) -> Wire:
    related = mime.parse_multipart_related(wire.content_type, wire.body)
    (part,) = related.attachments.values()
    changed = gzip.decompress(part.content).replace(b"</", b"<!-- changed --></", 1)
    tampered = mime.MimePart(dict(part.headers), gzip.compress(changed, mtime=0))
    content_type, body = mime.build_multipart_related(related.root.content, [tampered],
                                                      root_content_id=related.root.content_id)
    return Wire(content_type, body, wire.message_id)


def _content_type_without(wire: Wire, parameter: str) -> Wire:
    kept = [p for p in wire.content_type.split(";") if not p.strip().lower().startswith(parameter + "=")]
    return Wire(";".join(kept), wire.body, None)


def _without_closing_delimiter(wire: Wire) -> Wire:
    body = wire.body.rstrip()
    assert body.endswith(b"--")
    cut = body.rindex(b"\r\n--")  # the closing delimiter line and everything after it
    return Wire(wire.content_type, body[:cut], None)


def _missing_start_part(wire: Wire) -> Wire:
    media, params = mime.parse_content_type(wire.content_type)
    content_type = (f'{media}; type="{params["type"]}"; boundary="{params["boundary"]}"; '
                    f'start="<no-such-part@it.icssim.test>"')
    return Wire(content_type, wire.body, None)


# -- the cases ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    build: Callable[[Builder], Wire]
    codes: tuple[str, ...]  # acceptable ebMS error codes (the first is the one expected today)
    mention: str | None = None  # a word the error detail must contain


CASES: dict[str, Case] = {
    # XML hardening of the SOAP envelope (ebMS3 §6.6 EBMS:0009 InvalidHeader; OWASP XXE).
    "doctype-with-entity": Case(lambda b: _with_root(b.signed(), _doctype_entity, keeps_id=False),
                                ("EBMS:0009",), "DTD"),
    "doctype-external-dtd": Case(lambda b: _with_root(b.signed(), _prolog(
        b'<!DOCTYPE env:Envelope SYSTEM "file:///etc/passwd">'), keeps_id=False), ("EBMS:0009",), "DTD"),
    "billion-laughs": Case(lambda b: _with_root(b.signed(), _billion_laughs, keeps_id=False),
                           ("EBMS:0009",), "entity"),
    # MIME structure (ebMS3 §6.7 EBMS:0007 MimeInconsistency; RFC 2046 §5.1.1, RFC 2387 §3.2).
    "mime-no-boundary": Case(lambda b: _content_type_without(b.signed(), "boundary"), ("EBMS:0007",),
                             "boundary"),
    "mime-no-closing-delimiter": Case(lambda b: _without_closing_delimiter(b.signed()), ("EBMS:0007",),
                                      "closing delimiter"),
    "mime-missing-start-part": Case(lambda b: _missing_start_part(b.signed()), ("EBMS:0007",), "start"),
    # Signature wrapping (ebMS3 §5.2.1: exactly one eb:Messaging; XML-DSig reference integrity).
    "xsw-second-messaging-in-body": Case(
        lambda b: _with_tree(b.signed(), _wrap_messaging_in_body, keeps_id=False),
        ("EBMS:0009",), "eb:Messaging"),
    "xsw-signed-messaging-wrapped": Case(
        lambda b: _with_tree(b.signed(), _wrap_signed_messaging_away, keeps_id=False),
        ("EBMS:0009",), "eb:Messaging"),
    "messaging-altered-after-signing": Case(lambda b: _with_tree(b.signed(), _alter_signed_messaging),
                                            ("EBMS:0101",), "digest"),
    # P-Modes of the HTI (ICD §4.2.2; EBMS:0010 ProcessingModeMismatch, EBMS:0003 ValueInconsistent).
    "wrong-service": Case(lambda b: b.signed(service="urn:example:other-service"), ("EBMS:0010",),
                          "Service"),
    "wrong-service-type": Case(lambda b: b.signed(service_type="other-type"), ("EBMS:0010",), "Service"),
    "unknown-action": Case(lambda b: b.signed(action="IE3F99"), ("EBMS:0010",), "IE3F99"),
    "customs-to-trader-action": Case(lambda b: b.signed(action="IE3R01"), ("EBMS:0010",), "IE3R01"),
    "wrong-agreement-ref": Case(lambda b: b.signed(agreement_ref="EU-ICS2-TI-V9.9"), ("EBMS:0010",),
                                "AgreementRef"),
    "wrong-agreement-type": Case(lambda b: b.signed(agreement_type="other-version-scheme"), ("EBMS:0010",),
                                 "AgreementRef"),
    "from-partyid-type-auth": Case(lambda b: b.signed(from_party=PartyRef(
        b.eori, as4c.PARTY_TYPE_AUTH, as4c.ROLE_TRADER)), ("EBMS:0010", "EBMS:0003"), "PartyId"),
    "from-role-customs": Case(lambda b: b.signed(from_party=PartyRef(
        b.eori, as4c.PARTY_TYPE_EORI, as4c.ROLE_CUSTOMS)), ("EBMS:0010", "EBMS:0003"), "Role"),
    "to-role-trader": Case(lambda b: b.signed(to_party=PartyRef(
        as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_TRADER)), ("EBMS:0010", "EBMS:0003"), "Role"),
    "to-partyid-not-sti": Case(lambda b: b.signed(to_party=PartyRef(
        "sti-other", as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS)), ("EBMS:0010", "EBMS:0003"), "sti-taxud"),
    "from-partyid-not-an-eori": Case(lambda b: b.signed(from_party=PartyRef(
        "not an eori", as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER)), ("EBMS:0003", "EBMS:0010"), "EORI"),
    # WS-Security policy (ICD §4.3, Annex 5/6; EBMS:0103 PolicyNoncompliance, EBMS:0101 FailedAuthentication).
    "unsigned": Case(lambda b: b.signed(sign=False), ("EBMS:0103",), "Security"),
    "body-not-signed": Case(lambda b: b.signed(sign_body=False), ("EBMS:0103",), "Body"),
    "attachment-tampered": Case(lambda b: _tamper_attachment(b.signed()), ("EBMS:0101",), "digest"),
    # One business payload per message (ICD §4.2.3).
    "two-business-payloads": Case(lambda b: b.signed(payloads=[
        ("first@it.icssim.test", filing_payload(b.eori), "application/xml"),
        ("second@it.icssim.test", filing_payload(b.eori), "application/xml")]), ("EBMS:0010",), "payload"),
    # Compression (AS4 §3.1: a payload that does not decompress is EBMS:0303 DecompressionFailure).
    "corrupt-gzip-payload": Case(lambda b: b.signed(
        payloads=[("corrupt@it.icssim.test", b"\x1f\x8b\x08\x00not really gzip", "application/gzip")],
        gzip_payloads=False, part_infos=(PartInfo("corrupt@it.icssim.test", {
            as4c.PROPERTY_MIME_TYPE: "application/xml",
            as4c.PROPERTY_COMPRESSION_TYPE: as4c.GZIP_MEDIA_TYPE}),)), ("EBMS:0303",), "gzip"),
}


def assert_refused(control: SimControl, response: HttpResponse, codes: tuple[str, ...],
                   mention: str | None, message_id: str | None) -> None:
    """The four checks every refusal must pass (see the module docstring)."""
    assert response.status < 500 and response.status != 413, (response.status, response.body[:300])
    answer = unpack_answer(response)  # a signed, well-formed ebMS message
    assert answer.kind == "error", f"expected an ebMS error signal, got {describe(response)}"
    assert answer.signature is not None, "the error signal is not signed"
    found = [e for e in answer.errors if e.code in codes]
    assert found, f"expected one of {codes}, got {describe(response)}"
    entry = found[0]
    if mention is not None:
        assert mention.lower() in (entry.detail or "").lower(), f"{mention!r} not in {entry.detail!r}"
    if message_id is not None:
        assert entry.ref_to_message_in_error == message_id
    inbound = control.journal(direction="in")
    assert len(inbound) == 1, inbound
    assert inbound[0]["verdict"] == "rejected", inbound
    assert (inbound[0]["error_code"] or "").split("/")[0] == entry.code, inbound
    if message_id is not None:
        assert inbound[0]["message_id"] == message_id
    assert [e["kind"] for e in control.journal(direction="out")] == ["error"], "only the error signal left"
    assert control.ics2_ens() == [], "no half-written state: nothing registered"
    assert control.outbox() == [], "no half-written state: nothing queued"


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_or_malformed_message_gets_a_precise_ebms_error(sim: SimHandle, name: str) -> None:
    """DESIGN.md "Bad input gets a precise protocol answer" and "Hostile XML is refused"; the clause of
    each case is noted beside it in CASES (ebMS3 §5.2.1/§6.6/§6.7, ICD §4.2/§4.3, AS4 §3.1, RFC 2046)."""
    case = CASES[name]
    wire = case.build(Builder(sim))
    response = sim.post(wire.content_type, wire.body)
    assert_refused(sim.control, response, case.codes, case.mention, wire.message_id)


def _gzip_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(2**20)
    return b"".join([*(compressor.compress(block) for _ in range(size // 2**20)), compressor.flush()])


def test_gzip_bomb_is_refused_quickly_and_the_server_stays_up(sim: SimHandle) -> None:
    """AS4 §3.1 (EBMS:0303 DecompressionFailure) and ICD §4.2.6 (100 MB uncompressed): a correctly
    signed payload that inflates to 200 MB is stopped at the limit, answered within seconds, and the
    simulator keeps serving."""
    limit = int(sim.run_config()["max_uncompressed_bytes"])
    bomb = _gzip_zeros(2 * limit)
    assert len(bomb) < 2**20  # a few hundred kilobytes on the wire
    cid = "bomb@it.icssim.test"
    properties = {as4c.PROPERTY_MIME_TYPE: "application/xml", as4c.PROPERTY_CHARACTER_SET: "UTF-8",
                  as4c.PROPERTY_COMPRESSION_TYPE: as4c.GZIP_MEDIA_TYPE}
    # The bomb itself is signed: only decompression can stop it.
    wire = Builder(sim).signed(payloads=[(cid, bomb, "application/gzip")], gzip_payloads=False,
                               part_infos=(PartInfo(cid, properties),))
    started = time.monotonic()
    response = sim.post(wire.content_type, wire.body)
    elapsed = time.monotonic() - started
    assert_refused(sim.control, response, ("EBMS:0303", "EBMS:0010"), None, wire.message_id)
    assert elapsed < 15, f"the bomb took {elapsed:.1f}s to refuse"
    assert sim.local.process is not None and sim.local.process.poll() is None
    ping = sim.client("trader-a").ping()
    assert ping.receipt and ping.problems == [], describe(ping.http)


def _trader_tls_socket(sim: SimHandle) -> ssl.SSLSocket:
    files = sim.pki.trader("trader-a")
    context = client_tls_context(sim.pki.trust_bundle, files.tls_cert, files.tls_key)
    raw = socket.create_connection(("127.0.0.1", sim.local.trader_port), timeout=60)
    return context.wrap_socket(raw, server_hostname="localhost")


def _read_response(sock: ssl.SSLSocket) -> HttpResponse:
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    try:
        return HttpResponse(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        response.close()


def _oversize_parts(sim: SimHandle, total: int) -> tuple[str, bytes, int, bytes]:
    """A correct signed SwA message padded with one extra part to `total` bytes:
    (Content-Type, head, number of filler octets, tail)."""
    wire = Builder(sim).signed()
    boundary = mime.parse_content_type(wire.content_type)[1]["boundary"].encode()
    closing = b"--" + boundary + b"--"
    head = wire.body[:wire.body.rindex(closing)] + (
        b"--" + boundary + b"\r\nContent-Type: application/octet-stream\r\n"
        b"Content-ID: <padding@it.icssim.test>\r\n\r\n")
    tail = b"\r\n" + closing + b"\r\n"
    return wire.content_type, head, total - len(head) - len(tail), tail


def _filler(count: int) -> Iterator[bytes]:
    block = b"x" * 2**16
    for _ in range(count // len(block)):
        yield block
    yield b"x" * (count % len(block))


def test_oversize_message_is_answered_from_its_content_length(sim: SimHandle) -> None:
    """ICD §4.2.6 / Annex 2 (size limits are P-Mode settings) and DESIGN.md "precise protocol answer": a
    message whose Content-Length is over the configured envelope limit is answered with an ebMS error
    signal (EBMS:0010) before its body is read, never with HTTP 413 or 500. The client here watches for
    an early answer while sending (RFC 9112 §9.3), so it stops after the first 64 KiB."""
    limit = int(sim.run_config()["max_envelope_bytes"])
    content_type, head, filler, tail = _oversize_parts(sim, limit + 2**20)
    sock = _trader_tls_socket(sim)
    try:
        sock.sendall(f"POST {ENDPOINT_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(head) + filler + len(tail)}\r\n\r\n".encode("latin-1"))
        sock.sendall(head + b"x" * 2**16)
        response = _read_response(sock)
    finally:
        sock.close()
    assert_refused(sim.control, response, ("EBMS:0010",), "limit", None)


def test_oversize_message_sent_in_full_still_gets_the_ebms_error(sim: SimHandle) -> None:
    """ICD §4.2.6 / Annex 2 and DESIGN.md "precise protocol answer" (never a bare connection failure): a
    client that writes the whole over-limit message before reading (Python http.client, Java
    HttpURLConnection, most AS4 stacks) must still receive the EBMS:0010 error signal; RFC 9112 §9.6: a
    server that answers before reading the body must not reset the connection under the client."""
    limit = int(sim.run_config()["max_envelope_bytes"])
    content_type, head, filler, tail = _oversize_parts(sim, limit + 2**20)
    files = sim.pki.trader("trader-a")
    context = client_tls_context(sim.pki.trust_bundle, files.tls_cert, files.tls_key)
    conn = http.client.HTTPSConnection("localhost", sim.local.trader_port, context=context, timeout=60)
    try:
        try:
            conn.request("POST", ENDPOINT_PATH, body=head + b"x" * filler + tail,
                         headers={"Content-Type": content_type})
            raw = conn.getresponse()
            response = HttpResponse(raw.status, raw.getheader("Content-Type", ""), raw.read())
        except (ssl.SSLError, ConnectionError) as exc:
            pytest.fail(f"the simulator dropped the connection instead of answering the ebMS error: {exc!r}; "
                        f"journal: {sim.control.journal(direction='in')}")
    finally:
        conn.close()
    assert_refused(sim.control, response, ("EBMS:0010",), "limit", None)


def test_oversize_chunked_message_gets_an_ebms_error(sim: SimHandle) -> None:
    """ICD §4.2.6 / Annex 2 and DESIGN.md "precise protocol answer": an over-limit message whose size is
    not announced (chunked transfer coding) is read up to the limit only and answered with EBMS:0010,
    not HTTP 413 or 500."""
    limit = int(sim.run_config()["max_envelope_bytes"])
    content_type, head, filler, tail = _oversize_parts(sim, limit + 2**14)

    def chunks() -> Iterator[bytes]:
        yield head
        yield from _filler(filler)
        yield tail

    files = sim.pki.trader("trader-a")
    context = client_tls_context(sim.pki.trust_bundle, files.tls_cert, files.tls_key)
    conn = http.client.HTTPSConnection("localhost", sim.local.trader_port, context=context, timeout=60)
    try:
        conn.request("POST", ENDPOINT_PATH, body=chunks(), headers={"Content-Type": content_type},
                     encode_chunked=True)
        raw = conn.getresponse()
        response = HttpResponse(raw.status, raw.getheader("Content-Type", ""), raw.read())
    finally:
        conn.close()
    assert_refused(sim.control, response, ("EBMS:0010",), "limit", None)
