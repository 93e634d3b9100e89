"""Control endpoints of the ICS2 risk engine: forced outcomes and the rule table (`/_sim/ics2/...`).

domain/ics2.md "UK neighbour worth learning from": HMRC's sandbox picks risk outcomes by request headers;
here a scenario forces them through the control API instead (like moto's state-transition API), so the same
run always gives the same verdict. DESIGN.md "Bad input gets a precise protocol answer": every refusal is a
JSON 400 {"error", "detail"} naming the faulty field.

    POST   /_sim/ics2/outcomes  {"lrn"|"mrn": key, "outcomes": [{"outcome", "delay_seconds", "details"}]} -> 201
    GET    /_sim/ics2/outcomes[?lrn=|mrn=]     forced outcomes, pending and applied
    DELETE /_sim/ics2/outcomes?lrn=|mrn=       forget them (timers already armed stay armed)
    GET    /_sim/ics2/risk/rules               the rule table, the outcome catalogue, the default

A forced plan for a key replaces the one still pending for it. Given an MRN whose ENS is registered already
(its lifecycle instance exists), the plan is scheduled at once, at the simulated time, replacing the ENS's
pending risk timers (simulator/ics2/risk.py RiskEngine.schedule); otherwise the filing desk applies it when
the ENS registers. HRCM screening (IE3Q03) is refused for an ENS that is known and not carried by air.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from simulator.core.clock import iso
from simulator.core.context import sim_context
from simulator.core.lifecycle import Lifecycle
from simulator.ics2 import models
from simulator.ics2.catalogue import entry
from simulator.ics2.risk import FORCED, RiskEngine, default_engine, forced_outcomes
from simulator.ics2.runtime import RUNTIME_KEY

ics2_risk_control = Blueprint("ics2_risk_control", __name__, url_prefix="/_sim/ics2")
LIFECYCLE_KEY = "icssim.ics2.lifecycle"
# The forms of the schemas' LrnType (an..22, printable ASCII without spaces) and MrnType (an18: year, country,
# 13 alphanumerics, check digit): domain/ics2.md "Messages" (LRN an..22; MRN exactly 18 characters).
_KEY_FORMS = {"lrn": (re.compile(r"[!-~]{1,22}"), "1 to 22 printable ASCII characters without spaces"),
              "mrn": (re.compile(r"[0-9]{2}[A-Z]{2}[A-Z0-9]{13}[0-9]"),
                      "an MRN of 18 characters: 2 digits, 2 letters, 13 letters or digits, 1 digit")}


def _bad(detail: str) -> tuple[Response, int]:
    return jsonify(error="Bad Request", detail=detail), 400


def _key(source: dict[str, Any]) -> tuple[str, str] | str:
    """("lrn"|"mrn", value), or the problem with the key as a sentence."""
    given = [k for k in ("lrn", "mrn") if source.get(k) not in (None, "")]
    if len(given) != 1:
        return "give exactly one of 'lrn' and 'mrn'"
    kind, value = given[0], source[given[0]]
    form, description = _KEY_FORMS[kind]
    if not isinstance(value, str) or not form.fullmatch(value):
        return f"'{kind}' must be {description}, got {value!r}"
    return kind, value


def _ens(conn: Connection, kind: str, value: str) -> tuple[str, str | None] | None:
    """(message type, lifecycle entity) of the latest filing under the key, or None if there is none yet. The
    entity is the MRN the ENS's lifecycle runs under (linked partial filings share their first filing's)."""
    table = models.ens
    row = conn.execute(select(table.c.message_type, table.c.entity, table.c.mrn).where(table.c[kind] == value)
                       .order_by(table.c.id.desc()).limit(1)).first()
    return None if row is None else (str(row[0]), row[1] or row[2])


def _mode(message_type: str) -> str:
    """The catalogue mode of a message type ("" if unknown)."""
    found = entry(message_type)
    return found.mode if found is not None else ""


def _row(row: Any) -> dict[str, Any]:
    return {"id": row.id, row.key_kind: row.key, "outcomes": json.loads(row.outcomes), "created_at": row.created_at,
            "applied_mrn": row.applied_mrn, "applied_at": row.applied_at}


@ics2_risk_control.post("/outcomes")
def outcomes_force() -> tuple[Response, int]:
    """Force the risk outcomes of one ENS by LRN or MRN (see the module docstring)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _bad('the body must be a JSON object {"lrn"|"mrn": ..., "outcomes": [...]}')
    if unknown := sorted(set(data) - {"lrn", "mrn", "outcomes"}):
        return _bad(f"unknown field(s) {', '.join(map(repr, unknown))}; expected 'lrn' or 'mrn', and 'outcomes'")
    key = _key(data)
    if isinstance(key, str):
        return _bad(key)
    kind, value = key
    engine: RiskEngine = default_engine()
    problems: list[str] = []
    steps = engine.check_outcomes(data.get("outcomes"), "outcomes", problems)
    if problems:
        return _bad("; ".join(problems))
    ctx = sim_context()
    with ctx.store.read() as conn:
        known = _ens(conn, kind, value)
    message_type, entity = known if known else ("", None)
    mode = _mode(message_type)
    if known and any(engine.outcomes[s.outcome].air_only for s in steps) \
            and not engine.screening_allowed(message_type, mode):
        return _bad(f"outcome 'hrcm' (HRCM screening request IE3Q03) is for consignments carried by air only; the "
                    f"ENS with {kind.upper()} {value} is an {message_type} filing (mode {mode or 'unknown'})")
    lifecycle: Lifecycle = current_app.extensions[LIFECYCLE_KEY]
    now = ctx.clock.now()
    stored = json.dumps([s.as_json() for s in steps], sort_keys=True)

    def work(conn: Connection) -> tuple[int, list[dict[str, Any]]]:
        table = forced_outcomes
        replaced = conn.execute(delete(table).where(table.c.key_kind == kind, table.c.key == value,
                                                    table.c.applied_at.is_(None))).rowcount
        inserted = conn.execute(table.insert().values(key_kind=kind, key=value, outcomes=stored,
                                                      created_at=iso(now))).inserted_primary_key
        assert inserted is not None
        forced_id = int(inserted[0])
        target = (entity or value) if kind == "mrn" else None
        if target is None or lifecycle.get(conn, target) is None:
            return replaced, []
        planned = engine.planned(steps, mrn=target, source=FORCED, message_type=message_type, mode=mode,
                                 forced_id=forced_id)
        armed = engine.schedule(conn, lifecycle, target, planned, now)
        return replaced, [{"timer": name, "event": event, "due": iso(due)} for name, event, due in armed]

    replaced, scheduled = ctx.store.transact(work)
    if scheduled and (runtime := current_app.extensions.get(RUNTIME_KEY)) is not None:
        runtime.run_due_timers(now)  # outcomes due now happen now (and send their messages), not at the next tick
    return jsonify({kind: value, "outcomes": [s.as_json() for s in steps], "replaced": replaced,
                    "scheduled": scheduled}), 201


@ics2_risk_control.get("/outcomes")
def outcomes_list() -> Response:
    """Every forced plan in creation order, pending (applied_at null) or applied; filters lrn, mrn."""
    table = forced_outcomes
    query = select(table).order_by(table.c.id)
    for kind in ("lrn", "mrn"):
        if value := request.args.get(kind):
            query = query.where(table.c.key_kind == kind, table.c.key == value)
    with sim_context().store.read() as conn:
        rows = [_row(r) for r in conn.execute(query)]
    return jsonify(outcomes=rows)


@ics2_risk_control.delete("/outcomes")
def outcomes_delete() -> Response | tuple[Response, int]:
    """Forget the forced plans of one LRN or MRN (armed risk timers are not cancelled)."""
    key = _key(dict(request.args))
    if isinstance(key, str):
        return _bad(key)
    kind, value = key
    table = forced_outcomes
    deleted = sim_context().store.transact(
        lambda conn: conn.execute(delete(table).where(table.c.key_kind == kind, table.c.key == value)).rowcount)
    return jsonify({kind: value, "deleted": deleted})


@ics2_risk_control.get("/risk/rules")
def risk_rules() -> Response:
    """The rule table (data/risk.json) as loaded: rules in the order they are tried, the outcome catalogue,
    the default outcome and the screening (air-only) scope."""
    engine = default_engine()
    outcomes = {n: {"event": s.event, "messages": list(s.messages), "details": sorted(s.details),
                    "air_only": s.air_only, "rule": s.rule} for n, s in engine.outcomes.items()}
    return jsonify(rules=[r.as_json() for r in engine.rules], outcomes=outcomes,
                   default={"outcome": "assessment_complete", "delay_seconds": engine.default_delay_seconds,
                            "rule": engine.default_rule},
                   screening={"modes": sorted(engine.screening_modes), "message_types": list(engine.screening_types)})
