"""P-Mode checks of the ICS2 Harmonised Trader Interface on an inbound UserMessage header.

Each check names its rule (ICD §4.2 "eb:Messaging" and domain/ics2.md "AS4 profile"); a breach is an
ebMS error signal, never a business message (business errors are IE3N99/IE3N01 user messages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.model import UserMessage
from simulator.ics2.catalogue import CatalogueEntry, entry

# Trader PartyId = [systemId@]EORI[@MS] (ICD §4.2.2.1); EORI = 2-letter country + up to 15 alnum.
_EORI = r"[A-Z]{2}[0-9A-Z]{1,15}"
PARTY_ID = re.compile(rf"^(?:(?P<system>[0-9A-Za-z._-]{{1,35}})@)?(?P<eori>{_EORI})(?:@(?P<ms>[A-Z]{{2}}))?$")


@dataclass(frozen=True)
class Route:
    """What a checked header says: the catalogue entry (None for the ebMS ping) and the filer."""

    entry: CatalogueEntry | None
    party_id: str
    eori: str
    agreement: str


def party_eori(party_id: str) -> str | None:
    match = PARTY_ID.match(party_id)
    return match.group("eori") if match else None


def c2t_mpc(party_id: str) -> str:
    """The trader's pull MPC (ICD §4.3.3): urn:fdc:ec.europa.eu:2019:eu_ics2_c2t/EORI/<PartyId>."""
    return as4c.C2T_MPC_PREFIX + party_id


def party_of_mpc(mpc: str) -> str | None:
    if not mpc.startswith(as4c.C2T_MPC_PREFIX):
        return None
    party_id = mpc[len(as4c.C2T_MPC_PREFIX):]
    return party_id if PARTY_ID.match(party_id) else None


def _fail(code: str, detail: str, um: UserMessage) -> EbmsError:
    return EbmsError(code, detail, ref_to_message_id=um.message_id)


def check_user_message(um: UserMessage) -> Route:
    """Validate the header of a trader-to-customs UserMessage against the HTI P-Modes."""
    sender, receiver = um.from_party, um.to_party
    # ICD §4.2.2.1: To = sti-taxud in the customs authority namespace, role Customs.
    if receiver.party_type != as4c.PARTY_TYPE_AUTH or receiver.party_id != as4c.STI_PARTY_ID:
        raise _fail("EBMS:0010", f"To/PartyId must be {as4c.STI_PARTY_ID!r} of type "
                    f"{as4c.PARTY_TYPE_AUTH!r}, got {receiver.party_id!r} of type "
                    f"{receiver.party_type!r}", um)
    if receiver.role != as4c.ROLE_CUSTOMS:
        raise _fail("EBMS:0010", f"To/Role must be {as4c.ROLE_CUSTOMS!r}, got {receiver.role!r}", um)
    # ICD §4.2.2.1: From = the trader's [systemId@]EORI[@MS] in the EORI namespace, role Trader.
    if sender.party_type != as4c.PARTY_TYPE_EORI:
        raise _fail("EBMS:0010", f"From/PartyId/@type must be {as4c.PARTY_TYPE_EORI!r}, "
                    f"got {sender.party_type!r}", um)
    if sender.role != as4c.ROLE_TRADER:
        raise _fail("EBMS:0010", f"From/Role must be {as4c.ROLE_TRADER!r}, got {sender.role!r}", um)
    eori = party_eori(sender.party_id)
    if eori is None:
        raise _fail("EBMS:0003", f"From/PartyId {sender.party_id!r} is not [systemId@]EORI[@MS]", um)
    # ebMS3 §5.2.2.9 / AS4: the test service is always allowed (ping), whatever the agreement.
    if um.service == as4c.TEST_SERVICE and um.action == as4c.TEST_ACTION:
        return Route(None, sender.party_id, eori, um.agreement_ref or "")
    # ICD §4.2.2.4: AgreementRef typed ics2-interface-version, V1.0 or V2.0 (both served at once).
    if um.agreement_type != as4c.AGREEMENT_TYPE or um.agreement_ref not in as4c.AGREEMENTS:
        raise _fail("EBMS:0010", f"AgreementRef must be one of {sorted(as4c.AGREEMENTS)} with type "
                    f"{as4c.AGREEMENT_TYPE!r}, got {um.agreement_ref!r} (type {um.agreement_type!r})",
                    um)
    # ICD §4.2.2.5: Service eu_ics2_t2c typed eu-customs-service-type for trader-to-customs.
    if um.service != as4c.SERVICE_T2C or um.service_type != as4c.SERVICE_TYPE:
        raise _fail("EBMS:0010", f"Service must be {as4c.SERVICE_T2C!r} of type "
                    f"{as4c.SERVICE_TYPE!r}, got {um.service!r} (type {um.service_type!r})", um)
    # ICD §4.2.2.6: Action = the message identifier; it must be a trader-to-customs message we serve.
    found = entry(um.action)
    if found is None or found.direction != "t2c":
        raise _fail("EBMS:0010", f"no P-Mode for Action {um.action!r} on service {um.service!r}", um)
    if not found.implemented:
        raise _fail("EBMS:0010", f"Action {um.action!r} is not served by this simulator yet", um)
    if um.agreement_ref not in found.agreements:
        raise _fail("EBMS:0010", f"{um.action} is not part of interface version {um.agreement_ref}", um)
    return Route(found, sender.party_id, eori, um.agreement_ref)
