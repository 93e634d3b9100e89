"""A crash of the trader server never loses an acknowledged filing (its own simulator: it gets killed)."""

from __future__ import annotations

import http.client
import itertools
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from load.presign import SignedFiling, presign
from scenarios.pki import PkiFiles
from scenarios.runner import LocalSimulator
from tests.integration.conftest import SimHandle, receipt_problems, start_simulator

pytestmark = pytest.mark.slow

TRADERS = ("trader-a", "trader-b")
THREADS = 4
PER_THREAD = 150
KILL_AFTER = 60  # acknowledged filings before the kill


def _trader_processes(local: LocalSimulator) -> list[psutil.Process]:
    """The trader gunicorn master and its workers: children of `icssim serve` run with --role trader."""
    assert local.process is not None
    found = []
    for child in psutil.Process(local.process.pid).children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if any(a == "--role" and b == "trader" for a, b in itertools.pairwise(command)):
            found.append(child)
    return found


def test_acknowledged_filings_survive_a_sigkill_of_the_trader_server(tmp_path: Path, pki: PkiFiles) -> None:
    """DESIGN.md "Durability": a message is committed to the journal before its receipt leaves, so a crash
    never loses an acknowledged message; ebMS3 duplicate elimination keeps a retried one single. While 4
    threads send distinct filings, the trader server's processes are SIGKILLed; after a restart on the same
    var dir, every filing that got a valid receipt is journaled as accepted and registered, none twice, and
    retrying returns the very receipt given before the crash."""
    filings = presign(pki, TRADERS, THREADS * PER_THREAD)
    batches = [filings[i * PER_THREAD:(i + 1) * PER_THREAD] for i in range(THREADS)]
    var_dir = tmp_path / "var"
    first = start_simulator(var_dir, pki)
    acknowledged: dict[str, bytes] = {}  # MessageId -> the receipt's bytes
    attempted: dict[str, SignedFiling] = {}
    wrong: list[tuple[str, list[str]]] = []
    lock = threading.Lock()
    enough = threading.Event()

    def run(batch: list[SignedFiling]) -> None:
        transports = {name: first.transport(name) for name in TRADERS}
        for filing in batch:
            with lock:
                attempted[filing.message_id] = filing
            try:
                response = transports[filing.trader].post(filing.content_type, filing.body)
            except (OSError, http.client.HTTPException):
                return  # the server is gone; this filing's fate is unknown to the client
            problems = receipt_problems(filing, response)
            with lock:
                if problems:
                    wrong.append((filing.message_id, problems))
                else:
                    acknowledged[filing.message_id] = response.body
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(run, batch) for batch in batches]
            assert enough.wait(60), f"only {len(acknowledged)} receipts in time; wrong: {wrong[:3]}"
            victims = _trader_processes(first.local)
            assert len(victims) >= 2, "expected the trader master and at least one worker"
            for victim in victims:
                victim.send_signal(signal.SIGKILL)
            psutil.wait_procs(victims, timeout=30)
            for future in futures:
                future.result(timeout=120)
    finally:
        first.close_connections()
        first.local.stop()
    assert wrong == [], f"answers that were not valid receipts: {wrong[:3]}"
    assert KILL_AFTER <= len(acknowledged) < len(filings), "the kill did not happen mid-stream"
    in_flight = set(attempted) - set(acknowledged)

    restarted = LocalSimulator(var_dir, pki.directory)
    control = restarted.start(timeout=90)
    second = SimHandle(restarted, control, pki)
    try:
        accepted = {e["message_id"] for e in control.journal(direction="in", kind="user", verdict="accepted",
                                                             limit=5000)}
        lost = sorted(set(acknowledged) - accepted)
        assert lost == [], f"{len(lost)} acknowledged filings are not in the journal, e.g. {lost[:3]}"
        ens = control.ics2_ens()
        per_message = Counter(e["message_id"] for e in ens)
        per_lrn = Counter(e["lrn"] for e in ens)
        assert [m for m, n in per_message.items() if n > 1] == [], "a filing was registered twice"
        assert [lrn for lrn, n in per_lrn.items() if n > 1] == [], "an LRN was registered twice"
        unregistered = sorted(set(acknowledged) - set(per_message))
        assert unregistered == [], f"acknowledged but not registered: {unregistered[:3]}"
        assert {e["state"] for e in ens} == {"registered"}
        assert set(per_message) <= set(attempted)
        replies = Counter(m["ref_to_message_id"] for m in control.outbox())
        assert all(replies[m] == 1 for m in acknowledged), "an acknowledged filing lacks its one reply"
        assert {p["party"] for p in control.parties()} >= {pki.trader(t).eori for t in TRADERS}

        # Reception awareness: the client retries what it never got a receipt for, and (to prove the
        # duplicate record survived) a few acknowledged ones: exactly once each, original receipts again.
        retry = sorted(in_flight) + sorted(acknowledged)[:5]
        transports = {name: second.transport(name) for name in TRADERS}
        for message_id in retry:
            filing = attempted[message_id]
            response = transports[filing.trader].post(filing.content_type, filing.body)
            assert receipt_problems(filing, response) == [], message_id
            if message_id in acknowledged:
                assert response.body == acknowledged[message_id], "the duplicate got another receipt"
        final = Counter(e["message_id"] for e in control.ics2_ens())
        assert set(final) == set(attempted) and set(final.values()) == {1}
    finally:
        second.close_connections()
        restarted.stop()
