"""After a load run: the functional replies the simulator produced, read through its control API.

Every filing gets exactly one functional reply (IE3R01, IE3N99 or IE3N01), queued to the filer's pull
MPC with RefToMessageId = the filing's MessageId (domain/ics2.md, "Messages" and "AS4 profile"). The
exactly-once gate (load/gates.py ``tally_replies``) counts them per filing, from one of two sources:

- the **outbox** (``GET /_sim/outbox?queue=<MPC>``): every reply queued for the trader, delivered or
  not. The control API lists at most :data:`OUTBOX_LISTING_CAP` rows a call and cannot page, so this
  is used only for a queue with fewer rows;
- otherwise the **journal of deliveries**: the queue is first drained the way a trader's message
  handler does it (signed PullRequests, each pulled reply acknowledged with a signed receipt, ICD
  §4.6.2), then every outgoing user message journaled for that MPC (``GET /_sim/journal``, paged) is
  read. Each delivery is journaled with the reply's MessageId and RefToMessageId, so a reply pulled
  during the run by a Locust user counts as well as one pulled here.

It also reads the MessageIds the Locust processes sent (one file per process, written at quit by
load/locustfile.py when ``ICSSIM_SENT_LOG`` is set).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.client.ics2 import Ics2Client, TraderIdentity
from scenarios.pki import PkiFiles
from scenarios.simctl import SimControl
from simulator.codecs.as4 import constants as as4c

OUTBOX_LISTING_CAP = 500  # rows GET /_sim/outbox returns at most (simulator/core/outbox.py listing)
JOURNAL_PAGE = 5000  # the journal API's largest page
DRAIN_CONNECTIONS = 4  # pulling connections per trader while draining
MAX_PULL_ERRORS = 20  # a connection gives up after this many failed pulls in a row


@dataclass
class SentLog:
    """MessageIds the load sent: answered with a receipt, or not (an ebMS error, a transport failure)."""

    receipted: set[str] = field(default_factory=set)
    unreceipted: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, paths: Iterable[Path]) -> SentLog:
        """Merge the per-process files (JSON: {"receipted": [...], "unreceipted": [...]})."""
        log = cls()
        for path in paths:
            if not path.exists():
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            log.receipted.update(data.get("receipted", ()))
            log.unreceipted.update(data.get("unreceipted", ()))
        log.unreceipted -= log.receipted
        return log

    @staticmethod
    def write(path: Path, sent: Iterable[tuple[str, bool]]) -> None:
        receipted = sorted(m for m, ok in sent if ok)
        unreceipted = sorted(m for m, ok in sent if not ok)
        path.write_text(json.dumps({"receipted": receipted, "unreceipted": unreceipted}), encoding="utf-8")


def journal_mark(control: SimControl) -> int:
    """A journal id no entry written from now on can have or go below (the number of entries so far:
    ids are increasing and distinct), so reading from it finds every later entry."""
    return sum(int(c["count"]) for c in control.journal_stats())


@dataclass
class ReplySource:
    """What was read per queue, for the summary: "outbox" (listed) or "drained" (+ replies pulled)."""

    queues: dict[str, str] = field(default_factory=dict)
    drained: int = 0
    drain_seconds: float = 0.0


def _drain(trader_url: str, identity: TraderIdentity, trust_bundle: Path, connections: int) -> int:
    """Pull the trader's MPC on several connections until it answers EBMS:0006 (empty); returns the
    number of replies pulled (each acknowledged with a signed receipt by Ics2Client.pull)."""
    pulled = [0] * connections

    def worker(slot: int) -> None:
        client = Ics2Client(trader_url, identity, trust_bundle)
        errors = 0
        try:
            while errors < MAX_PULL_ERRORS:
                try:
                    outcome = client.pull()
                except OSError:
                    errors += 1
                    continue
                if outcome.user_message is not None:
                    pulled[slot] += 1
                    errors = 0
                elif outcome.empty:
                    return
                else:
                    errors += 1
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(pulled)


def _journal_deliveries(control: SimControl, queue: str, since_id: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while True:
        page = control.journal(since_id=since_id, limit=JOURNAL_PAGE, direction="out", kind="user", queue=queue)
        entries += page
        if len(page) < JOURNAL_PAGE:
            return entries
        since_id = int(page[-1]["id"])


def collect_replies(control: SimControl, trader_url: str, pki: PkiFiles, traders: Iterable[str], *,
                    since_id: int, connections: int = DRAIN_CONNECTIONS) -> tuple[list[dict[str, Any]], ReplySource]:
    """Outgoing user messages of the traders' MPCs: outbox rows, or journaled deliveries after a drain
    (the traders' queues drained at the same time, ``connections`` each)."""
    replies: list[dict[str, Any]] = []
    source = ReplySource()
    to_drain: dict[str, TraderIdentity] = {}
    for name in traders:
        files = pki.trader(name)
        rows = control.outbox(as4c.c2t_mpc(files.eori))
        if len(rows) < OUTBOX_LISTING_CAP:
            replies += rows
            source.queues[name] = "outbox"
        else:
            to_drain[name] = TraderIdentity.from_files(
                files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain,
                tls_cert=files.tls_cert, tls_key=files.tls_key)
    if not to_drain:
        return replies, source
    started = time.perf_counter()
    pulled: dict[str, int] = {}

    def drain(name: str, identity: TraderIdentity) -> None:
        pulled[name] = _drain(trader_url, identity, pki.trust_bundle, connections)

    drains = [threading.Thread(target=drain, args=item, daemon=True) for item in to_drain.items()]
    for thread in drains:
        thread.start()
    for thread in drains:
        thread.join()
    source.drained, source.drain_seconds = sum(pulled.values()), time.perf_counter() - started
    for name, identity in to_drain.items():
        replies += _journal_deliveries(control, identity.mpc, since_id)
        source.queues[name] = "drained"
    return replies, source
