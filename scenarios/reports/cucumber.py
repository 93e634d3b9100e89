"""The run as a Cucumber JSON report, the de-facto format CI servers read for BDD results.

Shape (as written by Cucumber-JVM and Cucumber-Ruby and read by cucumber-reporting, Jenkins, Xray and
others): a list of features ``{uri, id, name, keyword: "Feature", description, tags, elements}``;
each element a scenario ``{id: "<feature-id>;<scenario-id>", name, keyword: "Scenario", type:
"scenario", line?, description, tags: [{"name": "@R1"}], steps}``; each step ``{keyword: "Given ",
name, line?, result: {status, duration, error_message?}}`` with ``duration`` in nanoseconds. Step
keywords keep Cucumber's trailing space so that ``keyword + name`` reads as the Gherkin line.

How the house verdicts map onto Cucumber's statuses (DESIGN.md "House style"):
- FAILED (breaks a MUST): the failing step is ``failed`` and carries the expected-vs-received message,
  the failing step and the location (XPath, header, certificate field) as ``error_message``;
- UNIMPLEMENTED: every step ``skipped``, so CI shows the scenario as not run rather than passed;
- OK, NON-STRICT, INFORMATIONAL: the recorded step statuses. NON-STRICT breaks only a SHOULD and does
  not fail a build; its message is kept as step ``output`` and the scenario is tagged.
Every scenario is also tagged with its releases, ``@req:<id>`` per requirement and ``@verdict:<V>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from scenarios.reports.record import Failure, Run, Scenario, Step, slug

__all__ = ["STATUSES", "cucumber_features", "cucumber_json", "error_message"]

STATUSES = ("passed", "failed", "skipped", "pending", "undefined", "ambiguous")
# Statuses other runners record, read as the Cucumber status they mean.
_STATUS_ALIASES = {"ok": "passed", "pass": "passed", "error": "failed", "fail": "failed", "broken": "failed",
                   "xfail": "skipped", "skip": "skipped", "not run": "skipped", "unimplemented": "skipped"}
_PASSING_VERDICTS = ("OK", "NON-STRICT", "INFORMATIONAL")


def _nanoseconds(seconds: float | None) -> int:
    return round(seconds * 1_000_000_000) if seconds is not None else 0


def _tags(names: Iterable[str]) -> list[dict[str, str]]:
    """Cucumber tag objects, ``@`` prefixed, spaces removed (a tag is one word), first occurrence kept."""
    seen: dict[str, None] = {}
    for name in names:
        tag = "@" + "".join(name.split()).lstrip("@")
        if tag != "@":
            seen.setdefault(tag, None)
    return [{"name": tag} for tag in seen]


def scenario_tags(scenario: Scenario) -> list[dict[str, str]]:
    return _tags([*scenario.tags, *scenario.releases, *(f"req:{r.id}" for r in scenario.requirements),
                  f"verdict:{scenario.verdict}", *(["retried"] if scenario.retried else [])])


def error_message(failure: Failure) -> str:
    """Expected vs received first (what a CI summary shows), then the failing step and location."""
    lines = [failure.message or "(no message recorded)"]
    if failure.step:
        lines.append(f"Step: {failure.step}")
    if failure.where:
        lines.append(f"Where: {failure.where}")
    return "\n".join(lines)


def _status(step: Step, verdict: str) -> str:
    if step.status in STATUSES:
        return step.status
    if step.status in _STATUS_ALIASES:
        return _STATUS_ALIASES[step.status]
    if not step.status:  # not recorded: the verdict says whether the step ran to completion
        return "passed" if verdict in _PASSING_VERDICTS else "skipped"
    return "undefined"


def _failing_index(scenario: Scenario) -> int | None:
    """The step the failure names (with or without its keyword), else the first step recorded failed."""
    failure = scenario.failure
    wanted = " ".join((failure.step or "").split()) if failure else ""
    if wanted:
        for index, step in enumerate(scenario.steps):
            if wanted in (" ".join(step.text.split()), " ".join(f"{step.keyword} {step.text}".split())):
                return index
    return next((i for i, step in enumerate(scenario.steps) if step.status in ("failed", "error")), None)


def _step_json(step: Step, status: str) -> dict[str, Any]:
    data: dict[str, Any] = {"keyword": f"{step.keyword or '*'} ", "name": step.text}
    if step.line is not None:
        data["line"] = step.line
    data["result"] = {"status": status, "duration": 0 if status == "skipped" else _nanoseconds(step.duration_s)}
    return data


def _steps(scenario: Scenario) -> list[dict[str, Any]]:
    verdict = scenario.verdict
    if verdict == "UNIMPLEMENTED":
        steps = [_step_json(step, "skipped") for step in scenario.steps]
    else:
        steps = [_step_json(step, _status(step, verdict)) for step in scenario.steps]
    failure = scenario.failure
    if verdict == "FAILED":
        index = _failing_index(scenario)
        if index is None:
            # The MUST was judged outside any step (e.g. on the wire log afterwards): a step of its own
            # keeps the failure visible to tools that count only failed steps.
            steps.append({"keyword": "Then ", "name": "the harness grades the scenario",
                          "result": {"status": "failed", "duration": 0}})
            index = len(steps) - 1
        result = steps[index]["result"]
        result["status"] = "failed"
        result["error_message"] = error_message(failure or Failure("the scenario was graded FAILED", None, None))
    elif failure is not None and steps and verdict != "UNIMPLEMENTED":
        index = _failing_index(scenario)
        steps[index if index is not None else -1]["output"] = [f"{verdict}: {error_message(failure)}"]
    if not steps:  # tools count a scenario without steps as passed; say what happened instead
        status = "passed" if verdict in _PASSING_VERDICTS else "skipped"
        steps.append({"keyword": "* ", "name": f"verdict {verdict}", "result": {"status": status, "duration": 0}})
    return steps


def _description(scenario: Scenario) -> str:
    lines = [f"Verdict: {scenario.verdict}" + (" (retried)" if scenario.retried else "")]
    if scenario.verdict == "UNIMPLEMENTED" and scenario.failure is not None:
        lines.append(f"Not run: {scenario.failure.message}")
    for requirement in scenario.requirements:
        head = " ".join(part for part in (requirement.strength, requirement.id) if part)
        source = f" ({requirement.source})" if requirement.source else ""
        lines.append(f"{head}: {requirement.text}{source}" if requirement.text else f"{head}{source}")
    return "\n".join(lines)


def _element(feature_id: str, scenario: Scenario) -> dict[str, Any]:
    element: dict[str, Any] = {
        "id": f"{feature_id};{slug(scenario.id.rsplit(':', 1)[-1])}",
        "name": scenario.name,
        "keyword": "Scenario",
        "type": "scenario",
        "description": _description(scenario),
    }
    if scenario.line is not None:
        element["line"] = scenario.line
    element["tags"] = scenario_tags(scenario)
    element["steps"] = _steps(scenario)
    return element


def cucumber_features(run: Run) -> list[dict[str, Any]]:
    """The features of the run in the order their first scenario ran, each with its scenarios."""
    groups: dict[tuple[str, str], list[Scenario]] = {}
    for scenario in run.scenarios:
        groups.setdefault((scenario.file, scenario.feature), []).append(scenario)
    features: list[dict[str, Any]] = []
    for (file, name), scenarios in groups.items():
        feature_id = slug(name or file)
        # A feature's own tags are inherited by each of its scenarios, so the shared ones stand for them.
        common = [tag for tag in scenarios[0].tags if all(tag in other.tags for other in scenarios)]
        features.append({
            "uri": file,
            "id": feature_id,
            "name": name,
            "keyword": "Feature",
            "description": "",
            "tags": _tags(common),
            "elements": [_element(feature_id, scenario) for scenario in scenarios],
        })
    return features


def cucumber_json(run: Run) -> str:
    """The report as UTF-8-ready text, byte-identical for the same run."""
    return json.dumps(cucumber_features(run), indent=2, ensure_ascii=False) + "\n"
