"""The ICS2 profile plugged into the app factory: trader endpoint, control endpoints, resources.

Resources are built once per process here: security material (keys, trust anchors, CRL), compiled
schemas and rules (DESIGN.md, "Fast on the hot path").
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import func, select

from simulator.core.context import SimContext, sim_context
from simulator.core.lifecycle import Lifecycle, TransitionRefused, UnknownEvent, UnknownInstance
from simulator.core.timers import lifecycle_instances
from simulator.ics2 import models
from simulator.ics2.filings import FilingDesk
from simulator.ics2.lifecycle import MACHINE, ens_lifecycle
from simulator.ics2.msh import Ics2Msh
from simulator.ics2.validation import load_schema_set
from simulator.ics2.views import MSH_KEY, ics2_trader
from simulator.trust.material import SecurityMaterial

NAME = "ics2"
ics2_control = Blueprint("ics2_control", __name__, url_prefix="/_sim/ics2")


def _lifecycle(ctx: SimContext) -> Lifecycle:
    return ens_lifecycle({"completion_timer_seconds": float(ctx.config.completion_timer_seconds)})


def init_trader(app: Flask, ctx: SimContext) -> None:
    material = SecurityMaterial.from_pki(ctx.config.pki)
    schemas = load_schema_set(ctx.config.official_xsd_dir)  # compiled once per process (cached)
    desk = FilingDesk(schemas, mrn_country=ctx.config.mrn_country, lifecycle=_lifecycle(ctx))
    app.extensions[MSH_KEY] = Ics2Msh(ctx, material, desk)
    app.register_blueprint(ics2_trader)


def init_control(app: Flask, ctx: SimContext) -> None:
    app.register_blueprint(ics2_control)
    lifecycle = _lifecycle(ctx)

    def fire_due_timers(now: datetime) -> None:
        """Timers due at the new simulated time fire in order (completion timer, 200-day expiry)."""
        ctx.store.transact(lambda conn: lifecycle.run_due(conn, now))

    ctx.clock_hooks.append(fire_due_timers)
    app.extensions["icssim.ics2.lifecycle"] = lifecycle


@ics2_control.get("/ens")
def ens_list() -> Response:
    """ENS filings with their state; filters: lrn, mrn, sender, state."""
    table = models.ens
    life = lifecycle_instances
    query = select(table.c.id, table.c.lrn, table.c.mrn, table.c.message_type, table.c.sender,
                   table.c.declarant, table.c.state, table.c.message_id, table.c.agreement,
                   table.c.filed_at, table.c.errors, life.c.state.label("lifecycle_state")
                   ).select_from(table.outerjoin(life, (life.c.entity_id == table.c.mrn)
                                                 & (life.c.machine == MACHINE)))
    for name in ("lrn", "mrn", "sender", "state", "message_id"):
        value = request.args.get(name)
        if value:
            query = query.where(table.c[name] == value)
    with sim_context().store.read() as conn:
        rows = [dict(r) for r in conn.execute(query.order_by(table.c.id).limit(5000)).mappings()]
    return jsonify(ens=rows)


@ics2_control.get("/ens/stats")
def ens_stats() -> Response:
    """Number of ENS filings per state."""
    table = models.ens
    with sim_context().store.read() as conn:
        rows = conn.execute(select(table.c.state, func.count()).group_by(table.c.state)).all()
    return jsonify(states={state: count for state, count in rows})


@ics2_control.post("/ens/<mrn>/events")
def ens_event(mrn: str) -> tuple[Response, int]:
    """Fire a lifecycle event for one ENS as customs would (e.g. {"event": "present"}), like moto's
    state-transition API: the scene moves without a trader message. Refused -> 409 with the rule."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return jsonify(error="Bad Request", detail='give {"event": NAME, ...context}'), 400
    context = {k: v for k, v in data.items() if k != "event"}
    lifecycle: Lifecycle = current_app.extensions["icssim.ics2.lifecycle"]
    ctx = sim_context()
    now = ctx.clock.now()
    try:
        moved = ctx.store.transact(lambda conn: lifecycle.fire(conn, mrn, data["event"], now, **context))
    except UnknownInstance:
        return jsonify(error="Not Found", detail=f"no ENS lifecycle for MRN {mrn}"), 404
    except UnknownEvent as exc:
        return jsonify(error="Bad Request", detail=str(exc)), 400
    except TransitionRefused as exc:
        return jsonify(error="Conflict", code=exc.code, detail=exc.detail, rule=exc.rule), 409
    return jsonify(mrn=mrn, event=data["event"], from_state=moved.from_state, state=moved.to_state), 200
