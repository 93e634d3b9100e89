"""XML-DSig mechanics used by the WSS layer: exclusive C14N, id resolution, reference checks.

Only what the eDelivery AS4 / ICS2 profile allows is implemented (ICD Annex 2 and Annex 6):
exclusive C14N 1.0 (http://www.w3.org/2001/10/xml-exc-c14n#), SHA-256 digests, same-document
``#id`` references with exactly one exc-c14n transform, and ``cid:`` references with exactly the
SwA Attachment-Content-Signature-Transform. Anything else is a policy violation (EBMS:0103), an
unresolvable or ambiguous target is an authentication failure (EBMS:0101).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections.abc import Mapping, Sequence

from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.errors import EbmsError

__all__ = ["c14n", "check_reference", "first", "id_index", "prefix_list", "serialised_references", "sub"]

_DS = f"{{{c.NS_DS}}}"
_TRANSFORMS = _DS + "Transforms"
_TRANSFORM = _DS + "Transform"
_DIGEST_METHOD = _DS + "DigestMethod"
_DIGEST_VALUE = _DS + "DigestValue"
_INCLUSIVE = f"{{{c.NS_EXC_C14N}}}InclusiveNamespaces"
# Every Id-like attribute counts, whatever resolver a peer uses (wsu:Id, ds @Id, xenc @Id, @ID).
_ID_ATTRIBUTES = etree.XPath("//@wsu:Id | //@Id | //@ID", namespaces={"wsu": c.NS_WSU})
_primed = threading.local()


def _prime_prefixes(prefixes: Sequence[str]) -> None:
    """Make sure lxml honours ``inclusive_ns_prefixes`` for trees built through the API.

    lxml looks each InclusiveNamespaces prefix up in the thread's libxml2 string dictionary and
    silently drops prefixes it has never interned - which happens for a prefix that so far only
    appeared in ``nsmap`` of API-built elements, never in parsed text. Parsing a tiny document
    that uses the prefix interns it once per thread, so sender and receiver canonicalise alike.
    """
    done: set[str] = _primed.__dict__.setdefault("prefixes", set())
    for prefix in prefixes:
        if prefix not in done and prefix != "#default":
            etree.fromstring(f'<{prefix}:p xmlns:{prefix}="urn:icssim:prime"/>'.encode())
            done.add(prefix)


def c14n(element: etree._Element, prefixes: Sequence[str] = ()) -> bytes:
    """Exclusive XML C14N 1.0 without comments of ``element`` in its document context."""
    if prefixes:
        _prime_prefixes(prefixes)
    return etree.tostring(
        element,
        method="c14n",
        exclusive=True,
        with_comments=False,
        inclusive_ns_prefixes=list(prefixes) or None,
    )


def sub(
    parent: etree._Element,
    tag: str,
    attrs: Mapping[str, str] | None = None,
    nsmap: Mapping[str, str] | None = None,
) -> etree._Element:
    """Append a child element (Clark-notation ``tag``), optionally declaring namespaces on it."""
    return etree.SubElement(parent, tag, dict(attrs or {}), nsmap=dict(nsmap) if nsmap else None)


def first(parent: etree._Element | None, *path: str) -> etree._Element | None:
    """First child matching each tag of ``path`` in turn (iterchildren: faster than find())."""
    for tag in path:
        if parent is None:
            return None
        parent = next(parent.iterchildren(tag), None)
    return parent


def prefix_list(method: etree._Element | None) -> list[str]:
    """The InclusiveNamespaces PrefixList of a CanonicalizationMethod or Transform (exc-c14n §3)."""
    inclusive = first(method, _INCLUSIVE)
    return (inclusive.get("PrefixList") or "").split() if inclusive is not None else []


def id_index(root: etree._Element) -> dict[str, etree._Element]:
    """Every Id-like attribute value to its element; a duplicate value anywhere is refused.

    Two elements with the same id make a reference ambiguous: the classic XML signature wrapping
    attack moves the signed element aside and puts a forged one under the same id (EBMS:0101).
    """
    index: dict[str, etree._Element] = {}
    for value in _ID_ATTRIBUTES(root):
        element = value.getparent()
        key = str(value)
        if key in index and index[key] is not element:
            raise EbmsError(
                "EBMS:0101", f"duplicate id {key!r}: ambiguous reference target (signature wrapping?)"
            )
        index[key] = element
    return index


def _parts(ref: etree._Element, uri: str) -> tuple[list[etree._Element], str | None, bytes]:
    transforms: list[etree._Element] = []
    methods: list[str | None] = []
    values: list[str] = []
    for child in ref.iterchildren(_TRANSFORMS, _DIGEST_METHOD, _DIGEST_VALUE):
        if child.tag == _TRANSFORMS:
            transforms.extend(child.iterchildren(_TRANSFORM))
        elif child.tag == _DIGEST_METHOD:
            methods.append(child.get("Algorithm"))
        else:
            values.append(child.text or "")
    if len(methods) != 1 or len(values) != 1:
        raise EbmsError("EBMS:0101", f"reference {uri}: needs exactly one DigestMethod and one DigestValue")
    try:
        expected = base64.b64decode("".join(values[0].split()), validate=True)
    except (binascii.Error, ValueError):
        raise EbmsError("EBMS:0101", f"reference {uri}: DigestValue is not base64") from None
    return transforms, methods[0], expected


def check_reference(
    ref: etree._Element, ids: Mapping[str, etree._Element], attachments: Mapping[str, bytes]
) -> str:
    """Check one ds:Reference (policy, resolution, digest) and return its URI.

    The digest of a ``cid:`` reference is over the attachment octets as sent (WSS SwA 1.1 §5.3.2
    Attachment-Content-Signature-Transform: MIME headers excluded); one C14N per ``#id`` target.
    """
    uri = ref.get("URI")
    if uri is None:
        raise EbmsError("EBMS:0101", "ds:Reference without URI cannot be resolved")
    transforms, method, expected = _parts(ref, uri)
    if method != c.ALG_SHA256:
        raise EbmsError(
            "EBMS:0103", f"reference {uri}: digest algorithm {method!r} not allowed; SHA-256 required"
        )
    algorithms = [t.get("Algorithm") for t in transforms]
    if uri.startswith("#"):
        if algorithms != [c.ALG_EXC_C14N]:
            raise EbmsError(
                "EBMS:0103", f"reference {uri}: transforms {algorithms} not allowed; exactly exc-c14n"
            )
        target = ids.get(uri[1:])
        if target is None:
            raise EbmsError("EBMS:0101", f"reference {uri} does not resolve to any element")
        actual = hashlib.sha256(c14n(target, prefix_list(transforms[0]))).digest()
        what = f"{uri} ({etree.QName(target).localname})"
    elif uri.startswith("cid:"):
        if algorithms != [c.ALG_ATTACHMENT_CONTENT_SIGNATURE]:
            raise EbmsError(
                "EBMS:0103",
                f"reference {uri}: transforms {algorithms} not allowed; Attachment-Content-Signature only",
            )
        content = attachments.get(uri[4:])
        if content is None:
            raise EbmsError("EBMS:0101", f"reference {uri} names no MIME part of the message")
        actual = hashlib.sha256(content).digest()
        what = f"{uri} (attachment)"
    else:
        raise EbmsError(
            "EBMS:0101", f"reference {uri!r} cannot be resolved: only '#id' and 'cid:' are accepted"
        )
    if not hmac.compare_digest(actual, expected):
        raise EbmsError("EBMS:0101", f"digest mismatch for reference {what}: content changed after signing")
    return uri


def serialised_references(
    signed_info: etree._Element, canonical_signed_info: bytes, references: Sequence[etree._Element]
) -> tuple[bytes, ...]:
    """Each ds:Reference as standalone XML, for NRR receipts (ebbp:MessagePartNRInformation).

    Cut from the canonical SignedInfo already computed for the signature check (saves one C14N per
    reference on the hot path): the only declaration a Reference inherits there is the ds one,
    re-added on the copy. Falls back to C14N of each Reference if the prefixes differ.
    """
    prefix = signed_info.prefix
    if any(ref.prefix != prefix for ref in references):
        return tuple(c14n(ref) for ref in references)
    name = f"{prefix}:Reference" if prefix else "Reference"
    declaration = f' xmlns:{prefix}="{c.NS_DS}"' if prefix else f' xmlns="{c.NS_DS}"'
    opening, closing = f"<{name} ".encode(), f"</{name}>".encode()
    out: list[bytes] = []
    pos = 0
    for _ in references:
        start = canonical_signed_info.find(opening, pos)
        end = canonical_signed_info.find(closing, start)
        if start < 0 or end < 0:
            return tuple(c14n(ref) for ref in references)
        pos = end + len(closing)
        out.append(
            opening[:-1] + declaration.encode() + canonical_signed_info[start + len(opening) - 1 : pos]
        )
    return tuple(out)


def security_header(header: etree._Element) -> etree._Element:
    """The wsse:Security header block (mustUnderstand), created first in env:Header when absent.

    Shared by signing and encryption: WSS 1.1 §5 puts all security tokens of the message in one block.
    """
    tag = f"{{{c.NS_WSSE}}}Security"
    security = first(header, tag)
    if security is None:
        security = etree.Element(tag, nsmap={"wsse": c.NS_WSSE, "wsu": c.NS_WSU})
        security.set(f"{{{c.NS_SOAP12}}}mustUnderstand", "true")
        header.insert(0, security)
    return security
