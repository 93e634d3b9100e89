"""`python -m load.run_headless` end to end: a fresh simulator on loopback, two Locust users, the gates.

Real parts only (DESIGN.md): the simulator runs as its own process with TLS and client certificates,
Locust runs as a subprocess, and the exactly-once check reads the simulator's control API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_headless_run_passes_its_gates_with_exactly_once_outcomes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ICSSIM_")}  # a fresh simulator, default gates, whatever the shell says
    completed = subprocess.run(
        [sys.executable, "-m", "load.run_headless", "-u", "2", "-r", "2", "-t", "8s", "--presign", "1500",
         "--var-dir", str(tmp_path / "var")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["passed"] is True
    assert summary["filings_sent"] > 0
    assert summary["receipts"] == summary["registered"] > 0  # every receipted filing registered once
    assert summary["lost"] == 0
    assert summary["duplicated"] == 0
    assert "PASS" in completed.stdout
    for name in ("send IE3F32", "pull"):
        assert name in completed.stdout  # separate request names in the summary table
