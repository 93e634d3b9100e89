"""Locust load test of the ICS2 trader endpoint: distinct signed filings of a release from several traders.

One ``FastHttpUser`` class per trader identity of the test PKI (``TraderAUser``, ``TraderBUser``, ...),
each on mutual TLS: the server is verified against the PKI's trust bundle and the trader's TLS client
certificate is presented (domain/ics2.md, "Transport"). Tasks:

- ``send``: one unit of the release's filing mix (``load/data/r1.json``: IE3F32/IE3F43/IE3F44;
  ``r2.json``, ``r3.json``: complete air / sea, road and rail filings of 10-50 KB, and partial sets
  such as IE3F21 + its IE3F22 house filings, sent one after the other); each filing succeeds only when
  the answer is a signed receipt for exactly that message (NRR digests and RefToMessageId, ICD
  §4.6.2), else a failure named by the ebMS error code. Request names "send <filing type>".
- ``pull``: a signed PullRequest on the trader's own MPC ("pull"); a pulled user message is answered
  with a signed receipt on the same connection ("receipt").

Filings are signed before the clock starts: by run_headless (ICSSIM_PRESIGNED_FILE, one batch per
process) or in ``events.init`` (in a plain subprocess: gevent's monkey patching stalls a process
pool); should a run outlast them, the rest are signed on the fly.
Environment (load/README.md): ICSSIM_PKI_DIR (required), ICSSIM_PRESIGN_COUNT (units per process,
default 2000), ICSSIM_LOAD_RELEASE (r1, r2, r3) or ICSSIM_LOAD_PROFILE (a file), ICSSIM_LOAD_TRADERS,
ICSSIM_USER_RATE (tasks/s per user; unset = closed loop), ICSSIM_LOAD_SHAPE=release (average -> peak ->
average) or daily (the daily curve in ICSSIM_DAY_SECONDS), ICSSIM_MAX_FAIL_RATIO, ICSSIM_MAX_P95_MS,
ICSSIM_LOAD_SUMMARY (JSON at quit), ICSSIM_SENT_LOG (this process's sent MessageIds, at quit).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent.event
import gevent.ssl
from locust import FastHttpUser, LoadTestShape, constant, constant_throughput, events
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from load import presign
from load.gates import SEND_PREFIX, RunFigures, Thresholds, evaluate, is_loopback, merge_histograms, percentile
from load.presign import FilingSpec, SignedFiling, Unit
from load.replies import SentLog
from load.shapes import DEFAULT_PROFILE, ReleaseProfile, Stage, profile_path
from scenarios.client.ics2 import ENDPOINT_PATH, TraderIdentity
from scenarios.pki import PkiFiles
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import unpack
from simulator.codecs.as4.model import InboundMessage
from simulator.codecs.as4.receipts import build_pull_request, build_receipt, check_receipt_matches

log = logging.getLogger("icssim.load")

# Which traders, which mix: data, read once when Locust imports this file (it builds the User classes).
PROFILE_FILE = Path(os.environ["ICSSIM_LOAD_PROFILE"]) if os.environ.get("ICSSIM_LOAD_PROFILE") \
    else profile_path(os.environ.get("ICSSIM_LOAD_RELEASE") or str(DEFAULT_PROFILE))
PROFILE = ReleaseProfile.load(PROFILE_FILE)
TRADERS = tuple(t.strip() for t in os.environ.get("ICSSIM_LOAD_TRADERS", "").split(",") if t.strip()) \
    or PROFILE.traders
USER_RATE = float(os.environ.get("ICSSIM_USER_RATE") or 0)


@dataclass
class LoadProcess:
    """What one Locust process (standalone or worker) shares between its users."""

    pki: PkiFiles
    identities: dict[str, TraderIdentity]
    contexts: dict[str, Any]  # trader -> gevent SSLContext (trust bundle + the trader's TLS client cert)
    pool: dict[tuple[str, str], deque[Unit]]  # (trader, kind of the mix) -> unsent units
    runs: dict[str, str]  # kind -> this process's run id (distinct LRNs and MessageIds)
    next_index: dict[str, Iterator[int]]  # kind -> indices beyond the pre-signed ones
    signed_on_the_fly: int = 0
    kinds: list[str] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    sent: list[tuple[str, bool]] = field(default_factory=list)  # (MessageId, answered with a receipt)

    def take(self, trader: str, kind: str) -> Unit:
        """A unit never sent before: pre-signed while there are any, else signed now."""
        queue = self.pool.get((trader, kind))
        if queue:
            return queue.popleft()
        self.signed_on_the_fly += 1
        index = next(self.next_index[kind])
        return presign.sign_unit(self.pki.trader(trader), FilingSpec.of(kind, PROFILE), self.runs[kind], index)


_PROCESS: LoadProcess | None = None
_FAILED: str | None = None
_READY = gevent.event.Event()  # set when this process's filings are ready (or could not be made)


def _tls_context(pki: PkiFiles, trader: str) -> Any:
    """Verify the simulator against the PKI trust bundle (not certifi); present the trader's cert."""
    files = pki.trader(trader)
    context = gevent.ssl.create_default_context(gevent.ssl.Purpose.SERVER_AUTH, cafile=str(pki.trust_bundle))
    context.minimum_version = gevent.ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.tls_cert), str(files.tls_key))
    return context


def _signed_batch(pki: PkiFiles, presign_count: int) -> presign.PresignedBatch:
    """This process's filings: from ICSSIM_PRESIGNED_FILE (run_headless signs for every process
    before Locust starts), else signed now in a child process without gevent (load.presign's
    process pool stalls under monkey patching)."""
    given = os.environ.get("ICSSIM_PRESIGNED_FILE")
    if given:
        return presign.read_batch(Path(given))
    runs = presign.fresh_runs(PROFILE.filing_mix)
    counts = PROFILE.presign_counts(presign_count)
    with tempfile.TemporaryDirectory(prefix="icssim-presign-") as tmp:
        out = Path(tmp) / "filings.pickle"
        spec = {"pki_dir": str(pki.directory), "traders": list(TRADERS), "counts": counts, "runs": runs,
                "out": str(out), "profile": str(PROFILE_FILE)}
        subprocess.run([sys.executable, "-m", "load.run_headless", "--sign-only", json.dumps(spec)],
                       check=True)
        return presign.read_batch(out)


def _prepare(pki_dir: Path, presign_count: int) -> LoadProcess:
    pki = PkiFiles.load(pki_dir)
    for name in TRADERS:
        files = pki.trader(name)
        if files.condition != "valid":
            raise ValueError(f"trader {name!r} has a {files.condition!r} certificate; load needs valid ones")
    batch = _signed_batch(pki, presign_count)
    pool: dict[tuple[str, str], deque[Unit]] = {}
    for kind, units in batch.filings.items():
        for unit in units:
            pool.setdefault((unit[0].trader, kind), deque()).append(unit)
    missing = sorted({unit[0].trader for units in batch.filings.values() for unit in units} - set(TRADERS))
    if missing:
        raise ValueError(f"the pre-signed filings are for other traders too ({', '.join(missing)})")
    return LoadProcess(
        pki=pki,
        identities={name: presign.trader_identity(pki.trader(name)) for name in TRADERS},
        contexts={name: _tls_context(pki, name) for name in TRADERS},
        pool=pool, runs=batch.runs,
        next_index={kind: itertools.count(batch.counts.get(kind, 0)) for kind in batch.runs},
        kinds=list(PROFILE.filing_mix), shares=list(PROFILE.filing_mix.values()),
    )


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    """Check the target, then prepare this process's filings before its users start.

    Standalone, this runs before the run's clock starts. A worker is already connected to its
    master, so its users may be spawned meanwhile: they wait for ``_READY`` in ``on_start``.
    """
    if environment.host and not is_loopback(environment.host):
        raise SystemExit(f"refusing to load {environment.host}: load traffic targets loopback only")
    if isinstance(environment.runner, MasterRunner):
        return  # the master only aggregates statistics and applies the gates
    pki_dir = os.environ.get("ICSSIM_PKI_DIR")
    if not pki_dir:
        raise SystemExit("set ICSSIM_PKI_DIR to the test PKI directory (the one with manifest.json)")
    count = int(os.environ.get("ICSSIM_PRESIGN_COUNT") or 2000)
    global _PROCESS, _FAILED
    try:
        _PROCESS = _prepare(Path(pki_dir), count)
    except Exception as exc:  # whatever it is, say so and stop, rather than run users without filings
        _FAILED = f"could not prepare the load: {exc}"
        raise SystemExit(_FAILED) from exc
    finally:
        _READY.set()
    log.info("%d pre-signed units of the %s mix for %s", sum(len(q) for q in _PROCESS.pool.values()),
             PROFILE.release, ", ".join(TRADERS))


# -- judging answers ------------------------------------------------------------------------------------
def _codes(message: InboundMessage) -> str:
    return ",".join(e.code for e in message.errors) or "error signal without eb:Error"


def judge_send(content_type: str, body: bytes, status: int, filing: SignedFiling) -> str | None:
    """None when the answer is a receipt for ``filing``; else the failure message (the ebMS code)."""
    try:
        answer = unpack(content_type, body)
    except EbmsError as exc:
        return f"{exc.code} (unreadable answer, HTTP {status})"
    if answer.kind == "error":
        return _codes(answer)
    if answer.kind != "receipt":
        return f"a {answer.kind} message instead of a receipt"
    if check_receipt_matches(answer, filing.references, sent_message_id=filing.message_id):
        return "EBMS:0302"  # InvalidReceipt: it does not acknowledge what was sent
    return None


def judge_pull(content_type: str, body: bytes, status: int) -> tuple[InboundMessage | None, str | None]:
    """(the pulled user message or None, failure message or None); EBMS:0006 'empty' is a success."""
    try:
        answer = unpack(content_type, body)
    except EbmsError as exc:
        return None, f"{exc.code} (unreadable answer, HTTP {status})"
    if answer.kind == "user":
        # unpack checked any signature; a receipt needs one to acknowledge (ICD §4.6.2)
        return (answer, None) if answer.signature is not None else (None, "an unsigned user message")
    if answer.kind == "error" and all(e.code == "EBMS:0006" for e in answer.errors):
        return None, None
    return None, _codes(answer) if answer.kind == "error" else f"a {answer.kind} answer to a pull"


def judge_receipt_answer(content_type: str, body: bytes, status: int) -> str | None:
    """The simulator answers an accepted receipt with an empty HTTP 200; anything else is a failure."""
    if status == 200 and not body:
        return None
    try:
        answer = unpack(content_type, body)
    except EbmsError as exc:
        return f"{exc.code} (unreadable answer, HTTP {status})"
    return _codes(answer) if answer.kind == "error" else f"HTTP {status} with a {answer.kind} message"


# -- users ----------------------------------------------------------------------------------------------
class TraderUser(FastHttpUser):
    """A trader's message handler on one persistent mutual-TLS connection."""

    abstract = True
    trader = ""
    insecure = False  # verify the server (hostname and chain to the test PKI root)
    concurrency = 1
    max_retries = 0  # never resend a filing behind our back: exactly-once is checked afterwards
    wait_time = constant_throughput(USER_RATE) if USER_RATE > 0 else constant(0)

    def __init__(self, environment: Environment) -> None:
        # Called on the first connection; geventhttpclient passes cafile=certifi, which we ignore.
        self.ssl_context_factory = lambda *_, **__: self._process.contexts[self.trader]
        super().__init__(environment)
        self._rng = random.Random()

    def on_start(self) -> None:
        _READY.wait()
        if _PROCESS is None:
            raise StopUser(_FAILED or "the load process was not prepared (init event)")
        self._process = _PROCESS
        self._identity = _PROCESS.identities[self.trader]

    def _post(self, name: str, content_type: str, body: bytes) -> Any:
        """POST an AS4 message on this user's connection; the caller judges the answer."""
        data: Any = body  # geventhttpclient sends bytes as they are (Locust's hint says str)
        return self.client.post(ENDPOINT_PATH, data=data, headers={"Content-Type": content_type}, name=name,
                                catch_response=True)

    def send(self) -> None:
        """One unit of the mix: a filing, or a partial set's filings in order (master level first)."""
        process = self._process
        kind = self._rng.choices(process.kinds, process.shares)[0]
        for filing in process.take(self.trader, kind):
            verdict: str | None = "no answer"
            with self._post(f"{SEND_PREFIX}{filing.action}", filing.content_type, filing.body) as response:
                if response.content:
                    verdict = judge_send(_content_type(response), response.content, response.status_code, filing)
                    _mark(response, verdict)
                elif response.status_code:
                    response.failure(f"empty answer, HTTP {response.status_code}")
            process.sent.append((filing.message_id, verdict is None))

    def pull(self) -> None:
        request = build_pull_request(self._identity.mpc, key=self._identity.sealing_key,
                                     chain=list(self._identity.sealing_chain),
                                     message_id=_message_id(), timestamp=datetime.now(UTC))
        pulled = None
        with self._post("pull", as4c.SOAP12_CONTENT_TYPE, request) as response:
            if response.content:
                pulled, problem = judge_pull(_content_type(response), response.content, response.status_code)
                _mark(response, problem)
            elif response.status_code:
                response.failure(f"empty answer, HTTP {response.status_code}")
        if pulled is not None:
            self._answer(pulled)

    def _answer(self, pulled: InboundMessage) -> None:
        """ICD §4.6.2: acknowledge a pulled message with a signed receipt (same keep-alive connection)."""
        receipt = build_receipt(pulled, key=self._identity.sealing_key, chain=list(self._identity.sealing_chain),
                                message_id=_message_id(), timestamp=datetime.now(UTC))
        with self._post("receipt", as4c.SOAP12_CONTENT_TYPE, receipt) as response:
            if response.status_code:
                problem = judge_receipt_answer(_content_type(response), response.content or b"",
                                               response.status_code)
                _mark(response, problem)


def _mark(response: Any, problem: str | None) -> None:
    """Success, or a failure whose message is the problem (Locust groups failures by it)."""
    if problem is None:
        response.success()
    else:
        response.failure(problem)


def _content_type(response: Any) -> str:
    return str(response.headers.get("Content-Type") or "")


def _message_id() -> str:
    return f"{uuid.uuid4()}@load.icssim"


def _user_class(trader: str) -> type[TraderUser]:
    name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", trader) if part) + "User"
    tasks: dict[Callable[..., Any], int] = {TraderUser.send: PROFILE.task_weights.get("send", 1)}
    if PROFILE.task_weights.get("pull", 0):
        tasks[TraderUser.pull] = PROFILE.task_weights["pull"]
    return type(name, (TraderUser,), {"trader": trader, "abstract": False, "tasks": tasks,
                                      "__module__": __name__, "__doc__": f"Trader identity {trader!r}."})


# Module-level names are what Locust offers as User classes (no loop variable may hold one).
globals().update({cls.__name__: cls for cls in map(_user_class, TRADERS)})


def _shape_stages(shape: str) -> list[Stage]:
    """The stage plan of ICSSIM_LOAD_SHAPE (release | daily), scaled by ICSSIM_LOAD_SCALE."""
    scale = float(os.environ.get("ICSSIM_LOAD_SCALE") or 1.0)
    if shape == "daily":
        return PROFILE.daily_stages(USER_RATE, day_s=float(os.environ.get("ICSSIM_DAY_SECONDS") or 240),
                                    scale=scale)
    return PROFILE.release_stages(USER_RATE, stage_s=float(os.environ.get("ICSSIM_STAGE_SECONDS") or 60),
                                  scale=scale)


if os.environ.get("ICSSIM_LOAD_SHAPE") in ("release", "daily"):
    class ReleaseShape(LoadTestShape):
        """release: average -> peak -> average (ICSSIM_STAGE_SECONDS each); daily: the profile's 24 hourly
        factors compressed into ICSSIM_DAY_SECONDS. Both scaled by ICSSIM_LOAD_SCALE."""

        stages = _shape_stages(os.environ.get("ICSSIM_LOAD_SHAPE", "release"))

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            for stage in self.stages:
                if elapsed < stage.until_s:
                    return stage.users, stage.spawn_rate
            return None


# -- gates and summary ----------------------------------------------------------------------------------
def run_figures(environment: Environment) -> tuple[RunFigures, dict[str, Any]]:
    """The gates' inputs and a per-request-name table from Locust's (aggregated) statistics."""
    stats = environment.stats
    sends = [e for e in stats.entries.values() if e.name.startswith(SEND_PREFIX)]
    send_p95 = percentile(merge_histograms([e.response_times for e in sends]), 0.95)
    figures = RunFigures(requests=stats.total.num_requests, failures=stats.total.num_failures,
                         sends=sum(e.num_requests for e in sends), send_p95_ms=send_p95)
    table = {e.name: {"count": e.num_requests, "failures": e.num_failures,
                      "p50_ms": e.get_response_time_percentile(0.5) if e.num_requests else None,
                      "p95_ms": e.get_response_time_percentile(0.95) if e.num_requests else None,
                      "rps": round(e.total_rps, 1)}
             for e in sorted(stats.entries.values(), key=lambda e: e.name)}
    return figures, table


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    """Apply the gates (standalone or master), set the exit code and write the JSON summary."""
    if _PROCESS is not None and _PROCESS.signed_on_the_fly:
        log.warning("%d units were signed on the fly (raise ICSSIM_PRESIGN_COUNT): their client-side "
                    "signing time slowed this process down", _PROCESS.signed_on_the_fly)
    sent_log = os.environ.get("ICSSIM_SENT_LOG")
    if sent_log and _PROCESS is not None:  # the reply gate checks these MessageIds (load/replies.py)
        SentLog.write(Path(sent_log), _PROCESS.sent)
    if isinstance(environment.runner, WorkerRunner):
        return
    thresholds = Thresholds.from_env(os.environ)
    figures, table = run_figures(environment)
    violations = evaluate(figures, thresholds)
    environment.process_exit_code = 1 if violations else 0
    for violation in violations:
        log.error("gate failed: %s", violation)
    stats = environment.stats
    seconds = (stats.last_request_timestamp or 0) - (stats.start_time or 0)
    receipts = sum(v["count"] - v["failures"] for k, v in table.items() if k.startswith(SEND_PREFIX))
    summary = {
        "release": PROFILE.release, "traders": list(TRADERS), "seconds": round(max(seconds, 0.0), 1),
        "filings_sent": figures.sends, "receipts": receipts,
        "filings_per_s": round(receipts / seconds, 1) if seconds > 0 else 0.0,
        "requests": figures.requests, "failures": figures.failures, "fail_ratio": round(figures.fail_ratio, 5),
        "send_p95_ms": figures.send_p95_ms, "by_name": table,
        "errors": {f"{e.name}: {e.error}": e.occurrences for e in stats.errors.values()},
        "signed_on_the_fly": _PROCESS.signed_on_the_fly if _PROCESS is not None else None,
        "thresholds": {"max_fail_ratio": thresholds.max_fail_ratio, "max_p95_ms": thresholds.max_p95_ms},
        "violations": violations,
    }
    target = os.environ.get("ICSSIM_LOAD_SUMMARY")
    if target:
        Path(target).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
