"""`icssim ens|outcomes|faults` against a running simulator: the scene set from the command line is the
scene the control API reports, and bad input is refused with a message, not a traceback."""

from __future__ import annotations

import json

import pytest

from icssim.cli import main
from scenarios.simctl import SimControl
from tests.integration.conftest import SimHandle, filing_payload


def _run(control: SimControl, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main([*argv, "--control-url", control.url, "--token", control.token])
    return code, capsys.readouterr().out


def test_faults_add_list_clear(sim: SimHandle, control: SimControl, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(control, capsys, "faults", "add", "delay_reply", "--party", "BE0123456789", "--seconds", "30",
                     "--count", "2")
    assert code == 0 and json.loads(out)["kind"] == "delay_reply"
    code, out = _run(control, capsys, "faults", "list")
    [fault] = json.loads(out)
    assert (fault["kind"], fault["party"], fault["seconds"], fault["remaining"]) == ("delay_reply", "BE0123456789",
                                                                                     30.0, 2)
    code, out = _run(control, capsys, "faults", "clear")
    assert code == 0 and json.loads(out) == {"removed": 1} and control.faults() == []


def test_fault_without_its_delay_is_refused(sim: SimHandle, control: SimControl,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["faults", "add", "delay_reply", "--control-url", control.url, "--token", control.token])
    captured = capsys.readouterr()
    assert code == 2 and "seconds must be a finite number" in captured.err
    assert control.faults() == []


def test_outcomes_force_then_ens_history_shows_the_referral(sim: SimHandle, control: SimControl,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    eori = sim.pki.trader("trader-a").eori
    code, out = _run(control, capsys, "outcomes", "force", "--lrn", "CLILRN0001", "rfi@30")
    assert code == 0, out
    sent = sim.client("trader-a").send("IE3F32", filing_payload(eori, lrn="CLILRN0001"))
    assert sent.receipt
    [ens] = control.ics2_ens(message_id=sent.message_id)
    control.advance_clock(31)
    code, out = _run(control, capsys, "ens", "history", ens["mrn"])
    history = json.loads(out)
    assert history["state"] == "information_requested"
    assert [r["kind"] for r in history["referrals"]] == ["rfi"]
    assert any(step["event"] == "request_information" and step["rule"] for step in history["history"])
    code, out = _run(control, capsys, "ens", "list", "--state", "registered")
    assert [row["mrn"] for row in json.loads(out)] == [ens["mrn"]]


def test_unknown_outcome_is_refused(sim: SimHandle, control: SimControl, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["outcomes", "force", "--lrn", "X1", "teleport@5", "--control-url", control.url,
                 "--token", control.token])
    assert code == 2 and "teleport" in capsys.readouterr().err
