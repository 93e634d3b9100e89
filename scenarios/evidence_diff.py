"""What changed between two evidence packs (scenarios/evidence.py): typically the same suite run against
two versions of a vendor's package, or one version against two suite versions.

Compared: product and suite (name, version, features and requirements hashes), the summary counts per
verdict, each scenario's verdict (matched by scenario id: new, removed, changed) and each requirement's
verdict. A requirement's verdict is the worst verdict of the scenarios that cite it, in the order
FAILED, any verdict this module does not know, NON-STRICT, UNIMPLEMENTED, OK, INFORMATIONAL: one failing
scenario fails the requirement, and a requirement only informed about is not better than one shown OK.

``diff_packs`` reads the packs but does not verify them; ``icssim evidence diff`` verifies both first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.evidence import RUN, load_json_object
from scenarios.evidence_verify import read_pack

_RANK = {"FAILED": 0, "NON-STRICT": 2, "UNIMPLEMENTED": 3, "OK": 4, "INFORMATIONAL": 5}
_UNKNOWN_RANK = 1


@dataclass(frozen=True)
class VerdictChange:
    """One scenario's or requirement's verdict in pack A (``before``) and pack B (``after``)."""

    key: str
    name: str
    before: str | None  # None: not in pack A
    after: str | None  # None: not in pack B

    @property
    def kind(self) -> str:
        return "new" if self.before is None else "removed" if self.after is None else "changed"


@dataclass(frozen=True)
class PackDiff:
    product: tuple[str, str]
    suite: tuple[str, str]
    summary: dict[str, tuple[int, int]]  # verdict -> (count in A, count in B), only where they differ
    scenarios: list[VerdictChange]
    requirements: list[VerdictChange]

    @property
    def unchanged(self) -> bool:
        return not (self.summary or self.scenarios or self.requirements)

    def render(self) -> str:
        """The difference as text for a person (``icssim evidence diff``)."""
        lines = [_line("product", self.product), _line("suite", self.suite)]
        if self.summary:
            lines.append("summary:   " + ", ".join(f"{verdict} {a} -> {b} ({b - a:+d})"
                                                   for verdict, (a, b) in sorted(self.summary.items())))
        for title, changes in (("scenarios", self.scenarios), ("requirements", self.requirements)):
            if changes:
                lines.append(f"{title} ({len(changes)} verdict{'s' if len(changes) > 1 else ''} changed):")
                width = max(len(change.key) for change in changes)
                lines += [f"  {change.kind:8} {change.key:{width}}  {change.before or '-'} -> "
                          f"{change.after or '-'}" + (f"  {change.name}" if change.name else "")
                          for change in changes]
        if self.unchanged:
            lines.append("no verdict changed")
        return "\n".join(lines) + "\n"


def diff_packs(a: Path, b: Path) -> PackDiff:
    """Compare the run records of two packs; ValueError when a pack has no readable run.json."""
    run_a, run_b = _run(Path(a)), _run(Path(b))
    scenarios_a, scenarios_b = _scenarios(run_a), _scenarios(run_b)
    summary_a, summary_b = _counts(run_a), _counts(run_b)
    summary = {verdict: (summary_a.get(verdict, 0), summary_b.get(verdict, 0))
               for verdict in set(summary_a) | set(summary_b)
               if summary_a.get(verdict, 0) != summary_b.get(verdict, 0)}
    return PackDiff(
        product=(_describe(run_a.get("product")), _describe(run_b.get("product"))),
        suite=(_describe(run_a.get("suite")), _describe(run_b.get("suite"))),
        summary=summary,
        scenarios=_changes({key: (str(s.get("verdict")), str(s.get("name") or "")) for key, s in scenarios_a.items()},
                           {key: (str(s.get("verdict")), str(s.get("name") or "")) for key, s in scenarios_b.items()}),
        requirements=_changes({key: (verdict, "") for key, verdict in requirement_verdicts(run_a).items()},
                              {key: (verdict, "") for key, verdict in requirement_verdicts(run_b).items()}),
    )


def requirement_verdicts(run: Mapping[str, Any]) -> dict[str, str]:
    """Requirement id -> the worst verdict of the scenarios citing it (a string or {"id", "verdict"?})."""
    verdicts: dict[str, str] = {}
    for scenario in _scenarios(run).values():
        for requirement in scenario.get("requirements") or []:
            if isinstance(requirement, Mapping):
                key, verdict = str(requirement.get("id")), str(requirement.get("verdict") or scenario.get("verdict"))
            else:
                key, verdict = str(requirement), str(scenario.get("verdict"))
            if key not in verdicts or _rank(verdict) < _rank(verdicts[key]):
                verdicts[key] = verdict
    return verdicts


def _run(pack: Path) -> dict[str, Any]:
    members, problems = read_pack(pack)
    if RUN not in members:
        raise ValueError(f"{pack}: no readable {RUN}" + (f" ({'; '.join(problems)})" if problems else ""))
    return load_json_object(members[RUN], f"{pack.name}: {RUN}")


def _scenarios(run: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    scenarios = run.get("scenarios")
    if not isinstance(scenarios, list):
        return {}
    return {str(s.get("id")): s for s in scenarios if isinstance(s, Mapping)}


def _counts(run: Mapping[str, Any]) -> dict[str, int]:
    summary = run.get("summary")
    if not isinstance(summary, Mapping):
        return {}
    return {str(key): value for key, value in summary.items() if isinstance(value, int)}


def _changes(a: Mapping[str, tuple[str, str]], b: Mapping[str, tuple[str, str]]) -> list[VerdictChange]:
    changes = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key), b.get(key)
        if before is None or after is None or before[0] != after[0]:
            name = (after or before or ("", ""))[1]
            changes.append(VerdictChange(key, name, before and before[0], after and after[0]))
    return changes


def _rank(verdict: str) -> int:
    return _RANK.get(verdict, _UNKNOWN_RANK)


def _describe(record: Any) -> str:
    if not isinstance(record, Mapping):
        return "unknown"
    text = f"{record.get('name', '?')} {record.get('version', '?')}"
    hashes = [f"{key.removesuffix('_sha256')} {str(record[key])[:12]}"
              for key in ("features_sha256", "requirements_sha256") if record.get(key)]
    return text + (f" ({', '.join(hashes)})" if hashes else "")


def _line(title: str, pair: tuple[str, str]) -> str:
    label = f"{title}:".ljust(10)
    return f"{label} {pair[0]} (unchanged)" if pair[0] == pair[1] else f"{label} {pair[0]} -> {pair[1]}"
