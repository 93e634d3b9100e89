"""Selection, capability files and run specs of `icssim conformance` (scenarios/selection.py, runner.py).

A certification run must be reproducible (the effective spec is written beside the reports and replays
the same selection) and must say what it did not test (UNIMPLEMENTED, DESIGN.md "House style"). The first
tests need no simulator; the last one runs three scenarios against the reference client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.grading import FAILED, NON_STRICT, OK, UNIMPLEMENTED, VERDICTS
from scenarios.requirements import load_catalogue
from scenarios.runner import _summary
from scenarios.selection import RunSpec, SelectionError, discover, load_spec, plan

REPO = Path(__file__).resolve().parents[2]
ALL = discover()
CATALOGUE = load_catalogue()
R3 = plan(ALL, RunSpec(releases=("R3",), unsupported=("IE3N11",)), CATALOGUE)
R3_LISTING = f"{len(R3)} scenario(s) selected, {len(R3) - 1} would run, 1 UNIMPLEMENTED"


def _ids(spec: RunSpec) -> list[str]:
    return [p.scenario.id for p in plan(ALL, spec, CATALOGUE)]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICSSIM_", "PYTEST_"))}
    return subprocess.run([sys.executable, "-m", "icssim", "conformance", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_scenario_ids_are_stable_and_unique() -> None:
    ids = [s.id for s in ALL]
    assert len(ids) == len(set(ids)) >= 38
    assert "as4_security:a-filing-sealed-with-a-expired-certificate-is-refused" in ids
    assert "r1_filing_registered:a-valid-ie3f44-is-registered-and-its-ie3r01-is-pulled-and-acknowledged" in ids
    assert all(s.file.startswith("features/ics2/") and s.id.split(":")[0] == Path(s.file).stem for s in ALL)


def test_filters_combine_with_and_across_kinds_and_or_within_one() -> None:
    r1 = _ids(RunSpec(releases=("R1",)))
    assert r1 == [s.id for s in ALL if "R1" in s.releases] and 0 < len(r1) < len(ALL)
    assert set(_ids(RunSpec(releases=("R1", "R3")))) == {s.id for s in ALL if {"R1", "R3"} & set(s.releases)}
    security = _ids(RunSpec(tags=("@security",)))
    assert security and all(i.startswith("as4_security:") for i in security)
    assert _ids(RunSpec(releases=("R2",), tags=("security",))) == []
    assert _ids(RunSpec(scenarios=("faults:*",))) == [s.id for s in ALL if s.id.startswith("faults:")]
    assert _ids(RunSpec(requirements=("ICS2-hrcm-air", "ICS2-invalidation"))) == [
        "r1_amend_invalidate:an-invalidation-request-invalidates-the-ens",
        "risk_outcomes:an-hrcm-screening-request-on-an-air-filing-is-answered-by-ie3r03"]


def test_exclude_takes_scenario_ids_patterns_and_requirement_ids() -> None:
    everything = _ids(RunSpec())
    assert len(everything) == len(ALL)
    dnl = "risk_outcomes:after-a-do-not-load-the-filer-amends-the-ens"
    left = _ids(RunSpec(exclude=("ICD-4.3-trusted-certificate", "faults:*", dnl)))
    assert left == [s.id for s in ALL if "ICD-4.3-trusted-certificate" not in s.requirements
                    and not s.id.startswith("faults:") and s.id != dnl]
    assert len(left) <= len(ALL) - 6 - 3 - 1  # six certificate conditions, three faults, one more
    assert not any(i.startswith("as4_security:a-filing-sealed-with") for i in left)


def test_unsupported_capabilities_make_exactly_the_needing_scenarios_unimplemented() -> None:
    planned = plan(ALL, RunSpec(unsupported=("push", "IE3F44")), CATALOGUE)
    missing = {p.scenario.id: p.missing for p in planned if not p.runs}
    assert missing == {
        "push_delivery:a-reply-pushed-to-a-trader-that-returns-a-good-receipt-is-delivered": ("push",),
        "push_delivery:a-receiver-whose-receipts-do-not-sign-the-body-gets-retries-then-the-message-is-undelivered":
            ("push",),
        "r1_filing_registered:a-valid-ie3f44-is-registered-and-its-ie3r01-is-pulled-and-acknowledged": ("IE3F44",),
    }


@pytest.mark.parametrize(("spec", "complaint"), [
    (RunSpec(releases=("R4",)), "unknown release"),
    (RunSpec(tags=("nope",)), "no scenario has the tag"),
    (RunSpec(requirements=("ICS2-nope",)), "unknown requirement"),
    (RunSpec(scenarios=("faults:nothing*",)), "no scenario matches"),
    (RunSpec(exclude=("ICS2-nope",)), "names no scenario or requirement"),
    (RunSpec(unsupported=("telepathy",)), "unknown capability"),
])
def test_a_typo_is_refused_rather_than_shrinking_the_run(spec: RunSpec, complaint: str) -> None:
    with pytest.raises(SelectionError, match=complaint):
        plan(ALL, spec, CATALOGUE)


def test_a_toml_spec_reads_its_capability_file_and_round_trips_as_json(tmp_path: Path) -> None:
    (tmp_path / "caps.toml").write_text('unsupported = ["push", "IE3Q05"]\n', encoding="utf-8")
    (tmp_path / "spec.toml").write_text(
        'releases = ["R1", "R2"]\nexclude = ["faults:*"]\ncapabilities = "caps.toml"\n'
        'product = "Acme EDI"\nproduct-version = "4.2"\n', encoding="utf-8")
    spec = load_spec(tmp_path / "spec.toml")
    assert spec.unsupported == ("push", "IE3Q05") and spec.product_version == "4.2"
    assert spec.capabilities_file == str((tmp_path / "caps.toml").resolve())
    cli = spec.overridden(releases=["R3"], product=None)
    assert cli.releases == ("R3",) and cli.product == "Acme EDI" and cli.exclude == ("faults:*",)
    (tmp_path / "run-spec.json").write_text(json.dumps(cli.as_json()), encoding="utf-8")
    assert load_spec(tmp_path / "run-spec.json") == cli


def _record(tmp_path: Path, verdicts: list[str], *, complete: bool = True) -> Path:
    scenarios = [{"id": f"f:{n}", "verdict": v, "outcome": "passed" if v == OK else "failed",
                  "failure": None if v == OK else {"message": "boom", "step": "x"}} for n, v in enumerate(verdicts)]
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"scenarios": scenarios, "complete": complete,
                                "summary": {v: verdicts.count(v) for v in VERDICTS}}), encoding="utf-8")
    return path


def test_exit_code_follows_the_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, spec = tmp_path / "junit.xml", tmp_path / "run-spec.json"
    assert _summary(1, junit, _record(tmp_path, [OK, NON_STRICT, UNIMPLEMENTED]), spec) == 0
    assert _summary(1, junit, _record(tmp_path, [OK, FAILED]), spec) == 1
    assert _summary(0, junit, _record(tmp_path, [OK], complete=False), spec) == 1
    assert _summary(3, junit, _record(tmp_path, [OK]), spec) == 1  # pytest's internal error
    (tmp_path / "run.json").unlink()
    assert _summary(2, junit, tmp_path / "run.json", spec) == 1
    out = capsys.readouterr().out
    assert "OK 1, NON-STRICT 1, FAILED 0, UNIMPLEMENTED 1, INFORMATIONAL 0" in out and "JUnit report:" in out


def test_dry_run_lists_the_plan_without_a_simulator(tmp_path: Path) -> None:
    (tmp_path / "caps.json").write_text('{"unsupported": ["IE3N11"]}', encoding="utf-8")
    done = _cli("--dry-run", "--release", "R3", "--capabilities", "caps.json", "--var-dir", "var", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(1 for p in R3 if not p.runs) == 1
    assert R3_LISTING in done.stdout
    assert "partial_filings:the-completion-timer-expires-before-the-named-house-filer-has-filed" in done.stdout
    assert "UNIMPLEMENTED (needs IE3N11)" in done.stdout
    assert "ICS2-completion-timer (MUST)" in done.stdout
    assert not (tmp_path / "var" / "control-token").exists() and not (tmp_path / "reports").exists()
    bad = _cli("--dry-run", "--release", "R7", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown release" in bad.stderr


@pytest.mark.slow
def test_a_spec_and_a_capability_file_shape_a_reproducible_run(tmp_path: Path) -> None:
    """The command line overrides the spec (R3 instead of R1); the capability file makes the completion
    timer scenario UNIMPLEMENTED; run.json and run-spec.json record it all; the written spec replays."""
    (tmp_path / "caps.json").write_text('{"unsupported": ["IE3N11"]}', encoding="utf-8")
    (tmp_path / "spec.toml").write_text('releases = ["R1"]\ncapabilities = "caps.json"\nproduct = "Acme EDI"\n'
                                        'product_version = "4.2"\n', encoding="utf-8")
    done = _cli("--spec", "spec.toml", "--release", "R3", "--var-dir", "var", "--reports", "out", cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert record["selection"]["releases"] == ["R3"] and record["capabilities"]["unsupported"] == ["IE3N11"]
    assert record["product"] == {"name": "Acme EDI", "version": "4.2"}
    assert record["summary"] == {**dict.fromkeys(VERDICTS, 0), OK: len(R3) - 1, UNIMPLEMENTED: 1}
    by_verdict = {s["verdict"]: s for s in record["scenarios"]}
    skipped = by_verdict[UNIMPLEMENTED]
    assert skipped["id"].endswith("the-completion-timer-expires-before-the-named-house-filer-has-filed")
    assert skipped["wire"] == [] and {s["status"] for s in skipped["steps"]} == {"skipped"}
    for scenario in (s for s in record["scenarios"] if s["verdict"] == OK):
        assert {s["status"] for s in scenario["steps"]} == {"passed"}
        assert any(w["direction"] == "in" and w["action"] == "IE3F12" and w["raw_b64"] for w in scenario["wire"])
    assert "[-] The completion timer expires" in done.stdout and f"[{len(R3) - 1}/{len(R3) - 1}] " in done.stdout
    assert "Run record:" in done.stdout and "JUnit report:" in done.stdout

    written = json.loads((tmp_path / "out" / "run-spec.json").read_text(encoding="utf-8"))
    assert written["releases"] == ["R3"] and written["capabilities"]["unsupported"] == ["IE3N11"]
    replay = _cli("--spec", "out/run-spec.json", "--dry-run", cwd=tmp_path)
    assert replay.returncode == 0 and R3_LISTING in replay.stdout
