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
from simulator.codecs.as4.dsig import (
    c14n,
    check_reference,
    first,
    id_index,
    prefix_list,
    security_header,
    serialised_references,
    sub,
)
from simulator.codecs.as4.envelope import element_id
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.model import SignatureInfo
from simulator.codecs.as4.pkipath import PkiPathError, decode_pkipath, encode_pkipath, load_certificate

__all__ = [
    "PKIPATH",
    "TokenKind",
    "c14n",
    "first",
    "sign_envelope",
    "signature_references",
    "verify_envelope",
]

TokenKind = Literal["pkipath", "leaf-only", "x509v3"]
PKIPATH: TokenKind = "pkipath"
_TOKEN_KINDS: tuple[TokenKind, ...] = ("pkipath", "leaf-only", "x509v3")

_DS = f"{{{c.NS_DS}}}"
_HEADER = f"{{{c.NS_SOAP12}}}Header"
_BODY = f"{{{c.NS_SOAP12}}}Body"
_SECURITY = f"{{{c.NS_WSSE}}}Security"
_MESSAGING = f"{{{c.NS_EB}}}Messaging"
_BST = f"{{{c.NS_WSSE}}}BinarySecurityToken"
_STR = f"{{{c.NS_WSSE}}}SecurityTokenReference"
_MUST_UNDERSTAND = f"{{{c.NS_SOAP12}}}mustUnderstand"
_INCLUSIVE = f"{{{c.NS_EXC_C14N}}}InclusiveNamespaces"
_PADDING = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _add_reference(signed_info: etree._Element, uri: str, transform: str, digest: bytes) -> None:
    ref = sub(signed_info, _DS + "Reference", {"URI": uri})
    sub(sub(ref, _DS + "Transforms"), _DS + "Transform", {"Algorithm": transform})
    sub(ref, _DS + "DigestMethod", {"Algorithm": c.ALG_SHA256})
    sub(ref, _DS + "DigestValue").text = _b64(digest)


def _token(chain: Sequence[x509.Certificate], token: TokenKind) -> tuple[str, bytes]:
    """(ValueType, DER) of the BinarySecurityToken for the requested kind (ICD §4.6.2 Table 11).

    "leaf-only" (the commonest trader error, ICD §4.6.2 FAQ) is still a valid 1-element PkiPath;
    "x509v3" (a token type that "SHOULD NOT be used") exists for faulty-client variants.
    """
    if token not in _TOKEN_KINDS:
        raise ValueError(f"unknown token kind {token!r}")
    if token == _TOKEN_KINDS[2]:
        return c.VALUE_TYPE_X509V3, chain[0].public_bytes(Encoding.DER)
    return c.VALUE_TYPE_PKIPATH, encode_pkipath(chain if token == _TOKEN_KINDS[0] else chain[:1])


def sign_envelope(
    envelope: etree._Element,
    *,
    key: rsa.RSAPrivateKey,
    chain: Sequence[x509.Certificate],
    attachments: Mapping[str, bytes] | None = None,
    sign_body: bool = True,
    token: TokenKind = PKIPATH,
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
    prefix = envelope.prefix or "#default"
    security = security_header(header)
    value_type, token_der = _token(chain, token)
    bst_id = element_id("X509", seed)
    bst_attrs = {"EncodingType": c.ENCODING_BASE64, "ValueType": value_type, c.WSU_ID: bst_id}
    sub(security, _BST, bst_attrs).text = _b64(token_der)
    signature = sub(security, _DS + "Signature", {"Id": element_id("SIG", seed)}, {"ds": c.NS_DS})
    signed_info = sub(signature, _DS + "SignedInfo")
    method = sub(signed_info, _DS + "CanonicalizationMethod", {"Algorithm": c.ALG_EXC_C14N})
    sub(method, _INCLUSIVE, {"PrefixList": prefix}, {"ec": c.NS_EXC_C14N})
    sub(signed_info, _DS + "SignatureMethod", {"Algorithm": c.ALG_RSA_SHA256})
    targets = [messaging, body] if sign_body else [messaging]
    for target in targets:
        if not target.get(c.WSU_ID):
            target.set(c.WSU_ID, element_id("id", etree.QName(target).localname + "|" + seed))
        digest = hashlib.sha256(c14n(target)).digest()
        _add_reference(signed_info, "#" + target.get(c.WSU_ID, ""), c.ALG_EXC_C14N, digest)
    for cid, content in (attachments or {}).items():
        digest = hashlib.sha256(content).digest()
        _add_reference(signed_info, f"cid:{cid}", c.ALG_ATTACHMENT_CONTENT_SIGNATURE, digest)
    value = key.sign(c14n(signed_info, [prefix]), _PADDING, _SHA256)
    sub(signature, _DS + "SignatureValue").text = _b64(value)
    key_info = sub(signature, _DS + "KeyInfo", {"Id": element_id("KI", seed)})
    str_attrs = {c.WSU_ID: element_id("STR", seed), f"{{{c.NS_WSSE11}}}TokenType": value_type}
    str_el = sub(key_info, _STR, str_attrs, {"wsse11": c.NS_WSSE11})
    sub(str_el, f"{{{c.NS_WSSE}}}Reference", {"URI": "#" + bst_id, "ValueType": value_type})
    return signature


def signature_references(envelope: etree._Element) -> tuple[bytes, ...]:
    """The ds:Reference elements of a (sent) signed envelope, serialised for NRR comparison."""
    signature = first(envelope, _HEADER, _SECURITY, _DS + "Signature")
    signed_info = first(signature, _DS + "SignedInfo")
    if signed_info is None:
        return ()
    return tuple(c14n(ref) for ref in signed_info.iterchildren(_DS + "Reference"))


def _fail(code: str, detail: str) -> EbmsError:
    return EbmsError(code, detail)


def _only(parent: etree._Element, tag: str, what: str, code: str = "EBMS:0101") -> etree._Element:
    found = list(parent.iterchildren(tag))
    if len(found) != 1:
        raise _fail(code, f"{what} {'missing' if not found else 'repeated'} in the signature (XML-DSig §4)")
    return found[0]


@lru_cache(maxsize=512)
def _token_material(
    value_type: str, text: str
) -> tuple[tuple[x509.Certificate, ...], rsa.RSAPublicKey | None]:
    """Chain (leaf first) and RSA key of a BST, cached by its base64 text (same sender, every message)."""
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PkiPathError("BinarySecurityToken is not valid base64") from None
    chain = decode_pkipath(der) if value_type == c.VALUE_TYPE_PKIPATH else (load_certificate(der),)
    key = chain[0].public_key()
    return chain, key if isinstance(key, rsa.RSAPublicKey) else None


def _resolve_token(signature: etree._Element, ids: Mapping[str, etree._Element]) -> tuple[str, str]:
    """KeyInfo/SecurityTokenReference/Reference -> BinarySecurityToken (ICD §4.6.2: MUST be used).

    Returns (ValueType, base64 text). Only X509PKIPathv1 and X509v3 tokens are read (the latter
    so a faulty client gets a precise verdict from the caller rather than a blanket refusal).
    """
    key_info = _only(signature, _DS + "KeyInfo", "ds:KeyInfo", "EBMS:0103")
    token_ref = first(key_info, _STR, f"{{{c.NS_WSSE}}}Reference")
    uri = token_ref.get("URI", "") if token_ref is not None else ""
    if not uri.startswith("#"):
        raise _fail("EBMS:0103", "KeyInfo must reference the BinarySecurityToken (ICD §4.6.2)")
    bst = ids.get(uri[1:])
    if bst is None or bst.tag != _BST:
        raise _fail("EBMS:0101", f"KeyInfo reference {uri} does not resolve to a wsse:BinarySecurityToken")
    value_type = bst.get("ValueType", "")
    if value_type not in (c.VALUE_TYPE_PKIPATH, c.VALUE_TYPE_X509V3):
        raise _fail("EBMS:0103", f"BinarySecurityToken ValueType {value_type!r} refused; use X509PKIPathv1")
    if bst.get("EncodingType", c.ENCODING_BASE64) != c.ENCODING_BASE64:
        raise _fail("EBMS:0103", "BinarySecurityToken EncodingType must be Base64Binary")
    return value_type, bst.text or ""


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
        raise _fail(
            "EBMS:0103", "no wsse:Security header" if not securities else "several wsse:Security headers"
        )
    signatures = list(securities[0].iterchildren(_DS + "Signature"))
    if len(signatures) != 1:
        raise _fail(
            "EBMS:0103", "no ds:Signature in wsse:Security" if not signatures else "several ds:Signature"
        )
    signature = signatures[0]
    signed_info = _only(signature, _DS + "SignedInfo", "ds:SignedInfo")
    c14n_method = _only(signed_info, _DS + "CanonicalizationMethod", "ds:CanonicalizationMethod")
    if (c14n_alg := c14n_method.get("Algorithm")) != c.ALG_EXC_C14N:
        raise _fail("EBMS:0103", f"canonicalization {c14n_alg!r} refused; exc-c14n required (ICD Annex 6)")
    sig_alg = _only(signed_info, _DS + "SignatureMethod", "ds:SignatureMethod").get("Algorithm", "")
    if sig_alg != c.ALG_RSA_SHA256:
        raise _fail(
            "EBMS:0103", f"signature algorithm {sig_alg!r} refused; rsa-sha256 required (ICD Annex 2)"
        )
    ids = id_index(envelope)
    value_type, token_text = _resolve_token(signature, ids)
    try:
        chain, public_key = _token_material(value_type, token_text)
    except PkiPathError as exc:
        raise _fail("EBMS:0101", f"unreadable {value_type.rsplit('#', 1)[-1]} token: {exc}") from None
    if public_key is None:
        raise _fail("EBMS:0103", "the signing certificate does not hold an RSA key (rsa-sha256 required)")
    references = list(signed_info.iterchildren(_DS + "Reference"))
    if not references:
        raise _fail("EBMS:0103", "ds:SignedInfo has no ds:Reference")
    uris = [check_reference(ref, ids, attachments) for ref in references]
    messaging = first(header, _MESSAGING)
    if messaging is None or "#" + messaging.get(c.WSU_ID, "\0") not in uris:
        raise _fail("EBMS:0103", "eb:Messaging is not covered by the signature (AS4 §5.1.4, ICD Annex 5)")
    canonical = c14n(signed_info, prefix_list(c14n_method))
    value_text = _only(signature, _DS + "SignatureValue", "ds:SignatureValue").text or ""
    try:
        public_key.verify(base64.b64decode("".join(value_text.split())), canonical, _PADDING, _SHA256)
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
        references=serialised_references(signed_info, canonical, references),
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
