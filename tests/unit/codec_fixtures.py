"""Throw-away test PKI and message factories for the codec tests (independent of certs/).

Each identity is a 3-level chain root -> issuing CA -> leaf with RSA-2048 keys, generated once per
test process (functools.cache) with fixed validity dates so runs are repeatable.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.dsig import c14n
from simulator.codecs.as4.envelope import build_user_message_envelope, serialise
from simulator.codecs.as4.model import PartInfo, PartyRef, UserMessage
from simulator.codecs.as4.wss import sign_envelope

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2044, 1, 1, tzinfo=UTC)
T0 = datetime(2025, 3, 1, 12, 30, 45, 123000, tzinfo=UTC)
TRADER_EORI = "NL0123456789"


@dataclass(frozen=True)
class Identity:
    """A signing identity: leaf key and its chain (leaf first: leaf, issuing CA, root)."""

    key: rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...]
    root_key: rsa.RSAPrivateKey
    issuing_key: rsa.RSAPrivateKey

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: str,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    serial: int,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


@cache
def identity(name: str = "trader") -> Identity:
    """A fresh 3-level chain for ``name`` (cached per process)."""
    root_key, issuing_key, leaf_key = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    base = sum(name.encode()) * 1000
    root = _cert(f"{name} Test Root CA", root_key, f"{name} Test Root CA", root_key, ca=True, serial=base + 1)
    issuing = _cert(
        f"{name} Issuing CA", issuing_key, f"{name} Test Root CA", root_key, ca=True, serial=base + 2
    )
    leaf = _cert(f"{name} AS4 seal", leaf_key, f"{name} Issuing CA", issuing_key, ca=False, serial=base + 3)
    return Identity(leaf_key, (leaf, issuing, root), root_key, issuing_key)


def filing(
    message_id: str = "4f5b9a1e-0000-4000-8000-000000000001@trader.example", **changes: object
) -> UserMessage:
    """An ICS2 t2c ENS filing header (IE3F32) from a trader to the STI."""
    fields: dict[str, object] = {
        "message_id": message_id,
        "timestamp": T0,
        "from_party": PartyRef(TRADER_EORI, c.PARTY_TYPE_EORI, c.ROLE_TRADER),
        "to_party": PartyRef(c.STI_PARTY_ID, c.PARTY_TYPE_AUTH, c.ROLE_CUSTOMS),
        "agreement_ref": c.AGREEMENT_V2,
        "agreement_type": c.AGREEMENT_TYPE,
        "service": c.SERVICE_T2C,
        "service_type": c.SERVICE_TYPE,
        "action": "IE3F32",
        "conversation_id": "1",
    }
    fields.update(changes)
    return UserMessage(**fields)  # type: ignore[arg-type]


def payload_xml(size: int = 2048) -> bytes:
    """A UTF-8 XML business payload of about ``size`` bytes."""
    head = b'<?xml version="1.0" encoding="UTF-8"?><IE3F32 xmlns="urn:test:ics2"><LRN>LRN0001</LRN>'
    items: list[bytes] = []
    n = 0
    while len(head) + sum(map(len, items)) < size - 20:
        items.append(f"<Item><Seq>{n}</Seq><Descr>Garden furniture, teak, item {n}</Descr></Item>".encode())
        n += 1
    return head + b"".join(items) + b"</IE3F32>"


DS = "{http://www.w3.org/2000/09/xmldsig#}"
EB = "{http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/}"


def resign(envelope: etree._Element, key: rsa.RSAPrivateKey) -> None:
    """Recompute the SignatureValue after a test edited SignedInfo, so that only the edit is judged."""
    signed_info = envelope.find(f".//{DS}SignedInfo")
    assert signed_info is not None
    value = key.sign(c14n(signed_info, ["env"]), padding.PKCS1v15(), hashes.SHA256())
    signature_value = envelope.find(f".//{DS}SignatureValue")
    assert signature_value is not None
    signature_value.text = base64.b64encode(value).decode()


def signed_filing(
    who: Identity | None = None, *, attachments: dict[str, bytes] | None = None, **sign_options: Any
) -> tuple[etree._Element, dict[str, bytes]]:
    """A signed, re-parsed (as received) filing envelope and its attachment octets."""
    who = who or identity()
    parts = attachments if attachments is not None else {"message": gzip.compress(payload_xml(), mtime=0)}
    infos = tuple(
        PartInfo(
            cid, {c.PROPERTY_MIME_TYPE: "application/xml", c.PROPERTY_COMPRESSION_TYPE: c.GZIP_MEDIA_TYPE}
        )
        for cid in parts
    )
    root = build_user_message_envelope(filing(part_infos=infos))
    sign_envelope(root, key=who.key, chain=who.chain, attachments=parts, **sign_options)
    return etree.fromstring(serialise(root)), parts


#: An internal DTD subset with the "billion laughs" entity expansion (never expanded by us).
BILLION_LAUGHS_DTD = (
    b'<!DOCTYPE env:Envelope [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
