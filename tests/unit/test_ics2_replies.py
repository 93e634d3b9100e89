"""IE3R01 / IE3N99 builders (valid against our XSDs, deterministic, ALL errors) and MRNs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from scenarios.filings.ics2 import build_filing, sample_data
from simulator.ics2.errors import FunctionalError
from simulator.ics2.mrn import MRN_PATTERN, check_digit, is_valid_mrn, iso6346_check_digit, make_mrn
from simulator.ics2.replies import (
    MAX_ERRORS,
    ReplyParties,
    build_ie3n99,
    build_ie3r01,
    parties_from_filing,
)
from simulator.ics2.rules import validate_filing
from simulator.ics2.validation import SchemaSet, default_schema_set

AT = datetime(2024, 6, 3, 8, 15, 30, 123456, tzinfo=UTC)
EORI = "BE0123456789"
MRN = make_mrn(2024, "BE", 1)


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return default_schema_set()


def _parse(payload: bytes) -> etree._Element:
    return etree.fromstring(payload)


def _filing(variant: str | None = None) -> etree._Element:
    data = sample_data("IE3F32", lrn="LRN-Q-1", eori=EORI, variant=variant)
    return etree.fromstring(build_filing("IE3F32", data))


# ---------------------------------------------------------------------------- IE3R01


def test_r01_is_valid_and_carries_lrn_mrn_and_time(schemas: SchemaSet) -> None:
    payload = build_ie3r01(
        lrn="LRN-Q-1",
        mrn=MRN,
        registered_at=AT,
        specific_circumstance_indicator="F32",
        parties=parties_from_filing(_filing()),
    )
    root = _parse(payload)
    assert schemas.validate(root) == []
    assert root.tag == "{urn:icssim:ics2:IE3R01}IE3R01"
    assert root.findtext("LRN") == "LRN-Q-1"
    assert root.findtext("MRN") == MRN and len(MRN) == 18
    assert root.findtext("registrationDate") == "2024-06-03T08:15:30Z"
    assert root.findtext("declarant/identificationNumber") == EORI
    assert root.findtext("transportDocument/documentNumber") == "176-12345675"
    assert root.findtext("carrier/identificationNumber") == "BE0400000001"


def test_r01_minimal_form_is_valid(schemas: SchemaSet) -> None:
    assert schemas.validate(_parse(build_ie3r01(lrn="L", mrn=MRN, registered_at=AT))) == []


def test_r01_converts_to_utc_and_is_deterministic() -> None:
    local = AT.astimezone(timezone(timedelta(hours=2)))
    first = build_ie3r01(lrn="L", mrn=MRN, registered_at=local, specific_circumstance_indicator="F43")
    second = build_ie3r01(lrn="L", mrn=MRN, registered_at=AT, specific_circumstance_indicator="F43")
    assert first == second
    assert b"2024-06-03T08:15:30Z" in first


@pytest.mark.parametrize(
    "kwargs",
    [{"lrn": "", "mrn": MRN}, {"lrn": "L" * 23, "mrn": MRN}, {"lrn": "L", "mrn": "24BE123"}],
)
def test_r01_refuses_malformed_keys(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build_ie3r01(registered_at=AT, **kwargs)


# ---------------------------------------------------------------------------- IE3N99


def test_n99_lists_all_errors_of_a_filing_with_three_defects(schemas: SchemaSet) -> None:
    filing = _filing()
    filing.find(
        "consignmentMasterLevel/consignmentHouseLevel/goodsItem[1]/commodity/descriptionOfGoods"
    ).text = "Gift"
    filing.find("consignmentMasterLevel/consignmentHouseLevel/consignee/name").text = "Unknown"
    filing.find("representative/identificationNumber").text = EORI
    errors = validate_filing(filing)
    assert len(errors) == 3
    payload = build_ie3n99(lrn="LRN-Q-1", errors=errors, rejected_at=AT, parties=parties_from_filing(filing))
    root = _parse(payload)
    assert schemas.validate(root) == []
    items = root.findall("error")
    assert [(item.findtext("errorCode"), item.findtext("errorPointer")) for item in items] == [
        (error.code, error.pointer) for error in errors
    ]
    assert [item.findtext("originalAttributeValue") for item in items] == ["Gift", "Unknown", EORI]
    assert root.findtext("LRN") == "LRN-Q-1"
    assert root.findtext("notificationDate") == "2024-06-03T08:15:30Z"
    assert root.findtext("representative/identificationNumber") == EORI


def test_n99_for_schema_errors_is_valid(schemas: SchemaSet) -> None:
    filing = _filing()
    filing.find("LRN").text = "X" * 40
    filing.remove(filing.find("declarant"))
    errors = validate_filing(filing)
    assert [error.code for error in errors] == ["12", "13"]
    # the LRN is unusable (too long): it is left out, the AS4 RefToMessageId correlates
    root = _parse(
        build_ie3n99(lrn="X" * 40, errors=errors, rejected_at=AT, parties=parties_from_filing(filing))
    )
    assert schemas.validate(root) == []
    assert root.find("LRN") is None
    assert len(root.findall("error")) == 2


def test_n99_by_mrn_and_without_correlation(schemas: SchemaSet) -> None:
    error = FunctionalError("12", "/IE3A32/MRN", "MRN unknown", MRN)
    by_mrn = _parse(build_ie3n99(mrn=MRN, errors=[error], rejected_at=AT))
    assert schemas.validate(by_mrn) == [] and by_mrn.findtext("MRN") == MRN
    anonymous = _parse(build_ie3n99(errors=[FunctionalError("12", "/", "payload refused")], rejected_at=AT))
    assert schemas.validate(anonymous) == [] and anonymous.find("LRN") is None
    assert anonymous.find("error/originalAttributeValue") is None
    with pytest.raises(ValueError):
        build_ie3n99(lrn="L", mrn=MRN, errors=[error], rejected_at=AT)
    with pytest.raises(ValueError):
        build_ie3n99(lrn="L", errors=[], rejected_at=AT)


def test_n99_cuts_long_texts_and_caps_the_error_count(schemas: SchemaSet) -> None:
    long_error = FunctionalError("100", "/IE3F32/" + "a/" * 400, "r" * 2000, "v" * 2000)
    errors = [long_error] + [FunctionalError("12", f"/IE3F32/x{i}", "bad") for i in range(1200)]
    root = _parse(build_ie3n99(lrn="L", errors=errors, rejected_at=AT))
    assert schemas.validate(root) == []
    assert len(root.findall("error")) == MAX_ERRORS
    first = root.find("error")
    assert first is not None
    assert len(first.findtext("errorReason") or "") == 512
    assert (first.findtext("originalAttributeValue") or "").endswith("\u2026")


def test_n99_is_deterministic() -> None:
    errors = validate_filing(_filing("disallowed-script"))
    assert build_ie3n99(lrn="L", errors=errors, rejected_at=AT) == build_ie3n99(
        lrn="L", errors=list(errors), rejected_at=AT
    )


def test_parties_from_a_filing_without_optional_parties() -> None:
    filing = _filing()
    for path in ("representative", "carrier"):
        filing.remove(filing.find(path))
    parties = parties_from_filing(filing)
    assert parties == ReplyParties(
        representative_id=None,
        transport_document=("176-12345675", "N741"),
        carrier_id=None,
        declarant_id=EORI,
    )


# ---------------------------------------------------------------------------- MRN


def test_iso6346_reference_vectors() -> None:
    # published container numbers CSQU3054383 and MSKU9070323
    assert iso6346_check_digit("CSQU305438") == "3"
    assert iso6346_check_digit("MSKU907032") == "3"


def test_mrn_form() -> None:
    mrn = make_mrn(2024, "DE", 42)
    assert len(mrn) == 18 and MRN_PATTERN.fullmatch(mrn)
    assert mrn.startswith("24DE") and mrn[16] == "T"
    assert mrn[17] == check_digit(mrn[:17])
    assert make_mrn(24, "DE", 42) == mrn
    assert make_mrn(2024, "DE", 42, procedure="R")[16] == "R"


def test_mrn_is_deterministic_and_unique() -> None:
    first = [make_mrn(2024, "BE", n) for n in range(2000)]
    assert first == [make_mrn(2024, "BE", n) for n in range(2000)]
    assert len(set(first)) == 2000
    assert all(is_valid_mrn(mrn) for mrn in first)


def test_a_changed_character_breaks_the_check_digit() -> None:
    mrn = make_mrn(2025, "FR", 7)
    tampered = mrn[:10] + ("A" if mrn[10] != "A" else "B") + mrn[11:]
    assert not is_valid_mrn(tampered)
    assert not is_valid_mrn(mrn[:17] + str((int(mrn[17]) + 1) % 10))
    assert not is_valid_mrn(mrn.lower()) and not is_valid_mrn(mrn[:17])


@pytest.mark.parametrize(
    ("year", "country", "sequence", "procedure"),
    [
        (2024, "be", 1, "T"),
        (2024, "BEL", 1, "T"),
        (2024, "BE", -1, "T"),
        (2024, "BE", 36**12, "T"),
        (2024, "BE", 1, "1"),
    ],
)
def test_make_mrn_refuses_bad_input(year: int, country: str, sequence: int, procedure: str) -> None:
    with pytest.raises(ValueError):
        make_mrn(year, country, sequence, procedure)


@given(st.integers(min_value=0, max_value=36**12 - 1), st.sampled_from(["BE", "DE", "NL", "FR"]))
def test_every_mrn_is_valid(sequence: int, country: str) -> None:
    assert is_valid_mrn(make_mrn(2024, country, sequence))
