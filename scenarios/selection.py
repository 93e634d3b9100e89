"""Which scenarios a conformance run covers, and the run spec that makes a certification run reproducible.

A scenario is known by a stable id, `<feature file stem>:<slug of its name>` (an outline's example is
rendered into the name; when its name has no placeholder the example values are appended). Selection
filters combine with AND across kinds and OR within a kind:
  releases (`--release R1`), tags (`--tag security`), requirement ids (`--requirement ID`), scenario ids
  or glob patterns (`--scenario 'faults:*'`); `--exclude` drops scenario ids/patterns and requirement ids.
A selected scenario that needs a message id or flow the capability file declares unsupported is not run
and is graded UNIMPLEMENTED (DESIGN.md "House style"); so is, through any driver but the reference one, a
scenario tagged @reference-client (it injects a client fault that no package can be asked for). What a
scenario needs: the `needs` of its requirements (features/requirements/ics2.json) plus the message ids its
own steps name, so that each example of an outline needs its own message.
Unknown releases, tags, ids, patterns or capability names are refused: a typo must not shrink a run.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_bdd.parser import FeatureParser, ScenarioTemplate

from scenarios.requirements import RELEASES, REPO, Catalogue

FEATURES = REPO / "features" / "ics2"
# The tag of scenarios that need the reference client's injected faults (scenarios/drivers/observed.py);
# through another driver they are UNIMPLEMENTED with that reason.
REFERENCE_CLIENT = "reference-client"
DRIVERS = ("reference", "command", "http", "manual")  # docs/driver-contract.md
SPEC_FORMAT = "icssim-run-spec/1"
_MESSAGE = re.compile(r"\bIE3[AFNQR]\d{2}\b")
_RELEASE_TAG = re.compile(r"^R\d+$")


class SelectionError(ValueError):
    """A selection, capability file or run spec that cannot be honoured as written."""


@dataclass(frozen=True)
class ScenarioInfo:
    id: str
    feature: str
    file: str
    name: str
    tags: tuple[str, ...]
    releases: tuple[str, ...]
    requirements: tuple[str, ...]
    steps: tuple[tuple[str, str, int], ...]  # (keyword, text, line), background first
    line: int = 0

    def messages(self) -> set[str]:
        return {m for _, text, _ in self.steps for m in _MESSAGE.findall(text)}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def scenario_info(template: ScenarioTemplate, example: Mapping[str, str] | None = None) -> ScenarioInfo:
    """The identity of one scenario (one example of an outline) as both the dry run and the grading see it."""
    context = dict(example or {})
    rendered = template.render(context)
    feature = template.feature
    path = Path(feature.filename)
    try:
        file = path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        file = path.as_posix()
    key = slug(rendered.name)
    if context and rendered.name == template.name:
        key += "-" + slug("-".join(context.values()))
    tags = set(feature.tags) | set(template.tags)
    for examples in template.examples:
        if context in list(examples.as_contexts()):
            tags |= set(examples.tags)
    return ScenarioInfo(
        id=f"{path.stem}:{key}", feature=feature.name, file=file, name=rendered.name,
        tags=tuple(sorted(tags)), releases=tuple(sorted(t for t in tags if _RELEASE_TAG.match(t))),
        requirements=tuple(sorted(t[4:] for t in tags if t.startswith("req:"))),
        steps=tuple((step.keyword.strip(), step.name, step.line_number) for step in rendered.steps),
        line=template.line_number)


def discover(features: Path = FEATURES) -> list[ScenarioInfo]:
    """Every scenario of the feature files, in file then document order (no pytest, no simulator)."""
    found: list[ScenarioInfo] = []
    for path in sorted(features.glob("*.feature")):
        feature = FeatureParser(str(path.parent), path.name).parse()
        for template in feature.scenarios.values():
            contexts = [c for examples in template.examples for c in examples.as_contexts()] or [{}]
            found.extend(scenario_info(template, context) for context in contexts)
    return found


def package_version() -> str:
    try:
        return metadata.version("icssim")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def features_sha256(features: Path = FEATURES) -> str:
    """SHA-256 over the feature files sorted by path: each file's repository path, NUL, its bytes, NUL."""
    digest = hashlib.sha256()
    for path in sorted(features.rglob("*.feature"), key=lambda p: p.as_posix()):
        digest.update(path.resolve().relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# -- the run spec -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """Everything that decides what a run covers and how it is labelled; written as <reports>/run-spec.json."""

    releases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    capabilities_file: str | None = None
    product: str | None = None
    product_version: str | None = None
    driver: str = "reference"
    driver_command: str | None = None  # the command driver's adapter command line
    driver_url: str | None = None  # the http driver's controller URL
    keyword: str | None = None
    reports: str | None = None

    def overridden(self, **given: Any) -> RunSpec:
        """Command-line values replace the spec's (None = not given on the command line)."""
        names = {f.name for f in fields(self)}
        changes: dict[str, Any] = {k: (tuple(v) if isinstance(v, list | tuple) else v)
                   for k, v in given.items() if v is not None and k in names}
        return replace(self, **changes)

    def selection_json(self) -> dict[str, Any]:
        return {"releases": list(self.releases), "tags": list(self.tags), "requirements": list(self.requirements),
                "scenarios": list(self.scenarios), "exclude": list(self.exclude), "keyword": self.keyword}

    def as_json(self) -> dict[str, Any]:
        return {"format": SPEC_FORMAT, **self.selection_json(),
                "capabilities": {"unsupported": list(self.unsupported), "file": self.capabilities_file},
                "product": self.product, "product_version": self.product_version, "driver": self.driver,
                "driver_command": self.driver_command, "driver_url": self.driver_url, "reports": self.reports}


_LIST_KEYS = ("releases", "tags", "requirements", "scenarios", "exclude")
_TEXT_KEYS = ("product", "product_version", "driver", "driver_command", "driver_url", "keyword", "reports")
_INFO_KEYS = ("format", "suite")  # written for the record, ignored when read back


def read_document(path: Path) -> dict[str, Any]:
    """A JSON or TOML object (TOML when the name ends in .toml)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SelectionError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise SelectionError(f"{path}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise SelectionError(f"{path}: expected an object at the top level")
    return data


def load_capabilities(path: Path) -> tuple[str, ...]:
    """{"unsupported": ["IE3Q05", "push"]} from a JSON or TOML file."""
    data = read_document(path)
    unknown = sorted(set(data) - {"unsupported", "format", "product", "notes"})
    if unknown:
        raise SelectionError(f"{path}: unknown keys {unknown} (expected \"unsupported\")")
    return _names(data.get("unsupported", []), f"{path}: \"unsupported\"")


def load_spec(path: Path) -> RunSpec:
    """Read a run spec (JSON or TOML); a capabilities file it names is read relative to the spec."""
    data = {k.replace("-", "_"): v for k, v in read_document(path).items()}
    unknown = sorted(set(data) - set(_LIST_KEYS) - set(_TEXT_KEYS) - set(_INFO_KEYS) - {"capabilities"})
    if unknown:
        raise SelectionError(f"{path}: unknown keys {unknown}")
    values: dict[str, Any] = {k: _names(data[k], f"{path}: {k!r}") for k in _LIST_KEYS if k in data}
    for key in _TEXT_KEYS:
        if data.get(key) is not None:
            if not isinstance(data[key], str):
                raise SelectionError(f"{path}: {key!r} must be a string")
            values[key] = data[key]
    capabilities = data.get("capabilities")
    if isinstance(capabilities, str):
        file = (path.parent / capabilities).resolve()
        values["unsupported"], values["capabilities_file"] = load_capabilities(file), str(file)
    elif isinstance(capabilities, dict):
        values["unsupported"] = _names(capabilities.get("unsupported", []), f"{path}: capabilities.unsupported")
        values["capabilities_file"] = capabilities.get("file")
    elif capabilities is not None:
        raise SelectionError(f"{path}: \"capabilities\" must be a file name or {{\"unsupported\": [...]}}")
    return RunSpec(**values)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SelectionError(f"{where} must be a list of names")
    return tuple(v.strip() for v in value)


# -- the plan -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Planned:
    scenario: ScenarioInfo
    needs: tuple[str, ...]
    missing: tuple[str, ...] = field(default=())  # unsupported needs: the scenario is UNIMPLEMENTED

    @property
    def runs(self) -> bool:
        return not self.missing


def scenario_needs(info: ScenarioInfo, catalogue: Catalogue) -> tuple[str, ...]:
    needs = {n for req in info.requirements if req in catalogue for n in catalogue[req].needs}
    return tuple(sorted(needs | info.messages()))


def plan(scenarios: Sequence[ScenarioInfo], spec: RunSpec, catalogue: Catalogue, *,
         strict: bool = True) -> list[Planned]:
    """The selected scenarios in order, each marked with what it lacks under the capability file.

    `strict` also refuses patterns and tags that match nothing (the runner checks the whole suite; the
    grading plugin sees only what pytest collected)."""
    check_spec(spec, scenarios, catalogue, strict=strict)
    releases = set(spec.releases)
    tags = {t.lstrip("@") for t in spec.tags}
    requirements = set(spec.requirements)
    unsupported = set(spec.unsupported)
    chosen: list[Planned] = []
    for info in scenarios:
        if releases and not releases & set(info.releases):
            continue
        if tags and not tags & set(info.tags):
            continue
        if requirements and not requirements & set(info.requirements):
            continue
        if spec.scenarios and not _matches(info.id, spec.scenarios):
            continue
        if _matches(info.id, spec.exclude) or set(spec.exclude) & set(info.requirements):
            continue
        needs = scenario_needs(info, catalogue)
        missing = tuple(n for n in needs if n in unsupported)
        if spec.driver != "reference" and REFERENCE_CLIENT in info.tags:
            missing += (REFERENCE_CLIENT,)  # an injected client fault: nothing a package can be asked for
        chosen.append(Planned(info, needs, missing))
    return chosen


def check_spec(spec: RunSpec, scenarios: Sequence[ScenarioInfo], catalogue: Catalogue, *,
               strict: bool = True) -> None:
    problems: list[str] = []
    bad_releases = sorted(set(spec.releases) - set(RELEASES))
    if bad_releases:
        problems.append(f"unknown release(s) {bad_releases} (known: {list(RELEASES)})")
    unknown_reqs = sorted(r for r in spec.requirements if r not in catalogue)
    if unknown_reqs:
        problems.append(f"unknown requirement(s) {unknown_reqs}")
    bad_caps = sorted(n for n in spec.unsupported if not catalogue.is_capability(n))
    if bad_caps:
        problems.append(f"unknown capability name(s) {bad_caps}: use message ids (IE3Q05) or flows "
                        f"{sorted(catalogue.flows)}")
    if strict:
        known_tags = {t for info in scenarios for t in info.tags}
        ids = [info.id for info in scenarios]
        problems += [f"no scenario has the tag {t!r}" for t in spec.tags if t.lstrip("@") not in known_tags]
        problems += [f"no scenario matches {p!r}" for p in spec.scenarios if not _matches_any(p, ids)]
        problems += [f"--exclude {p!r} names no scenario or requirement" for p in spec.exclude
                     if p not in catalogue and not _matches_any(p, ids)]
    if problems:
        raise SelectionError("; ".join(problems))


def _matches(scenario_id: str, patterns: Iterable[str]) -> bool:
    return any(scenario_id == p or fnmatch.fnmatchcase(scenario_id, p) for p in patterns)


def _matches_any(pattern: str, ids: Iterable[str]) -> bool:
    return any(i == pattern or fnmatch.fnmatchcase(i, pattern) for i in ids)


def describe(planned: Sequence[Planned], catalogue: Catalogue) -> list[str]:
    """The dry-run listing: one line per scenario (id, name, requirements with strength, what happens)."""
    lines = []
    for number, item in enumerate(planned, 1):
        info = item.scenario
        reqs = ", ".join(f"{r} ({catalogue[r].strength})" for r in info.requirements)
        verdict = "would run" if item.runs else f"UNIMPLEMENTED (needs {', '.join(item.missing)})"
        lines.append(f"[{number}/{len(planned)}] {info.id}\n      {info.name}\n      requirements: {reqs}\n"
                     f"      {verdict}")
    return lines
