"""Whole-message pack/unpack: the check order of an MSH and the precise ebMS code of each refusal
(MIME EBMS:0007, XML/header EBMS:0009, signature EBMS:0101/0103, decompression EBMS:0303, size
EBMS:0010), on real multipart/related bodies."""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Callable

import pytest
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.envelope import build_user_message_envelope, serialise
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import UnpackLimits, pack_user_message, sent_references, unpack
from simulator.codecs.as4.model import PartInfo
from simulator.codecs.as4.wss import sign_envelope
from simulator.codecs.mime import MimePart, build_multipart_related, parse_multipart_related
from tests.unit.codec_fixtures import BILLION_LAUGHS_DTD, EB, filing, identity, payload_xml

GZ_XML = {c.PROPERTY_MIME_TYPE: "application/xml", c.PROPERTY_COMPRESSION_TYPE: c.GZIP_MEDIA_TYPE}


def _pack(payload: bytes | None = None, **options: object) -> tuple[str, bytes]:
    trader = identity()
    return pack_user_message(
        filing(),
        [("message", payload if payload is not None else payload_xml(), "application/xml")],
        key=trader.key,
        chain=trader.chain,
        **options,  # type: ignore[arg-type]
    )


def _refused(content_type: str, body: bytes, **options: object) -> EbmsError:
    with pytest.raises(EbmsError) as info:
        unpack(content_type, body, **options)  # type: ignore[arg-type]
    return info.value


def _raw_message(parts: dict[str, bytes], *, properties: dict[str, str] | None = None) -> tuple[str, bytes]:
    """A signed message whose attachment octets are exactly ``parts`` (for bad-gzip cases)."""
    trader = identity()
    infos = tuple(PartInfo(cid, properties if properties is not None else GZ_XML) for cid in parts)
    root = build_user_message_envelope(filing(part_infos=infos))
    sign_envelope(root, key=trader.key, chain=trader.chain, attachments=parts)
    attachments = [MimePart.make(cid, data, "application/gzip") for cid, data in parts.items()]
    return build_multipart_related(serialise(root), attachments)


def test_pack_then_unpack_round_trip() -> None:
    trader = identity()
    payload = payload_xml()
    content_type, body = _pack(payload)
    inbound = unpack(content_type, body)
    assert inbound.kind == "user"
    assert inbound.message_id == filing().message_id
    um = inbound.user_message
    assert um is not None
    assert dataclasses.replace(um, part_infos=()) == filing()
    assert um.part_infos == (
        PartInfo(
            "message",
            {"MimeType": "application/xml", "CharacterSet": "UTF-8", "CompressionType": c.GZIP_MEDIA_TYPE},
        ),
    )
    (part,) = inbound.payloads
    assert (part.content_id, part.content, part.mime_type, part.compressed) == (
        "message",
        payload,
        "application/xml",
        True,
    )
    assert inbound.signature is not None
    assert inbound.signature.chain == trader.chain
    assert inbound.envelope_bytes == parse_multipart_related(content_type, body).root.content
    assert inbound.payload("message") is part


def test_packing_is_deterministic() -> None:
    assert _pack() == _pack()


def test_uncompressed_and_several_payloads() -> None:
    trader = identity()
    content_type, body = pack_user_message(
        filing(),
        [
            ("message", payload_xml(), "application/xml"),
            ("scan", b"%PDF-1.7 binary\x00\xff", "application/pdf"),
        ],
        key=trader.key,
        chain=trader.chain,
        gzip_payloads=False,
    )
    inbound = unpack(content_type, body)
    assert [(p.content_id, p.compressed, p.mime_type) for p in inbound.payloads] == [
        ("message", False, "application/xml"),
        ("scan", False, "application/pdf"),
    ]
    assert inbound.payloads[1].content == b"%PDF-1.7 binary\x00\xff"


def test_ping_without_payload() -> None:
    trader = identity()
    um = filing(service=c.TEST_SERVICE, service_type=None, action=c.TEST_ACTION)
    content_type, body = pack_user_message(um, [], key=trader.key, chain=trader.chain)
    inbound = unpack(content_type, body)
    assert inbound.payloads == ()
    assert inbound.user_message is not None and inbound.user_message.action == c.TEST_ACTION


def test_sent_references_are_what_the_receiver_verified() -> None:
    content_type, body = _pack()
    inbound = unpack(content_type, body)
    assert inbound.signature is not None
    assert sent_references(content_type, body) == inbound.signature.references


# --- EBMS:0007 MIME ---------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/xml", "application/xml", "", "multipart/mixed; boundary=x"])
def test_wrong_content_type(content_type: str) -> None:
    _, body = _pack()
    assert _refused(content_type, body).code == "EBMS:0007"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda ct, body: (ct, body[: body.rindex(b"--")]),
        lambda ct, body: (ct.replace("boundary=", "x-boundary="), body),
        lambda ct, body: (ct.replace('start="<', 'start="<missing-'), body),
    ],
    ids=["no-closing-delimiter", "no-boundary", "start-not-found"],
)
def test_malformed_mime(mangle: Callable[[str, bytes], tuple[str, bytes]]) -> None:
    error = _refused(*mangle(*_pack()))
    assert error.code == "EBMS:0007"
    assert error.ref_to_message_id is None  # the message could not be read: no MessageId known


# --- EBMS:0009 XML / header ---------------------------------------------------------------------


def test_doctype_in_envelope_is_invalid_header() -> None:
    content_type, body = _pack()
    body = body.replace(
        b"<?xml version='1.0' encoding='UTF-8'?>", b"<?xml version='1.0'?>" + BILLION_LAUGHS_DTD
    )
    error = _refused(content_type, body)
    assert error.code == "EBMS:0009"
    assert "entity declarations refused" in error.detail


def test_second_messaging_injected_is_refused() -> None:
    content_type, body = _pack()
    mime = parse_multipart_related(content_type, body)
    root = etree.fromstring(mime.root.content)
    messaging = root.find(f".//{EB}Messaging")
    root[1].append(etree.fromstring(etree.tostring(messaging)))
    new_ct, new_body = build_multipart_related(etree.tostring(root), list(mime.attachments.values()))
    error = _refused(new_ct, new_body)
    assert (error.code, "exactly one allowed" in error.detail) == ("EBMS:0009", True)


# --- signature ---------------------------------------------------------------------------------


def test_tampered_attachment_on_the_wire() -> None:
    content_type, body = _pack()
    mime = parse_multipart_related(content_type, body)
    gz = mime.attachments["message"].content
    tampered = gzip.compress(gzip.decompress(gz).replace(b"LRN0001", b"LRN0002"), mtime=0)
    error = _refused(content_type, body.replace(gz, tampered))
    assert error.code == "EBMS:0101"
    assert "cid:message" in error.detail
    assert error.ref_to_message_id == filing().message_id


def test_unsigned_message_is_policy_noncompliance_unless_allowed() -> None:
    content_type, body = pack_user_message(
        filing(), [("message", b"<a/>", "application/xml")], key=None, chain=None
    )
    error = _refused(content_type, body)
    assert (error.code, error.detail) == ("EBMS:0103", "no wsse:Security header")
    inbound = unpack(content_type, body, limits=UnpackLimits(require_signature=False))
    assert inbound.signature is None
    assert inbound.payloads[0].content == b"<a/>"


def test_payload_not_covered_by_the_signature() -> None:
    trader = identity()
    gz = gzip.compress(b"<a/>", mtime=0)
    root = build_user_message_envelope(filing(part_infos=(PartInfo("message", GZ_XML),)))
    sign_envelope(root, key=trader.key, chain=trader.chain, attachments={})  # forgets the attachment
    content_type, body = build_multipart_related(
        serialise(root), [MimePart.make("message", gz, "application/gzip")]
    )
    error = _refused(content_type, body)
    assert (error.code, "not covered by the signature: cid:message" in error.detail) == ("EBMS:0103", True)


# --- EBMS:0303 decompression / EBMS:0010 size ------------------------------------------------------


def test_gzip_bomb_is_a_decompression_failure() -> None:
    bomb = gzip.compress(b"<a>" + b" " * (30 * 2**20) + b"</a>", compresslevel=9)
    content_type, body = _raw_message({"message": bomb})
    error = _refused(content_type, body, limits=UnpackLimits(max_uncompressed_bytes=2**20))
    assert error.code == "EBMS:0303"
    assert "gzip bomb guard" in error.detail and "ICD §4.2.6" in error.detail


@pytest.mark.parametrize(
    ("data", "detail"),
    [(b"<not-gzip/>", "not a gzip stream"), (gzip.compress(b"<a/>")[:-6], "truncated")],
    ids=["not-gzip", "truncated"],
)
def test_bad_gzip_is_a_decompression_failure(data: bytes, detail: str) -> None:
    error = _refused(*_raw_message({"message": data}))
    assert (error.code, detail in error.detail) == ("EBMS:0303", True)


def test_unsupported_compression_type() -> None:
    properties = {**GZ_XML, c.PROPERTY_COMPRESSION_TYPE: "application/x-bzip2"}
    error = _refused(*_raw_message({"message": b"BZh9"}, properties=properties))
    assert (error.code, "application/x-bzip2" in error.detail) == ("EBMS:0303", True)


def test_compressed_parts_over_the_limit() -> None:
    content_type, body = _pack()
    error = _refused(content_type, body, limits=UnpackLimits(max_compressed_bytes=100))
    assert error.code == "EBMS:0010"


def test_uncompressed_payload_over_the_limit() -> None:
    content_type, body = _pack(b"<a>" + b"x" * 5000 + b"</a>", gzip_payloads=False)
    error = _refused(content_type, body, limits=UnpackLimits(max_uncompressed_bytes=1000))
    assert (error.code, "exceeds 1000 bytes" in error.detail) == ("EBMS:0010", True)


def test_whole_body_over_the_limit_is_refused_before_parsing() -> None:
    content_type, body = _pack()
    error = _refused(content_type, body, limits=UnpackLimits(max_compressed_bytes=10, max_envelope_bytes=10))
    assert error.code == "EBMS:0010"


def test_envelope_over_the_limit() -> None:
    content_type, body = _pack()
    error = _refused(content_type, body, limits=UnpackLimits(max_envelope_bytes=1000))
    assert (error.code, "exceeds the limit" in error.detail) == ("EBMS:0009", True)
