"""`icssim conformance --driver manual` end to end: the harness prints each instruction and puts it on the
simulator's page; a "person" (here a script reading the page's JSON and using the reference client as
their package) performs it; the verdicts come from the journal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scenarios.client.ics2 import Ics2Client, TraderIdentity
from scenarios.filings.ics2 import build_filing
from scenarios.pki import PkiFiles
from scenarios.simctl import ControlError, SimControl

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STARTED = re.compile(r"starting the simulator \(trader (https://localhost:\d+), control (http://127\.0\.0\.1:\d+)\)")


class Person:
    """Reads the instruction board and does what it says with the reference client: files the business
    data it shows, or pulls until nothing is waiting. Anything else it leaves alone (the step times out)."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.done: set[str] = set()
        self.performed: list[str] = []
        self.control: SimControl | None = None
        self.trader_url = ""
        self.stop = threading.Event()

    def attach(self, trader_url: str, control_url: str) -> None:
        """The simulator is up (its token file exists) once the harness prints where it runs."""
        token_file = self.var_dir / "control-token"
        deadline = time.monotonic() + 30
        while not token_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.trader_url = trader_url
        self.control = SimControl(control_url, token_file.read_text(encoding="utf-8").strip())

    def run(self) -> None:
        while not self.stop.is_set():
            if self.control is not None:
                try:
                    instruction = self.control.manual_state().get("instruction")
                except (ControlError, OSError):
                    instruction = None
                if instruction and instruction["id"] not in self.done:
                    self.done.add(instruction["id"])
                    self.perform(instruction)
            time.sleep(0.05)

    def perform(self, instruction: dict[str, Any]) -> None:
        pki = PkiFiles.load(self.var_dir / "pki")
        files = pki.trader(instruction["party"])
        client = Ics2Client(self.trader_url, TraderIdentity.from_files(
            files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain, tls_cert=files.tls_cert,
            tls_key=files.tls_key), pki.trust_bundle)
        try:
            if instruction["action"] == "file":
                client.send(instruction["expects"], build_filing(instruction["expects"], instruction["data"]))
            elif instruction["action"] == "poll":
                client.pull_all()
            self.performed.append(instruction["action"])
        finally:
            client.close()


def test_a_person_following_the_page_passes_the_filing_scenario(tmp_path: Path) -> None:
    var_dir, reports = tmp_path / "var", tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "PYTEST_"))}
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "icssim", "conformance", "--var-dir", str(var_dir), "--reports", str(reports),
         "--driver", "manual", "--driver-timeout", "60", "--scenario",
         "r1_filing_registered:a-valid-ie3f32-is-registered-and-its-ie3r01-is-pulled-and-acknowledged"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    person = Person(var_dir)
    worker = threading.Thread(target=person.run, daemon=True)
    worker.start()
    output: list[str] = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            output.append(line)
            if (started := STARTED.search(line)) is not None:
                person.attach(started.group(1), started.group(2))
        code = process.wait(timeout=300)
    finally:
        person.stop.set()
        if process.poll() is None:
            process.kill()
    text = "".join(output)
    assert code == 0, text[-5000:]
    assert re.search(r"\[manual \d+\] File an IE3F32 as party trader-a \(EORI BE\d+\)", text), text[-3000:]
    assert "When the trader pulls its MPC" in text, "the current step is not shown"
    assert person.performed[:2] == ["file", "poll"], person.performed
    record = json.loads((reports / "run.json").read_text(encoding="utf-8"))
    [scenario] = [s for s in record["scenarios"] if s["outcome"] == "passed"]
    assert record["driver"] == "manual" and scenario["verdict"] == "OK"
    actions = [entry["action"] for entry in scenario["driver_log"]]
    assert actions[:2] == ["reset", "file"] and "received" in actions, actions
