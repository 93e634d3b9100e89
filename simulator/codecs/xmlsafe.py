"""Hardened XML parsing and bounded gzip decompression for untrusted input.

Everything a trader sends (SOAP envelopes, ENS payloads, receipts) passes through :func:`parse_xml`
and every compressed payload through :func:`gunzip_limited`. The design rule is "hostile XML is
refused with a precise reason, never expanded": DESIGN.md "Rules of the house" (DTDs, entities,
bombs, oversize, gzip bombs), OWASP XXE prevention, and AS4 §3.1 (payload compression, EBMS:0303
on decompression failure).
"""

from __future__ import annotations

import re
import threading
import zlib

from lxml import etree

__all__ = [
    "DEFAULT_MAX_XML_BYTES",
    "DecompressionRefused",
    "XmlRefused",
    "gunzip_limited",
    "parse_xml",
]

DEFAULT_MAX_XML_BYTES = 10 * 2**20
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip container only: zlib/raw deflate streams are refused
# The prolog: BOM, XML declaration, whitespace, comments and PIs, in any order (XML 1.0 §2.8).
_PROLOG_TEXT = re.compile(r"(?:\ufeff|\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")


class XmlRefused(ValueError):
    """The input is not acceptable XML; ``reason`` says precisely why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DecompressionRefused(ValueError):
    """A gzip stream was corrupt, not gzip, or would decompress beyond the permitted size."""

    def __init__(self, reason: str, *, limit_exceeded: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit_exceeded = limit_exceeded


_local = threading.local()


class _RefuseExternal(etree.Resolver):
    """Defence in depth: libxml2 may try to open an external subset even with load_dtd=False;
    this resolver answers every such request with nothing (no file or network access)."""

    def resolve(self, system_url: str, public_id: str, context: object) -> None:
        raise XmlRefused(f"external reference {system_url!r} refused (XXE guard)")


def _doctype_in_prolog(data: bytes) -> str | None:
    """The DOCTYPE declaration text if one precedes the root element, else None.

    Checked before libxml2 sees the bytes. UTF-8/ASCII prologs are scanned as bytes, UTF-16 ones
    after decoding; any other encoding is left to the post-parse docinfo check.
    """
    if data.startswith(_UTF16_STARTS):
        try:
            text = bytes(data[:65536]).decode("utf-16")
        except UnicodeDecodeError:
            return None
    else:
        text = bytes(data[:65536]).decode("latin-1")  # byte-transparent; only ASCII matters here
    match = _PROLOG_TEXT.match(text)
    start = match.end() if match else 0
    return text[start : start + 4096] if text.startswith("<!DOCTYPE", start) else None


def _doctype_reason(declaration: str) -> str:
    head = declaration.split("[", 1)[0].split(">", 1)[0]
    if "<!ENTITY" in declaration:
        return "entity declarations refused: DTDs are not allowed (entity-expansion / XXE guard)"
    if " SYSTEM " in f" {head} " or " PUBLIC " in f" {head} ":
        return "external DTD reference refused (XXE guard)"
    return "DOCTYPE declaration refused: DTDs are not allowed"


def _parser() -> etree.XMLParser:
    """One parser per thread: lxml parsers are not thread-safe but are costly to create per call.

    - resolve_entities=False, load_dtd=False, no_network=True: no XXE, no external fetch;
    - huge_tree=False keeps libxml2's depth (256) and text-node size limits switched on;
    - comments are kept because C14N (XML-DSig) must see the document as it was sent.
    """
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=False,
            remove_pis=False,
            remove_blank_text=False,
            collect_ids=False,
        )
        parser.resolvers.add(_RefuseExternal())
        _local.parser = parser
    return parser


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted ``data`` and return its root element, or raise :class:`XmlRefused`.

    Refused (DESIGN.md "Hostile XML is refused"; ebMS3 §6.6 maps this to EBMS:0009 upstream):
    input over ``max_bytes``; any DOCTYPE (internal subset, entity declarations, external DTD
    reference); anything that is not well-formed; trees beyond libxml2's non-huge limits.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise XmlRefused(f"XML input must be bytes, not {type(data).__name__}")
    size = len(data)
    if size > max_bytes:
        raise XmlRefused(f"XML document of {size} bytes exceeds the limit of {max_bytes} bytes")
    if size == 0:
        raise XmlRefused("empty XML document")
    declaration = _doctype_in_prolog(data)
    if declaration is not None:
        raise XmlRefused(_doctype_reason(declaration))
    try:
        root = etree.fromstring(bytes(data), _parser())
    except XmlRefused:
        raise  # from the resolver: an external subset or entity was requested
    except etree.XMLSyntaxError as exc:
        if "network entity" in str(exc):  # no_network stopped an external DTD or entity fetch
            raise XmlRefused(f"external DTD/entity reference refused (XXE guard): {exc}") from None
        raise XmlRefused(f"not well-formed XML: {exc}") from None
    except (ValueError, TypeError) as exc:  # e.g. unsupported encoding declaration
        raise XmlRefused(f"unreadable XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.system_url or docinfo.public_id:
        dtd = docinfo.internalDTD
        if dtd is not None and any(True for _ in dtd.iterentities()):
            raise XmlRefused("entity declarations refused: DTDs are not allowed (entity-expansion guard)")
        if docinfo.system_url:
            raise XmlRefused(f"external DTD reference {docinfo.system_url!r} refused (XXE guard)")
        raise XmlRefused("DOCTYPE declaration refused: DTDs are not allowed")
    return root


def gunzip_limited(data: bytes, *, max_bytes: int) -> bytes:
    """Decompress a gzip stream (RFC 1952, multi-member allowed) to at most ``max_bytes`` octets.

    Output is produced incrementally with a hard cap so that a gzip bomb is stopped after at most
    ``max_bytes + 1`` octets, never fully expanded (AS4 §3.1 compression; ICD 4.2.5 size
    recommendation of 100 MB uncompressed). Raises :class:`DecompressionRefused` for non-gzip input,
    corrupt or truncated streams, trailing garbage, and output over the cap.
    """
    view = bytes(data)
    if view[:2] != _GZIP_MAGIC:
        raise DecompressionRefused("not a gzip stream (missing 1f 8b magic number)")
    out = bytearray()
    pending = view
    member = 0
    while pending:
        member += 1
        inflater = zlib.decompressobj(_GZIP_WBITS)
        buf = pending
        try:
            while not inflater.eof:
                chunk = inflater.decompress(buf, max_bytes - len(out) + 1)
                if len(out) + len(chunk) > max_bytes:
                    raise DecompressionRefused(
                        f"decompressed size exceeds the limit of {max_bytes} bytes (gzip bomb guard)",
                        limit_exceeded=True,
                    )
                out += chunk
                tail = inflater.unconsumed_tail
                if not chunk and not tail and not buf:
                    raise DecompressionRefused(f"truncated gzip stream (member {member} has no end)")
                buf = tail
        except zlib.error as exc:
            raise DecompressionRefused(f"corrupt gzip stream (member {member}): {exc}") from None
        pending = inflater.unused_data
        if pending and pending[:2] != _GZIP_MAGIC:
            if not pending.strip(b"\x00"):
                break  # zero padding after the last member is tolerated, as gzip(1) does
            raise DecompressionRefused(f"{len(pending)} bytes of trailing garbage after gzip member {member}")
    return bytes(out)
