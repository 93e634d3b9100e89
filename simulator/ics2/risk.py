"""ICS2 risk analysis: rules as data (data/risk.json), forced outcomes, outcomes scheduled on the ENS lifecycle.

domain/ics2.md "ENS lifecycle": a registered ENS goes to risk analysis, which may end in an information
request (IE3Q02 + IE3N04), an HRCM screening request (IE3Q03 + IE3N05, air only), Do Not Load (IE3Q01),
and then assessment complete (IE3N03) or a control notification (IE3N08 / IE3N09). "UK neighbour worth
learning from": outcomes are deterministic, chosen by scenario data (the rule table, and forced outcomes set
through the control API, simulator/ics2/control_risk.py), never by request headers.

    engine = default_engine()  # data/risk.json, validated and compiled once per process
    planned = engine.plan(conn, root=..., message_type="IE3F32", mode="express", lrn=..., mrn=...)
    engine.schedule(conn, lifecycle, mrn, planned, now)  # timers "risk:<i>" on the ENS (entity id = MRN)
    reassess(engine, conn, lifecycle, root=..., ...)  # both: at registration, after amendment / IE3R02 / IE3R03

Precedence: forced outcomes for the MRN, else for the LRN (consumed once scheduled) > the first rule whose
`match` holds > the default (assessment_complete after `default_delay_seconds`). Each scheduled timer fires
its outcome's lifecycle event with the context {"outcome", "details", "source"}; referral references are
derived from MRN, source and outcome index, so the same filing always gets the same references.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from typing import Any

from lxml import etree
from sqlalchemy import Column, Index, Integer, String, Table, Text, bindparam, select, update
from sqlalchemy.engine import Connection

from simulator.core.clock import iso
from simulator.core.fastsql import Prepared
from simulator.core.lifecycle import Lifecycle
from simulator.core.store import SCENE, metadata
from simulator.core.timers import check_object, instant
from simulator.ics2.catalogue import catalogue
from simulator.ics2.lifecycle import ens_machine

DATA = "data/risk.json"
TIMER_PREFIX = "risk:"
FORCED, DEFAULT, RULE = "forced", "default", "rule:"
MODES = frozenset({"air", "sea", "road", "rail", "postal", "express"})
# Bounds of a plan: an ENS lives at most 200 days (domain/ics2.md "ENS lifecycle"), so a longer delay has no use.
MAX_DELAY_SECONDS, MAX_OUTCOMES = 200 * 86400, 99
_CONDITIONS = ("goods_description", "hs_code", "consignor_name", "route", "message_types", "mode")

forced_outcomes = Table(
    "ics2_forced_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_kind", String(3), nullable=False),  # lrn | mrn
    Column("key", String(32), nullable=False),
    Column("outcomes", Text, nullable=False),  # JSON list of {outcome, delay_seconds, details}, validated
    Column("created_at", String(32), nullable=False),  # simulated time
    Column("applied_mrn", String(18)),  # set when scheduled: a forced plan applies once
    Column("applied_at", String(32)),
    info=SCENE,
)
Index("ix_ics2_forced_outcomes_key", forced_outcomes.c.key)
_f = forced_outcomes.c
_PENDING = Prepared(select(_f.id, _f.key_kind, _f.key, _f.outcomes).where(
    _f.key.in_([bindparam("lrn"), bindparam("mrn")]), _f.applied_at.is_(None)).order_by(_f.id), ("lrn", "mrn"))
_APPLY = Prepared(update(forced_outcomes).where(_f.id == bindparam("fid")).values(
    applied_mrn=bindparam("mrn"), applied_at=bindparam("at")), ("fid", "mrn", "at"))


class RiskDataError(ValueError):
    """Rules or outcomes refused; `problems` lists every fault found, each naming where it is."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source, self.problems = source, problems
        super().__init__(f"{source} refused: " + "; ".join(problems))


@dataclass(frozen=True)
class OutcomeSpec:
    """One row of the `outcomes` table: the lifecycle event an outcome fires and the details it takes."""

    name: str
    event: str | None  # None: nothing is scheduled (no_referral)
    messages: tuple[str, ...]
    details: frozenset[str]
    defaults: Mapping[str, Any]
    kind: str | None
    air_only: bool
    rule: str


@dataclass(frozen=True)
class OutcomeStep:
    """One validated outcome of a rule or of a forced plan (details with their defaults)."""

    outcome: str
    delay_seconds: float
    details: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "delay_seconds": self.delay_seconds, "details": dict(self.details)}


@dataclass(frozen=True)
class PlannedOutcome:
    """An outcome planned for one ENS; `source` is "forced", "rule:<id>" or "default"."""

    outcome: str
    event: str | None
    delay_seconds: float
    details: Mapping[str, Any]
    source: str
    forced_id: int | None = None  # the forced-outcomes row it came from, consumed when scheduled

    def context(self) -> dict[str, Any]:
        """The event context of its timer (recorded in the lifecycle history); a control notification's kind
        is also at the top, where data/notifications.json tells IE3N08 from IE3N09 (`context.kind`)."""
        kind = {"kind": self.details["kind"]} if "kind" in self.details else {}
        return {"outcome": self.outcome, "details": dict(self.details), "source": self.source, **kind}


# Where each condition looks in a filing (elements are unqualified in every ICS2 payload schema).
_PATHS = {"goods_description": (".//descriptionOfGoods",), "hs_code": (".//harmonizedSystemSubHeadingCode",),
          "consignor_name": (".//consignor/name",),
          "route": (".//countriesOfRoutingOfConsignment/country", ".//countriesOfRoutingOfMeansOfTransport/country")}


class _Filing:
    """What the conditions read from one filing, extracted once and only when a condition asks."""

    def __init__(self, root: etree._Element | None, message_type: str, mode: str) -> None:
        self.root, self.message_type, self.mode = root, message_type, mode
        self._seen: dict[str, tuple[str, ...]] = {}

    def texts(self, condition: str) -> tuple[str, ...]:
        if (found := self._seen.get(condition)) is None:
            found = self._seen[condition] = () if self.root is None else tuple(
                (e.text or "").strip() for path in _PATHS[condition] for e in self.root.iterfind(path))
        return found


Condition = Callable[[_Filing], bool]


@dataclass(frozen=True)
class RiskRule:
    id: str
    description: str
    source: str
    match: Mapping[str, Any]  # as written, for listings
    conditions: tuple[tuple[str, Condition], ...]  # (condition name, compiled test)
    outcomes: tuple[OutcomeStep, ...]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "source": self.source, "match": dict(self.match),
                "outcomes": [s.as_json() for s in self.outcomes]}


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    raw = json.loads(resources.files("simulator.ics2").joinpath(DATA).read_text("utf-8"))
    assert isinstance(raw, dict)
    return raw


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value <= MAX_DELAY_SECONDS)


def _strings(value: Any, where: str, p: list[str], *, low: int = 1, high: int = 999, size: int = 512) -> list[str]:
    if (not isinstance(value, list) or not low <= len(value) <= high
            or not all(isinstance(v, str) and v.strip() and len(v) <= size for v in value)):
        p.append(f"{where}: expected a list of {low}..{high} non-empty strings of at most {size} characters")
        return []
    return list(value)


class RiskEngine:
    """The validated rule table and outcome catalogue; `rules` (a list as in risk.json) replaces the file's."""

    def __init__(self, rules: Sequence[Any] | None = None) -> None:
        doc, p = _document(), list[str]()
        top = check_object(doc, DATA, p, ("default_delay_seconds", "default_rule", "screening", "outcomes", "rules"),
                           ("version", "source"))
        delay = top.get("default_delay_seconds")
        if not _number(delay):
            p.append(f"default_delay_seconds: expected seconds from 0 to {MAX_DELAY_SECONDS}")
        self.default_delay_seconds = float(delay) if _number(delay) else 0.0  # type: ignore[arg-type]
        self.default_rule = str(top.get("default_rule", ""))
        screening = check_object(top.get("screening"), "screening", p, ("modes", "message_types", "rule"))
        self.screening_modes = frozenset(screening.get("modes") or ())
        self.screening_types = tuple(screening.get("message_types") or ())
        events = ens_machine().events
        self.outcomes: dict[str, OutcomeSpec] = {}
        for name, raw in check_object(top.get("outcomes"), "outcomes", p, optional=None).items():
            o = check_object(raw, f"outcomes.{name}", p, ("event", "messages", "details", "rule"),
                             ("defaults", "kind", "air_only"))
            if o.get("event") is not None and o.get("event") not in events:
                p.append(f"outcomes.{name}.event: {o.get('event')!r} is not an event of the ENS lifecycle")
            self.outcomes[name] = OutcomeSpec(name, o.get("event"), tuple(o.get("messages") or ()),
                                              frozenset(o.get("details") or ()), dict(o.get("defaults") or {}),
                                              o.get("kind"), bool(o.get("air_only")), str(o.get("rule", "")))
        if "assessment_complete" not in self.outcomes:
            p.append("outcomes: 'assessment_complete' (the default outcome) is missing")
        raw_rules = top.get("rules") if rules is None else rules
        if not isinstance(raw_rules, list):
            p.append("rules: expected a list")
            raw_rules = []
        self.rules = tuple(self._rule(item, f"rules[{i}]", p) for i, item in enumerate(raw_rules))
        ids = [r.id for r in self.rules]
        p.extend(f"rules: id {i!r} used twice" for i in sorted({i for i in ids if ids.count(i) > 1}))
        if p:
            raise RiskDataError(f"risk rules ({DATA})", p)

    # --- loading ------------------------------------------------------------------------------------

    def check_outcomes(self, raw: Any, where: str, p: list[str]) -> tuple[OutcomeStep, ...]:
        """A list of {outcome, delay_seconds (0..200 days, default 0), details}; problems go to `p`."""
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_OUTCOMES:
            p.append(f"{where}: expected a list of 1..{MAX_OUTCOMES} {{outcome, delay_seconds, details}}")
            return ()
        steps = []
        for i, item in enumerate(raw):
            at = f"{where}[{i}]"
            o = check_object(item, at, p, ("outcome",), ("delay_seconds", "details"))
            spec = self.outcomes.get(str(o.get("outcome")))
            if spec is None:
                if "outcome" in o:
                    p.append(f"{at}.outcome: unknown outcome {o['outcome']!r} (known: {', '.join(self.outcomes)})")
                continue
            delay = o.get("delay_seconds", 0)
            if not _number(delay):
                p.append(f"{at}.delay_seconds: expected a finite number of seconds from 0 to {MAX_DELAY_SECONDS} "
                         f"(200 days), got {delay!r}")
            steps.append(OutcomeStep(spec.name, float(delay) if _number(delay) else 0.0,
                                     self._details(spec, o.get("details", {}), f"{at}.details", p)))
        return tuple(steps)

    def _details(self, spec: OutcomeSpec, raw: Any, where: str, p: list[str]) -> dict[str, Any]:
        """Detail keys per outcome (risk.json `outcomes.<name>.details`): referral (an..70, IE3Q01/Q02/Q03
        referralRequestReference), response_method ("1" IE3R02 | "2" amendment, IE3Q02), request_details
        (1..999 texts of an..512), kind (fixed by the outcome: IE3N08 first-entry / IE3N09 aeo)."""
        if not isinstance(raw, dict):
            p.append(f"{where}: expected an object")
            return {}
        allowed = ", ".join(sorted(spec.details)) or "none"
        p.extend(f"{where}: outcome {spec.name!r} takes no detail {k!r} (allowed: {allowed})"
                 for k in sorted(set(raw) - spec.details))
        details = {**spec.defaults, **raw, **({"kind": spec.kind} if spec.kind else {})}
        if "referral" in raw and not (isinstance(raw["referral"], str) and 0 < len(raw["referral"].strip()) <= 70):
            p.append(f"{where}.referral: expected a non-empty string of at most 70 characters")
        if "response_method" in details and details["response_method"] not in ("1", "2"):
            p.append(f"{where}.response_method: expected \"1\" (answer by IE3R02) or \"2\" (answer by amendment)")
        if "request_details" in details:
            _strings(details["request_details"], f"{where}.request_details", p)
        if "kind" in raw and raw["kind"] != spec.kind:
            p.append(f"{where}.kind: outcome {spec.name!r} is always kind {spec.kind!r}")
        return {k: v for k, v in details.items() if k in spec.details}

    def _rule(self, item: Any, where: str, p: list[str]) -> RiskRule:
        r = check_object(item, where, p, ("id", "description", "source", "match", "outcomes"))
        where = f"{where} ({r.get('id')!r})"
        match = check_object(r.get("match"), f"{where}.match", p, (), _CONDITIONS)
        if not match and isinstance(r.get("match"), dict):
            p.append(f"{where}.match: give at least one condition ({', '.join(_CONDITIONS)})")
        conditions = tuple((name, c) for name, value in sorted(match.items())
                           if (c := _condition(name, value, f"{where}.match.{name}", p)) is not None)
        steps = self.check_outcomes(r.get("outcomes"), f"{where}.outcomes", p)
        if any(self.outcomes[s.outcome].air_only for s in steps):  # which filings can the rule match at all?
            kinds = [c for name, c in conditions if name in ("mode", "message_types")]
            admitted = [m for m, e in catalogue().items() if e.kind in ("filing", "amendment")
                        and all(c(_Filing(None, m, e.mode)) for c in kinds)]
            if wrong := [m for m in admitted if not self.screening_allowed(m, catalogue()[m].mode)]:
                p.append(f"{where}: an air-only outcome (HRCM screening, IE3Q03) on a rule that can match non-air "
                         f"filings {', '.join(wrong[:8])}{' ...' if len(wrong) > 8 else ''}; restrict it with "
                         "'mode' or 'message_types'")
        return RiskRule(str(r.get("id", "")), str(r.get("description", "")), str(r.get("source", "")), match,
                        conditions, steps)

    # --- planning -----------------------------------------------------------------------------------

    def screening_allowed(self, message_type: str, mode: str) -> bool:
        """HRCM screening (IE3Q03) only for a consignment by air (risk.json `screening`)."""
        return mode in self.screening_modes or any(fnmatchcase(message_type, t) for t in self.screening_types)

    def planned(self, steps: Iterable[OutcomeStep], *, mrn: str, source: str, message_type: str, mode: str,
                forced_id: int | None = None) -> list[PlannedOutcome]:
        """Steps as planned outcomes for one ENS: referrals derived where needed, air-only steps left out of
        the plan of a non-air ENS (a forced plan set by LRN before the filing; the control API refuses the rest)."""
        out = []
        for index, step in enumerate(steps):
            spec = self.outcomes[step.outcome]
            if spec.air_only and not self.screening_allowed(message_type, mode):
                continue
            details = dict(step.details)
            if "referral" in spec.details and "referral" not in details:
                details["referral"] = referral_reference(mrn, source, index)
            out.append(PlannedOutcome(step.outcome, spec.event, step.delay_seconds, details, source, forced_id))
        return out

    def plan(self, conn: Connection, *, root: etree._Element | None, message_type: str, mode: str,
             lrn: str | None, mrn: str, exclude_rules: Collection[str] = ()) -> list[PlannedOutcome]:
        """The outcomes for one registered ENS (reads only): forced ones for its MRN, else its LRN; else the
        first rule (not in `exclude_rules`) whose conditions all hold; else the default."""
        _, rows = _PENDING.run(conn, {"lrn": lrn, "mrn": mrn})
        forced = [r for r in rows if (r[1], r[2]) in (("mrn", mrn), ("lrn", lrn))]
        if forced:
            forced_id, _, _, raw = max(forced, key=lambda r: (r[1] == "mrn", r[0]))
            steps = [OutcomeStep(s["outcome"], float(s["delay_seconds"]), s["details"]) for s in json.loads(raw)]
            return self.planned(steps, mrn=mrn, source=FORCED, message_type=message_type, mode=mode,
                                forced_id=int(forced_id))
        filing = _Filing(root, message_type, mode)
        for rule in self.rules:
            if rule.id not in exclude_rules and all(condition(filing) for _, condition in rule.conditions):
                return self.planned(rule.outcomes, mrn=mrn, source=RULE + rule.id, message_type=message_type,
                                    mode=mode)
        spec = self.outcomes["assessment_complete"]
        return [PlannedOutcome(spec.name, spec.event, self.default_delay_seconds, {}, DEFAULT)]

    def schedule(self, conn: Connection, lifecycle: Lifecycle, mrn: str, planned: Sequence[PlannedOutcome],
                 now: datetime, *, first: bool = False) -> list[tuple[str, str, datetime]]:
        """Replace the ENS's pending risk timers by `planned`: timer "risk:<i>" fires outcome i's event at
        `now` + the delays of outcomes 0..i; no_referral arms nothing. Forced rows used are consumed.
        `first`: the ENS's first assessment, nothing pending to replace (saves a read on the filing path).
        Returns (timer, event, due) of each timer armed."""
        for timer in () if first else lifecycle.armed_timers(conn, mrn):
            if timer.scheduled and timer.timer.startswith(TIMER_PREFIX):
                lifecycle.cancel(conn, mrn, timer.timer)
        armed, due = [], instant(now)
        for index, outcome in enumerate(planned):
            due += timedelta(seconds=outcome.delay_seconds)
            if outcome.event is not None:
                name = f"{TIMER_PREFIX}{index}"
                lifecycle.schedule(conn, mrn, name, outcome.event, due, outcome.context(), armed_at=now)
                armed.append((name, outcome.event, due))
        for forced_id in sorted({o.forced_id for o in planned if o.forced_id is not None}):
            _APPLY.run(conn, {"fid": forced_id, "mrn": mrn, "at": iso(instant(now))})
        return armed


def _condition(name: str, value: Any, where: str, p: list[str]) -> Condition | None:
    """One `match` condition, compiled once (regular expressions case-insensitive)."""
    if name in ("goods_description", "consignor_name"):
        try:
            pattern = re.compile(value, re.IGNORECASE) if isinstance(value, str) and value else None
        except re.error as exc:
            p.append(f"{where}: not a regular expression ({exc})")
            return None
        if pattern is None:
            p.append(f"{where}: expected a non-empty regular expression")
            return None
        return lambda f: any(pattern.search(t) for t in f.texts(name))
    items = _strings(value, where, p, high=99, size=22)
    if name == "hs_code":
        p.extend(f"{where}: {v!r} is not an HS prefix of 2 to 6 digits" for v in items
                 if not (v.isdigit() and 2 <= len(v) <= 6))
        prefixes = tuple(items)
        return lambda f: any(code.startswith(prefixes) for code in f.texts(name))
    if name == "route":
        p.extend(f"{where}: {v!r} is not a 2-letter country code" for v in items
                 if not (len(v) == 2 and v.isalpha() and v.isupper()))
        countries = frozenset(items)
        return lambda f: not countries.isdisjoint(f.texts(name))
    if name == "message_types":
        p.extend(f"{where}: {v!r} matches no message of the catalogue" for v in items
                 if not any(fnmatchcase(m, v) for m in catalogue()))
        patterns = tuple(items)
        return lambda f: any(fnmatchcase(f.message_type, t) for t in patterns)
    p.extend(f"{where}: unknown mode {v!r} (known: {', '.join(sorted(MODES))})" for v in items if v not in MODES)
    modes = frozenset(items)
    return lambda f: f.mode in modes


def referral_reference(mrn: str, source: str, index: int) -> str:
    """The referral request reference (an..70) of outcome `index` from `source` for ENS `mrn`: derived, so the
    same scenario always gives the same reference."""
    digest = hashlib.sha256(f"{mrn}|{source}|{index}".encode()).hexdigest()[:10].upper()
    return f"{mrn}-R{index + 1}-{digest}"


def outcome_for_event(event: str, context: Mapping[str, Any] | None = None) -> str | None:
    """The outcome a lifecycle event stands for (the timer context's own "outcome" first; notify_control is
    told apart by details.kind: IE3N09 aeo / IE3N08 first-entry); None if no outcome, or more than one, fits."""
    context = context or {}
    if isinstance(context.get("outcome"), str):
        return str(context["outcome"])
    kind = (context.get("details") or {}).get("kind")
    claims = [s.name for s in default_engine().outcomes.values()
              if s.event == event and (s.kind is None or kind is None or s.kind == kind)]
    return claims[0] if len(claims) == 1 else None


@lru_cache(maxsize=1)
def default_engine() -> RiskEngine:
    """The engine of data/risk.json, built once per process."""
    return RiskEngine()


def reassess(engine: RiskEngine, conn: Connection, lifecycle: Lifecycle, *, root: etree._Element | None,
             message_type: str, mode: str, lrn: str | None, mrn: str, now: datetime) -> list[PlannedOutcome]:
    """Plan and schedule in the caller's transaction: after registration (register, or link_partial completing
    the ENS) and again after an amendment or an IE3R02/IE3R03 answer moved the ENS back to registered
    (data/lifecycle.json: amend, answer_information, answer_screening). Pending risk timers are replaced; a
    rule that already referred this ENS (its outcome fired: lifecycle history) is not applied again, so an
    answered referral does not come back; forced outcomes still pending for the ENS come first. `root`: the
    ENS's current dataset (the filing, or the amendment; None -> only forced outcomes or the default)."""
    fired = {str(t.context.get("source", "")) for t in lifecycle.history(conn, mrn)
             if t.timer and t.timer.startswith(TIMER_PREFIX)}
    planned = engine.plan(conn, root=root, message_type=message_type, mode=mode, lrn=lrn, mrn=mrn,
                          exclude_rules={s.removeprefix(RULE) for s in fired if s.startswith(RULE)})
    engine.schedule(conn, lifecycle, mrn, planned, now)
    return planned
