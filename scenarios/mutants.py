"""`python -m scenarios.mutants`: prove that the conformance suite catches every named faulty client variant.

The suite runs once with the reference client as it is, then once per variant of scenarios/client/variants.py
(ICSSIM_CLIENT_VARIANT set), each time as `python -m icssim conformance` with its own simulator, var dir and
reports, all sharing one test PKI. Which scenarios failed is read from the JUnit report; a variant is caught
when a scenario its docstring names (`Variant.expected`) failed and checks a MUST requirement. One line per
variant, then LAST one JSON line {"variants": N, "caught": K, "reference_failures": F}; the exit code is 0
only when K == N and F == 0 (the reference client passes everything, every variant is caught).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_bdd.feature import get_features
from pytest_bdd.scenario import get_python_name_generator

from scenarios.client.variants import ENV_VARIABLE, VARIANTS, Variant, lookup
from scenarios.requirements import load_catalogue
from scenarios.selection import FEATURES, scenario_info

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 900  # seconds for one whole suite run; a hung run counts as not caught
SHOWN = 4  # failed scenario ids listed per variant beyond the expected ones


@dataclass
class SuiteRun:
    """What one conformance run left in its JUnit report."""

    label: str
    exit_code: int
    tests: int = 0
    failed: list[str] = field(default_factory=list)  # scenario ids (JUnit names when unknown)
    failed_must: list[str] = field(default_factory=list)
    problem: str | None = None  # the run did not produce a report

    @property
    def complete(self) -> bool:
        return self.problem is None


def junit_ids(features: Path = FEATURES) -> dict[str, str]:
    """JUnit test name -> scenario id, named as pytest-bdd names the tests of scenarios/suite/test_ics2.py:
    features in pytest-bdd's order, one python name per scenario (suffixed when taken), outline examples
    as [value-value...]; ids as the harness gives them (scenarios.selection.scenario_info)."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    for feature in get_features([str(features)]):
        for scenario_name, template in feature.scenarios.items():
            test_name = next(name for name in get_python_name_generator(scenario_name) if name not in taken)
            taken.add(test_name)
            contexts = [c for examples in template.examples for c in examples.as_contexts()]
            for context in contexts or [{}]:
                key = f"{test_name}[{'-'.join(context.values())}]" if context else test_name
                names[key] = scenario_info(template, context or None).id
    return names


def read_junit(path: Path, label: str, exit_code: int, ids: dict[str, str], must: set[str]) -> SuiteRun:
    """The failed (failure or error) test cases of a JUnit report, as scenario ids; MUST ones apart."""
    run = SuiteRun(label, exit_code)
    try:
        root = ET.parse(path).getroot()  # noqa: S314 (a report our own run just wrote)
    except (OSError, ET.ParseError) as exc:
        run.problem = f"no readable JUnit report ({exc}); exit code {exit_code}"
        return run
    for case in root.iter("testcase"):
        run.tests += 1
        if case.find("failure") is None and case.find("error") is None:
            continue
        scenario = ids.get(case.get("name", ""), case.get("name", "?"))
        run.failed.append(scenario)
        requirements = {p.get("value") for p in case.iter("property") if p.get("name") == "requirement"}
        if requirements & must:
            run.failed_must.append(scenario)
    return run


@dataclass
class Mutants:
    workdir: Path
    pki_dir: Path
    ids: dict[str, str]
    must: set[str]

    def run(self, variant: Variant | None) -> SuiteRun:
        label = variant.name if variant is not None else "reference"
        here = self.workdir / label
        reports = here / "reports"
        env = {k: v for k, v in os.environ.items() if k != ENV_VARIABLE}
        if variant is not None:
            env[ENV_VARIABLE] = variant.name
        command = [sys.executable, "-m", "icssim", "conformance", "--var-dir", str(here / "var"),
                   "--pki-dir", str(self.pki_dir), "--reports", str(reports)]
        try:
            completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                       timeout=RUN_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return SuiteRun(label, -1, problem=f"the run took longer than {RUN_TIMEOUT}s")
        (here / "output.txt").write_text(completed.stdout + completed.stderr, encoding="utf-8")
        return read_junit(reports / "junit-ics2.xml", label, completed.returncode, self.ids, self.must)


def verdict_line(variant: Variant, run: SuiteRun) -> tuple[bool, str]:
    """(caught, the line printed for the variant)."""
    expected = ", ".join(variant.expected)
    if not run.complete:
        return False, f"variant {variant.name}: NOT CAUGHT, {run.problem} (expected {expected})"
    hits = [s for s in run.failed_must if variant.expects(s)]
    others = [s for s in run.failed if s not in hits]
    more = ""
    if others:
        more = f"; also failed: {', '.join(others[:SHOWN])}"
        more += f" (+{len(others) - SHOWN} more)" if len(others) > SHOWN else ""
    if hits:
        return True, f"variant {variant.name}: caught by {', '.join(hits)}{more} (expected {expected})"
    return False, f"variant {variant.name}: NOT CAUGHT by an expected MUST scenario{more} (expected {expected})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.mutants", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", metavar="NAME", help="only this variant (repeatable)")
    parser.add_argument("--pki-dir", type=Path, help="an existing test PKI (default: generate one)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep the reports")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for variant in VARIANTS.values():
            print(f"{variant.name}: {variant.doc}")
        return 0
    variants = [lookup(name) for name in args.variant] if args.variant else list(VARIANTS.values())
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="icssim-mutants-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        pki_dir = args.pki_dir or _new_pki(workdir / "pki")
        catalogue = load_catalogue()
        must = {r.id for r in catalogue.requirements.values() if r.strength == "MUST"}
        mutants = Mutants(workdir, pki_dir, junit_ids(), must)
        reference = mutants.run(None)
        failures = len(reference.failed) if reference.complete else max(1, len(reference.failed))
        print(f"reference client: {reference.tests} scenarios, {len(reference.failed)} failed"
              + (f": {', '.join(reference.failed)}" if reference.failed else "")
              + (f" ({reference.problem})" if reference.problem else ""), flush=True)
        caught = 0
        for variant in variants:
            hit, line = verdict_line(variant, mutants.run(variant))
            caught += hit
            print(line, flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"variants": len(variants), "caught": caught, "reference_failures": failures}))
    return 0 if caught == len(variants) and failures == 0 else 1


def _new_pki(directory: Path) -> Path:
    """One test PKI for every run (`icssim certs init`), so that no run pays for generating keys."""
    subprocess.run([sys.executable, "-m", "icssim", "certs", "init", "--dir", str(directory)], cwd=REPO,
                   check=True, capture_output=True)
    return directory


if __name__ == "__main__":
    sys.exit(main())
