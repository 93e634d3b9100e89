"""The named faulty variants of the reference client (scenarios/client/variants.py) and how they are applied.

Each variant must change what goes on the wire in the one way its docstring says, and only for business
messages; the reference client without a variant must stay correct. The client talks to a stand-in STI
(signed receipts, a pull queue) through its transport, so every posted message is unpacked by the real
AS4 codec. The catalogue must name, for every variant, scenarios that exist and check a MUST requirement,
and the reference driver must apply ICSSIM_CLIENT_VARIANT to every client (unknown name: a clear error).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lxml import etree

from scenarios.client.ics2 import ClientFaults, Ics2Client, TraderIdentity
from scenarios.client.transport import HttpResponse
from scenarios.client.variants import ENV_VARIABLE, VARIANTS, UnknownVariant, Variant, lookup
from scenarios.drivers.reference import ReferenceDriver
from scenarios.filings.ics2 import build_amendment, build_filing, sample_data
from scenarios.mutants import Mutants, SuiteRun, junit_ids, read_junit, verdict_line
from scenarios.mutants import main as mutants_main
from scenarios.pki import PkiFiles
from scenarios.requirements import load_catalogue
from scenarios.selection import discover
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import pack_user_message, unpack
from simulator.codecs.as4.model import InboundMessage, PartyRef, UserMessage
from simulator.codecs.as4.receipts import build_error_signal, build_receipt
from tests.unit.codec_fixtures import T0, identity

EORI = "BE0123456789"
MRN = "24BE12345678901234"


@dataclass
class FakeSti:
    """Answers like the STI: a signed receipt per user message, the pull queue, 200 for signals."""

    posted: list[InboundMessage] = field(default_factory=list)
    queue: list[tuple[str, bytes]] = field(default_factory=list)  # (Content-Type, envelope) to be pulled
    refused: list[tuple[EbmsError, bytes]] = field(default_factory=list)  # what the codec does not accept

    def post(self, content_type: str, body: bytes) -> HttpResponse:
        customs = identity("customs")
        try:
            message = unpack(content_type, body)
        except EbmsError as exc:
            self.refused.append((exc, body))
            signal = build_error_signal([exc], ref_to_message_id=None, message_id=f"x{len(self.refused)}@sti",
                                        timestamp=T0, key=customs.key, chain=customs.chain)
            return HttpResponse(200, as4c.SOAP12_CONTENT_TYPE, signal)
        self.posted.append(message)
        if message.kind == "user":
            receipt = build_receipt(message, key=customs.key, chain=customs.chain,
                                    message_id=f"r{len(self.posted)}@sti", timestamp=T0)
            return HttpResponse(200, as4c.SOAP12_CONTENT_TYPE, receipt)
        if message.kind == "pull":
            if self.queue:
                return HttpResponse(200, *self.queue.pop(0))
            empty = build_error_signal([EbmsError("EBMS:0006", "empty")], ref_to_message_id=message.message_id,
                                       message_id=f"e{len(self.posted)}@sti", timestamp=T0,
                                       key=customs.key, chain=customs.chain)
            return HttpResponse(200, as4c.SOAP12_CONTENT_TYPE, empty)
        return HttpResponse(200, as4c.SOAP12_CONTENT_TYPE, b"")

    def reply(self, action: str, ref_to_message_id: str) -> None:
        """Queue a customs message (IE3N99...) referring to ``ref_to_message_id`` for the next pull."""
        customs = identity("customs")
        um = UserMessage(f"{action}-{len(self.queue)}-{ref_to_message_id}", T0,
                         PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
                         PartyRef(EORI, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER), as4c.AGREEMENT_V1,
                         as4c.AGREEMENT_TYPE, as4c.SERVICE_C2T, as4c.SERVICE_TYPE, action, ref_to_message_id,
                         ref_to_message_id=ref_to_message_id, mpc=as4c.c2t_mpc(EORI))
        payload = f"<{action}><LRN>BELRN1</LRN></{action}>".encode()
        self.queue.append(pack_user_message(um, [("reply@sti", payload, "application/xml")], key=customs.key,
                                            chain=customs.chain))

    def users(self) -> list[InboundMessage]:
        return [m for m in self.posted if m.kind == "user"]

    def kinds(self) -> list[str]:
        return [m.kind for m in self.posted]


@pytest.fixture
def trader(tmp_path: Path) -> TraderIdentity:
    who = identity()
    cert, key, ca = tmp_path / "tls.pem", tmp_path / "tls.key", tmp_path / "ca.pem"
    cert.write_bytes(who.leaf.public_bytes(Encoding.PEM))
    key.write_bytes(who.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    ca.write_bytes(identity("customs").chain[-1].public_bytes(Encoding.PEM))
    return TraderIdentity(EORI, who.key, who.chain, cert, key)


def make_client(trader: TraderIdentity, variant: str | None = None) -> tuple[Ics2Client, FakeSti]:
    faults = lookup(variant).make() if variant else ClientFaults()
    client = Ics2Client("https://sti.invalid", trader, trader.tls_cert.parent / "ca.pem", faults=faults,
                        now=lambda: T0)
    sti = FakeSti()
    client._transport = cast(Any, sti)
    return client, sti


def filing(lrn: str = "BELRN1", kind: str = "IE3F32") -> bytes:
    return build_filing(kind, sample_data(kind, lrn=lrn, eori=EORI))  # type: ignore[arg-type]


def texts(payload: bytes, local: str) -> list[str]:
    return [el.text or "" for el in etree.fromstring(payload).iter() if etree.QName(el).localname == local]


# -- the catalogue -----------------------------------------------------------------------------------------
def test_every_variant_names_its_requirement_and_must_scenarios_that_exist() -> None:
    """Task rule: at least 15 variants, each caught by a MUST scenario its docstring names."""
    assert len(VARIANTS) >= 15
    catalogue = load_catalogue()
    must = {s.id for s in discover() if any(catalogue[r].strength == "MUST" for r in s.requirements)}
    for variant in VARIANTS.values():
        assert "caught by" in variant.doc and ("ICD" in variant.doc or "domain/ics2.md" in variant.doc), variant.name
        for pattern in variant.expected:
            assert any(variant.expects(s) for s in must), f"{variant.name}: {pattern} names no MUST scenario"


def test_an_unknown_variant_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownVariant, match="leaf-only-token"):
        lookup("no-such-variant")
    monkeypatch.setenv(ENV_VARIABLE, "no-such-variant")
    with pytest.raises(UnknownVariant, match=ENV_VARIABLE):
        ReferenceDriver("https://sti.invalid", cast(PkiFiles, None))


def test_the_driver_lays_the_variant_over_every_client_and_the_scene_faults(
        monkeypatch: pytest.MonkeyPatch, trader: TraderIdentity) -> None:
    monkeypatch.setenv(ENV_VARIABLE, "wrong-service")
    pki = cast(PkiFiles, type("Pki", (), {"trust_bundle": trader.tls_cert.parent / "ca.pem"})())
    driver = ReferenceDriver("https://sti.invalid", pki)
    monkeypatch.setattr(driver, "identity", lambda name: trader)
    driver.set_faults("trader-a", ClientFaults(receipt_without_body=True))
    faulty, other = driver.client("trader-a").faults, driver.client("trader-b").faults
    assert faulty.service == other.service == as4c.SERVICE_C2T
    assert faulty.receipt_without_body and not other.receipt_without_body
    monkeypatch.delenv(ENV_VARIABLE)
    assert ReferenceDriver("https://sti.invalid", pki).variant is None


def test_merged_faults_keep_both_and_the_later_wins() -> None:
    merged = ClientFaults(leaf_only_token=True, service="a").merged(ClientFaults(service="b", never_pull=True))
    assert merged == ClientFaults(leaf_only_token=True, service="b", never_pull=True)


# -- what goes on the wire ---------------------------------------------------------------------------------
def _header(message: InboundMessage) -> UserMessage:
    assert message.user_message is not None
    return message.user_message


WIRE: dict[str, Callable[[InboundMessage], bool]] = {
    "wrong-service": lambda m: _header(m).service == as4c.SERVICE_C2T,
    "agreement-unknown-version": lambda m: _header(m).agreement_ref == "EU-ICS2-TI-V3.0",
    "agreement-v1-only": lambda m: _header(m).agreement_ref == as4c.AGREEMENT_V1,
    "wrong-party-id-type": lambda m: _header(m).from_party.party_type == as4c.PARTY_TYPE_AUTH,
    "default-role": lambda m: _header(m).from_party.role.endswith("defaultRole"),
    "wrong-to-party": lambda m: _header(m).to_party.party_id == "taxud",
    "payload-not-gzipped": lambda m: not m.payloads[0].compressed,
    "body-not-signed": lambda m: m.signature is not None and not m.signature.covers_body,
    "leaf-only-token": lambda m: m.signature is not None and len(m.signature.chain) == 1,
}


@pytest.mark.parametrize("name", sorted(WIRE))
def test_a_header_variant_changes_only_its_own_field(trader: TraderIdentity, name: str) -> None:
    check = WIRE[name]
    client, sti = make_client(trader, name)
    client.agreement = as4c.AGREEMENT_V2  # as the driver does for a Release 2 message
    client.send("IE3F32", filing())
    client.ping()
    reference, reference_sti = make_client(trader)
    reference.agreement = as4c.AGREEMENT_V2
    reference.send("IE3F32", filing())
    sent, ping, correct = sti.users()[0], sti.users()[1], reference_sti.users()[0]
    assert check(sent), f"{name} did not change the message"
    assert not check(correct), f"the reference client shows the defect of {name}"
    assert _header(ping).service == as4c.TEST_SERVICE and _header(ping).to_party.party_id == as4c.STI_PARTY_ID
    assert sent.payloads[0].content == correct.payloads[0].content  # the business payload is untouched


def test_a_payload_part_without_mime_type_is_refused_by_the_codec(trader: TraderIdentity) -> None:
    """AS4 §3.1 / ICD §4.2.5: a compressed part must say its MimeType; the codec refuses it (EBMS:0009)."""
    client, sti = make_client(trader, "part-without-mime-type")
    outcome = client.send("IE3F32", filing())
    [(error, body)] = sti.refused
    assert error.code == "EBMS:0009" and "MimeType" in error.detail and not outcome.receipt
    assert b'name="CompressionType"' in body and b'name="MimeType"' not in body
    client.ping()
    assert len(sti.users()) == 1, "the ping keeps its MimeType"
    reference, _ = make_client(trader)
    reference.send("IE3F32", filing())
    assert reference.last_sent is not None and b'name="MimeType"' in reference.last_sent[2]


def test_amendments_go_out_with_the_action_of_the_filing(trader: TraderIdentity) -> None:
    client, sti = make_client(trader, "amendment-action-of-filing")
    data = sample_data("IE3F32", lrn="BELRN2", eori=EORI)
    client.send("IE3A32", build_amendment("IE3F32", data, mrn=MRN))
    client.send("IE3F32", filing())
    assert [_header(m).action for m in sti.users()] == ["IE3F32", "IE3F32"]
    assert etree.QName(etree.fromstring(sti.users()[0].payloads[0].content)).localname == "IE3A32"


def test_payload_variants_rewrite_descriptions_and_commodity_codes(trader: TraderIdentity) -> None:
    client, sti = make_client(trader, "stop-word-descriptions")
    client.send("IE3F32", filing())
    described = sti.users()[0].payloads[0].content
    assert texts(described, "descriptionOfGoods") and set(texts(described, "descriptionOfGoods")) == {"General cargo"}

    client, sti = make_client(trader, "hs-code-unsplit")
    client.send("IE3F32", filing())
    coded = sti.users()[0].payloads[0].content
    original = filing()
    assert texts(coded, "combinedNomenclatureCode") == [] and texts(original, "combinedNomenclatureCode")
    assert all(len(code) == 8 and code.isdigit() for code in texts(coded, "harmonizedSystemSubHeadingCode"))
    assert [c[:6] for c in texts(coded, "harmonizedSystemSubHeadingCode")] == texts(
        original, "harmonizedSystemSubHeadingCode")


def test_reusing_the_lrn_stamps_the_first_lrn_on_later_filings_per_client(trader: TraderIdentity) -> None:
    client, sti = make_client(trader, "reuses-lrn")
    client.send("IE3F32", filing("BELRN1"))
    client.send("IE3F32", filing("BELRN2"))
    assert [texts(m.payloads[0].content, "LRN") for m in sti.users()] == [["BELRN1"], ["BELRN1"]]
    other, other_sti = make_client(trader, "reuses-lrn")  # another trader's client remembers its own
    other.send("IE3F32", filing("BELRN3"))
    assert texts(other_sti.users()[0].payloads[0].content, "LRN") == ["BELRN3"]


def test_resending_after_the_receipt_uses_a_new_message_id(trader: TraderIdentity) -> None:
    client, sti = make_client(trader, "resends-after-receipt")
    outcome = client.send("IE3F32", filing())
    first, second = sti.users()
    assert outcome.receipt and outcome.message_id == first.message_id != second.message_id
    assert first.payloads[0].content == second.payloads[0].content
    client.ping()
    assert len(sti.users()) == 3, "the ping is not repeated"


def test_a_rejected_filing_is_sent_again_unchanged_once(trader: TraderIdentity) -> None:
    client, sti = make_client(trader, "resends-rejected-unchanged")
    outcome = client.send("IE3F43", filing(kind="IE3F43"))
    sti.reply("IE3N99", outcome.message_id)
    client.pull()
    assert sti.kinds() == ["user", "pull", "receipt", "user"]
    again = sti.users()[1]
    assert again.message_id != outcome.message_id and again.payloads[0].content == sti.users()[0].payloads[0].content
    sti.reply("IE3N99", again.message_id)
    client.pull()
    assert sti.kinds()[4:] == ["pull", "receipt"], "the copy is not sent a third time"

    reference, reference_sti = make_client(trader)
    rejected = reference.send("IE3F43", filing(kind="IE3F43"))
    reference_sti.reply("IE3N99", rejected.message_id)
    reference.pull()
    assert reference_sti.kinds() == ["user", "pull", "receipt"]


def test_pull_variants(trader: TraderIdentity) -> None:
    client, sti = make_client(trader, "never-pulls")
    assert client.pull().empty and sti.posted == []

    client, sti = make_client(trader, "pulls-default-mpc")
    client.pull()
    assert sti.posted[0].pull_mpc == as4c.DEFAULT_MPC

    reference, reference_sti = make_client(trader)
    assert reference.pull().empty and reference_sti.posted[0].pull_mpc == as4c.c2t_mpc(EORI)


@pytest.mark.parametrize(("name", "signed", "covers_body"), [
    (None, True, True), ("receipt-without-body", True, False), ("unsigned-receipt", False, False)])
def test_receipts_for_pulled_messages(trader: TraderIdentity, name: str | None, signed: bool,
                                      covers_body: bool) -> None:
    client, sti = make_client(trader, name)
    sti.reply("IE3R01", "filing@trader")
    outcome = client.pull()
    assert outcome.user_message is not None and outcome.receipt_answer is not None
    if not signed:  # the codec (like the MSH) refuses an unsigned signal
        [(error, body)] = sti.refused
        assert error.code == "EBMS:0103" and b"Receipt" in body and b"Security" not in body
        return
    receipt = sti.posted[-1]
    assert receipt.kind == "receipt" and receipt.ref_to_message_id == outcome.user_message.message_id
    assert receipt.signature is not None and receipt.signature.covers_body == covers_body


# -- python -m scenarios.mutants -----------------------------------------------------------------------------
def test_junit_names_map_to_the_scenario_ids_of_the_harness() -> None:
    ids = junit_ids()
    assert sorted(ids.values()) == sorted(s.id for s in discover())
    assert ids["test_a_filing_sealed_with_a_condition_certificate_is_refused[expired-EBMS:0101-expired]"] == (
        "as4_security:a-filing-sealed-with-a-expired-certificate-is-refused")


def test_a_variant_is_caught_only_by_a_failed_must_scenario_it_names(tmp_path: Path) -> None:
    """The JUnit report decides: failure or error counts, a MUST requirement makes it count as caught."""
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite tests="3">'
        '<testcase name="a"><properties><property name="requirement" value="R-MUST"/></properties>'
        '<failure message="x"/></testcase>'
        '<testcase name="b"><properties><property name="requirement" value="R-MAY"/></properties>'
        '<error message="y"/></testcase>'
        '<testcase name="c"/></testsuite></testsuites>')
    run = read_junit(junit, "v", 1, {"a": "f:a", "b": "f:b", "c": "f:c"}, {"R-MUST"})
    assert (run.tests, run.failed, run.failed_must) == (3, ["f:a", "f:b"], ["f:a"])
    named = Variant("v", ClientFaults, ("f:a",))
    assert verdict_line(named, run) == (True, "variant v: caught by f:a; also failed: f:b (expected f:a)")
    caught, line = verdict_line(Variant("w", ClientFaults, ("f:b", "f:c")), run)
    assert not caught and "NOT CAUGHT" in line
    missing = read_junit(tmp_path / "absent.xml", "v", 2, {}, set())
    assert not missing.complete and not verdict_line(named, missing)[0]


def test_mutants_summary_is_the_last_line_and_fails_unless_all_are_caught(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def fake_run(self: Mutants, variant: Variant | None) -> SuiteRun:
        if variant is None:
            return SuiteRun("reference", 0, tests=40)
        return SuiteRun(variant.name, 1, tests=40, failed=["r1_filing_registered:a-valid-ie3f32-is-"
                                                           "registered-and-its-ie3r01-is-pulled-and-acknowledged"],
                        failed_must=["r1_filing_registered:a-valid-ie3f32-is-registered-and-its-ie3r01-is-pulled-"
                                     "and-acknowledged"])

    monkeypatch.setattr(Mutants, "run", fake_run)
    args = ["--keep", str(tmp_path), "--pki-dir", str(tmp_path)]
    assert mutants_main([*args, "--variant", "wrong-service", "--variant", "leaf-only-token"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"variants": 2, "caught": 2,
                                                                    "reference_failures": 0}
    assert mutants_main([*args, "--variant", "reuses-lrn"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "NOT CAUGHT" in out[-2] and json.loads(out[-1])["caught"] == 0
