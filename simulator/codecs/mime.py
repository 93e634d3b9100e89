"""multipart/related (SOAP Messages with Attachments) parsing and building, written by hand.

The stdlib ``email`` parser is too slow for the hot path (DESIGN.md "no stdlib email parser per
request"), so this module implements just what SwA needs: RFC 2046 §5.1.1 delimiters, RFC 2387
multipart/related with its ``type`` and ``start`` parameters, RFC 2392 Content-IDs, and the
Content-Transfer-Encodings an AS4 peer may use (binary, 8bit, 7bit, base64, quoted-printable).
Part content is never re-encoded: signature digests (WSS SwA profile) are over the octets as sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "MimeError",
    "MimePart",
    "MultipartRelated",
    "build_multipart_related",
    "parse_content_type",
    "parse_multipart_related",
]

SOAP12_MEDIA_TYPE = "application/soap+xml"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PARAM = re.compile(r';\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')
_QUOTED_PAIR = re.compile(r"\\(.)")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT = re.compile(rb"\r?\n")
_CANONICAL_NAMES = {
    "content-type": "Content-Type",
    "content-id": "Content-ID",
    "content-transfer-encoding": "Content-Transfer-Encoding",
    "content-description": "Content-Description",
    "content-disposition": "Content-Disposition",
}


class MimeError(ValueError):
    """The MIME structure is unusable; mapped to EBMS:0007 MimeInconsistency by the AS4 codec."""


@dataclass(slots=True)
class MimePart:
    """One body part: lower-cased header names, decoded content (transfer encoding removed)."""

    headers: dict[str, str]
    content: bytes

    @property
    def content_id(self) -> str:
        """The Content-ID without angle brackets or surrounding blanks (RFC 2392), or ''."""
        return strip_content_id(self.headers.get("content-id", ""))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @classmethod
    def make(cls, content_id: str, content: bytes, content_type: str, **extra: str) -> MimePart:
        """Convenience constructor; ``extra`` header names use underscores for dashes."""
        headers = {"content-type": content_type, "content-id": f"<{strip_content_id(content_id)}>"}
        headers.update({k.replace("_", "-").lower(): v for k, v in extra.items()})
        return cls(headers, content)


@dataclass(slots=True)
class MultipartRelated:
    """A parsed multipart/related message: the root (start) part and attachments by Content-ID."""

    root: MimePart
    attachments: dict[str, MimePart]
    media_type: str = "multipart/related"
    params: dict[str, str] = field(default_factory=dict)


def strip_content_id(value: str) -> str:
    """'<a@b>', ' < a@b > ' and 'cid:a@b' all name the Content-ID 'a@b' (RFC 2392 §2)."""
    value = value.strip()
    if value.startswith("cid:"):
        value = value[4:]
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type value into (lower-case media type, parameters with lower-case names).

    Quoted-string parameter values (RFC 2045 §5.1, RFC 7230 quoted-pair) are unquoted.
    """
    media, sep, rest = value.partition(";")
    params: dict[str, str] = {}
    if sep:
        for name, quoted, plain in _PARAM.findall(";" + rest):
            if quoted:
                params[name.lower()] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
            else:
                params[name.lower()] = plain.strip()
    return media.strip().lower(), params


def _parse_headers(block: bytes, index: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = ""
    for raw in _LINE_SPLIT.split(block):
        if not raw:
            continue
        line = raw.decode("latin-1")
        if line[0] in " \t" and last:  # RFC 5322 §2.2.3 folded header line
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise MimeError(f"part #{index}: malformed header line {line[:80]!r}")
        last = name.strip().lower()
        headers.setdefault(last, value.strip())
    return headers


def _decode_content(content: bytes, encoding: str, index: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "binary", "8bit", "7bit"):
        return content
    try:
        if encoding == "base64":
            return base64.b64decode(b"".join(content.split()), validate=True)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(content)
    except (binascii.Error, ValueError) as exc:
        raise MimeError(f"part #{index}: invalid {encoding} content: {exc}") from None
    raise MimeError(f"part #{index}: unsupported Content-Transfer-Encoding {encoding!r}")


def _split_part(raw: bytes, index: int) -> MimePart:
    if raw.startswith((b"\r\n", b"\n")):  # no headers at all
        return MimePart({}, raw[2:] if raw.startswith(b"\r\n") else raw[1:])
    end = _HEADER_END.search(raw)
    if end is None:
        raise MimeError(f"part #{index}: no blank line separates headers from content")
    headers = _parse_headers(raw[: end.start()], index)
    content = _decode_content(raw[end.end() :], headers.get("content-transfer-encoding", ""), index)
    return MimePart(headers, content)


def _split_body(body: bytes, boundary: str) -> list[bytes]:
    """Return the raw parts between RFC 2046 delimiters; preamble and epilogue are dropped."""
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    pos = 0
    start = -1
    while True:
        hit = body.find(delimiter, pos)
        if hit < 0:
            raise MimeError(f"no closing delimiter --{boundary}-- found")
        after = hit + len(delimiter)
        if hit != 0 and body[hit - 1 : hit] != b"\n":  # a delimiter must start a line
            pos = after
            continue
        closing = body[after : after + 2] == b"--"
        eol = body.find(b"\n", after)
        if not closing and (eol < 0 or body[after:eol].strip(b" \t\r")):
            # "--boundary" followed by more text is not a delimiter (only transport padding may
            # follow one); a line merely starting with it is content.
            pos = after
            continue
        if start >= 0:
            end = hit - 2 if body[hit - 2 : hit] == b"\r\n" else hit - 1
            parts.append(body[start : max(end, start)])
        if closing:
            if start < 0:
                raise MimeError("closing delimiter before any body part")
            return parts
        start = eol + 1
        pos = start


def parse_multipart_related(content_type: str, body: bytes) -> MultipartRelated:
    """Parse a SwA message. The root is the part named by ``start`` (RFC 2387 §3.2) or the first.

    Raises :class:`MimeError` for: a media type other than multipart/related, a missing or invalid
    boundary (RFC 2046 §5.1.1: 1..70 chars), no closing delimiter, no parts, an attachment without
    Content-ID, a duplicate Content-ID, or a ``start`` parameter naming no part.
    """
    media, params = parse_content_type(content_type)
    if media != "multipart/related":
        raise MimeError(f"media type {media or '(none)'!r} is not multipart/related")
    boundary = params.get("boundary", "")
    if not boundary:
        raise MimeError("multipart/related Content-Type has no boundary parameter")
    if len(boundary) > 70:
        raise MimeError(f"boundary of {len(boundary)} characters exceeds 70 (RFC 2046 §5.1.1)")
    parts = [_split_part(raw, i) for i, raw in enumerate(_split_body(body, boundary), 1)]
    if not parts:
        raise MimeError("multipart/related message has no body parts")
    start = strip_content_id(params.get("start", ""))
    root_index = 0
    if start:
        matches = [i for i, part in enumerate(parts) if part.content_id == start]
        if not matches:
            raise MimeError(f"start part <{start}> named in the Content-Type is not in the message")
        root_index = matches[0]
    attachments: dict[str, MimePart] = {}
    for i, part in enumerate(parts):
        if i == root_index:
            continue
        cid = part.content_id
        if not cid:
            raise MimeError(f"part #{i + 1} has no Content-ID, so no PartInfo can reference it")
        if cid in attachments or cid == parts[root_index].content_id:
            raise MimeError(f"duplicate Content-ID <{cid}>")
        attachments[cid] = part
    return MultipartRelated(parts[root_index], attachments, media, params)


def _format_param(value: str) -> str:
    return value if _TOKEN.fullmatch(value) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _header_name(name: str) -> str:
    return _CANONICAL_NAMES.get(name, "-".join(w.capitalize() for w in name.split("-")))


def _choose_boundary(contents: Sequence[bytes]) -> str:
    """A boundary derived from the content (deterministic output) that occurs in no part."""
    digest = hashlib.sha256()
    for content in contents:
        digest.update(hashlib.sha256(content).digest())
    for attempt in range(100):
        boundary = f"MIMEBoundary_{digest.hexdigest()[:40]}{attempt or ''}"
        needle = boundary.encode("ascii")
        if not any(needle in content for content in contents):
            return boundary
    raise MimeError("could not find a boundary absent from all parts")  # pragma: no cover


def build_multipart_related(
    root_xml: bytes,
    attachments: Sequence[MimePart],
    *,
    root_content_id: str = "root.envelope@icssim",
    root_type: str = SOAP12_MEDIA_TYPE,
) -> tuple[str, bytes]:
    """Build a SwA message: returns (Content-Type header value, body).

    All parts are sent with Content-Transfer-Encoding binary (AS4 §5.1; octets as signed). Every
    attachment needs a unique Content-ID that differs from the root's.
    """
    seen = {root_content_id}
    for part in attachments:
        cid = part.content_id
        if not cid:
            raise MimeError("attachment without Content-ID")
        if cid in seen:
            raise MimeError(f"duplicate Content-ID <{cid}>")
        seen.add(cid)
    boundary = _choose_boundary([root_xml, *(part.content for part in attachments)])
    delimiter = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = [
        delimiter,
        f"\r\nContent-Type: {root_type}; charset=UTF-8\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{root_content_id}>\r\n\r\n".encode("latin-1"),
        root_xml,
    ]
    for part in attachments:
        headers = dict(part.headers)
        headers["content-id"] = f"<{part.content_id}>"
        headers["content-transfer-encoding"] = "binary"
        headers.setdefault("content-type", "application/octet-stream")
        lines = "".join(f"{_header_name(k)}: {v}\r\n" for k, v in headers.items())
        chunks += [b"\r\n", delimiter, b"\r\n", lines.encode("latin-1"), b"\r\n", part.content]
    chunks += [b"\r\n", delimiter, b"--\r\n"]
    content_type = (
        f'multipart/related; type="{root_type}"; boundary={_format_param(boundary)}; '
        f'start="<{root_content_id}>"'
    )
    return content_type, b"".join(chunks)
