"""`icssim` command line: serve the simulator, manage the test PKI and parties, read the journal, run the
reference client and the conformance harness.

This package ties the others together and nothing imports it (see README, "Layout").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from simulator.core.config import SimConfig, load_config


def _config(args: argparse.Namespace) -> SimConfig:
    overrides: dict[str, Any] = {}
    for name in ("var_dir", "pki_dir", "database_url", "trader_port", "control_port", "workers",
                 "threads", "worker_class", "official_xsd_dir", "journal_sync", "clock_mode", "clock_start", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_config(file=getattr(args, "config", None), overrides=overrides)


def _control(args: argparse.Namespace) -> Any:
    from scenarios.simctl import SimControl

    config = _config(args)
    url = args.control_url or config.control_url
    token = args.token or config.control_token
    if token is None:
        try:
            token = config.token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            sys.exit(f"no control token: start the simulator (icssim serve) or pass --token "
                     f"(looked in {config.token_file})")
    return SimControl(url, token)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


# -- commands -------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from simulator.serve import serve

    config = _config(args)
    print(f"ICS2 trader endpoint: {config.trader_url}/ics2/as4 (TLS, client certificate required)")
    print(f"control API:          {config.control_url}/_sim (token in {config.token_file})")
    return serve(config)


def cmd_certs_init(args: argparse.Namespace) -> int:
    from certs.pki import init_test_pki

    directory = args.dir or _config(args).pki
    pki = init_test_pki(Path(directory), force=args.force)
    print(f"test PKI ready in {directory}")
    for trader in pki.traders:
        print(f"  {trader.name:16} {trader.eori:18} {trader.condition}")
    return 0


def cmd_certs_issue(args: argparse.Namespace) -> int:
    from certs.pki import issue_party_certificate, load_test_pki

    pki = load_test_pki(Path(args.dir or _config(args).pki))
    out = Path(args.out)
    issue_party_certificate(pki, name=args.name, eori=args.eori, out_dir=out, purpose=args.purpose)
    what = "sealing and TLS certificates" if args.purpose == "both" else "the access-point server certificate"
    print(f"{what} for {args.eori} written to {out}")
    return 0


def cmd_parties_register(args: argparse.Namespace) -> int:
    control = _control(args)
    result = [control.register(args.eori, Path(args.cert).read_text(), purpose="sealing", name=args.name)]
    if args.tls_cert:
        result.append(control.register(args.eori, Path(args.tls_cert).read_text(), purpose="tls"))
    _print(result)
    return 0


def cmd_parties_list(args: argparse.Namespace) -> int:
    _print(_control(args).parties())
    return 0


def cmd_parties_revoke(args: argparse.Namespace) -> int:
    _print(_control(args).revoke(args.eori, sha256=args.sha256, purpose=args.purpose))
    return 0


def _csv(text: str | None) -> list[str]:
    return [value.strip() for value in (text or "").split(",") if value.strip()]


def cmd_parties_profile(args: argparse.Namespace) -> int:
    control = _control(args)
    if args.channel is None and args.roles is None and args.wants is None and args.ap_url is None:
        _print(control.ics2_profile(args.party_id))
        return 0
    _print(control.ics2_set_profile(args.party_id, roles=_csv(args.roles), channel=args.channel or "pull",
                                    ap_url=args.ap_url, wants=_csv(args.wants)))
    return 0


def cmd_parties_represent(args: argparse.Namespace) -> int:
    control = _control(args)
    if args.remove:
        removed = control.ics2_remove_representation(args.representative, args.declarant)
        _print({"removed": removed})
        return 0 if removed else 1
    _print(control.ics2_add_representation(args.representative, args.declarant))
    return 0


def cmd_journal(args: argparse.Namespace) -> int:
    entries = _control(args).journal(since_id=args.since_id, kind=args.kind, direction=args.direction,
                                     message_id=args.message_id, limit=args.limit)
    if args.json:
        _print(entries)
        return 0
    for e in entries:
        print(f"{e['id']:>6} {e['sim_at']} {e['direction']:>3} {e['kind']:<8} {e['verdict']:<13} "
              f"{e['action'] or '':<7} {e['error_code'] or '':<15} {e['message_id'] or ''}"
              + (f"\n       {e['detail']}" if e.get("detail") else ""))
    return 0


def cmd_clock_advance(args: argparse.Namespace) -> int:
    _print(_control(args).advance_clock(args.seconds))
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    _print(_control(args).reset(parties=args.parties))
    return 0


def cmd_client(args: argparse.Namespace) -> int:
    from scenarios.client.cli import run_client

    config = _config(args)
    return run_client(args, trader_url=config.trader_url, pki_dir=config.pki)


def cmd_conformance(args: argparse.Namespace) -> int:
    from scenarios.runner import run_conformance

    return run_conformance(args, _config(args))


# -- parser ---------------------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--var-dir", dest="var_dir", type=Path)
    parser.add_argument("--pki-dir", dest="pki_dir", type=Path)
    parser.add_argument("--control-url", dest="control_url")
    parser.add_argument("--token")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icssim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the simulator (trader TLS listener + control listener)")
    _common(p)
    for flag, kind in (("--trader-port", int), ("--control-port", int), ("--workers", int),
                       ("--threads", int), ("--worker-class", str), ("--database-url", str),
                       ("--official-xsd-dir", Path),
                       ("--journal-sync", str), ("--clock-mode", str), ("--clock-start", str),
                       ("--seed", int)):
        p.add_argument(flag, dest=flag[2:].replace("-", "_"), type=kind)
    p.set_defaults(func=cmd_serve)

    certs = sub.add_parser("certs", help="the test PKI").add_subparsers(dest="certs_command", required=True)
    p = certs.add_parser("init", help="generate the test PKI (idempotent)")
    _common(p)
    p.add_argument("--dir", type=Path)
    p.add_argument("--force", action="store_true", help="regenerate everything")
    p.set_defaults(func=cmd_certs_init)
    p = certs.add_parser("issue", help="issue a sealing + TLS certificate pair for your own EORI")
    _common(p)
    p.add_argument("--dir", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--eori", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--purpose", choices=("both", "ap-server"), default="both",
                   help="both: sealing + TLS client; ap-server: TLS server certificate of your push endpoint")
    p.set_defaults(func=cmd_certs_issue)

    parties = sub.add_parser("parties", help="party/certificate registry").add_subparsers(
        dest="parties_command", required=True)
    p = parties.add_parser("register", help="register a sealing (and TLS) certificate for an EORI")
    _common(p)
    p.add_argument("--eori", required=True)
    p.add_argument("--cert", required=True, help="PEM of the sealing certificate")
    p.add_argument("--tls-cert", help="PEM of the TLS client certificate")
    p.add_argument("--name")
    p.set_defaults(func=cmd_parties_register)
    p = parties.add_parser("list")
    _common(p)
    p.set_defaults(func=cmd_parties_list)
    p = parties.add_parser("revoke", help="end a certificate registration")
    _common(p)
    p.add_argument("--eori", required=True)
    p.add_argument("--sha256", required=True)
    p.add_argument("--purpose", choices=("sealing", "tls"))
    p.set_defaults(func=cmd_parties_revoke)
    p = parties.add_parser("profile", help="show, or set, an ICS2 party's reply channel and notification wishes")
    _common(p)
    p.add_argument("party_id", help="[systemId@]EORI[@MS] or a bare EORI")
    p.add_argument("--roles", help="comma-separated: declarant,representative,carrier,it-service-provider,filer")
    p.add_argument("--channel", choices=("pull", "push"))
    p.add_argument("--ap-url", dest="ap_url", help="https URL of your access point (required for push)")
    p.add_argument("--wants", help="comma-separated c2t message ids wanted when not the filer, e.g. IE3N04,IE3Q01")
    p.set_defaults(func=cmd_parties_profile)
    p = parties.add_parser("represent", help="record that REPRESENTATIVE (EORI) acts for DECLARANT (EORI)")
    _common(p)
    p.add_argument("representative")
    p.add_argument("declarant")
    p.add_argument("--remove", action="store_true", help="end the representation instead")
    p.set_defaults(func=cmd_parties_represent)

    p = sub.add_parser("journal", help="every message in and out, with verdicts")
    _common(p)
    p.add_argument("--since-id", dest="since_id", type=int, default=0)
    p.add_argument("--kind")
    p.add_argument("--direction", choices=("in", "out"))
    p.add_argument("--message-id", dest="message_id")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_journal)

    clock = sub.add_parser("clock", help="the simulated clock").add_subparsers(dest="clock_command",
                                                                                required=True)
    p = clock.add_parser("advance")
    _common(p)
    p.add_argument("seconds", type=float)
    p.set_defaults(func=cmd_clock_advance)

    p = sub.add_parser("reset", help="wipe the scene (journal, filings, outbox)")
    _common(p)
    p.add_argument("--parties", action="store_true", help="also forget registered parties")
    p.set_defaults(func=cmd_reset)

    from icssim.evidence_cli import add_evidence_parser
    from icssim.scene_cli import add_scene_parsers
    from scenarios.client.cli import add_client_parser
    from scenarios.runner import add_conformance_parser

    add_scene_parsers(sub, _common, _control)
    add_evidence_parser(sub, _common)

    add_client_parser(sub, _common, cmd_client)
    add_conformance_parser(sub, _common, cmd_conformance)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"icssim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
