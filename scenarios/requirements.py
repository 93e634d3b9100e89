"""The requirement catalogue: what each `@req:ID` tag of the ICS2 features obliges the system under test to do.

features/requirements/ics2.json holds, per requirement id, its `text`, its `strength` (MUST | SHOULD | MAY,
which grades a failure: FAILED | NON-STRICT | INFORMATIONAL, DESIGN.md "House style"), its `source` (ICD
section, domain/ics2.md section, CL code), the `releases` it applies to, and what it `needs` of the system
under test: message ids (IE3F32, IE3Q05, ...) and flow names listed under "flows" in the same file
(pull, push, resend, partial-filings, second-trader, defects, certificate-conditions). A capability file
names unsupported ones; scenarios needing them are graded UNIMPLEMENTED (scenarios/selection.py).

The catalogue and the features must agree: every tag used exists here, every entry is used by a scenario
(`Catalogue.check_against`, enforced by tests/unit/test_harness_grading.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "features" / "requirements" / "ics2.json"
FORMAT = "icssim-requirements/1"
STRENGTHS = ("MUST", "SHOULD", "MAY")
RELEASES = ("R1", "R2", "R3")
# A message id of the ICS2 catalogue: IE3 + family letter (Filing, Amendment, Notification, Query,
# Response) + two digits (domain/ics2.md "Messages").
MESSAGE_ID = re.compile(r"^IE3[AFNQR]\d{2}$")
REQ_ID = re.compile(r"^[A-Za-z][A-Za-z0-9.]*(-[A-Za-z0-9.]+)+$")


class CatalogueError(ValueError):
    """The catalogue is malformed or disagrees with the features."""


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    strength: str
    source: str
    releases: tuple[str, ...]
    needs: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The form written into the run record (scenarios[].requirements[])."""
        return {"id": self.id, "strength": self.strength, "text": self.text, "source": self.source,
                "releases": list(self.releases), "needs": list(self.needs)}


@dataclass(frozen=True)
class Catalogue:
    requirements: dict[str, Requirement]
    flows: dict[str, str]
    sha256: str
    path: Path

    def __getitem__(self, req_id: str) -> Requirement:
        try:
            return self.requirements[req_id]
        except KeyError:
            raise CatalogueError(f"requirement {req_id!r} is not in {self.path.name}") from None

    def __contains__(self, req_id: object) -> bool:
        return req_id in self.requirements

    def is_capability(self, name: str) -> bool:
        """A name a capability file may declare unsupported: a flow of this catalogue or a message id."""
        return name in self.flows or bool(MESSAGE_ID.match(name))

    def check_against(self, used: dict[str, Iterable[str]], releases: dict[str, Iterable[str]] | None = None) -> None:
        """`used` maps each scenario id to the requirement ids it is tagged with; `releases` (optional) to its
        release tags. Every tag must be in the catalogue, every entry used, every scenario tagged, and a
        scenario's releases must be among those of its requirements."""
        problems: list[str] = []
        seen: set[str] = set()
        for scenario, req_ids in used.items():
            ids = list(req_ids)
            if not ids:
                problems.append(f"scenario {scenario} has no @req:ID tag")
            for req_id in ids:
                seen.add(req_id)
                if req_id not in self.requirements:
                    problems.append(f"scenario {scenario} is tagged @req:{req_id}, which is not in the catalogue")
            if releases is not None and ids and all(i in self.requirements for i in ids):
                allowed = {r for i in ids for r in self.requirements[i].releases}
                extra = sorted(set(releases.get(scenario, ())) - allowed)
                if extra:
                    problems.append(f"scenario {scenario} is tagged {extra}, outside the releases of its requirements")
        unused = sorted(set(self.requirements) - seen)
        if unused:
            problems.append(f"catalogue entries no scenario checks: {unused}")
        if problems:
            raise CatalogueError("; ".join(problems))


def load_catalogue(path: Path = CATALOGUE) -> Catalogue:
    """Read and validate the catalogue (shape, strengths, releases, needs); raises CatalogueError."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CatalogueError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CatalogueError(f"{path}: expected an object with \"format\": {FORMAT!r}")
    flows = data.get("flows", {})
    if not isinstance(flows, dict) or not all(isinstance(v, str) and v for v in flows.values()):
        raise CatalogueError(f"{path}: \"flows\" must map each flow name to its description")
    entries = data.get("requirements")
    if not isinstance(entries, dict) or not entries:
        raise CatalogueError(f"{path}: \"requirements\" must be a non-empty object keyed by requirement id")
    requirements = {req_id: _requirement(req_id, entry, flows) for req_id, entry in entries.items()}
    return Catalogue(requirements, dict(flows), hashlib.sha256(raw).hexdigest(), path)


def _requirement(req_id: str, entry: Any, flows: dict[str, str]) -> Requirement:
    where = f"requirement {req_id!r}"
    if not REQ_ID.match(req_id):
        raise CatalogueError(f"{where}: not a requirement id (letters, digits, dots, dashes)")
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: must be an object")
    missing = [k for k in ("text", "strength", "source", "releases", "needs") if k not in entry]
    if missing:
        raise CatalogueError(f"{where}: missing {missing}")
    text, strength, source = entry["text"], entry["strength"], entry["source"]
    if not isinstance(text, str) or len(text.strip()) < 20:
        raise CatalogueError(f"{where}: \"text\" must say what the system under test must do")
    if strength not in STRENGTHS:
        raise CatalogueError(f"{where}: strength {strength!r} is not one of {STRENGTHS}")
    if not isinstance(source, str) or not source.strip():
        raise CatalogueError(f"{where}: \"source\" must name the ICD section, domain section or code list")
    releases = entry["releases"]
    if not isinstance(releases, list) or not releases or not set(releases) <= set(RELEASES):
        raise CatalogueError(f"{where}: \"releases\" must be a non-empty list of {RELEASES}")
    needs = entry["needs"]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise CatalogueError(f"{where}: \"needs\" must be a list of message ids and flow names")
    unknown = [n for n in needs if n not in flows and not MESSAGE_ID.match(n)]
    if unknown:
        raise CatalogueError(f"{where}: needs {unknown}, neither a message id nor a flow of the catalogue")
    return Requirement(req_id, text.strip(), strength, source.strip(), tuple(releases), tuple(needs))
