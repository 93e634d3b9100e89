"""Edge cases of the messages about an ENS and of lifecycle validation at filing, end to end over real TLS
(domain/ics2.md "Messages"; simulator/ics2/filings.py, ens_requests.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree

from scenarios.drivers.reference import ReferenceDriver
from scenarios.drivers.reference_sut import ReferenceSut
from scenarios.filings.ics2 import build_filing, sample_data
from scenarios.filings.ics2_messages import build_rfi_answer
from scenarios.filings.ics2_sets import partial_set
from scenarios.simctl import SimControl
from scenarios.steps.ics2_inbox import Inbox, Received
from tests.integration.conftest import SimHandle


@pytest.fixture
def driver(sim: SimHandle) -> Iterator[ReferenceDriver]:
    reference = ReferenceDriver(sim.local.trader_url, sim.pki)
    yield reference
    reference.close()


def _registered(driver: ReferenceDriver, control: SimControl, inbox: Inbox, trader: str = "trader-a",
                message: str = "IE3F32") -> str:
    _, sent = driver.file(trader, message)
    assert sent.receipt, sent.errors
    inbox.expect(ReferenceSut(driver), trader, "IE3R01")
    return str(control.ics2_ens(message_id=sent.message_id)[0]["mrn"])


def _errors(received: Received) -> list[tuple[str, str]]:
    return list(zip(received.texts("errorCode"), received.texts("errorReason"), strict=True))


def test_filing_for_another_declarant_needs_a_declared_representation(sim: SimHandle, control: SimControl,
                                                                      driver: ReferenceDriver) -> None:
    inbox = Inbox()
    a, b = sim.pki.trader("trader-a").eori, sim.pki.trader("trader-b").eori
    data = sample_data("IE3F32", lrn="REPLRN0001", eori=a)
    data["message_sender"] = b  # trader-b files for the declarant trader-a
    sent = driver.file_payload("trader-b", "IE3F32", build_filing("IE3F32", data))
    assert sent.receipt
    refused = inbox.expect(ReferenceSut(driver), "trader-b", "IE3N01")
    assert any(code == "12" and "not declared as a representative" in reason for code, reason in _errors(refused))
    assert control.ics2_ens(message_id=sent.message_id)[0]["state"] == "rejected"
    control.ics2_add_representation(b, a)
    try:
        data["lrn"] = "REPLRN0002"
        sent = driver.file_payload("trader-b", "IE3F32", build_filing("IE3F32", data))
        assert inbox.expect(ReferenceSut(driver), "trader-b", "IE3R01")
        assert control.ics2_ens(message_id=sent.message_id)[0]["state"] == "registered"
    finally:
        control.ics2_remove_representation(b, a)


def test_a_second_filing_with_the_same_lrn_is_refused_by_ie3n01(sim: SimHandle, control: SimControl,
                                                                driver: ReferenceDriver) -> None:
    inbox = Inbox()
    a = sim.pki.trader("trader-a").eori
    payload = build_filing("IE3F32", sample_data("IE3F32", lrn="DUPLRN0001", eori=a))
    assert driver.file_payload("trader-a", "IE3F32", payload).receipt
    inbox.expect(ReferenceSut(driver), "trader-a", "IE3R01")
    second = driver.file_payload("trader-a", "IE3F32", payload)  # new MessageId, same LRN
    refused = inbox.expect(ReferenceSut(driver), "trader-a", "IE3N01")
    assert any("non-unique LRN" in reason for _, reason in _errors(refused))
    assert control.ics2_ens(message_id=second.message_id)[0]["mrn"] is None


def test_arrival_of_an_unknown_ens_and_of_none(sim: SimHandle, control: SimControl, driver: ReferenceDriver) -> None:
    inbox = Inbox()
    mrn = _registered(driver, control, inbox, message="IE3F20")
    _, sent = driver.arrive("trader-a", [mrn, "26BE00000000000999"])
    assert sent.receipt
    assert mrn in inbox.expect(ReferenceSut(driver), "trader-a", "IE3R04").texts("MRN")
    n07 = inbox.expect(ReferenceSut(driver), "trader-a", "IE3N07")
    assert n07.texts("MRN") == ["26BE00000000000999"]
    _, empty = driver.arrive("trader-a", [])
    assert empty.receipt
    n99 = inbox.expect(ReferenceSut(driver), "trader-a", "IE3N99")
    assert n99.texts("errorCode") == ["13"]


def test_an_answer_naming_another_referral_is_refused_and_the_request_stays_open(
        sim: SimHandle, control: SimControl, driver: ReferenceDriver) -> None:
    inbox = Inbox()
    control.ics2_force_outcomes([{"outcome": "rfi", "delay_seconds": 0, "details": {"response_method": "1"}}],
                                lrn=driver.upcoming_lrn("trader-a"))
    mrn = _registered(driver, control, inbox)
    control.advance_clock(1)
    referral = inbox.expect(ReferenceSut(driver), "trader-a", "IE3Q02").texts("referralRequestReference")[0]
    assert driver.answer_rfi("trader-a", mrn, "SOMETHING-ELSE", "an answer").receipt
    refused = inbox.expect(ReferenceSut(driver), "trader-a", "IE3N01")
    assert any(code == "92" and referral in reason for code, reason in _errors(refused))
    history = control.ics2_history(mrn)
    assert history["state"] == "information_requested" and history["referrals"][0]["answered_at"] is None


def test_an_answer_with_an_attachment_that_is_neither_pdf_nor_jpeg_is_refused(
        sim: SimHandle, control: SimControl, driver: ReferenceDriver) -> None:
    mrn = _registered(driver, control, Inbox())
    a = sim.pki.trader("trader-a").eori
    payload = build_rfi_answer(a, mrn, "R1", [{"text": "see attachment", "attachments": [("x@t", "application/pdf")]}])
    # the payload announces a pdf, the MIME part is text/plain
    sent = driver.file_payload("trader-a", "IE3R02", payload, attachments=[("x@t", b"hello", "text/plain")])
    assert not sent.receipt and [e.code for e in sent.errors] == ["EBMS:0010"]


def test_consultation_of_another_traders_ens_returns_nothing(sim: SimHandle, control: SimControl,
                                                             driver: ReferenceDriver) -> None:
    inbox = Inbox()
    mrn = _registered(driver, control, inbox, message="IE3F20")
    assert driver.consult("trader-b", mrn=mrn).receipt
    assert inbox.expect(ReferenceSut(driver), "trader-b", "IE3R08").texts_under("ensFiling", "MRN") == []
    assert driver.consult("trader-a", mrn=mrn).receipt
    own = inbox.expect(ReferenceSut(driver), "trader-a", "IE3R08")
    assert own.texts_under("ensFiling", "MRN") == [mrn]
    # notifications of the last 30 days about it: the IE3R01 at least
    assert "IE3R01" in own.texts_under("notification", "messageType")


def test_a_v2_message_under_interface_version_1_is_refused(sim: SimHandle, driver: ReferenceDriver) -> None:
    a = sim.pki.trader("trader-a").eori
    sent = driver.client("trader-a").send("IE3F20", build_filing("IE3F20", sample_data("IE3F20", lrn="V1LRN", eori=a)))
    assert [e.code for e in sent.errors] == ["EBMS:0010"]
    assert "EU-ICS2-TI-V1.0" in (sent.errors[0].detail or "")


def test_a_control_event_sends_what_the_step_declares(sim: SimHandle, control: SimControl,
                                                      driver: ReferenceDriver) -> None:
    inbox = Inbox()
    mrn = _registered(driver, control, inbox)
    control.ics2_fire(mrn, "notify_control", kind="aeo", details={"control": "documentary check"})
    n09 = inbox.expect(ReferenceSut(driver), "trader-a", "IE3N09")
    assert mrn in n09.texts("MRN")
    root: etree._Element = n09.payload
    assert etree.QName(root).localname == "IE3N09"


def test_with_a_running_clock_a_due_outcome_is_sent_without_any_request(sim: SimHandle, control: SimControl,
                                                                        driver: ReferenceDriver) -> None:
    """The control server's ticker fires lifecycle timers as the running clock reaches them (here a risk
    outcome due one second after registration): nobody advances the clock or sends anything."""
    control.ics2_force_outcomes([{"outcome": "dnl", "delay_seconds": 1}], lrn=driver.upcoming_lrn("trader-a"))
    mrn = _registered(driver, control, Inbox())
    control.wait_for(lambda: any(m["action"] == "IE3Q01" for m in control.outbox()), timeout=15,
                     what="the IE3Q01 fired by the ticker")
    assert control.ics2_history(mrn)["state"] == "do_not_load"


def test_a_house_filing_for_a_complete_ens_is_refused_not_crashed(sim: SimHandle, control: SimControl,
                                                                   driver: ReferenceDriver) -> None:
    """A partial filing links only into an ENS that awaits partials: a house filing whose master document
    belongs to a complete filing starts its own ENS; one for a partial ENS already complete and under risk
    analysis is out of sequence (IE3N01 code 92) — never an internal error."""
    inbox = Inbox()
    a, b = sim.pki.trader("trader-a").eori, sim.pki.trader("trader-b").eori
    complete = sample_data("IE3F30", lrn="CPLLRN0001", eori=a, master_document="MAWB-SHARED-1")
    assert driver.file_payload("trader-a", "IE3F30", build_filing("IE3F30", complete)).receipt
    inbox.expect(ReferenceSut(driver), "trader-a", "IE3R01")
    house = sample_data("IE3F31", lrn="HSELRN0001", eori=a, master_document="MAWB-SHARED-1")
    sent = driver.file_payload("trader-a", "IE3F31", build_filing("IE3F31", house))
    assert sent.receipt, sent.errors
    assert control.ics2_ens(message_id=sent.message_id)[0]["lifecycle_state"] == "awaiting_partials"

    members = partial_set("sea-master-house", lrn_prefix="OOS", eori=a, master_document="MBL-OOS-1", houses=1,
                          house_filer=b)
    for trader, (message, data) in zip(("trader-a", "trader-b"), members, strict=True):
        assert driver.file_data(trader, message, data)[1].receipt
    inbox.expect(ReferenceSut(driver), "trader-b", "IE3R01")
    [(message, late)] = partial_set("sea-master-house", lrn_prefix="OOS2", eori=a, master_document="MBL-OOS-1",
                                    houses=1, house_filer=b)[1:]
    late["houses"][0]["transport_document"]["number"] = "MBL-OOS-1-H9"  # a house the master did not name
    late_sent = driver.file_payload("trader-b", message, build_filing(message, late))
    refused = inbox.expect(ReferenceSut(driver), "trader-b", "IE3N01")
    assert any(code == "92" and "no further partial filing" in reason for code, reason in _errors(refused))
    assert control.ics2_ens(message_id=late_sent.message_id)[0]["state"] == "rejected"
