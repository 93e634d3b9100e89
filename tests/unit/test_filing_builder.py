"""Client-side ICS2 filing builder: samples are valid, each variant yields exactly its expected errors."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

import scenarios.filings.ics2 as builder
from scenarios.filings.ics2 import (
    MESSAGE_IDS,
    VARIANTS,
    FilingMessageId,
    build_filing,
    expected_errors,
    namespace_for,
    sample_data,
)
from simulator.ics2.rules import validate_filing

EORI = "BE0123456789"
CASES = [
    (message_id, variant)
    for message_id in MESSAGE_IDS
    for variant in VARIANTS
    if not (message_id == "IE3F44" and variant in {"stop-word-description", "invalid-hs-code"})
]


def _root(message_id: FilingMessageId, variant: str | None = None, **overrides: object) -> etree._Element:
    data = sample_data(message_id, lrn="LRN-B-1", eori=EORI, variant=variant)
    data.update(overrides)
    return etree.fromstring(build_filing(message_id, data))


def test_builders_import_only_stdlib_lxml_and_each_other() -> None:
    """DESIGN.md one-way imports: the harness's builders never import the simulator (they must work against a
    remote one); they use the standard library, lxml and their sibling builder modules only."""
    folder = Path(str(builder.__file__)).parent
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any(name.startswith("simulator") for name in imported), (path.name, imported)
        foreign = {name for name in imported if not name.startswith("scenarios.filings")} - {
            "__future__", "copy", "collections.abc", "datetime", "decimal", "typing", "lxml"}
        assert not foreign, (path.name, foreign)


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
def test_samples_validate_without_errors(message_id: FilingMessageId) -> None:
    root = _root(message_id)
    assert root.tag == f"{{{namespace_for(message_id)}}}{message_id}"
    assert validate_filing(root) == []


@pytest.mark.parametrize(("message_id", "variant"), CASES)
def test_each_variant_yields_exactly_its_expected_errors(message_id: FilingMessageId, variant: str) -> None:
    errors = validate_filing(_root(message_id, variant))
    expected = expected_errors(message_id, variant)
    assert len(expected) == 1
    assert [(error.code, error.pointer) for error in errors] == expected


@pytest.mark.parametrize("variant", ["stop-word-description", "invalid-hs-code", "no-such-variant"])
def test_variants_that_do_not_apply_are_refused(variant: str) -> None:
    with pytest.raises(ValueError, match="does not apply"):
        sample_data("IE3F44", lrn="L", eori=EORI, variant=variant)


def test_unknown_message_is_refused() -> None:
    with pytest.raises(ValueError):
        build_filing("IE3F99", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sample_data("IE3F99", lrn="L", eori=EORI)  # type: ignore[arg-type]


def test_sample_keys_and_representative() -> None:
    data = sample_data("IE3F32", lrn="L-1", eori=EORI)
    assert data["lrn"] == "L-1" and data["message_sender"] == EORI
    assert data["declarant"]["identification_number"] == EORI
    assert data["representative"]["identification_number"] != EORI
    other = sample_data("IE3F32", lrn="L-1", eori="NL800000000B01")
    assert other["representative"]["identification_number"] != "NL800000000B01"
    assert sample_data("IE3F32", lrn="L-1", eori=EORI) == data  # deterministic, fresh copy
    data["houses"].clear()
    assert sample_data("IE3F32", lrn="L-1", eori=EORI)["houses"]


def test_optional_parts_can_be_left_out() -> None:
    root = _root("IE3F32", representative=None, carrier=None, place_of_loading=None, routing_countries=[])
    assert root.find("representative") is None and root.find("carrier") is None
    assert root.find("consignmentMasterLevel/placeOfLoading") is None
    assert validate_filing(root) == []


def test_datetimes_and_numbers_are_formatted() -> None:
    issued = datetime(2024, 6, 3, 10, 15, 0, tzinfo=timezone(timedelta(hours=2)))
    data = sample_data("IE3F32", lrn="L-1", eori=EORI)
    data["document_issue_date"] = issued
    data["houses"][0]["total_gross_mass"] = 0.00001
    root = etree.fromstring(build_filing("IE3F32", data))
    assert root.findtext("documentIssueDate") == "2024-06-03T08:15:00Z"
    assert root.findtext("consignmentMasterLevel/consignmentHouseLevel/totalGrossMass") == "0.00001"
    assert validate_filing(root) == []
    naive = dict(data, document_issue_date=datetime(2024, 1, 2, 3, 4, 5))  # naive = UTC
    assert (
        etree.fromstring(build_filing("IE3F32", naive)).findtext("documentIssueDate")
        == "2024-01-02T03:04:05Z"
    )


def test_hs_code_is_split_into_subheading_and_cn() -> None:
    root = _root("IE3F32")
    first, second = root.findall("consignmentMasterLevel/consignmentHouseLevel/goodsItem")
    assert first.findtext("commodity/commodityCode/harmonizedSystemSubHeadingCode") == "610910"
    assert first.findtext("commodity/commodityCode/combinedNomenclatureCode") == "00"
    assert second.find("commodity/commodityCode/combinedNomenclatureCode") is None
    assert [item.findtext("goodsItemNumber") for item in (first, second)] == ["1", "2"]


def test_postal_structures() -> None:
    f43 = _root("IE3F43")
    assert f43.findtext(
        "consignmentMasterLevel/consignmentHouseLevel/receptacle/receptacleIdentificationNumber"
    )
    f44 = _root("IE3F44")
    houses = f44.findall("consignmentMasterLevel/consignmentHouseLevel")
    assert len(houses) == 2 and all(house.find("goodsItem") is None for house in houses)
    assert f44.find("consignmentMasterLevel/countriesOfRoutingOfConsignment") is None


def test_a_defective_dataset_gives_a_defective_filing() -> None:
    data = sample_data("IE3F32", lrn="L-1", eori=EORI)
    del data["declarant"]
    errors = validate_filing(etree.fromstring(build_filing("IE3F32", data)))
    assert errors and errors[0].code == "13"
