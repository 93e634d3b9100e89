"""Customs-to-trader notifications (simulator.ics2.notices): every action valid against our XSD with
default and full details, with and without the party echo; deterministic bytes; details put where
the XSD says; bad details and facts are a ValueError naming the problem (never a KeyError)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from lxml import etree

from simulator.ics2.mrn import make_mrn
from simulator.ics2.notices import NOTICE_ACTIONS, SYNTHETIC_DOCUMENT_TYPE, NoticeFacts, build_notice
from simulator.ics2.replies import ReplyParties
from simulator.ics2.validation import SchemaSet, load_schema_set

AT = datetime(2024, 6, 3, 8, 15, 30, 999999, tzinfo=UTC)
STAMP = "2024-06-03T08:15:30Z"
MRN = make_mrn(24, "BE", 42)
OTHER_MRN = make_mrn(24, "FR", 7)
MASTER = ("176-12345675", "N741")
HOUSE = ("SPX4471200931", "N740")
PARTIES = ReplyParties(
    addressed_member_state="BE",
    representative_id="BE0987654321",
    transport_document=MASTER,
    carrier_id="DE1234567890123",
    declarant_id="BE0123456789",
    customs_office_of_first_entry="BE212000",
)
MESSAGE_HEADER = ["MRN", "notificationDate"]
ECHO = ["addressedMemberState", "representative", "transportDocument", "carrier", "declarant",
        "customsOfficeOfFirstEntry"]

FULL_DETAILS: dict[str, dict[str, Any]] = {
    "IE3Q02": {
        "referral": "RFI-2024-000042",
        "response_method": "2",
        "request_details": [
            "Describe the goods precisely (model, material, use).",
            {"description": "Name the actual consignor.", "consignment": {"master": MASTER, "house": HOUSE,
                                                                           "goods_items": [1, 3]}},
            {"description": "Give the consignee's EORI.", "consignment": HOUSE},
        ],
    },
    "IE3Q03": {"referral": "RFS-2024-000042", "request_details": ["Screen by x-ray and explosive trace detection."]},
    "IE3Q01": {"referral": "DNL-2024-000042",
               "consignments": [MASTER, {"documentNumber": HOUSE[0], "type": HOUSE[1], "level": "house"}]},
    "IE3N08": {"control": "Physical examination at BE212000.", "referral": "CTL-1", "consignments": [HOUSE]},
    "IE3N03": {},
    "IE3N02": {"parties_not_filed": ["NL000111222", "DE999888777666555"]},
    "IE3N11": {"consignments": [HOUSE, {"master": MASTER, "house": ("SPX4471200932", "N740")}]},
    "IE3R04": {},
    "IE3R01": {"specific_circumstance_indicator": "F32"},
    "IE3N07": {"entries": [{"mrn": OTHER_MRN, "reason": "ENS invalidated"},
                           {"document": {"documentNumber": "784-20481736", "type": "N741"}}]},
    "IE3R08": {
        "subject": {"house_document": HOUSE},
        "filings": [
            {"mrn": MRN, "lrn": "LRN-1", "message_type": "IE3F32", "state": "registered", "registered_at": AT},
            {"mrn": OTHER_MRN, "lrn": None, "message_type": "IE3A32", "state": "information_requested",
             "registered_at": AT + timedelta(hours=1)},
        ],
        "notifications": [{"message_type": "IE3Q02", "mrn": MRN, "at": AT + timedelta(minutes=5)}],
    },
}
FULL_DETAILS["IE3N04"] = FULL_DETAILS["IE3Q02"]
FULL_DETAILS["IE3N05"] = FULL_DETAILS["IE3Q03"]
FULL_DETAILS["IE3N09"] = {**FULL_DETAILS["IE3N08"], "control": "AEO: documentary check of the goods listed."}


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return load_schema_set()


def _facts(parties: ReplyParties | None = PARTIES, *, mrn: str | None = MRN, lrn: str | None = "ARR-LRN-7",
           at: datetime = AT) -> NoticeFacts:
    return NoticeFacts(mrn=mrn, at=at, parties=parties, lrn=lrn)


def _build(action: str, details: Mapping[str, Any] | None = None, facts: NoticeFacts | None = None) -> etree._Element:
    return etree.fromstring(build_notice(action, facts or _facts(), details or {}))


def _children(element: etree._Element) -> list[str]:
    return [child.tag for child in element]


def _content(root: etree._Element) -> list[tuple[str, str | None]]:
    """Every descendant's path and text (the root's namespace left aside)."""
    tree = root.getroottree()
    return [(tree.getpath(element).split("/", 2)[-1], element.text) for element in root.iterdescendants()]


def _document(element: etree._Element | None) -> tuple[str | None, str | None]:
    assert element is not None
    return element.findtext("documentNumber"), element.findtext("type")


# ------------------------------------------------------------------------------ validity, determinism


def test_the_served_actions_are_the_thirteen_notifications(schemas: SchemaSet) -> None:
    assert {"IE3R04", "IE3N07", "IE3N08", "IE3N09", "IE3Q01", "IE3Q02", "IE3N04", "IE3Q03", "IE3N05",
            "IE3N03", "IE3N02", "IE3N11", "IE3R08", "IE3R01"} == NOTICE_ACTIONS
    assert set(FULL_DETAILS) == NOTICE_ACTIONS
    assert schemas.message_ids >= NOTICE_ACTIONS


@pytest.mark.parametrize("parties", [PARTIES, None], ids=["echo", "no-echo"])
@pytest.mark.parametrize("full", [False, True], ids=["defaults", "full"])
@pytest.mark.parametrize("action", sorted(NOTICE_ACTIONS))
def test_every_notice_is_valid_against_its_xsd(schemas: SchemaSet, action: str, full: bool,
                                               parties: ReplyParties | None) -> None:
    payload = build_notice(action, _facts(parties), FULL_DETAILS[action] if full else {})
    assert payload.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(payload)
    assert root.tag == f"{{urn:icssim:ics2:{action}}}{action}"
    assert root.prefix == "ie"
    assert all(child.tag == etree.QName(child).localname for child in root.iter() if child is not root)
    assert schemas.validate(root) == []
    echoed = [tag for tag in _children(root) if tag in ECHO]
    assert echoed == ([] if parties is None or action == "IE3R08" else ECHO)


@pytest.mark.parametrize("action", sorted(NOTICE_ACTIONS))
def test_the_same_facts_and_details_give_the_same_bytes(action: str) -> None:
    first = build_notice(action, _facts(), FULL_DETAILS[action])
    again = build_notice(action, _facts(dataclasses.replace(PARTIES)), copy.deepcopy(FULL_DETAILS[action]))
    assert first == again
    assert build_notice(action, _facts(), {}) == build_notice(action, _facts(), {})
    later = build_notice(action, _facts(at=AT + timedelta(seconds=1)), FULL_DETAILS[action])
    assert later != first  # the notification time is in every message


def test_notification_time_is_utc_without_fractions() -> None:
    cest = timezone(timedelta(hours=2))
    root = _build("IE3N03", facts=_facts(at=datetime(2024, 6, 3, 10, 15, 30, 5, tzinfo=cest)))
    assert root.findtext("notificationDate") == STAMP
    naive = _build("IE3R04", facts=_facts(at=datetime(2024, 6, 3, 8, 15, 30)))
    assert naive.findtext("registrationDate") == STAMP


# ------------------------------------------------------------------------------ content per message


@pytest.mark.parametrize("action", ["IE3Q02", "IE3N04"])
def test_information_request_defaults(action: str) -> None:
    root = _build(action)
    assert _children(root) == [*MESSAGE_HEADER, *ECHO, "referralRequestReference", "responseMethod", "requestDetails"]
    assert root.findtext("MRN") == MRN
    assert root.findtext("referralRequestReference") == f"RFI-{MRN}"
    assert root.findtext("responseMethod") == "1"
    assert root.findtext("requestDetails/sequenceNumber") == "1"
    assert root.findtext("requestDetails/description")


def test_information_request_carries_every_request_numbered_in_order() -> None:
    root = _build("IE3Q02", FULL_DETAILS["IE3Q02"])
    assert root.findtext("referralRequestReference") == "RFI-2024-000042"
    assert root.findtext("responseMethod") == "2"
    items = root.findall("requestDetails")
    assert [item.findtext("sequenceNumber") for item in items] == ["1", "2", "3"]
    assert items[0].find("consignmentReference") is None
    second = items[1].find("consignmentReference")
    assert second is not None
    assert _document(second.find("transportDocumentMasterLevel")) == MASTER
    assert _document(second.find("transportDocumentHouseLevel")) == HOUSE
    assert [e.text for e in second.findall("goodsItemNumber")] == ["1", "3"]
    third = items[2].find("consignmentReference")
    assert third is not None
    assert _children(third) == ["transportDocumentMasterLevel"]  # a bare document in a request: master level


def test_the_carrier_copy_repeats_the_request() -> None:
    """IE3N04 / IE3N05 are copies of IE3Q02 / IE3Q03: same content, own root (domain/ics2.md "Messages")."""
    for request, carrier_copy in (("IE3Q02", "IE3N04"), ("IE3Q03", "IE3N05")):
        for details in ({}, FULL_DETAILS[request]):
            original, notice = _build(request, details), _build(carrier_copy, details)
            assert _content(original) == _content(notice)
            assert "referralRequestReference" in dict(_content(notice))


def test_response_method_accepts_an_integer() -> None:
    assert _build("IE3Q02", {"response_method": 2}).findtext("responseMethod") == "2"


@pytest.mark.parametrize("action", ["IE3Q03", "IE3N05"])
def test_screening_request_defaults(action: str) -> None:
    root = _build(action)
    assert _children(root) == [*MESSAGE_HEADER, *ECHO, "referralRequestReference", "requestDetails"]
    assert root.findtext("referralRequestReference") == f"RFS-{MRN}"
    assert "IE3R03" in (root.findtext("requestDetails/description") or "")


def test_do_not_load_names_the_echoed_document_or_a_synthetic_one() -> None:
    root = _build("IE3Q01")
    assert _children(root) == [*MESSAGE_HEADER, *ECHO, "referralRequestReference", "consignmentReference"]
    assert root.findtext("referralRequestReference") == f"DNL-{MRN}"
    assert _document(root.find("consignmentReference/transportDocumentMasterLevel")) == MASTER
    bare = _build("IE3Q01", facts=_facts(None))
    assert _document(bare.find("consignmentReference/transportDocumentMasterLevel")) == (MRN, SYNTHETIC_DOCUMENT_TYPE)
    unfit = _build("IE3Q01", facts=_facts(ReplyParties(transport_document=("X" * 71, "N741"))))
    assert _document(unfit.find("consignmentReference/transportDocumentMasterLevel")) == (MRN, SYNTHETIC_DOCUMENT_TYPE)


def test_do_not_load_with_given_consignments() -> None:
    root = _build("IE3Q01", FULL_DETAILS["IE3Q01"])
    first, second = root.findall("consignmentReference")
    assert _children(first) == ["transportDocumentMasterLevel"]
    assert _children(second) == ["transportDocumentHouseLevel"]
    assert _document(second.find("transportDocumentHouseLevel")) == HOUSE


@pytest.mark.parametrize("action", ["IE3N08", "IE3N09"])
def test_control_notification_defaults_and_details(action: str) -> None:
    default = _build(action)
    assert _children(default) == [*MESSAGE_HEADER, *ECHO, "controlDescription", "consignmentReference"]
    assert default.findtext("controlDescription")
    full = _build(action, FULL_DETAILS[action])
    assert _children(full) == [*MESSAGE_HEADER, *ECHO, "referralRequestReference", "controlDescription",
                               "consignmentReference"]
    assert full.findtext("referralRequestReference") == "CTL-1"
    assert full.findtext("controlDescription") == FULL_DETAILS[action]["control"]
    assert _document(full.find("consignmentReference/transportDocumentMasterLevel")) == HOUSE


def test_first_entry_and_aeo_controls_have_their_own_default_text() -> None:
    assert _build("IE3N08").findtext("controlDescription") != _build("IE3N09").findtext("controlDescription")


def test_long_free_text_is_cut_to_the_xsd_length(schemas: SchemaSet) -> None:
    root = _build("IE3N08", {"control": "x" * 600, "referral": "R"})
    text = root.findtext("controlDescription") or ""
    assert len(text) == 512 and text.endswith("\u2026")
    assert schemas.validate(root) == []


def test_assessment_complete_is_the_header_only() -> None:
    assert _children(_build("IE3N03", {"kind": "ignored"})) == [*MESSAGE_HEADER, *ECHO]


def test_not_complete_lists_the_parties_not_filed() -> None:
    root = _build("IE3N02", FULL_DETAILS["IE3N02"])
    assert [e.text for e in root.findall("partyNotYetFiled/identificationNumber")] == ["NL000111222",
                                                                                       "DE999888777666555"]
    assert _build("IE3N02").find("partyNotYetFiled") is None


def test_pending_takes_bare_documents_at_house_level() -> None:
    root = _build("IE3N11", FULL_DETAILS["IE3N11"])
    first, second = root.findall("consignmentReference")
    assert _children(first) == ["transportDocumentHouseLevel"]
    assert _document(first.find("transportDocumentHouseLevel")) == HOUSE
    assert _children(second) == ["transportDocumentMasterLevel", "transportDocumentHouseLevel"]
    master = _build("IE3N11", {"consignments": [{"documentNumber": MASTER[0], "type": MASTER[1], "level": "master"}]})
    assert _document(master.find("consignmentReference/transportDocumentMasterLevel")) == MASTER


def test_arrival_registration_carries_the_lrn_and_the_mrn() -> None:
    root = _build("IE3R04")
    assert _children(root) == ["LRN", "MRN", "registrationDate", *ECHO]
    assert (root.findtext("LRN"), root.findtext("MRN"), root.findtext("registrationDate")) == ("ARR-LRN-7", MRN, STAMP)


def test_registration_copy_is_the_ie3r01_of_the_filing() -> None:
    root = _build("IE3R01", FULL_DETAILS["IE3R01"], _facts(lrn="LRN-F32-1"))
    assert _children(root) == ["LRN", "MRN", "registrationDate", "specificCircumstanceIndicator", *ECHO]
    assert (root.findtext("LRN"), root.findtext("MRN")) == ("LRN-F32-1", MRN)
    from_details = _build("IE3R01", {"lrn": "LRN-F32-2"}, _facts(lrn=None))
    assert from_details.findtext("LRN") == "LRN-F32-2"
    assert from_details.find("specificCircumstanceIndicator") is None
    with pytest.raises(ValueError, match="LRN"):
        build_notice("IE3R01", _facts(lrn=None), {})
    with pytest.raises(ValueError, match="specific circumstance"):
        build_notice("IE3R01", _facts(), {"specific_circumstance_indicator": "X99"})


def test_a_document_number_may_be_spelt_number() -> None:
    root = _build("IE3N11", {"consignments": [{"number": HOUSE[0], "type": HOUSE[1]}]})
    assert _document(root.find("consignmentReference/transportDocumentHouseLevel")) == HOUSE


def test_incorrect_state_lists_each_ens_with_its_reason() -> None:
    root = _build("IE3N07", FULL_DETAILS["IE3N07"], _facts(mrn=None))
    assert _children(root) == ["LRN", "notificationDate", *ECHO, "entrySummaryDeclaration", "entrySummaryDeclaration"]
    first, second = root.findall("entrySummaryDeclaration")
    assert (first.findtext("MRN"), first.findtext("reason")) == (OTHER_MRN, "ENS invalidated")
    assert _children(second) == ["transportDocument"]
    assert _document(second.find("transportDocument")) == ("784-20481736", "N741")
    default = _build("IE3N07")
    assert default.findtext("entrySummaryDeclaration/MRN") == MRN
    assert default.findtext("entrySummaryDeclaration/reason")


def test_consultation_results_echo_the_subject_and_list_filings_and_notifications() -> None:
    root = _build("IE3R08", FULL_DETAILS["IE3R08"])
    assert _children(root) == ["transportDocumentHouseLevel", "consultationDate", "ensFiling", "ensFiling",
                               "notification"]
    assert _document(root.find("transportDocumentHouseLevel")) == HOUSE
    first, second = root.findall("ensFiling")
    assert _children(first) == ["MRN", "LRN", "messageType", "state", "registrationDate"]
    assert _children(second) == ["MRN", "messageType", "state", "registrationDate"]
    assert second.findtext("registrationDate") == "2024-06-03T09:15:30Z"
    assert root.findtext("notification/notificationDate") == "2024-06-03T08:20:30Z"
    assert _children(_build("IE3R08")) == ["MRN", "consultationDate"]
    assert _build("IE3R08").findtext("MRN") == MRN
    master = _build("IE3R08", {"subject": {"master_document": MASTER}}, _facts(mrn=None))
    assert _document(master.find("transportDocumentMasterLevel")) == MASTER
    by_mrn = _build("IE3R08", {"subject": {"mrn": OTHER_MRN}})
    assert by_mrn.findtext("MRN") == OTHER_MRN


def test_consultation_results_leave_out_an_lrn_that_does_not_fit(schemas: SchemaSet) -> None:
    filing = {"mrn": MRN, "lrn": "has a space", "message_type": "IE3F32", "state": "registered", "registered_at": AT}
    root = _build("IE3R08", {"filings": [filing]})
    assert root.find("ensFiling/LRN") is None
    assert schemas.validate(root) == []


def test_echoed_values_that_do_not_fit_are_left_out(schemas: SchemaSet) -> None:
    odd = ReplyParties(addressed_member_state="Belgium", representative_id="X" * 18, transport_document=MASTER,
                       carrier_id=None, declarant_id="BE0123456789", customs_office_of_first_entry="BE21")
    root = _build("IE3Q02", facts=_facts(odd))
    assert [tag for tag in _children(root) if tag in ECHO] == ["transportDocument", "declarant"]
    assert schemas.validate(root) == []


# ------------------------------------------------------------------------------------ bad input


def test_an_unknown_action_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="IE3X99"):
        build_notice("IE3X99", _facts(), {})
    with pytest.raises(ValueError, match="IE3N99"):  # built by replies, not here
        build_notice("IE3N99", _facts(), {})
    with pytest.raises(ValueError, match="None"):
        build_notice(None, _facts(), {})  # type: ignore[arg-type]


def test_facts_and_details_of_the_wrong_kind_are_value_errors() -> None:
    with pytest.raises(ValueError, match="details must be a mapping"):
        build_notice("IE3N03", _facts(), ["referral"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="facts must be NoticeFacts"):
        build_notice("IE3N03", {"mrn": MRN}, {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"facts\.at"):
        build_notice("IE3N03", NoticeFacts(mrn=MRN, at="2024-06-03", parties=None), {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"facts\.parties"):
        build_notice("IE3N03", NoticeFacts(mrn=MRN, at=AT, parties={"declarant_id": "X"}), {})  # type: ignore[arg-type]


@pytest.mark.parametrize("action", sorted(NOTICE_ACTIONS - {"IE3N07", "IE3R08"}))
def test_an_mrn_is_needed_where_the_xsd_requires_it(action: str) -> None:
    with pytest.raises(ValueError, match="MRN"):
        build_notice(action, _facts(mrn=None), {})
    with pytest.raises(ValueError, match="MRN"):
        build_notice(action, _facts(mrn="24BE123"), {})


@pytest.mark.parametrize("action", ["IE3N07", "IE3R08"])
def test_without_an_mrn_the_entries_or_subject_must_be_given(action: str) -> None:
    with pytest.raises(ValueError, match="MRN"):
        build_notice(action, _facts(mrn=None), {})


@pytest.mark.parametrize("lrn", [None, "", "with space", "L" * 23])
@pytest.mark.parametrize("action", ["IE3R04", "IE3N07"])
def test_arrival_answers_need_the_lrn(action: str, lrn: str | None) -> None:
    with pytest.raises(ValueError, match="LRN"):
        build_notice(action, _facts(lrn=lrn), {})


BAD_DETAILS: list[tuple[str, dict[str, Any], str]] = [
    ("IE3Q02", {"response_method": "3"}, "response_method"),
    ("IE3Q02", {"response_method": True}, "response_method"),
    ("IE3Q02", {"request_details": []}, "1..999"),
    ("IE3Q02", {"request_details": ["text"] * 1000}, "1..999"),
    ("IE3Q02", {"request_details": "one text"}, "must be a list"),
    ("IE3Q02", {"request_details": ["  "]}, "non-blank"),
    ("IE3Q02", {"request_details": [{"consignment": MASTER}]}, "description"),
    ("IE3Q02", {"request_details": [{"description": "d", "consignment": ("only-number",)}]}, "documentNumber"),
    ("IE3N04", {"referral": "R" * 71}, "referral"),
    ("IE3Q03", {"referral": 42}, "referral must be a string"),
    ("IE3N05", {"request_details": [7]}, "non-blank string"),
    ("IE3Q01", {"consignments": []}, "1..99999"),
    ("IE3Q01", {"consignments": [("176-1", "n741")]}, "an4"),
    ("IE3Q01", {"consignments": [("D" * 71, "N741")]}, "documentNumber"),
    ("IE3Q01", {"consignments": [("176-1", "N741", "extra")]}, "documentNumber, type"),
    ("IE3Q01", {"consignments": [{"master": None, "house": None}]}, "master or a house"),
    ("IE3N08", {"consignments": [{"master": MASTER, "goods_items": [0]}]}, "1..99999"),
    ("IE3N08", {"consignments": [{"master": MASTER, "goods_items": [True]}]}, "1..99999"),
    ("IE3N09", {"consignments": [{"documentNumber": "1", "type": "N741", "level": "top"}]}, "level"),
    ("IE3N09", {"control": ""}, "control"),
    ("IE3N09", {"control": ["text"]}, "control"),
    ("IE3N02", {"parties_not_filed": "NL000111222"}, "must be a list"),
    ("IE3N02", {"parties_not_filed": ["N" * 18]}, "parties_not_filed"),
    ("IE3N02", {"parties_not_filed": [None]}, "parties_not_filed"),
    ("IE3N11", {"consignments": "SPX4471200931"}, "must be a list"),
    ("IE3N07", {"entries": [{"mrn": MRN, "document": MASTER}]}, "either"),
    ("IE3N07", {"entries": [{"reason": "no ENS named"}]}, "either"),
    ("IE3N07", {"entries": [{"mrn": "not-an-mrn"}]}, "MRN"),
    ("IE3N07", {"entries": [MRN]}, "mapping"),
    ("IE3N07", {"entries": []}, "1..9999"),
    ("IE3R08", {"subject": {"mrn": MRN, "house_document": HOUSE}}, "exactly one"),
    ("IE3R08", {"subject": {"lrn": "LRN-1"}}, "exactly one"),
    ("IE3R08", {"subject": MRN}, "mapping"),
    ("IE3R08", {"filings": [{"mrn": MRN, "message_type": "IE3F32", "state": "registered",
                             "registered_at": "2024-06-03T08:15:30Z"}]}, "registered_at"),
    ("IE3R08", {"filings": [{"mrn": MRN, "message_type": "F32", "state": "registered", "registered_at": AT}]},
     "message_type"),
    ("IE3R08", {"filings": [{"mrn": MRN, "message_type": "IE3F32", "state": "s" * 36, "registered_at": AT}]},
     "state"),
    ("IE3R08", {"filings": [{"message_type": "IE3F32", "state": "registered", "registered_at": AT}]}, "mrn"),
    ("IE3R08", {"notifications": [{"message_type": "IE3Q02", "mrn": MRN}]}, "at"),
    ("IE3R01", {"specific_circumstance_indicator": 32}, "specific_circumstance_indicator"),
]


@pytest.mark.parametrize(("action", "details", "message"), BAD_DETAILS,
                         ids=[f"{action}-{index}" for index, (action, _, _) in enumerate(BAD_DETAILS)])
def test_bad_details_are_value_errors(action: str, details: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_notice(action, _facts(), details)


def test_a_key_set_to_none_takes_the_default_and_unknown_keys_are_ignored() -> None:
    default = build_notice("IE3Q02", _facts(), {})
    assert build_notice("IE3Q02", _facts(), {"referral": None, "response_method": None, "request_details": None,
                                             "kind": "aeo"}) == default
