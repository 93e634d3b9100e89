"""Whole AS4 messages: packing a UserMessage or signal for the wire, and unpacking a received one.

:func:`unpack` is the one entry point for received HTTP bodies. It runs the checks in the order an
MSH must (ebMS3 §6, AS4 §3-5), each refusal an :class:`EbmsError` with the precise code:
content type / MIME (EBMS:0007) -> hardened XML (EBMS:0009) -> ebMS header (EBMS:0009/0011/0007)
-> decryption (EBMS:0102) -> signature (EBMS:0101/0103) -> decompression and sizes
(EBMS:0303/0010). It does not judge trust in the signing certificate: the verified chain is
returned in :attr:`InboundMessage.signature` for the caller (DESIGN.md, trust package).
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.encryption import decrypt_attachments, encrypt_attachments, is_encrypted
from simulator.codecs.as4.envelope import (
    build_signal_envelope,
    build_user_message_envelope,
    element_id,
    parse_envelope,
    serialise,
)
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.model import (
    ErrorSignal,
    InboundMessage,
    PartInfo,
    PayloadPart,
    PullRequest,
    Receipt,
    SignatureInfo,
    UserMessage,
)
from simulator.codecs.as4.wss import (
    PKIPATH,
    TokenKind,
    first,
    sign_envelope,
    signature_references,
    verify_envelope,
)
from simulator.codecs.mime import (
    MimeError,
    MimePart,
    build_multipart_related,
    parse_content_type,
    parse_multipart_related,
)
from simulator.codecs.xmlsafe import DecompressionRefused, XmlRefused, gunzip_limited, parse_xml

__all__ = ["UnpackLimits", "pack_signal", "pack_user_message", "sent_references", "unpack"]

_SECURITY = f"{{{c.NS_WSSE}}}Security"
_SIGNATURE = f"{{{c.NS_DS}}}Signature"
_HEADER = f"{{{c.NS_SOAP12}}}Header"


@dataclass(frozen=True, slots=True)
class UnpackLimits:
    """Size limits and policy of :func:`unpack` (ICD §4.2.6 sizes are "recommended": settings)."""

    max_envelope_bytes: int = 2 * 2**20
    max_compressed_bytes: int = c.MAX_COMPRESSED_BYTES  # all attachment octets as sent
    max_uncompressed_bytes: int = c.MAX_UNCOMPRESSED_BYTES  # all payloads after decompression
    require_signature: bool = True  # ICD Annex 2 PMode[1].Security.X509.Sign = True


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)  # mtime=0: deterministic output


def pack_user_message(
    um: UserMessage,
    payloads: Sequence[tuple[str, bytes, str]],
    *,
    key: rsa.RSAPrivateKey | None,
    chain: Sequence[x509.Certificate] | None,
    gzip_payloads: bool = True,
    encrypt_for: x509.Certificate | None = None,
    sign_body: bool = True,
    token: TokenKind = PKIPATH,
) -> tuple[str, bytes]:
    """Build a SwA message: returns (Content-Type header value, body).

    ``payloads`` are (Content-ID, octets, MIME type before compression). When ``um.part_infos`` is
    empty the PartInfos are derived (MimeType, CharacterSet for XML, CompressionType per ICD
    §4.2.5); given ones are used verbatim, which lets tests build inconsistent messages. Order:
    compress -> sign (digests over the octets sent) -> encrypt (AS4 §3.1, WSS SwA §5).
    ``key=None`` sends the message unsigned (a faulty-client variant).
    """
    contents: dict[str, bytes] = {}
    part_types: dict[str, str] = {}
    infos: list[PartInfo] = []
    for cid, data, mime_type in payloads:
        properties = {c.PROPERTY_MIME_TYPE: mime_type}
        if mime_type.endswith(("/xml", "+xml")):
            properties[c.PROPERTY_CHARACTER_SET] = "UTF-8"
        if gzip_payloads:
            properties[c.PROPERTY_COMPRESSION_TYPE] = c.GZIP_MEDIA_TYPE
            data = _gzip(data)
        contents[cid] = data
        part_types[cid] = c.GZIP_MEDIA_TYPE if gzip_payloads else mime_type
        infos.append(PartInfo(cid, properties))
    if not um.part_infos:
        um = dataclasses.replace(um, part_infos=tuple(infos))
    root = build_user_message_envelope(um)
    if key is not None:
        if not chain:
            raise ValueError("signing needs the certificate chain (leaf first)")
        sign_envelope(root, key=key, chain=chain, attachments=contents, sign_body=sign_body, token=token)
    if encrypt_for is not None:
        contents = encrypt_attachments(root, contents, recipient=encrypt_for, mime_types=part_types)
        part_types = dict.fromkeys(contents, "application/octet-stream")
    parts = [MimePart.make(cid, content, part_types[cid]) for cid, content in contents.items()]
    root_cid = element_id("envelope", um.message_id) + "@as4.icssim"
    return build_multipart_related(serialise(root), parts, root_content_id=root_cid)


def pack_signal(
    signal: PullRequest | Receipt | ErrorSignal,
    *,
    key: rsa.RSAPrivateKey | None = None,
    chain: Sequence[x509.Certificate] | None = None,
    sign_body: bool = True,
    token: TokenKind = PKIPATH,
) -> tuple[str, bytes]:
    """A signal as a plain SOAP 1.2 message (no attachments): (Content-Type, envelope bytes)."""
    root = build_signal_envelope(signal)
    if key is not None:
        if not chain:
            raise ValueError("signing needs the certificate chain (leaf first)")
        sign_envelope(root, key=key, chain=chain, sign_body=sign_body, token=token)
    return c.SOAP12_CONTENT_TYPE, serialise(root)


def _split(content_type: str, body: bytes, limits: UnpackLimits) -> tuple[bytes, dict[str, bytes]]:
    """MIME level (EBMS:0007): multipart/related (SwA) or a bare SOAP 1.2 envelope."""
    media, _ = parse_content_type(content_type)
    if media == "multipart/related":
        try:
            mime = parse_multipart_related(content_type, body)
        except MimeError as exc:
            raise EbmsError("EBMS:0007", str(exc)) from None
        attachments = {cid: part.content for cid, part in mime.attachments.items()}
        sent = sum(len(content) for content in attachments.values())
        if sent > limits.max_compressed_bytes:
            raise EbmsError(
                "EBMS:0010",
                f"payload parts total {sent} bytes, over the {limits.max_compressed_bytes}-byte limit "
                "for compressed payloads (ICD §4.2.6)",
            )
        return mime.root.content, attachments
    if media == c.SOAP12_MEDIA_TYPE:
        return body, {}
    raise EbmsError(
        "EBMS:0007",
        f"Content-Type {media or '(none)'!r} is neither multipart/related nor application/soap+xml "
        "(SOAP 1.2 with attachments, ICD §4.1.5)",
    )


def _payloads(
    um: UserMessage, attachments: dict[str, bytes], limits: UnpackLimits
) -> tuple[PayloadPart, ...]:
    """Decompress each part (AS4 §3.1): failure or a bomb is EBMS:0303; sizes per ICD §4.2.6."""
    budget = limits.max_uncompressed_bytes
    out: list[PayloadPart] = []
    for info in um.part_infos:
        raw = attachments[info.content_id]
        compression = info.compression_type
        if compression is not None and compression != c.GZIP_MEDIA_TYPE:
            raise EbmsError(
                "EBMS:0303", f"cid:{info.content_id}: CompressionType {compression!r} is not application/gzip"
            )
        if compression is None:
            content = raw
            if len(content) > budget:
                raise EbmsError(
                    "EBMS:0010",
                    f"cid:{info.content_id}: payload exceeds {limits.max_uncompressed_bytes} bytes",
                )
        else:
            try:
                content = gunzip_limited(raw, max_bytes=budget)
            except DecompressionRefused as exc:
                detail = f"cid:{info.content_id}: {exc.reason}"
                if exc.limit_exceeded:
                    detail += f" (limit {limits.max_uncompressed_bytes} bytes uncompressed, ICD §4.2.6)"
                raise EbmsError("EBMS:0303", detail) from None
        budget -= len(content)
        out.append(
            PayloadPart(
                info.content_id, content, info.mime_type, compression is not None, dict(info.properties)
            )
        )
    return tuple(out)


def _verify(root: etree._Element, attachments: dict[str, bytes], um: UserMessage | None) -> SignatureInfo:
    signature = verify_envelope(root, attachments)
    if um is not None:
        unsigned = [p.content_id for p in um.part_infos if p.content_id not in signature.covered_cids]
        if unsigned:
            raise EbmsError(
                "EBMS:0103",
                "payload part(s) not covered by the signature: "
                + ", ".join(f"cid:{cid}" for cid in unsigned)
                + " (every attachment must be signed, ICD Annex 5)",
            )
    return signature


def unpack(
    content_type: str,
    body: bytes,
    *,
    limits: UnpackLimits = UnpackLimits(),
    decrypt_key: rsa.RSAPrivateKey | None = None,
) -> InboundMessage:
    """Read a received AS4 message completely or raise :class:`EbmsError` (see module docstring).

    Errors raised after the MessageId is known carry it as ``ref_to_message_id``.
    """
    if len(body) > limits.max_compressed_bytes + limits.max_envelope_bytes:
        raise EbmsError(
            "EBMS:0010", f"message of {len(body)} bytes exceeds the configured size limits (ICD §4.2.6)"
        )
    envelope_bytes, attachments = _split(content_type, body, limits)
    try:
        root = parse_xml(envelope_bytes, max_bytes=limits.max_envelope_bytes)
    except XmlRefused as exc:
        raise EbmsError("EBMS:0009", f"SOAP envelope refused: {exc.reason}") from None
    parsed = parse_envelope(root, attachments.keys(), envelope_bytes)
    message = parsed.message
    try:
        if is_encrypted(root):
            attachments = decrypt_attachments(root, attachments, decrypt_key)
        signature = None
        if limits.require_signature or first(root, _HEADER, _SECURITY, _SIGNATURE) is not None:
            signature = _verify(root, attachments, message.user_message)
        payloads = _payloads(message.user_message, attachments, limits) if message.user_message else ()
    except EbmsError as exc:
        if exc.ref_to_message_id is None:
            exc.ref_to_message_id = message.message_id
        raise
    return dataclasses.replace(message, signature=signature, payloads=payloads)


def sent_references(content_type: str, body: bytes) -> tuple[bytes, ...]:
    """The ds:Reference elements of a message we packed, to check its receipt later (EBMS:0302)."""
    envelope_bytes, _ = _split(content_type, body, UnpackLimits(require_signature=False))
    return signature_references(parse_xml(envelope_bytes))
