"""Distinct, pre-signed ICS2 filings for load tests and the benchmark (every release).

Signing is the client's cost, not the server's, so filings are signed before a measured run, in a
process pool (RSA-2048 signing takes about a millisecond). Each filing has its own LRN and MessageId and,
from Release 2 on, its own master transport document: real consolidations each have their own master
air waybill or bill of lading, and a shared number would link unrelated filings into one ENS
(domain/ics2.md, "ENS lifecycle": partial filings link by the master transport document).

A unit is what one "send" files: one filing, or a partial set (master level first, then one filing per
house; scenarios/filings/ics2_sets.py ``partial_set``). Release 1 filings go under AgreementRef
EU-ICS2-TI-V1.0 and every other filing under EU-ICS2-TI-V2.0, unless the profile says otherwise.
Complete filings of a profile with a ``payload`` range are built at its target sizes: the number of
houses and goods items comes from ``sized_filing`` (once per type and size), then each filing is built
with its own LRN and master document.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from load.shapes import SET_KINDS, PayloadSpec, ReleaseProfile, members_of
from scenarios.client.ics2 import TraderIdentity
from scenarios.filings.ics2 import MESSAGE_IDS, FilingMessageId, build_filing, sample_data
from scenarios.filings.ics2_bodies import family_of
from scenarios.filings.ics2_samples import sample
from scenarios.filings.ics2_sets import SIZED_FAMILIES, partial_set, sized_filing
from scenarios.pki import PkiFiles, TraderFiles
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.message import pack_user_message, sent_references
from simulator.codecs.as4.model import PartyRef, UserMessage

STRAIGHT_FAMILIES = frozenset({"straight"})  # goods at master level: sized by their number


@dataclass(frozen=True)
class SignedFiling:
    trader: str
    message_id: str
    lrn: str
    content_type: str
    body: bytes
    references: tuple[bytes, ...]  # our ds:References, to check the receipt afterwards
    action: str = "IE3F32"  # the filing type (AS4 Action)
    payload_bytes: int = 0  # size of the XML filing before compression


Unit = tuple[SignedFiling, ...]


def agreement_for(message_type: str) -> str:
    """The AgreementRef a filing travels under by default: V1.0 for Release 1, V2.0 for the others."""
    return as4c.AGREEMENT_V1 if message_type in MESSAGE_IDS else as4c.AGREEMENT_V2


@dataclass(frozen=True)
class FilingSpec:
    """How to build one unit of a mix: its kind (filing type or partial set), AgreementRef and sizes."""

    kind: str
    agreement: str
    payload: PayloadSpec | None = None

    @classmethod
    def of(cls, kind: str, profile: ReleaseProfile | None = None) -> FilingSpec:
        if profile is None:
            return cls(kind, agreement_for(members_of(kind)[0]))
        return cls(kind, profile.agreement, profile.payload)


_IDENTITY: dict[tuple[str, str], TraderIdentity] = {}


def trader_identity(files: TraderFiles) -> TraderIdentity:
    """The trader's keys and certificates, loaded once per process."""
    key = (str(files.sealing_key), files.name)  # per PKI directory: several PKIs may share names
    if key not in _IDENTITY:
        _IDENTITY[key] = TraderIdentity.from_files(
            files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain,
            tls_cert=files.tls_cert, tls_key=files.tls_key)
    return _IDENTITY[key]


# -- payloads -------------------------------------------------------------------------------------------
@functools.cache
def sized_goods_counts(message_type: str, target_bytes: int) -> tuple[int, ...]:
    """Goods items per house of a ``target_bytes`` filing, as ``sized_filing`` chose them."""
    payload = sized_filing(message_type, lrn="CALIBRATE000000000001", eori="BE0123456789",  # type: ignore[arg-type]
                           target_bytes=target_bytes)
    root = etree.fromstring(payload)
    return tuple(sum(1 for _ in house.iter("goodsItem")) for house in root.iter("consignmentHouseLevel"))


@functools.cache
def straight_goods(message_type: str, target_bytes: int) -> int:
    """Goods items that bring a straight-bill filing (no houses) to about ``target_bytes``."""
    def size(goods: int) -> int:
        data = sample_data(message_type, lrn="CALIBRATE000000000001", eori="BE0123456789",  # type: ignore[arg-type]
                           goods_per_house=goods)
        return len(build_filing(message_type, data))  # type: ignore[arg-type]

    low, high = size(2), size(42)
    return max(1, round(2 + (target_bytes - low) * 40 / (high - low)))


def unit_payloads(spec: FilingSpec, *, stem: str, index: int, eori: str) -> list[tuple[str, str, bytes]]:
    """(filing type, LRN, XML) of each filing of one unit; ``stem`` + ``index`` make LRNs and master
    documents distinct."""
    lrn = f"{stem[:6]}{index:012d}"[:22]
    master = f"{stem[:6]}M{index:010d}"
    if spec.kind in SET_KINDS:
        houses = spec.payload.set_houses if spec.payload else 2
        members = partial_set(SET_KINDS[spec.kind][0], lrn_prefix=f"{stem[:6]}{index:010d}", eori=eori,
                              master_document=master, houses=houses)
        return [(message_id, data["lrn"], build_filing(message_id, data)) for message_id, data in members]
    kind: FilingMessageId = spec.kind  # type: ignore[assignment]
    if kind in MESSAGE_IDS:  # Release 1 samples as they are: one house, no master document
        return [(kind, lrn, build_filing(kind, sample_data(kind, lrn=lrn, eori=eori)))]
    family = family_of(kind)
    if spec.payload is not None and family in SIZED_FAMILIES:
        counts = sized_goods_counts(kind, spec.payload.target(index))
        data = sample(kind, lrn=lrn, eori=eori, master_document=master, goods_counts=counts)
    elif spec.payload is not None and family in STRAIGHT_FAMILIES:
        goods = straight_goods(kind, spec.payload.target(index))
        data = sample_data(kind, lrn=lrn, eori=eori, goods_per_house=goods, master_document=master)
    else:
        data = sample_data(kind, lrn=lrn, eori=eori, master_document=master)
    return [(kind, lrn, build_filing(kind, data))]


# -- signing --------------------------------------------------------------------------------------------
def sign_unit(files: TraderFiles, spec: FilingSpec, run: str, index: int) -> Unit:
    """One unit of ``spec``, sealed by the trader ``files``, ready to send (MessageIds from run + index)."""
    identity = trader_identity(files)
    signed = []
    for position, (action, lrn, payload) in enumerate(unit_payloads(spec, stem=run, index=index, eori=files.eori)):
        suffix = "" if position == 0 else f":{position}"
        message_id = f"{uuid.uuid5(uuid.NAMESPACE_OID, f'{run}:{files.name}:{index}{suffix}')}@load.icssim"
        um = UserMessage(
            message_id=message_id, timestamp=datetime.now(UTC),
            from_party=PartyRef(files.eori, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER),
            to_party=PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
            agreement_ref=spec.agreement, agreement_type=as4c.AGREEMENT_TYPE,
            service=as4c.SERVICE_T2C, service_type=as4c.SERVICE_TYPE, action=action,
            conversation_id=message_id,
        )
        content_type, body = pack_user_message(
            um, [(f"payload-{index}-{position}@load.icssim", payload, "application/xml")],
            key=identity.sealing_key, chain=list(identity.sealing_chain))
        signed.append(SignedFiling(files.name, message_id, lrn, content_type, body,
                                   sent_references(content_type, body), action, len(payload)))
    return tuple(signed)


def sign_one(files: TraderFiles, message_type: FilingMessageId, run: str, index: int) -> SignedFiling:
    """One filing of ``message_type`` under its default AgreementRef (the Release 1 helper)."""
    return sign_unit(files, FilingSpec.of(message_type), run, index)[0]


Job = tuple[str, int, FilingSpec]  # (run id, index, spec): index i is filed by traders[i % len(traders)]


def _sign_jobs(pki_dir: str, traders: tuple[str, ...], jobs: list[Job]) -> list[Unit]:
    pki = PkiFiles.load(Path(pki_dir))
    return [sign_unit(pki.trader(traders[i % len(traders)]), spec, run, i) for run, i, spec in jobs]


def _sign_all(pki: PkiFiles, traders: tuple[str, ...], jobs: list[Job], processes: int | None) -> list[Unit]:
    """Sign ``jobs`` in one process pool (one pool for every kind: starting one costs about a second);
    the units come back in the order of the jobs."""
    processes = processes or os.cpu_count() or 1
    step = max(1, len(jobs) // (processes * 4))
    chunks = [jobs[start:start + step] for start in range(0, len(jobs), step)]
    work = functools.partial(_sign_jobs, str(pki.directory), traders)
    if processes == 1 or len(jobs) < 200:
        return [unit for chunk in chunks for unit in work(chunk)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return [unit for part in pool.map(work, chunks) for unit in part]


def presign_units(pki: PkiFiles, traders: tuple[str, ...], count: int, spec: FilingSpec, *,
                  run: str | None = None, processes: int | None = None) -> list[Unit]:
    """``count`` distinct units of ``spec``, spread round-robin over ``traders``."""
    run = run or uuid.uuid4().hex[:6].upper()
    return _sign_all(pki, traders, [(run, i, spec) for i in range(count)], processes)


def presign_kinds(pki: PkiFiles, traders: tuple[str, ...], counts: dict[str, int], specs: dict[str, FilingSpec],
                  runs: dict[str, str], *, processes: int | None = None) -> dict[str, list[Unit]]:
    """``counts[kind]`` units of each kind (its own run id: LRNs and MessageIds never collide)."""
    jobs = [(runs[kind], i, specs[kind]) for kind, count in counts.items() for i in range(count)]
    units = iter(_sign_all(pki, traders, jobs, processes))
    return {kind: [next(units) for _ in range(count)] for kind, count in counts.items()}


def presign(pki: PkiFiles, traders: tuple[str, ...], count: int, *, message_type: FilingMessageId = "IE3F32",
            run: str | None = None, processes: int | None = None,
            spec: FilingSpec | None = None) -> list[SignedFiling]:
    """`count` distinct signed filings of one type, spread round-robin over `traders`."""
    spec = spec or FilingSpec.of(message_type)
    if spec.kind in SET_KINDS:
        raise ValueError(f"{spec.kind} is a partial set: use presign_units")
    return [unit[0] for unit in presign_units(pki, traders, count, spec, run=run, processes=processes)]


def presign_mix(pki: PkiFiles, traders: tuple[str, ...], count: int, mix: dict[FilingSpec, float], *,
                run: str | None = None, processes: int | None = None, seed: int = 2024) -> list[SignedFiling]:
    """``count`` single filings drawn from ``mix`` (spec -> share), in a seeded random order; filing i is
    sent by ``traders[i % len(traders)]``, like :func:`presign`."""
    if any(spec.kind in SET_KINDS for spec in mix):
        raise ValueError("presign_mix draws single filings; partial sets are units of their own")
    run = run or uuid.uuid4().hex[:6].upper()
    specs, shares = list(mix), list(mix.values())
    drawn = random.Random(seed).choices(specs, shares, k=count)
    return [unit[0] for unit in _sign_all(pki, traders, [(run, i, spec) for i, spec in enumerate(drawn)],
                                          processes)]


def describe(units: list[Unit]) -> dict[str, Any]:
    """Filings, payload sizes (KB) and filing types of a batch, for summaries."""
    filings = [f for unit in units for f in unit]
    sizes = [f.payload_bytes for f in filings]
    kinds: dict[str, int] = {}
    for filing in filings:
        kinds[filing.action] = kinds.get(filing.action, 0) + 1
    return {"filings": len(filings), "kb_avg": round(sum(sizes) / len(sizes) / 1000, 1) if sizes else 0.0,
            "kb_min": round(min(sizes) / 1000, 1) if sizes else 0.0,
            "kb_max": round(max(sizes) / 1000, 1) if sizes else 0.0, "types": dict(sorted(kinds.items()))}


# -- batches for Locust processes (pickled by run_headless, read by the locustfile) ----------------------
@dataclass(frozen=True)
class PresignedBatch:
    """One Locust process's pre-signed filings; ``runs`` and ``counts`` let it sign more on the fly
    with LRNs and MessageIds that follow on (index ``counts[type]`` onwards of ``runs[type]``)."""

    runs: dict[str, str]
    counts: dict[str, int]
    filings: dict[str, list[Unit]]  # kind of the mix -> units (a filing, or a partial set's filings)


def fresh_runs(kinds: Iterable[str]) -> dict[str, str]:
    """A run id per kind of the mix, random per process: LRN = run[:6] + index, so never shared (36 kinds
    at most: every filing type and partial set)."""
    base = uuid.uuid4().hex[:5].upper()
    return {kind: base + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[i] for i, kind in enumerate(kinds)}


def sign_to_file(pki_dir: Path, traders: tuple[str, ...], counts: dict[str, int], runs: dict[str, str],
                 out: Path, profile: ReleaseProfile) -> dict[str, list[Unit]]:
    """Pre-sign ``counts`` units per kind of ``profile``'s mix, round-robin over ``traders``; pickle the
    batch to ``out``."""
    pki = PkiFiles.load(pki_dir)
    wanted = {kind: count for kind, count in counts.items() if count > 0}
    specs = {kind: FilingSpec.of(kind, profile) for kind in wanted}
    filings = presign_kinds(pki, traders, wanted, specs, runs)
    batch = {"runs": runs, "counts": counts, "filings": filings}  # plain types: readable whoever is __main__
    with out.open("wb") as stream:
        pickle.dump(batch, stream, protocol=pickle.HIGHEST_PROTOCOL)
    return filings


def read_batch(path: Path) -> PresignedBatch:
    with path.open("rb") as stream:
        batch = pickle.load(stream)  # noqa: S301 (a file this tool wrote for this run)
    if not isinstance(batch, dict) or set(batch) != {"runs", "counts", "filings"}:
        raise ValueError(f"{path} holds no pre-signed filings")
    return PresignedBatch(dict(batch["runs"]), dict(batch["counts"]), dict(batch["filings"]))
