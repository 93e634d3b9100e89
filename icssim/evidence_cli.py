"""`icssim evidence build|verify|diff`: the signed evidence pack of a conformance run (scenarios/evidence.py).

- `icssim evidence build REPORTS [--out PACK.zip] [--capabilities FILE]
  [--evidence-key KEY --evidence-cert CHAIN]`: sign the run in REPORTS; by default with the test PKI's
  harness certificate (`harness/evidence.pem`), with a lab's own key and chain when given;
- `icssim evidence verify PACK.zip [--trust-anchor ROOT.pem]`: prints OK or every problem; exit 0 / 1;
- `icssim evidence diff A.zip B.zip [--trust-anchor ROOT.pem]`: verifies both, then prints what changed
  (product, suite, summary, scenario and requirement verdicts); exit 0, or 2 with the problems when
  a pack does not verify.
The trust anchor defaults to the test PKI's `ca/root.pem` (the `--pki-dir` / configured PKI).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

Common = Callable[[argparse.ArgumentParser], None]


def add_evidence_parser(sub: Any, common: Common) -> None:
    """Register `icssim evidence ...` on the top-level subparsers ``sub``."""
    evidence = sub.add_parser("evidence", help="build, verify and compare signed evidence packs").add_subparsers(
        dest="evidence_command", required=True)
    p = evidence.add_parser("build", help="sign the reports of a conformance run into an evidence pack")
    common(p)
    p.add_argument("reports", type=Path, help="the run's reports directory (with run.json, run-spec.json)")
    p.add_argument("--out", type=Path, help="default: REPORTS/evidence-<product>-<version>.zip")
    p.add_argument("--capabilities", type=Path, help="the capability file of the run, packed as given")
    p.add_argument("--evidence-key", dest="evidence_key", type=Path, help="a lab's own signing key (PEM)")
    p.add_argument("--evidence-cert", dest="evidence_cert", type=Path,
                   help="its certificate chain, signing certificate first (PEM)")
    p.set_defaults(func=cmd_build)
    p = evidence.add_parser("verify", help="check an evidence pack's signature, chain and contents")
    common(p)
    p.add_argument("pack", type=Path)
    _anchor_option(p)
    p.set_defaults(func=cmd_verify)
    p = evidence.add_parser("diff", help="verdict changes between two evidence packs")
    common(p)
    p.add_argument("a", type=Path, metavar="A.zip")
    p.add_argument("b", type=Path, metavar="B.zip")
    _anchor_option(p)
    p.set_defaults(func=cmd_diff)


def _anchor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-anchor", dest="trust_anchor", type=Path,
                        help="PEM of the root(s) to trust; default: ca/root.pem of the test PKI")


def _pki_dir(args: argparse.Namespace) -> Path:
    from simulator.core.config import load_config

    overrides = {name: getattr(args, name) for name in ("var_dir", "pki_dir") if getattr(args, name, None)}
    return Path(load_config(file=getattr(args, "config", None), overrides=overrides).pki)


def _trust_anchor(args: argparse.Namespace) -> Path:
    return Path(args.trust_anchor) if args.trust_anchor else _pki_dir(args) / "ca" / "root.pem"


def cmd_build(args: argparse.Namespace) -> int:
    from scenarios.evidence import (
        build_pack,
        capability_extra,
        collect_versions,
        default_pack_path,
        harness_credentials,
    )

    if (args.evidence_key is None) != (args.evidence_cert is None):
        raise ValueError("--evidence-key and --evidence-cert go together")
    if args.evidence_key is None:
        chain, key = harness_credentials(_pki_dir(args))
    else:
        chain, key = args.evidence_cert, args.evidence_key
    pack = build_pack(args.reports, args.out or default_pack_path(args.reports), key_path=key, chain_path=chain,
                      extra=capability_extra(args.capabilities), versions=collect_versions())
    print(f"evidence pack: {pack}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from scenarios.evidence_verify import verify_pack

    result = verify_pack(args.pack, trust_anchor=_trust_anchor(args))
    if not result.ok:
        print(f"FAILED {args.pack}: {len(result.problems)} problem(s)")
        for problem in result.problems:
            print(f"  - {problem}")
        return 1
    product = result.product if isinstance(result.product, dict) else {}
    summary = result.summary if isinstance(result.summary, dict) else {}
    counts = ", ".join(f"{verdict} {count}" for verdict, count in sorted(summary.items()))
    print(f"OK {args.pack}: {product.get('name', '?')} {product.get('version', '?')}; {counts}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from scenarios.evidence_diff import diff_packs
    from scenarios.evidence_verify import verify_pack

    anchor, failed = _trust_anchor(args), False
    for pack in (args.a, args.b):
        result = verify_pack(pack, trust_anchor=anchor)
        if not result.ok:
            failed = True
            print(f"{pack} does not verify:")
            print("\n".join(f"  - {problem}" for problem in result.problems))
    if failed:
        return 2
    print(diff_packs(args.a, args.b).render(), end="")
    return 0
