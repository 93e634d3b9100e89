"""The ICS2 profile's long-lived parts, built once per process (DESIGN.md "Fast on the hot path").

Both servers need them: the trader server to answer filings, the control server to move an ENS as
customs would (control API, timers on the simulated clock) and to send what those steps produce.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from simulator.core.context import SimContext
from simulator.core.fastsql import Prepared
from simulator.core.faults import FaultBook
from simulator.core.lifecycle import Lifecycle, Transition
from simulator.ics2.catalogue import entry as catalogue_entry
from simulator.ics2.effects import Effects
from simulator.ics2.lifecycle import ens_lifecycle
from simulator.ics2.models import ens
from simulator.ics2.parties import PartyProfiles
from simulator.ics2.risk import default_engine, reassess

RUNTIME_KEY = "icssim.ics2.runtime"
_FIRST_FILING = Prepared(
    select(ens.c.lrn, ens.c.message_type).where(ens.c.entity == bindparam("entity"))
    .order_by(ens.c.id).limit(bindparam("one")).offset(bindparam("zero")), ("entity", "one", "zero"))
FIRST_ASSESSMENT = frozenset({"register", "link_partial"})  # the steps into `registered` of a new ENS
# Deterministic MessageIds of customs-to-trader messages (same seed + same cause -> same id), UUID@host.
_ID_NAMESPACE = uuid.UUID("6f1c7d52-0b7e-4a59-9d1e-3c2b8f6a4e10")


def c2t_message_id(seed: int | str, kind: str, basis: str) -> str:
    return f"{uuid.uuid5(_ID_NAMESPACE, f'{seed}:{kind}:{basis}')}@sti-taxud.icssim"


@dataclass
class Ics2Runtime:
    ctx: SimContext
    lifecycle: Lifecycle
    profiles: PartyProfiles
    effects: Effects

    @classmethod
    def build(cls, ctx: SimContext) -> Ics2Runtime:
        lifecycle = ens_lifecycle({"completion_timer_seconds": float(ctx.config.completion_timer_seconds)})
        profiles = PartyProfiles(ctx.store)
        seed = ctx.config.seed
        risk = default_engine()

        def assess(conn: Connection, step: Transition, now: datetime, root: etree._Element | None,
                   message_type: str | None) -> None:
            """Risk analysis whenever the ENS (re-)enters `registered` (domain/ics2.md "ENS lifecycle")."""
            _, rows = _FIRST_FILING.run(conn, {"entity": step.entity_id, "one": 1, "zero": 0})
            row = rows[0] if rows else None
            kind = message_type or (str(row[1]) if row else "")
            found = catalogue_entry(kind)
            mode, lrn = (found.mode if found else None) or "", str(row[0]) if row and row[0] else None
            if step.event in FIRST_ASSESSMENT:  # nothing assessed or pending yet: plan and arm, no history
                planned = risk.plan(conn, root=root, message_type=kind, mode=mode, lrn=lrn, mrn=step.entity_id)
                risk.schedule(conn, lifecycle, step.entity_id, planned, now, first=True)
            else:
                reassess(risk, conn, lifecycle, root=root, message_type=kind, mode=mode, lrn=lrn,
                         mrn=step.entity_id, now=now)

        effects = Effects(lifecycle, profiles, lambda kind, basis: c2t_message_id(seed, kind, basis),
                          on_registered=assess, faults=FaultBook(ctx.store, seed))
        return cls(ctx, lifecycle, profiles, effects)

    def settle(self, conn: Connection, transitions: Iterable[Transition], now: datetime) -> None:
        """Send what the steps taken produce (notifications, copies), in the caller's transaction."""
        self.effects.enqueue(conn, self.effects.notices(conn, transitions, now), now)

    def run_due_timers(self, now: datetime) -> int:
        """Fire every lifecycle timer due by `now` (completion timer, 200-day expiry, scheduled risk
        outcomes), each at its due instant, and send what the steps produce; returns the number fired."""

        def work(conn: Connection) -> int:
            firings = self.lifecycle.run_due(conn, now)
            steps = [f.transition for f in firings if f.transition is not None]
            self.settle(conn, steps, now)
            return len(firings)

        # The ticker asks twice a second: look first, without the write lock the filings need.
        with self.ctx.store.read() as conn:
            if not self.lifecycle.has_due(conn, now):
                return 0
        return int(self.ctx.store.transact(work) or 0)
