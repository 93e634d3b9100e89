"""The ICS2 profile plugged into the app factory: trader endpoint, control endpoints, resources.

Resources are built once per process here: security material (keys, trust anchors, CRL), compiled
schemas and rules, the lifecycle and its effects (DESIGN.md, "Fast on the hot path").
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from simulator.core.context import SimContext
from simulator.core.ticker import ticker_for
from simulator.ics2 import models  # noqa: F401  (the profile's tables join the core schema)
from simulator.ics2.control_ens import ics2_control
from simulator.ics2.control_parties import ics2_parties_control
from simulator.ics2.control_risk import ics2_risk_control
from simulator.ics2.filings import FilingDesk
from simulator.ics2.msh import Ics2Msh
from simulator.ics2.push import start_push_delivery
from simulator.ics2.runtime import RUNTIME_KEY, Ics2Runtime
from simulator.ics2.validation import load_schema_set
from simulator.ics2.views import MSH_KEY, ics2_trader
from simulator.trust.material import SecurityMaterial

NAME = "ics2"


def _runtime(app: Flask, ctx: SimContext) -> Ics2Runtime:
    runtime = app.extensions.get(RUNTIME_KEY)
    if runtime is None:
        runtime = app.extensions[RUNTIME_KEY] = Ics2Runtime.build(ctx)
    return runtime


def init_trader(app: Flask, ctx: SimContext) -> None:
    material = SecurityMaterial.from_pki(ctx.config.pki)
    schemas = load_schema_set(ctx.config.official_xsd_dir)  # compiled once per process (cached)
    runtime = _runtime(app, ctx)
    desk = FilingDesk(schemas, mrn_country=ctx.config.mrn_country, lifecycle=runtime.lifecycle,
                      effects=runtime.effects, profiles=runtime.profiles)
    app.extensions[MSH_KEY] = Ics2Msh(ctx, material, desk)
    app.register_blueprint(ics2_trader)


def init_control(app: Flask, ctx: SimContext) -> None:
    app.register_blueprint(ics2_control)
    app.register_blueprint(ics2_parties_control)
    app.register_blueprint(ics2_risk_control)
    runtime = _runtime(app, ctx)

    def fire_due_timers(now: datetime) -> None:
        """Timers due at the new simulated time fire in order (completion timer, 200-day expiry, risk)."""
        runtime.run_due_timers(now)

    ctx.clock_hooks.append(fire_due_timers)
    # With a running clock timers come due by themselves: the ticker fires them (before it pushes).
    ticker_for(app, ctx).add("ics2-timers", lambda: fire_due_timers(ctx.clock.now()))
    app.extensions["icssim.ics2.lifecycle"] = runtime.lifecycle
    # Push delivery: driven by every clock advance; the background ticker runs only in the control server
    # (role "control", one process). Role "all" (Flask test client) also serves traders: no thread there.
    start_push_delivery(app, ctx, background=MSH_KEY not in app.extensions)
