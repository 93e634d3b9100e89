"""`icssim ens|outcomes|faults`: set and read the ICS2 scene from the command line, over the control API.

- `icssim ens list [--state S] [--lrn L] [--mrn M]` and `icssim ens history MRN`: the ENS with their
  lifecycle state; one ENS's steps (each with the rule it followed), armed timers and referrals;
- `icssim ens event MRN EVENT [key=value ...]`: move an ENS as customs would (e.g. `present`);
- `icssim outcomes force (--lrn L | --mrn M) OUTCOME[@DELAY] ...` (rfi, hrcm, dnl, assessment_complete,
  aeo_control, control_at_first_entry, no_referral; DELAY in seconds), `outcomes list|clear`;
- `icssim faults add KIND [--party P] [--action A] [--count N] [--seconds S] [--probability P]`
  (delay_reply, drop_receipt, duplicate_delivery, msh_unavailable), `faults list|clear`.
Everything is deterministic for a seed (simulator/core/faults.py, simulator/ics2/risk.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

Common = Callable[[argparse.ArgumentParser], None]
ControlFactory = Callable[[argparse.Namespace], Any]


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _outcome(text: str) -> dict[str, Any]:
    name, _, delay = text.partition("@")
    try:
        return {"outcome": name, "delay_seconds": float(delay) if delay else 0.0}
    except ValueError:
        raise argparse.ArgumentTypeError(f"OUTCOME[@DELAY] expected, got {text!r}") from None


def _context(pairs: list[str]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"context must be key=value, got {pair!r}")
        context[key] = {"true": True, "false": False}.get(value, value)
    return context


def add_scene_parsers(sub: Any, common: Common, control: ControlFactory) -> None:
    ens = sub.add_parser("ens", help="ICS2 ENS: list, history, customs-side events").add_subparsers(
        dest="ens_command", required=True)
    p = ens.add_parser("list", help="the ENS filings with their lifecycle state")
    common(p)
    for name in ("state", "lrn", "mrn", "sender"):
        p.add_argument(f"--{name}")
    p.set_defaults(func=lambda a: _print(control(a).ics2_ens(
        **{k: getattr(a, k) for k in ("state", "lrn", "mrn", "sender") if getattr(a, k)})))
    p = ens.add_parser("history", help="one ENS: steps with their rules, timers, referrals")
    common(p)
    p.add_argument("mrn")
    p.set_defaults(func=lambda a: _print(control(a).ics2_history(a.mrn)))
    p = ens.add_parser("event", help="fire a lifecycle event as customs would (e.g. arrive, present)")
    common(p)
    p.add_argument("mrn")
    p.add_argument("event")
    p.add_argument("context", nargs="*", help="key=value context of the event")
    p.set_defaults(func=lambda a: _print(control(a).ics2_fire(a.mrn, a.event, **_context(a.context))))

    outcomes = sub.add_parser("outcomes", help="force ICS2 risk outcomes for an LRN or MRN").add_subparsers(
        dest="outcomes_command", required=True)
    p = outcomes.add_parser("force")
    common(p)
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--lrn")
    key.add_argument("--mrn")
    p.add_argument("outcomes", nargs="+", type=_outcome, metavar="OUTCOME[@DELAY]")
    p.set_defaults(func=lambda a: _print(control(a).ics2_force_outcomes(a.outcomes, lrn=a.lrn, mrn=a.mrn)))
    p = outcomes.add_parser("list")
    common(p)
    p.set_defaults(func=lambda a: _print(control(a).ics2_forced_outcomes()))
    p = outcomes.add_parser("clear")
    common(p)
    p.add_argument("--lrn")
    p.add_argument("--mrn")
    p.set_defaults(func=lambda a: _print({"removed": control(a).ics2_clear_outcomes(lrn=a.lrn, mrn=a.mrn)}))

    faults = sub.add_parser("faults", help="inject faults into the scene").add_subparsers(
        dest="faults_command", required=True)
    p = faults.add_parser("add")
    common(p)
    p.add_argument("kind", choices=("delay_reply", "drop_receipt", "duplicate_delivery", "msh_unavailable"))
    p.add_argument("--party")
    p.add_argument("--action", help="message id pattern, e.g. IE3R01 or IE3Q0?")
    p.add_argument("--count", type=int)
    p.add_argument("--seconds", type=float, help="delay_reply: the delay; msh_unavailable: the window")
    p.add_argument("--probability", type=float)
    p.set_defaults(func=lambda a: _print(control(a).add_fault(a.kind, **{
        k: getattr(a, k) for k in ("party", "action", "count", "seconds", "probability")
        if getattr(a, k) is not None})))
    p = faults.add_parser("list")
    common(p)
    p.set_defaults(func=lambda a: _print(control(a).faults()))
    p = faults.add_parser("clear")
    common(p)
    p.set_defaults(func=lambda a: _print({"removed": control(a).clear_faults()}))
