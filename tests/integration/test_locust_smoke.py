"""`python -m load.run_headless` end to end: a fresh simulator on loopback, a few Locust users, the gates.

Real parts only (DESIGN.md): the simulator runs as its own process with TLS and client certificates,
Locust runs as a subprocess, and the exactly-once checks (registrations and functional replies) read the
simulator's control API.
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
    assert summary["replies_checked"] == summary["receipts"]  # exactly one functional reply each
    assert summary["replies_lost"] == summary["replies_duplicated"] == 0
    assert "PASS" in completed.stdout
    for name in ("send IE3F32", "pull"):
        assert name in completed.stdout  # separate request names in the summary table


@pytest.mark.slow
def test_release_3_daily_shape_passes_with_one_reply_per_filing(tmp_path: Path) -> None:
    """LOAD_RELEASE=r3: V2.0 sea/road/rail filings of 10-50 KB and partial sets, on the daily curve
    compressed into 12 s (1-3 users at 2 tasks/s follow the R3 hourly factors)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "LOAD_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "load.run_headless", "--shape", "daily", "--day-seconds", "12", "--user-rate", "2",
         "--var-dir", str(tmp_path / "var")],
        cwd=ROOT, env=env | {"LOAD_RELEASE": "r3"}, capture_output=True, text=True, timeout=300, check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["release"] == "R3"
    assert summary["passed"] is True
    assert summary["receipts"] == summary["registered"] == summary["replies_checked"] > 0
    assert summary["replies_lost"] == summary["replies_duplicated"] == 0
    assert "EU-ICS2-TI-V2.0" in completed.stdout
    assert "send IE3F1" in completed.stdout  # sea filings (IE3F10/F11/F12/F15) among the request names
