"""The harness's requirement catalogue and graded verdicts (scenarios/requirements.py, scenarios/grading.py).

DESIGN.md "House style" (h2spec / Autobahn): OK, NON-STRICT (breaks a SHOULD), FAILED (breaks a MUST),
UNIMPLEMENTED, INFORMATIONAL; each check names the rule it enforces. The last test runs the grading plugin
in a pytest subprocess over a small feature of its own, with a fabricated journal (no simulator).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from scenarios.failures import locate
from scenarios.grading import (
    FAILED,
    INFORMATIONAL,
    NON_STRICT,
    OK,
    UNIMPLEMENTED,
    JournalWindow,
    grade,
)
from scenarios.requirements import CATALOGUE, STRENGTHS, CatalogueError, load_catalogue
from scenarios.selection import discover

REPO = Path(__file__).resolve().parents[2]


# -- the catalogue ------------------------------------------------------------------------------------------
def test_every_tag_is_catalogued_and_every_entry_is_used() -> None:
    """Catalogue and features agree: each @req:ID of features/ics2 has an entry, each entry has a scenario,
    each scenario has a requirement, and its release tags are among its requirements' releases."""
    catalogue = load_catalogue()
    scenarios = discover()
    assert len(scenarios) >= 38
    catalogue.check_against({s.id: s.requirements for s in scenarios}, {s.id: s.releases for s in scenarios})
    used = {r for s in scenarios for r in s.requirements}
    assert used == set(catalogue.requirements)


def test_catalogue_entries_are_complete() -> None:
    catalogue = load_catalogue()
    for req in catalogue.requirements.values():
        assert req.strength in STRENGTHS and len(req.text) > 40 and req.source and req.releases, req
        assert all(catalogue.is_capability(n) for n in req.needs), req
    assert {"pull", "push", "resend"} <= set(catalogue.flows)
    assert {r.strength for r in catalogue.requirements.values()} == set(STRENGTHS)


def _write_catalogue(tmp_path: Path, **changes: Any) -> Path:
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    entry = data["requirements"]["ICS2-hrcm-air"]
    entry.update(changes)
    path = tmp_path / "ics2.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "complaint"), [
    ({"strength": "MUSTN'T"}, "strength"),
    ({"needs": ["teleport"]}, "neither a message id nor a flow"),
    ({"releases": ["R9"]}, "releases"),
    ({"text": "short"}, "text"),
])
def test_malformed_entries_are_refused(tmp_path: Path, change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(CatalogueError, match=complaint):
        load_catalogue(_write_catalogue(tmp_path, **change))


def test_unknown_tags_unused_entries_and_untagged_scenarios_are_reported() -> None:
    catalogue = load_catalogue()
    used = {s.id: s.requirements for s in discover()}
    first = next(iter(used))
    with pytest.raises(CatalogueError, match="ICS2-made-up"):
        catalogue.check_against({**used, first: ("ICS2-made-up",)})
    dropped = {k: v for k, v in used.items() if "ICS2-hrcm-air" not in v}
    with pytest.raises(CatalogueError, match=r"no scenario checks.*ICS2-hrcm-air"):
        catalogue.check_against(dropped)
    with pytest.raises(CatalogueError, match="no @req:ID tag"):
        catalogue.check_against({**used, "x:y": ()})
    with pytest.raises(CatalogueError, match="outside the releases"):
        catalogue.check_against(used, {first: ("R9",)})


# -- verdicts -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("outcome", "strengths", "verdict"), [
    ("passed", ["MUST"], OK),
    ("passed", ["SHOULD"], OK),
    ("failed", ["MUST"], FAILED),
    ("failed", ["SHOULD", "MUST"], FAILED),
    ("failed", ["SHOULD"], NON_STRICT),
    ("failed", ["SHOULD", "MAY"], NON_STRICT),
    ("failed", ["MAY"], INFORMATIONAL),
    ("passed", ["MAY", "MAY"], INFORMATIONAL),
    ("failed", [], FAILED),
    ("skipped", ["MUST"], UNIMPLEMENTED),
])
def test_verdict_from_outcome_and_strengths(outcome: str, strengths: list[str], verdict: str) -> None:
    assert grade(outcome, strengths) == verdict


def test_a_capability_exclusion_is_unimplemented_whatever_the_strength() -> None:
    assert grade("not-run", ["MUST"], unimplemented=True) == UNIMPLEMENTED


@pytest.mark.parametrize(("message", "where"), [
    ("expected code 100 at /IE3N99/ErrorDetails[2]/errorPointer, found none",
     "xpath:/IE3N99/ErrorDetails[2]/errorPointer"),
    ("missing /S12:Envelope/S12:Header/eb:Messaging", "xpath:/S12:Envelope/S12:Header/eb:Messaging"),
    ("the Content-Type header lacks a boundary", "header:Content-Type"),
    ("the sealing certificate's notAfter is in the past", "certificate:notAfter"),
    ("see /tmp/x/y and https://localhost:8443/ics2/as4: 503", None),
])
def test_the_failure_names_where_the_assertion_points(message: str, where: str | None) -> None:
    assert locate(message) == where


# -- the journal window -------------------------------------------------------------------------------------
class FakeJournal:
    """Journal ids restart at 1 after a reset, as SQLite rowids do once the table is emptied."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.clock = 0.0

    def add(self, action: str) -> None:
        self.clock += 1
        self.entries.append({"id": len(self.entries) + 1, "real_at": self.clock, "action": action, "raw_b64": "AA=="})

    def fetch(self, since: int, limit: int, raw: bool) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entries if e["id"] > since][:limit]


def test_the_window_holds_what_the_scenario_wrote_across_resets_and_pages() -> None:
    journal = FakeJournal()
    window = JournalWindow(journal.fetch, page=2)
    for action in ("a", "b", "c"):
        journal.add(action)
    mark = window.mark()
    journal.add("d")
    journal.add("e")
    assert [e["action"] for e in window.since(mark)] == ["d", "e"]
    mark = window.mark()
    journal.entries.clear()  # the next scenario's Background resets the scene
    for action in ("f", "g", "h", "i", "j", "k"):
        journal.add(action)
    wire = window.since(mark)
    assert [e["action"] for e in wire] == ["f", "g", "h", "i", "j", "k"]
    assert {"id", "sim_at", "direction", "message_id", "raw_b64", "payload"} <= set(wire[0])
    assert window.since(window.mark()) == []


# -- the plugin, end to end over a feature of its own ---------------------------------------------------------
FEATURE = """\
@R1
Feature: Demo of the grading
  Background:
    Given a fresh journal

  @req:T-must
  Scenario: A MUST check passes
    When the system sends "IE3F32"
    Then all is well

  @req:T-must @req:T-should
  Scenario: A MUST check fails
    When the system sends "IE3F32"
    Then the check fails naming "/IE3N99/Consignment/descriptionOfGoods"
    And all is well

  @req:T-should
  Scenario: A SHOULD check fails
    Then the check fails naming "the Content-Type header"

  @req:T-may
  Scenario: A MAY check fails
    Then the check fails naming "nothing"

  @timing @req:T-must
  Scenario: A timing check passes on its second attempt
    Then the flaky check passes on a second attempt

  @req:T-push
  Scenario: A push check
    Then all is well

  @req:T-must
  Scenario Outline: Outline with <message>
    When the system sends "<message>"
    Then all is well

    Examples:
      | message |
      | IE3F32  |
      | IE3F44  |
"""

CONFTEST = """\
from __future__ import annotations

from pathlib import Path

from pytest_bdd import given, parsers, then, when

from scenarios.grading import GradingPlugin, JournalWindow
from scenarios.plugin import pytest_bdd_apply_tag  # noqa: F401 (@req:ID tags become req marks)
from scenarios.requirements import load_catalogue
from scenarios.selection import load_spec

HERE = Path(__file__).parent
JOURNAL: list[dict] = []
CLOCK = [0.0]


def fetch(since, limit, raw):
    return [dict(e) for e in JOURNAL if e["id"] > since][:limit]


def pytest_configure(config):
    for name in ("req", "timing", "R1"):
        config.addinivalue_line("markers", f"{name}: test")
    config.pluginmanager.register(GradingPlugin(
        config, load_spec(HERE / "spec.json"), load_catalogue(HERE / "catalogue.json"),
        record_path=HERE / "out" / "run.json", journal=JournalWindow(fetch)), "grading")


@given("a fresh journal")
def fresh():
    JOURNAL.clear()


@when(parsers.parse('the system sends "{action}"'))
def sends(action):
    CLOCK[0] += 1
    JOURNAL.append({"id": len(JOURNAL) + 1, "real_at": CLOCK[0], "sim_at": "2025-01-01T00:00:00Z",
                    "direction": "in", "kind": "user", "verdict": "accepted", "action": action,
                    "raw_b64": "AA==", "payload": "<x/>"})


@then("all is well")
def fine():
    pass


@then(parsers.parse('the check fails naming "{what}"'))
def fails(what):
    assert what == "", f"expected nothing wrong at {what}"


@then("the flaky check passes on a second attempt")
def flaky():
    marker = HERE / "attempted"
    if not marker.exists():
        marker.touch()
        raise AssertionError("the push had not happened yet")
"""


def _catalogue() -> dict[str, Any]:
    def entry(strength: str, needs: list[str]) -> dict[str, Any]:
        return {"text": f"The system under test does what this {strength} requirement says.", "strength": strength,
                "source": "demo", "releases": ["R1"], "needs": needs}
    return {"format": "icssim-requirements/1", "flows": {"push": "receives by push"},
            "requirements": {"T-must": entry("MUST", []), "T-should": entry("SHOULD", []),
                             "T-may": entry("MAY", []), "T-push": entry("MUST", ["push"])}}


def test_the_plugin_grades_records_retries_and_writes_the_run_record(tmp_path: Path) -> None:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "demo.feature").write_text(FEATURE, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_demo.py").write_text(textwrap.dedent("""\
        from pytest_bdd import scenarios

        scenarios("features")
        """), encoding="utf-8")
    (tmp_path / "catalogue.json").write_text(json.dumps(_catalogue()), encoding="utf-8")
    (tmp_path / "spec.json").write_text(json.dumps({"capabilities": {"unsupported": ["push", "IE3F44"]},
                                                    "product": "Demo EDI", "product_version": "9.9"}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out  # pytest itself sees the failures; the runner grades them
    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    by_name = {s["name"]: s for s in record["scenarios"]}
    verdicts = {name: s["verdict"] for name, s in by_name.items()}
    assert verdicts == {
        "A MUST check passes": OK, "A MUST check fails": FAILED, "A SHOULD check fails": NON_STRICT,
        "A MAY check fails": INFORMATIONAL, "A timing check passes on its second attempt": OK,
        "A push check": UNIMPLEMENTED, "Outline with IE3F32": OK, "Outline with IE3F44": UNIMPLEMENTED}, out
    assert record["summary"] == {OK: 3, NON_STRICT: 1, FAILED: 1, UNIMPLEMENTED: 2, INFORMATIONAL: 1}
    assert record["product"] == {"name": "Demo EDI", "version": "9.9"}
    assert record["format"] == "icssim-run/1" and record["complete"] is True

    failed = by_name["A MUST check fails"]
    assert [s["status"] for s in failed["steps"]] == ["passed", "passed", "failed", "skipped"]
    assert [s["keyword"] for s in failed["steps"]] == ["Given", "When", "Then", "And"]
    assert failed["failure"]["step"] == 'the check fails naming "/IE3N99/Consignment/descriptionOfGoods"'
    assert "expected nothing wrong" in failed["failure"]["message"]
    assert failed["failure"]["where"] == "xpath:/IE3N99/Consignment/descriptionOfGoods"
    assert [w["action"] for w in failed["wire"]] == ["IE3F32"], "the wire holds only this scenario's entries"
    assert [r["strength"] for r in failed["requirements"]] == ["MUST", "SHOULD"]
    assert by_name["A SHOULD check fails"]["failure"]["where"] == "header:Content-Type"
    assert by_name["A MAY check fails"]["outcome"] == "failed"

    retried = by_name["A timing check passes on its second attempt"]
    assert retried["retried"] is True and "push had not happened" in retried["first_failure"]["message"]
    assert retried["failure"] is None and retried["steps"][-1]["status"] == "passed"
    assert not any(s["retried"] for name, s in by_name.items() if name != retried["name"])

    push = by_name["A push check"]
    assert push["outcome"] == "not-run" and push["wire"] == [] and "push" in push["unimplemented_because"]
    assert by_name["Outline with IE3F44"]["needs"] == ["IE3F44"]
    assert by_name["Outline with IE3F32"]["id"] == "demo:outline-with-ie3f32"

    progress = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert progress[0].startswith("[-] A push check ... UNIMPLEMENTED"), progress
    assert any(line.startswith("[1/6] A MUST check passes ... OK (") for line in progress), progress
    assert any("A timing check passes on its second attempt ... OK (retried)" in line for line in progress)
    assert any("A MAY check fails ... INFORMATIONAL (failed)" in line for line in progress)


def test_the_reports_name_the_system_under_test_by_its_driver_when_no_product_is_given() -> None:
    from scenarios.grading import DEFAULT_PRODUCT, product_of
    from scenarios.selection import RunSpec

    assert product_of(RunSpec())["name"] == DEFAULT_PRODUCT
    assert product_of(RunSpec(driver="command")) == {"name": "unnamed package (command driver)",
                                                     "version": "unversioned"}
    assert product_of(RunSpec(driver="manual", product="Acme EDI", product_version="4.2")) == {
        "name": "Acme EDI", "version": "4.2"}
