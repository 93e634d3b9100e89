"""The whole ICS2 suite through the `command` driver and the example adapter (examples/command-adapter/),
as a vendor runs it: `icssim conformance --driver command --driver-command ...` with its own simulator.

Verdicts come from what the simulator saw, not from what the adapter claims (docs/driver-contract.md,
"Observation, not trust"): an adapter that answers `ok` without sending, or that reports a message it
never fetched, fails the scenario with the reason.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scenarios.grading import FAILED, OK, UNIMPLEMENTED
from scenarios.selection import REFERENCE_CLIENT, discover

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ADAPTER = REPO / "examples" / "command-adapter" / "adapter.py"
LYING_ADAPTER = Path(__file__).resolve().parent / "lying_adapter.py"


def _conformance(tmp_path: Path, command: list[str], *selection: str, env: dict[str, str] | None = None
                 ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    reports = tmp_path / "reports"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "PYTEST_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "icssim", "conformance", "--var-dir", str(tmp_path / "var"), "--reports", str(reports),
         "--driver", "command", "--driver-command", shlex.join(command), "--product", "Example adapter",
         "--product-version", "1.0", *selection],
        cwd=REPO, env={**base, **(env or {})}, capture_output=True, text=True, timeout=900, check=False)
    record_file = reports / "run.json"
    assert record_file.exists(), (completed.stdout + completed.stderr)[-4000:]
    return completed, json.loads(record_file.read_text(encoding="utf-8"))


def test_the_example_adapter_passes_every_scenario_a_package_can_be_asked_for(tmp_path: Path) -> None:
    completed, record = _conformance(tmp_path, [sys.executable, str(ADAPTER)])
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    assert record["driver"] == "command" and record["complete"]
    verdicts = {s["id"]: s["verdict"] for s in record["scenarios"]}
    every = discover()
    assert sorted(verdicts) == sorted(s.id for s in every)
    needs_reference = {s.id for s in every if REFERENCE_CLIENT in s.tags}
    assert needs_reference, "no scenario is tagged @reference-client"
    assert {sid for sid, v in verdicts.items() if v == UNIMPLEMENTED} == needs_reference
    assert FAILED not in verdicts.values(), {sid: v for sid, v in verdicts.items() if v == FAILED}
    ran = [s for s in record["scenarios"] if s["outcome"] == "passed"]
    assert len(ran) == len(every) - len(needs_reference), (len(ran), len(every), len(needs_reference))
    assert sum(1 for v in verdicts.values() if v == OK) >= len(ran) - 2  # two scenarios check MAY requirements
    # Every scenario that ran kept its exchanges with the adapter: requests, answers and the adapter's stderr.
    for scenario in ran:
        log = scenario["driver_log"]
        actions = [entry["action"] for entry in log]
        assert actions[0] == "reset" and len(actions) > 1, (scenario["id"], actions)
        assert all("response" in entry and entry["stderr"].startswith("adapter: ") for entry in log), log[:2]
    for unimplemented in (s for s in record["scenarios"] if s["verdict"] == UNIMPLEMENTED):
        assert "reference client" in unimplemented["unimplemented_because"]
    packs = list((tmp_path / "reports").glob("evidence-*.zip"))
    assert len(packs) == 1 and packs[0].name == "evidence-Example_adapter-1.0.zip", packs
    verified = subprocess.run([sys.executable, "-m", "icssim", "evidence", "verify", str(packs[0]), "--var-dir",
                               str(tmp_path / "var")], cwd=REPO, capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(("lie", "scenario", "reason"), [
    ("file-without-sending", "r1_filing_registered:a-valid-ie3f32-*", "no IE3F32 from"),
    ("report-unfetched", "r1_filing_registered:a-valid-ie3f32-*", "which customs never sent"),
    ("forget-received", "client_reactions:two-filings-*", "does not report them received"),
    ("wrong-mrn", "r1_filing_registered:a-valid-ie3f32-*", "the package read the MRN"),
])
def test_what_an_adapter_claims_is_checked_against_the_wire(tmp_path: Path, lie: str, scenario: str,
                                                            reason: str) -> None:
    completed, record = _conformance(tmp_path, [sys.executable, str(LYING_ADAPTER), str(ADAPTER)],
                                     "--scenario", scenario, env={"LYING_ADAPTER_LIE": lie})
    assert completed.returncode == 1, (completed.stdout + completed.stderr)[-4000:]
    [failed] = [s for s in record["scenarios"] if s["verdict"] == FAILED]
    assert reason in failed["failure"]["message"], failed["failure"]


OWN_EORI = "NL123456789012"


def test_the_package_acts_under_its_own_certificate_and_eori(tmp_path: Path) -> None:
    """A first-time user's own identity (`icssim certs issue`), registered by the harness as a user would,
    replaces the sample trader it names: the filings reach customs from its EORI, sealed with its key."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "PYTEST_"))}
    pki_dir, own = tmp_path / "var" / "pki", tmp_path / "own" / "trader-a"
    for command in (["certs", "init", "--dir", str(pki_dir)],
                    ["certs", "issue", "--dir", str(pki_dir), "--name", "trader-a", "--eori", OWN_EORI,
                     "--out", str(own)]):
        done = subprocess.run([sys.executable, "-m", "icssim", *command], cwd=REPO, env=base, capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    completed, record = _conformance(tmp_path, [sys.executable, str(ADAPTER)], "--party", str(own), "--scenario",
                                     "r1_filing_registered:a-valid-ie3f32-*")
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    [scenario] = [s for s in record["scenarios"] if s["outcome"] == "passed"]
    senders = {entry.get("sender") for entry in scenario["wire"] if entry["direction"] == "in"
               and entry["kind"] == "user"}
    assert senders == {OWN_EORI}, senders


def test_a_party_folder_that_is_not_an_identity_is_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "not-a-party").mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "PYTEST_"))}
    subprocess.run([sys.executable, "-m", "icssim", "certs", "init", "--dir", str(tmp_path / "var" / "pki")],
                   cwd=REPO, env=base, capture_output=True, check=True)
    done = subprocess.run([sys.executable, "-m", "icssim", "conformance", "--var-dir", str(tmp_path / "var"),
                           "--party", str(tmp_path / "not-a-party")], cwd=REPO, env=base, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "party.json" in done.stderr and "icssim certs issue" in done.stderr, done.stderr


def test_the_http_driver_runs_the_suite_through_a_vendor_controller(tmp_path: Path) -> None:
    """`--driver http`: the same adapter behind an HTTP controller (tests/integration/adapter_controller.py)."""
    port_file = tmp_path / "port"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "PYTEST_"))}
    controller = subprocess.Popen([sys.executable, str(Path(__file__).parent / "adapter_controller.py"),
                                   str(port_file), sys.executable, str(ADAPTER)],
                                  env={**base, "ICSSIM_ADAPTER_STATE": str(tmp_path / "state")})
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text(encoding="utf-8"):
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text(encoding='utf-8')}/icssim"
        reports = tmp_path / "reports"
        done = subprocess.run(
            [sys.executable, "-m", "icssim", "conformance", "--var-dir", str(tmp_path / "var"), "--reports",
             str(reports), "--driver", "http", "--driver-url", url, "--scenario", "r1_amend_invalidate:*"],
            cwd=REPO, env=base, capture_output=True, text=True, timeout=600, check=False)
    finally:
        controller.terminate()
        controller.wait(timeout=10)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    record = json.loads((reports / "run.json").read_text(encoding="utf-8"))
    assert record["driver"] == "http" and [s["verdict"] for s in record["scenarios"]] == [OK] * 4, record["summary"]
