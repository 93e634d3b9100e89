"""`icssim client send|pull|ping`: the reference client from the command line.

Example (sample trader of the test PKI):
  icssim client send --eori BE0123456789 --cert var/pki/traders/trader-a/sealing-chain.pem \
      --key var/pki/traders/trader-a/sealing.key --tls-cert var/pki/traders/trader-a/tls.pem \
      --tls-key var/pki/traders/trader-a/tls.key filing.xml
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from scenarios.client.ics2 import ClientFaults, Ics2Client, TraderIdentity
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.model import InboundMessage
from simulator.codecs.xmlsafe import parse_xml


def add_client_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None],
                      handler: Callable[[argparse.Namespace], int]) -> None:
    client = sub.add_parser("client", help="the reference ICS2 trader client")
    actions = client.add_subparsers(dest="client_command", required=True)
    for name, text in (("send", "send a filing (the Action is the payload's root element)"),
                       ("pull", "pull the own MPC and acknowledge what arrives"),
                       ("ping", "call the ebMS test service")):
        p = actions.add_parser(name, help=text)
        common(p)
        p.add_argument("--eori", required=True, help="PartyId: [systemId@]EORI[@MS]")
        p.add_argument("--cert", required=True, type=Path,
                       help="sealing certificate path, leaf first (PEM)")
        p.add_argument("--key", required=True, type=Path, help="sealing private key (PEM)")
        p.add_argument("--tls-cert", dest="tls_cert", type=Path, help="TLS client certificate (default --cert)")
        p.add_argument("--tls-key", dest="tls_key", type=Path, help="TLS client key (default --key)")
        p.add_argument("--url", help="trader base URL (default: the configured trader URL)")
        p.add_argument("--ca", type=Path, help="trust bundle for the server (default: the test PKI's)")
        p.add_argument("--agreement", default=as4c.AGREEMENT_V1, choices=as4c.AGREEMENTS)
        if name == "send":
            p.add_argument("file", type=Path, help="the filing XML")
        if name == "pull":
            p.add_argument("--all", action="store_true", help="pull until the MPC is empty")
        p.set_defaults(func=handler)


def _summary(message: InboundMessage | None) -> dict[str, Any]:
    if message is None:
        return {"kind": None}
    out: dict[str, Any] = {"kind": message.kind, "message_id": message.message_id,
                           "ref_to_message_id": message.ref_to_message_id}
    if message.errors:
        out["errors"] = [{"code": e.code, "severity": e.severity, "detail": e.detail,
                          "sub_code": e.sub_code} for e in message.errors]
    if message.user_message is not None:
        out["action"] = message.user_message.action
        out["payloads"] = [p.content.decode("utf-8", "replace") for p in message.payloads]
    return out


def run_client(args: argparse.Namespace, *, trader_url: str, pki_dir: Path) -> int:
    """`trader_url` and `pki_dir` come from the resolved configuration (read by the CLI, not here)."""
    identity = TraderIdentity.from_files(
        args.eori, sealing_key=args.key, sealing_chain=args.cert,
        tls_cert=args.tls_cert or args.cert, tls_key=args.tls_key or args.key)
    ca = args.ca or (pki_dir / "ca" / "trust-bundle.pem")
    client = Ics2Client(args.url or trader_url, identity, ca, agreement=args.agreement,
                        faults=ClientFaults())
    try:
        if args.client_command == "send":
            payload = args.file.read_bytes()
            action = etree.QName(parse_xml(payload)).localname
            outcome = client.send(action, payload)
            result: dict[str, Any] = {"sent": outcome.message_id, "action": action,
                                      "answer": _summary(outcome.response), "problems": outcome.problems}
            ok = outcome.receipt and not outcome.problems
        elif args.client_command == "ping":
            outcome = client.ping()
            result = {"sent": outcome.message_id, "answer": _summary(outcome.response),
                      "problems": outcome.problems}
            ok = outcome.receipt and not outcome.problems
        else:
            pulled: list[dict[str, Any]] = []
            ok = True
            for _ in range(1000 if args.all else 1):
                pull = client.pull()
                pulled.append({"answer": _summary(pull.message), "problems": pull.problems,
                               "receipt_http_status": pull.receipt_answer.status if pull.receipt_answer
                               else None})
                ok = ok and not pull.problems
                if pull.user_message is None:
                    break
            result = {"pulled": pulled}
    finally:
        client.close()
    print(json.dumps(result, indent=2))
    return 0 if ok else 1
