"""`icssim conformance` end to end: its own PKI, its own simulator, the scenarios, the JUnit report."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MIN_SCENARIOS = 16


def test_conformance_command_passes_and_writes_a_junit_report(tmp_path: Path) -> None:
    """DESIGN.md "What it is for" (2. a conformance harness grading each requirement, with evidence) and
    h2spec house style (every check named, a report a CI can read): `python -m icssim conformance` on a
    fresh var dir generates its own test PKI, starts and stops its simulator, runs every ICS2 scenario
    against the reference client, exits 0, prints "N passed, 0 failed" and writes a JUnit XML report."""
    var_dir, reports = tmp_path / "var", tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "PYTEST_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "icssim", "conformance", "--var-dir", str(var_dir), "--reports", str(reports)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "passed, 0 failed" in completed.stdout, output[-4000:]
    assert (var_dir / "pki" / "manifest.json").exists(), "the command did not generate its own PKI"

    junit = reports / "junit-ics2.xml"
    assert junit.exists(), output[-2000:]
    root = ET.parse(junit).getroot()  # noqa: S314 (our own report)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    assert len(suites) == 1, ET.tostring(root)[:500]
    suite = suites[0]
    assert suite.get("failures") == "0" and suite.get("errors") == "0", suite.attrib
    assert int(suite.get("tests", "0")) >= MIN_SCENARIOS, suite.attrib
    cases = suite.findall("testcase")
    assert len(cases) >= MIN_SCENARIOS
    assert all(case.find("failure") is None and case.find("error") is None for case in cases)
    summary = next(line for line in completed.stdout.splitlines() if line.endswith("passed, 0 failed"))
    assert int(summary.split()[0]) == len(cases), (summary, len(cases))
