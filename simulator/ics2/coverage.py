"""Coverage of the ICS2 message catalogue: which messages have a schema and which are served.

Reads the catalogue (``data/catalogue.json``, domain/ics2.md "Messages") and the schema directory
(``schemas/``, one ``<schema id>.xsd`` per message by the file-name convention of
:mod:`simulator.ics2.validation`), compiles each message XSD on its own (so one broken file is
reported, not fatal) and renders ``docs/coverage.md``: one row per message (direction, kind,
release, schema present and compiling, status) and totals.

Statuses (catalogue field ``status``): ``implemented`` = the simulator serves the flow; ``schema`` =
our XSD exists and validates, the flow is not served yet (the P-Mode check answers EBMS:0010);
``planned`` = neither. A catalogue status that its XSD contradicts (``schema`` or ``implemented``
without a compiling XSD) is listed under "Inconsistencies".

Run ``python -m simulator.ics2.coverage`` to rewrite ``docs/coverage.md``; ``--check`` only
compares and exits 1 when the file is stale (a unit test does the same).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lxml import etree

from simulator.ics2.catalogue import CatalogueEntry, catalogue
from simulator.ics2.effects import notification_table
from simulator.ics2.lifecycle import ens_machine, event_for_message
from simulator.ics2.validation import DEFAULT_SCHEMA_DIR

__all__ = ["DEFAULT_OUTPUT", "STATUSES", "MessageCoverage", "assess", "main", "render"]

DEFAULT_OUTPUT: Final = Path(__file__).resolve().parents[2] / "docs" / "coverage.md"
STATUSES: Final = ("implemented", "schema", "planned")
_XS: Final = "{http://www.w3.org/2001/XMLSchema}"
_RELEASES: Final = ("R1", "R2", "R3")


@dataclass(frozen=True, slots=True)
class MessageCoverage:
    """One catalogue entry and what the schema directory says about it."""

    entry: CatalogueEntry
    schema_file: str  # file name inside the schema directory
    present: bool
    compiles: bool
    problem: str = ""  # why the XSD does not compile or does not declare the message root

    @property
    def inconsistent(self) -> bool:
        """The catalogue promises a schema (status schema/implemented) that does not compile."""
        return self.entry.status in ("implemented", "schema") and not self.compiles


def _parser() -> etree.XMLParser:
    # Same hardening as the SchemaSet: no network, no entities, no DTD.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _check(path: Path, message_id: str) -> tuple[bool, str]:
    """Compile one message XSD and check that it declares the message's root element."""
    try:
        document = etree.parse(str(path), _parser())
        etree.XMLSchema(document)
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError, OSError) as exc:
        return False, " ".join(str(exc).split())[:200]
    roots = {el.get("name") for el in document.getroot().iterchildren(f"{_XS}element")}
    if message_id not in roots:
        return False, f"declares no global element {message_id}"
    return True, ""


def assess(
    entries: Iterable[CatalogueEntry] | None = None, schema_dir: Path | str | None = None
) -> list[MessageCoverage]:
    """Coverage of every catalogue entry (catalogue order) against ``schema_dir`` (ours if None)."""
    directory = Path(schema_dir) if schema_dir is not None else DEFAULT_SCHEMA_DIR
    out: list[MessageCoverage] = []
    for item in entries if entries is not None else catalogue().values():
        name = f"{item.schema}.xsd"
        path = directory / name
        if not path.is_file():
            out.append(MessageCoverage(item, name, present=False, compiles=False, problem="no XSD file"))
            continue
        compiles, problem = _check(path, item.schema)
        out.append(MessageCoverage(item, name, present=True, compiles=compiles, problem=problem))
    return out


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _totals_row(label: str, rows: Sequence[MessageCoverage]) -> str:
    counts = [sum(1 for row in rows if row.entry.status == status) for status in STATUSES]
    compiling = sum(1 for row in rows if row.compiles)
    cells = [label, str(len(rows)), *map(str, counts), str(compiling)]
    return "| " + " | ".join(cells) + " |"


def _groups(rows: Sequence[MessageCoverage]) -> Mapping[str, list[MessageCoverage]]:
    groups: dict[str, list[MessageCoverage]] = {"all messages": list(rows)}
    for release in _RELEASES:
        groups[f"release {release}"] = [row for row in rows if row.entry.release == release]
    for direction in ("t2c", "c2t"):
        groups[f"direction {direction}"] = [row for row in rows if row.entry.direction == direction]
    groups["filings (IE3Fxx)"] = [row for row in rows if row.entry.kind == "filing"]
    groups["amendments (IE3Axx)"] = [row for row in rows if row.entry.kind == "amendment"]
    groups["other messages"] = [row for row in rows if row.entry.kind not in ("filing", "amendment")]
    return groups


_FILING_REPLIES = ("IE3R01", "IE3N99", "IE3N01")  # domain/ics2.md: exactly ONE functional reply
_OUTSIDE_LIFECYCLE = {"IE3Q05": "consultation → IE3R08", "IE3R08": "reply to IE3Q05"}


def served_by(message_id: str, direction: str) -> str:
    """How the simulator serves a message, read from the lifecycle and notification data: the event a trader
    message drives and what answers it; the events (or requests) whose step sends a customs message."""
    machine = ens_machine()
    if message_id in _OUTSIDE_LIFECYCLE:
        return _OUTSIDE_LIFECYCLE[message_id]
    if direction == "t2c":
        event = event_for_message(message_id, machine)
        if event is None:
            return "filing desk → " + " / ".join(_FILING_REPLIES)
        answers = machine.events[event].messages.get("out", ())
        return f"event `{event}`" + (" → " + " / ".join(answers) if answers else "")
    events = sorted({name for name, spec in machine.events.items() if message_id in spec.messages.get("out", ())}
                    | {name for name, items in notification_table().items()
                       if any(item["message"] == message_id for item in items)})
    return "step " + ", ".join(f"`{name}`" for name in events) if events else "-"


def render(rows: Sequence[MessageCoverage] | None = None) -> str:
    """The Markdown of ``docs/coverage.md`` (deterministic: no dates, catalogue order)."""
    rows = assess() if rows is None else rows
    lines = [
        "# ICS2 message coverage",
        "",
        "Generated by `python -m simulator.ics2.coverage` from `simulator/ics2/data/catalogue.json` and",
        "`simulator/ics2/schemas/`. Do not edit by hand: `tests/unit/test_ics2_catalogue.py` checks that",
        "this file matches the generator's output.",
        "",
        "Status: **implemented** = the simulator serves the flow; **schema** = our XSD exists and",
        "validates, the flow is not served yet (the P-Mode check answers EBMS:0010); **planned** = neither.",
        "",
        "## Totals",
        "",
        "| | messages | implemented | schema | planned | XSD compiles |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [_totals_row(label, group) for label, group in _groups(rows).items()]
    lines += [
        "",
        "## Messages",
        "",
        "| message | direction | kind | release | mode | priority | correlation | XSD | compiles | status "
        "| served by |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        e = row.entry
        xsd = f"`{row.schema_file}`" if row.present else "**missing**"
        cells = [e.message_id, e.direction, e.kind, e.release, e.mode or "-", e.priority, e.correlation, xsd,
                 _yes(row.compiles), e.status, served_by(e.message_id, e.direction)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Inconsistencies", ""]
    problems = [row for row in rows if row.inconsistent]
    if not problems:
        lines.append("None: every message with status implemented or schema has a compiling XSD.")
    for row in problems:
        lines.append(f"- {row.entry.message_id} ({row.entry.status}): {row.problem}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write docs/coverage.md (or ``--output``); ``--check`` compares only (exit 1 if stale)."""
    parser = argparse.ArgumentParser(prog="python -m simulator.ics2.coverage", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown file to write")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    target: Path = args.output
    if args.check:
        current = target.read_text("utf-8") if target.is_file() else ""
        if current != text:
            print(f"{target} is out of date: run python -m simulator.ics2.coverage", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, "utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
