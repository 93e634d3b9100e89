"""Cross-check of our XML-DSig against an independent implementation: libxmlsec1 via python-xmlsec.

What each test exercises independently of our code:
- ``test_xmlsec_verifies_*``: xmlsec performs the complete XML-DSig core validation of messages we
  signed without attachment references (signals: receipts, pull requests, error signals - these are
  real production messages): its own reference resolution by registered ids, exclusive C14N with the
  InclusiveNamespaces PrefixList, SHA-256 digests, SignedInfo canonicalisation and RSA-SHA256.
- ``test_user_message_with_attachment_*``: python-xmlsec cannot resolve ``cid:`` URIs nor knows the
  SwA Attachment-Content-Signature-Transform, so for a real filing we check the parts separately:
  xmlsec itself computes the digests of ``#messaging`` and ``#body`` (by signing a template with the
  same references) and they must equal ours; the attachment digest is SHA-256 of the sent octets
  (hashlib); the SignatureValue is checked by xmlsec's RSA-SHA256 (``verify_binary``) over the
  canonical SignedInfo. The SignedInfo C14N itself is the one piece produced by our code (lxml) here;
  the first group covers it independently.
- ``test_our_verifier_accepts_an_xmlsec_signature``: the reverse direction - xmlsec signs, we verify.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lxml import etree

from simulator.codecs.as4 import constants as c
from simulator.codecs.as4.dsig import c14n
from simulator.codecs.as4.envelope import build_signal_envelope, serialise
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_user_message, unpack
from simulator.codecs.as4.model import PullRequest
from simulator.codecs.as4.pkipath import encode_pkipath
from simulator.codecs.as4.receipts import build_error_signal, build_pull_request, build_receipt
from simulator.codecs.as4.wss import verify_envelope
from simulator.codecs.mime import parse_multipart_related
from tests.unit.codec_fixtures import DS, EB, T0, Identity, filing, identity, payload_xml, signed_filing

xmlsec = pytest.importorskip("xmlsec")

SOAP = "{http://www.w3.org/2003/05/soap-envelope}"
WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"


def _public_key_ctx(who: Identity | None = None) -> Any:
    ctx = xmlsec.SignatureContext()
    pem = (who or identity()).leaf.public_bytes(Encoding.PEM)
    ctx.key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)
    return ctx


def _private_key_ctx() -> Any:
    pem = identity().key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
    return ctx


def _xmlsec_verify(document: bytes, who: Identity | None = None) -> etree._Element:
    root = etree.fromstring(document)
    xmlsec.tree.add_ids(root, ["Id"])  # registers wsu:Id (matched by local name) as ID attributes
    _public_key_ctx(who).verify(root.find(f".//{DS}Signature"))
    return root


def _received_filing() -> tuple[etree._Element, dict[str, bytes]]:
    trader = identity()
    content_type, body = pack_user_message(
        filing(), [("message", payload_xml(), "application/xml")], key=trader.key, chain=trader.chain
    )
    inbound = unpack(content_type, body)
    mime = parse_multipart_related(content_type, body)
    assert inbound.envelope_bytes == mime.root.content
    return etree.fromstring(mime.root.content), {cid: p.content for cid, p in mime.attachments.items()}


def test_xmlsec_verifies_our_receipt() -> None:
    trader, sti = identity(), identity("sti")
    content_type, body = pack_user_message(
        filing(), [("message", payload_xml(), "application/xml")], key=trader.key, chain=trader.chain
    )
    receipt = build_receipt(
        unpack(content_type, body), key=sti.key, chain=sti.chain, message_id="r@x", timestamp=T0
    )
    checked = _xmlsec_verify(receipt, sti)
    assert len(checked.findall(f".//{EB}Receipt/*/*/{DS}Reference")) == 3


def test_xmlsec_verifies_our_pull_request_and_error_signal() -> None:
    trader = identity()
    _xmlsec_verify(
        build_pull_request(
            c.c2t_mpc("NL1"), key=trader.key, chain=trader.chain, message_id="p@x", timestamp=T0
        )
    )
    signal = build_error_signal(
        [EbmsError("EBMS:0004", "not registered", "m@x", "A001")],
        ref_to_message_id="m@x",
        message_id="e@x",
        timestamp=T0,
        key=trader.key,
        chain=trader.chain,
    )
    _xmlsec_verify(signal)


def test_xmlsec_refuses_what_we_refuse() -> None:
    trader = identity()
    pull = build_pull_request("urn:q", key=trader.key, chain=trader.chain, message_id="p@x", timestamp=T0)
    tampered = pull.replace(b'mpc="urn:q"', b'mpc="urn:other"')
    with pytest.raises(xmlsec.Error):
        _xmlsec_verify(tampered)
    with pytest.raises(EbmsError, match="digest mismatch"):
        verify_envelope(etree.fromstring(tampered), {})


def _xmlsec_digests(root: etree._Element, uris: list[str]) -> dict[str, str]:
    """Let xmlsec sign a template with the given same-document references and return its digests."""
    copy = etree.fromstring(etree.tostring(root))
    ours = copy.find(f".//{DS}Signature")
    security = ours.getparent()
    security.remove(ours)
    template = xmlsec.template.create(
        copy, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
    )
    security.append(template)
    for uri in uris:
        ref = xmlsec.template.add_reference(template, xmlsec.constants.TransformSha256, uri=uri)
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    xmlsec.tree.add_ids(copy, ["Id"])
    _private_key_ctx().sign(template)
    return {
        ref.get("URI", ""): ref.findtext(f"{DS}DigestValue", "")
        for ref in template.iterfind(f"{DS}SignedInfo/{DS}Reference")
    }


def test_user_message_with_attachment_digests_match_xmlsec() -> None:
    root, parts = _received_filing()
    ours = {
        ref.get("URI", ""): ref.findtext(f"{DS}DigestValue", "")
        for ref in root.iterfind(f".//{DS}SignedInfo/{DS}Reference")
    }
    same_document = [uri for uri in ours if uri.startswith("#")]
    assert len(same_document) == 2  # eb:Messaging and env:Body
    assert _xmlsec_digests(root, same_document) == {uri: ours[uri] for uri in same_document}
    assert ours["cid:message"] == base64.b64encode(hashlib.sha256(parts["message"]).digest()).decode()


def test_user_message_with_attachment_signature_value_verifies_with_xmlsec() -> None:
    root, _ = _received_filing()
    signed_info = root.find(f".//{DS}SignedInfo")
    value = base64.b64decode(root.findtext(f".//{DS}SignatureValue", ""))
    ctx = _public_key_ctx()
    assert ctx.verify_binary(c14n(signed_info, ["env"]), xmlsec.constants.TransformRsaSha256, value) is None
    with pytest.raises(xmlsec.Error):
        ctx.verify_binary(c14n(signed_info, ["env"]) + b" ", xmlsec.constants.TransformRsaSha256, value)


def test_our_verifier_accepts_an_xmlsec_signature() -> None:
    """xmlsec signs a pull request (exc-c14n, InclusiveNamespaces 'env', RSA-SHA256, SHA-256) and our
    verify_envelope must accept it once the WSS KeyInfo (STR -> BST) is attached."""
    trader = identity()
    root = etree.fromstring(serialise(build_signal_envelope(PullRequest("p@x", T0, "urn:q"))))
    header = root.find(f"{SOAP}Header")
    security = etree.Element(f"{WSSE}Security", nsmap={"wsse": c.NS_WSSE, "wsu": c.NS_WSU})
    header.insert(0, security)
    bst = etree.SubElement(
        security,
        f"{WSSE}BinarySecurityToken",
        {"ValueType": c.VALUE_TYPE_PKIPATH, "EncodingType": c.ENCODING_BASE64, c.WSU_ID: "X509-1"},
    )
    bst.text = base64.b64encode(encode_pkipath(trader.chain)).decode()
    template = xmlsec.template.create(
        root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
    )
    security.append(template)
    method = template.find(f"{DS}SignedInfo/{DS}CanonicalizationMethod")
    xmlsec.template.transform_add_c14n_inclusive_namespaces(method, ["env"])
    for element in (root.find(f".//{EB}Messaging"), root.find(f"{SOAP}Body")):
        ref = xmlsec.template.add_reference(
            template,
            xmlsec.constants.TransformSha256,
            uri="#" + element.get(c.WSU_ID, ""),
        )
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    xmlsec.tree.add_ids(root, ["Id"])
    _private_key_ctx().sign(template)
    key_info = etree.SubElement(template, f"{DS}KeyInfo")
    token_ref = etree.SubElement(key_info, f"{WSSE}SecurityTokenReference")
    etree.SubElement(token_ref, f"{WSSE}Reference", {"URI": "#X509-1", "ValueType": c.VALUE_TYPE_PKIPATH})
    info = verify_envelope(etree.fromstring(etree.tostring(root)), {})
    assert info.chain == trader.chain
    assert info.covers_body


def test_signed_filing_fixture_verifies_with_xmlsec_digests() -> None:
    root, parts = signed_filing()
    same_document = [
        r.get("URI", "") for r in root.iterfind(f".//{DS}Reference") if r.get("URI", "").startswith("#")
    ]
    digests = _xmlsec_digests(root, same_document)
    for uri, digest in digests.items():
        assert root.findtext(f".//{DS}Reference[@URI='{uri}']/{DS}DigestValue") == digest
    verify_envelope(root, parts)
