"""The driver contract ``icssim-driver/1``: the actions the harness asks of a system under test.

docs/driver-contract.md is the normative text; this module is its Python form: one frozen dataclass per
request, one :class:`Response`, their JSON (de)serialisation with validation errors that name the JSON
path (:class:`ContractError`), and the :class:`Driver` protocol whose action methods build a request and
hand it to ``perform``. A transport (scenarios/drivers/command.py, http.py) only implements ``perform``.

Responses are claims of the system under test; verdicts never rest on them alone (the simulator's
journal is what counts), so a response is checked for shape, never for truth.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol

CONTRACT = "icssim-driver/1"
ACTIONS = ("reset", "file", "amend", "invalidate", "answer_information", "answer_screening", "arrive",
           "consult", "poll", "received", "sent")
_FILING = re.compile(r"IE3F\d\d")
_AMENDMENT = re.compile(r"IE3A\d\d")


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


def _show(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__) + (
        f" ({value!r})" if isinstance(value, str | int | float | bool) else "")


class _Object:
    """Reads the keys of one JSON object, each once, with errors naming ``path.key``."""

    def __init__(self, what: str, value: Any, path: str = "$") -> None:
        if not isinstance(value, dict):
            raise ContractError(what, path, f"must be a JSON object, got {_show(value)}")
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
            raise self.error(key, f"must be {noun}, got {_show(value)}")
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


# -- the parts of requests ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    """A transport document: number and CL754 type (N741 master air waybill, N740 house waybill...)."""

    number: str
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "type": self.type}


def _document(what: str, value: Any, path: str) -> Document:
    obj = _Object(what, value, path)
    document = Document(obj.text("number", required=True), obj.text("type", required=True))
    obj.close("a document (number, type)")
    return document


@dataclass(frozen=True)
class Attachment:
    """A binary attachment (ICS2: application/pdf or image/jpeg), sent as its own MIME part."""

    content_id: str
    mime_type: str
    content: bytes
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _strip({"content_id": self.content_id, "mime_type": self.mime_type,
                       "content_b64": base64.b64encode(self.content).decode("ascii"),
                       "description": self.description})


def _b64(obj: _Object, key: str, *, required: bool) -> bytes | None:
    text = obj.text(key, required=required)
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise obj.error(key, "is not valid base64") from None


def _attachment(what: str, value: Any, path: str) -> Attachment:
    obj = _Object(what, value, path)
    attachment = Attachment(obj.text("content_id", required=True), obj.text("mime_type", required=True),
                            _b64(obj, "content_b64", required=True) or b"", obj.text("description"))
    obj.close("an attachment (content_id, mime_type, content_b64, description)")
    return attachment


@dataclass(frozen=True)
class ArrivalEntry:
    """One ENS filing that arrived, named by its MRN or by its transport document (exactly one)."""

    mrn: str | None = None
    document: Document | None = None

    def __post_init__(self) -> None:
        if (self.mrn is None) == (self.document is None):
            raise ContractError("arrival entry", "$", "names exactly one of mrn, document")

    def to_dict(self) -> dict[str, Any]:
        return {"mrn": self.mrn} if self.mrn is not None else {"document": self.document.to_dict()
                                                               if self.document else None}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Document | Attachment | ArrivalEntry):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _strip(values: Mapping[str, Any]) -> dict[str, Any]:
    """Leave out absent optional keys, so that the JSON shows only what was asked."""
    return {key: value for key, value in values.items() if value is not None}


# -- requests -------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Request:
    """What every request has: the action (class-level) and the party to act as (None: the SUT's own)."""

    action: ClassVar[str] = ""
    party: str | None = None

    def fields(self) -> dict[str, Any]:
        """The action's own keys as JSON values, in declaration order (absent ones as None)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "party"}


@dataclass(frozen=True, kw_only=True)
class Reset(Request):
    action: ClassVar[str] = "reset"


@dataclass(frozen=True, kw_only=True)
class File(Request):
    action: ClassVar[str] = "file"
    message_type: str
    business_data: Mapping[str, Any]
    lrn: str | None = None

    def __post_init__(self) -> None:
        _check_type(self.action, self.message_type, _FILING, "an ENS filing IE3Fxx")
        data_lrn = self.business_data.get("lrn")
        if self.lrn is not None and data_lrn is not None and data_lrn != self.lrn:
            raise ContractError(self.action, "$.business_data.lrn", f"is {data_lrn!r}, not the lrn {self.lrn!r}")


@dataclass(frozen=True, kw_only=True)
class Amend(Request):
    action: ClassVar[str] = "amend"
    message_type: str
    mrn: str
    business_data: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check_type(self.action, self.message_type, _AMENDMENT, "an amendment IE3Axx")


@dataclass(frozen=True, kw_only=True)
class Invalidate(Request):
    action: ClassVar[str] = "invalidate"
    mrn: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnswerInformation(Request):
    action: ClassVar[str] = "answer_information"
    mrn: str
    referral: str
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AnswerScreening(Request):
    action: ClassVar[str] = "answer_screening"
    mrn: str
    referral: str
    master_document: Document | None = None
    house_document: Document | None = None
    methods: tuple[str, ...] = ("XRY",)
    result: str = "Screened, no threat items detected"
    screened_at: str | None = None
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if self.master_document is None and self.house_document is None:
            raise ContractError(self.action, "$", "names the screened consignment: master_document and/or "
                                "house_document")
        if not self.methods:
            raise ContractError(self.action, "$.methods", "lists at least one screening method")


@dataclass(frozen=True, kw_only=True)
class Arrive(Request):
    action: ClassVar[str] = "arrive"
    entries: tuple[ArrivalEntry, ...]
    mode: str = "air"
    office: str | None = None
    arrived_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class Consult(Request):
    action: ClassVar[str] = "consult"
    mrn: str | None = None
    master_document: Document | None = None
    house_document: Document | None = None
    notifications_requested: bool | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.mrn, self.master_document, self.house_document)) != 1:
            raise ContractError(self.action, "$", "names exactly one of mrn, master_document, house_document")


@dataclass(frozen=True, kw_only=True)
class Poll(Request):
    action: ClassVar[str] = "poll"


@dataclass(frozen=True, kw_only=True)
class ListReceived(Request):
    action: ClassVar[str] = "received"


@dataclass(frozen=True, kw_only=True)
class ListSent(Request):
    action: ClassVar[str] = "sent"


REQUEST_TYPES: dict[str, type[Request]] = {cls.action: cls for cls in (
    Reset, File, Amend, Invalidate, AnswerInformation, AnswerScreening, Arrive, Consult, Poll, ListReceived,
    ListSent)}


def _check_type(action: str, message_type: str, pattern: re.Pattern[str], noun: str) -> None:
    if not pattern.fullmatch(message_type):
        raise ContractError(action, "$.message_type", f"must be {noun}, got {message_type!r}")


def request_to_json(request: Request) -> str:
    """The request as one line of JSON: contract, action, party (if any) and the action's own keys."""
    head = {"contract": CONTRACT, "action": request.action, "party": request.party}
    return json.dumps(_strip({**head, **request.fields()}), ensure_ascii=False, separators=(",", ":"),
                      default=_business_value)


def _business_value(value: Any) -> str:
    """Business data built in Python may hold what the filing builders accept but JSON does not: moments
    (written as the UTC YYYY-MM-DDThh:mm:ssZ of the messages) and decimal quantities (exact strings)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} {value!r} has no JSON form in {CONTRACT}")


def request_from_json(raw: str | bytes | Mapping[str, Any]) -> Request:
    """Parse and validate a request; unknown keys are refused (the harness sends only v1 keys)."""
    obj = _Object("request", dict(raw) if isinstance(raw, Mapping) else _load("request", raw))
    contract = obj.text("contract", required=True)
    if contract != CONTRACT:
        raise obj.error("contract", f"is {contract!r}; this is {CONTRACT}")
    action = obj.text("action", required=True)
    if action not in REQUEST_TYPES:
        raise obj.error("action", f"is {action!r}, not one of {', '.join(ACTIONS)}")
    obj.what = action
    args: dict[str, Any] = {"party": obj.text("party")}
    for key, kind in _KEYS.get(action, {}).items():
        args[key] = _read_key(obj, key, kind)
    obj.close(f"{action} in {CONTRACT}")
    return REQUEST_TYPES[action](**{key: value for key, value in args.items() if value is not None})


# key -> kind: "str!" required string, "str" optional string, "data!" business data, "doc" document, ...
_KEYS: dict[str, dict[str, str]] = {
    "file": {"message_type": "str!", "business_data": "data!", "lrn": "str"},
    "amend": {"message_type": "str!", "mrn": "str!", "business_data": "data!"},
    "invalidate": {"mrn": "str!", "reason": "str"},
    "answer_information": {"mrn": "str!", "referral": "str!", "text": "str", "attachments": "attachments"},
    "answer_screening": {"mrn": "str!", "referral": "str!", "master_document": "doc", "house_document": "doc",
                         "methods": "strings", "result": "str", "screened_at": "str", "attachments": "attachments"},
    "arrive": {"entries": "entries!", "mode": "str", "office": "str", "arrived_at": "str"},
    "consult": {"mrn": "str", "master_document": "doc", "house_document": "doc", "notifications_requested": "bool"},
}


def _read_key(obj: _Object, key: str, kind: str) -> Any:
    required = kind.endswith("!")
    kind = kind.rstrip("!")
    if kind == "str":
        return obj.text(key, required=required)
    if kind == "bool":
        return obj.get(key, bool, "true or false")
    if kind == "data":
        return obj.get(key, dict, "a JSON object (docs/driver-contract-business-data.schema.json)", required=True)
    if kind == "doc":
        value = obj.get(key, dict, "a document object")
        return None if value is None else _document(obj.what, value, obj.child(key))
    if kind == "strings":
        if obj.data.get(key) is None:
            return None  # absent: the request's default applies
        return _strings(obj, key)
    if kind == "attachments":
        return tuple(_attachment(obj.what, item, obj.child(key, i)) for i, item in enumerate(obj.items(key)))
    # entries
    entries = []
    for index, item in enumerate(obj.items(key, required=required)):
        entry = _Object(obj.what, item, obj.child(key, index))
        mrn, document = entry.text("mrn"), entry.get("document", dict, "a document object")
        if entry.rest() or (mrn is None) == (document is None):
            raise ContractError(obj.what, entry.path, "must be {\"mrn\": ...} or {\"document\": {number, type}}")
        entries.append(ArrivalEntry(mrn, None if document is None else
                                    _document(obj.what, document, entry.path + ".document")))
    return tuple(entries)


def _strings(obj: _Object, key: str, *, required: bool = False) -> tuple[str, ...]:
    values = tuple(obj.items(key, required=required))
    for index, item in enumerate(values):
        if not isinstance(item, str) or not item:
            raise ContractError(obj.what, obj.child(key, index), f"must be a non-empty string, got {_show(item)}")
    return values


def _load(what: str, raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(what, "$", f"is not JSON: {exc}") from None


# -- responses ------------------------------------------------------------------------------------------
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
                "mrn": self.mrn, "lrn": self.lrn, **_strip({"payload_b64": payload})}


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
    return json.dumps({**response.extra, **_strip(body)}, ensure_ascii=False, separators=(",", ":"))


def response_from_json(action: str, raw: str | bytes | Mapping[str, Any]) -> Response:
    """Parse and validate the answer to ``action``; unknown keys are kept in ``extra`` (diagnostics)."""
    what = f"{action} response"
    obj = _Object(what, dict(raw) if isinstance(raw, Mapping) else _load(what, raw))
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
        message_ids = _strings(obj, "message_ids", required=ok)
    return Response(ok=ok, message_id=obj.text("message_id"), lrn=obj.text("lrn"), error=error,
                    unsupported=bool(obj.get("unsupported", bool, "true or false")), count=count,
                    messages=messages, message_ids=message_ids, extra=obj.rest())


def _received(what: str, value: Any, path: str) -> ReceivedMessage:
    obj = _Object(what, value, path)
    return ReceivedMessage(obj.text("action", required=True), obj.text("message_id", required=True),
                           obj.text("ref_to_message_id"), obj.text("mrn"), obj.text("lrn"),
                           _b64(obj, "payload_b64", required=False))


def read_response(action: str, raw: bytes, *, stderr: str | None = None, status: int | None = None) -> Response:
    """A transport's raw answer as a :class:`Response`, or :class:`DriverError` naming what is wrong."""
    try:
        return response_from_json(action, raw)
    except ContractError as exc:
        raise DriverError(action, f"the answer breaks {CONTRACT}: {exc}", stderr=stderr, status=status,
                          body=raw.decode("utf-8", "replace")) from None


# -- the driver protocol --------------------------------------------------------------------------------
class Driver(Protocol):
    """How the harness asks a system under test to act. A transport implements :meth:`perform`; the action
    methods (one per action of docs/driver-contract.md) build the request and return the SUT's answer."""

    def perform(self, request: Request) -> Response:
        """Send one request; raise :class:`DriverError` when no contract answer comes back."""
        ...

    def reset(self, *, party: str | None = None) -> Response:
        return self.perform(Reset(party=party))

    def file(self, message_type: str, business_data: Mapping[str, Any], *, lrn: str | None = None,
             party: str | None = None) -> Response:
        return self.perform(File(message_type=message_type, business_data=business_data, lrn=lrn, party=party))

    def amend(self, message_type: str, mrn: str, business_data: Mapping[str, Any], *,
              party: str | None = None) -> Response:
        return self.perform(Amend(message_type=message_type, mrn=mrn, business_data=business_data, party=party))

    def invalidate(self, mrn: str, *, reason: str | None = None, party: str | None = None) -> Response:
        return self.perform(Invalidate(mrn=mrn, reason=reason, party=party))

    def answer_information(self, mrn: str, referral: str, *, text: str | None = None,
                           attachments: Sequence[Attachment] = (), party: str | None = None) -> Response:
        return self.perform(AnswerInformation(mrn=mrn, referral=referral, text=text,
                                              attachments=tuple(attachments), party=party))

    def answer_screening(self, mrn: str, referral: str, *, master_document: Document | None = None,
                         house_document: Document | None = None, methods: Sequence[str] = ("XRY",),
                         result: str = "Screened, no threat items detected", screened_at: str | None = None,
                         attachments: Sequence[Attachment] = (), party: str | None = None) -> Response:
        return self.perform(AnswerScreening(
            mrn=mrn, referral=referral, master_document=master_document, house_document=house_document,
            methods=tuple(methods), result=result, screened_at=screened_at, attachments=tuple(attachments),
            party=party))

    def arrive(self, entries: Sequence[ArrivalEntry], *, mode: str = "air", office: str | None = None,
               arrived_at: str | None = None, party: str | None = None) -> Response:
        return self.perform(Arrive(entries=tuple(entries), mode=mode, office=office, arrived_at=arrived_at,
                                   party=party))

    def consult(self, *, mrn: str | None = None, master_document: Document | None = None,
                house_document: Document | None = None, notifications_requested: bool | None = None,
                party: str | None = None) -> Response:
        return self.perform(Consult(mrn=mrn, master_document=master_document, house_document=house_document,
                                    notifications_requested=notifications_requested, party=party))

    def poll(self, *, party: str | None = None) -> Response:
        return self.perform(Poll(party=party))

    def received(self, *, party: str | None = None) -> Response:
        return self.perform(ListReceived(party=party))

    def sent(self, *, party: str | None = None) -> Response:
        return self.perform(ListSent(party=party))
