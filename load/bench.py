"""`make bench`: the simulator's throughput against its own ceiling, measured side by side in one run.

(a) ceiling  - the same server stack (gunicorn gthread, TLS, required client certificates) answering a
               trivial endpoint over the same persistent mutual-TLS connections;
(b) pipeline - distinct pre-signed IE3F32 filings (R1, ~3 KB) over those connections; a filing counts
               only when a valid signed receipt came back (checked after the timed window: signature,
               NRR digests, RefToMessageId) and the simulator journaled and registered it;
(c) mixed    - then, on a fresh scene (the parties stay registered), over the same connections for the
               same time, complete R2 and R3 filings with several house consignments, 10-50 KB each
               (load/bench_mixed.py), counted the same way.
Prints the rates, the pipeline/ceiling ratio, p50/p99 receipt latency per phase, the server's peak and
start/end memory; the last line is one JSON object. Every filing is signed before the timed phases
(signing times printed apart). Targets (2 cores, R1): >= 800 filings/s, p99 < 100 ms, memory flat.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from load.bench_mixed import mix_line, payload_kb, presign_mixed
from load.bench_suite import command_driver_args, run_suite
from load.presign import SignedFiling, presign
from scenarios.client.transport import MutualTlsTransport, client_tls_context
from scenarios.pki import PkiFiles
from scenarios.runner import LocalSimulator, register_parties
from scenarios.simctl import SimControl
from simulator.codecs.as4.errors import EbmsError
from simulator.codecs.as4.message import unpack
from simulator.codecs.as4.receipts import check_receipt_matches

TRADERS = ("trader-a", "trader-b")


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    finished_at: list[float] = field(default_factory=list)  # seconds since the phase began
    answers: dict[int, bytes] = field(default_factory=dict)  # filing index -> response body
    failures: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _server_processes(sim: LocalSimulator) -> list[psutil.Process]:
    assert sim.process is not None
    root = psutil.Process(sim.process.pid)
    return [p for p in root.children(recursive=True) if "trader" in " ".join(p.cmdline())]


def _rss_mb(processes: Sequence[psutil.Process], *, anonymous: bool = False) -> float:
    """Resident memory of the server processes; `anonymous` leaves out file-backed pages (the
    database's memory map, shared libraries), i.e. the heap, where a leak would show."""
    total = 0
    for process in processes:
        try:
            info = process.memory_info()
            total += info.rss - (getattr(info, "shared", 0) if anonymous else 0)
        except psutil.Error:
            continue
    return total / 2**20


def _cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _drive(phase: Phase, transports: list[MutualTlsTransport], duration: float, total: int,
           send: Callable[[MutualTlsTransport, int], bytes], record: bool, lanes: int = 1) -> None:
    """Each connection has its own thread. Connection i serves lane i % lanes (a trader: filings are
    spread round-robin over traders, and each goes over a connection of its own trader); the threads
    of one lane share an index counter; everyone stops at the deadline."""
    locks = [threading.Lock() for _ in range(lanes)]
    counters = [iter(range(lane, total, lanes)) for lane in range(lanes)]
    deadline = time.perf_counter() + duration

    def worker(transport: MutualTlsTransport, lane: int) -> None:
        while time.perf_counter() < deadline:
            with locks[lane]:
                index = next(counters[lane], None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                body = send(transport, index)
            except OSError:
                phase.failures += 1
                continue
            done = time.perf_counter()
            phase.latencies.append(done - started)
            phase.finished_at.append(done - began)
            if record:
                phase.answers[index] = body

    threads = [threading.Thread(target=worker, args=(t, i % lanes)) for i, t in enumerate(transports)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.elapsed = time.perf_counter() - began


def _quarters(phase: Phase, samples: list[float]) -> str:
    """Throughput and server memory per quarter of the phase: flat lines mean no drift or leak."""
    parts = []
    for q in range(4):
        start, end = phase.elapsed * q / 4, phase.elapsed * (q + 1) / 4
        count = sum(1 for t in phase.finished_at if start <= t < end)
        index = min(len(samples) - 1, int(len(samples) * (q + 1) / 4) - 1) if samples else -1
        rss = f"{samples[index]:.1f} MB" if index >= 0 else "n/a"
        parts.append(f"Q{q + 1}: {count / (end - start):.0f}/s, {rss}")
    return "; ".join(parts)


def _valid_receipts(phase: Phase, filings: list[SignedFiling]) -> int:
    valid = 0
    for index, body in phase.answers.items():
        filing = filings[index]
        try:
            answer = unpack("application/soap+xml", body)
        except EbmsError:
            continue
        if answer.kind == "receipt" and not check_receipt_matches(
                answer, filing.references, sent_message_id=filing.message_id):
            valid += 1
    return valid


def _server_counts(control: SimControl) -> tuple[int, int]:
    """(ENS not rejected, inbound user messages journaled as accepted): the totals a phase adds to."""
    registered = sum(n for state, n in control.ics2_ens_stats().items() if state != "rejected")
    journaled = sum(c["count"] for c in control.journal_stats()
                    if c["direction"] == "in" and c["kind"] == "user" and c["verdict"] == "accepted")
    return registered, journaled


def _phase_row(name: str, rate: float, phase: Phase, kb: float) -> str:
    return (f"  {name:28} {rate:9.1f} {phase.percentile(0.5):8.1f} {phase.percentile(0.99):8.1f} "
            f"{kb:10.1f}")


def run(args: argparse.Namespace) -> dict[str, float | int]:
    work = Path(args.var_dir or tempfile.mkdtemp(prefix="icssim-bench-"))
    extra: tuple[str, ...] = ("--threads", str(args.threads), "--worker-class", args.worker_class)
    if args.workers:
        extra += ("--workers", str(args.workers))
    sim = LocalSimulator(work, Path(args.pki_dir) if args.pki_dir else None, extra_args=extra)
    print(f"starting the simulator in {work} ...", flush=True)
    control = sim.start()
    try:
        pki = PkiFiles.load(Path(args.pki_dir) if args.pki_dir else work / "pki")
        register_parties(control, pki, TRADERS)
        count = int(args.duration * args.max_rate) + 1000
        print(f"pre-signing {count} distinct IE3F32 filings (client side, not timed) ...", flush=True)
        started = time.perf_counter()
        filings = presign(pki, TRADERS, count)
        presign_s = time.perf_counter() - started
        print(f"  signed in {presign_s:.1f}s", flush=True)
        mixed_filings: list[SignedFiling] = []
        mixed_presign_s = 0.0
        if args.mixed_max_rate > 0:
            mixed_count = int(args.duration * args.mixed_max_rate) + 300
            print(f"pre-signing {mixed_count} distinct complete R2/R3 filings of 10-50 KB (client side, "
                  "not timed) ...", flush=True)
            started = time.perf_counter()
            mixed_filings = presign_mixed(pki, TRADERS, mixed_count)
            mixed_presign_s = time.perf_counter() - started
            print(f"  signed in {mixed_presign_s:.1f}s: {mix_line(mixed_filings)}", flush=True)
        transports = []
        for i in range(args.connections):
            files = pki.trader(TRADERS[i % len(TRADERS)])
            context = client_tls_context(pki.trust_bundle, files.tls_cert, files.tls_key)
            transports.append(MutualTlsTransport(f"{sim.trader_url}/ics2/as4", context))
        health = [MutualTlsTransport(f"{sim.trader_url}/health", client_tls_context(
            pki.trust_bundle, pki.trader(TRADERS[i % 2]).tls_cert, pki.trader(TRADERS[i % 2]).tls_key))
            for i in range(args.connections)]

        def trivial(transport: MutualTlsTransport, _index: int) -> bytes:
            return transport.get().body

        ceiling = Phase("ceiling")
        _drive(Phase("warm-up"), health, 2.0, 10**9, trivial, record=False)
        _drive(ceiling, health, args.ceiling_seconds, 10**9, trivial, record=False)

        def send(transport: MutualTlsTransport, index: int) -> bytes:
            filing = filings[index]
            return transport.post(filing.content_type, filing.body).body

        servers = _server_processes(sim)
        rss_start = _rss_mb(servers)
        cpu_start = _cpu_seconds(servers)
        own_start = time.process_time()
        samples: list[float] = []
        stop = threading.Event()

        anon_samples: list[float] = []

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append(_rss_mb(servers))
                anon_samples.append(_rss_mb(servers, anonymous=True))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        pipeline = Phase("pipeline")
        # One thread per connection of each trader; the shared counter hands out filings in order.
        _drive(pipeline, transports, args.duration, len(filings), send, record=True, lanes=len(TRADERS))
        stop.set()
        sampler.join()
        server_cpu = (_cpu_seconds(servers) - cpu_start) / pipeline.elapsed
        per_process = [round(_cpu_seconds([p]) / 1, 1) for p in servers]
        client_cpu = (time.process_time() - own_start) / pipeline.elapsed
        rss_end = _rss_mb(servers)
        quarters = _quarters(pipeline, samples)
        anon_quarters = _quarters(pipeline, anon_samples)
        print("checking every receipt and the simulator's register ...", flush=True)
        valid = _valid_receipts(pipeline, filings)
        registered = control.ics2_ens_stats().get("registered", 0)
        journaled = sum(c["count"] for c in control.journal_stats()
                        if c["direction"] == "in" and c["kind"] == "user" and c["verdict"] == "accepted")
        counted = min(valid, registered, journaled)
        mixed = Phase("mixed")
        mixed_valid = mixed_registered = mixed_journaled = 0
        if mixed_filings:
            # Each phase on a scene of its own: the ENS of the R1 phase fall due for risk assessment (the
            # default outcome, 60 s after registration) right after that phase; without a reset, their
            # backlog would be measured as part of the mixed phase.
            control.reset()
            registered_before, journaled_before = _server_counts(control)

            def send_mixed(transport: MutualTlsTransport, index: int) -> bytes:
                filing = mixed_filings[index]
                return transport.post(filing.content_type, filing.body).body

            print(f"mixed R2/R3 phase: {args.duration:g} s over the same {args.connections} connections ...",
                  flush=True)
            _drive(mixed, transports, args.duration, len(mixed_filings), send_mixed, record=True,
                   lanes=len(TRADERS))
            mixed_valid = _valid_receipts(mixed, mixed_filings)
            registered_after, journaled_after = _server_counts(control)
            mixed_registered = registered_after - registered_before
            mixed_journaled = journaled_after - journaled_before
        for transport in transports + health:
            transport.close()
    finally:
        sim.stop()
    filings_per_s = counted / pipeline.elapsed if pipeline.elapsed else 0.0
    mixed_counted = min(mixed_valid, mixed_registered, mixed_journaled)
    mixed_per_s = mixed_counted / mixed.elapsed if mixed.elapsed else 0.0
    mixed_kb, mixed_wire_kb = payload_kb(mixed_filings, mixed.answers)
    r1_kb, _ = payload_kb(filings, pipeline.answers)
    result: dict[str, float | int] = {
        "filings_per_s": round(filings_per_s, 1),
        "ceiling_per_s": round(ceiling.rate, 1),
        "ratio": round(filings_per_s / ceiling.rate, 3) if ceiling.rate else 0.0,
        "p50_ms": round(pipeline.percentile(0.50), 1),
        "p99_ms": round(pipeline.percentile(0.99), 1),
        "server_rss_mb": round(max([rss_start, rss_end, *samples]), 1),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "server_anon_mb_start": round(anon_samples[0], 1) if anon_samples else 0.0,
        "server_anon_mb_end": round(anon_samples[-1], 1) if anon_samples else 0.0,
        "filings_sent": len(pipeline.latencies),
        "filings_counted": counted,
        "transport_failures": pipeline.failures,
        "seconds": round(pipeline.elapsed, 1),
        "presign_s": round(presign_s, 1),
        "mixed_filings_per_s": round(mixed_per_s, 1),
        "mixed_p50_ms": round(mixed.percentile(0.50), 1) if mixed.latencies else 0.0,
        "mixed_p99_ms": round(mixed.percentile(0.99), 1) if mixed.latencies else 0.0,
        "mixed_kb_avg": round(mixed_kb, 1),
        "mixed_filings_sent": len(mixed.latencies),
        "mixed_filings_counted": mixed_counted,
        "mixed_transport_failures": mixed.failures,
        "mixed_seconds": round(mixed.elapsed, 1),
        "mixed_presign_s": round(mixed_presign_s, 1),
    }
    print(f"\nceiling (trivial endpoint, same mTLS stack): {ceiling.rate:8.1f} req/s "
          f"(p50 {ceiling.percentile(0.5):.1f} ms, p99 {ceiling.percentile(0.99):.1f} ms)")
    print(f"full pipeline (signed IE3F32 -> receipt):     {filings_per_s:8.1f} filings/s "
          f"(p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms)")
    print(f"ratio pipeline/ceiling: {result['ratio']}")
    print(f"CPU during the pipeline phase: server {server_cpu:.2f} cores, load generator "
          f"{client_cpu:.2f} cores (of {os.cpu_count()}); CPU seconds per server process {per_process}")
    print(f"counted {counted} of {len(pipeline.latencies)} sent: {valid} valid receipts, {registered} "
          f"registered, {journaled} journaled; transport failures {pipeline.failures}")
    print(f"server memory (trader workers): start {rss_start:.1f} MB, end {rss_end:.1f} MB, "
          f"peak {result['server_rss_mb']} MB over {len(samples)} samples")
    print(f"by quarter of the pipeline phase (RSS): {quarters}")
    print(f"by quarter, anonymous memory only (heap; RSS less the database map and libraries): "
          f"{anon_quarters}")
    if mixed_filings:
        print(f"mixed R2/R3: counted {mixed_counted} of {len(mixed.latencies)} sent: {mixed_valid} valid "
              f"receipts, {mixed_registered} registered, {mixed_journaled} journaled; transport failures "
              f"{mixed.failures}; wire size {mixed_wire_kb:.1f} KB avg (compressed AS4 message)")
    print(f"\nside by side ({args.connections} connections, {args.duration:g} s each; pre-signing "
          f"{presign_s:.1f} s + {mixed_presign_s:.1f} s, not timed):")
    print(f"  {'phase':28} {'filings/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'payload KB':>10}")
    print(_phase_row("R1 IE3F32", filings_per_s, pipeline, r1_kb))
    if mixed_filings:
        print(_phase_row("R2/R3 mixed (complete)", mixed_per_s, mixed, mixed_kb))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 60)))
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-rate", type=float, default=600.0, help="filings/s to pre-sign for")
    parser.add_argument("--mixed-max-rate", type=float, default=300.0,
                        help="R2/R3 filings/s to pre-sign for in the mixed phase (0: no mixed phase)")
    parser.add_argument("--workers", type=int, default=0, help="server workers (default: one per core)")
    parser.add_argument("--threads", type=int, default=8, help="threads per server worker")
    parser.add_argument("--worker-class", default="gthread", choices=("gthread", "gevent"))
    parser.add_argument("--var-dir")
    parser.add_argument("--pki-dir")
    parser.add_argument("--no-suite", dest="suite", action="store_false",
                        help="skip timing the conformance suite (suite_seconds)")
    args = parser.parse_args(argv)
    result = run(args)
    if args.suite:
        print("timing the full ICS2 conformance suite (icssim conformance, reference driver) ...", flush=True)
        suite = run_suite(pki_dir=args.pki_dir)
        print(f"conformance suite: {suite.scenarios} scenarios in {suite.seconds} s, {suite.failures} failed "
              f"(exit {suite.exit_code})")
        result.update(suite_seconds=suite.seconds, suite_scenarios=suite.scenarios, suite_failures=suite.failures)
        print("timing the suite through the command driver and the example adapter ...", flush=True)
        command = run_suite(pki_dir=args.pki_dir, extra=command_driver_args())
        print(f"through the command driver: {command.scenarios} scenarios in {command.seconds} s, "
              f"{command.failures} failed (exit {command.exit_code})")
        result.update(suite_command_seconds=command.seconds, suite_command_scenarios=command.scenarios,
                      suite_command_failures=command.failures)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
