"""The conformance suite's own speed, for `make bench` (issue brief "Speed": the full ICS2 suite against
the reference driver completes in under 2 minutes on a 2-core machine), and the same suite through the
command driver and the example adapter, which starts a process per action as a vendor's adapter does.

Runs `icssim conformance` exactly as a vendor would (it starts and stops its own simulator) in a temporary
reports directory and reports the wall time and the number of scenarios, read from the JUnit report it
writes. Scenarios wait on the simulated clock or on what the simulator recorded, never on sleeps, so the
time is the suite's work.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

JUNIT = "junit-ics2.xml"


@dataclass(frozen=True)
class SuiteRun:
    seconds: float
    scenarios: int
    failures: int
    exit_code: int


EXAMPLE_ADAPTER = Path(__file__).resolve().parents[1] / "examples" / "command-adapter" / "adapter.py"


def run_suite(*, pki_dir: str | None = None, timeout: float = 600.0, extra: Sequence[str] = ()) -> SuiteRun:
    """Time one full `icssim conformance` run (every ICS2 scenario; the reference driver unless ``extra``
    names another)."""
    with tempfile.TemporaryDirectory(prefix="icssim-suite-") as tmp:
        reports, var = Path(tmp) / "reports", Path(tmp) / "var"
        command = [sys.executable, "-m", "icssim", "conformance", "--reports", str(reports), "--var-dir", str(var),
                   *extra]
        if pki_dir:
            command += ["--pki-dir", pki_dir]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        seconds = time.perf_counter() - started
        junit = reports / JUNIT
        if not junit.is_file():
            raise RuntimeError(f"the suite wrote no {JUNIT} (exit {done.returncode}): {done.stdout[-2000:]}")
        tests, failures = junit_counts(junit)
        return SuiteRun(round(seconds, 1), tests, failures, done.returncode)


def command_driver_args() -> list[str]:
    """The suite through the command driver and the example adapter: a process per action, as a vendor's."""
    return ["--driver", "command", "--driver-command", shlex.join([sys.executable, str(EXAMPLE_ADAPTER)])]


def junit_counts(junit: Path) -> tuple[int, int]:
    """(scenarios, failures + errors) of a JUnit XML report (one testsuite or a testsuites wrapper)."""
    root = etree.parse(str(junit)).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failures = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    return tests, failures
