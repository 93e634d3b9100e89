"""Namespaces, algorithm identifiers and ICS2 profile values of the AS4 codec.

Sources: SOAP 1.2; OASIS ebMS 3.0 Core and the AS4 profile; WS-Security 1.1.1 (SOAP Message
Security, X.509 Token Profile, SwA Profile 1.1); XML-DSig, XML-Enc 1.1; and the ICS2 Harmonised
Trader Interface ICD v3.30 §4 and Annex 2 (P-Modes), summarised in shared/domain/ics2.md.
"""

from __future__ import annotations

from typing import Final

# --- XML namespaces -------------------------------------------------------------------------
NS_SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
NS_EB: Final = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
NS_EBBP: Final = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0"
NS_WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSSE11: Final = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
NS_WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_DS: Final = "http://www.w3.org/2000/09/xmldsig#"
NS_XENC: Final = "http://www.w3.org/2001/04/xmlenc#"
NS_XENC11: Final = "http://www.w3.org/2009/xmlenc11#"
NS_EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
NS_XML: Final = "http://www.w3.org/XML/1998/namespace"

#: Prefixes used when *building* messages (the ICD Annex 6 example uses the same ones).
NSMAP: Final = {
    "env": NS_SOAP12,
    "eb": NS_EB,
    "ebbp": NS_EBBP,
    "wsse": NS_WSSE,
    "wsse11": NS_WSSE11,
    "wsu": NS_WSU,
    "ds": NS_DS,
    "xenc": NS_XENC,
    "xenc11": NS_XENC11,
    "ec": NS_EXC_C14N,
}
SOAP_PREFIX: Final = "env"

WSU_ID: Final = f"{{{NS_WSU}}}Id"

# --- Algorithms (ICD Annex 2 PMode[1].Security.*, eDelivery AS4 common profile) ---------------
ALG_EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALG_RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ALG_SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
ALG_ATTACHMENT_CONTENT_SIGNATURE: Final = (
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform"
)
ALG_ATTACHMENT_CIPHERTEXT: Final = (
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform"
)
TYPE_ATTACHMENT_CONTENT_ONLY: Final = (
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only"
)
ALG_AES128_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
ALG_RSA_OAEP_XENC11: Final = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
ALG_MGF1_SHA256: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha256"

# --- WSS token types (X.509 Token Profile 1.1; ICD §4.6.2 Table 11) ----------------------------
_X509_PROFILE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0"
VALUE_TYPE_PKIPATH: Final = f"{_X509_PROFILE}#X509PKIPathv1"
VALUE_TYPE_X509V3: Final = f"{_X509_PROFILE}#X509v3"
VALUE_TYPE_PKCS7: Final = f"{_X509_PROFILE}#PKCS7"
ENCODING_BASE64: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
TOKEN_TYPE_ENCRYPTED_KEY: Final = (  # a WSS token type URI, not a secret
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey"  # noqa: S105
)

# --- ebMS3 fixed values ----------------------------------------------------------------------
EBMS_BASE: Final = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
DEFAULT_MPC: Final = f"{EBMS_BASE}defaultMPC"
TEST_SERVICE: Final = f"{EBMS_BASE}service"  # ebMS3 §5.2.2.9 "ping" (ICD §4.5.1)
TEST_ACTION: Final = f"{EBMS_BASE}test"
MEP_ONE_WAY: Final = f"{EBMS_BASE}oneWay"
MEP_BINDING_PUSH: Final = f"{EBMS_BASE}push"
MEP_BINDING_PULL: Final = f"{EBMS_BASE}pull"

# --- MIME -----------------------------------------------------------------------------------
SOAP12_MEDIA_TYPE: Final = "application/soap+xml"
SOAP12_CONTENT_TYPE: Final = "application/soap+xml; charset=UTF-8"
GZIP_MEDIA_TYPE: Final = "application/gzip"

# --- ICS2 profile (ICD §4.2.2, §4.2.3, §4.3.3; domain/ics2.md "AS4 profile") --------------------
SERVICE_T2C: Final = "eu_ics2_t2c"
SERVICE_C2T: Final = "eu_ics2_c2t"
SERVICE_TYPE: Final = "eu-customs-service-type"
PARTY_TYPE_EORI: Final = "urn:oasis:names:tc:ebcore:partyid-type:unregistered:eu-customs:EORI"
PARTY_TYPE_AUTH: Final = "urn:oasis:names:tc:ebcore:partyid-type:unregistered:eu-customs:auth"
STI_PARTY_ID: Final = "sti-taxud"
ROLE_TRADER: Final = "Trader"
ROLE_CUSTOMS: Final = "Customs"
AGREEMENT_TYPE: Final = "ics2-interface-version"
AGREEMENT_V1: Final = "EU-ICS2-TI-V1.0"
AGREEMENT_V2: Final = "EU-ICS2-TI-V2.0"
AGREEMENTS: Final = (AGREEMENT_V1, AGREEMENT_V2)
C2T_MPC_PREFIX: Final = "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/"
PROPERTY_MIME_TYPE: Final = "MimeType"
PROPERTY_CHARACTER_SET: Final = "CharacterSet"
PROPERTY_COMPRESSION_TYPE: Final = "CompressionType"

# --- Size limits (ICD §4.2.6: 20 MB compressed, 100 MB uncompressed, "recommended") ------------
MAX_COMPRESSED_BYTES: Final = 20 * 2**20
MAX_UNCOMPRESSED_BYTES: Final = 100 * 2**20


def c2t_mpc(party_id: str) -> str:
    """The pull MPC of a trader party: ``urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/<PartyId>``."""
    return C2T_MPC_PREFIX + party_id
