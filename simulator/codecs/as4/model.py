"""Immutable values of the AS4 codec: what goes into a message and what comes out of one.

Field names follow the ebMS3 header (ebMS3 Core §5.2, ICD §4.2-4.3). Timestamps are timezone-aware
UTC datetimes (ICD §4.2.1: "It MUST be expressed as UTC"); ids are always supplied by the caller so
that the same inputs give byte-identical messages (DESIGN.md "Deterministic").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography import x509

from simulator.codecs.as4.constants import (
    PROPERTY_COMPRESSION_TYPE,
    PROPERTY_MIME_TYPE,
)

__all__ = [
    "ErrorEntry",
    "ErrorSignal",
    "InboundMessage",
    "MessageKind",
    "NrReference",
    "PartInfo",
    "PartyRef",
    "PayloadPart",
    "PullRequest",
    "Receipt",
    "SignatureInfo",
    "UserMessage",
]

MessageKind = Literal["user", "pull", "receipt", "error"]


@dataclass(frozen=True, slots=True)
class PartyRef:
    """eb:From or eb:To: one PartyId (with @type) and the Role (ICD §4.2.2)."""

    party_id: str
    party_type: str | None
    role: str


@dataclass(frozen=True, slots=True)
class PartInfo:
    """eb:PayloadInfo/eb:PartInfo: the referenced Content-ID and its PartProperties (ICD §4.2.5)."""

    content_id: str
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def mime_type(self) -> str | None:
        return self.properties.get(PROPERTY_MIME_TYPE)

    @property
    def compression_type(self) -> str | None:
        return self.properties.get(PROPERTY_COMPRESSION_TYPE)


@dataclass(frozen=True, slots=True)
class UserMessage:
    """eb:UserMessage header (ebMS3 §5.2.2). ``part_infos`` empty = derive them from the payloads."""

    message_id: str
    timestamp: datetime
    from_party: PartyRef
    to_party: PartyRef
    agreement_ref: str
    agreement_type: str | None
    service: str
    service_type: str | None
    action: str
    conversation_id: str
    ref_to_message_id: str | None = None
    mpc: str | None = None
    part_infos: tuple[PartInfo, ...] = ()
    message_properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PayloadPart:
    """A received payload, decompressed when it was sent with CompressionType (AS4 §3.1)."""

    content_id: str
    content: bytes
    mime_type: str | None
    compressed: bool
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """Outcome of a *cryptographically* valid WSS signature; trust is judged by the caller.

    ``chain`` is leaf first (the signing certificate is ``chain[0]``); ``references`` are the
    ds:Reference elements serialised with exclusive C14N, ready to be copied into an NRR receipt
    (AS4 §5.1.8, ebbp:MessagePartNRInformation).
    """

    chain: tuple[x509.Certificate, ...]
    referenced_uris: tuple[str, ...]
    covers_messaging: bool
    covers_body: bool
    covers_attachments: bool
    references: tuple[bytes, ...]
    digest_algorithms: tuple[str, ...]
    signature_algorithm: str
    token_type: str
    covered_cids: frozenset[str] = frozenset()

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


@dataclass(frozen=True, slots=True)
class NrReference:
    """One acknowledged ds:Reference in a receipt's NonRepudiationInformation."""

    uri: str
    digest_algorithm: str
    digest_value: bytes


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """One eb:Error of an error signal (ebMS3 §6.2, ICD §4.3.2)."""

    code: str
    severity: str
    short_description: str | None = None
    category: str | None = None
    origin: str | None = None
    ref_to_message_in_error: str | None = None
    description: str | None = None
    detail: str | None = None
    sub_code: str | None = None


@dataclass(frozen=True, slots=True)
class PullRequest:
    """eb:SignalMessage/eb:PullRequest to be built (ICD §4.3.3)."""

    message_id: str
    timestamp: datetime
    mpc: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """eb:SignalMessage/eb:Receipt to be built; ``references`` are serialised ds:Reference elements."""

    message_id: str
    timestamp: datetime
    ref_to_message_id: str
    references: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ErrorSignal:
    """eb:SignalMessage with one or more eb:Error to be built (ICD §4.3.2)."""

    message_id: str
    timestamp: datetime
    ref_to_message_id: str | None
    errors: tuple[ErrorEntry, ...]


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A received AS4 message after MIME, header, decryption, signature and decompression checks."""

    kind: MessageKind
    message_id: str
    timestamp: datetime
    ref_to_message_id: str | None
    user_message: UserMessage | None = None
    pull_mpc: str | None = None
    payloads: tuple[PayloadPart, ...] = ()
    errors: tuple[ErrorEntry, ...] = ()
    receipt_references: tuple[NrReference, ...] = ()
    signature: SignatureInfo | None = None
    envelope_bytes: bytes = b""

    def payload(self, content_id: str) -> PayloadPart:
        """The payload with this Content-ID (KeyError if absent)."""
        for part in self.payloads:
            if part.content_id == content_id:
                return part
        raise KeyError(content_id)
