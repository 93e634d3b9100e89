"""Schema validation of ICS2 payloads: compiled XSDs, lxml errors -> CL723 functional errors.

First validation layer of the ENS lifecycle (domain/ics2.md "ENS lifecycle": received -> validated
(XSD, rules ...) -> IE3N99 on failure). :class:`SchemaSet` compiles every message XSD of a directory
ONCE (lxml ``XMLSchema``); our own XSDs (``schemas/``) are the default, an official ICS2 XSD
directory can be given instead (see ``schemas/README.md``).

Which XSD serves which message id:
  1. an explicit ``mapping`` argument (message id -> file path relative to the directory), else
  2. a ``schemas.json`` file in the directory with the same mapping, else
  3. the convention: every ``*.xsd`` whose file name starts with a message id (``IE3F32.xsd``,
     ``IE3F32_v2.xsd``); an exact ``<id>.xsd`` wins over longer names.

lxml error type -> CL723 code (:data:`SCHEMA_ERROR_CODES`, documented in ``schemas/README.md``):
  * 12 incorrect value/format: pattern, length, min/max length, digits, ranges, datatype;
  * 14 value not supported in this position: enumeration (code-list) facets;
  * 13 missing: "Missing child element(s)", and "not expected" when the element the schema
    expected is absent from the parent (pointer = the missing element's would-be path);
  * 35 too many repetitions: an element repeated beyond maxOccurs;
  * 15 not supported in this position: unknown or misplaced elements, text in element-only
    content, undeclared attributes, an unknown message root.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final, cast

from lxml import etree

from simulator.ics2.errors import (
    INCORRECT_VALUE,
    MISSING,
    NOT_SUPPORTED_IN_POSITION,
    TOO_MANY_REPETITIONS,
    VALUE_NOT_SUPPORTED,
    FunctionalError,
    element_pointer,
    local_name,
)

__all__ = [
    "DEFAULT_SCHEMA_DIR",
    "SCHEMA_ERROR_CODES",
    "FilingKeys",
    "FunctionalError",
    "SchemaSet",
    "default_schema_set",
    "filing_keys",
    "load_schema_set",
]

DEFAULT_SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schemas"
MAPPING_FILE: Final = "schemas.json"
_MESSAGE_ID = re.compile(r"^(IE3[A-Z][0-9]{2})", re.IGNORECASE)
_XS = "{http://www.w3.org/2001/XMLSchema}"

SCHEMA_ERROR_CODES: Final[dict[str, str]] = {
    "SCHEMAV_CVC_PATTERN_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_LENGTH_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_MINLENGTH_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_MAXLENGTH_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_TOTALDIGITS_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_FRACTIONDIGITS_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_MININCLUSIVE_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_MAXINCLUSIVE_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_MINEXCLUSIVE_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_MAXEXCLUSIVE_VALID": INCORRECT_VALUE,
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_1": INCORRECT_VALUE,
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_2": INCORRECT_VALUE,
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_3": INCORRECT_VALUE,
    "SCHEMAV_CVC_ATTRIBUTE_3": INCORRECT_VALUE,
    "SCHEMAV_CVC_ELT_5_2_2": INCORRECT_VALUE,
    "SCHEMAV_CVC_ENUMERATION_VALID": VALUE_NOT_SUPPORTED,
    "SCHEMAV_CVC_COMPLEX_TYPE_4": MISSING,
    "SCHEMAV_CVC_COMPLEX_TYPE_2_1": NOT_SUPPORTED_IN_POSITION,
    "SCHEMAV_CVC_COMPLEX_TYPE_2_3": NOT_SUPPORTED_IN_POSITION,
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_1": NOT_SUPPORTED_IN_POSITION,
    "SCHEMAV_CVC_COMPLEX_TYPE_3_2_2": NOT_SUPPORTED_IN_POSITION,
    "SCHEMAV_CVC_TYPE_3_1_1": NOT_SUPPORTED_IN_POSITION,  # attribute on a simple-typed element
    "SCHEMAV_CVC_ELT_1": NOT_SUPPORTED_IN_POSITION,
    # SCHEMAV_ELEMENT_CONTENT is decided by _content_error (13, 15 or 35).
}
_VALUE_CODES: Final = frozenset({INCORRECT_VALUE, VALUE_NOT_SUPPORTED})
_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")
_ATTRIBUTE_ERROR = re.compile(r"Element '[^']+', attribute '([^']+)'")
_ATTRIBUTE_MISSING = re.compile(r"The attribute '([^']+)' is required")


@dataclass(slots=True)
class _Compiled:
    message_id: str
    path: Path
    schema: etree.XMLSchema
    target_namespace: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _xsd_parser() -> etree.XMLParser:
    # XSDs are our own or an operator's files, but still: no network, no entity expansion.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _discover(directory: Path) -> dict[str, Path]:
    """Message id -> XSD path, from ``schemas.json`` or the file-name convention."""
    mapping_file = directory / MAPPING_FILE
    if mapping_file.is_file():
        raw = json.loads(mapping_file.read_text("utf-8"))
        items = raw.get("messages", raw)
        return {str(mid).upper(): directory / str(rel) for mid, rel in items.items() if str(mid)[:1] != "_"}
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.xsd")):
        match = _MESSAGE_ID.match(path.name)
        if match is None:
            continue
        mid = match.group(1).upper()
        exact = path.stem.upper() == mid
        if mid not in found or exact:
            found[mid] = path
    return found


class SchemaSet:
    """Every message XSD of one directory, each compiled once; validates payload roots.

    Thread-safe: lxml keeps the error log on the schema object, so each schema is used under its
    own lock (validation itself runs without the GIL).
    """

    def __init__(
        self, directory: Path | str | None = None, *, mapping: Mapping[str, str] | None = None
    ) -> None:
        self.directory = Path(directory).resolve() if directory is not None else DEFAULT_SCHEMA_DIR
        if not self.directory.is_dir():
            raise FileNotFoundError(f"schema directory not found: {self.directory}")
        if mapping is not None:
            files = {mid.upper(): self.directory / rel for mid, rel in mapping.items()}
        else:
            files = _discover(self.directory)
        if not files:
            raise ValueError(f"no message XSDs found in {self.directory}")
        parser = _xsd_parser()
        self._schemas: dict[str, _Compiled] = {}
        declared: set[str] = set()
        for mid, path in sorted(files.items()):
            doc = etree.parse(str(path), parser)
            namespace = doc.getroot().get("targetNamespace")
            self._schemas[mid] = _Compiled(mid, path, etree.XMLSchema(doc), namespace)
        # Which child names each element may have: tells a misplaced or repeated legal child (13/35)
        # from an element that does not belong under that parent at all (15).
        documents = [etree.parse(str(path), parser) for path in sorted(self.directory.rglob("*.xsd"))]
        self._legal_children = _legal_children(documents)
        for doc in documents:
            declared.update(str(e.get("name")) for e in doc.iter(f"{_XS}element") if e.get("name"))
        self._declared_names = frozenset(declared)

    @property
    def message_ids(self) -> frozenset[str]:
        """Message ids this set can validate."""
        return frozenset(self._schemas)

    def schema_for(self, message_id: str) -> etree.XMLSchema:
        """The compiled schema of ``message_id`` (KeyError if unknown)."""
        return self._schemas[message_id].schema

    def namespace_of(self, message_id: str) -> str | None:
        """Target namespace of the message's XSD."""
        return self._schemas[message_id].target_namespace

    def validate(self, root: etree._Element) -> list[FunctionalError]:
        """Validate a payload root against the XSD of its message id (its local name).

        Returns every schema error as a :class:`FunctionalError` (CL723 code per
        :data:`SCHEMA_ERROR_CODES`), in document order, without duplicates; ``[]`` if valid.
        An unknown root is one code-15 error pointing at the root.
        """
        name = local_name(root)
        compiled = self._schemas.get(name)
        if compiled is None:
            qname = root.tag if isinstance(root.tag, str) else repr(root.tag)
            return [
                FunctionalError(
                    NOT_SUPPORTED_IN_POSITION,
                    f"/{name}",
                    f"Message root element '{qname}' is not a supported message type",
                )
            ]
        with compiled.lock:
            if compiled.schema.validate(root):
                return []
            # error_log is a copy; the stubs do not declare it iterable
            log = list(cast("Iterable[etree._LogEntry]", compiled.schema.error_log))
        return self._convert(root, log)

    # ----------------------------------------------------------------------------------------

    def _convert(self, root: etree._Element, log: Iterable[etree._LogEntry]) -> list[FunctionalError]:
        errors: list[FunctionalError] = []
        seen: set[tuple[str, str]] = set()
        nsmap = {prefix: uri for prefix, uri in (root.nsmap or {}).items() if prefix}
        for entry in log:
            error = self._convert_one(root, entry, nsmap)
            key = (error.code, error.pointer)
            if key not in seen:
                seen.add(key)
                errors.append(error)
        return errors

    def _convert_one(
        self, root: etree._Element, entry: etree._LogEntry, nsmap: dict[str, str]
    ) -> FunctionalError:
        element = _resolve(root, entry.path or "", nsmap)
        pointer = element_pointer(element, root) if element is not None else _normalise_path(entry.path, root)
        reason = entry.message.strip()
        if entry.type_name == "SCHEMAV_ELEMENT_CONTENT":
            if element is not None:
                return self._content_error(root, element, pointer, reason)
            code = MISSING if "Missing child" in reason else NOT_SUPPORTED_IN_POSITION
            return FunctionalError(code, pointer, reason)
        code = SCHEMA_ERROR_CODES.get(entry.type_name, INCORRECT_VALUE)
        attribute = _ATTRIBUTE_ERROR.match(reason) or _ATTRIBUTE_MISSING.search(reason)
        value: str | None = None
        if attribute is not None:
            qualified = attribute.group(1)
            pointer = f"{pointer}/@{qualified.rpartition('}')[2]}"
            if code in _VALUE_CODES and element is not None:
                value = element.get(qualified)
        elif code in _VALUE_CODES and element is not None:
            value = element.text if element.text is not None else ""
        return FunctionalError(code, pointer, reason, value)

    def _content_error(
        self, root: etree._Element, element: etree._Element, pointer: str, reason: str
    ) -> FunctionalError:
        """Classify SCHEMAV_ELEMENT_CONTENT: missing (13), repeated (35) or misplaced (15)."""
        expected = _expected_names(reason)
        if "Missing child element" in reason:
            missing = expected[-1] if expected else "?"
            return FunctionalError(MISSING, f"{pointer}/{missing}", reason)
        name = local_name(element)
        parent = element.getparent()
        previous = element.getprevious()
        while previous is not None and not isinstance(previous.tag, str):
            previous = previous.getprevious()
        known = parent is not None and name in self._legal_children.get(local_name(parent), ())
        if known and previous is not None and local_name(previous) == name and name not in expected:
            return FunctionalError(TOO_MANY_REPETITIONS, pointer, reason)
        if known and expected and parent is not None:
            present = {local_name(child) for child in parent}
            if not present.intersection(expected):
                parent_pointer = element_pointer(parent, root)
                return FunctionalError(MISSING, f"{parent_pointer}/{expected[-1]}", reason)
        return FunctionalError(NOT_SUPPORTED_IN_POSITION, pointer, reason)


def _local(qname: str | None) -> str:
    return (qname or "").rpartition(":")[2]


def _legal_children(documents: list[etree._ElementTree]) -> dict[str, frozenset[str]]:
    """Element name -> names of the child elements its declared type(s) allow, over all XSDs.

    Follows named complex types, xs:group references and xs:extension bases; an element name declared
    with several types gets the union (a tolerant answer only used to classify an error).
    """
    types: dict[str, etree._Element] = {}
    groups: dict[str, etree._Element] = {}
    for doc in documents:
        for node in doc.getroot():
            if node.tag == f"{_XS}complexType" and node.get("name"):
                types[str(node.get("name"))] = node
            elif node.tag == f"{_XS}group" and node.get("name"):
                groups[str(node.get("name"))] = node

    def content(node: etree._Element, seen: set[str]) -> set[str]:
        names: set[str] = set()
        for child in node:
            if not isinstance(child.tag, str):
                continue
            if child.tag == f"{_XS}element":
                names.add(child.get("name") or _local(child.get("ref")))
            elif child.tag == f"{_XS}group" and child.get("ref"):
                ref = _local(child.get("ref"))
                if ref in groups and f"g:{ref}" not in seen:
                    names |= content(groups[ref], seen | {f"g:{ref}"})
            elif child.tag == f"{_XS}extension" and child.get("base"):
                base = _local(child.get("base"))
                if base in types and f"t:{base}" not in seen:
                    names |= content(types[base], seen | {f"t:{base}"})
                names |= content(child, seen)
            elif child.tag != f"{_XS}complexType":  # sequence, choice, all, complexContent, ...
                names |= content(child, seen)
        return names

    legal: dict[str, set[str]] = {}
    for doc in documents:
        for element in doc.iter(f"{_XS}element"):
            name = element.get("name")
            if not name:
                continue
            inline = element.find(f"{_XS}complexType")
            type_name = _local(element.get("type"))
            if inline is not None:
                allowed = content(inline, set())
            elif type_name in types:
                allowed = content(types[type_name], {f"t:{type_name}"})
            else:
                continue
            legal.setdefault(str(name), set()).update(allowed)
    return {name: frozenset(children - {""}) for name, children in legal.items()}


def _expected_names(reason: str) -> list[str]:
    match = _EXPECTED.search(reason)
    if match is None:
        return []
    names = []
    for item in match.group(1).split(","):
        item = item.strip()
        if item and not item.startswith("##"):
            names.append(item.rpartition("}")[2])
    return names


def _resolve(root: etree._Element, path: str, nsmap: dict[str, str]) -> etree._Element | None:
    """The element a libxml2 error path names, or None if it cannot be found."""
    if not path:
        return None
    try:
        found = root.getroottree().xpath(path, namespaces=nsmap)
    except (etree.XPathError, TypeError):
        return None
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return found[0]
    return None


_PREFIX = re.compile(r"/(?:[A-Za-z_][\w.-]*:)")


def _normalise_path(path: str | None, root: etree._Element) -> str:
    """Fallback when the path cannot be resolved: strip prefixes, name the root by its local name."""
    if not path:
        return f"/{local_name(root)}"
    cleaned = _PREFIX.sub("/", path)
    steps = cleaned.split("/")
    if len(steps) > 1 and steps[1].startswith("*"):
        steps[1] = local_name(root)
    return "/".join(steps)


@dataclass(frozen=True, slots=True)
class FilingKeys:
    """The functional keys of a filing, read tolerantly (also from a schema-invalid payload)."""

    message_id: str
    lrn: str | None
    declarant: str | None
    representative: str | None
    specific_circumstance_indicator: str | None


def _child_text(root: etree._Element, path: str) -> str | None:
    element = root.find(path)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def filing_keys(root: etree._Element) -> FilingKeys:
    """LRN, declarant and representative identification and the SCI of a filing, where present.

    Used to correlate the one functional reply (ICD §4 "Validation errors": the IE3N99 carries the
    LRN "if it could be extracted").
    """
    return FilingKeys(
        message_id=local_name(root),
        lrn=_child_text(root, "LRN"),
        declarant=_child_text(root, "declarant/identificationNumber"),
        representative=_child_text(root, "representative/identificationNumber"),
        specific_circumstance_indicator=_child_text(root, "specificCircumstanceIndicator"),
    )


@lru_cache(maxsize=8)
def _cached_schema_set(directory: str | None) -> SchemaSet:
    return SchemaSet(directory)


def load_schema_set(directory: Path | str | None = None) -> SchemaSet:
    """The process-wide :class:`SchemaSet` of ``directory`` (ours if None), compiled on first use.

    Calling again with the same directory returns the same object: nothing is recompiled.
    """
    key = None if directory is None else str(Path(directory).resolve())
    if key == str(DEFAULT_SCHEMA_DIR):
        key = None
    return _cached_schema_set(key)


def default_schema_set() -> SchemaSet:
    """The process-wide :class:`SchemaSet` of our own XSDs."""
    return _cached_schema_set(None)
