"""Schema layer: SchemaSet compilation and caching, lxml errors -> CL723 codes and XPath pointers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from scenarios.filings.ics2 import MESSAGE_IDS, FilingMessageId, build_filing, sample_data
from simulator.ics2 import validation
from simulator.ics2.errors import FunctionalError, element_pointer
from simulator.ics2.validation import (
    DEFAULT_SCHEMA_DIR,
    SchemaSet,
    default_schema_set,
    filing_keys,
    load_schema_set,
)

EORI = "BE0123456789"
HOUSE_REL = "consignmentMasterLevel/consignmentHouseLevel"
HOUSE = f"/IE3F32/{HOUSE_REL}"


def _sample(message_id: FilingMessageId = "IE3F32") -> etree._Element:
    return etree.fromstring(build_filing(message_id, sample_data(message_id, lrn="LRN-T-1", eori=EORI)))


def _codes(errors: list[FunctionalError]) -> list[tuple[str, str]]:
    return [(error.code, error.pointer) for error in errors]


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return default_schema_set()


def test_default_set_knows_the_release1_messages(schemas: SchemaSet) -> None:
    assert {"IE3F32", "IE3F43", "IE3F44", "IE3R01", "IE3N99"} <= schemas.message_ids
    assert schemas.namespace_of("IE3F32") == "urn:icssim:ics2:IE3F32"
    assert isinstance(schemas.schema_for("IE3F43"), etree.XMLSchema)


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
def test_samples_are_schema_valid(schemas: SchemaSet, message_id: FilingMessageId) -> None:
    assert schemas.validate(_sample(message_id)) == []


def _remove(path: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        element = root.find(path)
        assert element is not None
        element.getparent().remove(element)

    return mutate


def _set_text(path: str, text: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        element = root.find(path)
        assert element is not None
        element.text = text

    return mutate


def _repeat_communication(root: etree._Element) -> None:
    declarant = root.find("declarant")
    assert declarant is not None
    communication = declarant.find("communication")
    for _ in range(9):  # 10 in all, maxOccurs is 9
        declarant.append(etree.fromstring(etree.tostring(communication)))


def _insert_unknown(root: etree._Element) -> None:
    root.find("declarant").insert(1, etree.Element("nickname"))


def _swap_name(root: etree._Element) -> None:
    declarant = root.find("declarant")
    name = declarant.find("name")
    declarant.remove(name)
    declarant.insert(1, name)


def _add_attribute(root: etree._Element) -> None:
    root.find("LRN").set("version", "2")


def _add_text(root: etree._Element) -> None:
    root.find("declarant").text = "stray text"


SCHEMA_CASES = [
    ("lrn-too-long", _set_text("LRN", "L" * 23), [("12", "/IE3F32/LRN")]),
    ("lrn-with-space", _set_text("LRN", "LRN 1"), [("12", "/IE3F32/LRN")]),
    ("sender-not-eori", _set_text("messageSender", "be0123"), [("12", "/IE3F32/messageSender")]),
    (
        "date-without-z",
        _set_text("documentIssueDate", "2024-06-03T08:15:00"),
        [("12", "/IE3F32/documentIssueDate")],
    ),
    (
        "date-not-calendar",
        _set_text("documentIssueDate", "2024-02-30T08:15:00Z"),
        [("12", "/IE3F32/documentIssueDate")],
    ),
    (
        "sci-unknown",
        _set_text("specificCircumstanceIndicator", "F99"),
        [("14", "/IE3F32/specificCircumstanceIndicator")],
    ),
    (
        "hs-5-digits",
        _set_text(
            f"{HOUSE_REL}/goodsItem[2]/commodity/commodityCode/harmonizedSystemSubHeadingCode", "82119"
        ),
        [("12", f"{HOUSE}/goodsItem[2]/commodity/commodityCode/harmonizedSystemSubHeadingCode")],
    ),
    (
        "mass-negative",
        _set_text(f"{HOUSE_REL}/totalGrossMass", "-1"),
        [("12", f"{HOUSE}/totalGrossMass")],
    ),
    (
        "type-of-person-5",
        _set_text(f"{HOUSE_REL}/consignor/typeOfPerson", "5"),
        [("14", f"{HOUSE}/consignor/typeOfPerson")],
    ),
    ("declarant-name-missing", _remove("declarant/name"), [("13", "/IE3F32/declarant/name")]),
    ("master-level-missing", _remove("consignmentMasterLevel"), [("13", "/IE3F32/consignmentMasterLevel")]),
    ("consignee-missing", _remove(f"{HOUSE_REL}/consignee"), [("13", f"{HOUSE}/consignee")]),
    ("ten-communications", _repeat_communication, [("35", "/IE3F32/declarant/communication[10]")]),
    ("unknown-element", _insert_unknown, [("15", "/IE3F32/declarant/nickname")]),
    ("misordered", _swap_name, [("15", "/IE3F32/declarant/identificationNumber")]),
    ("attribute", _add_attribute, [("15", "/IE3F32/LRN/@version")]),
    ("text-in-element-content", _add_text, [("15", "/IE3F32/declarant")]),
]


@pytest.mark.parametrize(
    ("label", "mutate", "expected"), SCHEMA_CASES, ids=[case[0] for case in SCHEMA_CASES]
)
def test_schema_errors_have_cl723_codes_and_pointers(
    schemas: SchemaSet, label: str, mutate: Callable[[etree._Element], None], expected: list[tuple[str, str]]
) -> None:
    root = _sample()
    mutate(root)
    errors = schemas.validate(root)
    assert _codes(errors) == expected, errors
    assert all(error.reason for error in errors)


def test_value_errors_carry_the_original_value(schemas: SchemaSet) -> None:
    root = _sample()
    root.find("LRN").text = "L" * 23
    [error] = schemas.validate(root)
    assert error.original_value == "L" * 23
    assert "LRN" in error.reason


def test_every_schema_error_is_reported(schemas: SchemaSet) -> None:
    root = _sample()
    root.find("messageSender").text = "be0123"
    root.find("LRN").text = "L" * 30
    root.find("documentIssueDate").text = "yesterday"
    assert _codes(schemas.validate(root)) == [
        ("12", "/IE3F32/messageSender"),
        ("12", "/IE3F32/LRN"),
        ("12", "/IE3F32/documentIssueDate"),
    ]


def test_unknown_root_is_one_error(schemas: SchemaSet) -> None:
    errors = schemas.validate(etree.fromstring(b"<IE3F99><LRN>x</LRN></IE3F99>"))
    assert _codes(errors) == [("15", "/IE3F99")]


def test_wrong_root_namespace_is_rejected(schemas: SchemaSet) -> None:
    payload = build_filing("IE3F32", sample_data("IE3F32", lrn="L1", eori=EORI), namespace="urn:other")
    assert _codes(schemas.validate(etree.fromstring(payload))) == [("15", "/IE3F32")]


def test_default_namespace_qualifies_children_and_is_rejected(schemas: SchemaSet) -> None:
    payload = build_filing("IE3F32", sample_data("IE3F32", lrn="L1", eori=EORI))
    payload = payload.replace(b"ie:IE3F32", b"IE3F32").replace(b"xmlns:ie=", b"xmlns=")
    errors = schemas.validate(etree.fromstring(payload))
    assert errors[0].pointer == "/IE3F32/messageSender"
    assert errors[0].code == "15"


def test_pointer_of_a_subtree_root_is_relative_to_the_message(schemas: SchemaSet) -> None:
    wrapper = etree.fromstring(b"<envelope><body/></envelope>")
    message = _sample()
    message.find("LRN").text = "L" * 23
    wrapper[0].append(message)
    assert _codes(schemas.validate(wrapper[0][0])) == [("12", "/IE3F32/LRN")]


def test_element_pointer_indexes_only_repeated_names() -> None:
    root = _sample()
    items = root.findall("consignmentMasterLevel/consignmentHouseLevel/goodsItem")
    assert element_pointer(items[1]) == f"{HOUSE}/goodsItem[2]"
    assert element_pointer(root.find("declarant/name")) == "/IE3F32/declarant/name"


def test_filing_keys_are_read_from_valid_and_invalid_filings() -> None:
    keys = filing_keys(_sample())
    assert (keys.message_id, keys.lrn, keys.declarant, keys.specific_circumstance_indicator) == (
        "IE3F32",
        "LRN-T-1",
        EORI,
        "F32",
    )
    assert keys.representative is not None and keys.representative != EORI
    broken = filing_keys(etree.fromstring(b"<IE3F32><LRN> L9 </LRN></IE3F32>"))
    assert (broken.lrn, broken.declarant) == ("L9", None)


# ---------------------------------------------------------------------------- compile once / alternate


def test_schemas_are_compiled_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "xsd"
    shutil.copytree(DEFAULT_SCHEMA_DIR, target)
    compiled: list[object] = []
    real = etree.XMLSchema

    def counting(*args: object, **kwargs: object) -> etree.XMLSchema:
        compiled.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(validation.etree, "XMLSchema", counting)
    first = load_schema_set(target)
    assert len(compiled) == len(first.message_ids) >= 5
    second = load_schema_set(str(target))
    root = _sample()
    for _ in range(3):
        assert second.validate(root) == []
    assert second is first
    assert len(compiled) == len(first.message_ids)
    assert default_schema_set() is default_schema_set() is load_schema_set(DEFAULT_SCHEMA_DIR)


def _write_alternate(directory: Path) -> None:
    directory.mkdir()
    (directory / "official-ie3f32-v9.xsd").write_text(
        """<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://example.org/ics2/f32"
           elementFormDefault="unqualified">
  <xs:element name="IE3F32">
    <xs:complexType><xs:sequence>
      <xs:element name="LRN"><xs:simpleType><xs:restriction base="xs:string">
        <xs:maxLength value="5"/></xs:restriction></xs:simpleType></xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>""",
        "utf-8",
    )
    (directory / "schemas.json").write_text(json.dumps({"IE3F32": "official-ie3f32-v9.xsd"}), "utf-8")


def test_an_alternate_directory_with_a_mapping_file(tmp_path: Path) -> None:
    directory = tmp_path / "official"
    _write_alternate(directory)
    schemas = SchemaSet(directory)
    assert schemas.message_ids == frozenset({"IE3F32"})
    ok = etree.fromstring(b'<x:IE3F32 xmlns:x="http://example.org/ics2/f32"><LRN>abc</LRN></x:IE3F32>')
    assert schemas.validate(ok) == []
    bad = etree.fromstring(b'<x:IE3F32 xmlns:x="http://example.org/ics2/f32"><LRN>abcdef</LRN></x:IE3F32>')
    assert _codes(schemas.validate(bad)) == [("12", "/IE3F32/LRN")]
    # our sample is in another namespace: not this schema's message
    assert schemas.validate(_sample())[0].code == "15"


def test_an_alternate_directory_by_file_name_convention(tmp_path: Path) -> None:
    directory = tmp_path / "by-name"
    directory.mkdir()
    for name in ("ics2-common.xsd", "IE3F32.xsd"):
        shutil.copy(DEFAULT_SCHEMA_DIR / name, directory / name)
    shutil.copy(DEFAULT_SCHEMA_DIR / "IE3F44.xsd", directory / "IE3F44_v2.xsd")
    schemas = SchemaSet(directory)
    assert schemas.message_ids == frozenset({"IE3F32", "IE3F44"})
    assert schemas.validate(_sample("IE3F44")) == []


def test_a_directory_without_message_xsds_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no message XSDs"):
        SchemaSet(tmp_path)
    with pytest.raises(FileNotFoundError):
        SchemaSet(tmp_path / "absent")


def test_element_declared_elsewhere_but_not_allowed_here_is_code_15() -> None:
    """CL723 15 (not supported in this position) vs 13 (missing): an element that other messages
    declare (e.g. `buyer`) appended where the parent's type does not allow it is 15; a missing
    mandatory element is still 13 at its own pointer (parent -> legal children map, validation.py)."""
    from scenarios.filings.ics2 import build_filing, sample_data
    from simulator.ics2.validation import default_schema_set

    schemas = default_schema_set()
    root = etree.fromstring(build_filing("IE3F32", sample_data("IE3F32", lrn="X1", eori="BE0123456789")))
    stray = etree.fromstring(etree.tostring(root))
    etree.SubElement(stray, "buyer").text = "x"
    assert [(e.code, e.pointer) for e in schemas.validate(stray)] == [("15", "/IE3F32/buyer")]
    missing = etree.fromstring(etree.tostring(root))
    missing.remove(missing.find("LRN"))
    assert [(e.code, e.pointer) for e in schemas.validate(missing)] == [("13", "/IE3F32/LRN")]
