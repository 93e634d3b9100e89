"""Every catalogued ICS2 message has our own XSD, it compiles in the SchemaSet, and it is strict.

For each message a generic builder walks the XSD (xmlschema, tooling only) and writes
* a *minimal* instance (mandatory elements only, first branch of every choice), and
* two *full* instances (every optional element once; first resp. last branch of every choice),
with one known-good sample value per simple type (:data:`SAMPLES`). All must validate with the
production validator (lxml, :class:`SchemaSet`). Then each mandatory element of the minimal instance
that is not inside a choice is removed in turn: the SchemaSet must answer exactly one CL723 code 13
with the XPath pointer of the removed element (domain/ics2.md "Messages": IE3N99 error with code and
pointer). Further checks: shared types live only in ics2-common.xsd, each amendment is its filing
plus the MRN, and some facets of the new types.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import pytest
import xmlschema
from lxml import etree
from xmlschema.validators import XsdElement, XsdGroup

from simulator.ics2.catalogue import catalogue
from simulator.ics2.errors import element_pointer
from simulator.ics2.mrn import make_mrn
from simulator.ics2.validation import DEFAULT_SCHEMA_DIR, SchemaSet, default_schema_set

XS = "{http://www.w3.org/2001/XMLSchema}"
COMMON = "urn:icssim:ics2:common"
MESSAGE_IDS = sorted(catalogue())
AMENDMENTS = sorted(mid for mid, item in catalogue().items() if item.kind == "amendment")

# One valid value per simple type of ics2-common.xsd (local name). A new simple type without a
# sample makes the builder fail, so every type gets exercised.
SAMPLES: dict[str, str] = {
    "An2Type": "PK",
    "An3Type": "EM",
    "An8Type": "ABC",
    "An17Type": "BE0123456789",
    "An20Type": "SEAL-0001",
    "An35Type": "Brussels",
    "An70Type": "Avenue du Port 86C",
    "An256Type": "attachment-1@trader.example",
    "An512Type": "Men's cotton T-shirts, knitted",
    "An1024Type": "Free text",
    "EoriType": "BE0123456789",
    "LrnType": "LRN-ALL-0001",
    "MrnType": make_mrn(24, "BE", 1),
    "DateTimeType": "2024-06-03T08:15:00Z",
    "CountryCodeType": "BE",
    "CustomsOfficeType": "BE212000",
    "UnLocodeType": "CNSZX",
    "HsSubHeadingCodeType": "610910",
    "CnCodeType": "00",
    "TransportDocumentTypeCodeType": "N740",
    "SpecificCircumstanceIndicatorType": "F32",  # replaced by the message's own code, see _value
    "TypeOfPersonType": "2",
    "RepresentativeStatusType": "2",
    "ErrorCodeType": "12",
    "MassType": "1.5",
    "NumberOfPackagesType": "1",
    "SequenceNumberType": "1",
    "FlagType": "1",
    "ModeOfTransportType": "4",
    "TypeOfIdentificationType": "40",
    "CusCodeType": "0012345-6",
    "UnNumberType": "1263",
    "NumberOfSealsType": "1",
    "MethodOfPaymentType": "A",
    "SupplyChainActorRoleType": "FW",
    "DocumentTypeCodeType": "N380",
    "AdditionalInformationCodeType": "00200",
    "MessageTypeType": "IE3F32",
    "ScreeningMethodType": "XRY",
    "ResponseMethodType": "1",
    "AttachmentMimeType": "application/pdf",
}

Mode = Literal["minimal", "full-first", "full-last"]


@lru_cache(maxsize=1)
def _model() -> xmlschema.XMLSchema:
    """All message XSDs of the directory in one xmlschema model (the common schema loaded once)."""
    files: list[Any] = [str(path) for path in sorted(DEFAULT_SCHEMA_DIR.glob("IE3*.xsd"))]
    return xmlschema.XMLSchema(files)


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return default_schema_set()


@dataclass
class Instance:
    root: etree._Element
    removable: list[etree._Element] = field(default_factory=list)  # mandatory, outside any choice


class _Builder:
    def __init__(self, message_id: str, mode: Mode) -> None:
        self.message_id = message_id
        self.mode = mode
        self.removable: list[etree._Element] = []

    def _value(self, type_name: str) -> str:
        if type_name == "SpecificCircumstanceIndicatorType" and self.message_id[3] in "FA":
            return "F" + self.message_id[4:]
        return SAMPLES[type_name]

    def fill(self, target: etree._Element, xsd_type: Any, in_choice: bool) -> None:
        if xsd_type.is_simple() or xsd_type.has_simple_content():
            name = xsd_type.local_name or xsd_type.base_type.local_name
            target.text = self._value(name)
            return
        self.group(target, xsd_type.content, in_choice)

    def group(self, target: etree._Element, group: XsdGroup, in_choice: bool) -> None:
        if group.model == "choice":
            particles = list(group)
            chosen = particles[-1] if self.mode == "full-last" else particles[0]
            self.particle(target, chosen, True)
            return
        for particle in group:
            self.particle(target, particle, in_choice)

    def particle(self, target: etree._Element, particle: Any, in_choice: bool) -> None:
        if particle.min_occurs == 0 and self.mode == "minimal":
            return
        for _ in range(max(particle.min_occurs, 1)):
            if isinstance(particle, XsdGroup):
                self.group(target, particle, in_choice)
                continue
            assert isinstance(particle, XsdElement)
            child = etree.SubElement(target, particle.local_name)
            if self.mode == "minimal" and not in_choice:
                self.removable.append(child)
            self.fill(child, particle.type, in_choice)

    def build(self) -> Instance:
        namespace = f"urn:icssim:ics2:{self.message_id}"
        declaration = _model().maps.elements[f"{{{namespace}}}{self.message_id}"]
        root = etree.Element(f"{{{namespace}}}{self.message_id}", nsmap={"ie": namespace})
        self.fill(root, declaration.type, False)
        return Instance(root, self.removable)


def build(message_id: str, mode: Mode = "minimal") -> Instance:
    return _Builder(message_id, mode).build()


def _codes(errors: list[Any]) -> list[tuple[str, str]]:
    return [(error.code, error.pointer) for error in errors]


# ---------------------------------------------------------------------------------------- presence


def test_every_catalogue_entry_has_a_compiled_schema_in_its_own_namespace(schemas: SchemaSet) -> None:
    assert set(catalogue()) <= schemas.message_ids
    for message_id, item in catalogue().items():
        assert item.schema == message_id
        assert (DEFAULT_SCHEMA_DIR / f"{item.schema}.xsd").is_file()
        assert isinstance(schemas.schema_for(message_id), etree.XMLSchema)
        assert schemas.namespace_of(message_id) == f"urn:icssim:ics2:{message_id}"


def test_the_schema_directory_holds_no_message_outside_the_catalogue(schemas: SchemaSet) -> None:
    assert schemas.message_ids == frozenset(catalogue())


def _named_components(path: Any) -> Iterator[tuple[str, str]]:
    root = etree.parse(str(path)).getroot()
    for kind in ("complexType", "simpleType", "group", "attributeGroup"):
        for node in root.iterchildren(f"{XS}{kind}"):
            yield kind, str(node.get("name"))


def test_shared_types_are_defined_once_in_the_common_schema() -> None:
    """Every named type and group lives in ics2-common.xsd; a message XSD declares only its root."""
    for path in sorted(DEFAULT_SCHEMA_DIR.glob("IE3*.xsd")):
        assert list(_named_components(path)) == [], path.name
        root = etree.parse(str(path)).getroot()
        imports = [node.get("schemaLocation") for node in root.iterchildren(f"{XS}import")]
        assert imports == ["ics2-common.xsd"], path.name
        assert [node.get("name") for node in root.iterchildren(f"{XS}element")] == [path.stem]
    common = list(_named_components(DEFAULT_SCHEMA_DIR / "ics2-common.xsd"))
    assert len(common) == len(set(common))


def test_every_simple_type_has_a_valid_sample() -> None:
    types = {
        name.rpartition("}")[2]: xsd_type
        for name, xsd_type in _model().maps.types.items()
        if name.startswith(f"{{{COMMON}}}") and xsd_type.is_simple()
    }
    assert set(types) == set(SAMPLES)
    for name, xsd_type in types.items():
        assert xsd_type.is_valid(SAMPLES[name]), name


# ---------------------------------------------------------------------------------------- instances


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
@pytest.mark.parametrize("mode", ["minimal", "full-first", "full-last"])
def test_generated_instance_is_valid(schemas: SchemaSet, message_id: str, mode: Mode) -> None:
    root = build(message_id, mode).root
    assert schemas.validate(root) == [], etree.tostring(root, pretty_print=True).decode()


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
def test_each_missing_mandatory_element_is_code_13_with_its_pointer(schemas: SchemaSet, message_id: str) -> None:
    count = len(build(message_id).removable)
    assert count >= 1
    mismatches = []
    for index in range(count):
        instance = build(message_id)
        element = instance.removable[index]
        pointer = element_pointer(element, instance.root)
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)
        got = _codes(schemas.validate(instance.root))
        if got != [("13", pointer)]:
            mismatches.append((pointer, got))
    assert mismatches == []


# ---------------------------------------------------------------------------------------- structure


def _children(root: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in root]


def _serialised(root: etree._Element, skip: tuple[str, ...]) -> list[bytes]:
    """Children without the root's namespace declaration (unqualified content compares equal)."""
    out = []
    for child in root:
        if etree.QName(child).localname in skip:
            continue
        detached = copy.deepcopy(child)
        etree.cleanup_namespaces(detached)
        out.append(etree.tostring(detached))
    return out


@pytest.mark.parametrize("amendment", AMENDMENTS)
def test_an_amendment_is_its_filing_plus_the_mrn(amendment: str) -> None:
    """domain/ics2.md "Messages": IE3Axx is a full new dataset of the same code that refers to the MRN."""
    filing = "IE3F" + amendment[4:]
    modes: tuple[Mode, ...] = ("full-first", "full-last")
    for mode in modes:
        amended = build(amendment, mode).root
        original = build(filing, mode).root
        expected = _children(original)
        expected.insert(expected.index("LRN") + 1, "MRN")
        assert _children(amended) == expected
        assert _serialised(amended, ("LRN", "MRN")) == _serialised(original, ("LRN",))


def test_there_is_no_amendment_of_ie3f25() -> None:
    assert "IE3F25" in catalogue() and "IE3A25" not in catalogue()
    assert not (DEFAULT_SCHEMA_DIR / "IE3A25.xsd").exists()


def _set(root: etree._Element, path: str, value: str) -> None:
    element = root.find(path)
    assert element is not None, path
    element.text = value


FACETS = [
    ("IE3Q04", "MRN", "24BE123", "12"),
    ("IE3Q04", "documentIssueDate", "2024-06-03T08:15:00+01:00", "12"),
    ("IE3Q02", "responseMethod", "3", "14"),
    ("IE3R02", "responseDetails/binaryAttachment/mimeType", "image/png", "14"),
    ("IE3R03", "screening/screeningMethod", "X-RAY", "12"),
    ("IE3N06", "activeBorderTransportMeans/modeOfTransport", "0", "12"),
    ("IE3N06", "LRN", "L" * 23, "12"),
    ("IE3F10", "consignmentMasterLevel/goodsItem/commodity/cusCode", "12345678", "12"),
    ("IE3F11", "consignmentMasterLevel/containerIndicator", "2", "14"),
    ("IE3F20", "consignmentMasterLevel/transportEquipment/numberOfSeals", "10000", "12"),
    ("IE3F50", "consignmentMasterLevel/goodsItem/commodity/dangerousGoods/UNNumber", "12A4", "12"),
    ("IE3A10", "specificCircumstanceIndicator", "F99", "14"),
    ("IE3R08", "ensFiling/messageType", "IE3X01", "12"),
]


@pytest.mark.parametrize(("message_id", "path", "value", "code"), FACETS, ids=[f"{m}-{p}" for m, p, _, _ in FACETS])
def test_facets_of_the_new_types_are_strict(
    schemas: SchemaSet, message_id: str, path: str, value: str, code: str
) -> None:
    instance = build(message_id, "full-first")
    _set(instance.root, path, value)
    element = instance.root.find(path)
    assert element is not None
    assert _codes(schemas.validate(instance.root)) == [(code, element_pointer(element, instance.root))]


def test_n01_and_n99_share_the_error_type(schemas: SchemaSet) -> None:
    for message_id in ("IE3N01", "IE3N99"):
        root = build(message_id, "full-first").root
        error = root.find("error")
        assert error is not None
        assert _children(error) == ["errorCode", "errorPointer", "errorReason", "originalAttributeValue"]
        for _ in range(999):
            root.append(etree.fromstring(etree.tostring(error)))
        assert _codes(schemas.validate(root)) == [("35", f"/{message_id}/error[1000]")]


def test_binary_attachments_only_where_the_icd_allows_them() -> None:
    """ICD §3.2 "Attachments": among non-filing messages only IE3R02 and IE3R03 carry attachments."""
    carrying = {
        message_id
        for message_id in MESSAGE_IDS
        if message_id[3] not in "FA" and build(message_id, "full-first").root.find(".//binaryAttachment") is not None
    }
    assert carrying == {"IE3R02", "IE3R03"}
