"""WS-Security signatures (ICD §4.6.2, Annex 2, Annex 6): sign/verify, PkiPath tokens, tampering,
signature wrapping, algorithm policy. Each refusal must carry its precise ebMS code."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.pkipath import PkiPathError, decode_pkipath, encode_pkipath
from simulator.codecs.as4.wss import signature_references, verify_envelope
from tests.unit.codec_fixtures import DS, EB, identity, resign, signed_filing

SOAP = "{http://www.w3.org/2003/05/soap-envelope}"
WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"


def _refused(root: etree._Element, parts: dict[str, bytes]) -> EbmsError:
    with pytest.raises(EbmsError) as info:
        verify_envelope(root, parts)
    return info.value


def test_sign_then_verify_returns_the_full_chain_leaf_first() -> None:
    trader = identity()
    root, parts = signed_filing(trader)
    info = verify_envelope(root, parts)
    assert info.chain == trader.chain
    assert info.leaf == trader.leaf
    assert info.token_type == c.VALUE_TYPE_PKIPATH
    assert info.covers_messaging and info.covers_body and info.covers_attachments
    assert info.covered_cids == frozenset({"message"})
    assert info.signature_algorithm == c.ALG_RSA_SHA256
    assert info.digest_algorithms == (c.ALG_SHA256,)
    assert len(info.references) == len(info.referenced_uris) == 3
    assert info.referenced_uris[2] == "cid:message"


def test_layout_matches_the_icd_example() -> None:
    root, _ = signed_filing()
    header = root.find(f"{SOAP}Header")
    assert header is not None
    security = header[0]
    assert security.tag == f"{WSSE}Security"
    assert security.get(f"{SOAP}mustUnderstand") == "true"
    bst = security.find(f"{WSSE}BinarySecurityToken")
    assert bst is not None and bst.get("ValueType") == c.VALUE_TYPE_PKIPATH
    inclusive = root.find(f".//{DS}CanonicalizationMethod/{{{c.NS_EXC_C14N}}}InclusiveNamespaces")
    assert inclusive is not None and inclusive.get("PrefixList") == "env"
    transform = root.find(f".//{DS}Reference[@URI='cid:message']/{DS}Transforms/{DS}Transform")
    assert transform is not None and transform.get("Algorithm") == c.ALG_ATTACHMENT_CONTENT_SIGNATURE
    str_el = root.find(f".//{DS}KeyInfo/{WSSE}SecurityTokenReference")
    assert str_el is not None
    assert str_el.get(f"{{{c.NS_WSSE11}}}TokenType") == c.VALUE_TYPE_PKIPATH
    assert str_el[0].get("URI") == "#" + bst.get(c.WSU_ID, "")


def test_attachment_digest_is_over_the_octets_as_sent() -> None:
    root, parts = signed_filing()
    digest = root.findtext(f".//{DS}Reference[@URI='cid:message']/{DS}DigestValue")
    assert digest == base64.b64encode(hashlib.sha256(parts["message"]).digest()).decode()


def test_leaf_only_token_parses_as_a_one_element_chain() -> None:
    trader = identity()
    root, parts = signed_filing(trader, token="leaf-only")
    info = verify_envelope(root, parts)
    assert info.chain == (trader.leaf,)
    assert info.token_type == c.VALUE_TYPE_PKIPATH


def test_x509v3_token_is_read_so_the_caller_can_grade_it() -> None:
    trader = identity()
    root, parts = signed_filing(trader, token="x509v3")
    info = verify_envelope(root, parts)
    assert info.chain == (trader.leaf,)
    assert info.token_type == c.VALUE_TYPE_X509V3


def test_unsigned_body_is_reported_not_refused() -> None:
    root, parts = signed_filing(sign_body=False)
    info = verify_envelope(root, parts)
    assert not info.covers_body
    assert len(info.referenced_uris) == 2


def test_signature_references_of_a_sent_message() -> None:
    root, parts = signed_filing()
    sent = signature_references(root)
    assert sent == verify_envelope(root, parts).references
    assert all(
        ref.startswith(b'<ds:Reference xmlns:ds="http://www.w3.org/2000/09/xmldsig#" URI=') for ref in sent
    )


# --- tampering: EBMS:0101 ---------------------------------------------------------------------


def test_tampered_header_is_a_digest_mismatch_naming_messaging() -> None:
    root, parts = signed_filing()
    root.find(f".//{EB}Action").text = "IE3F33"
    error = _refused(root, parts)
    assert error.code == "EBMS:0101"
    assert "digest mismatch" in error.detail and "(Messaging)" in error.detail


def test_tampered_attachment_is_a_digest_mismatch_naming_the_part() -> None:
    root, parts = signed_filing()
    error = _refused(root, {"message": parts["message"] + b"\x00"})
    assert error.code == "EBMS:0101"
    assert "cid:message (attachment)" in error.detail


def test_tampered_body_is_a_digest_mismatch() -> None:
    root, parts = signed_filing()
    etree.SubElement(root.find(f"{SOAP}Body"), "{urn:x}Injected")
    assert "(Body)" in _refused(root, parts).detail


def test_tampered_signed_info_fails_the_signature_value() -> None:
    root, parts = signed_filing()
    digest = root.find(f".//{DS}Reference[@URI='cid:message']/{DS}DigestValue")
    parts = {"message": parts["message"] + b"!"}
    digest.text = base64.b64encode(hashlib.sha256(parts["message"]).digest()).decode()
    error = _refused(root, parts)
    assert error.code == "EBMS:0101"
    assert "SignatureValue does not verify" in error.detail


def test_signature_by_another_key_than_the_token_leaf_is_refused() -> None:
    trader, other = identity(), identity("intruder")
    root, parts = signed_filing(trader)
    resign(root, other.key)
    assert _refused(root, parts).code == "EBMS:0101"


def test_pkipath_in_wrong_order_is_refused_with_a_hint() -> None:
    trader = identity()
    root, parts = signed_filing(trader)
    bst = root.find(f".//{WSSE}BinarySecurityToken")
    wrong = encode_pkipath(tuple(reversed(trader.chain)))  # leaf first on the wire: wrong
    bst.text = base64.b64encode(wrong).decode()
    error = _refused(root, parts)
    assert error.code == "EBMS:0101"
    assert "issuer first" in error.detail


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("!!not base64!!", "not valid base64"),
        (base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "not a Certificate SEQUENCE"),
        (base64.b64encode(b"\x04\x00").decode(), "must be a DER SEQUENCE"),
    ],
)
def test_malformed_token_is_an_authentication_failure(token: str, detail: str) -> None:
    root, parts = signed_filing()
    root.find(f".//{WSSE}BinarySecurityToken").text = token
    error = _refused(root, parts)
    assert (error.code, detail in error.detail) == ("EBMS:0101", True)


def test_unresolvable_reference() -> None:
    root, parts = signed_filing()
    root.find(f".//{DS}Reference").set("URI", "#nowhere")
    resign(root, identity().key)
    error = _refused(root, parts)
    assert (error.code, "does not resolve" in error.detail) == ("EBMS:0101", True)


def test_reference_to_missing_attachment() -> None:
    root, _ = signed_filing()
    error = _refused(root, {})
    assert (error.code, "names no MIME part" in error.detail) == ("EBMS:0101", True)


@pytest.mark.parametrize("uri", ["http://evil.example/x", "", "#xpointer(/)"])
def test_references_other_than_id_or_cid_are_refused(uri: str) -> None:
    root, parts = signed_filing()
    root.find(f".//{DS}Reference").set("URI", uri)
    resign(root, identity().key)
    assert _refused(root, parts).code == "EBMS:0101"


# --- signature wrapping -------------------------------------------------------------------------


def test_wrapping_attack_with_a_duplicate_id_is_refused() -> None:
    """Classic XSW: the signed eb:Messaging is moved into a wrapper, a forged one takes its place."""
    root, parts = signed_filing()
    header = root.find(f"{SOAP}Header")
    original = header.find(f"{EB}Messaging")
    forged = etree.fromstring(etree.tostring(original))
    forged.find(f".//{EB}Action").text = "IE3F99"
    wrapper = etree.SubElement(header.find(f"{WSSE}Security"), "{urn:evil}Wrapper")
    wrapper.append(original)
    header.append(forged)
    error = _refused(root, parts)
    assert error.code == "EBMS:0101"
    assert "duplicate id" in error.detail


# --- policy: EBMS:0103 ----------------------------------------------------------------------------


def test_no_security_header() -> None:
    root, parts = signed_filing()
    security = root.find(f".//{WSSE}Security")
    security.getparent().remove(security)
    error = _refused(root, parts)
    assert (error.code, error.detail) == ("EBMS:0103", "no wsse:Security header")


def test_security_header_without_signature() -> None:
    root, parts = signed_filing()
    signature = root.find(f".//{DS}Signature")
    signature.getparent().remove(signature)
    assert _refused(root, parts).detail == "no ds:Signature in wsse:Security"


@pytest.mark.parametrize(
    ("path", "attribute", "value", "detail"),
    [
        (
            f"{DS}SignatureMethod",
            "Algorithm",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "rsa-sha256 required",
        ),
        (
            f"{DS}CanonicalizationMethod",
            "Algorithm",
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            "exc-c14n",
        ),
        (f"{DS}Reference/{DS}DigestMethod", "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1", "SHA-256"),
        (
            f"{DS}Reference/{DS}Transforms/{DS}Transform",
            "Algorithm",
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            "exactly exc-c14n",
        ),
        (
            f"{DS}Reference[@URI='cid:message']/{DS}Transforms/{DS}Transform",
            "Algorithm",
            "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Complete-Signature-Transform",
            "Attachment-Content-Signature only",
        ),
    ],
    ids=["rsa-sha1", "inclusive-c14n", "sha1-digest", "enveloped-transform", "complete-transform"],
)
def test_algorithms_outside_the_profile(path: str, attribute: str, value: str, detail: str) -> None:
    root, parts = signed_filing()
    root.find(f".//{DS}SignedInfo/{path}").set(attribute, value)
    resign(root, identity().key)
    error = _refused(root, parts)
    assert error.code == "EBMS:0103"
    assert detail in error.detail


def test_messaging_not_covered_by_the_signature() -> None:
    root, parts = signed_filing()
    messaging_id = root.find(f".//{EB}Messaging").get(c.WSU_ID)
    ref = root.find(f".//{DS}Reference[@URI='#{messaging_id}']")
    ref.getparent().remove(ref)
    resign(root, identity().key)
    error = _refused(root, parts)
    assert (error.code, "eb:Messaging is not covered" in error.detail) == ("EBMS:0103", True)


def test_key_info_must_reference_the_token() -> None:
    root, parts = signed_filing()
    key_info = root.find(f".//{DS}KeyInfo")
    for child in list(key_info):
        key_info.remove(child)
    assert _refused(root, parts).code == "EBMS:0103"


def test_pkcs7_token_type_is_refused() -> None:
    root, parts = signed_filing()
    root.find(f".//{WSSE}BinarySecurityToken").set("ValueType", c.VALUE_TYPE_PKCS7)
    assert _refused(root, parts).code == "EBMS:0103"


# --- PkiPath DER ----------------------------------------------------------------------------------


def test_pkipath_is_issuer_first_and_decodes_leaf_first() -> None:
    chain = identity().chain
    der = encode_pkipath(chain)
    root_der = chain[-1].public_bytes(Encoding.DER)
    assert der[0] == 0x30
    assert der.index(root_der) < der.index(chain[0].public_bytes(Encoding.DER))
    assert decode_pkipath(der) == chain
    assert decode_pkipath(encode_pkipath(chain[:1])) == chain[:1]


def test_certificates_are_cached_by_der() -> None:
    der = encode_pkipath(identity().chain)
    assert decode_pkipath(bytes(der))[0] is decode_pkipath(bytes(bytearray(der)))[0]


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"\x30\x80\x00\x00", "indefinite length"),
        (b"\x30\x05\x30\x03", "runs past the end"),
        (b"\x30\x00\x00", "trailing bytes"),
        (b"\x30\x00", "holds no certificate"),
        (b"\x30\x81\x05\x30\x03\x02\x01\x01", "non-minimal"),
        (b"\x30", "truncated"),
        (b"\x30\x04\x30\x02\x05\x00", "not a DER X.509 certificate"),
    ],
)
def test_pkipath_der_errors(der: bytes, message: str) -> None:
    with pytest.raises(PkiPathError, match=message):
        decode_pkipath(der)
