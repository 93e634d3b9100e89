"""`make load`: a headless Locust run against a simulator on loopback, with exit-code gates.

Starts a simulator (or uses ICSSIM_CONTROL_URL / ICSSIM_TRADER_URL / ICSSIM_CONTROL_TOKEN /
ICSSIM_PKI_DIR), registers the profile's traders, runs ``locust -f load/locustfile.py --headless`` as
a subprocess (standalone, or a master with ``--processes`` workers), then reconciles what Locust
counted with what the simulator stored: every filing answered with a receipt must be registered and
journaled exactly once (load/gates.py). Prints a summary whose last line is one JSON object; exits
0 when every gate passed, 1 when one failed, 2 when the run could not be set up.

``--sign-only SPEC`` is the locustfile's helper: it pre-signs filings in this plain (un-patched)
process, where load.presign's process pool works, and pickles them to the file SPEC names.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load.gates import Reconciliation, is_loopback, reconcile
from load.presign import SignedFiling, presign
from load.shapes import DEFAULT_PROFILE, ReleaseProfile
from scenarios.pki import PkiFiles
from scenarios.runner import LocalSimulator, free_port, register_parties
from scenarios.simctl import SimControl

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SIGN_RATE_GUESS = 250  # filings/s per Locust process to pre-sign for (about 1.5 ms each, 2 cores)


def sign_only(spec_json: str) -> None:
    """Pre-sign {"counts": {type: n}} with {"runs": {type: id}} for "traders"; pickle {type: [filing]}."""
    spec = json.loads(spec_json)
    pki = PkiFiles.load(Path(spec["pki_dir"]))
    traders = tuple(spec["traders"])
    signed: dict[str, list[SignedFiling]] = {}
    for message_type, count in spec["counts"].items():
        if count > 0:
            signed[message_type] = presign(pki, traders, int(count), message_type=message_type,
                                           run=spec["runs"][message_type])
    with Path(spec["out"]).open("wb") as stream:
        pickle.dump(signed, stream, protocol=pickle.HIGHEST_PROTOCOL)


def seconds_of(run_time: str) -> float:
    """Locust's run-time syntax (30s, 2m, 1h30m, or plain seconds) in seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", run_time):
        return float(run_time)
    parts = re.findall(r"(\d+)\s*([hms])", run_time)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s", "", run_time):
        raise ValueError(f"run time {run_time!r}: use e.g. 30s, 2m, 1h30m")
    return float(sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts))


def _counts(control: SimControl) -> dict[str, int]:
    """The simulator's totals the reconciliation compares (ENS by state, journal by verdict)."""
    states = control.ics2_ens_stats()
    journal = {(c["direction"], c["kind"], c["verdict"]): int(c["count"]) for c in control.journal_stats()}
    return {"registered": sum(n for s, n in states.items() if s != "rejected"),
            "rejected": states.get("rejected", 0),
            "journaled": journal.get(("in", "user", "accepted"), 0),
            "duplicates": journal.get(("in", "user", "duplicate"), 0)}


def _settled_counts(control: SimControl, timeout: float = 10.0) -> dict[str, int]:
    """Counts once two reads half a second apart agree (a request still in a worker may commit)."""
    deadline = time.monotonic() + timeout
    last = _counts(control)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _counts(control)
        if now == last:
            return now
        last = now
    return last


def _locust(args: argparse.Namespace, host: str, env: dict[str, str]) -> int:
    """Run Locust (standalone, or master + workers on loopback) and return the master's exit code."""
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    run = ["--headless", "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.run_time,
           "--host", host, "--stop-timeout", str(args.stop_timeout)]
    if not args.verbose:
        run.append("--only-summary")
    if args.processes <= 0:
        return subprocess.run(common + run, env=env, check=False).returncode
    port = free_port()
    master = subprocess.Popen(common + run + ["--master", "--master-bind-host", "127.0.0.1",
                                              "--master-bind-port", str(port),
                                              "--expect-workers", str(args.processes)], env=env)
    workers = [subprocess.Popen(common + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                env=env) for _ in range(args.processes)]
    try:
        code = master.wait()
    finally:
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.terminate()
                worker.wait()
    return code


def _print_summary(summary: dict[str, Any], rec: Reconciliation, profile: ReleaseProfile,
                   problems: list[str]) -> None:
    print(f"\nICS2 load run: {profile.release} profile, traders {', '.join(summary['traders'])}, "
          f"{summary['seconds']} s of traffic")
    print(f"  filings sent {summary['filings_sent']}, receipts {summary['receipts']}: "
          f"{profile.relative(summary['filings_per_s'])}")
    thresholds = summary["thresholds"]
    print(f"  send p95 {summary['send_p95_ms']} ms (gate <= {thresholds['max_p95_ms']:g} ms), fail ratio "
          f"{summary['fail_ratio']} (gate <= {thresholds['max_fail_ratio']:g})")
    for name, row in summary["by_name"].items():
        print(f"    {name:14} {row['count']:>7} requests {row['failures']:>5} failed  p50 {row['p50_ms']} ms  "
              f"p95 {row['p95_ms']} ms  {row['rps']}/s")
    for error, count in summary["errors"].items():
        print(f"    failure x{count}: {error}")
    print(f"  simulator: {rec.registered} registered, {rec.rejected} rejected, {rec.journaled} journaled, "
          f"{rec.duplicates} duplicate MessageIds -> lost {rec.lost}, duplicated {rec.duplicated}")
    print("PASS" if not problems else "FAIL:\n  " + "\n  ".join(problems))


def run(args: argparse.Namespace) -> int:
    profile = ReleaseProfile.load(Path(args.profile))
    env = dict(os.environ)
    local: LocalSimulator | None = None
    if env.get("ICSSIM_CONTROL_URL"):
        control = SimControl(env["ICSSIM_CONTROL_URL"], env.get("ICSSIM_CONTROL_TOKEN", ""))
        trader_url = env.get("ICSSIM_TRADER_URL", "")
        pki_dir = Path(args.pki_dir or env.get("ICSSIM_PKI_DIR", ""))
        if not trader_url or not pki_dir.name:
            print("with ICSSIM_CONTROL_URL, set ICSSIM_TRADER_URL and ICSSIM_PKI_DIR too", file=sys.stderr)
            return 2
    else:
        var_dir = Path(args.var_dir or tempfile.mkdtemp(prefix="icssim-load-"))
        local = LocalSimulator(var_dir, Path(args.pki_dir) if args.pki_dir else None,
                               extra_args=("--workers", str(args.sim_workers)) if args.sim_workers else ())
        print(f"starting the simulator in {var_dir} (trader {local.trader_url}) ...", flush=True)
        control = local.start()
        trader_url = local.trader_url
        pki_dir = Path(args.pki_dir) if args.pki_dir else var_dir / "pki"
    try:
        for url in (trader_url, control.url):
            if not is_loopback(url):
                print(f"refusing {url}: load traffic targets loopback only", file=sys.stderr)
                return 2
        register_parties(control, PkiFiles.load(pki_dir), profile.traders)
        before = _counts(control)
        processes = max(1, args.processes)
        presign_count = args.presign if args.presign is not None else \
            int(seconds_of(args.run_time) * SIGN_RATE_GUESS / processes) + 200
        summary_file = Path(tempfile.mkdtemp(prefix="icssim-load-summary-")) / "locust-summary.json"
        env.update({"ICSSIM_PKI_DIR": str(pki_dir), "ICSSIM_LOAD_SUMMARY": str(summary_file),
                    "ICSSIM_PRESIGN_COUNT": str(presign_count), "ICSSIM_LOAD_PROFILE": str(args.profile),
                    "ICSSIM_LOAD_TRADERS": ",".join(profile.traders)})
        if args.max_fail_ratio is not None:
            env["ICSSIM_MAX_FAIL_RATIO"] = str(args.max_fail_ratio)
        if args.max_p95_ms is not None:
            env["ICSSIM_MAX_P95_MS"] = str(args.max_p95_ms)
        code = _locust(args, trader_url, env)
        if not summary_file.exists():
            print(f"locust exited with {code} and wrote no summary", file=sys.stderr)
            return 2
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        after = _settled_counts(control)
    finally:
        if local is not None:
            local.stop()
    rec = Reconciliation(receipts=summary["receipts"], **{k: after[k] - before[k] for k in after})
    problems = list(summary["violations"]) + reconcile(rec)
    if code != 0 and not problems:
        problems.append(f"locust exited with {code}")
    _print_summary(summary, rec, profile, problems)
    print(json.dumps({key: summary[key] for key in ("filings_sent", "receipts", "filings_per_s", "send_p95_ms",
                                                    "fail_ratio", "seconds")}
                     | {"registered": rec.registered, "lost": rec.lost, "duplicated": rec.duplicated,
                        "passed": not problems}))
    return 0 if not problems else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.run_headless", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-u", "--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument("-r", "--spawn-rate", type=float, default=10.0, help="users started per second")
    parser.add_argument("-t", "--run-time", default="30s", help="duration, Locust syntax (default 30s)")
    parser.add_argument("--processes", type=int, default=0,
                        help="Locust worker processes under a local master (default 0: one process)")
    parser.add_argument("--presign", type=int, help="filings pre-signed per Locust process (default: "
                        f"run time x {SIGN_RATE_GUESS}/s / processes + 200)")
    parser.add_argument("--profile", default=str(DEFAULT_PROFILE), help="release profile (load/data/*.json)")
    parser.add_argument("--max-fail-ratio", type=float, help="gate (default env ICSSIM_MAX_FAIL_RATIO or 0.01)")
    parser.add_argument("--max-p95-ms", type=float, help="gate (default env ICSSIM_MAX_P95_MS or 500)")
    parser.add_argument("--stop-timeout", type=int, default=15,
                        help="seconds users get to finish their task at the end (no half-counted filings)")
    parser.add_argument("--sim-workers", type=int, default=0, help="simulator worker processes (default: its own)")
    parser.add_argument("--var-dir", help="simulator state directory (default: a new temporary one)")
    parser.add_argument("--pki-dir", help="test PKI directory (default: the simulator's own)")
    parser.add_argument("--verbose", action="store_true", help="Locust's periodic statistics too")
    parser.add_argument("--sign-only", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sign_only:
        sign_only(args.sign_only)
        return
    sys.exit(run(args))


if __name__ == "__main__":
    main()
