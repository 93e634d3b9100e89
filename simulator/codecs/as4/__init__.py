"""ebMS3 / AS4 with WS-Security 1.1.1 as profiled by the ICS2 Harmonised Trader Interface.

Entry points (see docs/internal-contracts.md):

- :func:`simulator.codecs.as4.message.unpack` - read a received message (MIME, header, decryption,
  signature, decompression), raising :class:`simulator.codecs.as4.errors.EbmsError`;
- :func:`simulator.codecs.as4.message.pack_user_message` / ``pack_signal`` - build messages;
- :mod:`simulator.codecs.as4.receipts` - NRR receipts, error signals, pull requests, receipt checks.

Trust decisions (is the certificate chain trusted, is it registered for the sender's EORI) are
not made here: the verified chain is returned for the caller to judge.
"""

from __future__ import annotations

from simulator.codecs.as4.errors import EBMS_ERRORS, EbmsError
from simulator.codecs.as4.message import UnpackLimits, pack_signal, pack_user_message, sent_references, unpack
from simulator.codecs.as4.model import (
    ErrorEntry,
    ErrorSignal,
    InboundMessage,
    NrReference,
    PartInfo,
    PartyRef,
    PayloadPart,
    PullRequest,
    Receipt,
    SignatureInfo,
    UserMessage,
)
from simulator.codecs.as4.receipts import (
    build_error_signal,
    build_pull_request,
    build_receipt,
    check_receipt_matches,
)

__all__ = [
    "EBMS_ERRORS",
    "EbmsError",
    "ErrorEntry",
    "ErrorSignal",
    "InboundMessage",
    "NrReference",
    "PartInfo",
    "PartyRef",
    "PayloadPart",
    "PullRequest",
    "Receipt",
    "SignatureInfo",
    "UnpackLimits",
    "UserMessage",
    "build_error_signal",
    "build_pull_request",
    "build_receipt",
    "check_receipt_matches",
    "pack_signal",
    "pack_user_message",
    "sent_references",
    "unpack",
]
