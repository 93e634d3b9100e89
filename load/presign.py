"""Distinct, pre-signed R1 filings for load tests and the benchmark.

Signing is the client's cost, not the server's, so filings are signed before a measured run, in a
process pool (RSA-2048 signing takes about a millisecond). Each filing has its own LRN and MessageId.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from scenarios.client.ics2 import TraderIdentity
from scenarios.filings.ics2 import FilingMessageId, build_filing, sample_data
from scenarios.pki import PkiFiles, TraderFiles
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.message import pack_user_message, sent_references
from simulator.codecs.as4.model import PartyRef, UserMessage


@dataclass(frozen=True)
class SignedFiling:
    trader: str
    message_id: str
    lrn: str
    content_type: str
    body: bytes
    references: tuple[bytes, ...]  # our ds:References, to check the receipt afterwards


_IDENTITY: dict[tuple[str, str], TraderIdentity] = {}


def _identity(files: TraderFiles) -> TraderIdentity:
    key = (str(files.sealing_key), files.name)  # per PKI directory: several PKIs may share names
    if key not in _IDENTITY:
        _IDENTITY[key] = TraderIdentity.from_files(
            files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain,
            tls_cert=files.tls_cert, tls_key=files.tls_key)
    return _IDENTITY[key]


def sign_one(files: TraderFiles, message_type: FilingMessageId, run: str, index: int) -> SignedFiling:
    identity = _identity(files)
    lrn = f"{run[:6]}{index:012d}"[:22]
    payload = build_filing(message_type, sample_data(message_type, lrn=lrn, eori=files.eori))
    message_id = f"{uuid.uuid5(uuid.NAMESPACE_OID, f'{run}:{files.name}:{index}')}@load.icssim"
    um = UserMessage(
        message_id=message_id, timestamp=datetime.now(UTC),
        from_party=PartyRef(files.eori, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER),
        to_party=PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
        agreement_ref=as4c.AGREEMENT_V1, agreement_type=as4c.AGREEMENT_TYPE,
        service=as4c.SERVICE_T2C, service_type=as4c.SERVICE_TYPE, action=message_type,
        conversation_id=message_id,
    )
    content_type, body = pack_user_message(
        um, [(f"payload-{index}@load.icssim", payload, "application/xml")],
        key=identity.sealing_key, chain=list(identity.sealing_chain))
    return SignedFiling(files.name, message_id, lrn, content_type, body, sent_references(content_type, body))


def _sign_range(pki_dir: str, traders: tuple[str, ...], message_type: FilingMessageId, run: str,
                indices: range) -> list[SignedFiling]:
    from pathlib import Path

    pki = PkiFiles.load(Path(pki_dir))
    return [sign_one(pki.trader(traders[i % len(traders)]), message_type, run, i) for i in indices]


def presign(pki: PkiFiles, traders: tuple[str, ...], count: int, *, message_type: FilingMessageId = "IE3F32",
            run: str | None = None, processes: int | None = None) -> list[SignedFiling]:
    """`count` distinct signed filings, spread round-robin over `traders`."""
    run = run or uuid.uuid4().hex[:6].upper()
    processes = processes or os.cpu_count() or 1
    step = max(1, count // (processes * 4))
    chunks = [range(start, min(start + step, count)) for start in range(0, count, step)]
    work = partial(_sign_range, str(pki.directory), traders, message_type, run)
    if processes == 1 or count < 200:
        return [f for chunk in chunks for f in work(chunk)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return [f for part in pool.map(work, chunks) for f in part]
