"""The requests of the driver contract ``icssim-driver/1``: one frozen dataclass per action, their parts
(documents, attachments, arrival entries) and their JSON form, with validation errors that name the JSON
path (docs/driver-contract.md, "Requests")."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from scenarios.drivers.wire import (
    CONTRACT,
    ContractError,
    JsonObject,
    base64_key,
    load_json,
    string_list,
    strip_absent,
)

ACTIONS = ("reset", "file", "amend", "invalidate", "answer_information", "answer_screening", "arrive",
           "consult", "poll", "received", "sent")
_FILING = re.compile(r"IE3F\d\d")
_AMENDMENT = re.compile(r"IE3A\d\d")


# -- the parts of requests ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    """A transport document: number and CL754 type (N741 master air waybill, N740 house waybill...)."""

    number: str
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "type": self.type}


def _document(what: str, value: Any, path: str) -> Document:
    obj = JsonObject(what, value, path)
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
        return strip_absent({"content_id": self.content_id, "mime_type": self.mime_type,
                       "content_b64": base64.b64encode(self.content).decode("ascii"),
                       "description": self.description})



def _attachment(what: str, value: Any, path: str) -> Attachment:
    obj = JsonObject(what, value, path)
    attachment = Attachment(obj.text("content_id", required=True), obj.text("mime_type", required=True),
                            base64_key(obj, "content_b64", required=True) or b"", obj.text("description"))
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
    if isinstance(value, Document | Attachment | ArrivalEntry | AmendmentOffer):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value



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


@dataclass(frozen=True)
class AmendmentOffer:
    """The amendment (IE3Axx with its full new dataset) to send when an information request asks to be
    answered by amendment rather than by IE3R02 (ICD IE3Q02 responseMethod)."""

    message_type: str
    business_data: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check_type("answer_information", self.message_type, _AMENDMENT, "an amendment IE3Axx")

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": self.message_type, "business_data": dict(self.business_data)}


@dataclass(frozen=True, kw_only=True)
class AnswerInformation(Request):
    """Answer the information request ``referral`` the way it asks: IE3R02 with ``text`` and
    ``attachments``, or, when it asks for an amendment, the ``amendment`` (when the harness offers one)."""

    action: ClassVar[str] = "answer_information"
    mrn: str
    referral: str
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    amendment: AmendmentOffer | None = None


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
    return json.dumps(strip_absent({**head, **request.fields()}), ensure_ascii=False, separators=(",", ":"),
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
    obj = JsonObject("request", dict(raw) if isinstance(raw, Mapping) else load_json("request", raw))
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
    "answer_information": {"mrn": "str!", "referral": "str!", "text": "str", "attachments": "attachments",
                           "amendment": "amendment"},
    "answer_screening": {"mrn": "str!", "referral": "str!", "master_document": "doc", "house_document": "doc",
                         "methods": "strings", "result": "str", "screened_at": "str", "attachments": "attachments"},
    "arrive": {"entries": "entries!", "mode": "str", "office": "str", "arrived_at": "str"},
    "consult": {"mrn": "str", "master_document": "doc", "house_document": "doc", "notifications_requested": "bool"},
}


def _read_key(obj: JsonObject, key: str, kind: str) -> Any:
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
    if kind == "amendment":
        value = obj.get(key, dict, "an amendment object (message_type, business_data)")
        if value is None:
            return None
        offer = JsonObject(obj.what, value, obj.child(key))
        result = AmendmentOffer(offer.text("message_type", required=True),
                                offer.get("business_data", dict, "a JSON object", required=True))
        offer.close("an amendment (message_type, business_data)")
        return result
    if kind == "strings":
        if obj.data.get(key) is None:
            return None  # absent: the request's default applies
        return string_list(obj, key)
    if kind == "attachments":
        return tuple(_attachment(obj.what, item, obj.child(key, i)) for i, item in enumerate(obj.items(key)))
    # entries
    entries = []
    for index, item in enumerate(obj.items(key, required=required)):
        entry = JsonObject(obj.what, item, obj.child(key, index))
        mrn, document = entry.text("mrn"), entry.get("document", dict, "a document object")
        if entry.rest() or (mrn is None) == (document is None):
            raise ContractError(obj.what, entry.path, "must be {\"mrn\": ...} or {\"document\": {number, type}}")
        entries.append(ArrivalEntry(mrn, None if document is None else
                                    _document(obj.what, document, entry.path + ".document")))
    return tuple(entries)


