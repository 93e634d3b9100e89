"""P-Mode checks of an inbound trader-to-customs UserMessage, the PartyId form, MPCs and the catalogue.

ICD §4.2.2 (eb:Messaging header) and Annex 2 (P-Modes), summarised in domain/ics2.md "AS4 profile":
To = sti-taxud (auth namespace, role Customs); From = [systemId@]EORI[@MS] (EORI namespace, role
Trader); AgreementRef typed ics2-interface-version, V1.0 or V2.0; Service eu_ics2_t2c typed
eu-customs-service-type; Action = a t2c message id. A breach is an ebMS error signal: EBMS:0010
(ProcessingModeMismatch), EBMS:0003 (ValueInconsistent) for a malformed PartyId (ebMS3 §6.7.1).
The ebMS test service is always allowed (ebMS3 §5.2.2.9). Pull MPC (ICD §4.3.3):
urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/<PartyId>.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.model import PartyRef, UserMessage
from simulator.ics2 import pmode
from simulator.ics2.catalogue import CatalogueEntry, catalogue, entry
from simulator.ics2.pmode import check_user_message, party_eori, party_of_mpc

EORI = "BE0123456789"
MESSAGE_ID = "0b2c2d8e-0000-4000-8000-000000000001@trader.example"


def _um(**changes: Any) -> UserMessage:
    fields: dict[str, Any] = {
        "message_id": MESSAGE_ID, "timestamp": datetime(2025, 3, 1, tzinfo=UTC),
        "from_party": PartyRef(EORI, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER),
        "to_party": PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
        "agreement_ref": as4c.AGREEMENT_V1, "agreement_type": as4c.AGREEMENT_TYPE,
        "service": as4c.SERVICE_T2C, "service_type": as4c.SERVICE_TYPE, "action": "IE3F32",
        "conversation_id": "c1",
    }
    fields.update(changes)
    return UserMessage(**fields)


def _refused(um: UserMessage) -> EbmsError:
    with pytest.raises(EbmsError) as caught:
        check_user_message(um)
    assert caught.value.ref_to_message_id == MESSAGE_ID  # the signal refers to the refused message
    return caught.value


def test_correct_header_routes_to_the_catalogue_entry() -> None:
    """ICD §4.2.2: a correct IE3F32 header passes; the route names the entry, filer and agreement."""
    route = check_user_message(_um())
    assert route.entry is not None and route.entry.message_id == "IE3F32"
    assert (route.party_id, route.eori, route.agreement) == (EORI, EORI, as4c.AGREEMENT_V1)


@pytest.mark.parametrize("agreement", [as4c.AGREEMENT_V1, as4c.AGREEMENT_V2])
def test_both_interface_versions_are_served(agreement: str) -> None:
    """ICD §4.2.2.4 / domain/ics2.md: EU-ICS2-TI-V1.0 and V2.0 must be served at once."""
    assert check_user_message(_um(agreement_ref=agreement)).agreement == agreement


def test_from_party_with_system_id_and_member_state() -> None:
    """ICD §4.2.2.1: the trader PartyId is [systemId@]EORI[@MS]; the EORI is what is authorised."""
    route = check_user_message(_um(from_party=PartyRef(f"sys-1@{EORI}@DE", as4c.PARTY_TYPE_EORI,
                                                       as4c.ROLE_TRADER)))
    assert route.party_id == f"sys-1@{EORI}@DE"
    assert route.eori == EORI


@pytest.mark.parametrize(("changes", "needle"), [
    ({"to_party": PartyRef("sti-other", as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS)}, "To/PartyId"),
    ({"to_party": PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_EORI, as4c.ROLE_CUSTOMS)}, "To/PartyId"),
    ({"to_party": PartyRef(as4c.STI_PARTY_ID, None, as4c.ROLE_CUSTOMS)}, "To/PartyId"),
    ({"to_party": PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_TRADER)}, "To/Role"),
    ({"from_party": PartyRef(EORI, as4c.PARTY_TYPE_AUTH, as4c.ROLE_TRADER)}, "From/PartyId/@type"),
    ({"from_party": PartyRef(EORI, None, as4c.ROLE_TRADER)}, "From/PartyId/@type"),
    ({"from_party": PartyRef(EORI, as4c.PARTY_TYPE_EORI, as4c.ROLE_CUSTOMS)}, "From/Role"),
], ids=["to-id", "to-type", "to-no-type", "to-role", "from-type", "from-no-type", "from-role"])
def test_party_and_role_mismatch_is_ebms_0010(changes: dict[str, Any], needle: str) -> None:
    """ICD §4.2.2.1 / Annex 2 PMode[1].Initiator/Responder: wrong party type or role -> EBMS:0010."""
    error = _refused(_um(**changes))
    assert error.code == "EBMS:0010"
    assert needle in error.detail


@pytest.mark.parametrize("party_id", ["", "0123456789", "be0123456789", "B", "BE",
                                      "BE0123456789ABCDEFG", "@BE0123456789", "sys 1@BE0123456789",
                                      "BE0123456789@de", "BE0123456789@", "BE-0123456789"])
def test_malformed_from_party_id_is_ebms_0003(party_id: str) -> None:
    """ICD §4.2.2.1 ([systemId@]EORI[@MS]; EORI = 2 letters + up to 15 alphanumerics): a PartyId of
    another form is EBMS:0003 ValueInconsistent (ebMS3 §6.7.1)."""
    error = _refused(_um(from_party=PartyRef(party_id, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER)))
    assert error.code == "EBMS:0003"
    assert "[systemId@]EORI[@MS]" in error.detail


@pytest.mark.parametrize(("changes", "needle"), [
    ({"agreement_ref": "EU-ICS2-TI-V3.0"}, "AgreementRef"),
    ({"agreement_type": None}, "AgreementRef"),
    ({"agreement_type": "other-version"}, "AgreementRef"),
    ({"service": as4c.SERVICE_C2T}, "Service"),
    ({"service_type": None}, "Service"),
    ({"service_type": "other-type"}, "Service"),
    ({"action": "IE3F99"}, "no P-Mode for Action"),
    ({"action": "IE3R01"}, "no P-Mode for Action"),  # a customs-to-trader message sent t2c
    ({"action": "IE3N99"}, "no P-Mode for Action"),
], ids=["agreement-value", "agreement-no-type", "agreement-type", "service-c2t", "service-no-type",
        "service-type", "unknown-action", "c2t-action-r01", "c2t-action-n99"])
def test_agreement_service_action_mismatch_is_ebms_0010(changes: dict[str, Any], needle: str) -> None:
    """ICD §4.2.2.4-6: AgreementRef, Service and Action must match a t2c P-Mode -> else EBMS:0010."""
    error = _refused(_um(**changes))
    assert error.code == "EBMS:0010"
    assert needle in error.detail


def test_action_outside_its_interface_version_is_ebms_0010(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICD §4.2.2.4 (Annex 1 message lists per interface version): a message not part of the
    AgreementRef's version -> EBMS:0010."""
    v2_only = dataclasses.replace(catalogue()["IE3F32"], agreements=(as4c.AGREEMENT_V2,))
    monkeypatch.setattr(pmode, "entry", lambda name: v2_only if name == "IE3F32" else entry(name))
    assert check_user_message(_um(agreement_ref=as4c.AGREEMENT_V2)).entry == v2_only
    error = _refused(_um(agreement_ref=as4c.AGREEMENT_V1))
    assert error.code == "EBMS:0010"
    assert "not part of interface version EU-ICS2-TI-V1.0" in error.detail


def test_planned_action_is_ebms_0010(monkeypatch: pytest.MonkeyPatch) -> None:
    """catalogue.json status: a catalogued but not yet implemented message answers EBMS:0010."""
    planned = CatalogueEntry("IE3F10", "t2c", "filing", "R3", "LRN", "B", "IE3F10",
                             (as4c.AGREEMENT_V2,), "planned")
    monkeypatch.setattr(pmode, "entry", lambda name: planned if name == "IE3F10" else entry(name))
    error = _refused(_um(action="IE3F10", agreement_ref=as4c.AGREEMENT_V2))
    assert error.code == "EBMS:0010"
    assert "not served" in error.detail


@pytest.mark.parametrize("agreement", [as4c.AGREEMENT_V1, "", "anything"])
def test_ping_is_allowed_whatever_the_agreement(agreement: str) -> None:
    """ebMS3 §5.2.2.9 / ICD §4.5.1: the test service/action is always allowed; no catalogue entry."""
    route = check_user_message(_um(service=as4c.TEST_SERVICE, action=as4c.TEST_ACTION, agreement_ref=agreement,
                                   agreement_type=None, service_type=None))
    assert route.entry is None
    assert route.eori == EORI


def test_ping_still_needs_the_right_parties() -> None:
    """ICD §4.2.2.1: parties and roles are checked before the test service is recognised."""
    error = _refused(_um(service=as4c.TEST_SERVICE, action=as4c.TEST_ACTION,
                         from_party=PartyRef("not an eori", as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER)))
    assert error.code == "EBMS:0003"


def test_test_action_on_the_business_service_is_not_a_ping() -> None:
    """ebMS3 §5.2.2.9: only Service=…/service with Action=…/test is the ping."""
    assert _refused(_um(action=as4c.TEST_ACTION)).code == "EBMS:0010"


# -- PartyId and MPC ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("party_id", "eori"), [
    ("BE0123456789", "BE0123456789"),
    ("sys1@BE0123456789", "BE0123456789"),
    ("BE0123456789@DE", "BE0123456789"),
    ("my.system_2-b@NL123456789@NL", "NL123456789"),
    ("BE0123456789@NL1", "NL1"),  # a system id that looks like an EORI
    ("GB1", "GB1"),
    ("DE123456789012345", "DE123456789012345"),  # 2 + 15 characters
    (f"{'s' * 35}@BE1", "BE1"),
])
def test_party_eori_parses_system_eori_member_state(party_id: str, eori: str) -> None:
    """ICD §4.2.2.1: PartyId = [systemId@]EORI[@MS]; EORI = 2 letters + 1..15 alphanumerics."""
    assert party_eori(party_id) == eori


@pytest.mark.parametrize("party_id", ["DE1234567890123456", f"{'s' * 36}@BE1", "BE0123456789@D",
                                      "sys@sys@BE1", "BE0123456789 ", "BE01@"])
def test_party_eori_rejects_other_forms(party_id: str) -> None:
    """ICD §4.2.2.1: anything else is not a trader PartyId."""
    assert party_eori(party_id) is None


def test_c2t_mpc_and_back() -> None:
    """ICD §4.3.3: the pull MPC is urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/<PartyId>."""
    for party_id in (EORI, f"sys1@{EORI}@BE"):
        mpc = pmode.c2t_mpc(party_id)
        assert mpc == "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/" + party_id
        assert party_of_mpc(mpc) == party_id


@pytest.mark.parametrize("mpc", [as4c.DEFAULT_MPC, "urn:fdc:ec.europa.eu:2019:eu_ics2_t2c/EORI/BE0123456789",
                                 "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/",
                                 "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/not-an-eori",
                                 "urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/BE0123456789/extra"])
def test_party_of_mpc_refuses_other_mpcs(mpc: str) -> None:
    """ICD §4.3.3: only the c2t MPC of a well-formed trader PartyId names a party."""
    assert party_of_mpc(mpc) is None


# -- catalogue ---------------------------------------------------------------------------------------
def test_catalogue_is_loaded_once_and_consistent() -> None:
    """domain/ics2.md "Messages" / DESIGN.md "Declarative": the catalogue is data, loaded once; every
    entry has a direction, a priority class A/B/C and only served interface versions."""
    assert catalogue() is catalogue()
    for message_id, item in catalogue().items():
        assert item.message_id == message_id
        assert item.direction in ("t2c", "c2t")
        assert item.priority in ("A", "B", "C")
        assert set(item.agreements) <= set(as4c.AGREEMENTS) and item.agreements
        assert item.correlation in ("LRN", "MRN")


def test_catalogue_r1_messages() -> None:
    """domain/ics2.md "Releases": R1 filings IE3F32/F43/F44 are t2c, IE3R01/IE3N99 are c2t, class B."""
    for message_id in ("IE3F32", "IE3F43", "IE3F44"):
        item = entry(message_id)
        assert item is not None and item.direction == "t2c" and item.implemented and item.kind == "filing"
    for message_id in ("IE3R01", "IE3N99"):
        item = entry(message_id)
        assert item is not None and item.direction == "c2t" and item.priority == "B"
    assert entry("IE3X00") is None
