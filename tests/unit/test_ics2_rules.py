"""Data-quality rules (domain/ics2.md "Data-quality rules"): each rule, all violations, stop-word files."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from scenarios.filings.ics2 import FilingMessageId, build_filing, sample_data
from simulator.ics2.errors import FunctionalError
from simulator.ics2.rules import (
    CHECKS,
    DATA_DIR,
    RuleBook,
    check_rules,
    default_rule_book,
    load_word_list,
    normalise,
    validate_filing,
)

EORI = "BE0123456789"
HOUSE_REL = "consignmentMasterLevel/consignmentHouseLevel"
HOUSE = f"/IE3F32/{HOUSE_REL}"
DESCRIPTION_REL = f"{HOUSE_REL}/goodsItem[1]/commodity/descriptionOfGoods"
DESCRIPTION = f"/IE3F32/{DESCRIPTION_REL}"


def _sample(message_id: FilingMessageId = "IE3F32") -> etree._Element:
    return etree.fromstring(build_filing(message_id, sample_data(message_id, lrn="LRN-R-1", eori=EORI)))


def _set(root: etree._Element, path: str, text: str) -> etree._Element:
    element = root.find(path)
    assert element is not None, path
    element.text = text
    return root


def _codes(errors: list[FunctionalError]) -> list[tuple[str, str]]:
    return [(error.code, error.pointer) for error in errors]


def _entries(name: str) -> list[str]:
    lines = (DATA_DIR / name).read_text("utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


DESCRIPTION_STOP_WORDS = _entries("description-stopwords.txt")
PARTY_STOP_WORDS = _entries("party-name-stopwords.txt")


def test_rule_table_is_data_and_complete() -> None:
    raw = json.loads((DATA_DIR / "rules.json").read_text("utf-8"))
    ids = [rule["id"] for rule in raw["rules"]]
    assert ids == [
        "DQ-HS-CODE",
        "DQ-DESC-STOPWORD",
        "DQ-PARTY-NAME",
        "DQ-SCRIPT",
        "DQ-EORI",
        "DQ-DATETIME",
        "DQ-REPRESENTATIVE",
    ]
    assert {rule["check"] for rule in raw["rules"]} <= CHECKS.keys()
    for check in CHECKS.values():
        assert check.__doc__ and "DQ-" in check.__doc__ and "CL723" in check.__doc__
    assert default_rule_book() is default_rule_book()
    assert [rule.id for rule in default_rule_book().rules_for("IE3R01")] == []


def test_stop_word_lists_are_big_enough_and_unique() -> None:
    assert len(DESCRIPTION_STOP_WORDS) >= 200
    for entries in (DESCRIPTION_STOP_WORDS, PARTY_STOP_WORDS):
        assert len({normalise(entry) for entry in entries}) == len(entries)
    assert {"unknown", "private", "n/a"} <= load_word_list(DATA_DIR / "party-name-stopwords.txt")


@pytest.mark.parametrize("word", DESCRIPTION_STOP_WORDS)
def test_every_description_stop_word_is_rejected(word: str) -> None:
    errors = check_rules(_set(_sample(), DESCRIPTION_REL, word), "IE3F32")
    assert _codes(errors) == [("100", DESCRIPTION)]
    assert errors[0].original_value == word


@pytest.mark.parametrize("word", PARTY_STOP_WORDS)
def test_every_party_name_stop_word_is_rejected(word: str) -> None:
    errors = check_rules(_set(_sample(), f"{HOUSE_REL}/consignor/name", word), "IE3F32")
    assert _codes(errors) == [("100", f"{HOUSE}/consignor/name")]


@pytest.mark.parametrize(
    "variant", ["GIFT", "  Gift ", "general\tcargo", "Freight  All\nKinds", "See Invoice"]
)
def test_stop_words_match_case_and_whitespace_insensitively(variant: str) -> None:
    assert _codes(check_rules(_set(_sample(), DESCRIPTION_REL, variant), "IE3F32")) == [("100", DESCRIPTION)]


@pytest.mark.parametrize("text", ["Gift box of dark chocolate pralines", "Spare parts for bicycle brakes"])
def test_a_stop_word_inside_a_precise_description_is_accepted(text: str) -> None:
    assert check_rules(_set(_sample(), DESCRIPTION_REL, text), "IE3F32") == []


@pytest.mark.parametrize(
    "path", ["declarant/name", "representative/name", "carrier/name", f"{HOUSE_REL}/consignee/name"]
)
def test_party_names_are_checked_for_every_party(path: str) -> None:
    assert _codes(check_rules(_set(_sample(), path, "N/A"), "IE3F32")) == [("100", f"/IE3F32/{path}")]


@pytest.mark.parametrize(
    ("hs", "cn", "expected"),
    [
        ("610910", "00", []),
        ("61O910", "00", [("12", "harmonizedSystemSubHeadingCode")]),
        ("6109AB", "0A", [("12", "harmonizedSystemSubHeadingCode"), ("12", "combinedNomenclatureCode")]),
        ("610910", "X1", [("12", "combinedNomenclatureCode")]),
    ],
)
def test_hs_code_form(hs: str, cn: str, expected: list[tuple[str, str]]) -> None:
    root = _sample()
    code = f"{HOUSE_REL}/goodsItem[1]/commodity/commodityCode"
    _set(root, f"{code}/harmonizedSystemSubHeadingCode", hs)
    _set(root, f"{code}/combinedNomenclatureCode", cn)
    prefix = f"{HOUSE}/goodsItem[1]/commodity/commodityCode/"
    assert _codes(check_rules(root, "IE3F32")) == [(c, prefix + leaf) for c, leaf in expected]


@pytest.mark.parametrize(
    "text",
    [
        "Chaussures en cuir, fabriquées à Lyon",
        "Ручная кофемолка из стали",
        "Ελαιόλαδο παρθένο σε μπουκάλι",
        "Dziecięce buty zimowe \u2013 \u201eśnieg\u201d, 25 \u20ac",
        "Tiếng Việt: áo dài lụa",
    ],
)
def test_latin_cyrillic_greek_and_punctuation_are_allowed(text: str) -> None:
    assert check_rules(_set(_sample(), DESCRIPTION_REL, text), "IE3F32") == []


@pytest.mark.parametrize(
    ("text", "codepoint"),
    [
        ("Phone case 手机壳", "U+624B"),
        ("غطاء هاتف", "U+063A"),
        ("Cotton socks \U0001f9e6", "U+1F9E6"),
        ("Right\u202eto-left trick", "U+202E"),
        ("テスト", "U+30C6"),
        ("Delete\x7fchar", "U+007F"),
    ],
)
def test_other_scripts_are_code_102(text: str, codepoint: str) -> None:
    errors = check_rules(_set(_sample(), DESCRIPTION_REL, text), "IE3F32")
    assert _codes(errors) == [("102", DESCRIPTION)]
    assert codepoint in errors[0].reason


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40))
def test_printable_ascii_never_fails_the_script_rule(text: str) -> None:
    root = _sample()
    _set(root, "carrier/name", text)
    assert [error for error in check_rules(root, "IE3F32") if error.code == "102"] == []


@pytest.mark.parametrize("value", ["be0123456789", "B0123", "BE", "BE-0123", "BE01234567890123456"])
def test_eori_format(value: str) -> None:
    assert _codes(check_rules(_set(_sample(), "declarant/identificationNumber", value), "IE3F32")) == [
        ("12", "/IE3F32/declarant/identificationNumber")
    ]


@pytest.mark.parametrize("value", ["2024-02-30T08:00:00Z", "2024-06-03 08:00:00Z", "2024-06-03T25:00:00Z"])
def test_date_time_format(value: str) -> None:
    assert _codes(check_rules(_set(_sample(), "documentIssueDate", value), "IE3F32")) == [
        ("12", "/IE3F32/documentIssueDate")
    ]


def test_representative_must_differ_from_declarant() -> None:
    root = _set(_sample(), "representative/identificationNumber", EORI)
    errors = check_rules(root, "IE3F32")
    assert _codes(errors) == [("12", "/IE3F32/representative/identificationNumber")]
    without = _sample()
    without.remove(without.find("representative"))
    assert check_rules(without, "IE3F32") == []


def test_all_violations_are_reported_not_only_the_first() -> None:
    root = _sample()
    _set(root, DESCRIPTION_REL, "Gift")
    _set(root, f"{HOUSE_REL}/goodsItem[2]/commodity/descriptionOfGoods", "刀具")
    _set(root, "representative/identificationNumber", EORI)
    assert _codes(validate_filing(root)) == [
        ("100", DESCRIPTION),
        ("102", f"{HOUSE}/goodsItem[2]/commodity/descriptionOfGoods"),
        ("12", "/IE3F32/representative/identificationNumber"),
    ]


def test_rules_run_only_on_a_schema_valid_filing() -> None:
    root = _set(_sample(), DESCRIPTION_REL, "Gift")
    _set(root, "LRN", "L" * 30)
    _set(root, "documentIssueDate", "now")
    assert _codes(validate_filing(root)) == [("12", "/IE3F32/LRN"), ("12", "/IE3F32/documentIssueDate")]


@pytest.mark.parametrize("message_id", ["IE3F43", "IE3F44"])
def test_rules_apply_to_postal_filings(message_id: FilingMessageId) -> None:
    root = _sample(message_id)
    assert validate_filing(root) == []
    _set(root, "declarant/name", "Private")
    assert _codes(validate_filing(root)) == [("100", f"/{message_id}/declarant/name")]


def test_a_custom_rule_table(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("# test\nwidgets\n", "utf-8")
    (tmp_path / "rules.json").write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "id": "X-1",
                        "check": "not_a_stop_word",
                        "code": "100",
                        "description": "No widgets",
                        "messages": ["IE3F3?"],
                        "list": "words.txt",
                        "applies_to": ["carrier/name"],
                    }
                ]
            }
        ),
        "utf-8",
    )
    book = RuleBook.from_file(tmp_path / "rules.json")
    root = _set(_sample(), "carrier/name", "Widgets")
    assert _codes(check_rules(root, "IE3F32", rule_book=book)) == [("100", "/IE3F32/carrier/name")]
    assert check_rules(root, "IE3F43", rule_book=book) == []


def test_unknown_check_names_are_refused() -> None:
    bad = dataclasses.replace(default_rule_book().rules[0], check="nope")
    with pytest.raises(ValueError, match="unknown checks"):
        RuleBook([bad])


def _best_mean(function: Callable[[], object], rounds: int = 5, number: int = 200) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            function()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def test_validate_filing_is_fast() -> None:
    payload = build_filing("IE3F32", sample_data("IE3F32", lrn="LRN-P-1", eori=EORI))
    root = etree.fromstring(payload)
    assert validate_filing(root) == []
    seconds = _best_mean(lambda: validate_filing(root))
    assert seconds < 0.3e-3, f"validate_filing took {seconds * 1e6:.0f} us for {len(payload)} bytes"
