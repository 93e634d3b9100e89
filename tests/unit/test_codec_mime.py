"""multipart/related for SOAP with Attachments (RFC 2046 §5.1.1, RFC 2387, RFC 2392)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator.codecs.mime import (
    MimeError,
    MimePart,
    build_multipart_related,
    parse_content_type,
    parse_multipart_related,
)

ENVELOPE = b'<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>'
CT = 'multipart/related; type="application/soap+xml"; boundary=XX; start="<root@x>"'


def _body(*parts: bytes, newline: bytes = b"\r\n", boundary: bytes = b"XX") -> bytes:
    out = b"preamble to ignore" + newline
    for part in parts:
        out += b"--" + boundary + newline + part + newline
    return out + b"--" + boundary + b"--" + newline + b"epilogue"


ROOT_PART = b"Content-Type: application/soap+xml\r\nContent-ID: <root@x>\r\n\r\n" + ENVELOPE


def test_build_then_parse_round_trip() -> None:
    payload = b"\x1f\x8b\x00binary\r\n--XX\r\n\x00\xff" * 50  # CRLF and boundary-like octets survive
    content_type, body = build_multipart_related(
        ENVELOPE, [MimePart.make("message", payload, "application/gzip")], root_content_id="env@x"
    )
    assert content_type.startswith('multipart/related; type="application/soap+xml"; boundary=MIMEBoundary_')
    assert content_type.endswith('; start="<env@x>"')
    parsed = parse_multipart_related(content_type, body)
    assert parsed.root.content == ENVELOPE
    assert parsed.root.content_id == "env@x"
    assert parsed.root.content_type == "application/soap+xml; charset=UTF-8"
    assert list(parsed.attachments) == ["message"]
    part = parsed.attachments["message"]
    assert part.content == payload
    assert part.headers["content-transfer-encoding"] == "binary"
    assert part.content_type == "application/gzip"


def test_build_is_deterministic() -> None:
    parts = [MimePart.make("a", b"1", "text/plain")]
    assert build_multipart_related(ENVELOPE, parts) == build_multipart_related(ENVELOPE, parts)


def test_root_is_the_start_part_even_when_not_first() -> None:
    other = b"Content-Type: application/gzip\r\nContent-ID: <message>\r\n\r\nDATA"
    parsed = parse_multipart_related(CT, _body(other, ROOT_PART))
    assert parsed.root.content == ENVELOPE
    assert parsed.attachments["message"].content == b"DATA"


def test_first_part_is_root_without_start_parameter() -> None:
    other = b"Content-ID: <message>\r\n\r\nDATA"
    parsed = parse_multipart_related("multipart/related; boundary=XX", _body(ROOT_PART, other))
    assert parsed.root.content == ENVELOPE
    assert parsed.params == {"boundary": "XX"}


def test_bare_lf_line_endings_are_accepted() -> None:
    root = ROOT_PART.replace(b"\r\n", b"\n")
    other = b"Content-ID: <message>\n\nDATA\r\n"  # a CRLF inside content stays content
    parsed = parse_multipart_related(CT, _body(root, other, newline=b"\n"))
    assert parsed.root.content == ENVELOPE
    assert parsed.attachments["message"].content == b"DATA\r\n"


def test_headers_are_lower_cased_unfolded_and_content_ids_normalised() -> None:
    """The ICD Annex 6 example writes "Content-ID: < ics2@trader.com >" with blanks."""
    root = (
        b"CONTENT-TYPE: application/soap+xml;\r\n\tcharset=UTF-8\r\ncontent-id: < ics2@trader.com >\r\n\r\n"
    )
    ct = 'Multipart/Related; boundary="XX"; type=text/xml; start="<ics2@trader.com>"'
    parsed = parse_multipart_related(ct, _body(root + ENVELOPE))
    assert parsed.root.headers["content-type"] == "application/soap+xml; charset=UTF-8"
    assert parsed.root.content_id == "ics2@trader.com"


def test_transfer_encodings_are_decoded() -> None:
    b64 = b"Content-ID: <b>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(
        b"\x00\x01binary"
    )
    qp = b"Content-ID: <q>\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9"
    eight = b"Content-ID: <e>\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9"
    parsed = parse_multipart_related(CT, _body(ROOT_PART, b64, qp, eight))
    assert parsed.attachments["b"].content == b"\x00\x01binary"
    assert parsed.attachments["q"].content == "café".encode()
    assert parsed.attachments["e"].content == "é".encode()


def test_a_line_merely_starting_with_the_delimiter_is_content() -> None:
    other = b"Content-ID: <m>\r\n\r\nline\r\n--XXnot-a-delimiter\r\nend"
    parsed = parse_multipart_related(CT, _body(ROOT_PART, other))
    assert parsed.attachments["m"].content == b"line\r\n--XXnot-a-delimiter\r\nend"


def test_part_without_headers() -> None:
    parsed = parse_multipart_related("multipart/related; boundary=XX", _body(b"\r\n" + ENVELOPE))
    assert parsed.root.headers == {}
    assert parsed.root.content == ENVELOPE


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/soap+xml", _body(ROOT_PART), "is not multipart/related"),
        ("multipart/related; type=x", _body(ROOT_PART), "no boundary"),
        ("multipart/related; boundary=" + "b" * 71, _body(ROOT_PART), "exceeds 70"),
        (CT, b"--XX\r\n" + ROOT_PART + b"\r\n", "no closing delimiter"),
        (CT, b"no delimiter at all", "no closing delimiter"),
        (CT, b"--XX--\r\n", "before any body part"),
        (CT.replace("root@x", "other@x"), _body(ROOT_PART), "start part <other@x>"),
        (
            CT,
            _body(ROOT_PART, b"Content-ID: <a>\r\n\r\n1", b"Content-ID: <a>\r\n\r\n2"),
            "duplicate Content-ID <a>",
        ),
        (CT, _body(ROOT_PART, b"Content-Type: text/plain\r\n\r\nx"), "has no Content-ID"),
        (
            CT,
            _body(ROOT_PART, b"Content-ID: <a>\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@"),
            "invalid base64",
        ),
        (
            CT,
            _body(ROOT_PART, b"Content-ID: <a>\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nx"),
            "unsupported",
        ),
        (CT, _body(ROOT_PART, b"Content-ID: <a>"), "no blank line"),
        (CT, _body(ROOT_PART, b"Bad header line\r\n\r\nx"), "malformed header"),
    ],
    ids=[
        "not-multipart",
        "no-boundary",
        "long-boundary",
        "unterminated",
        "no-delimiter",
        "empty",
        "missing-start",
        "duplicate-cid",
        "no-cid",
        "bad-base64",
        "unknown-cte",
        "no-header-end",
        "bad-header",
    ],
)
def test_malformed_mime_is_refused_with_detail(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(MimeError, match=message):
        parse_multipart_related(content_type, body)


def test_build_refuses_duplicate_or_missing_content_ids() -> None:
    with pytest.raises(MimeError, match="duplicate"):
        build_multipart_related(ENVELOPE, [MimePart.make("a", b"", "x/y"), MimePart.make("a", b"", "x/y")])
    with pytest.raises(MimeError, match="without Content-ID"):
        build_multipart_related(ENVELOPE, [MimePart({}, b"x")])


def test_parse_content_type_unquotes_parameters() -> None:
    media, params = parse_content_type('Multipart/Related; boundary="a\\"b;c"; start="<x>" ;type=text/xml')
    assert media == "multipart/related"
    assert params == {"boundary": 'a"b;c', "start": "<x>", "type": "text/xml"}
    assert parse_content_type("application/soap+xml") == ("application/soap+xml", {})


_cids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_@", min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    root=st.binary(max_size=400),
    parts=st.dictionaries(_cids, st.binary(max_size=600), max_size=5),
)
def test_build_parse_round_trip_property(root: bytes, parts: dict[str, bytes]) -> None:
    assume("root.envelope@icssim" not in parts)
    attachments = [MimePart.make(cid, data, "application/octet-stream") for cid, data in parts.items()]
    content_type, body = build_multipart_related(root, attachments)
    parsed = parse_multipart_related(content_type, body)
    assert parsed.root.content == root
    assert {cid: part.content for cid, part in parsed.attachments.items()} == parts
