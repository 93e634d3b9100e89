"""WS-Security 1.1.1 signatures as profiled by eDelivery AS4 and the ICS2 ICD (§4.6.2, Annex 2, 6).

Signing: a ``wsse:Security`` header (mustUnderstand) holding a BinarySecurityToken (X509PKIPathv1,
the full chain) and a ``ds:Signature`` with exclusive C14N (InclusiveNamespaces = the SOAP prefix),
RSA-SHA256, SHA-256 digests, and References to eb:Messaging, the Body and every attachment (SwA
Attachment-Content-Signature-Transform: digest over the part's octets as sent).

Verification checks the cryptography only and returns the certificate chain; whether that chain
is trusted or registered for the sender is decided by the caller (DESIGN.md: trust is separate).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.envelope import element_id
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.model import SignatureInfo
from simulator.codecs.as4.pkipath import PkiPathError, decode_pkipath, encode_pkipath, load_certificate

__all__ = ["TokenKind", "c14n", "first", "sign_envelope", "signature_references", "verify_envelope"]

TokenKind = Literal["pkipath", "leaf-only", "x509v3"]

_DS = f"{{{c.NS_DS}}}"
_HEADER = f"{{{c.NS_SOAP12}}}Header"
_BODY = f"{{{c.NS_SOAP12}}}Body"
_SECURITY = f"{{{c.NS_WSSE}}}Security"
_MESSAGING = f"{{{c.NS_EB}}}Messaging"
_BST = f"{{{c.NS_WSSE}}}BinarySecurityToken"
_STR = f"{{{c.NS_WSSE}}}SecurityTokenReference"
_MUST_UNDERSTAND = f"{{{c.NS_SOAP12}}}mustUnderstand"
_INCLUSIVE = f"{{{c.NS_EXC_C14N}}}InclusiveNamespaces"
_ID_ATTRIBUTES = etree.XPath("//@wsu:Id | //@Id | //@ID", namespaces={"wsu": c.NS_WSU})
_TRANSFORM_ALGS = etree.XPath("ds:Transforms/ds:Transform/@Algorithm", namespaces={"ds": c.NS_DS})
_REFERENCES = etree.XPath("ds:SignedInfo/ds:Reference", namespaces={"ds": c.NS_DS})
_PADDING = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


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
        element, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=list(prefixes) or None
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sub(parent: etree._Element, tag: str, attrs: Mapping[str, str] | None = None, **kw: object) -> etree._Element:
    return etree.SubElement(parent, tag, dict(attrs or {}), **kw)  # type: ignore[arg-type]


def _soap_prefix(envelope: etree._Element) -> str:
    return envelope.prefix or "#default"


def _add_reference(signed_info: etree._Element, uri: str, transform: str, digest: bytes) -> None:
    ref = _sub(signed_info, _DS + "Reference", {"URI": uri})
    transforms = _sub(ref, _DS + "Transforms")
    _sub(transforms, _DS + "Transform", {"Algorithm": transform})
    _sub(ref, _DS + "DigestMethod", {"Algorithm": c.ALG_SHA256})
    _sub(ref, _DS + "DigestValue").text = _b64(digest)


def _token(chain: Sequence[x509.Certificate], token: TokenKind) -> tuple[str, bytes]:
    if token == "pkipath":
        return c.VALUE_TYPE_PKIPATH, encode_pkipath(chain)
    if token == "leaf-only":  # the most common trader error (ICD §4.6.2 FAQ), still a valid PkiPath
        return c.VALUE_TYPE_PKIPATH, encode_pkipath(chain[:1])
    if token == "x509v3":  # "SHOULD NOT be used" (ICD §4.6.2); for faulty-client variants
        return c.VALUE_TYPE_X509V3, chain[0].public_bytes(Encoding.DER)
    raise ValueError(f"unknown token kind {token!r}")


def _security_header(header: etree._Element) -> etree._Element:
    security = header.find(_SECURITY)
    if security is None:
        security = etree.Element(_SECURITY, nsmap={"wsse": c.NS_WSSE, "wsu": c.NS_WSU})
        security.set(_MUST_UNDERSTAND, "true")
        header.insert(0, security)
    return security


def sign_envelope(
    envelope: etree._Element,
    *,
    key: rsa.RSAPrivateKey,
    chain: Sequence[x509.Certificate],
    attachments: Mapping[str, bytes] | None = None,
    sign_body: bool = True,
    token: TokenKind = "pkipath",
) -> etree._Element:
    """Sign ``envelope`` in place (ICD §4.6.2, Annex 6 layout) and return the ds:Signature element.

    ``chain`` is leaf first; ``attachments`` maps Content-ID to the octets that will be sent.
    ``sign_body=False`` and ``token`` other than "pkipath" exist to build deliberately faulty
    messages (e.g. the unsigned-Body receipt of ICD §4.6.2 FAQ).
    """
    if not chain:
        raise ValueError("a signing chain needs at least the leaf certificate")
    header = first(envelope, _HEADER)
    body = first(envelope, _BODY)
    messaging = first(header, _MESSAGING)
    if header is None or body is None or messaging is None:
        raise ValueError("envelope lacks env:Header/eb:Messaging or env:Body")
    seed = messaging.get(c.WSU_ID) or element_id("id", "messaging")
    prefix = _soap_prefix(envelope)
    security = _security_header(header)
    value_type, token_der = _token(chain, token)
    bst_id = element_id("X509", seed)
    bst = _sub(security, _BST, {"EncodingType": c.ENCODING_BASE64, "ValueType": value_type, c.WSU_ID: bst_id})
    bst.text = _b64(token_der)
    signature = _sub(security, _DS + "Signature", {"Id": element_id("SIG", seed)}, nsmap={"ds": c.NS_DS})
    signed_info = _sub(signature, _DS + "SignedInfo")
    method = _sub(signed_info, _DS + "CanonicalizationMethod", {"Algorithm": c.ALG_EXC_C14N})
    _sub(method, _INCLUSIVE, {"PrefixList": prefix}, nsmap={"ec": c.NS_EXC_C14N})
    _sub(signed_info, _DS + "SignatureMethod", {"Algorithm": c.ALG_RSA_SHA256})
    targets = [messaging, body] if sign_body else [messaging]
    for target in targets:
        if not target.get(c.WSU_ID):
            target.set(c.WSU_ID, element_id("id", etree.QName(target).localname + "|" + seed))
        digest = hashlib.sha256(c14n(target)).digest()
        _add_reference(signed_info, "#" + target.get(c.WSU_ID, ""), c.ALG_EXC_C14N, digest)
    for cid, content in (attachments or {}).items():
        _add_reference(signed_info, f"cid:{cid}", c.ALG_ATTACHMENT_CONTENT_SIGNATURE, hashlib.sha256(content).digest())
    value = key.sign(c14n(signed_info, [prefix]), _PADDING, _SHA256)
    _sub(signature, _DS + "SignatureValue").text = _b64(value)
    key_info = _sub(signature, _DS + "KeyInfo", {"Id": element_id("KI", seed)})
    str_el = _sub(
        key_info,
        _STR,
        {c.WSU_ID: element_id("STR", seed), f"{{{c.NS_WSSE11}}}TokenType": value_type},
        nsmap={"wsse11": c.NS_WSSE11},
    )
    _sub(str_el, f"{{{c.NS_WSSE}}}Reference", {"URI": "#" + bst_id, "ValueType": value_type})
    return signature


def signature_references(envelope: etree._Element) -> tuple[bytes, ...]:
    """The ds:Reference elements of a (sent) signed envelope, serialised for NRR comparison."""
    signature = first(envelope, _HEADER, _SECURITY, _DS + "Signature")
    return tuple(c14n(ref) for ref in _REFERENCES(signature)) if signature is not None else ()


def _fail(code: str, detail: str) -> EbmsError:
    return EbmsError(code, detail)


def first(parent: etree._Element | None, *path: str) -> etree._Element | None:
    """First child matching each tag of ``path`` in turn (iterchildren: faster than find())."""
    for tag in path:
        if parent is None:
            return None
        parent = next(parent.iterchildren(tag), None)
    return parent


def _only(parent: etree._Element, tag: str, what: str, code: str = "EBMS:0101") -> etree._Element:
    found = list(parent.iterchildren(tag))
    if len(found) != 1:
        raise _fail(code, f"{what} {'missing' if not found else 'repeated'} in the signature (XML-DSig §4)")
    return found[0]


def _id_index(envelope: etree._Element) -> dict[str, etree._Element]:
    """Every Id-like attribute value to its element; a duplicate is a wrapping attempt (EBMS:0101)."""
    index: dict[str, etree._Element] = {}
    for value in _ID_ATTRIBUTES(envelope):
        element = value.getparent()
        if value in index and index[value] is not element:
            raise _fail("EBMS:0101", f"duplicate id {value!r}: ambiguous reference target (signature wrapping?)")
        index[str(value)] = element
    return index


def _prefix_list(method: etree._Element) -> list[str]:
    inclusive = first(method, _INCLUSIVE)
    return (inclusive.get("PrefixList") or "").split() if inclusive is not None else []


@lru_cache(maxsize=512)
def _token_material(value_type: str, der: bytes) -> tuple[tuple[x509.Certificate, ...], rsa.RSAPublicKey | None]:
    chain = decode_pkipath(der) if value_type == c.VALUE_TYPE_PKIPATH else (load_certificate(der),)
    key = chain[0].public_key()
    return chain, key if isinstance(key, rsa.RSAPublicKey) else None


def _resolve_token(signature: etree._Element, ids: Mapping[str, etree._Element]) -> tuple[str, bytes]:
    """KeyInfo/SecurityTokenReference/Reference -> BinarySecurityToken (ICD §4.6.2: MUST be used)."""
    key_info = _only(signature, _DS + "KeyInfo", "ds:KeyInfo", "EBMS:0103")
    token_ref = first(key_info, _STR, f"{{{c.NS_WSSE}}}Reference")
    uri = token_ref.get("URI", "") if token_ref is not None else ""
    if not uri.startswith("#"):
        raise _fail("EBMS:0103", "KeyInfo must reference the BinarySecurityToken (wsse:Reference URI='#…'), ICD §4.6.2")
    bst = ids.get(uri[1:])
    if bst is None or bst.tag != _BST:
        raise _fail("EBMS:0101", f"KeyInfo reference {uri} does not resolve to a wsse:BinarySecurityToken")
    value_type = bst.get("ValueType", "")
    if value_type not in (c.VALUE_TYPE_PKIPATH, c.VALUE_TYPE_X509V3):
        raise _fail("EBMS:0103", f"BinarySecurityToken ValueType {value_type!r} not accepted; use X509PKIPathv1")
    if bst.get("EncodingType", c.ENCODING_BASE64) != c.ENCODING_BASE64:
        raise _fail("EBMS:0103", "BinarySecurityToken EncodingType must be Base64Binary")
    try:
        return value_type, base64.b64decode("".join((bst.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise _fail("EBMS:0101", "BinarySecurityToken is not valid base64") from None


def _check_reference(
    ref: etree._Element, ids: Mapping[str, etree._Element], attachments: Mapping[str, bytes]
) -> tuple[str, str]:
    """Check one ds:Reference's policy and digest; returns (URI, target description)."""
    uri = ref.get("URI")
    if uri is None:
        raise _fail("EBMS:0101", "ds:Reference without URI cannot be resolved")
    transforms = [str(alg) for alg in _TRANSFORM_ALGS(ref)]
    method = _only(ref, _DS + "DigestMethod", "ds:DigestMethod").get("Algorithm")
    if method != c.ALG_SHA256:
        raise _fail("EBMS:0103", f"reference {uri}: digest algorithm {method!r} not allowed; SHA-256 required")
    try:
        expected = base64.b64decode("".join((_only(ref, _DS + "DigestValue", "ds:DigestValue").text or "").split()))
    except (binascii.Error, ValueError):
        raise _fail("EBMS:0101", f"reference {uri}: DigestValue is not base64") from None
    if uri.startswith("#"):
        if transforms != [c.ALG_EXC_C14N]:
            raise _fail("EBMS:0103", f"reference {uri}: transforms {transforms} not allowed; exactly exc-c14n")
        target = ids.get(uri[1:])
        if target is None:
            raise _fail("EBMS:0101", f"reference {uri} does not resolve to any element")
        transform = first(ref, _DS + "Transforms", _DS + "Transform")
        actual = hashlib.sha256(c14n(target, _prefix_list(transform) if transform is not None else [])).digest()
        what = f"{uri} ({etree.QName(target).localname})"
    elif uri.startswith("cid:"):
        if transforms != [c.ALG_ATTACHMENT_CONTENT_SIGNATURE]:
            raise _fail("EBMS:0103", f"reference {uri}: only the Attachment-Content-Signature-Transform is allowed")
        content = attachments.get(uri[4:])
        if content is None:
            raise _fail("EBMS:0101", f"reference {uri} names no MIME part of the message")
        actual = hashlib.sha256(content).digest()
        what = f"{uri} (attachment)"
    else:
        raise _fail("EBMS:0101", f"reference {uri!r} cannot be resolved: only '#id' and 'cid:' are accepted")
    if not hmac.compare_digest(actual, expected):
        raise _fail("EBMS:0101", f"digest mismatch for reference {what}: content changed after signing")
    return uri, what


def verify_envelope(envelope: etree._Element, attachments: Mapping[str, bytes]) -> SignatureInfo:
    """Verify the WSS signature of ``envelope`` against the MIME ``attachments`` (cid -> octets).

    EBMS:0103 (policy): no Security/Signature, other algorithms than exc-c14n/RSA-SHA256/SHA-256,
    a KeyInfo that is not a BST reference, eb:Messaging not signed. EBMS:0101 (authentication):
    unresolvable or ambiguous reference (duplicate id = wrapping), digest mismatch (naming the
    reference), malformed token, SignatureValue not made by the leaf of the token's chain.
    """
    header = first(envelope, _HEADER)
    securities = list(header.iterchildren(_SECURITY)) if header is not None else []
    if len(securities) != 1:
        raise _fail("EBMS:0103", "no wsse:Security header" if not securities else "more than one wsse:Security header")
    signatures = list(securities[0].iterchildren(_DS + "Signature"))
    if len(signatures) != 1:
        raise _fail("EBMS:0103", "no ds:Signature in wsse:Security" if not signatures else "more than one ds:Signature")
    signature = signatures[0]
    signed_info = _only(signature, _DS + "SignedInfo", "ds:SignedInfo")
    c14n_method = _only(signed_info, _DS + "CanonicalizationMethod", "ds:CanonicalizationMethod")
    if c14n_method.get("Algorithm") != c.ALG_EXC_C14N:
        raise _fail("EBMS:0103", f"canonicalization {c14n_method.get('Algorithm')!r} not allowed; exc-c14n required")
    sig_alg = _only(signed_info, _DS + "SignatureMethod", "ds:SignatureMethod").get("Algorithm", "")
    if sig_alg != c.ALG_RSA_SHA256:
        raise _fail("EBMS:0103", f"signature algorithm {sig_alg!r} not allowed; rsa-sha256 required (ICD Annex 2)")
    ids = _id_index(envelope)
    value_type, token_der = _resolve_token(signature, ids)
    try:
        chain, public_key = _token_material(value_type, token_der)
    except PkiPathError as exc:
        raise _fail("EBMS:0101", f"BinarySecurityToken is not a valid {value_type.rsplit('#', 1)[-1]}: {exc}") from None
    if public_key is None:
        raise _fail("EBMS:0103", "the signing certificate does not hold an RSA key (rsa-sha256 required)")
    references = _REFERENCES(signature)
    if not references:
        raise _fail("EBMS:0103", "ds:SignedInfo has no ds:Reference")
    uris = [_check_reference(ref, ids, attachments)[0] for ref in references]
    messaging = first(header, _MESSAGING)
    if messaging is None or "#" + messaging.get(c.WSU_ID, "\0") not in uris:
        raise _fail("EBMS:0103", "eb:Messaging is not covered by the signature (AS4 §5.1.4, ICD Annex 5)")
    try:
        value = base64.b64decode("".join((_only(signature, _DS + "SignatureValue", "ds:SignatureValue").text or "").split()))
        public_key.verify(value, c14n(signed_info, _prefix_list(c14n_method)), _PADDING, _SHA256)
    except (binascii.Error, ValueError, InvalidSignature):
        raise _fail("EBMS:0101", _bad_signature_detail(chain, value_type)) from None
    body = first(envelope, _BODY)
    covered = frozenset(uri[4:] for uri in uris if uri.startswith("cid:"))
    return SignatureInfo(
        chain=chain,
        referenced_uris=tuple(uris),
        covers_messaging=True,
        covers_body=body is not None and "#" + body.get(c.WSU_ID, "\0") in uris,
        covers_attachments=all(cid in covered for cid in attachments),
        references=tuple(c14n(ref) for ref in references),
        digest_algorithms=(c.ALG_SHA256,),
        signature_algorithm=sig_alg,
        token_type=value_type,
        covered_cids=covered,
    )


def _bad_signature_detail(chain: Sequence[x509.Certificate], value_type: str) -> str:
    detail = "SignatureValue does not verify with the key of the token's leaf certificate"
    if value_type == c.VALUE_TYPE_PKIPATH and len(chain) > 1:
        detail += " (X509PKIPathv1 is ordered issuer first, signing certificate last)"
    return detail
