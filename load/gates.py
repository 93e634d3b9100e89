"""Pass/fail gates of a load run, as pure functions (no Locust, no I/O) so they are unit-tested.

Three gates decide the exit code of a run:

- **fail ratio** of all requests (send, pull, receipt) <= ``ICSSIM_MAX_FAIL_RATIO`` (default 0.01);
- **p95 of "send"** (every filing type together, from Locust's response-time histogram) <=
  ``ICSSIM_MAX_P95_MS`` (default 500 ms); a run that sent no filing fails this gate;
- **exactly once** (checked after the run against the control API): every filing answered with a
  receipt is registered and journaled once, and nothing else is (DESIGN.md, "Durability": a receipt
  leaves only after the commit, and a duplicate MessageId is never registered twice);
- **exactly one functional reply** per filing (domain/ics2.md, "Messages": a filing gets exactly ONE
  functional reply, IE3R01, IE3N99 or IE3N01, with RefToMessageId = the filing's MessageId): a receipted
  filing without one is *lost*, a filing with two or more is *duplicated* (:func:`tally_replies`).

:func:`is_loopback` guards the other rule of the load tests: traffic goes to loopback only.
"""

from __future__ import annotations

import ipaddress
import math
import urllib.parse
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_FAIL_RATIO = 0.01
DEFAULT_MAX_P95_MS = 500.0
SEND_PREFIX = "send "  # request names of filings: "send IE3F32", "send IE3F43", "send IE3F44"
FUNCTIONAL_REPLIES = frozenset({"IE3R01", "IE3N99", "IE3N01"})  # domain/ics2.md, "Messages"
EXAMPLES = 5  # MessageIds named in a problem sentence


@dataclass(frozen=True)
class Thresholds:
    """The limits of the latency and failure gates."""

    max_fail_ratio: float = DEFAULT_MAX_FAIL_RATIO
    max_p95_ms: float = DEFAULT_MAX_P95_MS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Thresholds:
        """Read ``ICSSIM_MAX_FAIL_RATIO`` and ``ICSSIM_MAX_P95_MS``; unset or empty means the default."""
        return cls(
            max_fail_ratio=_number(env, "ICSSIM_MAX_FAIL_RATIO", DEFAULT_MAX_FAIL_RATIO, upper=1.0),
            max_p95_ms=_number(env, "ICSSIM_MAX_P95_MS", DEFAULT_MAX_P95_MS, upper=math.inf),
        )


def _number(env: Mapping[str, str], name: str, default: float, *, upper: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not 0.0 <= value <= upper or math.isnan(value):
        raise ValueError(f"{name}={raw!r} must lie between 0 and {upper}")
    return value


@dataclass(frozen=True)
class RunFigures:
    """What the gates look at, taken from Locust's statistics at the end of a run."""

    requests: int  # all requests: sends, pulls, receipts
    failures: int
    sends: int  # filings sent (every "send ..." request)
    send_p95_ms: float | None  # None when no filing got an answer

    @property
    def fail_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a Locust response-time histogram {rounded ms: count}.

    Locust's own rule (``calculate_response_time_percentile``), so the gate agrees with the table it
    prints: the largest recorded time with at most ``int(q * n)`` samples below it. None when empty.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside 0..1")
    total = sum(histogram.values())
    if total == 0:
        return None
    allowed_below = int(total * q)
    below = 0
    answer = min(histogram)
    for value in sorted(histogram):
        if below > allowed_below:
            break
        answer = value
        below += histogram[value]
    return float(answer)


def merge_histograms(histograms: list[Mapping[int, int]]) -> dict[int, int]:
    """One histogram of several request names (e.g. all filing types for the "send" gate)."""
    merged: dict[int, int] = {}
    for histogram in histograms:
        for value, count in histogram.items():
            merged[value] = merged.get(value, 0) + count
    return merged


def evaluate(figures: RunFigures, thresholds: Thresholds) -> list[str]:
    """The violated gates, each as one sentence; an empty list means the run passed."""
    violations: list[str] = []
    if figures.fail_ratio > thresholds.max_fail_ratio:
        violations.append(f"fail ratio {figures.fail_ratio:.4f} ({figures.failures} of {figures.requests} "
                          f"requests) exceeds {thresholds.max_fail_ratio}")
    if figures.sends == 0 or figures.send_p95_ms is None:
        violations.append("no filing was sent, so the p95 of 'send' cannot be judged")
    elif figures.send_p95_ms > thresholds.max_p95_ms:
        violations.append(f"p95 of 'send' {figures.send_p95_ms:.0f} ms exceeds {thresholds.max_p95_ms:.0f} ms")
    return violations


@dataclass(frozen=True)
class ReplyTally:
    """Functional replies counted per filing MessageId (:func:`tally_replies`)."""

    expected: int  # filings answered with a receipt: each needs exactly one functional reply
    answered_once: int  # of those, with exactly one
    lost: int  # of those, with none
    duplicated: int  # filings sent (receipted or not) with two or more
    extra: int  # replies beyond the first, over the duplicated filings
    examples_lost: tuple[str, ...] = ()
    examples_duplicated: tuple[str, ...] = ()


def tally_replies(receipted: Collection[str], unreceipted: Collection[str],
                  replies: Iterable[Mapping[str, Any]]) -> ReplyTally:
    """Count functional replies per filing.

    ``replies`` are outbox rows or journal entries of outgoing user messages (keys ``message_id``,
    ``ref_to_message_id``, ``action``); one reply delivered twice (a redelivery: same MessageId) counts
    once, and notices and copies (other actions, no RefToMessageId) are left out. A filing refused at
    the ebMS level (``unreceipted``) is not expected to have a reply, but it must not have two.
    """
    seen: set[str] = set()
    per_filing: dict[str, int] = {}
    for reply in replies:
        ref, reply_id = reply.get("ref_to_message_id"), str(reply.get("message_id") or "")
        if reply.get("action") not in FUNCTIONAL_REPLIES or not ref or reply_id in seen:
            continue
        seen.add(reply_id)
        per_filing[str(ref)] = per_filing.get(str(ref), 0) + 1
    lost = sorted(m for m in receipted if per_filing.get(m, 0) == 0)
    duplicated = sorted(m for m in {*receipted, *unreceipted} if per_filing.get(m, 0) >= 2)
    return ReplyTally(
        expected=len(receipted), answered_once=sum(1 for m in receipted if per_filing.get(m, 0) == 1),
        lost=len(lost), duplicated=len(duplicated), extra=sum(per_filing[m] - 1 for m in duplicated),
        examples_lost=tuple(lost[:EXAMPLES]), examples_duplicated=tuple(duplicated[:EXAMPLES]))


@dataclass(frozen=True)
class Reconciliation:
    """Receipts counted by Locust against what the simulator registered, journaled and replied in the run."""

    receipts: int  # filings answered with a valid receipt (successful "send ..." requests)
    registered: int  # new ENS not rejected (every state except "rejected")
    rejected: int  # new ENS rejected with IE3N99
    journaled: int  # new inbound user messages journaled as accepted
    duplicates: int  # new inbound user messages journaled as duplicate MessageIds
    replies: ReplyTally | None = None  # None: the functional replies were not counted

    @property
    def lost(self) -> int:
        """Receipted filings the simulator has no registration for."""
        return max(0, self.receipts - self.registered)

    @property
    def duplicated(self) -> int:
        """Registrations beyond the receipted filings (registered twice, or registered unacknowledged)."""
        return max(0, self.registered - self.receipts)


def reconcile(r: Reconciliation) -> list[str]:
    """Why the run broke exactly-once (empty when registered == journaled == receipts, no duplicates,
    and, when counted, every receipted filing has exactly one functional reply and none has two)."""
    problems: list[str] = []
    if r.lost:
        problems.append(f"{r.lost} filing(s) answered with a receipt are not registered (lost outcome)")
    if r.duplicated:
        problems.append(f"{r.duplicated} registration(s) more than receipts (duplicated or unacknowledged "
                        "outcome)")
    if r.journaled != r.receipts:
        problems.append(f"{r.journaled} filing(s) journaled as accepted, but {r.receipts} receipt(s) counted")
    if r.rejected:
        problems.append(f"{r.rejected} filing(s) rejected with IE3N99 (the load filings are all valid)")
    if r.duplicates:
        problems.append(f"{r.duplicates} duplicate MessageId(s) received (the load test never resends)")
    t = r.replies
    if t is not None:
        if t.expected != r.receipts:
            problems.append(f"replies were checked for {t.expected} receipted filing(s), but {r.receipts} "
                            "receipt(s) counted")
        if t.lost:
            problems.append(f"{t.lost} receipted filing(s) without a functional reply (lost reply), e.g. "
                            f"{', '.join(t.examples_lost)}")
        if t.duplicated:
            problems.append(f"{t.duplicated} filing(s) with two or more functional replies ({t.extra} extra; "
                            f"duplicated reply), e.g. {', '.join(t.examples_duplicated)}")
    return problems


def is_loopback(url: str) -> bool:
    """True when ``url`` names a loopback host (localhost, 127.0.0.0/8, ::1) - load goes nowhere else."""
    host = urllib.parse.urlsplit(url).hostname
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
