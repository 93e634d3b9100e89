"""Named faulty variants of the reference client: each breaks ONE requirement the way real packages do.

A variant is a function returning the `ClientFaults` a client runs with; its docstring names the
requirement it breaks (ICD section, domain/ics2.md rule, catalogue id) and the scenarios expected to catch
it, which `expected` repeats as scenario-id patterns (`feature:slug`, globs allowed) for
`python -m scenarios.mutants`. The function is called once per client, so a variant that remembers
something (the first LRN) remembers it per trader. The reference driver applies the variant named by
ICSSIM_CLIENT_VARIANT to every client it creates (scenarios/drivers/reference.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from lxml import etree

from scenarios.client.ics2 import ClientFaults
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.xmlsafe import parse_xml

ENV_VARIABLE = "ICSSIM_CLIENT_VARIANT"

# The valid single filings every package sends: the first scenarios to fail on a broken message.
VALID_FILINGS = "r1_filing_registered:a-valid-ie3f*-is-registered-and-its-ie3r01-is-pulled-and-acknowledged"
FILED_ONCE = "client_reactions:two-filings-are-each-sent-once-under-their-own-lrn-and-each-gets-one-ie3r01"
NOT_RESENT = "client_reactions:a-filing-rejected-by-ie3n99-is-not-sent-again-unchanged"


class UnknownVariant(ValueError):
    """ICSSIM_CLIENT_VARIANT names no variant of this catalogue."""


@dataclass(frozen=True)
class Variant:
    name: str
    make: Callable[[], ClientFaults]
    expected: tuple[str, ...]  # scenario-id patterns, at least one of which must fail (a MUST scenario)

    @property
    def doc(self) -> str:
        return " ".join((self.make.__doc__ or "").split())

    def expects(self, scenario_id: str) -> bool:
        return any(fnmatchcase(scenario_id, pattern) for pattern in self.expected)


VARIANTS: dict[str, Variant] = {}


def variant(name: str, *expected: str) -> Callable[[Callable[[], ClientFaults]], Callable[[], ClientFaults]]:
    def register(make: Callable[[], ClientFaults]) -> Callable[[], ClientFaults]:
        VARIANTS[name] = Variant(name, make, expected)
        return make

    return register


def lookup(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownVariant(f"{ENV_VARIABLE}={name!r} names no client variant; known: "
                             f"{', '.join(sorted(VARIANTS))}") from None


# -- security ---------------------------------------------------------------------------------------------
@variant("leaf-only-token", VALID_FILINGS)
def leaf_only_token() -> ClientFaults:
    """ICD §4.3 X509PKIPathv1 with the full path (ICD-4.3-pkipath; the commonest trader error): the token
    holds the leaf only. Every filing gets EBMS:0103 instead of a receipt: caught by the valid-filing
    scenarios of r1_filing_registered."""
    return ClientFaults(leaf_only_token=True)


@variant("body-not-signed", VALID_FILINGS)
def body_not_signed() -> ClientFaults:
    """ICD §4.3 / Annex 6 (ICD-4.3-signature-integrity): the signature must reference eb:Messaging, the
    SOAP Body and every attachment; this one leaves the Body out. EBMS:0103: caught by r1_filing_registered."""
    return ClientFaults(body_not_signed=True)


@variant("receipt-without-body", VALID_FILINGS)
def receipt_without_body() -> ClientFaults:
    """domain/ics2.md "Receipts" (ICS2-receipt-signs-body, ICS2-one-functional-reply): receipts for pulled
    messages do not sign the Body, so the IE3R01 never counts as delivered: caught by the "counts as
    delivered" step of r1_filing_registered."""
    return ClientFaults(receipt_without_body=True)


@variant("unsigned-receipt", VALID_FILINGS)
def unsigned_receipt() -> ClientFaults:
    """domain/ics2.md "Receipts" / ICD §4.3.1 (ICS2-one-functional-reply): receipts must be signed
    non-repudiation receipts; an unsigned one is refused (EBMS:0103) and the IE3R01 stays undelivered:
    caught by r1_filing_registered."""
    return ClientFaults(unsigned_receipt=True)


# -- the user message header (ICD §4.2.2) -----------------------------------------------------------------
@variant("wrong-service", VALID_FILINGS)
def wrong_service() -> ClientFaults:
    """ICD §4.2.2.5: trader-to-customs messages use Service eu_ics2_t2c; this package sends the
    customs-to-trader service eu_ics2_c2t (copied from what it receives). EBMS:0010: caught by
    r1_filing_registered."""
    return ClientFaults(service=as4c.SERVICE_C2T)


@variant("amendment-action-of-filing", "r1_amend_invalidate:an-amendment-of-a-registered-ens-is-accepted",
         "risk_outcomes:after-a-do-not-load-the-filer-amends-the-ens")
def amendment_action_of_filing() -> ClientFaults:
    """ICD §4.2.2.3 / domain/ics2.md "Messages" (Action = message id = payload root): amendments IE3Axx are
    sent with the Action of the original filing IE3Fxx. Answered by IE3N99 (root does not match the
    Action) instead of IE3N10: caught by ICS2-amendment-accepted and ICS2-dnl-then-amendment."""
    return ClientFaults(amendment_action_of_filing=True)


@variant("agreement-v1-only", "arrival_consultation:*", "partial_filings:*",
         "risk_outcomes:an-hrcm-screening-request-on-an-air-filing-is-answered-by-ie3r03")
def agreement_v1_only() -> ClientFaults:
    """ICD §4.2.2.4 / domain/ics2.md "AS4 profile": Release 2/3 messages need AgreementRef EU-ICS2-TI-V2.0;
    a package built for Release 1 sends EU-ICS2-TI-V1.0 on all of them. EBMS:0010 for IE3F20, IE3F12,
    IE3N06...: caught by arrival_consultation, partial_filings and ICS2-hrcm-air."""
    return ClientFaults(agreement=as4c.AGREEMENT_V1)


@variant("agreement-unknown-version", VALID_FILINGS)
def agreement_unknown_version() -> ClientFaults:
    """ICD §4.2.2.4: AgreementRef is EU-ICS2-TI-V1.0 or EU-ICS2-TI-V2.0; this package announces an interface
    version customs does not serve (EU-ICS2-TI-V3.0). EBMS:0010: caught by r1_filing_registered."""
    return ClientFaults(agreement="EU-ICS2-TI-V3.0")


@variant("wrong-party-id-type", VALID_FILINGS)
def wrong_party_id_type() -> ClientFaults:
    """ICD §4.2.2.1: the trader's From/PartyId is typed ...:eu-customs:EORI; this package types it like
    the customs party (...:eu-customs:auth). EBMS:0010: caught by r1_filing_registered."""
    return ClientFaults(from_party_type=as4c.PARTY_TYPE_AUTH)


@variant("default-role", VALID_FILINGS)
def default_role() -> ClientFaults:
    """ICD §4.2.2.1: From/Role is Trader; this package leaves the ebMS default role. EBMS:0010: caught by
    r1_filing_registered."""
    return ClientFaults(from_role=f"{as4c.EBMS_BASE}defaultRole")


@variant("wrong-to-party", VALID_FILINGS)
def wrong_to_party() -> ClientFaults:
    """ICD §4.2.2.1: To/PartyId is sti-taxud; this package addresses "taxud". EBMS:0010: caught by
    r1_filing_registered."""
    return ClientFaults(to_party_id="taxud")


# -- parts (ICD §4.2.5) -----------------------------------------------------------------------------------
@variant("payload-not-gzipped", VALID_FILINGS)
def payload_not_gzipped() -> ClientFaults:
    """ICD §4.2.5 / domain/ics2.md "AS4 profile": the business payload is gzip-compressed with
    CompressionType=application/gzip; this package sends plain XML. EBMS:0010: caught by
    r1_filing_registered."""
    return ClientFaults(uncompressed_payload=True)


@variant("part-without-mime-type", VALID_FILINGS)
def part_without_mime_type() -> ClientFaults:
    """ICD §4.2.5 / AS4 §3.1: the payload's PartProperties carry MimeType=application/xml (a compressed part
    must name its type); this package omits it. EBMS:0009: caught by r1_filing_registered."""
    return ClientFaults(part_without_mime_type=True)


# -- the business payload (domain/ics2.md "Data-quality rules") ------------------------------------------
def _rewrite(payload: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = parse_xml(payload)
    change(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _elements(root: etree._Element, local: str) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == local]


def _general_cargo(root: etree._Element) -> None:
    for element in _elements(root, "descriptionOfGoods"):
        element.text = "General cargo"


def _hs_unsplit(root: etree._Element) -> None:
    for code in _elements(root, "commodityCode"):
        heading = next(iter(_elements(code, "harmonizedSystemSubHeadingCode")), None)
        extension = next(iter(_elements(code, "combinedNomenclatureCode")), None)
        if heading is None:
            continue
        cn = (extension.text or "00") if extension is not None else "00"
        heading.text = (heading.text or "") + cn
        if extension is not None:
            code.remove(extension)


@variant("stop-word-descriptions", VALID_FILINGS)
def stop_word_descriptions() -> ClientFaults:
    """domain/ics2.md "Data-quality rules" (ICS2-DQ-stop-word-description): a goods description must not be
    only a stop word; this package describes every goods item as "General cargo". IE3N99 (CL723 100)
    instead of IE3R01: caught by r1_filing_registered (IE3F32, IE3F43)."""
    return ClientFaults(rewrite_payload=lambda _action, payload: _rewrite(payload, _general_cargo))


@variant("hs-code-unsplit", VALID_FILINGS)
def hs_code_unsplit() -> ClientFaults:
    """domain/ics2.md "Data-quality rules" (ICS2-DQ-hs-code): the HS sub-heading is exactly 6 digits with
    an optional 2-digit CN extension; this package sends the 8-digit CN code whole (padding 6-digit codes
    with 00) as the sub-heading. IE3N99 (CL723 12): caught by r1_filing_registered."""
    return ClientFaults(rewrite_payload=lambda _action, payload: _rewrite(payload, _hs_unsplit))


@variant("reuses-lrn", FILED_ONCE)
def reuses_lrn() -> ClientFaults:
    """domain/ics2.md "Messages" (an LRN identifies one filing; IE3N01 for a non-unique LRN;
    ICS2-one-functional-reply): this package stamps every filing with the LRN of its first one. The second
    filing is refused by IE3N01: caught by client_reactions (two filings, each its own IE3R01)."""
    first: list[str] = []

    def stamp(action: str, payload: bytes) -> bytes:
        def change(root: etree._Element) -> None:
            lrn = root.find("LRN")
            if lrn is None or not action.startswith("IE3F"):
                return
            if not first:
                first.append(lrn.text or "")
            lrn.text = first[0]

        return _rewrite(payload, change)

    return ClientFaults(rewrite_payload=stamp)


# -- behaviour --------------------------------------------------------------------------------------------
@variant("resends-after-receipt", FILED_ONCE)
def resends_after_receipt() -> ClientFaults:
    """ebMS3 duplicate elimination / domain/ics2.md "Messages" (ICS2-one-functional-reply): a retry is
    the same message with the same MessageId; this package sends every filing again under a NEW MessageId
    after its receipt, so customs sees a second filing with a reused LRN (IE3N01): caught by
    client_reactions (each LRN reaches customs once and gets one functional reply)."""
    return ClientFaults(resend_with_new_message_id=True)


@variant("resends-rejected-unchanged", NOT_RESENT)
def resends_rejected_unchanged() -> ClientFaults:
    """domain/ics2.md "Data-quality rules" / "Messages" (IE3N99 lists ALL errors: correct them before
    filing again; ICS2-one-functional-reply): on an IE3N99 this package sends the rejected filing again,
    unchanged, and earns a second IE3N99: caught by client_reactions (a rejected filing is not sent again
    unchanged)."""
    return ClientFaults(resend_rejected_unchanged=True)


@variant("never-pulls", VALID_FILINGS)
def never_pulls() -> ClientFaults:
    """ICD §4.1.3.3 (ICS2-one-functional-reply): replies are pulled from the own MPC; this package's polling
    never reaches the MSH and reports an empty MPC. No IE3R01 ever arrives: caught by
    r1_filing_registered."""
    return ClientFaults(never_pull=True)


@variant("pulls-default-mpc", VALID_FILINGS)
def pulls_default_mpc() -> ClientFaults:
    """ICD §4.3.3: the trader pulls urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/<PartyId>; this package pulls
    the ebMS default MPC, which is refused (EBMS:0010), so no IE3R01 arrives: caught by
    r1_filing_registered."""
    return ClientFaults(pull_mpc=as4c.DEFAULT_MPC)


# -- reactions to risk outcomes (domain/ics2.md "Messages", "ENS lifecycle") -----------------------------
@variant("ignores-information-requests",
         "risk_outcomes:an-information-request-answered-by-ie3r02-moves-the-ens-on")
def ignores_information_requests() -> ClientFaults:
    """domain/ics2.md "Messages" (IE3Q02 information request; ICS2-rfi-answered-by-r02): the filer must
    receive and answer the request; this package acknowledges the IE3Q02 and drops it, so it is never
    surfaced or answered: caught by risk_outcomes (the trader receives the IE3Q02 for the MRN)."""
    return ClientFaults(ignore_actions=("IE3Q02",))


@variant("answers-rfi-by-wrong-means",
         "risk_outcomes:an-information-request-that-asks-for-an-amendment-is-answered-by-one")
def answers_rfi_by_wrong_means() -> ClientFaults:
    """ICD IE3Q02 responseMethod (ICS2-rfi-answered-by-amendment): a request that asks for an amendment
    must be answered by one; this package always answers by IE3R02, which customs refuses (IE3N01): caught
    by risk_outcomes (the request is answered by the amendment, IE3N10)."""
    return ClientFaults(answer_rfi_by_r02_only=True)


@variant("ignores-do-not-load",
         "risk_outcomes:under-a-do-not-load-the-package-holds-the-consignment-and-does-not-notify-its-arrival")
def ignores_do_not_load() -> ClientFaults:
    """domain/ics2.md "Messages" (IE3Q01 Do Not Load; ICS2-dnl-hold): the consignment is held until its ENS
    is amended; this package keeps acting on it and notifies its arrival (IE3N06): caught by risk_outcomes
    (the package declines and customs receives no IE3N06)."""
    return ClientFaults(ignore_do_not_load=True)


@variant("processes-duplicates",
         "faults:a-reply-delivered-twice-is-processed-once-by-the-trader-s-software")
def processes_duplicates() -> ClientFaults:
    """domain/ics2.md "AS4 profile" (duplicate detection on MessageId; ICS2-duplicate-delivery-processed-once):
    a message delivered again is acknowledged again but not processed twice; this package processes every
    delivery, so one IE3R01 counts twice: caught by faults (a reply delivered twice is processed once)."""
    return ClientFaults(surface_duplicates=True)
