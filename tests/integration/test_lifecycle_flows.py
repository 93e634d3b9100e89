"""Amendment and invalidation edge cases through the real server (the happy paths are scenarios)."""

from __future__ import annotations

import pytest
from lxml import etree

from scenarios.filings.ics2 import build_amendment, build_invalidation, sample_data
from scenarios.simctl import ControlError, SimControl
from tests.integration.conftest import SimHandle, describe, filing_payload

pytestmark = pytest.mark.slow


def _registered(sim: SimHandle, control: SimControl, trader: str = "trader-a") -> str:
    eori = sim.pki.trader(trader).eori
    sent = sim.client(trader).send("IE3F32", filing_payload(eori))
    assert sent.receipt, describe(sent.http)
    [ens] = control.ics2_ens(message_id=sent.message_id)
    return str(ens["mrn"])


def _reply(sim: SimHandle, trader: str, action: str) -> etree._Element:
    """Pull until the reply to the last message arrives (the IE3R01 of the filing comes first)."""
    for message in sim.client(trader).pull_all():
        assert message.user_message is not None
        if message.user_message.action == action:
            return etree.fromstring(message.payloads[0].content)
    raise AssertionError(f"no {action} was waiting for {trader}")


def _errors(payload: etree._Element) -> list[tuple[str, str]]:
    codes = [e.text or "" for e in payload.iter("errorCode")]
    pointers = [e.text or "" for e in payload.iter("errorPointer")]
    return list(zip(codes, pointers, strict=True))


def test_amendment_of_an_unknown_mrn_is_rejected_by_ie3n99(sim: SimHandle, control: SimControl) -> None:
    """domain/ics2.md "Messages": an amendment refers to the MRN of an ENS; an MRN no ENS has is an
    incorrect value (CL723 12) answered by IE3N99 correlated by MRN, pointing at the MRN."""
    eori = sim.pki.trader("trader-a").eori
    payload = build_amendment("IE3F32", sample_data("IE3F32", lrn="LFUNKNOWN01", eori=eori), mrn="26BE000000000000T7")
    sent = sim.client("trader-a").send("IE3A32", payload)
    assert sent.receipt, describe(sent.http)
    n99 = _reply(sim, "trader-a", "IE3N99")
    assert _errors(n99) == [("12", "/IE3A32/MRN")]


def test_amendment_by_another_party_is_refused_by_ie3n01(sim: SimHandle, control: SimControl) -> None:
    """domain/ics2.md "Messages": IE3N01 when the amender is not the declarant or its representative
    (code 12, data/lifecycle.json refusal not-declarant-or-representative); the ENS is unchanged."""
    mrn = _registered(sim, control, "trader-a")
    other = sim.pki.trader("trader-b").eori
    payload = build_amendment("IE3F32", sample_data("IE3F32", lrn="LFOTHER0001", eori=other), mrn=mrn)
    sent = sim.client("trader-b").send("IE3A32", payload)
    assert sent.receipt, describe(sent.http)
    n01 = _reply(sim, "trader-b", "IE3N01")
    assert _errors(n01) == [("12", "/IE3A32/MRN")]
    assert control.ics2_ens(mrn=mrn)[0]["lifecycle_state"] == "registered"


def test_amendment_of_another_filing_type_is_rejected(sim: SimHandle, control: SimControl) -> None:
    """An IE3A43 (postal) cannot amend an ENS filed as IE3F32 (express): IE3N99 code 12 at the MRN."""
    mrn = _registered(sim, control)
    eori = sim.pki.trader("trader-a").eori
    payload = build_amendment("IE3F43", sample_data("IE3F43", lrn="LFWRONG0001", eori=eori), mrn=mrn)
    sent = sim.client("trader-a").send("IE3A43", payload)
    assert sent.receipt, describe(sent.http)
    assert _errors(_reply(sim, "trader-a", "IE3N99")) == [("12", "/IE3A43/MRN")]


def test_invalidated_ens_cannot_be_amended_or_invalidated_again(sim: SimHandle, control: SimControl) -> None:
    """ENS lifecycle: invalidated is terminal; a later amendment or invalidation is out of sequence
    (IE3N01 code 92)."""
    mrn = _registered(sim, control)
    eori = sim.pki.trader("trader-a").eori
    client = sim.client("trader-a")
    assert client.send("IE3Q04", build_invalidation(mrn=mrn, sender=eori, declarant=eori)).receipt
    _reply(sim, "trader-a", "IE3R07")
    assert client.send("IE3Q04", build_invalidation(mrn=mrn, sender=eori, declarant=eori)).receipt
    assert _errors(_reply(sim, "trader-a", "IE3N01")) == [("92", "/IE3Q04/MRN")]
    assert control.ics2_ens(mrn=mrn)[0]["lifecycle_state"] == "invalidated"


def test_control_event_not_allowed_in_the_state_is_a_409(sim: SimHandle, control: SimControl) -> None:
    """The control API's lifecycle events obey the same machine: presenting goods that have not
    arrived is refused (409, with the rule), an unknown MRN is a 404, and the state is unchanged."""
    mrn = _registered(sim, control)
    with pytest.raises(ControlError) as refused:
        control.ics2_fire(mrn, "present")
    assert refused.value.status == 409
    with pytest.raises(ControlError) as unknown:
        control.ics2_fire("26BE000000000000T7", "present")
    assert unknown.value.status == 404
    assert control.ics2_fire(mrn, "arrive")["state"] == "arrived"
    assert control.ics2_ens(mrn=mrn)[0]["lifecycle_state"] == "arrived"
