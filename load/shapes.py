"""Release-phase load profiles (data in ``load/data/*.json``) and the stage plan of a release shape.

A profile says who files (trader identities of the test PKI), what they file (the mix of R1 filing
types), how often they pull their replies (task weights), and the release's volume anchor
(domain/ics2.md, "Releases": ~12.6 M e-commerce items a day, ~146/s on average, peaks several times
that). Pure data and arithmetic: this module does not import Locust, so the headless runner and the
pre-signing subprocess can use it without gevent's monkey patching.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.filings.ics2 import MESSAGE_IDS

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PROFILE = DATA_DIR / "r1.json"
SECONDS_PER_DAY = 86_400
TASKS = ("send", "pull")


@dataclass(frozen=True)
class Stage:
    """One step of a shape: hold ``users`` until ``until_s`` seconds into the run."""

    until_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class ReleaseProfile:
    release: str
    traders: tuple[str, ...]
    filing_mix: dict[str, float]  # message type -> share of filings, shares sum to 1
    task_weights: dict[str, int]  # "send" / "pull" -> Locust task weight
    items_per_day: int
    peak_factor: float

    @classmethod
    def load(cls, path: Path = DEFAULT_PROFILE) -> ReleaseProfile:
        """Read and check a profile file (ValueError names the offending key)."""
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        traders = tuple(str(name) for name in data.get("traders", ()))
        if not traders or len(set(traders)) != len(traders):
            raise ValueError(f"{path}: 'traders' must list distinct trader names of the test PKI")
        mix = {str(k): float(v) for k, v in data.get("filing_mix", {}).items() if float(v) > 0}
        unknown = sorted(set(mix) - set(MESSAGE_IDS))
        if unknown or not mix:
            raise ValueError(f"{path}: 'filing_mix' needs shares of {', '.join(MESSAGE_IDS)} "
                             f"(unknown: {', '.join(unknown) or 'none'})")
        total = sum(mix.values())
        weights = {str(k): int(v) for k, v in data.get("task_weights", {"send": 1}).items()}
        if set(weights) - set(TASKS) or weights.get("send", 0) <= 0 or min(weights.values()) < 0:
            raise ValueError(f"{path}: 'task_weights' takes send (> 0) and pull (>= 0)")
        volume = data.get("volume", {})
        return cls(
            release=str(data.get("release", Path(path).stem)),
            traders=traders,
            filing_mix={k: v / total for k, v in mix.items()},
            task_weights=weights,
            items_per_day=int(volume.get("items_per_day", 0)),
            peak_factor=float(volume.get("peak_factor", 1.0)),
        )

    @property
    def average_per_second(self) -> float:
        """The release's average filing rate (R1: 12.6 M/day -> ~146/s)."""
        return self.items_per_day / SECONDS_PER_DAY

    @property
    def peak_per_second(self) -> float:
        return self.average_per_second * self.peak_factor

    @property
    def send_share(self) -> float:
        """Share of a user's tasks that are filings."""
        return self.task_weights.get("send", 0) / sum(self.task_weights.values())

    def presign_counts(self, total: int) -> dict[str, int]:
        """Split ``total`` pre-signed filings over the filing types by the mix (each type >= 1)."""
        if total <= 0:
            return dict.fromkeys(self.filing_mix, 0)
        return {kind: max(1, round(total * share)) for kind, share in self.filing_mix.items()}

    def relative(self, filings_per_second: float) -> str:
        """A rate as multiples of the release's average and peak, for summaries."""
        if not self.average_per_second:
            return f"{filings_per_second:.1f} filings/s"
        return (f"{filings_per_second:.1f} filings/s = {filings_per_second / self.average_per_second:.2f} x "
                f"the {self.release} average ({self.average_per_second:.0f}/s), "
                f"{filings_per_second / self.peak_per_second:.2f} x its peak "
                f"({self.peak_per_second:.0f}/s at {self.peak_factor:g} x)")

    def users_for(self, filings_per_second: float, user_rate: float) -> int:
        """Users needed for a filing rate when each user runs ``user_rate`` tasks per second."""
        if user_rate <= 0:
            raise ValueError("a rate-driven shape needs a per-user task rate (ICSSIM_USER_RATE > 0)")
        return max(1, math.ceil(filings_per_second / (user_rate * self.send_share)))

    def release_stages(self, user_rate: float, *, stage_s: float = 60.0, scale: float = 1.0) -> list[Stage]:
        """Average -> peak -> average, each held ``stage_s`` seconds; ``scale`` shrinks both rates
        (0.1 = a tenth of the release's volume, for a laptop)."""
        average = self.users_for(self.average_per_second * scale, user_rate)
        peak = self.users_for(self.peak_per_second * scale, user_rate)
        ramp = max(1.0, average / 10)
        return [Stage(stage_s, average, ramp), Stage(2 * stage_s, peak, max(1.0, (peak - average) / 10)),
                Stage(3 * stage_s, average, max(1.0, (peak - average) / 10))]
