"""The ICS2 message catalogue against domain/ics2.md ("Messages", "Releases") and the generated coverage page."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from simulator.codecs.as4 import constants as as4c
from simulator.ics2 import coverage
from simulator.ics2.catalogue import CatalogueEntry, catalogue, entry
from simulator.ics2.validation import DEFAULT_SCHEMA_DIR

V1, V2 = "EU-ICS2-TI-V1.0", "EU-ICS2-TI-V2.0"


def _codes(*ranges: tuple[int, int]) -> list[str]:
    return [f"{n}" for first, last in ranges for n in range(first, last + 1)]


# domain/ics2.md "Releases": which filing belongs to which release.
RELEASE_OF_FILING = {
    **{code: "R1" for code in ("32", "43", "44")},
    **{code: "R2" for code in [*_codes((20, 31), (33, 33)), "42"]},
    **{code: "R3" for code in [*_codes((10, 17)), "34", "40", "41", "45", "50", "51"]},
}
FILINGS = [f"IE3F{code}" for code in sorted(RELEASE_OF_FILING)]
AMENDMENTS = [f"IE3A{code}" for code in sorted(RELEASE_OF_FILING) if code != "25"]  # there is no A25

# domain/ics2.md "Messages": kind of every other message, and who sends it.
OTHER_KINDS = {
    "IE3Q04": ("t2c", "invalidation-request"),
    "IE3R07": ("c2t", "invalidation-acceptance"),
    "IE3Q05": ("t2c", "consultation"),
    "IE3R08": ("c2t", "consultation-result"),
    "IE3N06": ("t2c", "arrival-notification"),
    "IE3R04": ("c2t", "arrival-registration"),
    "IE3N07": ("c2t", "incorrect-state"),
    "IE3N08": ("c2t", "control-notification"),
    "IE3R02": ("t2c", "rfi-answer"),
    "IE3R03": ("t2c", "hrcm-answer"),
    "IE3R01": ("c2t", "registration-response"),
    "IE3N99": ("c2t", "error-notification"),
    "IE3N01": ("c2t", "lifecycle-error"),
    "IE3N10": ("c2t", "amendment-accepted"),
    "IE3Q01": ("c2t", "do-not-load"),
    "IE3Q02": ("c2t", "rfi"),
    "IE3Q03": ("c2t", "hrcm-request"),
    "IE3N03": ("c2t", "assessment-complete"),
    "IE3N04": ("c2t", "rfi-copy"),
    "IE3N05": ("c2t", "hrcm-copy"),
    "IE3N02": ("c2t", "ens-not-complete"),
    "IE3N11": ("c2t", "ens-pending"),
    "IE3N09": ("c2t", "aeo-control"),
}
# What serves each kind of trader message, and the builders of every customs message: a message is
# "implemented" only where one of them handles it.
T2C_HANDLED_KINDS = {"filing", "amendment", "invalidation-request", "arrival-notification", "consultation",
                     "rfi-answer", "hrcm-answer"}
C2T_BUILT_BY_REPLIES = {"IE3R01", "IE3N99", "IE3N01", "IE3N10", "IE3R07"}
MODES = {"sea", "air", "express", "postal", "road", "rail"}

# domain/ics2.md "Messages": priority classes under backlog and the IE3N99 correlation rule
# ("LRN for Fxx/N06, MRN for A/Q04/Q05/R02/R03"); replies to an LRN-identified message carry its LRN.
SPOT_CHECKS = [
    # message, priority, correlation
    ("IE3Q01", "A", "MRN"),
    ("IE3Q03", "A", "MRN"),
    ("IE3R03", "A", "MRN"),
    ("IE3N03", "A", "MRN"),
    ("IE3N06", "A", "LRN"),
    ("IE3N08", "A", "MRN"),
    ("IE3F10", "B", "LRN"),
    ("IE3F32", "B", "LRN"),
    ("IE3F51", "B", "LRN"),
    ("IE3A10", "B", "MRN"),
    ("IE3A44", "B", "MRN"),
    ("IE3Q02", "B", "MRN"),
    ("IE3R01", "B", "LRN"),
    ("IE3R02", "B", "MRN"),
    ("IE3R04", "B", "LRN"),
    ("IE3R08", "B", "MRN"),
    ("IE3N01", "B", "LRN"),
    ("IE3N99", "B", "LRN"),
    ("IE3Q04", "C", "MRN"),
    ("IE3Q05", "C", "MRN"),
    ("IE3R07", "C", "MRN"),
    ("IE3N02", "C", "MRN"),
    ("IE3N04", "C", "MRN"),
    ("IE3N05", "C", "MRN"),
    ("IE3N07", "C", "LRN"),
    ("IE3N09", "C", "MRN"),
    ("IE3N10", "C", "MRN"),
]


def _raw() -> dict[str, dict[str, Any]]:
    text = resources.files("simulator.ics2").joinpath("data/catalogue.json").read_text("utf-8")
    messages: dict[str, dict[str, Any]] = json.loads(text)["messages"]
    return messages


def _get(message_id: str) -> CatalogueEntry:
    item = entry(message_id)
    assert item is not None, message_id
    return item


# ---------------------------------------------------------------------------------------- content


def test_the_catalogue_lists_every_message_of_the_domain_notes_and_nothing_else() -> None:
    assert set(catalogue()) == set(FILINGS) | set(AMENDMENTS) | set(OTHER_KINDS)
    assert len(catalogue()) == 31 + 30 + 23


@pytest.mark.parametrize("message_id", FILINGS)
def test_filings(message_id: str) -> None:
    item = _get(message_id)
    assert (item.direction, item.kind, item.correlation, item.priority) == ("t2c", "filing", "LRN", "B")
    assert item.release == RELEASE_OF_FILING[message_id[4:]]
    assert item.mode in MODES and item.dataset


@pytest.mark.parametrize("message_id", AMENDMENTS)
def test_amendments_follow_their_filing(message_id: str) -> None:
    item, filing = _get(message_id), _get("IE3F" + message_id[4:])
    assert (item.direction, item.kind, item.correlation, item.priority) == ("t2c", "amendment", "MRN", "B")
    assert (item.release, item.mode, item.agreements) == (filing.release, filing.mode, filing.agreements)
    assert filing.message_id in item.dataset


def test_there_is_no_ie3a25() -> None:
    assert entry("IE3F25") is not None and entry("IE3A25") is None


@pytest.mark.parametrize("message_id", sorted(OTHER_KINDS))
def test_other_messages_have_their_kind_and_direction(message_id: str) -> None:
    item = _get(message_id)
    assert (item.direction, item.kind) == OTHER_KINDS[message_id]


@pytest.mark.parametrize(("message_id", "priority", "correlation"), SPOT_CHECKS)
def test_priority_and_correlation_spot_checks(message_id: str, priority: str, correlation: str) -> None:
    item = _get(message_id)
    assert (item.priority, item.correlation) == (priority, correlation)


def test_hrcm_messages_are_air_only() -> None:
    for message_id in ("IE3Q03", "IE3R03", "IE3N05"):
        assert _get(message_id).mode == "air"


def test_agreements_follow_the_release() -> None:
    """ICD §4.2.3.1 / domain/ics2.md "AS4 profile": V1.0 carries Release 1, V2.0 Releases 2 and 3 (and R1)."""
    for item in catalogue().values():
        expected = (V1, V2) if item.release == "R1" else (V2,)
        assert item.agreements == expected, item.message_id
        assert set(item.agreements) <= set(as4c.AGREEMENTS)


def test_every_message_is_implemented_by_a_handler_or_a_builder() -> None:
    from simulator.ics2.notices import NOTICE_ACTIONS

    for item in catalogue().values():
        served = (item.kind in T2C_HANDLED_KINDS if item.direction == "t2c"
                  else item.message_id in NOTICE_ACTIONS | C2T_BUILT_BY_REPLIES)
        assert served, item.message_id
        assert item.status == "implemented" and item.implemented, item.message_id
        assert item.schema == item.message_id
        assert (DEFAULT_SCHEMA_DIR / f"{item.schema}.xsd").is_file()


def test_raw_entries_have_only_known_fields_and_notes_are_text() -> None:
    known = {"direction", "kind", "release", "mode", "dataset", "correlation", "priority", "schema", "agreements",
             "status", "note"}
    for message_id, item in _raw().items():
        assert set(item) <= known, message_id
        assert isinstance(item.get("note", ""), str)
    # what the domain notes do not settle carries a note
    for message_id in ("IE3N11", "IE3N08", "IE3A32", "IE3Q04"):
        assert _raw()[message_id].get("note"), message_id


# ---------------------------------------------------------------------------------------- coverage page


def test_docs_coverage_is_up_to_date() -> None:
    """docs/coverage.md is generated: run `python -m simulator.ics2.coverage` after changing the catalogue."""
    assert coverage.DEFAULT_OUTPUT.read_text("utf-8") == coverage.render()
    assert coverage.main(["--check"]) == 0


def test_coverage_counts_every_message_and_finds_no_inconsistency() -> None:
    rows = coverage.assess()
    assert [row.entry.message_id for row in rows] == list(catalogue())
    assert all(row.present and row.compiles and not row.inconsistent for row in rows)
    text = coverage.render(rows)
    assert "| all messages | 84 | 84 | 0 | 0 | 84 |" in text
    assert "None: every message" in text


def test_coverage_reports_missing_and_broken_schemas(tmp_path: Path) -> None:
    directory = tmp_path / "xsd"
    directory.mkdir()
    shutil.copy(DEFAULT_SCHEMA_DIR / "ics2-common.xsd", directory)
    shutil.copy(DEFAULT_SCHEMA_DIR / "IE3F32.xsd", directory)
    (directory / "IE3F43.xsd").write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><oops/>", "utf-8")
    entries = [_get("IE3F32"), _get("IE3F43"), _get("IE3F44")]
    rows = coverage.assess(entries, directory)
    assert [(row.present, row.compiles, row.inconsistent) for row in rows] == [
        (True, True, False),
        (True, False, True),
        (False, False, True),
    ]
    text = coverage.render(rows)
    assert "- IE3F43 (implemented):" in text and "- IE3F44 (implemented): no XSD file" in text


def test_coverage_check_detects_a_stale_page(tmp_path: Path) -> None:
    stale = tmp_path / "coverage.md"
    stale.write_text("old\n", "utf-8")
    assert coverage.main(["--check", "--output", str(stale)]) == 1
    assert coverage.main(["--output", str(stale)]) == 0
    assert coverage.main(["--check", "--output", str(stale)]) == 0
