"""The deliberate defects of the reference client: each field breaks one thing the way real packages do
(scenarios/client/variants.py names the combinations); the defaults are the correct behaviour."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

# (AS4 Action, business payload) -> the payload the package really sends (a faulty mapping of its data)
PayloadRewrite = Callable[[str, bytes], bytes]


@dataclass(frozen=True)
class ClientFaults:
    """Deliberate defects, one per field (used by scenarios to prove the simulator catches them).

    A field left at its default (False / None) keeps the correct behaviour; header overrides apply to
    business messages only, never to the ebMS ping.
    """

    leaf_only_token: bool = False  # BinarySecurityToken with the leaf only (ICD §4.3 wants the path)
    tamper_payload_after_signing: bool = False  # payload changed after the signature was made
    receipt_without_body: bool = False  # receipts for pulled messages do not sign the SOAP Body
    unsigned_receipt: bool = False  # receipts for pulled messages carry no signature at all
    body_not_signed: bool = False  # the message signature leaves out the SOAP Body (ICD §4.3)
    service: str | None = None  # Service instead of eu_ics2_t2c (ICD §4.2.2.5)
    agreement: str | None = None  # AgreementRef on every message, whatever its version (ICD §4.2.2.4)
    amendment_action_of_filing: bool = False  # IE3Axx sent with the Action IE3Fxx (Action = payload root)
    from_party_type: str | None = None  # From/PartyId/@type instead of the EORI type (ICD §4.2.2.1)
    from_role: str | None = None  # From/Role instead of Trader
    to_party_id: str | None = None  # To/PartyId instead of sti-taxud
    uncompressed_payload: bool = False  # the business payload is not gzip-compressed (ICD §4.2.5)
    part_without_mime_type: bool = False  # PartProperties of the payload lack MimeType (ICD §4.2.5)
    rewrite_payload: PayloadRewrite | None = None  # the package's own (faulty) rendering of the payload
    resend_with_new_message_id: bool = False  # after a receipt, the message again under a new MessageId
    resend_rejected_unchanged: bool = False  # after an IE3N99, the rejected message again, unchanged
    pull_mpc: str | None = None  # MPC pulled instead of the trader's own (ICD §4.3.3)
    never_pull: bool = False  # "pulling" asks nobody and reports an empty MPC
    ignore_actions: tuple[str, ...] = ()  # customs messages acknowledged, then dropped: never surfaced
    answer_rfi_by_r02_only: bool = False  # every information request answered by IE3R02, whatever it asks
    ignore_do_not_load: bool = False  # keeps acting on an ENS that is under a Do Not Load
    surface_duplicates: bool = False  # a message delivered again (same MessageId) is processed again
    no_retry: bool = False  # a message whose receipt was lost (HTTP 5xx, no signal) is not sent again

    def merged(self, other: ClientFaults) -> ClientFaults:
        """These defects and `other`'s together; where both set a field, `other` wins."""
        changes = {f.name: getattr(other, f.name) for f in dataclasses.fields(other)
                   if getattr(other, f.name) not in (None, False)}
        return dataclasses.replace(self, **changes)
