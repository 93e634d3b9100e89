"""Builders for the customs-to-trader notifications about an ENS (domain/ics2.md "Messages").

``build_notice(action, facts, details)`` serves the actions of :data:`NOTICE_ACTIONS`: IE3R04 arrival
registration, IE3N07 ENS in incorrect state, IE3N08 control notification at first entry, IE3N09 AEO
control notification, IE3Q01 do not load, IE3Q02 information request and IE3N04 its copy to the
carrier, IE3Q03 HRCM screening request and IE3N05 its copy, IE3N03 assessment complete, IE3N02 ENS not
complete, IE3N11 ENS pending, IE3R08 consultation results; and IE3R01 (for the registration copy to
the carrier; it is :func:`simulator.ics2.replies.build_ie3r01`, which also builds IE3N99, IE3N01, IE3N10
and IE3R07). Every message is valid against our XSD (``schemas/README.md``
"Other messages") and the same arguments give the same bytes.

:class:`NoticeFacts` carries what every notification needs: the ENS's MRN (mandatory in the
``NotificationHeaderGroup`` messages and IE3R04), the notification time (simulated clock), the echo of
the filing's parties (:class:`~simulator.ics2.replies.ReplyParties`; values that would not fit the XSD
are left out, as in replies; IE3R08 has no echo and ignores them) and, for IE3R04/IE3N07, the arrival notification's
LRN. ``details`` (a mapping; a key set to ``None`` counts as absent, keys not listed are ignored so
that the risk engine's outcome details can be passed unchanged):

| action | key | value (XSD element) | default |
|---|---|---|---|
| IE3Q02, IE3N04 | ``referral`` | str an..70 (referralRequestReference) | ``RFI-<MRN>`` |
| IE3Q02, IE3N04 | ``response_method`` | "1" answer by IE3R02, "2" by amendment, or int (responseMethod) | "1" |
| IE3Q02, IE3N04 | ``request_details`` | 1..999 *request* (requestDetails) | one generic request |
| IE3Q03, IE3N05 | ``referral`` | as above | ``RFS-<MRN>`` |
| IE3Q03, IE3N05 | ``request_details`` | 1..999 *request* | one generic screening request |
| IE3Q01 | ``referral`` | as above | ``DNL-<MRN>`` |
| IE3Q01 | ``consignments`` | 1..99999 *consignment* (consignmentReference) | *echo* |
| IE3N08, IE3N09 | ``control`` | str, what the control is (controlDescription, an..512) | a generic text per action |
| IE3N08, IE3N09 | ``referral`` | str an..70 (referralRequestReference) | left out |
| IE3N08, IE3N09 | ``consignments`` | 1..99999 *consignment* | *echo* |
| IE3N03 | | nothing | |
| IE3N02 | ``parties_not_filed`` | 0..999 str an..17, the EORIs (partyNotYetFiled) | none |
| IE3N11 | ``consignments`` | 1..99999 *consignment*; a bare *document* is a HOUSE one | *echo* |
| IE3R04 | | nothing: LRN = ``facts.lrn``, MRN = ``facts.mrn`` (the XSD has one MRN) | |
| IE3R01 | ``lrn`` | the filing's LRN when ``facts.lrn`` is None | ``facts.lrn`` |
| IE3R01 | ``specific_circumstance_indicator`` | CL742, e.g. "F32" | left out |
| IE3N07 | ``entries`` | 1..9999 {"mrn": str} or {"document": *document*}, + "reason"? | ``facts.mrn``, a reason |
| IE3R08 | ``subject`` | {"mrn": str} / {"master_document": *document*} / {"house_document": ...} | ``facts.mrn`` |
| IE3R08 | ``filings`` | 0..9999 {"mrn", "lrn" (optional), "message_type", "state" (an..35), "registered_at"} | none |
| IE3R08 | ``notifications`` | 0..9999 {"message_type", "mrn", "at"} (``registered_at``, ``at``: datetime) | none |

* *document*: ``(documentNumber, type)`` or ``{"documentNumber": ..., "type": ...}`` (or ``"number"``,
  as the scenario filing builders spell it); documentNumber
  an..70, type an4 (CL754 form, e.g. N741 master air waybill).
* *consignment*: a bare *document* (master level, except IE3N11 whose pending parties file house
  data), ``{"documentNumber", "type", "level": "master" | "house", "goods_items"}`` or
  ``{"master": document, "house": document, "goods_items": [int]}`` (at least one document; goods item
  numbers 1..99999, at most 9999).
* *request*: a str (the description, an..512) or ``{"description": str, "consignment": consignment}``;
  sequence numbers are the positions, from 1.
* *echo*: the echoed transport document (``facts.parties.transport_document``, master level), else a
  synthetic one: documentNumber = the MRN, type :data:`SYNTHETIC_DOCUMENT_TYPE`.
* Free texts (descriptions, control, reasons) longer than 512 characters are cut with an ellipsis;
  identifiers (referral, documents, EORIs, MRNs, LRNs, message types, states) that do not fit are a
  ValueError, as are wrong types and too many or too few items. Exception: an IE3R08 filing's LRN is
  optional in the XSD and, like the party echo, left out when it does not fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from simulator.ics2.mrn import MRN_PATTERN
from simulator.ics2.notices_ens import (
    ConsignmentRef,
    Document,
    EnsStateEntry,
    FilingSummary,
    NotificationSummary,
    RequestItem,
    arrival_registration,
    check_identifier,
    check_items,
    consultation_results,
    incorrect_state,
    information_request,
    notification,
    read_consignment,
    read_document,
    screening_request,
)
from simulator.ics2.replies import _DOC_TYPE, _LRN, ReplyParties, _clean, build_ie3r01

__all__ = ["NOTICE_ACTIONS", "SYNTHETIC_DOCUMENT_TYPE", "NoticeFacts", "build_notice"]

# Not a CL754 code on purpose: a synthetic reference names no real transport document.
SYNTHETIC_DOCUMENT_TYPE: Final = "ZZZZ"
_MESSAGE_TYPE: Final = re.compile(r"IE3[AFNQR][0-9]{2}")
_TEXT_LIMIT: Final = 512
_DEFAULT_TEXTS: Final[Mapping[str, str]] = {
    "IE3Q02": "Provide additional information on this consignment: the goods, the consignor and the consignee.",
    "IE3Q03": "Screen this consignment by an approved high-risk cargo and mail screening method and report "
              "the method and result (IE3R03).",
    "IE3N08": "The consignment is selected for control at the customs office of first entry; present the "
              "goods to customs.",
    "IE3N09": "The goods under your responsibility listed here are selected for control.",
    "IE3N07": "The ENS filing is not in a state that allows an arrival notification.",
}


@dataclass(frozen=True)
class NoticeFacts:
    """What every notification about an ENS needs."""

    mrn: str | None  # the ENS's MRN (None only where the XSD allows it: IE3N07, IE3R08 with a subject)
    at: datetime  # notification/registration date (simulated clock, UTC)
    parties: ReplyParties | None  # echo of the filing's key parties
    lrn: str | None = None  # R04/N07: the LRN of the arrival notification (R01: of the filing)


# ------------------------------------------------------------------------------------- checks


def _free_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-blank string: {value!r}")
    return _clean(value, _TEXT_LIMIT)


def _mrn(value: object, what: str) -> str:
    if not isinstance(value, str) or MRN_PATTERN.fullmatch(value) is None:
        raise ValueError(f"{what} is not an MRN (an18): {value!r}")
    return value


def _datetime(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, not {type(value).__name__}")
    return value


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a mapping, not {type(value).__name__}")
    return value


def _consignments(facts: NoticeFacts, details: Mapping[str, Any], mrn: str, level: str) -> list[ConsignmentRef]:
    value = details.get("consignments")
    if value is not None:
        items = check_items(value, "consignments", 1, 99999)
        return [read_consignment(item, f"consignments[{index}]", level) for index, item in enumerate(items)]
    echoed = facts.parties.transport_document if facts.parties is not None else None
    if echoed is not None and 0 < len(echoed[0]) <= 70 and _DOC_TYPE.fullmatch(echoed[1]):
        return [ConsignmentRef(master=(_clean(echoed[0], 70), echoed[1]))]
    return [ConsignmentRef(master=(mrn, SYNTHETIC_DOCUMENT_TYPE))]


def _requests(details: Mapping[str, Any], default: str) -> list[RequestItem]:
    value = details.get("request_details")
    if value is None:
        return [RequestItem(default)]
    result = []
    for index, item in enumerate(check_items(value, "request_details", 1, 999)):
        what = f"request_details[{index}]"
        if isinstance(item, Mapping):
            consignment = item.get("consignment")
            result.append(RequestItem(
                _free_text(item.get("description"), f"{what} description"),
                None if consignment is None else read_consignment(consignment, f"{what} consignment", "master"),
            ))
        else:
            result.append(RequestItem(_free_text(item, what)))
    return result


def _optional_referral(details: Mapping[str, Any]) -> str | None:
    value = details.get("referral")
    return None if value is None else check_identifier(value, "referral", 70)


def _referral(details: Mapping[str, Any], default: str) -> str:
    """referralRequestReference; the default derives from the MRN, so a request and its copy agree."""
    return _optional_referral(details) or default


def _required_mrn(facts: NoticeFacts, action: str) -> str:
    if facts.mrn is None:
        raise ValueError(f"{action} needs the MRN of the ENS (facts.mrn)")
    return _mrn(facts.mrn, f"{action} facts.mrn")


def _required_lrn(facts: NoticeFacts, action: str) -> str:
    if not isinstance(facts.lrn, str) or _LRN.fullmatch(facts.lrn) is None:
        raise ValueError(f"{action} needs the arrival notification's LRN (an..22) in facts.lrn: {facts.lrn!r}")
    return facts.lrn


# ------------------------------------------------------------------------------------ builders


def _information_request(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """IE3Q02 / IE3N04: the copy carries the same referral and requests as the request itself."""
    mrn = _required_mrn(facts, action)
    method = details.get("response_method", "1")
    method = "1" if method is None else method
    if isinstance(method, int) and not isinstance(method, bool):
        method = str(method)
    if method not in ("1", "2"):
        raise ValueError(f"response_method must be '1' (IE3R02) or '2' (amendment): {method!r}")
    return information_request(
        action, mrn=mrn, at=facts.at, parties=facts.parties, referral=_referral(details, f"RFI-{mrn}"),
        response_method=method, items=_requests(details, _DEFAULT_TEXTS["IE3Q02"]),
    )


def _screening_request(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """IE3Q03 / IE3N05 (HRCM screening, air only: which ENS gets one is the risk engine's call)."""
    mrn = _required_mrn(facts, action)
    return screening_request(
        action, mrn=mrn, at=facts.at, parties=facts.parties, referral=_referral(details, f"RFS-{mrn}"),
        items=_requests(details, _DEFAULT_TEXTS["IE3Q03"]),
    )


def _do_not_load(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    mrn = _required_mrn(facts, action)
    return notification(action, mrn=mrn, at=facts.at, parties=facts.parties,
                        referral=_referral(details, f"DNL-{mrn}"),
                        consignments=_consignments(facts, details, mrn, "master"))


def _control(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """IE3N08 (control at first entry) / IE3N09 (AEO control)."""
    mrn = _required_mrn(facts, action)
    control = details.get("control")
    return notification(action, mrn=mrn, at=facts.at, parties=facts.parties,
                        referral=_optional_referral(details),
                        control=_DEFAULT_TEXTS[action] if control is None else _free_text(control, "control"),
                        consignments=_consignments(facts, details, mrn, "master"))


def _assessment_complete(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    return notification(action, mrn=_required_mrn(facts, action), at=facts.at, parties=facts.parties)


def _not_complete(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """IE3N02: the completion timer expired; names the parties that have not filed their part."""
    value = details.get("parties_not_filed")
    items = () if value is None else check_items(value, "parties_not_filed", 0, 999)
    eoris = [check_identifier(item, f"parties_not_filed[{index}]", 17) for index, item in enumerate(items)]
    return notification(action, mrn=_required_mrn(facts, action), at=facts.at, parties=facts.parties,
                        parties_not_filed=eoris)


def _pending(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """IE3N11: to a party named as obliged to file (house data), for the consignments it has not filed."""
    mrn = _required_mrn(facts, action)
    return notification(action, mrn=mrn, at=facts.at, parties=facts.parties,
                        consignments=_consignments(facts, details, mrn, "house"))


def _arrival_registration(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    return arrival_registration(lrn=_required_lrn(facts, action), mrn=_required_mrn(facts, action), at=facts.at,
                                parties=facts.parties)


def _registration_copy(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """IE3R01 as sent to a carrier that did not file (domain/ics2.md "Messages": optional IE3R01 copy)."""
    lrn = facts.lrn if facts.lrn is not None else details.get("lrn")
    if not isinstance(lrn, str):
        raise ValueError(f"IE3R01 needs the filing's LRN (facts.lrn or details 'lrn'): {lrn!r}")
    sci = details.get("specific_circumstance_indicator")
    if sci is not None and not isinstance(sci, str):
        raise ValueError(f"specific_circumstance_indicator must be a string: {sci!r}")
    return build_ie3r01(lrn=lrn, mrn=_required_mrn(facts, action), registered_at=facts.at,
                        specific_circumstance_indicator=sci, parties=facts.parties)


def _entry(value: object, what: str) -> EnsStateEntry:
    entry = _mapping(value, what)
    if ("mrn" in entry) == ("document" in entry):
        raise ValueError(f"{what} names either an 'mrn' or a 'document': {value!r}")
    reason = entry.get("reason")
    return EnsStateEntry(
        mrn=_mrn(entry["mrn"], f"{what} mrn") if "mrn" in entry else None,
        document=read_document(entry["document"], f"{what} document") if "document" in entry else None,
        reason=None if reason is None else _free_text(reason, f"{what} reason"),
    )


def _incorrect_state(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    lrn = _required_lrn(facts, action)
    value = details.get("entries")
    if value is None:
        mrn = _required_mrn(facts, f"{action} without 'entries'")
        entries = [EnsStateEntry(mrn=mrn, document=None, reason=_DEFAULT_TEXTS["IE3N07"])]
    else:
        items = check_items(value, "entries", 1, 9999)
        entries = [_entry(item, f"entries[{index}]") for index, item in enumerate(items)]
    return incorrect_state(lrn=lrn, at=facts.at, parties=facts.parties, entries=entries)


def _subject(facts: NoticeFacts, value: object, action: str) -> tuple[str, str | Document]:
    if value is None:
        return "MRN", _required_mrn(facts, f"{action} without 'subject'")
    subject = _mapping(value, "subject")
    keys = [key for key in ("mrn", "master_document", "house_document") if key in subject]
    if len(keys) != 1:
        raise ValueError(f"subject names exactly one of mrn, master_document, house_document: {value!r}")
    if keys[0] == "mrn":
        return "MRN", _mrn(subject["mrn"], "subject mrn")
    tag = "transportDocumentMasterLevel" if keys[0] == "master_document" else "transportDocumentHouseLevel"
    return tag, read_document(subject[keys[0]], f"subject {keys[0]}")


def _message_type(value: object, what: str) -> str:
    if not isinstance(value, str) or _MESSAGE_TYPE.fullmatch(value) is None:
        raise ValueError(f"{what} is not an ICS2 message id (IE3F32, IE3Q02, ...): {value!r}")
    return value


def _filing(value: object, what: str) -> FilingSummary:
    filing = _mapping(value, what)
    lrn = filing.get("lrn")
    return FilingSummary(
        mrn=_mrn(filing.get("mrn"), f"{what} mrn"),
        lrn=lrn if isinstance(lrn, str) and _LRN.fullmatch(lrn) else None,
        message_type=_message_type(filing.get("message_type"), f"{what} message_type"),
        state=check_identifier(filing.get("state"), f"{what} state", 35),
        registered_at=_datetime(filing.get("registered_at"), f"{what} registered_at"),
    )


def _summary(value: object, what: str) -> NotificationSummary:
    summary = _mapping(value, what)
    return NotificationSummary(
        message_type=_message_type(summary.get("message_type"), f"{what} message_type"),
        mrn=_mrn(summary.get("mrn"), f"{what} mrn"),
        at=_datetime(summary.get("at"), f"{what} at"),
    )


def _consultation_results(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """IE3R08; choosing what the requester may see (own data, last 30 days) is the caller's job."""
    filings, summaries = details.get("filings"), details.get("notifications")
    return consultation_results(
        subject=_subject(facts, details.get("subject"), action),
        at=facts.at,
        filings=[_filing(item, f"filings[{index}]")
                 for index, item in enumerate(() if filings is None else check_items(filings, "filings", 0, 9999))],
        notifications=[_summary(item, f"notifications[{index}]") for index, item
                       in enumerate(() if summaries is None else check_items(summaries, "notifications", 0, 9999))],
    )


_Builder = Callable[[str, NoticeFacts, Mapping[str, Any]], bytes]
_BUILDERS: Final[Mapping[str, _Builder]] = {
    "IE3R04": _arrival_registration,
    "IE3N07": _incorrect_state,
    "IE3N08": _control,
    "IE3N09": _control,
    "IE3Q01": _do_not_load,
    "IE3Q02": _information_request,
    "IE3N04": _information_request,
    "IE3Q03": _screening_request,
    "IE3N05": _screening_request,
    "IE3N03": _assessment_complete,
    "IE3N02": _not_complete,
    "IE3N11": _pending,
    "IE3R08": _consultation_results,
    "IE3R01": _registration_copy,
}

NOTICE_ACTIONS: Final[frozenset[str]] = frozenset(_BUILDERS)


def build_notice(action: str, facts: NoticeFacts, details: Mapping[str, Any]) -> bytes:
    """The payload of the c2t notification ``action`` (one of :data:`NOTICE_ACTIONS`), valid against our
    XSD; ``details`` as in the module docstring. Raises ValueError (never KeyError) for an unknown action,
    facts the message cannot be built from, or details of the wrong type, form or count."""
    builder = _BUILDERS.get(action) if isinstance(action, str) else None
    if builder is None:
        raise ValueError(f"no notice builder for action {action!r}; served: {', '.join(sorted(NOTICE_ACTIONS))}")
    if not isinstance(facts, NoticeFacts):
        raise ValueError(f"facts must be NoticeFacts, not {type(facts).__name__}")
    _datetime(facts.at, "facts.at")
    if facts.parties is not None and not isinstance(facts.parties, ReplyParties):
        raise ValueError(f"facts.parties must be ReplyParties or None, not {type(facts.parties).__name__}")
    return builder(action, facts, _mapping(details, "details"))
