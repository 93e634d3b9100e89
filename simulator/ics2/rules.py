"""ICS2 data-quality rules: the validation layer after the XSD (domain/ics2.md "Data-quality rules").

The rule table is data (``data/rules.json``: id, check, CL723 code, description, messages,
applies-to XPaths, word list), loaded and compiled once. Each *check* below is a small function
that names its rule in its docstring; it receives the elements the rule's XPaths select and yields
findings. :func:`check_rules` runs every rule for a message id and returns ALL violations (ICD
"Validation errors": the IE3N99 lists every error, not only the first); :func:`validate_filing`
runs schema validation first and the rules only on a schema-valid message, as ICS2 does
("if the message is syntactically correct, the error message will list all possible semantical
errors").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Final

from lxml import etree

from simulator.ics2.errors import FunctionalError, element_pointer, local_name
from simulator.ics2.validation import SchemaSet, default_schema_set

__all__ = [
    "CHECKS",
    "DATA_DIR",
    "Rule",
    "RuleBook",
    "check_rules",
    "default_rule_book",
    "load_word_list",
    "normalise",
    "validate_filing",
]

DATA_DIR: Final = Path(__file__).resolve().parent / "data"

Finding = tuple[etree._Element, str, str | None]  # element, reason, original value
Check = Callable[["Rule", Sequence[list[etree._Element]]], Iterator[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rule table, with its XPaths compiled."""

    id: str
    check: str
    code: str
    description: str
    source: str
    messages: tuple[str, ...]
    applies_to: tuple[str, ...]
    xpaths: tuple[etree.XPath, ...]
    words: frozenset[str] = frozenset()

    def applies(self, message_id: str) -> bool:
        return any(fnmatchcase(message_id, pattern) for pattern in self.messages)


def normalise(text: str) -> str:
    """Stop-word comparison form: case-folded, whitespace trimmed and collapsed to single spaces."""
    return " ".join(text.casefold().split())


def load_word_list(path: Path) -> frozenset[str]:
    """A word list: one term per line, '#' comment lines and blank lines ignored, normalised."""
    words = set()
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            words.add(normalise(line))
    return frozenset(words)


# ------------------------------------------------------------------------------------------------
# checks (name in rules.json "check" -> function)

CHECKS: dict[str, Check] = {}


def _check(name: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[name] = function
        return function

    return register


def _texts(targets: Sequence[list[etree._Element]]) -> Iterator[tuple[etree._Element, str]]:
    for elements in targets:
        for element in elements:
            if element.text is not None:
                yield element, element.text


_HS_SUBHEADING = re.compile(r"[0-9]{6}")
_CN_EXTENSION = re.compile(r"[0-9]{2}")


@_check("hs_code_form")
def hs_code_form(rule: Rule, targets: Sequence[list[etree._Element]]) -> Iterator[Finding]:
    """DQ-HS-CODE (domain/ics2.md "Data-quality rules", CL723 12): the HS sub-heading is exactly
    6 digits and the optional CN extension exactly 2 digits."""
    for element, text in _texts(targets):
        is_cn = local_name(element) == "combinedNomenclatureCode"
        pattern = _CN_EXTENSION if is_cn else _HS_SUBHEADING
        if pattern.fullmatch(text) is None:
            what = "CN extension must be 2 digits" if is_cn else "HS sub-heading must be 6 digits"
            yield element, f"Commodity code: {what}; found '{text}'", text


@_check("not_a_stop_word")
def not_a_stop_word(rule: Rule, targets: Sequence[list[etree._Element]]) -> Iterator[Finding]:
    """DQ-DESC-STOPWORD and DQ-PARTY-NAME (domain/ics2.md "Data-quality rules", CL723 100): the
    whole value, case- and whitespace-insensitively, must not be a term of the rule's word list."""
    for element, text in _texts(targets):
        if normalise(text) in rule.words:
            yield element, f"{rule.description}; '{text.strip()}' is on the stop-word list", text


# Latin (Basic, Latin-1, Extended A-E, Additional, ligatures), IPA and modifier letters, combining
# diacritics, Greek (+ Extended), Cyrillic (+ Supplement, Extended A-C), general punctuation
# without invisible/bidi controls, currency symbols, letterlike symbols (No., TM).
_ALLOWED = (
    "\t\n\r\x20-\x7e\xa0-\u036f\u0370-\u03ff\u0400-\u052f\u1c80-\u1c8f\u1e00-\u1eff\u1f00-\u1fff"
    "\u2010-\u2027\u2030-\u205e\u20a0-\u20cf\u2100-\u214f\u2c60-\u2c7f\u2de0-\u2dff"
    "\ua640-\ua69f\ua720-\ua7ff\uab30-\uab6f\ufb00-\ufb06"
)
_DISALLOWED = re.compile(f"[^{_ALLOWED}]")


@_check("allowed_script")
def allowed_script(rule: Rule, targets: Sequence[list[etree._Element]]) -> Iterator[Finding]:
    """DQ-SCRIPT (domain/ics2.md "Data-quality rules" / "ENS lifecycle" Unicode script check,
    CL723 102): text outside the Latin, Cyrillic and Greek scripts is refused, one error per element
    naming the first disallowed character."""
    for element, text in _texts(targets):
        if text.isascii() and "\x7f" not in text:
            continue  # fast path: printable ASCII (XML already excludes other C0 controls)
        match = _DISALLOWED.search(text)
        if match is not None:
            char = match.group()
            shown = f" '{char}'" if char.isprintable() else ""
            reason = (
                f"Character U+{ord(char):04X}{shown} at position {match.start() + 1} is outside the "
                "allowed scripts (Latin, Cyrillic, Greek)"
            )
            yield element, reason, text


_EORI = re.compile(r"[A-Z]{2}[0-9A-Z]{1,15}")


@_check("eori_format")
def eori_format(rule: Rule, targets: Sequence[list[etree._Element]]) -> Iterator[Finding]:
    """DQ-EORI (domain/ics2.md "Data-quality rules", CL723 12): an EORI is a 2-letter country
    code followed by 1 to 15 upper-case alphanumerics (an..17)."""
    for element, text in _texts(targets):
        if _EORI.fullmatch(text) is None:
            yield element, f"'{text}' is not an EORI number (2-letter country + 1-15 alphanumerics)", text


_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


@_check("date_time_format")
def date_time_format(rule: Rule, targets: Sequence[list[etree._Element]]) -> Iterator[Finding]:
    """DQ-DATETIME (domain/ics2.md "Data-quality rules", CL723 12): YYYY-MM-DDThh:mm:ssZ and a
    real calendar date/time."""
    for element, text in _texts(targets):
        valid = _DATE_TIME.fullmatch(text) is not None
        if valid:
            try:
                datetime.fromisoformat(text[:-1])  # the regex fixed the form; this checks the calendar
            except ValueError:
                valid = False
        if not valid:
            yield element, f"'{text}' is not a UTC date and time in the form YYYY-MM-DDThh:mm:ssZ", text


@_check("differs_from")
def differs_from(rule: Rule, targets: Sequence[list[etree._Element]]) -> Iterator[Finding]:
    """DQ-REPRESENTATIVE (domain/ics2.md "Data-quality rules", CL723 12): the value at the first
    XPath (representative identification) must differ from the value at the second (declarant's)."""
    if len(targets) < 2 or not targets[0] or not targets[1]:
        return
    subject, other = targets[0][0], targets[1][0]
    if subject.text is None or other.text is None:
        return
    if subject.text.strip().upper() == other.text.strip().upper():
        yield subject, f"{rule.description}; both are '{subject.text.strip()}'", subject.text


# ------------------------------------------------------------------------------------------------
# the rule book


class RuleBook:
    """The rule table, compiled: XPaths and word lists loaded once; rules selected per message id."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        unknown = sorted({rule.check for rule in rules} - CHECKS.keys())
        if unknown:
            raise ValueError(f"rules.json names unknown checks: {unknown}")
        self.rules = tuple(rules)
        self._by_message: dict[str, tuple[Rule, ...]] = {}

    @classmethod
    def from_file(cls, path: Path | None = None) -> RuleBook:
        """Load a rule table (default ``data/rules.json``); word lists are resolved beside it."""
        path = path or DATA_DIR / "rules.json"
        raw = json.loads(path.read_text("utf-8"))
        rules = []
        for item in raw["rules"]:
            applies_to = tuple(item["applies_to"])
            words = load_word_list(path.parent / item["list"]) if item.get("list") else frozenset()
            rules.append(
                Rule(
                    id=item["id"],
                    check=item["check"],
                    code=str(item["code"]),
                    description=item["description"],
                    source=item.get("source", ""),
                    messages=tuple(item.get("messages", ["*"])),
                    applies_to=applies_to,
                    xpaths=tuple(etree.XPath(expression) for expression in applies_to),
                    words=words,
                )
            )
        return cls(rules)

    def rules_for(self, message_id: str) -> tuple[Rule, ...]:
        """The rules that apply to ``message_id`` (memoised)."""
        selected = self._by_message.get(message_id)
        if selected is None:
            selected = tuple(rule for rule in self.rules if rule.applies(message_id))
            self._by_message[message_id] = selected
        return selected

    def check(self, root: etree._Element, message_id: str) -> list[FunctionalError]:
        """Every violation of every applicable rule, rule by rule in table order, document order within."""
        errors: list[FunctionalError] = []
        for rule in self.rules_for(message_id):
            targets = [_elements(xpath(root)) for xpath in rule.xpaths]
            for element, reason, value in CHECKS[rule.check](rule, targets):
                errors.append(FunctionalError(rule.code, element_pointer(element, root), reason, value))
        return errors


def _elements(result: object) -> list[etree._Element]:
    if isinstance(result, list):
        return [item for item in result if isinstance(item, etree._Element) and isinstance(item.tag, str)]
    return []


@lru_cache(maxsize=1)
def default_rule_book() -> RuleBook:
    """The process-wide rule book from ``data/rules.json``, loaded on first use."""
    return RuleBook.from_file()


def check_rules(
    root: etree._Element, message_id: str, *, rule_book: RuleBook | None = None
) -> list[FunctionalError]:
    """All data-quality violations of ``root`` (a schema-valid ``message_id`` payload)."""
    return (rule_book or default_rule_book()).check(root, message_id)


def validate_filing(
    root: etree._Element, *, schema_set: SchemaSet | None = None, rule_book: RuleBook | None = None
) -> list[FunctionalError]:
    """Schema validation, then (only if the schema accepts the message) the data-quality rules.

    Returns every error of the failing layer; ``[]`` means the filing may be registered.
    """
    errors = (schema_set or default_schema_set()).validate(root)
    if errors:
        return errors
    return check_rules(root, local_name(root), rule_book=rule_book)
