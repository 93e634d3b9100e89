"""Payload encryption per WSS SwA 1.1 (AES-128-GCM, RSA-OAEP xenc11 with SHA-256/MGF1-SHA-256):
optional in ICS2 (ICD Annex 2 Encrypt=False) but accepted when present. Sign-then-encrypt."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.encryption import (
    decrypt_attachments,
    encrypt_attachment,
    encrypt_attachments,
    is_encrypted,
)
from simulator.codecs.as4.envelope import build_user_message_envelope
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_user_message, unpack
from simulator.codecs.mime import parse_multipart_related
from tests.unit.codec_fixtures import filing, identity, payload_xml

X = "{http://www.w3.org/2001/04/xmlenc#}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"


def _encrypted_message() -> tuple[str, bytes]:
    trader, sti = identity(), identity("sti")
    return pack_user_message(
        filing(),
        [("message", payload_xml(), "application/xml")],
        key=trader.key,
        chain=trader.chain,
        encrypt_for=sti.leaf,
    )


def test_encrypt_then_decrypt_round_trip_and_structure() -> None:
    sti = identity("sti")
    root = build_user_message_envelope(filing())
    ciphertext = encrypt_attachment(
        root, "message", b"secret payload", recipient=sti.leaf, mime_type="application/gzip"
    )
    assert is_encrypted(root)
    assert len(ciphertext) == 12 + len(b"secret payload") + 16  # IV || data || GCM tag
    ek = root.find(f".//{X}EncryptedKey")
    assert ek is not None
    assert ek.find(f"{X}EncryptionMethod").get("Algorithm") == c.ALG_RSA_OAEP_XENC11
    assert ek.find(f"{X}EncryptionMethod/{{{c.NS_XENC11}}}MGF").get("Algorithm") == c.ALG_MGF1_SHA256
    data_ref = ek.find(f"{X}ReferenceList/{X}DataReference")
    data = root.find(f".//{X}EncryptedData")
    assert data is not None and data_ref is not None
    assert data_ref.get("URI") == "#" + data.get("Id", "")
    assert data.get("Type") == c.TYPE_ATTACHMENT_CONTENT_ONLY
    assert data.get("MimeType") == "application/gzip"
    assert data.find(f"{X}EncryptionMethod").get("Algorithm") == c.ALG_AES128_GCM
    assert data.find(f"{X}CipherData/{X}CipherReference").get("URI") == "cid:message"
    plain = decrypt_attachments(root, {"message": ciphertext, "other": b"clear"}, sti.key)
    assert plain == {"message": b"secret payload", "other": b"clear"}


def test_caller_supplied_key_and_iv_make_the_ciphertext_reproducible() -> None:
    sti = identity("sti")
    key, iv = bytes(range(16)), b"\x01" * 12
    out = encrypt_attachments(
        build_user_message_envelope(filing()),
        {"m": b"abc"},
        recipient=sti.leaf,
        content_key=key,
        iv_source=lambda n: iv,
    )
    assert out["m"] == iv + AESGCM(key).encrypt(iv, b"abc", None)


def test_sign_then_encrypt_message_unpacks_with_the_recipient_key() -> None:
    sti = identity("sti")
    content_type, body = _encrypted_message()
    mime = parse_multipart_related(content_type, body)
    assert mime.attachments["message"].content_type == "application/octet-stream"
    inbound = unpack(content_type, body, decrypt_key=sti.key)
    assert inbound.payloads[0].content == payload_xml()
    assert inbound.signature is not None and inbound.signature.covers_attachments


def test_encrypted_message_without_a_key_is_failed_decryption() -> None:
    content_type, body = _encrypted_message()
    with pytest.raises(EbmsError) as info:
        unpack(content_type, body)
    assert info.value.code == "EBMS:0102"
    assert info.value.ref_to_message_id == filing().message_id


def test_wrong_recipient_key_is_failed_decryption() -> None:
    content_type, body = _encrypted_message()
    with pytest.raises(EbmsError, match="content key cannot be decrypted") as info:
        unpack(content_type, body, decrypt_key=identity("intruder").key)
    assert info.value.code == "EBMS:0102"


def test_tampered_ciphertext_is_failed_decryption() -> None:
    content_type, body = _encrypted_message()
    blob = parse_multipart_related(content_type, body).attachments["message"].content
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(EbmsError, match="GCM tag") as info:
        unpack(content_type, body.replace(blob, tampered), decrypt_key=identity("sti").key)
    assert info.value.code == "EBMS:0102"


@pytest.mark.parametrize(
    ("path", "value", "detail"),
    [
        (f"{X}EncryptedKey/{X}EncryptionMethod", "http://www.w3.org/2001/04/xmlenc#rsa-1_5", "key transport"),
        (
            f"{X}EncryptedData/{X}EncryptionMethod",
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            "AES-128-GCM",
        ),
        (
            f"{X}EncryptedKey/{X}EncryptionMethod/{DS}DigestMethod",
            "http://www.w3.org/2000/09/xmldsig#sha1",
            "SHA-256",
        ),
    ],
    ids=["rsa-1_5", "aes-cbc", "oaep-sha1"],
)
def test_algorithms_outside_the_profile_are_policy_noncompliance(path: str, value: str, detail: str) -> None:
    sti = identity("sti")
    root = build_user_message_envelope(filing())
    blob = encrypt_attachment(root, "message", b"x", recipient=sti.leaf)
    root.find(f".//{path}").set("Algorithm", value)
    with pytest.raises(EbmsError, match=detail) as info:
        decrypt_attachments(root, {"message": blob}, sti.key)
    assert info.value.code == "EBMS:0103"


def test_dangling_references_are_failed_decryption() -> None:
    sti = identity("sti")
    root = build_user_message_envelope(filing())
    blob = encrypt_attachment(root, "message", b"x", recipient=sti.leaf)
    with pytest.raises(EbmsError, match="references no MIME part"):
        decrypt_attachments(root, {"other": blob}, sti.key)
    root.find(f".//{X}DataReference").set("URI", "#nothing")
    with pytest.raises(EbmsError, match="names no xenc:EncryptedData"):
        decrypt_attachments(root, {"message": blob}, sti.key)


def test_unencrypted_messages_pass_through() -> None:
    root = build_user_message_envelope(filing())
    assert not is_encrypted(root)
    assert decrypt_attachments(root, {"m": b"x"}, None) == {"m": b"x"}
    parsed = etree.fromstring(etree.tostring(root))
    assert decrypt_attachments(parsed, {}, identity("sti").key) == {}
