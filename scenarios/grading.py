"""Graded verdicts per scenario and the run record (`<reports>/run.json`), as h2spec and Autobahn grade.

Rules enforced (DESIGN.md "House style"): a scenario is OK when it passes; a failure is FAILED when one of
its requirements is a MUST, NON-STRICT when the strongest is a SHOULD; a scenario whose requirements are
all MAY is INFORMATIONAL whatever its outcome (its failure never fails the run); a scenario the capability
file rules out is UNIMPLEMENTED (not run, reported). Scenarios tagged @timing depend on the simulator's
background ticker and are retried once after a failure; the record says so ("retried": true) and keeps the
first failure. Each scenario carries its steps, its failure (message, failing step, the XPath, header or
certificate field the message names) and the simulator journal entries of the scenario as wire evidence.

GradingPlugin (registered by scenarios/plugin.py) applies the run spec to what pytest collected, records
steps through the pytest-bdd hooks, prints one progress line per scenario and writes the run record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _pytest.runner import runtestprotocol
from pytest_bdd.parser import Scenario, ScenarioTemplate, Step
from pytest_bdd.scenario import scenario_wrapper_template_registry

from scenarios.failures import failure
from scenarios.requirements import Catalogue
from scenarios.selection import (
    REFERENCE_CLIENT,
    RunSpec,
    ScenarioInfo,
    SelectionError,
    features_sha256,
    package_version,
    plan,
    scenario_info,
)
from scenarios.simctl import ControlError, JournalCursor

OK, NON_STRICT, FAILED, UNIMPLEMENTED, INFORMATIONAL = "OK", "NON-STRICT", "FAILED", "UNIMPLEMENTED", "INFORMATIONAL"
VERDICTS = (OK, NON_STRICT, FAILED, UNIMPLEMENTED, INFORMATIONAL)
RUN_FORMAT = "icssim-run/1"
SUITE_NAME = "icssim ICS2 conformance suite"
DEFAULT_PRODUCT = "icssim reference client"
WIRE_KEYS = ("id", "sim_at", "direction", "kind", "verdict", "action", "message_id", "ref_to_message_id",
             "error_code", "detail", "raw_b64", "payload")


def grade(outcome: str, strengths: Sequence[str], *, unimplemented: bool = False) -> str:
    """The verdict of one scenario from its pytest outcome (passed | failed | skipped) and the strengths of
    its requirements. A scenario without requirements counts as MUST: an unlabelled check stays strict."""
    if unimplemented or outcome == "skipped":
        return UNIMPLEMENTED
    if strengths and all(s == "MAY" for s in strengths):
        return INFORMATIONAL
    if outcome == "passed":
        return OK
    if "MUST" in strengths or not strengths:
        return FAILED
    return NON_STRICT


def unimplemented_because(missing: Sequence[str]) -> str:
    """Why a scenario was not run: capabilities the SUT declared unsupported, or the reference client."""
    declared = [name for name in missing if name != REFERENCE_CLIENT]
    why = [f"needs {', '.join(declared)}, declared unsupported"] if declared else []
    if REFERENCE_CLIENT in missing:
        why.append("needs the reference client's injected client faults, which no package can be asked for")
    return "; ".join(why)


# -- journal window -----------------------------------------------------------------------------------------
class JournalWindow(JournalCursor):
    """The journal entries written since a mark, as each scenario's wire evidence (the cursor knows when a
    scene reset wiped the journal inside the scenario: then every entry counts)."""

    def since(self, mark: tuple[int, float]) -> list[dict[str, Any]]:
        entries = self.read(mark[0] if self.still_there(mark) else 0, True)
        if entries:
            self.last = (int(entries[-1]["id"]), float(entries[-1]["real_at"]))
        # the agreed keys first (None where the journal has no value), then whatever else it returns
        return [{**{k: e.get(k) for k in WIRE_KEYS}, **{k: v for k, v in e.items() if k != "real_at"}}
                for e in entries]


# -- scenario records ---------------------------------------------------------------------------------------
@dataclass
class ScenarioRecord:
    info: ScenarioInfo
    catalogue: Catalogue
    steps: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "not-run"
    failure: dict[str, Any] | None = None
    first_failure: dict[str, Any] | None = None
    retried: bool = False
    duration_s: float = 0.0
    wire: list[dict[str, Any]] = field(default_factory=list)
    wire_error: str | None = None
    missing: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    driver_log: list[dict[str, Any]] = field(default_factory=list)  # exchanges with a contract driver

    def __post_init__(self) -> None:
        if not self.steps:
            self.reset_steps()

    def reset_steps(self) -> None:
        self.steps = [{"keyword": k, "text": t, "status": "skipped", "duration_s": 0.0, "line": n}
                      for k, t, n in self.info.steps]

    @property
    def strengths(self) -> list[str]:
        return [self.catalogue[r].strength for r in self.info.requirements]

    @property
    def verdict(self) -> str:
        return grade(self.outcome, self.strengths, unimplemented=bool(self.missing))

    def as_json(self) -> dict[str, Any]:
        info = self.info
        data: dict[str, Any] = {
            "id": info.id, "feature": info.feature, "file": info.file, "line": info.line, "name": info.name,
            "tags": list(info.tags), "releases": list(info.releases),
            "requirements": [self.catalogue[r].as_json() for r in info.requirements],
            "verdict": self.verdict, "outcome": self.outcome, "retried": self.retried,
            "duration_s": round(self.duration_s, 3), "needs": list(self.needs),
            "steps": self.steps, "failure": self.failure if self.verdict != OK else None, "wire": self.wire,
        }
        if self.retried:
            data["first_failure"] = self.first_failure
        if self.missing:
            data["unimplemented_because"] = unimplemented_because(self.missing)
        if self.wire_error:
            data["wire_error"] = self.wire_error
        if self.driver_log:
            data["driver_log"] = self.driver_log
        return data


# -- the run record -----------------------------------------------------------------------------------------
def suite_json(catalogue: Catalogue) -> dict[str, Any]:
    return {"name": SUITE_NAME, "version": package_version(), "features_sha256": features_sha256(),
            "requirements_sha256": catalogue.sha256}


def product_of(spec: RunSpec) -> dict[str, str]:
    """The system under test as the reports name it: --product / --product-version, else the reference
    client (with the suite's version) or an unnamed package behind the driver."""
    if spec.product:
        return {"name": spec.product, "version": spec.product_version or "unversioned"}
    if spec.driver == "reference":
        return {"name": DEFAULT_PRODUCT, "version": spec.product_version or package_version()}
    return {"name": f"unnamed package ({spec.driver} driver)", "version": spec.product_version or "unversioned"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_record(records: Sequence[ScenarioRecord], spec: RunSpec, catalogue: Catalogue, *, started: str,
               finished: str, complete: bool = True) -> dict[str, Any]:
    scenarios = [r.as_json() for r in records]
    return {
        "format": RUN_FORMAT, "suite": suite_json(catalogue),
        "product": product_of(spec),
        "driver": spec.driver, "started": started, "finished": finished,
        "selection": spec.selection_json(), "capabilities": {"unsupported": list(spec.unsupported),
                                                             "file": spec.capabilities_file},
        "summary": {v: sum(1 for s in scenarios if s["verdict"] == v) for v in VERDICTS},
        "complete": complete, "scenarios": scenarios,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a record


# -- the pytest plugin --------------------------------------------------------------------------------------
def _template_of(item: pytest.Item) -> ScenarioTemplate | None:
    function = getattr(item, "obj", None)
    try:
        found = scenario_wrapper_template_registry.get(function) if function is not None else None
    except TypeError:  # not weak-referenceable: not a scenario function
        return None
    return found if found is not None else getattr(function, "__scenario__", None)  # pytest-bdd < 8


def _report_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2])
    if (crash := getattr(longrepr, "reprcrash", None)) is not None:
        return str(crash.message)
    return (str(longrepr or "").strip().splitlines() or [report.outcome])[-1]


class GradingPlugin:
    """Applies the run spec to what pytest collected, records each scenario's steps (pytest-bdd hooks),
    retries @timing scenarios once, prints "[n/m] name ... VERDICT (x.xs)" and writes the run record."""

    def __init__(self, config: pytest.Config, spec: RunSpec, catalogue: Catalogue, *,
                 record_path: Path | None = None, journal: JournalWindow | None = None) -> None:
        self.config, self.spec, self.catalogue = config, spec, catalogue
        self.record_path, self.journal = record_path, journal
        self.records: dict[str, ScenarioRecord] = {}  # scenario id -> record, in collection order
        self.running: dict[str, ScenarioRecord] = {}  # node id -> record of the scenarios that run
        self.current: ScenarioRecord | None = None
        self.started = now_iso()
        self.done = 0
        self._positions: dict[int, int] = {}
        self._step_started = 0.0

    def write_line(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        (reporter.write_line if reporter is not None else print)(line)

    # -- collection: selection and capabilities ---------------------------------------------------------
    @pytest.hookimpl(trylast=True)  # after -k / -m deselection: grade what pytest would run
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        infos: dict[str, ScenarioInfo] = {}
        ids: dict[str, str] = {}
        for item in items:
            template = _template_of(item)
            if template is None:
                continue
            callspec = getattr(item, "callspec", None)
            info = scenario_info(template, callspec.params.get("_pytest_bdd_example") if callspec else None)
            if info.id in infos:
                raise pytest.UsageError(f"two scenarios have the id {info.id}; rename one")
            infos[info.id], ids[item.nodeid] = info, info.id
        unknown = sorted({r for info in infos.values() for r in info.requirements if r not in self.catalogue})
        if unknown:
            raise pytest.UsageError(f"@req tags missing from {self.catalogue.path}: {unknown}")
        try:
            planned = {p.scenario.id: p for p in plan(list(infos.values()), self.spec, self.catalogue, strict=False)}
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.records = {sid: ScenarioRecord(p.scenario, self.catalogue, missing=p.missing, needs=p.needs)
                        for sid, p in planned.items()}
        keep, dropped = [], []
        for item in items:
            sid = ids.get(item.nodeid)
            if sid is None or (sid in planned and planned[sid].runs):
                keep.append(item)
                if sid is not None:
                    self.running[item.nodeid] = self.records[sid]
            else:
                dropped.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        for record in self.records.values():
            if record.missing:
                self.write_line(f"[-] {record.info.name} ... UNIMPLEMENTED ({unimplemented_because(record.missing)})")

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """Graded scenarios print their own progress line: no letter (pytest's dots) while running, the usual
        word for the short summary."""
        if report.nodeid not in self.running:
            return None
        if report.when == "call":
            return report.outcome, "", report.outcome.upper()
        category = "error" if report.failed else "skipped" if report.skipped else ""
        return category, "", category.upper()

    # -- running: one scenario, retried once when @timing ---------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        record = self.running.get(item.nodeid)
        if record is None:
            return None
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        item.user_properties.extend(("requirement", r) for r in record.info.requirements)
        mark = self._begin(record)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        if "timing" in record.info.tags and any(r.failed for r in reports):
            # Timing-sensitive (background ticker): one more attempt, recorded, never silent.
            record.retried, record.first_failure = True, record.failure or failure(_report_message(
                next(r for r in reports if r.failed)), None)
            item.user_properties.append(("retried", "true"))
            mark = self._begin(record)
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        self._finish(record, reports, mark)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def _begin(self, record: ScenarioRecord) -> tuple[int, float] | None:
        record.reset_steps()
        record.failure, record.outcome, record.wire, record.wire_error = None, "not-run", [], None
        record.driver_log = []
        self.current, self._positions = record, {}
        if self.journal is None:
            return None
        try:
            return self.journal.mark()
        except (OSError, ControlError) as exc:
            record.wire_error = f"journal not readable at the start: {exc}"
            return None

    def _finish(self, record: ScenarioRecord, reports: Sequence[pytest.TestReport],
                mark: tuple[int, float] | None) -> None:
        record.duration_s = sum(r.duration for r in reports)
        failed = [r for r in reports if r.failed]
        record.outcome = "failed" if failed else "skipped" if any(r.skipped for r in reports) else "passed"
        if record.outcome != "passed" and record.failure is None:  # a fixture error, a teardown, a skip
            record.failure = failure(_report_message((failed or [r for r in reports if r.skipped])[0]), None)
        if self.journal is not None and mark is not None:
            try:
                record.wire = self.journal.since(mark)
            except (OSError, ControlError) as exc:
                record.wire_error = f"journal not readable at the end: {exc}"
        self.current = None
        self.done += 1
        note = f" ({record.outcome})" if record.verdict == INFORMATIONAL else ""
        note += " (retried)" if record.retried else ""
        self.write_line(f"[{self.done}/{len(self.running)}] {record.info.name} ... {record.verdict}{note} "
                        f"({record.duration_s:.1f}s)")

    def attach_driver_log(self, exchanges: Sequence[dict[str, Any]]) -> None:
        """The requests and answers of the scenario's driver (and a command's stderr), as evidence."""
        if self.current is not None:
            self.current.driver_log.extend(exchanges)

    # -- steps (pytest-bdd hooks) ------------------------------------------------------------------------------
    def pytest_bdd_before_scenario(self, scenario: Scenario) -> None:
        self._positions = {id(step): index for index, step in enumerate(scenario.steps)}

    def pytest_bdd_before_step(self, step: Step) -> None:
        self._step_started = time.perf_counter()
        if self.spec.driver != "reference":  # a package's steps take seconds (a person's, minutes): show each
            self.write_line(f"      {step.keyword} {step.name}")

    def pytest_bdd_after_step(self, step: Step) -> None:
        self._step_done(step, "passed")

    def pytest_bdd_step_error(self, step: Step, exception: BaseException) -> None:
        self._step_done(step, "failed", exception)

    def pytest_bdd_step_func_lookup_error(self, step: Step, exception: BaseException) -> None:
        self._step_started = time.perf_counter()
        self._step_done(step, "undefined", exception)

    def _step_done(self, step: Step, status: str, exception: BaseException | None = None) -> None:
        record, index = self.current, self._positions.get(id(step))
        if record is None or index is None or index >= len(record.steps):
            return
        record.steps[index].update(status=status, duration_s=round(time.perf_counter() - self._step_started, 4))
        if exception is not None:
            text = str(exception) if isinstance(exception, AssertionError | pytest.fail.Exception) else (
                f"{type(exception).__name__}: {exception}")
            record.failure = failure(text or type(exception).__name__, (step.keyword.strip(), step.name))

    # -- the record ------------------------------------------------------------------------------------------
    def pytest_sessionfinish(self) -> None:
        if self.record_path is None:
            return
        finished = [r for r in self.records.values() if r.missing or r.outcome != "not-run"]
        record = run_record(finished, self.spec, self.catalogue, started=self.started, finished=now_iso(),
                            complete=len(finished) == len(self.records))
        write_json(self.record_path, record)
