"""The JSON layer of the driver contract ``icssim-driver/1`` (docs/driver-contract.md): the two error
types and a reader of JSON objects whose errors name the JSON path, shared by requests and responses."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

CONTRACT = "icssim-driver/1"


class ContractError(ValueError):
    """A request or response that breaks the contract; ``where`` is a JSON path such as ``$.entries[1]``."""

    def __init__(self, what: str, where: str, problem: str) -> None:
        super().__init__(f"{what}: {where} {problem}")
        self.what, self.where, self.problem = what, where, problem


class DriverError(RuntimeError):
    """The system under test did not answer ``action`` as the contract asks (no answer in time, a non-zero
    exit, an HTTP error, an answer that is not contract JSON). ``stderr``, ``status`` and ``body`` keep
    what it did produce, as evidence."""

    def __init__(self, action: str, detail: str, *, stderr: str | None = None, status: int | None = None,
                 body: str | None = None) -> None:
        super().__init__(f"{action}: {detail}" + (f"\n--- stderr ---\n{stderr.rstrip()}" if stderr else ""))
        self.action, self.detail, self.stderr, self.status, self.body = action, detail, stderr, status, body


def show(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__) + (
        f" ({value!r})" if isinstance(value, str | int | float | bool) else "")


class JsonObject:
    """Reads the keys of one JSON object, each once, with errors naming ``path.key``."""

    def __init__(self, what: str, value: Any, path: str = "$") -> None:
        if not isinstance(value, dict):
            raise ContractError(what, path, f"must be a JSON object, got {show(value)}")
        self.what, self.data, self.path, self.seen = what, value, path, set[str]()

    def error(self, key: str, problem: str) -> ContractError:
        return ContractError(self.what, f"{self.path}.{key}", problem)

    def get(self, key: str, kind: type | tuple[type, ...], noun: str, *, required: bool = False) -> Any:
        self.seen.add(key)
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)) or value == "":
            raise self.error(key, f"must be {noun}, got {show(value)}")
        return value

    def text(self, key: str, *, required: bool = False) -> Any:
        return self.get(key, str, "a non-empty string", required=required)

    def items(self, key: str, *, required: bool = False) -> list[Any]:
        return list(self.get(key, list, "an array", required=required) or [])

    def child(self, key: str, index: int | None = None) -> str:
        return f"{self.path}.{key}" + ("" if index is None else f"[{index}]")

    def rest(self) -> dict[str, Any]:
        return {key: value for key, value in self.data.items() if key not in self.seen}

    def close(self, noun: str) -> None:
        """Refuse keys nobody read: a misspelt optional key must not pass silently."""
        unknown = sorted(self.rest())
        if unknown:
            raise self.error(unknown[0], f"is not a key of {noun}")



def base64_key(obj: JsonObject, key: str, *, required: bool) -> bytes | None:
    text = obj.text(key, required=required)
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise obj.error(key, "is not valid base64") from None



def strip_absent(values: Mapping[str, Any]) -> dict[str, Any]:
    """Leave out absent optional keys, so that the JSON shows only what was asked."""
    return {key: value for key, value in values.items() if value is not None}



def string_list(obj: JsonObject, key: str, *, required: bool = False) -> tuple[str, ...]:
    values = tuple(obj.items(key, required=required))
    for index, item in enumerate(values):
        if not isinstance(item, str) or not item:
            raise ContractError(obj.what, obj.child(key, index), f"must be a non-empty string, got {show(item)}")
    return values



def load_json(what: str, raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(what, "$", f"is not JSON: {exc}") from None

