"""Wire evidence made readable: payload XML pretty-printed, raw AS4 messages decoded from base64.

The journal keeps each message exactly as it crossed the wire (base64 of the raw AS4 message, MIME
parts included) and the business payload as XML text. A certifier reads both in the HTML report, so
both are turned into display text here: never larger than :data:`MAX_SHOWN_BYTES` (with a note saying
how much was left out), control characters made visible, and XML parsed only with the project's
hardened parser, because a payload in a run record came from the system under test and may be hostile.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from lxml import etree

from simulator.codecs.xmlsafe import XmlRefused, parse_xml

__all__ = ["MAX_SHOWN_BYTES", "Shown", "direction_label", "payload_text", "raw_text"]

MAX_SHOWN_BYTES = 200 * 1024
# C0 controls other than tab, LF and CR, and DEL: not allowed in HTML text, shown as their pictures.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XML_DECLARATION = re.compile(r"\A\ufeff?\s*<\?xml\s[^>]*\?>\s*")
# The first line of a multipart body that opens a part: "--" and the boundary (RFC 2046 §5.1.1).
_DELIMITER = re.compile(rb"^--([0-9A-Za-z'()+_,./:=?-]{1,70})\r?$", re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_DIRECTIONS = {"in": "in: SUT \u2192 customs", "out": "out: customs \u2192 SUT"}


@dataclass(frozen=True)
class Shown:
    """Text ready to escape into the report, and a note for the reader (truncation, decoding)."""

    text: str
    notes: tuple[str, ...] = ()


def direction_label(direction: str) -> str:
    """Journal directions are seen from the simulator: ``in`` was sent by the system under test."""
    return _DIRECTIONS.get(direction, direction)


def _visible(text: str) -> str:
    return _CONTROLS.sub(lambda m: "\u2421" if m.group() == "\x7f" else chr(0x2400 + ord(m.group())), text)


def _bounded(data: bytes, what: str) -> tuple[bytes, tuple[str, ...]]:
    if len(data) <= MAX_SHOWN_BYTES:
        return data, ()
    return data[:MAX_SHOWN_BYTES], (f"{what} truncated: the first {MAX_SHOWN_BYTES:,} of {len(data):,} bytes "
                                    "are shown; the run record holds it whole.",)


def _as_text(data: bytes) -> tuple[str, tuple[str, ...]]:
    try:
        return data.decode("utf-8"), ()
    except UnicodeDecodeError as exc:
        # A cut at the size limit may split one UTF-8 sequence; only other bad bytes deserve a note.
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8"), ()
        return data.decode("utf-8", errors="replace"), (
            "Parts of this message are not UTF-8 text; those bytes are shown as \ufffd.",)


def _elide_binary_parts(data: bytes) -> tuple[bytes, int]:
    """A multipart message with each non-text part body replaced by its size, and how many were.

    AS4 user messages carry gzip-compressed (and possibly encrypted) payload parts; as text they are
    noise, and the payload itself is shown decoded beside the raw message.
    """
    found = _DELIMITER.search(data)
    if found is None:
        return data, 0
    delimiter = b"--" + found.group(1)
    pieces = data.split(delimiter)
    elided = 0
    for index, piece in enumerate(pieces[1:], start=1):
        header_end = _HEADER_END.search(piece)
        if header_end is None:
            continue
        body = piece[header_end.end():]
        line_end = b"\r\n" if body.endswith(b"\r\n") else b"\n" if body.endswith(b"\n") else b""
        content = body[: len(body) - len(line_end)]  # the line break before a delimiter belongs to it
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            placeholder = f"[{len(content):,} bytes of binary content, not shown]".encode()
            pieces[index] = piece[: header_end.end()] + placeholder + line_end
            elided += 1
    return delimiter.join(pieces), elided


def raw_text(raw_b64: str) -> Shown:
    """The raw message decoded from base64, binary MIME parts elided, bounded, as text."""
    try:
        data = base64.b64decode("".join(raw_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        return Shown(_visible(raw_b64[:MAX_SHOWN_BYTES]), ("The recorded raw message is not valid base64; "
                                                           "it is shown as recorded.",))
    readable, elided = _elide_binary_parts(data)
    notes = [f"{len(data):,} bytes on the wire."]
    if elided:
        notes.append(f"{elided} binary MIME part(s) (compressed or encrypted content) replaced by their size.")
    shown, truncation = _bounded(readable, "Raw message")
    text, decoding = _as_text(shown)
    return Shown(_visible(text), (*notes, *truncation, *decoding))


def _pretty(xml: str) -> str | None:
    """The payload re-indented, or None when it is not XML the hardened parser accepts."""
    declaration = _XML_DECLARATION.match(xml)
    body = xml[declaration.end():] if declaration else xml
    try:
        root = parse_xml(body.encode("utf-8", errors="replace"))
    except XmlRefused:
        return None
    # Indenting is only safe where whitespace carries no data: leave mixed-content documents alone.
    if any(node.text and node.text.strip() and len(node) for node in root.iter() if isinstance(node.tag, str)):
        return None
    etree.indent(root, space="  ")
    head = declaration.group().strip() + "\n" if declaration else ""
    return head + etree.tostring(root, encoding="unicode")


def payload_text(payload: str) -> Shown:
    """The business payload pretty-printed when it is well-formed XML, else as recorded; bounded."""
    encoded = payload.encode("utf-8", errors="replace")
    if len(encoded) > MAX_SHOWN_BYTES:
        shown, notes = _bounded(encoded, "Payload")
        text, _ = _as_text(shown)
        return Shown(_visible(text), (*notes, "Not pretty-printed because it was truncated."))
    pretty = _pretty(payload)
    if pretty is None:
        return Shown(_visible(payload), ("Shown as recorded: not XML the hardened parser accepts, "
                                         "or mixed content that indenting would change.",))
    shown, notes = _bounded(pretty.encode("utf-8", errors="replace"), "Pretty-printed payload")
    return Shown(_visible(_as_text(shown)[0]), notes)
