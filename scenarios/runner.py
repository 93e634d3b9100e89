"""`icssim conformance`: start (or reach) a simulator, set up the parties, run the scenarios through a
driver, write the reports, stop what it started, and exit non-zero on any failure.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scenarios.pki import PkiFiles
from scenarios.simctl import SimControl

SUITE = Path(__file__).resolve().parent / "suite"
SAMPLE_PARTIES = ("trader-a", "trader-b")


def add_conformance_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None],
                           handler: Callable[[argparse.Namespace], int]) -> None:
    p = sub.add_parser("conformance", help="run the conformance scenarios against a system under test")
    common(p)
    p.add_argument("--simulator", help="control URL of a running simulator (default: start one)")
    p.add_argument("--trader-url", dest="trader_url", help="trader URL of that simulator")
    p.add_argument("--driver", default="reference", choices=("reference",))
    p.add_argument("--reports", type=Path, default=Path("reports"), help="directory for the reports")
    p.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    p.set_defaults(func=handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalSimulator:
    """A simulator started for this run, as a child process on free loopback ports."""

    var_dir: Path
    pki_dir: Path | None = None
    trader_port: int = field(default_factory=free_port)
    control_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def trader_url(self) -> str:
        return f"https://localhost:{self.trader_port}"

    def start(self, *, timeout: float = 60.0) -> SimControl:
        command = [sys.executable, "-m", "icssim", "serve", "--var-dir", str(self.var_dir),
                   "--trader-port", str(self.trader_port), "--control-port", str(self.control_port),
                   *self.extra_args]
        if self.pki_dir is not None:
            command += ["--pki-dir", str(self.pki_dir)]
        self.var_dir.mkdir(parents=True, exist_ok=True)
        log = (self.var_dir / "serve.out").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        token_file = self.var_dir / "control-token"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the simulator exited with {self.process.returncode}; "
                                   f"see {self.var_dir / 'serve.out'} and {self.var_dir / 'logs'}")
            if token_file.exists() and _port_open(self.trader_port):
                control = SimControl(self.control_url, token_file.read_text(encoding="utf-8").strip())
                if control.health():
                    return control
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the simulator did not come up within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class _Outcomes:
    """Collects one line per scenario for the summary."""

    def __init__(self) -> None:
        self.results: list[tuple[str, str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            message = ""
            if report.failed:
                message = str(report.longrepr).strip().splitlines()[-1][:200] if report.longrepr else ""
            self.results.append((report.nodeid.split("::")[-1], report.outcome, message))


def register_parties(control: SimControl, pki: PkiFiles, names: tuple[str, ...]) -> None:
    for name in names:
        files = pki.trader(name)
        control.register(files.eori, files.sealing_cert.read_text(), purpose="sealing", name=name)
        control.register(files.eori, files.tls_cert.read_text(), purpose="tls", name=name)


def run_conformance(args: argparse.Namespace, config: Any) -> int:
    """`config` is the resolved simulator configuration (read by the CLI, never here)."""
    pki_dir = Path(config.pki)
    local: LocalSimulator | None = None
    if args.simulator:
        control = SimControl(args.simulator, args.token or config.token_file.read_text().strip())
        trader_url = args.trader_url or config.trader_url
    else:
        # `icssim serve` creates the default PKI when it is missing (simulator/serve.py, prepare).
        local = LocalSimulator(Path(config.var_dir), config.pki_dir)
        print(f"starting the simulator (trader {local.trader_url}, control {local.control_url}) ...")
        control = local.start()
        trader_url = local.trader_url
    try:
        pki = PkiFiles.load(pki_dir)
        register_parties(control, pki, SAMPLE_PARTIES)
        reports = Path(args.reports)
        reports.mkdir(parents=True, exist_ok=True)
        junit = reports / "junit-ics2.xml"
        pytest_args = [
            str(SUITE), "-p", "scenarios.plugin", "-p", "no:cacheprovider", "-q", "--no-header",
            f"--rootdir={SUITE.parents[1]}", f"--junitxml={junit}", "-o", "junit_family=xunit2",
            f"--icssim-control-url={control.url}", f"--icssim-token={control.token}",
            f"--icssim-trader-url={trader_url}", f"--icssim-pki-dir={pki_dir}",
            f"--icssim-driver={args.driver}",
        ]
        if args.keyword:
            pytest_args += ["-k", args.keyword]
        outcomes = _Outcomes()
        code = pytest.main(pytest_args, plugins=[outcomes])
    finally:
        if local is not None:
            local.stop()
    _summary(outcomes, junit)
    return 0 if code == 0 else 1


def _summary(outcomes: _Outcomes, junit: Path) -> None:
    passed = sum(1 for _, outcome, _ in outcomes.results if outcome == "passed")
    failed = len(outcomes.results) - passed
    print("\nICS2 conformance scenarios")
    for name, outcome, message in outcomes.results:
        print(f"  {'PASS' if outcome == 'passed' else outcome.upper():7} {name}"
              + (f"\n          {message}" if message else ""))
    print(f"\n{passed} passed, {failed} failed")
    print(f"JUnit report: {junit.resolve()}")
