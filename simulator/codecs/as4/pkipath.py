"""X509PKIPathv1 tokens: a DER ``PkiPath ::= SEQUENCE OF Certificate`` (WSS X.509 Token Profile
1.1 §3.1, ICD §4.6.2 Table 11), written with a minimal DER reader/writer of our own.

A PkiPath is ordered issuer first, target (leaf) last; this module's API is leaf first, like the
rest of the codec. Parsed certificates are cached by their DER octets: the same trader certificate
arrives on every message, and parsing it is the dearest part of reading a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = ["PkiPathError", "decode_pkipath", "encode_pkipath", "load_certificate"]

_SEQUENCE = 0x30


class PkiPathError(ValueError):
    """The token is not a well-formed DER PkiPath (or certificate)."""


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Read one DER TLV at ``pos``: return (tag, content start, end). Definite lengths only."""
    if pos + 2 > len(data):
        raise PkiPathError(f"truncated DER at offset {pos}")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0:
            raise PkiPathError("indefinite length is not DER")
        if count > 4 or pos + count > len(data):
            raise PkiPathError(f"unsupported or truncated length field at offset {pos - 2}")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise PkiPathError("non-minimal DER length encoding")
        pos += count
    end = pos + length
    if end > len(data):
        raise PkiPathError(f"DER element at offset {pos} runs past the end of the token")
    return tag, pos, end


@lru_cache(maxsize=1024)
def load_certificate(der: bytes) -> x509.Certificate:
    """Parse a DER certificate once per process (hot path: same sender, every message)."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise PkiPathError(f"not a DER X.509 certificate: {exc}") from None


def encode_pkipath(chain: Sequence[x509.Certificate]) -> bytes:
    """DER PkiPath for ``chain`` given leaf first; the encoding is issuer first, leaf last."""
    if not chain:
        raise ValueError("a PkiPath needs at least one certificate")
    content = b"".join(cert.public_bytes(Encoding.DER) for cert in reversed(chain))
    return bytes([_SEQUENCE]) + _der_length(len(content)) + content


@lru_cache(maxsize=512)
def decode_pkipath(token: bytes) -> tuple[x509.Certificate, ...]:
    """Certificates of a DER PkiPath, returned leaf first. Raises :class:`PkiPathError`."""
    tag, start, end = _read_tlv(token, 0)
    if tag != _SEQUENCE:
        raise PkiPathError(f"PkiPath must be a DER SEQUENCE (tag 0x30), found tag 0x{tag:02x}")
    if end != len(token):
        raise PkiPathError(f"{len(token) - end} trailing bytes after the PkiPath SEQUENCE")
    certificates: list[x509.Certificate] = []
    pos = start
    while pos < end:
        tag, _, element_end = _read_tlv(token, pos)
        if tag != _SEQUENCE:
            raise PkiPathError(f"PkiPath element {len(certificates) + 1} is not a Certificate SEQUENCE")
        certificates.append(load_certificate(token[pos:element_end]))
        pos = element_end
    if not certificates:
        raise PkiPathError("PkiPath holds no certificate")
    certificates.reverse()
    return tuple(certificates)
