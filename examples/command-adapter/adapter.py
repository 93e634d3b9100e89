"""A command adapter for the icssim driver contract (icssim-driver/1, docs/driver-contract.md).

The harness runs this script once per action: the request is one JSON document on stdin, the response
is one JSON document on stdout, exit status 0 means "handled". Here the vendor's package is played by
the icssim reference client (scenarios.client.ics2.Ics2Client) and the filing builders
(scenarios.filings); a vendor replaces the ``_do_*`` functions with calls into its own package.

Configuration (environment; `icssim conformance --driver command` sets the ICSSIM_* ones of the run):
  ICSSIM_ADAPTER_STATE       directory for the adapter's state (default: ICSSIM_DRIVER_STATE_DIR)
  ICSSIM_ADAPTER_PKI         test PKI directory with manifest.json, e.g. var/pki (default: ICSSIM_PKI_DIR)
  ICSSIM_ADAPTER_TRADER_URL  the simulator's trader URL (default: ICSSIM_TRADER_URL, else
                             https://127.0.0.1:8443)
  ICSSIM_ADAPTER_PARTY       the party to act as when a request names none (default trader-a)
  ICSSIM_PARTY_DIRS          the package's own identities (`icssim certs issue` folders, os.pathsep-separated),
                             each in place of the sample trader it names

State (``adapter-state.json`` in the state directory), per party: the LRN counter, the messages pulled
but not yet reported (``received``), the MessageIds sent but not yet reported (``sent``), and what the
package must remember to react: the response method of each information request (``requests``) and the
ENS under a Do Not Load (``held``). Each run
holds a lock on the directory, so that two runs never interleave their read-modify-write of the state.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lxml import etree

from scenarios.client.ics2 import Ics2Client, SendOutcome, TraderIdentity
from scenarios.filings.ics2 import build_amendment, build_filing, build_invalidation
from scenarios.filings.ics2_messages import (
    DEFAULT_ISSUED,
    build_arrival,
    build_consultation,
    build_rfi_answer,
    build_screening_answer,
)
from scenarios.filings.ics2_samples import carriage
from scenarios.pki import PkiFiles, TraderFiles
from simulator.codecs.as4 import constants as as4c

CONTRACT = "icssim-driver/1"
# The interface version V1.0 carries the Release 1 messages only; the others go under V2.0.
RELEASE1 = {"IE3F32", "IE3F43", "IE3F44", "IE3A32", "IE3A43", "IE3A44", "IE3Q04", "IE3R02", "IE3R03"}
MAX_PULLS = 100  # guards against an MPC that never empties
DEFAULT_URL = "https://127.0.0.1:8443"
Json = dict[str, Any]


class Party:
    """The identity one request acts as, its state and (opened on first use) its AS4 client."""

    def __init__(self, trader: TraderFiles, pki: PkiFiles, trader_url: str, state: Json) -> None:
        self.trader, self.pki, self.trader_url, self.state = trader, pki, trader_url, state
        self._client: Ics2Client | None = None

    @property
    def eori(self) -> str:
        return self.trader.eori

    def client(self) -> Ics2Client:
        if self._client is None:
            identity = TraderIdentity.from_files(
                self.trader.eori, sealing_key=self.trader.sealing_key, sealing_chain=self.trader.sealing_chain,
                tls_cert=self.trader.tls_cert, tls_key=self.trader.tls_key)
            self._client = Ics2Client(self.trader_url, identity, self.pki.trust_bundle)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def next_lrn(self) -> str:
        self.state["lrn_counter"] += 1
        return f"{self.eori[:2]}ADP{self.state['lrn_counter']:08d}"

    def send(self, action: str, payload: bytes, attachments: list[tuple[str, bytes, str]] | None = None,
             **more: Any) -> Json:
        """Send one message; ``ok`` says it left the package, whatever customs answered (the harness reads
        the answer from the simulator's journal). The AS4 answer is reported as diagnostics."""
        client = self.client()
        client.agreement = as4c.AGREEMENT_V1 if action in RELEASE1 else as4c.AGREEMENT_V2
        outcome: SendOutcome = client.send(action, payload, attachments=attachments or ())
        self.state["sent"].append(outcome.message_id)
        return {"ok": True, "message_id": outcome.message_id, **more,
                "signal": outcome.response.kind if outcome.response else None,
                "ebms_errors": [f"{e.code} {e.detail}" for e in outcome.errors], "problems": outcome.problems}


# -- one function per action -----------------------------------------------------------------------------
def _do_reset(party: Party, request: Json) -> Json:
    party.state.update(_fresh())
    return {"ok": True}


def _do_file(party: Party, request: Json) -> Json:
    data = dict(request["business_data"])
    lrn = request.get("lrn") or data.get("lrn") or party.next_lrn()
    data["lrn"] = lrn
    return party.send(request["message_type"], build_filing(request["message_type"], data), lrn=lrn)


def _do_amend(party: Party, request: Json) -> Json:
    data = dict(request["business_data"])
    data["lrn"] = data.get("lrn") or party.next_lrn()
    filing_type = "IE3F" + request["message_type"][4:]
    payload = build_amendment(filing_type, data, mrn=request["mrn"])
    return party.send(request["message_type"], payload, lrn=data["lrn"])


def _do_invalidate(party: Party, request: Json) -> Json:
    payload = build_invalidation(mrn=request["mrn"], sender=party.eori, declarant=party.eori,
                                 reason=request.get("reason"))
    return party.send("IE3Q04", payload)


def _attachments(request: Json) -> tuple[list[tuple[str, bytes, str]], list[tuple[str, ...]]]:
    """(MIME parts to send, references written in the message) of the request's attachments."""
    items = request.get("attachments") or []
    parts = [(a["content_id"], base64.b64decode(a["content_b64"]), a["mime_type"]) for a in items]
    refs = [(a["content_id"], a["mime_type"], *([a["description"]] if a.get("description") else []))
            for a in items]
    return parts, refs


def _do_answer_information(party: Party, request: Json) -> Json:
    """Answer as the IE3Q02 asks (responseMethod "2": by amendment, when the harness offers one)."""
    offer = request.get("amendment")
    if party.state["requests"].get(request["referral"]) == "2" and offer:
        return _do_amend(party, {"message_type": offer["message_type"], "mrn": request["mrn"],
                                 "business_data": offer["business_data"]})
    parts, refs = _attachments(request)
    payload = build_rfi_answer(party.eori, request["mrn"], request["referral"],
                               [{"text": request.get("text"), "attachments": refs}])
    return party.send("IE3R02", payload, parts)


def _do_answer_screening(party: Party, request: Json) -> Json:
    parts, refs = _attachments(request)
    screening = {"master_document": request.get("master_document"), "house_document": request.get("house_document"),
                 "methods": request.get("methods") or ["XRY"], "attachments": refs,
                 "result": request.get("result") or "Screened, no threat items detected",
                 "screened_at": request.get("screened_at") or DEFAULT_ISSUED}
    payload = build_screening_answer(party.eori, request["mrn"], request["referral"], [screening])
    return party.send("IE3R03", payload, parts)


def _do_arrive(party: Party, request: Json) -> Json:
    held = sorted({entry.get("mrn") for entry in request["entries"]} & set(party.state["held"]))
    if held:  # a Do Not Load (IE3Q01) holds the consignment until its ENS is amended (IE3N10)
        return {"ok": False, "error": f"Do Not Load in force for {', '.join(held)}: the arrival is not notified"}
    sample = carriage(request.get("mode") or "air")  # the means of transport this adapter "operates"
    office = sample["customs_office_of_first_entry"]
    lrn = party.next_lrn()
    payload = build_arrival(lrn, party.eori, party.eori, sample["active_border_transport_means"],
                            request.get("office") or office["reference_number"],
                            request.get("arrived_at") or office["expected_arrival"], request["entries"])
    return party.send("IE3N06", payload, lrn=lrn)


def _do_consult(party: Party, request: Json) -> Json:
    payload = build_consultation(party.eori, DEFAULT_ISSUED, mrn=request.get("mrn"),
                                 master_document=request.get("master_document"),
                                 house_document=request.get("house_document"),
                                 notifications_requested=request.get("notifications_requested"))
    return party.send("IE3Q05", payload)


def _do_poll(party: Party, request: Json) -> Json:
    """Pull the own MPC until it is empty; each message is acknowledged by the client's signed receipt, and
    processed once: a message delivered again (same MessageId) is acknowledged but not reported again."""
    problems: list[str] = []
    count = 0
    for _ in range(MAX_PULLS):
        outcome = party.client().pull()
        problems += outcome.problems
        message = outcome.user_message
        if message is None or message.user_message is None:
            break
        count += 1
        if message.message_id in party.state["processed"]:
            continue  # delivered again (same MessageId): acknowledged above, not processed twice
        party.state["processed"].append(message.message_id)
        payload = message.payloads[0].content if message.payloads else b""
        references = _references(payload)
        party.state["received"].append({
            "action": message.user_message.action, "message_id": message.message_id,
            "ref_to_message_id": message.ref_to_message_id, **references,
            "payload_b64": base64.b64encode(payload).decode("ascii")})
        _remember(party.state, message.user_message.action, payload, references["mrn"])
    return {"ok": True, "count": count, "problems": problems}


def _remember(state: Json, action: str, payload: bytes, mrn: str | None) -> None:
    """What the package must know to react: the response method each information request asks for, and
    the ENS under a Do Not Load until an amendment of it is accepted."""
    if action == "IE3Q02":
        root = etree.fromstring(payload, etree.XMLParser(resolve_entities=False, no_network=True))
        referral = next((el.text for el in root.iter("referralRequestReference")), None)
        state["requests"][referral or ""] = next((el.text for el in root.iter("responseMethod")), "1")
    elif action == "IE3Q01" and mrn and mrn not in state["held"]:
        state["held"].append(mrn)
    elif action == "IE3N10" and mrn in state["held"]:
        state["held"].remove(mrn)


def _references(payload: bytes) -> dict[str, str | None]:
    """The MRN and LRN a customs message carries (top-level elements of every ICS2 reply)."""
    try:
        root = etree.fromstring(payload, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return {"mrn": None, "lrn": None}
    return {"mrn": root.findtext("MRN"), "lrn": root.findtext("LRN")}


def _do_received(party: Party, request: Json) -> Json:
    messages, party.state["received"] = party.state["received"], []
    return {"ok": True, "messages": messages}


def _do_sent(party: Party, request: Json) -> Json:
    message_ids, party.state["sent"] = party.state["sent"], []
    return {"ok": True, "message_ids": message_ids}


ACTIONS: dict[str, Callable[[Party, Json], Json]] = {
    "reset": _do_reset, "file": _do_file, "amend": _do_amend, "invalidate": _do_invalidate,
    "answer_information": _do_answer_information, "answer_screening": _do_answer_screening,
    "arrive": _do_arrive, "consult": _do_consult, "poll": _do_poll, "received": _do_received, "sent": _do_sent,
}


# -- plumbing --------------------------------------------------------------------------------------------
def _fresh() -> Json:
    return {"lrn_counter": 0, "received": [], "sent": [], "requests": {}, "held": [], "processed": []}


@contextmanager
def _locked_state(directory: Path) -> Iterator[Json]:
    """The state of every party, written back (atomically) when the action is done."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "adapter-state.json"
    with (directory / "adapter.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"parties": {}}
        yield state
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(scratch, path)


def _trader(pki: PkiFiles, name: str) -> TraderFiles | None:
    """A party by its name in the PKI manifest, or by its EORI."""
    return pki.traders.get(name) or next((t for t in pki.traders.values() if t.eori == name), None)


def handle(request: Json, environ: dict[str, str]) -> Json:
    action = request.get("action")
    if request.get("contract") != CONTRACT:
        return {"ok": False, "error": f"this adapter speaks {CONTRACT}, not {request.get('contract')!r}"}
    if action not in ACTIONS:
        return {"ok": False, "unsupported": True, "error": f"unknown action {action!r}"}
    # the package's own identities (`icssim conformance --party DIR`) act in place of the sample traders
    own = [Path(d) for d in environ.get("ICSSIM_PARTY_DIRS", "").split(os.pathsep) if d]
    pki = PkiFiles.load(Path(environ["ICSSIM_ADAPTER_PKI"])).with_parties(own)
    trader_url = environ.get("ICSSIM_ADAPTER_TRADER_URL") or environ.get("ICSSIM_TRADER_URL") or DEFAULT_URL
    name = request.get("party") or environ.get("ICSSIM_ADAPTER_PARTY", "trader-a")
    with _locked_state(Path(environ["ICSSIM_ADAPTER_STATE"])) as state:
        if action == "reset" and request.get("party") is None:
            state["parties"] = {}  # forget everything, for every party
            return {"ok": True}
        trader = _trader(pki, name)
        if trader is None:
            return {"ok": False, "error": f"no party {name!r} in {pki.directory / 'manifest.json'}"}
        party = Party(trader, pki, trader_url, state["parties"].setdefault(trader.name, _fresh()))
        try:
            return ACTIONS[action](party, request)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # The package could not do it (connection refused, data it cannot map...): a handled failure.
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            party.close()


def main() -> int:
    environ = dict(os.environ)
    fallbacks = (("ICSSIM_ADAPTER_STATE", "ICSSIM_DRIVER_STATE_DIR"), ("ICSSIM_ADAPTER_PKI", "ICSSIM_PKI_DIR"))
    for name, fallback in fallbacks:
        environ[name] = environ.get(name) or environ.get(fallback, "")
    missing = [name for name in ("ICSSIM_ADAPTER_STATE", "ICSSIM_ADAPTER_PKI") if not environ[name]]
    if missing:
        print(f"adapter: set {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        request = json.load(sys.stdin)
    except ValueError as exc:
        print(f"adapter: the request is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(request, dict):
        print("adapter: the request is not a JSON object", file=sys.stderr)
        return 2
    print(f"adapter: {request.get('action')} as {request.get('party') or 'the default party'}", file=sys.stderr)
    response = handle(request, environ)
    json.dump(response, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
