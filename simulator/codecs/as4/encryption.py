"""Payload encryption per the WSS SwA Profile 1.1 §5.5 (Attachment-Content-Only), as eDelivery AS4
configures it: AES-128-GCM content encryption, key transport RSA-OAEP (xenc11, SHA-256 digest,
MGF1-SHA-256) to the recipient's certificate.

The ICS2 ICD switches message-level encryption off (PMode[1].Security.X509.Encryption.Encrypt =
False; TLS gives confidentiality) but the simulator accepts it when present (domain/ics2.md).
Order is sign-then-encrypt: signature digests are over the plaintext part, so a receiver decrypts
first and then verifies. Encryption is randomised (fresh key, IV and OAEP seed) unless a key and
IVs are supplied for tests.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.dsig import first, security_header, sub
from simulator.codecs.as4.envelope import element_id
from simulator.codecs.as4.errors import EbmsError

__all__ = ["decrypt_attachments", "encrypt_attachment", "encrypt_attachments", "is_encrypted"]

_X = f"{{{c.NS_XENC}}}"
_DS = f"{{{c.NS_DS}}}"
_HEADER = f"{{{c.NS_SOAP12}}}Header"
_SECURITY = f"{{{c.NS_WSSE}}}Security"
_STR = f"{{{c.NS_WSSE}}}SecurityTokenReference"
_MUST_UNDERSTAND = f"{{{c.NS_SOAP12}}}mustUnderstand"
_IV_BYTES = 12  # GCM nonce prefix (XML-Enc 1.1 §5.2.4)
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _security(envelope: etree._Element) -> etree._Element:
    header = first(envelope, _HEADER)
    if header is None:
        raise ValueError("envelope has no env:Header")
    return security_header(header)


def _encrypted_key(
    parent: etree._Element, recipient: x509.Certificate, wrapped: bytes, ek_id: str
) -> etree._Element:
    ek = etree.Element(_X + "EncryptedKey", {"Id": ek_id}, nsmap={"xenc": c.NS_XENC})
    method = sub(ek, _X + "EncryptionMethod", {"Algorithm": c.ALG_RSA_OAEP_XENC11})
    sub(method, _DS + "DigestMethod", {"Algorithm": c.ALG_SHA256}, {"ds": c.NS_DS})
    sub(method, f"{{{c.NS_XENC11}}}MGF", {"Algorithm": c.ALG_MGF1_SHA256}, {"xenc11": c.NS_XENC11})
    key_info = sub(ek, _DS + "KeyInfo", None, {"ds": c.NS_DS})
    serial = sub(sub(sub(key_info, _STR), _DS + "X509Data"), _DS + "X509IssuerSerial")
    sub(serial, _DS + "X509IssuerName").text = recipient.issuer.rfc4514_string()
    sub(serial, _DS + "X509SerialNumber").text = str(recipient.serial_number)
    sub(sub(ek, _X + "CipherData"), _X + "CipherValue").text = base64.b64encode(wrapped).decode("ascii")
    parent.insert(0, ek)
    return sub(ek, _X + "ReferenceList")


def encrypt_attachments(
    envelope: etree._Element,
    parts: Mapping[str, bytes],
    *,
    recipient: x509.Certificate,
    mime_types: Mapping[str, str] | None = None,
    content_key: bytes | None = None,
    iv_source: Callable[[int], bytes] = os.urandom,
) -> dict[str, bytes]:
    """Encrypt each part (cid -> plaintext octets) for ``recipient``; returns cid -> ciphertext.

    Adds to wsse:Security one xenc:EncryptedKey (RSA-OAEP xenc11, SHA-256, MGF1-SHA-256) whose
    ReferenceList names one xenc:EncryptedData per part (Type Attachment-Content-Only, AES-128-GCM,
    CipherReference to the cid with the Attachment-Ciphertext-Transform). Ciphertext octets are
    IV (12) || encrypted content || GCM tag (16), as XML-Enc 1.1 §5.2.4 specifies.
    """
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("recipient certificate must hold an RSA key for RSA-OAEP key transport")
    key = content_key or AESGCM.generate_key(bit_length=128)
    if len(key) != 16:
        raise ValueError("AES-128-GCM needs a 16-byte content key")
    security = _security(envelope)
    seed = "|".join(sorted(parts)) + "|" + str(recipient.serial_number)
    ek_id = element_id("EK", seed)
    reference_list = _encrypted_key(security, recipient, public_key.encrypt(key, _OAEP), ek_id)
    cipher = AESGCM(key)
    out: dict[str, bytes] = {}
    position = 1  # EncryptedData go right after the EncryptedKey, before any signature
    for cid, plaintext in parts.items():
        ed_id = element_id("ED", seed + "|" + cid)
        sub(reference_list, _X + "DataReference", {"URI": "#" + ed_id})
        attrs = {"Id": ed_id, "Type": c.TYPE_ATTACHMENT_CONTENT_ONLY}
        if mime_types and cid in mime_types:
            attrs["MimeType"] = mime_types[cid]
        data = etree.Element(_X + "EncryptedData", attrs, nsmap={"xenc": c.NS_XENC})
        sub(data, _X + "EncryptionMethod", {"Algorithm": c.ALG_AES128_GCM})
        key_info = sub(data, _DS + "KeyInfo", None, {"ds": c.NS_DS})
        token_type = {f"{{{c.NS_WSSE11}}}TokenType": c.TOKEN_TYPE_ENCRYPTED_KEY}
        token = sub(key_info, _STR, token_type, {"wsse11": c.NS_WSSE11})
        sub(token, f"{{{c.NS_WSSE}}}Reference", {"URI": "#" + ek_id})
        reference = sub(sub(data, _X + "CipherData"), _X + "CipherReference", {"URI": f"cid:{cid}"})
        transform = {"Algorithm": c.ALG_ATTACHMENT_CIPHERTEXT}
        sub(sub(reference, _X + "Transforms"), _DS + "Transform", transform)
        security.insert(position, data)
        position += 1
        iv = iv_source(_IV_BYTES)
        out[cid] = iv + cipher.encrypt(iv, plaintext, None)
    return out


def encrypt_attachment(
    envelope: etree._Element,
    cid: str,
    content: bytes,
    *,
    recipient: x509.Certificate,
    mime_type: str | None = None,
) -> bytes:
    """Single-part convenience form of :func:`encrypt_attachments`."""
    types = {cid: mime_type} if mime_type else None
    return encrypt_attachments(envelope, {cid: content}, recipient=recipient, mime_types=types)[cid]


def is_encrypted(envelope: etree._Element) -> bool:
    """True when the Security header carries an xenc:EncryptedKey (WSS SwA §5.5)."""
    return first(envelope, _HEADER, _SECURITY, _X + "EncryptedKey") is not None


def _fail(detail: str) -> EbmsError:
    return EbmsError("EBMS:0102", detail)


def _unwrap_key(ek: etree._Element, key: rsa.RSAPrivateKey) -> bytes:
    """RSA-OAEP key transport with the xenc11 parameters of eDelivery AS4 (policy: EBMS:0103)."""
    method = first(ek, _X + "EncryptionMethod")
    algorithm = method.get("Algorithm") if method is not None else None
    if method is None or algorithm != c.ALG_RSA_OAEP_XENC11:
        raise EbmsError("EBMS:0103", f"key transport {algorithm!r} refused; xenc11#rsa-oaep required")
    digest = first(method, _DS + "DigestMethod")
    mgf = first(method, f"{{{c.NS_XENC11}}}MGF")
    digest_ok = digest is not None and digest.get("Algorithm") == c.ALG_SHA256
    if not digest_ok or mgf is None or mgf.get("Algorithm") != c.ALG_MGF1_SHA256:
        raise EbmsError("EBMS:0103", "RSA-OAEP must use SHA-256 and MGF1-SHA-256 (eDelivery AS4)")
    value = first(ek, _X + "CipherData", _X + "CipherValue")
    text = "".join((value.text or "").split()) if value is not None else ""
    try:
        return key.decrypt(base64.b64decode(text, validate=True), _OAEP)
    except (binascii.Error, ValueError):
        raise _fail(
            "the content key cannot be decrypted with our key (encrypted for another certificate?)"
        ) from None


def decrypt_attachments(
    envelope: etree._Element, attachments: Mapping[str, bytes], key: rsa.RSAPrivateKey | None
) -> dict[str, bytes]:
    """Return ``attachments`` with every encrypted part replaced by its plaintext.

    Failures give EBMS:0102 FailedDecryption (ebMS3 §6.7.2): no private key configured, a missing
    or unreadable EncryptedData/CipherReference, a part that is not in the message, a GCM tag that
    does not verify. Algorithms outside the profile give EBMS:0103.
    """
    security = first(envelope, _HEADER, _SECURITY)
    if security is None:
        return dict(attachments)
    keys = list(security.iterchildren(_X + "EncryptedKey"))
    if not keys:
        return dict(attachments)
    if key is None:
        raise _fail("the message is encrypted but no decryption key is configured for this recipient")
    data_by_id = {el.get("Id"): el for el in security.iter(_X + "EncryptedData")}
    out = dict(attachments)
    for ek in keys:
        cipher = AESGCM(_unwrap_key(ek, key))
        for ref in ek.iterfind(f"{_X}ReferenceList/{_X}DataReference"):
            data = data_by_id.get((ref.get("URI") or "").removeprefix("#"))
            if data is None:
                raise _fail(f"DataReference {ref.get('URI')!r} names no xenc:EncryptedData")
            method = first(data, _X + "EncryptionMethod")
            if method is None or method.get("Algorithm") != c.ALG_AES128_GCM:
                raise EbmsError("EBMS:0103", "content encryption must be AES-128-GCM (ICD Annex 2)")
            cipher_ref = first(data, _X + "CipherData", _X + "CipherReference")
            uri = cipher_ref.get("URI", "") if cipher_ref is not None else ""
            if not uri.startswith("cid:") or uri[4:] not in attachments:
                raise _fail(f"EncryptedData {data.get('Id')!r} references no MIME part of the message")
            blob = attachments[uri[4:]]
            try:
                out[uri[4:]] = cipher.decrypt(blob[:_IV_BYTES], blob[_IV_BYTES:], None)
            except (InvalidTag, ValueError):
                raise _fail(f"{uri}: GCM tag does not verify (tampered ciphertext or wrong key)") from None
    return out
