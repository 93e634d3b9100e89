"""The run record (``<reports>/run.json``, format ``icssim-run/1``) read into typed values.

The harness writes one record per conformance run; the report writers in this package only ever see
the values defined here. Reading is deliberately tolerant: unknown keys are ignored, optional keys may
be missing or null, and values of an unexpected type are coerced to text rather than rejected, because
a report that refuses to render hides exactly the evidence a certifier needs. Verdicts follow the
house style (DESIGN.md "House style"): OK, NON-STRICT (breaks a SHOULD), FAILED (breaks a MUST),
UNIMPLEMENTED and INFORMATIONAL.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RUN_FORMAT",
    "VERDICTS",
    "Failure",
    "Requirement",
    "Run",
    "Scenario",
    "Step",
    "WireMessage",
    "read_run",
    "slug",
]

RUN_FORMAT = "icssim-run/1"
VERDICTS = ("OK", "NON-STRICT", "FAILED", "UNIMPLEMENTED", "INFORMATIONAL")
SELECTION_KEYS = ("releases", "tags", "requirements", "scenarios", "exclude")


def _text(value: Any) -> str:
    """Any value as display text; null becomes the empty string."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _opt_text(value: Any) -> str | None:
    text = _text(value)
    return text if text else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds == seconds else None  # NaN and negatives mean "unknown"


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(_text(item) for item in _items(value) if _text(item))


def normalise_verdict(value: Any) -> str:
    """``non_strict`` and ``Non-Strict`` are the same verdict; a missing one is shown as UNKNOWN."""
    verdict = _text(value).strip().upper().replace("_", "-").replace(" ", "-")
    return verdict or "UNKNOWN"


def slug(value: str) -> str:
    """A lower-case identifier of letters, digits, ``_`` and ``-`` (for HTML ids and Cucumber ids)."""
    return re.sub(r"[^a-z0-9_]+", "-", value.lower()).strip("-") or "x"


@dataclass(frozen=True)
class Requirement:
    """One requirement a scenario grades: its id, MUST/SHOULD/MAY, wording and where it is written."""

    id: str
    strength: str
    text: str
    source: str


@dataclass(frozen=True)
class Step:
    keyword: str
    text: str
    status: str
    duration_s: float | None
    line: int | None


@dataclass(frozen=True)
class Failure:
    """Expected vs received, the step where it was seen and, when known, the XPath/header/field."""

    message: str
    step: str | None
    where: str | None


@dataclass(frozen=True)
class DriverExchange:
    """One request the harness made of the system under test through a contract driver, and its answer."""

    action: str
    request: str
    response: str | None
    error: str | None
    stderr: str | None
    duration_s: float | None


@dataclass(frozen=True)
class WireMessage:
    """One journal entry of the scenario: a message the system under test sent or was sent."""

    id: str
    sim_at: str
    direction: str
    kind: str
    verdict: str
    action: str
    message_id: str
    ref_to_message_id: str
    error_code: str
    detail: str
    raw_b64: str | None
    payload: str | None


@dataclass(frozen=True)
class Scenario:
    id: str
    feature: str
    file: str
    name: str
    tags: tuple[str, ...]
    releases: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    verdict: str
    retried: bool
    duration_s: float | None
    steps: tuple[Step, ...]
    failure: Failure | None
    wire: tuple[WireMessage, ...]
    line: int | None
    driver_log: tuple[DriverExchange, ...] = ()


@dataclass(frozen=True)
class Run:
    format: str
    suite_name: str
    suite_version: str
    features_sha256: str
    requirements_sha256: str
    product_name: str
    product_version: str
    driver: str
    started: str
    finished: str
    selection: tuple[tuple[str, tuple[str, ...]], ...]
    capability_file: str | None
    unsupported: tuple[str, ...]
    summary: Mapping[str, int]
    scenarios: tuple[Scenario, ...]

    def counted(self) -> Counter[str]:
        """Verdicts counted from the scenarios themselves."""
        return Counter(scenario.verdict for scenario in self.scenarios)

    def verdicts(self) -> tuple[str, ...]:
        """The five house verdicts in their fixed order, then any other verdict seen, sorted."""
        seen = set(self.counted()) | set(self.summary)
        return VERDICTS + tuple(sorted(seen - set(VERDICTS)))

    def verdict_counts(self) -> dict[str, int]:
        """The record's own summary where it gives a figure, else the count of scenarios."""
        counted = self.counted()
        return {verdict: self.summary.get(verdict, counted.get(verdict, 0)) for verdict in self.verdicts()}


def _line(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _requirement(raw: Any) -> Requirement | None:
    if isinstance(raw, str):
        return Requirement(raw, "", "", "") if raw else None
    item = _mapping(raw)
    ident = _text(item.get("id"))
    if not ident:
        return None
    return Requirement(ident, _text(item.get("strength")).upper(), _text(item.get("text")),
                       _text(item.get("source")))


def _step(raw: Any) -> Step:
    item = _mapping(raw)
    return Step(keyword=_text(item.get("keyword")).strip(), text=_text(item.get("text") or item.get("name")),
                status=_text(item.get("status")).strip().lower(), duration_s=_seconds(item.get("duration_s")),
                line=_line(item.get("line")))


def _failure(raw: Any) -> Failure | None:
    if isinstance(raw, str):
        return Failure(raw, None, None) if raw else None
    item = _mapping(raw)
    if not item:
        return None
    return Failure(_text(item.get("message")), _opt_text(item.get("step")), _opt_text(item.get("where")))


def _wire(raw: Any) -> WireMessage:
    item = _mapping(raw)
    payload = item.get("payload")
    raw_b64 = item.get("raw_b64")
    return WireMessage(
        id=_text(item.get("id")), sim_at=_text(item.get("sim_at")), direction=_text(item.get("direction")),
        kind=_text(item.get("kind")), verdict=_text(item.get("verdict")), action=_text(item.get("action")),
        message_id=_text(item.get("message_id")), ref_to_message_id=_text(item.get("ref_to_message_id")),
        error_code=_text(item.get("error_code")), detail=_text(item.get("detail")),
        raw_b64=raw_b64 if isinstance(raw_b64, str) and raw_b64 else None,
        payload=payload if isinstance(payload, str) and payload else None,
    )


def _scenario(raw: Any, index: int) -> Scenario:
    item = _mapping(raw)
    name = _text(item.get("name"))
    file = _text(item.get("file"))
    requirements = tuple(r for r in map(_requirement, _items(item.get("requirements"))) if r is not None)
    return Scenario(
        id=_text(item.get("id")) or f"scenario-{index + 1}:{slug(name)}",
        feature=_text(item.get("feature")) or (file.rsplit("/", 1)[-1].removesuffix(".feature") if file else ""),
        file=file, name=name or _text(item.get("id")), tags=_texts(item.get("tags")),
        releases=_texts(item.get("releases")), requirements=requirements,
        verdict=normalise_verdict(item.get("verdict")), retried=item.get("retried") is True,
        duration_s=_seconds(item.get("duration_s")), steps=tuple(map(_step, _items(item.get("steps")))),
        # a scenario not run says why in place of a failure (grading: unimplemented_because)
        failure=_failure(item.get("failure")) or _failure(item.get("unimplemented_because")),
        wire=tuple(map(_wire, _items(item.get("wire")))),
        line=_line(item.get("line")), driver_log=tuple(map(_exchange, _items(item.get("driver_log")))),
    )


def _exchange(raw: Any) -> DriverExchange:
    item = _mapping(raw)
    return DriverExchange(_text(item.get("action")), _text(item.get("request")), _opt_text(item.get("response")),
                          _opt_text(item.get("error")), _opt_text(item.get("stderr")),
                          _seconds(item.get("duration_s")))


def _summary(raw: Any) -> dict[str, int]:
    summary: dict[str, int] = {}
    for key, value in _mapping(raw).items():
        if isinstance(value, int) and not isinstance(value, bool):
            summary[normalise_verdict(key)] = value
    return summary


def read_run(record: Mapping[str, Any]) -> Run:
    """Read a run record (the parsed JSON of ``run.json``) into a :class:`Run`."""
    suite = _mapping(record.get("suite"))
    product = _mapping(record.get("product"))
    selection = _mapping(record.get("selection"))
    capabilities = record.get("capabilities")
    capability_map = _mapping(capabilities)
    capability_file = next((_text(capability_map[key]) for key in ("file", "path", "source")
                            if _text(capability_map.get(key))), None)
    if isinstance(capabilities, str) and capabilities:  # a bare path is accepted as the file name
        capability_file = capabilities
    extra_keys = sorted(str(key) for key in selection if key not in SELECTION_KEYS)
    return Run(
        format=_text(record.get("format")), suite_name=_text(suite.get("name")),
        suite_version=_text(suite.get("version")), features_sha256=_text(suite.get("features_sha256")),
        requirements_sha256=_text(suite.get("requirements_sha256")), product_name=_text(product.get("name")),
        product_version=_text(product.get("version")), driver=_text(record.get("driver")),
        started=_text(record.get("started")), finished=_text(record.get("finished")),
        selection=tuple((key, _texts(selection.get(key))) for key in (*SELECTION_KEYS, *extra_keys)),
        capability_file=capability_file, unsupported=_texts(capability_map.get("unsupported")),
        summary=_summary(record.get("summary")),
        scenarios=tuple(_scenario(item, index) for index, item in enumerate(_items(record.get("scenarios")))),
    )
