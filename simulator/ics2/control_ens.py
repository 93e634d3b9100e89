"""Control endpoints over the ENS: list, statistics, history, and customs-side lifecycle events.

Like moto's state-transition API: the scene moves without a trader message, and what the step sends
(notifications, copies) goes out as if customs had acted (simulator/ics2/effects.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import func, select

from simulator.core.clock import iso
from simulator.core.context import sim_context
from simulator.core.lifecycle import TransitionRefused, UnknownEvent, UnknownInstance
from simulator.core.timers import lifecycle_instances
from simulator.ics2 import models
from simulator.ics2.lifecycle import MACHINE
from simulator.ics2.runtime import RUNTIME_KEY, Ics2Runtime

ics2_control = Blueprint("ics2_control", __name__, url_prefix="/_sim/ics2")


def _runtime() -> Ics2Runtime:
    runtime: Ics2Runtime = current_app.extensions[RUNTIME_KEY]
    return runtime


@ics2_control.get("/ens")
def ens_list() -> Response:
    """ENS filings with their state; filters: lrn, mrn, sender, state, message_id, entity."""
    table = models.ens
    life = lifecycle_instances
    query = select(table.c.id, table.c.lrn, table.c.mrn, table.c.message_type, table.c.sender,
                   table.c.declarant, table.c.state, table.c.message_id, table.c.agreement,
                   table.c.filed_at, table.c.errors, table.c.entity, table.c.role, table.c.master_document,
                   life.c.state.label("lifecycle_state")
                   ).select_from(table.outerjoin(life, (life.c.entity_id == table.c.entity)
                                                 & (life.c.machine == MACHINE)))
    for name in ("lrn", "mrn", "sender", "state", "message_id", "entity"):
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


@ics2_control.get("/ens/<mrn>/history")
def ens_history(mrn: str) -> tuple[Response, int]:
    """The lifecycle of the ENS an MRN belongs to: state, every step with its rule, armed timers, referrals."""
    runtime = _runtime()
    with sim_context().store.read() as conn:
        row = conn.execute(select(models.ens.c.entity).where(models.ens.c.mrn == mrn)).first()
        entity = str(row[0]) if row and row[0] else mrn
        instance = runtime.lifecycle.get(conn, entity)
        if instance is None:
            return jsonify(error="Not Found", detail=f"no ENS lifecycle for MRN {mrn}"), 404
        steps = [{"seq": t.seq, "kind": t.kind, "event": t.event, "from": t.from_state, "to": t.to_state,
                  "at": iso(t.at), "rule": t.rule, "timer": t.timer, "context": dict(t.context)}
                 for t in runtime.lifecycle.history(conn, entity)]
        timers = [{"timer": t.timer, "event": t.event, "due": t.due_at}
                  for t in runtime.lifecycle.armed_timers(conn, entity)]
        refs = [dict(r) for r in conn.execute(select(models.referrals).where(models.referrals.c.entity == entity)
                                              .order_by(models.referrals.c.id)).mappings()]
    return jsonify(mrn=mrn, entity=entity, state=instance.state, history=steps, timers=timers,
                   referrals=refs), 200


@ics2_control.post("/ens/<mrn>/events")
def ens_event(mrn: str) -> tuple[Response, int]:
    """Fire a lifecycle event for one ENS as customs would (e.g. {"event": "present"}). Refused -> 409."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return jsonify(error="Bad Request", detail='give {"event": NAME, ...context}'), 400
    context = {k: v for k, v in data.items() if k != "event"}
    runtime = _runtime()
    ctx = sim_context()
    now = ctx.clock.now()

    def work(conn):  # type: ignore[no-untyped-def]
        row = conn.execute(select(models.ens.c.entity).where(models.ens.c.mrn == mrn)).first()
        entity = str(row[0]) if row and row[0] else mrn
        moved = runtime.lifecycle.fire(conn, entity, data["event"], now, **context)
        runtime.settle(conn, [moved], now)
        return moved

    try:
        moved = ctx.store.transact(work)
    except UnknownInstance:
        return jsonify(error="Not Found", detail=f"no ENS lifecycle for MRN {mrn}"), 404
    except UnknownEvent as exc:
        return jsonify(error="Bad Request", detail=str(exc)), 400
    except TransitionRefused as exc:
        return jsonify(error="Conflict", code=exc.code, detail=exc.detail, rule=exc.rule), 409
    return jsonify(mrn=mrn, event=data["event"], from_state=moved.from_state, state=moved.to_state), 200
