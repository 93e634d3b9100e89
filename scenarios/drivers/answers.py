"""The responses of the driver contract ``icssim-driver/1``: what the system under test answers to each
action, and the reading of a transport's raw answer (docs/driver-contract.md, "Responses").

Responses are claims of the system under test; verdicts never rest on them alone (the simulator's journal
is what counts), so a response is checked for shape, never for truth."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scenarios.drivers.wire import (
    CONTRACT,
    ContractError,
    DriverError,
    JsonObject,
    base64_key,
    load_json,
    string_list,
    strip_absent,
)


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the SUT received from customs, as it reports it (``received``)."""

    action: str
    message_id: str
    ref_to_message_id: str | None = None
    mrn: str | None = None
    lrn: str | None = None
    payload: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = None if self.payload is None else base64.b64encode(self.payload).decode("ascii")
        return {"action": self.action, "message_id": self.message_id, "ref_to_message_id": self.ref_to_message_id,
                "mrn": self.mrn, "lrn": self.lrn, **strip_absent({"payload_b64": payload})}


@dataclass(frozen=True, kw_only=True)
class Response:
    """The SUT's answer: ``ok`` (it performed the action), the MessageId and LRN of what it sent, the
    ``error`` when it could not, the lists of ``received`` / ``sent``; keys beyond v1 stay in ``extra``."""

    ok: bool
    message_id: str | None = None
    lrn: str | None = None
    error: str | None = None
    unsupported: bool = False
    count: int | None = None
    messages: tuple[ReceivedMessage, ...] | None = None
    message_ids: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def response_to_json(response: Response) -> str:
    body = {"ok": response.ok, "message_id": response.message_id, "lrn": response.lrn, "error": response.error,
            "unsupported": response.unsupported or None, "count": response.count,
            "messages": None if response.messages is None else [m.to_dict() for m in response.messages],
            "message_ids": None if response.message_ids is None else list(response.message_ids)}
    return json.dumps({**response.extra, **strip_absent(body)}, ensure_ascii=False, separators=(",", ":"))


def response_from_json(action: str, raw: str | bytes | Mapping[str, Any]) -> Response:
    """Parse and validate the answer to ``action``; unknown keys are kept in ``extra`` (diagnostics)."""
    what = f"{action} response"
    obj = JsonObject(what, dict(raw) if isinstance(raw, Mapping) else load_json(what, raw))
    contract = obj.text("contract")
    if contract is not None and contract != CONTRACT:
        raise obj.error("contract", f"is {contract!r}; this is {CONTRACT}")
    ok = obj.get("ok", bool, "true or false", required=True)
    error = obj.text("error", required=not ok)
    count = obj.get("count", int, "a whole number")
    if count is not None and count < 0:
        raise obj.error("count", f"must not be negative, got {count}")
    messages = None
    if action == "received" and (ok or "messages" in obj.data):
        messages = tuple(_received(what, item, obj.child("messages", i))
                         for i, item in enumerate(obj.items("messages", required=ok)))
    message_ids = None
    if action == "sent" and (ok or "message_ids" in obj.data):
        message_ids = string_list(obj, "message_ids", required=ok)
    return Response(ok=ok, message_id=obj.text("message_id"), lrn=obj.text("lrn"), error=error,
                    unsupported=bool(obj.get("unsupported", bool, "true or false")), count=count,
                    messages=messages, message_ids=message_ids, extra=obj.rest())


def _received(what: str, value: Any, path: str) -> ReceivedMessage:
    obj = JsonObject(what, value, path)
    return ReceivedMessage(obj.text("action", required=True), obj.text("message_id", required=True),
                           obj.text("ref_to_message_id"), obj.text("mrn"), obj.text("lrn"),
                           base64_key(obj, "payload_b64", required=False))


def read_response(action: str, raw: bytes, *, stderr: str | None = None, status: int | None = None) -> Response:
    """A transport's raw answer as a :class:`Response`, or :class:`DriverError` naming what is wrong."""
    try:
        return response_from_json(action, raw)
    except ContractError as exc:
        raise DriverError(action, f"the answer breaks {CONTRACT}: {exc}", stderr=stderr, status=status,
                          body=raw.decode("utf-8", "replace")) from None


