"""Client-side builders of every ICS2 trader message: all 31 filings, 30 amendments, linked partial sets,
sized filings, IE3N06 / IE3Q05 / IE3R02 / IE3R03, and the reference driver's operations.

Each built message is checked against the simulator's own XSDs and data-quality rules (the harness's
builders must produce what the simulator accepts)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lxml import etree

import scenarios.filings.ics2_bodies as bodies_module
import scenarios.filings.ics2_messages as messages_module
import scenarios.filings.ics2_samples as samples_module
import scenarios.filings.ics2_sets as sets_module
from scenarios.client.business import BusinessMemory
from scenarios.client.ics2 import ClientFaults, Ics2Client, TraderIdentity
from scenarios.client.transport import HttpResponse
from scenarios.drivers.reference import ReferenceDriver
from scenarios.filings.ics2 import (
    ALL_FILING_IDS,
    AMENDMENT_IDS,
    MESSAGE_IDS,
    FilingMessageId,
    build_amendment,
    build_filing,
    expected_errors,
    namespace_for,
    sample_data,
)
from scenarios.filings.ics2_bodies import FAMILY_OF
from scenarios.filings.ics2_messages import (
    DEFAULT_ISSUED,
    build_arrival,
    build_consultation,
    build_rfi_answer,
    build_screening_answer,
)
from scenarios.filings.ics2_sets import PARTIAL_SET_KINDS, partial_set, sized_filing
from scenarios.pki import PkiFiles
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.message import unpack
from simulator.ics2.linking import Part, completeness, conflict, link_facts
from simulator.ics2.rules import check_rules
from simulator.ics2.validation import load_schema_set
from tests.unit.codec_fixtures import T0, identity

EORI = "BE0123456789"
FILER = "NL812345678B01"
MRN = "24BE12345678901234"
SHAPES: list[dict[str, Any]] = [{}, {"houses": 3, "goods_per_house": 2}]
MASTER = "consignmentMasterLevel"
HOUSES = f"{MASTER}/consignmentHouseLevel"


def _problems(payload: bytes) -> list[tuple[str, str, str]]:
    """Schema errors, then (if schema-valid) data-quality findings, as (code, pointer, reason)."""
    root = etree.fromstring(payload)
    errors = load_schema_set().validate(root)
    if not errors:
        errors = check_rules(root, etree.QName(root).localname)
    return [(error.code, error.pointer, error.reason) for error in errors]


def _filing(message_id: FilingMessageId, **shape: Any) -> etree._Element:
    return etree.fromstring(build_filing(message_id, sample_data(message_id, lrn="LRN-ALL-1", eori=EORI, **shape)))


# ------------------------------------------------------------------------------------------------
# every filing and amendment


def test_the_catalogue_of_filings_and_amendments() -> None:
    assert len(ALL_FILING_IDS) == 31 and len(set(ALL_FILING_IDS)) == 31
    assert set(FAMILY_OF) == set(ALL_FILING_IDS)
    assert len(AMENDMENT_IDS) == 30 and "IE3A25" not in AMENDMENT_IDS
    assert MESSAGE_IDS == ("IE3F32", "IE3F43", "IE3F44")  # the variants are defined for these
    with pytest.raises(ValueError, match="no amendment"):
        build_amendment("IE3F25", sample_data("IE3F25", lrn="L", eori=EORI), mrn=MRN)


@pytest.mark.parametrize("shape", SHAPES, ids=["default", "3x2"])
@pytest.mark.parametrize("message_id", ALL_FILING_IDS)
def test_every_filing_sample_is_valid(message_id: FilingMessageId, shape: dict[str, Any]) -> None:
    data = sample_data(message_id, lrn="LRN-ALL-1", eori=EORI, **shape)
    payload = build_filing(message_id, data)
    assert _problems(payload) == []
    root = etree.fromstring(payload)
    assert root.tag == f"{{{namespace_for(message_id)}}}{message_id}"
    assert root.findtext("specificCircumstanceIndicator") == message_id[3:]
    assert root.findtext("messageSender") == EORI


@pytest.mark.parametrize("shape", SHAPES, ids=["default", "3x2"])
@pytest.mark.parametrize("amendment_id", AMENDMENT_IDS)
def test_every_amendment_is_valid(amendment_id: str, shape: dict[str, Any]) -> None:
    filing_id = cast(FilingMessageId, "IE3F" + amendment_id[4:])
    payload = build_amendment(filing_id, sample_data(filing_id, lrn="LRN-AMD-1", eori=EORI, **shape), mrn=MRN)
    assert _problems(payload) == []
    root = etree.fromstring(payload)
    assert root.tag == f"{{{namespace_for(amendment_id)}}}{amendment_id}"
    assert [child.tag for child in root][1:3] == ["LRN", "MRN"] and root.findtext("MRN") == MRN


@pytest.mark.parametrize("message_id", [m for m in ALL_FILING_IDS if FAMILY_OF[m] not in {
    "straight", "consignee-straight"}])
def test_houses_and_goods_follow_the_shape(message_id: FilingMessageId) -> None:
    root = _filing(message_id, houses=3, goods_per_house=2)
    houses = root.findall(HOUSES)
    assert len(houses) == 3
    if FAMILY_OF[message_id] not in {"master-only", "master-link", "postal-receptacle"}:
        assert all(len(house.findall("goodsItem")) == 2 for house in houses)
        numbers = [item.findtext("goodsItemNumber") for item in houses[2].findall("goodsItem")]
        assert numbers == ["1", "2"]


@pytest.mark.parametrize("message_id", ["IE3F10", "IE3F13", "IE3F17", "IE3F28", "IE3F29", "IE3F50", "IE3F51"])
def test_goods_under_the_master_follow_goods_per_house(message_id: FilingMessageId) -> None:
    root = _filing(message_id, goods_per_house=3)
    assert root.find(HOUSES) is None
    assert len(root.findall(f"{MASTER}/goodsItem")) == 3


@pytest.mark.parametrize(("message_id", "mode"), [
    ("IE3F10", "1"), ("IE3F11", "1"), ("IE3F12", "1"), ("IE3F45", "1"), ("IE3F20", "4"), ("IE3F21", "4"),
    ("IE3F28", "4"), ("IE3F30", "4"), ("IE3F42", "4"), ("IE3F34", "3"), ("IE3F40", "3"), ("IE3F50", "3"),
    ("IE3F41", "2"), ("IE3F51", "2"),
])
def test_complete_and_carrier_filings_carry_the_carriage(message_id: FilingMessageId, mode: str) -> None:
    root = _filing(message_id)
    assert root.findtext("customsOfficeOfFirstEntry/referenceNumber")
    assert root.findtext(f"{MASTER}/activeBorderTransportMeans/modeOfTransport") == mode
    for tag in ("placeOfLoading", "placeOfUnloading", "countriesOfRoutingOfMeansOfTransport", "transportEquipment"):
        assert root.find(f"{MASTER}/{tag}") is not None, tag
    assert root.findtext(f"{MASTER}/totalGrossMass")


def test_complete_houses_are_complete_and_partial_ones_leave_the_consignee_part_out() -> None:
    f11, f14, f16 = (_filing(m).find(HOUSES) for m in ("IE3F11", "IE3F14", "IE3F16"))
    assert f11 is not None and f14 is not None and f16 is not None
    for tag in ("consignor", "consignee", "buyer", "seller", "goodsItem/commodity/commodityCode",
                "goodsItem/packaging/typeOfPackages", "goodsItem/weight/grossMass", "transportDocumentHouseLevel"):
        assert f11.find(tag) is not None, tag
    assert f14.find("buyer") is None and f14.find("goodsItem/commodity/commodityCode") is None
    assert f16.find("buyer") is not None and f16.find("goodsItem/commodity/commodityCode") is not None
    f13, f17 = _filing("IE3F13"), _filing("IE3F17")
    assert f13.find(f"{MASTER}/buyer") is None and f17.find(f"{MASTER}/seller") is not None


def test_documents_are_taken_from_the_arguments() -> None:
    root = _filing("IE3F11", master_document="MEDU7000000001", house_documents=["HB-1", {"number": "HB-2"}])
    assert root.findtext(f"{MASTER}/transportDocumentMasterLevel/documentNumber") == "MEDU7000000001"
    assert [h.findtext("transportDocumentHouseLevel/documentNumber") for h in root.findall(HOUSES)] == [
        "HB-1", "HB-2"]
    derived = _filing("IE3F12", master_document={"number": "MEDU-7", "type": "N704"}, houses=2)
    assert [h.findtext("transportDocumentHouseLevel/documentNumber") for h in derived.findall(HOUSES)] == [
        "MEDU7H001", "MEDU7H002"]
    with pytest.raises(ValueError, match="house documents"):
        sample_data("IE3F11", lrn="L", eori=EORI, houses=3, house_documents=["A", "B"])


def test_a_master_only_filing_may_name_who_files_each_house() -> None:
    data = sample_data("IE3F21", lrn="L-1", eori=EORI, houses=2)
    data["houses"][1]["filer"] = FILER
    payload = build_filing("IE3F21", data)
    assert _problems(payload) == []
    houses = etree.fromstring(payload).findall(HOUSES)
    assert [h.findtext("filer/identificationNumber") for h in houses] == [None, FILER]
    assert sample_data("IE3F12", lrn="L", eori=EORI, houses=0)["houses"] == []


def test_release1_samples_keep_their_default_and_take_the_shape() -> None:
    assert sample_data("IE3F32", lrn="L", eori=EORI, houses=None) == sample_data("IE3F32", lrn="L", eori=EORI)
    assert len(sample_data("IE3F44", lrn="L", eori=EORI)["houses"]) == 2
    for message_id in MESSAGE_IDS:
        root = _filing(message_id, houses=3, goods_per_house=2, master_document="784-99999999")
        assert len(root.findall(HOUSES)) == 3
        assert root.findtext(f"{MASTER}/transportDocumentMasterLevel/documentNumber") == "784-99999999"
    receptacles = _filing("IE3F44", houses=3).findall(f"{HOUSES}/receptacle/receptacleIdentificationNumber")
    assert len({r.text for r in receptacles}) == 3 and all(len(r.text or "") == 29 for r in receptacles)
    items = _filing("IE3F43", houses=2).findall(f"{HOUSES}/transportDocumentHouseLevel/documentNumber")
    # UPU S10 check digits: 12345601 -> 92 mod 11 = 4 -> 7; 12345602 -> 99 mod 11 = 0 -> 11 -> 5
    assert [item.text for item in items] == ["RR123456017CN", "RR123456025CN"]


def test_release2_and_3_filings_know_only_the_header_variant() -> None:
    data = sample_data("IE3F11", lrn="L", eori=EORI, variant="representative-equals-declarant")
    errors = check_rules(etree.fromstring(build_filing("IE3F11", data)), "IE3F11")
    assert [(e.code, e.pointer) for e in errors] == expected_errors("IE3F11", "representative-equals-declarant")
    with pytest.raises(ValueError, match="does not apply"):
        sample_data("IE3F11", lrn="L", eori=EORI, variant="stop-word-description")


def test_samples_and_payloads_are_deterministic() -> None:
    for message_id in ALL_FILING_IDS:
        first = sample_data(message_id, lrn="L-D", eori=EORI, houses=3, goods_per_house=2)
        second = sample_data(message_id, lrn="L-D", eori=EORI, houses=3, goods_per_house=2)
        assert first == second and first is not second
        assert build_filing(message_id, first) == build_filing(message_id, second)


# ------------------------------------------------------------------------------------------------
# linked partial sets


def _parts(members: list[tuple[FilingMessageId, dict[str, Any]]]) -> list[Part]:
    parts = []
    for number, (message_id, data) in enumerate(members):
        facts = link_facts(etree.fromstring(build_filing(message_id, data)), message_id)
        parts.append(Part(f"24BE0000000000{number:03d}0", message_id, facts.role, data["message_sender"],
                          facts.houses))
    return parts


@pytest.mark.parametrize("kind", sorted(PARTIAL_SET_KINDS))
def test_partial_set_members_are_valid_and_linked(kind: str) -> None:
    members = partial_set(kind, lrn_prefix="SET1", eori=EORI, master_document="MAWB-7700", houses=3,
                          house_filer=FILER)
    master_id, house_id, consignee_id = PARTIAL_SET_KINDS[kind]
    assert members[0][0] == master_id
    expected_count = 2 if house_id is None else 1 + 3 * (2 if consignee_id else 1)
    assert len(members) == expected_count
    assert len({data["lrn"] for _, data in members}) == len(members)
    roots = []
    for message_id, data in members:
        payload = build_filing(message_id, data)
        assert _problems(payload) == [], message_id
        roots.append(etree.fromstring(payload))
    # the master transport document number is the same in every member
    assert {r.findtext(f"{MASTER}/transportDocumentMasterLevel/documentNumber") for r in roots} == {"MAWB-7700"}
    if house_id is not None:  # each named house is carried by exactly one house (and consignee) filing
        def numbers(root: etree._Element) -> list[str | None]:
            return [h.findtext("transportDocumentHouseLevel/documentNumber") for h in root.findall(HOUSES)]

        named = numbers(roots[0])
        assert len(set(named)) == 3
        assert [h.findtext("filer/identificationNumber") for h in roots[0].findall(HOUSES)] == [FILER] * 3
        for tag in filter(None, (house_id, consignee_id)):
            assert [n for (m, _), root in zip(members, roots, strict=True) if m == tag for n in numbers(root)] == named
        assert {data["message_sender"] for m, data in members if m != master_id} == {FILER}
    # and the simulator's own linking rules agree: the set is one complete ENS, and not before its last part
    parts = _parts(members)
    for index in range(1, len(parts)):
        facts = link_facts(roots[index], parts[index].message_type)
        assert conflict(parts[:index], facts) is None
    assert completeness(parts).complete
    assert not completeness(parts[:-1]).complete


def test_partial_set_without_house_filer_and_its_errors() -> None:
    members = partial_set("sea-master-house", lrn_prefix="S2", eori=EORI, master_document="MEDU1", houses=1)
    assert [m for m, _ in members] == ["IE3F12", "IE3F15"]
    assert members[0][1]["houses"] == [{"transport_document": {"number": "MEDU1H001", "type": "N714"}}]
    assert {data["message_sender"] for _, data in members} == {EORI}
    with pytest.raises(ValueError, match="unknown partial set"):
        partial_set("rail-magic", lrn_prefix="S", eori=EORI, master_document="M")
    with pytest.raises(ValueError, match="longer than 22"):
        partial_set("sea-straight", lrn_prefix="X" * 21, eori=EORI, master_document="M")
    again = partial_set("sea-consignee", lrn_prefix="S2", eori=EORI, master_document="MEDU1", houses=2)
    assert again == partial_set("sea-consignee", lrn_prefix="S2", eori=EORI, master_document="MEDU1", houses=2)


# ------------------------------------------------------------------------------------------------
# sized filings


@pytest.mark.parametrize("target", [10_000, 30_000, 50_000])
@pytest.mark.parametrize("message_id", ["IE3F11", "IE3F20", "IE3F15", "IE3F51"])
def test_sized_filing_hits_its_target(message_id: FilingMessageId, target: int) -> None:
    payload = sized_filing(message_id, lrn="SIZE-1", eori=EORI, target_bytes=target)
    assert abs(len(payload) - target) <= 0.10 * target
    assert _problems(payload) == []
    assert len(etree.fromstring(payload).findall(HOUSES)) >= 2
    assert sized_filing(message_id, lrn="SIZE-1", eori=EORI, target_bytes=target) == payload


def test_sized_filing_refuses_what_it_cannot_grow() -> None:
    with pytest.raises(ValueError, match="no complete house"):
        sized_filing("IE3F12", lrn="L", eori=EORI, target_bytes=20_000)
    with pytest.raises(ValueError, match="within 10 %"):
        sized_filing("IE3F11", lrn="L", eori=EORI, target_bytes=1_000)


# ------------------------------------------------------------------------------------------------
# other trader messages


AIR_MEANS = {"type_of_identification": "40", "identification_number": "LH8401", "mode_of_transport": "4"}


def test_arrival_notification() -> None:
    payload = build_arrival("ARR-1", EORI, "DE1234567890123", AIR_MEANS, "DE004700", "2024-06-04T05:42:00Z",
                            [{"mrn": MRN}, {"document": ("020-41234566", "N741")}])
    assert _problems(payload) == []
    root = etree.fromstring(payload)
    assert root.findtext("documentIssueDate") == "2024-06-04T05:42:00Z"
    entries = root.findall("entrySummaryDeclaration")
    assert entries[0].findtext("MRN") == MRN and entries[1].findtext("transportDocument/type") == "N741"
    assert _problems(build_arrival("ARR-2", EORI, {"identification_number": EORI, "name": "Lufthansa Cargo AG"},
                                   AIR_MEANS, "DE004700", "2024-06-04T05:42:00Z")) == []
    with pytest.raises(ValueError, match="names an MRN or a document"):
        build_arrival("ARR-3", EORI, EORI, AIR_MEANS, "DE004700", "2024-06-04T05:42:00Z", [{}])


@pytest.mark.parametrize("subject", [{"mrn": MRN}, {"master_document": ("020-41234566", "N741")},
                                     {"house_document": {"number": "HKG00000001", "type": "N740"}}])
def test_consultation_names_exactly_one_subject(subject: dict[str, Any]) -> None:
    payload = build_consultation(EORI, "2024-06-04T06:00:00Z", notifications_requested=True, **subject)
    assert _problems(payload) == []
    assert etree.fromstring(payload).findtext("notificationsRequested") == "1"
    with pytest.raises(ValueError, match="exactly one"):
        build_consultation(EORI, "2024-06-04T06:00:00Z", **subject, **({"house_document": ("H", "N740")}
                                                                       if "mrn" in subject else {"mrn": MRN}))


def test_information_response_with_attachments() -> None:
    responses: list[dict[str, Any]] = [{"text": "The goods are cotton T-shirts, invoice attached"},
                                       {"attachments": [("cid:invoice-1@trader", "application/pdf", "Invoice"),
                                                        ("photo-1@trader", "image/jpeg")]}]
    payload = build_rfi_answer(EORI, MRN, "RFI-0001", responses)
    assert _problems(payload) == []
    details = etree.fromstring(payload).findall("responseDetails")
    assert [d.findtext("sequenceNumber") for d in details] == ["1", "2"]
    assert [a.findtext("identifier") for a in details[1].findall("binaryAttachment")] == [
        "invoice-1@trader", "photo-1@trader"]
    assert payload == build_rfi_answer(EORI, MRN, "RFI-0001", responses)  # same arguments, same bytes
    assert etree.fromstring(payload).findtext("documentIssueDate") == DEFAULT_ISSUED
    with pytest.raises(ValueError, match="image/png"):
        build_rfi_answer(EORI, MRN, "RFI-1", [{"attachments": [("x", "image/png")]}])
    with pytest.raises(ValueError, match="at least one"):
        build_rfi_answer(EORI, MRN, "RFI-1", [])


def test_screening_response() -> None:
    payload = build_screening_answer(EORI, MRN, "HRCM-0001", [
        {"master_document": ("020-41234566", "N741"), "house_document": ("HKG00000001", "N740"),
         "goods_items": [1, 2], "methods": ["XRY", "ETD"], "screened_at": "2024-06-03T20:00:00Z",
         "result": "No threat items detected", "attachments": [("xray-1@trader", "image/jpeg")]},
        {"house_document": ("HKG00000002", "N740"), "methods": ["PHS"], "screened_at": "2024-06-03T20:10:00Z",
         "result": "Physical search, cleared"},
    ])
    assert _problems(payload) == []
    screenings = etree.fromstring(payload).findall("screening")
    assert [s.findtext("screeningMethod") for s in screenings] == ["XRY", "PHS"]
    with pytest.raises(ValueError, match="master_document or a house_document"):
        build_screening_answer(EORI, MRN, "H-1", [{"methods": ["XRY"], "screened_at": "2024-06-03T20:00:00Z",
                                                   "result": "ok"}])


def test_builders_stay_on_the_client_side() -> None:
    allowed = {"__future__", "copy", "collections.abc", "datetime", "decimal", "typing", "lxml"}
    for module in (bodies_module, samples_module, sets_module, messages_module):
        tree = ast.parse(Path(str(module.__file__)).read_text("utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert {name for name in imported if not name.startswith("scenarios.filings.")} <= allowed, module


# ------------------------------------------------------------------------------------------------
# reference driver operations (with a recording client: no network)


@dataclass
class _RecordingClient:
    """Records (action, payload, agreement at send time, attachments) instead of sending."""

    agreement: str = as4c.AGREEMENT_V1
    sent: list[tuple[str, bytes, str, tuple[Any, ...]]] = field(default_factory=list)
    business: BusinessMemory = field(default_factory=BusinessMemory)  # nothing learnt: no Do Not Load in force
    faults: ClientFaults = field(default_factory=ClientFaults)

    def send(self, action: str, payload: bytes, *, attachments: Any = ()) -> str:
        self.sent.append((action, payload, self.agreement, tuple(attachments)))
        return f"outcome-{len(self.sent)}"


def test_driver_sends_every_message_type_under_its_interface_version() -> None:
    pki = SimpleNamespace(trader=lambda name: SimpleNamespace(eori=EORI))
    reference, client = ReferenceDriver("https://sti.invalid", cast(PkiFiles, pki)), _RecordingClient()
    reference._clients["carrier"] = cast(Any, client)
    data: Mapping[str, Any] = sample_data("IE3F20", lrn="DRV-1", eori=EORI)
    assert reference.file_data("carrier", "IE3F20", data) == ("DRV-1", "outcome-1")
    reference.amend_type("carrier", "IE3F50", MRN)
    reference.arrive("carrier", [MRN, {"document": ("020-41234566", "N741")}])
    reference.consult("carrier", master_document=("020-41234566", "N741"))
    pdf = ("invoice-1@trader", b"%PDF-1.4 sample", "application/pdf")
    reference.answer_rfi("carrier", MRN, "RFI-0001", "Invoice attached", attachments=[pdf])
    reference.answer_screening("carrier", MRN, "HRCM-0001", house_document=("HKG00000001", "N740"))
    reference.file_payload("carrier", "IE3F32", build_filing("IE3F32", sample_data("IE3F32", lrn="R1", eori=EORI)))
    actions, payloads, agreements, attachments = zip(*client.sent, strict=True)
    assert actions == ("IE3F20", "IE3A50", "IE3N06", "IE3Q05", "IE3R02", "IE3R03", "IE3F32")
    assert [_problems(payload) for payload in payloads] == [[]] * 7
    assert agreements == (as4c.AGREEMENT_V2,) * 4 + (as4c.AGREEMENT_V1,) * 3
    assert client.agreement == as4c.AGREEMENT_V1  # restored after each send
    assert attachments[4] == (pdf,)
    identifier = etree.fromstring(payloads[4]).findtext("responseDetails/binaryAttachment/identifier")
    assert identifier == "invoice-1@trader"
    with pytest.raises(ValueError, match="amend_type"):
        reference.file_data("carrier", "IE3A20", data)


def test_client_sends_binary_attachments_signed_like_the_payload(tmp_path: Path) -> None:
    trader = identity()
    cert, key, ca = tmp_path / "tls.pem", tmp_path / "tls.key", tmp_path / "ca.pem"
    cert.write_bytes(trader.leaf.public_bytes(Encoding.PEM))
    key.write_bytes(trader.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    ca.write_bytes(trader.chain[-1].public_bytes(Encoding.PEM))
    client = Ics2Client("https://sti.invalid", TraderIdentity(EORI, trader.key, trader.chain, cert, key), ca,
                        now=lambda: T0)
    posted: list[tuple[str, bytes]] = []

    def post(content_type: str, body: bytes) -> HttpResponse:
        posted.append((content_type, body))
        return HttpResponse(200, "text/plain", b"")

    client._transport = cast(Any, SimpleNamespace(post=post))
    pdf = ("invoice-1@trader", b"%PDF-1.4 invoice", "application/pdf")
    jpeg = ("photo-1@trader", b"\xff\xd8\xff\xe0 photo", "image/jpeg")
    payload = build_rfi_answer(EORI, MRN, "RFI-0001", [{"text": "See attachments",
                                                        "attachments": [pdf[::2], jpeg[::2]]}])
    client.send("IE3R02", payload, attachments=[pdf, jpeg])
    message = unpack(*posted[0])
    assert message.signature is not None
    for cid, content, mime_type in (pdf, jpeg):
        part = message.payload(cid)
        assert part.content == content and part.properties[as4c.PROPERTY_MIME_TYPE] == mime_type
        assert f"cid:{cid}" in message.signature.referenced_uris
    assert len(message.payloads) == 3
