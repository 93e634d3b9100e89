"""Functional (business) validation errors of ICS2 payloads and the XPath pointers they carry.

A :class:`FunctionalError` is one entry of an IE3N99 error notification (domain/ics2.md "Messages":
"IE3N99 ... lists ALL errors, each with code (CL723), XPath pointer, description (English)";
ICD §4 "Validation errors"). Schema validation (:mod:`simulator.ics2.validation`) and data-quality
rules (:mod:`simulator.ics2.rules`) both produce them; :mod:`simulator.ics2.replies` serialises them.

Pointers are absolute XPath location paths from the message root, written with local names only
(``/IE3F32/declarant/identificationNumber``); a step gets a 1-based ``[n]`` predicate when its
parent has more than one child element of that name (``goodsItem[2]``), the same convention as
libxml2's node paths, so schema and rule pointers look alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lxml import etree

__all__ = [
    "CL723",
    "DATA_QUALITY",
    "DISALLOWED_CHARACTER",
    "INCORRECT_VALUE",
    "MISSING",
    "NOT_SUPPORTED_IN_POSITION",
    "OUT_OF_SEQUENCE",
    "TOO_MANY_REPETITIONS",
    "VALUE_NOT_SUPPORTED",
    "FunctionalError",
    "element_pointer",
    "local_name",
]

# CL723 validation codes used by the simulator. The numbering of 12-35 follows the UN/EDIFACT syntax
# error codes (code list 0085) that CL723 builds on; 92, 100 and 102 are ICS2 additions named in
# domain/ics2.md "Messages".
INCORRECT_VALUE: Final = "12"
MISSING: Final = "13"
VALUE_NOT_SUPPORTED: Final = "14"
NOT_SUPPORTED_IN_POSITION: Final = "15"
TOO_MANY_REPETITIONS: Final = "35"
OUT_OF_SEQUENCE: Final = "92"
DATA_QUALITY: Final = "100"
DISALLOWED_CHARACTER: Final = "102"

CL723: Final[dict[str, str]] = {
    INCORRECT_VALUE: "Incorrect (value or format)",
    MISSING: "Missing (mandatory, or required by a condition)",
    VALUE_NOT_SUPPORTED: "Value not supported in this position (code-list value not allowed)",
    NOT_SUPPORTED_IN_POSITION: "Not supported in this position",
    TOO_MANY_REPETITIONS: "Too many repetitions",
    OUT_OF_SEQUENCE: "Message out of sequence",
    DATA_QUALITY: "Data quality: value not precise enough",
    DISALLOWED_CHARACTER: "Disallowed Unicode character",
}


@dataclass(frozen=True, slots=True)
class FunctionalError:
    """One functional error: CL723 ``code``, XPath ``pointer``, English ``reason``, offending value.

    ``original_value`` is the value found in the message when the error is about a value (codes 12,
    14, 100, 102), ``None`` when an element is missing or misplaced.
    """

    code: str
    pointer: str
    reason: str
    original_value: str | None = None


def local_name(element: etree._Element) -> str:
    """The local part of an element's tag (``{ns}IE3F32`` -> ``IE3F32``)."""
    tag = element.tag
    if not isinstance(tag, str):  # comment or processing instruction
        return ""
    return tag.rpartition("}")[2]


def element_pointer(element: etree._Element, root: etree._Element | None = None) -> str:
    """Absolute XPath pointer of ``element``, from ``root`` (default: the top of its tree).

    Steps are local names; ``[n]`` (1-based) is added only where the parent has several child
    elements with the same tag, as in libxml2 node paths.
    """
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        step = local_name(node)
        parent = node.getparent()
        if parent is not None and node is not root:
            same = list(parent.iterchildren(node.tag))
            if len(same) > 1:
                step = f"{step}[{same.index(node) + 1}]"
        steps.append(step)
        if node is root:
            break
        node = parent
    steps.reverse()
    return "/" + "/".join(steps)
