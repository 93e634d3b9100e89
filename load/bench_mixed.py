"""The mixed R2/R3 phase of ``make bench``: which filings it sends and the figures it reports.

After the R1 phase (IE3F32 of ~3 KB), the benchmark sends complete Release 2 and Release 3 filings with
several house consignments, 10-50 KB each (domain/ics2.md, "Releases"), over the same mutual-TLS
connections for the same time, under AgreementRef EU-ICS2-TI-V2.0. The filing types and their weights
come from the release profiles (``load/data/r2.json``, ``r3.json``): their complete filings with houses
(``sized_filing`` families: IE3F20, IE3F27, IE3F30, IE3F31 for air; IE3F11, IE3F50, IE3F51 for sea, road
and rail), each release half of the filings so that both are measured whatever their daily volumes.
Partial sets and straight bills (no houses) stay out: a filing here stands for one measured request.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection

from load.presign import FilingSpec, SignedFiling, presign_mix
from load.shapes import RELEASES, ReleaseProfile
from scenarios.filings.ics2_bodies import family_of
from scenarios.filings.ics2_sets import SIZED_FAMILIES
from scenarios.pki import PkiFiles

MIXED_RELEASES = ("r2", "r3")
MIXED_SEED = 2025  # the same draw of filing types every run


def complete_kinds(profile: ReleaseProfile) -> dict[str, float]:
    """The profile's complete filings with house consignments, their shares renormalised to 1."""
    kept = {kind: share for kind, share in profile.filing_mix.items()
            if "+" not in kind and family_of(kind) in SIZED_FAMILIES}
    if not kept or profile.payload is None:
        raise ValueError(f"the {profile.release} profile has no complete filings with houses and a payload range")
    total = sum(kept.values())
    return {kind: share / total for kind, share in kept.items()}


def mixed_specs(releases: Collection[str] = MIXED_RELEASES) -> dict[FilingSpec, float]:
    """spec -> share of the mixed phase: each release an equal part, split by its own mix."""
    specs: dict[FilingSpec, float] = {}
    for release in releases:
        profile = ReleaseProfile.load(RELEASES[release])
        for kind, share in complete_kinds(profile).items():
            spec = FilingSpec.of(kind, profile)
            specs[spec] = specs.get(spec, 0.0) + share / len(releases)
    return specs


def presign_mixed(pki: PkiFiles, traders: tuple[str, ...], count: int) -> list[SignedFiling]:
    """``count`` distinct signed filings drawn from :func:`mixed_specs`; filing i goes to traders[i % n]."""
    return presign_mix(pki, traders, count, mixed_specs(), seed=MIXED_SEED)


def mix_line(filings: list[SignedFiling]) -> str:
    """"IE3F20 22 %, IE3F11 17 %, ..." of a batch (types by share of filings), for the printed summary."""
    counts: dict[str, int] = {}
    for filing in filings:
        counts[filing.action] = counts.get(filing.action, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{kind} {100 * n / len(filings):.0f} %" for kind, n in ranked)


def payload_kb(filings: list[SignedFiling], sent: Collection[int]) -> tuple[float, float]:
    """(average XML payload, average AS4 message on the wire) in KB of the filings sent."""
    if not sent:
        return 0.0, 0.0
    return (statistics.fmean(filings[i].payload_bytes for i in sent) / 1000,
            statistics.fmean(len(filings[i].body) for i in sent) / 1000)
