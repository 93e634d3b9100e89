"""`make load`: a headless Locust run against a simulator on loopback, with exit-code gates.

Starts a simulator (or uses ICSSIM_CONTROL_URL / ICSSIM_TRADER_URL / ICSSIM_CONTROL_TOKEN /
ICSSIM_PKI_DIR), registers the release profile's traders (``--release`` / LOAD_RELEASE: r1, r2, r3),
runs ``locust -f load/locustfile.py --headless`` as a subprocess (standalone, or a master with
``--processes`` workers; closed loop, or a shape: ``--shape`` / LOAD_SHAPE release | daily), then
reconciles what Locust counted with what the simulator stored: every filing answered with a receipt
must be registered and journaled exactly once, and every filing must have exactly one functional reply
(load/gates.py, load/replies.py). Prints a summary whose last line is one JSON object; exits 0 when
every gate passed, 1 when one failed, 2 when the run could not be set up.

``--sign-only SPEC`` is the locustfile's helper: it pre-signs filings in this plain (un-patched)
process, where load.presign's process pool works, and pickles them to the file SPEC names.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load.gates import Reconciliation, is_loopback, reconcile, tally_replies
from load.presign import Unit, describe, fresh_runs, sign_to_file
from load.replies import ReplySource, SentLog, collect_replies, journal_mark
from load.shapes import RELEASES, ReleaseProfile, Stage, profile_path
from scenarios.pki import PkiFiles
from scenarios.runner import LocalSimulator, free_port, register_parties
from scenarios.simctl import SimControl

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SIGN_RATE_GUESS = 250  # R1 filings/s per Locust process to pre-sign for (about 1.5 ms each, 2 cores)
SHAPE_HEADROOM = 1.25  # units pre-signed beyond a shape's planned rate
R1_KB = 3.3  # size of an R1 sample filing


def sign_only(spec_json: str) -> None:
    """The locustfile's helper: {"pki_dir", "traders", "counts", "runs", "out", "profile"} ->
    :func:`sign_to_file`."""
    spec = json.loads(spec_json)
    sign_to_file(Path(spec["pki_dir"]), tuple(spec["traders"]), {k: int(v) for k, v in spec["counts"].items()},
                 dict(spec["runs"]), Path(spec["out"]), ReleaseProfile.load(Path(spec["profile"])))


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


def _locust(args: argparse.Namespace, host: str, env: dict[str, str], per_process: list[dict[str, str]]) -> int:
    """Run Locust (standalone, or master + workers on loopback) and return the master's exit code;
    each process gets its own batch of pre-signed filings and sent log (``per_process``)."""
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    run = ["--headless", "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.run_time,
           "--host", host, "--stop-timeout", str(args.stop_timeout)]
    if not args.verbose:
        run.append("--only-summary")
    if args.processes <= 0:
        return subprocess.run(common + run, env=env | per_process[0], check=False).returncode
    port = free_port()
    master = subprocess.Popen(common + run + ["--master", "--master-bind-host", "127.0.0.1",
                                              "--master-bind-port", str(port),
                                              "--expect-workers", str(args.processes)], env=env)
    workers = [subprocess.Popen([*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                env=env | own) for own in per_process]
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
                   problems: list[str], source: ReplySource | None) -> None:
    print(f"\nICS2 load run: {profile.release} profile ({profile.agreement}), traders "
          f"{', '.join(summary['traders'])}, {summary['seconds']} s of traffic")
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
    if rec.replies is not None and source is not None:
        how = ", ".join(f"{name}: {kind}" for name, kind in source.queues.items())
        drained = f"; {source.drained} pulled to drain in {source.drain_seconds:.1f} s" if source.drained else ""
        print(f"  functional replies ({how}{drained}): {rec.replies.answered_once} of {rec.replies.expected} "
              f"receipted filings answered exactly once -> lost {rec.replies.lost}, duplicated "
              f"{rec.replies.duplicated}")
    print("PASS" if not problems else "FAIL:\n  " + "\n  ".join(problems))


@dataclass
class Target:
    """The simulator under load: started here (``local``) or reached through ICSSIM_* settings."""

    control: SimControl
    trader_url: str
    pki_dir: Path
    local: LocalSimulator | None = None
    temporary: bool = False  # the var dir is ours to remove after a passing run


def _target(args: argparse.Namespace, env: dict[str, str]) -> Target:
    if env.get("ICSSIM_CONTROL_URL"):
        trader_url, pki_dir = env.get("ICSSIM_TRADER_URL", ""), args.pki_dir or env.get("ICSSIM_PKI_DIR", "")
        if not trader_url or not pki_dir:
            raise SetupError("with ICSSIM_CONTROL_URL, set ICSSIM_TRADER_URL and ICSSIM_PKI_DIR too")
        return Target(SimControl(env["ICSSIM_CONTROL_URL"], env.get("ICSSIM_CONTROL_TOKEN", "")), trader_url,
                      Path(pki_dir))
    var_dir = Path(args.var_dir or tempfile.mkdtemp(prefix="icssim-load-"))
    local = LocalSimulator(var_dir, Path(args.pki_dir) if args.pki_dir else None,
                           extra_args=("--workers", str(args.sim_workers)) if args.sim_workers else ())
    print(f"starting the simulator in {var_dir} (trader {local.trader_url}) ...", flush=True)
    control = local.start()
    return Target(control, local.trader_url, Path(args.pki_dir) if args.pki_dir else var_dir / "pki", local,
                  temporary=not args.var_dir)


class SetupError(RuntimeError):
    """The run could not be set up (exit code 2)."""


def shape_stages(args: argparse.Namespace, profile: ReleaseProfile) -> list[Stage]:
    """The stages of ``--shape`` (empty for a closed loop), as the locustfile will compute them."""
    if args.shape == "release":
        return profile.release_stages(args.user_rate, stage_s=args.stage_seconds, scale=args.scale)
    if args.shape == "daily":
        return profile.daily_stages(args.user_rate, day_s=args.day_seconds, scale=args.scale)
    return []


def presign_units_per_process(args: argparse.Namespace, profile: ReleaseProfile) -> int:
    """Units each Locust process needs: a shape's planned sends with headroom, or for a closed loop
    the run time x what one process sends at most (R1: SIGN_RATE_GUESS filings/s; larger filings and
    partial sets fewer units, by payload size and filings per unit)."""
    processes = max(1, args.processes)
    if args.presign is not None:
        return int(args.presign)
    stages = shape_stages(args, profile)
    if stages:
        planned, begun = 0.0, 0.0
        for stage in stages:
            planned += stage.users * args.user_rate * profile.send_share * (stage.until_s - begun)
            begun = stage.until_s
        return int(planned * SHAPE_HEADROOM / processes) + 50
    # Workers get uneven shares of each trader's users, and a trader's filings serve only its users.
    headroom = 1.0 if processes == 1 else 1.5
    # Larger filings go slower, though not in proportion (TLS, signature checks and the journal commit
    # cost the same): on two cores 30 KB filings ran at about half the rate of 3.3 KB R1 filings.
    mean_kb = (profile.payload.min_bytes + profile.payload.max_bytes) / 2000 if profile.payload else R1_KB
    rate = SIGN_RATE_GUESS * min(1.0, (R1_KB / mean_kb) ** 0.3) / profile.filings_per_unit
    return int(seconds_of(args.run_time) * rate * headroom / processes) + 200


def _presign_batches(args: argparse.Namespace, profile: ReleaseProfile, pki_dir: Path, work: Path) -> list[Path]:
    """One batch of distinct filings per Locust process, signed here where a process pool works."""
    processes = max(1, args.processes)
    count = presign_units_per_process(args, profile)
    batches = [work / f"filings-{i}.pickle" for i in range(processes)]
    started = time.perf_counter()
    print(f"pre-signing {count} units of the {profile.release} mix for each of {processes} Locust process(es) ...",
          flush=True)
    units: list[Unit] = []
    for batch in batches:
        signed = sign_to_file(pki_dir, profile.traders, profile.presign_counts(count),
                              fresh_runs(profile.filing_mix), batch, profile)
        units += [unit for kind_units in signed.values() for unit in kind_units]
    shape = describe(units)
    print(f"  signed in {time.perf_counter() - started:.1f} s (client side, before the clock starts): "
          f"{shape['filings']} filings, payload {shape['kb_min']}-{shape['kb_max']} KB (avg {shape['kb_avg']})",
          flush=True)
    return batches


def _load(args: argparse.Namespace, profile: ReleaseProfile, target: Target, env: dict[str, str],
          work: Path) -> tuple[int, dict[str, Any], Reconciliation, ReplySource | None]:
    """Register the traders, run Locust, reconcile its receipts with the simulator's counts, and count
    the functional replies of every filing sent."""
    for url in (target.trader_url, target.control.url):
        if not is_loopback(url):
            raise SetupError(f"refusing {url}: load traffic targets loopback only")
    pki = PkiFiles.load(target.pki_dir)
    register_parties(target.control, pki, profile.traders)
    before = _counts(target.control)
    mark = journal_mark(target.control)
    batches = _presign_batches(args, profile, target.pki_dir, work)
    summary_file = work / "locust-summary.json"
    sent_logs = [batch.with_suffix(".sent.json") for batch in batches]
    env = env | {"ICSSIM_PKI_DIR": str(target.pki_dir), "ICSSIM_LOAD_SUMMARY": str(summary_file),
                 "ICSSIM_LOAD_PROFILE": str(args.profile), "ICSSIM_LOAD_TRADERS": ",".join(profile.traders)}
    if args.shape != "closed":
        env |= {"ICSSIM_LOAD_SHAPE": args.shape, "ICSSIM_USER_RATE": str(args.user_rate),
                "ICSSIM_LOAD_SCALE": str(args.scale), "ICSSIM_DAY_SECONDS": str(args.day_seconds),
                "ICSSIM_STAGE_SECONDS": str(args.stage_seconds)}
    elif args.user_rate:
        env["ICSSIM_USER_RATE"] = str(args.user_rate)
    if args.max_fail_ratio is not None:
        env["ICSSIM_MAX_FAIL_RATIO"] = str(args.max_fail_ratio)
    if args.max_p95_ms is not None:
        env["ICSSIM_MAX_P95_MS"] = str(args.max_p95_ms)
    per_process = [{"ICSSIM_PRESIGNED_FILE": str(batch), "ICSSIM_SENT_LOG": str(log)}
                   for batch, log in zip(batches, sent_logs, strict=True)]
    code = _locust(args, target.trader_url, env, per_process)
    if not summary_file.exists():
        raise SetupError(f"locust exited with {code} and wrote no summary")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    after = _settled_counts(target.control)
    sent = SentLog.read(sent_logs)
    replies, source = None, None
    if sent.receipted or sent.unreceipted:
        print("counting the functional replies of every filing sent ...", flush=True)
        rows, source = collect_replies(target.control, target.trader_url, pki, profile.traders, since_id=mark)
        replies = tally_replies(sent.receipted, sent.unreceipted, rows)
    rec = Reconciliation(receipts=int(summary["receipts"]), replies=replies,
                         **{k: after[k] - before[k] for k in after})
    return code, summary, rec, source


def _resolve(args: argparse.Namespace) -> None:
    """--profile wins over --release; a shape decides the run time unless -t was given."""
    args.profile = args.profile or str(profile_path(args.release))
    if args.shape != "closed" and args.user_rate <= 0:
        raise SetupError(f"--shape {args.shape} needs --user-rate (tasks per second per user) > 0")
    if args.run_time is None:
        stages = shape_stages(args, ReleaseProfile.load(Path(args.profile)))
        args.run_time = f"{math.ceil(stages[-1].until_s) + 2}s" if stages else "30s"


def run(args: argparse.Namespace) -> int:
    try:
        _resolve(args)
        profile = ReleaseProfile.load(Path(args.profile))
    except (SetupError, ValueError, OSError) as exc:
        print(f"load run not possible: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="icssim-load-run-"))
    target: Target | None = None
    try:
        target = _target(args, dict(os.environ))
        code, summary, rec, source = _load(args, profile, target, dict(os.environ), work)
    except SetupError as exc:
        print(f"load run not possible: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if target is not None and target.local is not None:
            target.local.stop()
    problems = list(summary["violations"]) + reconcile(rec)
    if rec.replies is None:
        problems.append("no sent MessageIds were recorded, so the functional replies could not be counted")
    if code != 0 and not problems:
        problems.append(f"locust exited with {code}")
    _print_summary(summary, rec, profile, problems, source)
    if target.temporary and not problems:
        shutil.rmtree(target.local.var_dir if target.local else work, ignore_errors=True)
    elif target.local is not None:
        print(f"simulator state kept in {target.local.var_dir}")
    replies = rec.replies
    print(json.dumps({"release": profile.release}
                     | {key: summary[key] for key in ("filings_sent", "receipts", "filings_per_s", "send_p95_ms",
                                                      "fail_ratio", "seconds")}
                     | {"registered": rec.registered, "lost": rec.lost, "duplicated": rec.duplicated,
                        "replies_checked": replies.expected if replies else 0,
                        "replies_lost": replies.lost if replies else None,
                        "replies_duplicated": replies.duplicated if replies else None,
                        "passed": not problems}))
    return 0 if not problems else 1


def main(argv: list[str] | None = None) -> None:
    def _env(name: str, default: str) -> str:
        return os.environ.get(name) or default

    parser = argparse.ArgumentParser(prog="python -m load.run_headless", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-u", "--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument("-r", "--spawn-rate", type=float, default=10.0, help="users started per second")
    parser.add_argument("-t", "--run-time", help="duration, Locust syntax (default 30s; with a shape: the "
                        "shape's length + 2 s)")
    parser.add_argument("--release", default=_env("LOAD_RELEASE", "r1"),
                        help=f"release profile: {', '.join(RELEASES)} (default env LOAD_RELEASE or r1)")
    parser.add_argument("--profile", help="a profile file instead (load/data/*.json); overrides --release")
    parser.add_argument("--shape", choices=("closed", "release", "daily"), default=_env("LOAD_SHAPE", "closed"),
                        help="closed loop (-u users, default), release (average -> peak -> average) or daily "
                        "(the profile's daily curve compressed into --day-seconds); env LOAD_SHAPE")
    parser.add_argument("--user-rate", type=float, default=float(_env("LOAD_USER_RATE", "0")),
                        help="tasks per second per user (needed by a shape; env LOAD_USER_RATE)")
    parser.add_argument("--scale", type=float, default=float(_env("LOAD_SCALE", "1")),
                        help="share of the release's volume a shape plays (default 1; env LOAD_SCALE)")
    parser.add_argument("--day-seconds", type=float, default=float(_env("LOAD_DAY_SECONDS", "240")),
                        help="length of the compressed day of the daily shape (default 240: 10 s an hour)")
    parser.add_argument("--stage-seconds", type=float, default=60.0, help="stage length of the release shape")
    parser.add_argument("--processes", type=int, default=0,
                        help="Locust worker processes under a local master (default 0: one process)")
    parser.add_argument("--presign", type=int, help="units pre-signed per Locust process (default: from the "
                        f"run time or shape; R1 closed loop {SIGN_RATE_GUESS}/s, x 1.5 / processes with workers)")
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
