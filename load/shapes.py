"""Release-phase load profiles (data in ``load/data/r1.json``, ``r2.json``, ``r3.json``) and load shapes.

A profile says who files (trader identities of the test PKI), what they file (the filing mix: any ICS2
filing, or a partial set such as ``IE3F21+IE3F22`` sent as one unit), under which AgreementRef, how big
the filings are, how often replies are pulled (task weights), the release's volume anchor and peak
factor, and a daily curve of 24 hourly factors (domain/ics2.md, "Releases": R1 ~12.6 M items a day,
~146/s on average, peaks several times that; R2 and R3 have no official count, so their files derive an
illustrative one and say so). Pure data and arithmetic: this module does not import Locust, so the
headless runner and the pre-signing subprocess can use it without gevent's monkey patching.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.filings.ics2 import ALL_FILING_IDS, MESSAGE_IDS
from scenarios.filings.ics2_sets import PARTIAL_SET_KINDS
from simulator.codecs.as4 import constants as as4c

DATA_DIR = Path(__file__).resolve().parent / "data"
RELEASES = {"r1": DATA_DIR / "r1.json", "r2": DATA_DIR / "r2.json", "r3": DATA_DIR / "r3.json"}
DEFAULT_PROFILE = RELEASES["r1"]
SECONDS_PER_DAY = 86_400
HOURS = 24
TASKS = ("send", "pull")
CURVE_TOLERANCE = 0.005  # the hourly factors are written with three decimals

# "IE3F21+IE3F22" -> ("air-master-house", ("IE3F21", "IE3F22")): the partial sets a mix may name.
SET_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "+".join(m for m in members if m): (name, tuple(m for m in members if m))
    for name, members in PARTIAL_SET_KINDS.items()
}


def profile_path(release: str) -> Path:
    """``r2`` / ``R2`` -> ``load/data/r2.json``; anything else is taken as a path to a profile file."""
    return RELEASES.get(release.strip().lower(), Path(release))


def members_of(kind: str) -> tuple[str, ...]:
    """The filing types one unit of ``kind`` sends: (``kind``,) or the members of a partial set."""
    return SET_KINDS[kind][1] if kind in SET_KINDS else (kind,)


@dataclass(frozen=True)
class Stage:
    """One step of a shape: hold ``users`` until ``until_s`` seconds into the run."""

    until_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class PayloadSpec:
    """The size of complete filings: ``steps`` targets from ``min_bytes`` to ``max_bytes``, used in turn;
    partial sets name ``set_houses`` houses (one house filing each)."""

    min_bytes: int
    max_bytes: int
    steps: int = 5
    houses_min: int = 1
    houses_max: int = 1
    set_houses: int = 2

    @property
    def targets(self) -> tuple[int, ...]:
        if self.steps == 1:
            return (self.min_bytes,)
        step = (self.max_bytes - self.min_bytes) / (self.steps - 1)
        return tuple(round(self.min_bytes + i * step) for i in range(self.steps))

    def target(self, index: int) -> int:
        """The size of the ``index``-th filing of a kind: the targets in turn, so every size occurs."""
        return self.targets[index % self.steps]

    @classmethod
    def from_data(cls, path: Path, data: dict[str, Any]) -> PayloadSpec:
        houses = data.get("houses_per_filing", {})
        spec = cls(min_bytes=int(data["min_bytes"]), max_bytes=int(data["max_bytes"]),
                   steps=int(data.get("steps", 5)), houses_min=int(houses.get("min", 1)),
                   houses_max=int(houses.get("max", 1)), set_houses=int(data.get("set_houses", 2)))
        # sized_filing builds 10-50 KB within 10 % (scenarios/filings/ics2_sets.py)
        if not 10_000 <= spec.min_bytes <= spec.max_bytes <= 50_000 or spec.steps < 1 \
                or not 1 <= spec.houses_min <= spec.houses_max or spec.set_houses < 1:
            raise ValueError(f"{path}: 'payload' needs 10000 <= min_bytes <= max_bytes <= 50000, steps >= 1, "
                             "1 <= houses_per_filing min <= max and set_houses >= 1")
        return spec


@dataclass(frozen=True)
class ReleaseProfile:
    release: str
    traders: tuple[str, ...]
    filing_mix: dict[str, float]  # filing type or partial set -> share of units sent, shares sum to 1
    task_weights: dict[str, int]  # "send" / "pull" -> Locust task weight
    items_per_day: int
    peak_factor: float
    agreement: str = as4c.AGREEMENT_V1
    items_per_filing: float = 1.0  # house consignments a filing carries on average (R1: one item)
    daily_curve: tuple[float, ...] = ()  # 24 hourly factors (UTC 00..23), mean 1.0, max = peak_factor
    payload: PayloadSpec | None = None  # None: the samples as they are (R1: one house, ~2-4 KB)

    @classmethod
    def load(cls, path: Path = DEFAULT_PROFILE) -> ReleaseProfile:
        """Read and check a profile file (ValueError names the offending key)."""
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        traders = tuple(str(name) for name in data.get("traders", ()))
        if not traders or len(set(traders)) != len(traders):
            raise ValueError(f"{path}: 'traders' must list distinct trader names of the test PKI")
        mix = {str(k): float(v) for k, v in data.get("filing_mix", {}).items() if float(v) > 0}
        unknown = sorted(set(mix) - set(ALL_FILING_IDS) - set(SET_KINDS))
        if unknown or not mix:
            raise ValueError(f"{path}: 'filing_mix' needs shares of ICS2 filings or partial sets "
                             f"({', '.join(SET_KINDS)}) (unknown: {', '.join(unknown) or 'none'})")
        if abs(sum(mix.values()) - 1.0) > 1e-3:
            raise ValueError(f"{path}: 'filing_mix' shares sum to {sum(mix.values()):.4f}, not 1")
        agreement = str(data.get("agreement", as4c.AGREEMENT_V1))
        later = sorted({m for kind in mix for m in members_of(kind)} - set(MESSAGE_IDS))
        if agreement not in as4c.AGREEMENTS or (later and agreement != as4c.AGREEMENT_V2):
            raise ValueError(f"{path}: 'agreement' must be one of {', '.join(as4c.AGREEMENTS)}; "
                             f"Release 2/3 filings ({', '.join(later) or 'none here'}) need {as4c.AGREEMENT_V2}")
        weights = {str(k): int(v) for k, v in data.get("task_weights", {"send": 1}).items()}
        if set(weights) - set(TASKS) or weights.get("send", 0) <= 0 or min(weights.values()) < 0:
            raise ValueError(f"{path}: 'task_weights' takes send (> 0) and pull (>= 0)")
        volume = data.get("volume", {})
        peak = float(volume.get("peak_factor", 1.0))
        per_filing = float(volume.get("items_per_filing", 1))
        if peak < 1.0 or per_filing <= 0:
            raise ValueError(f"{path}: 'volume' needs peak_factor >= 1 and items_per_filing > 0")
        curve = tuple(float(f) for f in data.get("daily_curve", {}).get("hourly_factors", ()))
        if curve:
            check_curve(curve, peak, where=str(path))
        payload = data.get("payload")
        return cls(
            release=str(data.get("release", Path(path).stem)),
            traders=traders,
            filing_mix=mix,
            task_weights=weights,
            items_per_day=int(volume.get("items_per_day", 0)),
            peak_factor=peak,
            agreement=agreement,
            items_per_filing=per_filing,
            daily_curve=curve,
            payload=PayloadSpec.from_data(Path(path), payload) if payload else None,
        )

    @property
    def filings_per_day(self) -> float:
        return self.items_per_day / self.items_per_filing

    @property
    def average_per_second(self) -> float:
        """The release's average filing rate (R1: 12.6 M/day -> ~146/s; R2 illustrative ~20/s)."""
        return self.filings_per_day / SECONDS_PER_DAY

    @property
    def peak_per_second(self) -> float:
        return self.average_per_second * self.peak_factor

    @property
    def send_share(self) -> float:
        """Share of a user's tasks that are sends (one unit of the mix each)."""
        return self.task_weights.get("send", 0) / sum(self.task_weights.values())

    def unit_size(self, kind: str) -> int:
        """Filings one unit of ``kind`` sends: 1, or a partial set's master plus its house filings."""
        members = members_of(kind)
        if len(members) == 1:
            return 1
        houses = self.payload.set_houses if self.payload else 2
        straight = SET_KINDS[kind][0] == "sea-straight"  # master and consignee: no houses
        return len(members) if straight else 1 + (len(members) - 1) * houses

    @property
    def filings_per_unit(self) -> float:
        return sum(share * self.unit_size(kind) for kind, share in self.filing_mix.items())

    def presign_counts(self, total: int) -> dict[str, int]:
        """Split ``total`` pre-signed units over the mix (each kind >= 1; a set counts as one unit)."""
        if total <= 0:
            return dict.fromkeys(self.filing_mix, 0)
        return {kind: max(1, round(total * share)) for kind, share in self.filing_mix.items()}

    def relative(self, filings_per_second: float) -> str:
        """A rate as multiples of the release's average and peak, for summaries."""
        if not self.average_per_second:
            return f"{filings_per_second:.1f} filings/s"
        return (f"{filings_per_second:.1f} filings/s = {filings_per_second / self.average_per_second:.2f} x "
                f"the {self.release} average ({self.average_per_second:.1f}/s), "
                f"{filings_per_second / self.peak_per_second:.2f} x its peak "
                f"({self.peak_per_second:.1f}/s at {self.peak_factor:g} x)")

    def users_for(self, filings_per_second: float, user_rate: float) -> int:
        """Users needed for a filing rate when each user runs ``user_rate`` tasks per second."""
        if user_rate <= 0:
            raise ValueError("a rate-driven shape needs a per-user task rate (ICSSIM_USER_RATE > 0)")
        return max(1, math.ceil(filings_per_second / (user_rate * self.send_share * self.filings_per_unit)))

    def release_stages(self, user_rate: float, *, stage_s: float = 60.0, scale: float = 1.0) -> list[Stage]:
        """Average -> peak -> average, each held ``stage_s`` seconds; ``scale`` shrinks both rates
        (0.1 = a tenth of the release's volume, for a laptop)."""
        average = self.users_for(self.average_per_second * scale, user_rate)
        peak = self.users_for(self.peak_per_second * scale, user_rate)
        ramp = max(1.0, average / 10)
        return [Stage(stage_s, average, ramp), Stage(2 * stage_s, peak, max(1.0, (peak - average) / 10)),
                Stage(3 * stage_s, average, max(1.0, (peak - average) / 10))]

    def hourly_rates(self, scale: float = 1.0) -> list[float]:
        """Filings/s in each UTC hour of the day: average x hourly factor x ``scale``."""
        if not self.daily_curve:
            raise ValueError(f"the {self.release} profile has no 'daily_curve'")
        return [self.average_per_second * factor * scale for factor in self.daily_curve]

    def daily_stages(self, user_rate: float, *, day_s: float = 240.0, scale: float = 1.0) -> list[Stage]:
        """The daily curve compressed into ``day_s`` seconds: 24 stages of ``day_s / 24`` seconds, each
        holding the users for that hour's rate. Users start or stop within about a second of an hour's
        change (spawn rate = the change), so the run follows the curve's steps."""
        if day_s <= 0:
            raise ValueError("a day must last more than 0 seconds")
        hour_s = day_s / HOURS
        stages: list[Stage] = []
        users = 0
        for hour, rate in enumerate(self.hourly_rates(scale)):
            target = self.users_for(rate, user_rate)
            stages.append(Stage((hour + 1) * hour_s, target, float(max(1, abs(target - users)))))
            users = target
        return stages


def check_curve(curve: tuple[float, ...], peak_factor: float, *, where: str = "daily_curve") -> None:
    """24 positive hourly factors averaging 1.0 whose maximum is the peak factor (ValueError if not)."""
    if len(curve) != HOURS or min(curve) <= 0:
        raise ValueError(f"{where}: 'daily_curve' needs {HOURS} positive hourly factors, got {len(curve)}")
    mean = sum(curve) / HOURS
    if abs(mean - 1.0) > CURVE_TOLERANCE:
        raise ValueError(f"{where}: the hourly factors average {mean:.4f}, not 1.0")
    if abs(max(curve) - peak_factor) > CURVE_TOLERANCE:
        raise ValueError(f"{where}: the curve peaks at {max(curve):g}, not at the peak factor {peak_factor:g}")
