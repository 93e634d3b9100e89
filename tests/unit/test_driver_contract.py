"""The driver contract icssim-driver/1 (docs/driver-contract.md, scenarios/drivers/contract.py) and the
``http`` driver against a real HTTP server on loopback.

Round trips of every request and response, validation errors that name the JSON path, the business-data
JSON Schema against every sample dataset, and HttpDriver: a 2xx JSON answer, an HTTP 500, a redirect, a
body that is not JSON, and a controller slower than the timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scenarios.drivers.contract import (
    CONTRACT,
    REQUEST_TYPES,
    Amend,
    AnswerInformation,
    AnswerScreening,
    ArrivalEntry,
    Arrive,
    Attachment,
    Consult,
    ContractError,
    Document,
    Driver,
    DriverError,
    File,
    Invalidate,
    ListReceived,
    ListSent,
    Poll,
    ReceivedMessage,
    Request,
    Reset,
    Response,
    request_from_json,
    request_to_json,
    response_from_json,
    response_to_json,
)
from scenarios.drivers.http import HttpDriver
from scenarios.filings.ics2 import ALL_FILING_IDS, MESSAGE_IDS, VARIANTS, sample_data

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "driver-contract-business-data.schema.json"
DATA = sample_data("IE3F32", lrn="BELRN00000001", eori="BE0123456789")
PDF = Attachment("scan-1@vendor.example", "application/pdf", b"%PDF-1.4 \x00\xff", "invoice")

REQUESTS: list[Request] = [
    Reset(), Reset(party="trader-b"),
    File(message_type="IE3F32", business_data=DATA, lrn="BELRN00000001", party="trader-a"),
    File(message_type="IE3F43", business_data={"declarant": {"name": "X"}}),
    Amend(message_type="IE3A32", mrn="26BE000000000000A1", business_data=DATA),
    Invalidate(mrn="26BE000000000000A1", reason="filed twice"),
    AnswerInformation(mrn="26BE000000000000A1", referral="RFI-1", text="see invoice", attachments=(PDF,)),
    AnswerScreening(mrn="26BE000000000000A1", referral="HRCM-1", master_document=Document("176-12345675", "N741"),
                    methods=("XRY", "ETD"), screened_at="2026-01-01T10:00:00Z"),
    Arrive(entries=(ArrivalEntry(mrn="26BE000000000000A1"), ArrivalEntry(document=Document("SPX1", "N740"))),
           mode="sea", office="BE101000"),
    Consult(house_document=Document("SPX4471200931", "N740"), notifications_requested=False),
    Poll(), ListReceived(party="trader-a"), ListSent(),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.action)
def test_every_request_survives_a_json_round_trip(request_: Request) -> None:
    text = request_to_json(request_)
    body = json.loads(text)
    assert (body["contract"], body["action"]) == (CONTRACT, request_.action)
    assert None not in body.values(), "absent optional keys are left out, not sent as null"
    assert request_from_json(text) == request_
    assert request_from_json(text.encode()) == request_


def test_request_json_shows_exactly_the_keys_asked() -> None:
    assert json.loads(request_to_json(Poll())) == {"contract": CONTRACT, "action": "poll"}
    body = json.loads(request_to_json(REQUESTS[6]))
    assert body["attachments"] == [{"content_id": "scan-1@vendor.example", "mime_type": "application/pdf",
                                    "content_b64": "JVBERi0xLjQgAP8=", "description": "invoice"}]
    assert set(REQUEST_TYPES) == {"reset", "file", "amend", "invalidate", "answer_information",
                                  "answer_screening", "arrive", "consult", "poll", "received", "sent"}


def test_python_business_values_get_the_json_form_of_the_messages() -> None:
    data = {"document_issue_date": datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))),
            "total_gross_mass": Decimal("12.50")}
    body = json.loads(request_to_json(File(message_type="IE3F32", business_data=data)))
    assert body["business_data"] == {"document_issue_date": "2026-03-01T07:30:00Z", "total_gross_mass": "12.50"}
    with pytest.raises(TypeError, match=r"set \{1\} has no JSON form"):
        request_to_json(File(message_type="IE3F32", business_data={"x": {1}}))


def _file(**changes: Any) -> dict[str, Any]:
    return {"contract": CONTRACT, "action": "file", "message_type": "IE3F32", "business_data": {}, **changes}


@pytest.mark.parametrize(("raw", "message"), [
    ("{not json", "request: $ is not JSON"),
    ([], "request: $ must be a JSON object, got an array"),
    ({"action": "poll"}, "request: $.contract is required"),
    ({"contract": "icssim-driver/2", "action": "poll"}, "$.contract is 'icssim-driver/2'; this is icssim-driver/1"),
    ({"contract": CONTRACT, "action": "fly"}, "request: $.action is 'fly', not one of reset, file"),
    ({"contract": CONTRACT, "action": "poll", "party": 5},
     "poll: $.party must be a non-empty string, got a number (5)"),
    ({"contract": CONTRACT, "action": "poll", "party": ""}, "poll: $.party must be a non-empty string"),
    (_file(business_data=None), "file: $.business_data is required"),
    (_file(business_data=[1]), "file: $.business_data must be a JSON object"),
    (_file(message_type="IE3A32"), "file: $.message_type must be an ENS filing IE3Fxx, got 'IE3A32'"),
    (_file(lrn="L1", business_data={"lrn": "L2"}), "file: $.business_data.lrn is 'L2', not the lrn 'L1'"),
    (_file(lrnn="L1"), "file: $.lrnn is not a key of file in icssim-driver/1"),
    ({"contract": CONTRACT, "action": "amend", "message_type": "IE3F32", "mrn": "M", "business_data": {}},
     "amend: $.message_type must be an amendment IE3Axx"),
    ({"contract": CONTRACT, "action": "arrive"}, "arrive: $.entries is required"),
    ({"contract": CONTRACT, "action": "arrive", "entries": [{"mrn": "M"}, {"mrn": "M", "document": {}}]},
     "arrive: $.entries[1] must be {\"mrn\": ...} or {\"document\": {number, type}}"),
    ({"contract": CONTRACT, "action": "arrive", "entries": [{"document": {"number": "1"}}]},
     "arrive: $.entries[0].document.type is required"),
    ({"contract": CONTRACT, "action": "consult", "mrn": "M", "master_document": {"number": "1", "type": "N741"}},
     "consult: $ names exactly one of mrn, master_document, house_document"),
    ({"contract": CONTRACT, "action": "consult", "house_document": {"number": "1", "type": "N740", "x": 1}},
     "consult: $.house_document.x is not a key of a document"),
    ({"contract": CONTRACT, "action": "consult", "mrn": "M", "notifications_requested": "yes"},
     "consult: $.notifications_requested must be true or false, got a string ('yes')"),
    ({"contract": CONTRACT, "action": "answer_screening", "mrn": "M", "referral": "R"},
     "answer_screening: $ names the screened consignment"),
    ({"contract": CONTRACT, "action": "answer_screening", "mrn": "M", "referral": "R",
      "house_document": {"number": "1", "type": "N740"}, "methods": ["XRY", ""]},
     "answer_screening: $.methods[1] must be a non-empty string"),
    ({"contract": CONTRACT, "action": "answer_information", "mrn": "M", "referral": "R",
      "attachments": [{"content_id": "c", "mime_type": "application/pdf", "content_b64": "%%%"}]},
     "answer_information: $.attachments[0].content_b64 is not valid base64"),
    ({"contract": CONTRACT, "action": "answer_information", "mrn": "M"}, "answer_information: $.referral is required"),
])
def test_invalid_requests_are_refused_naming_the_json_path(raw: Any, message: str) -> None:
    with pytest.raises(ContractError) as caught:
        request_from_json(raw if isinstance(raw, str) else json.dumps(raw))
    assert message in str(caught.value)


def test_responses_survive_a_json_round_trip_and_keep_unknown_keys() -> None:
    received = Response(ok=True, messages=(
        ReceivedMessage("IE3R01", "r1@customs", "f1@vendor", "26BE000000000000A1", "BELRN1", b"<IE3R01/>"),
        ReceivedMessage("IE3N10", "r2@customs")))
    assert response_from_json("received", response_to_json(received)) == received
    sent = Response(ok=True, message_ids=("a@v", "b@v"))
    assert response_from_json("sent", response_to_json(sent)) == sent
    filed = response_from_json("file", '{"ok": true, "message_id": "m@v", "lrn": "L1", "signal": "receipt"}')
    assert (filed.ok, filed.message_id, filed.lrn, dict(filed.extra)) == (True, "m@v", "L1", {"signal": "receipt"})
    assert json.loads(response_to_json(filed)) == {"ok": True, "message_id": "m@v", "lrn": "L1", "signal": "receipt"}
    empty = response_from_json("received", {"ok": True, "messages": []})
    assert empty.messages == ()
    refused = response_from_json("sent", {"ok": False, "unsupported": True, "error": "not offered"})
    assert (refused.ok, refused.unsupported, refused.message_ids) == (False, True, None)


@pytest.mark.parametrize(("action", "raw", "message"), [
    ("file", "", "file response: $ is not JSON"),
    ("file", {"message_id": "m"}, "file response: $.ok is required"),
    ("file", {"ok": "true"}, "file response: $.ok must be true or false, got a string ('true')"),
    ("file", {"ok": False}, "file response: $.error is required"),
    ("file", {"ok": True, "contract": "icssim-driver/9"}, "$.contract is 'icssim-driver/9'"),
    ("poll", {"ok": True, "count": -1}, "poll response: $.count must not be negative"),
    ("poll", {"ok": True, "count": True}, "poll response: $.count must be a whole number, got a boolean"),
    ("received", {"ok": True}, "received response: $.messages is required"),
    ("received", {"ok": True, "messages": [{"message_id": "m"}]},
     "received response: $.messages[0].action is required"),
    ("received", {"ok": True, "messages": [{"action": "IE3R01", "message_id": "m", "payload_b64": "@@"}]},
     "$.messages[0].payload_b64 is not valid base64"),
    ("sent", {"ok": True, "message_ids": ["a", 2]}, "sent response: $.message_ids[1] must be a non-empty string"),
])
def test_invalid_responses_are_refused_naming_the_json_path(action: str, raw: Any, message: str) -> None:
    with pytest.raises(ContractError) as caught:
        response_from_json(action, raw if isinstance(raw, str) else json.dumps(raw))
    assert message in str(caught.value)


class _Recorder(Driver):
    """A transport that only records: shows what request each action method builds."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def perform(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(ok=True)


def test_the_action_methods_build_the_requests_of_the_contract() -> None:
    driver = _Recorder()
    driver.file("IE3F32", DATA, lrn="BELRN00000001", party="trader-a")
    driver.amend("IE3A32", "26BE000000000000A1", DATA)
    driver.invalidate("26BE000000000000A1", reason="filed twice")
    driver.answer_information("26BE000000000000A1", "RFI-1", text="see invoice", attachments=[PDF])
    driver.arrive([ArrivalEntry(mrn="26BE000000000000A1"), ArrivalEntry(document=Document("SPX1", "N740"))],
                  mode="sea", office="BE101000")
    driver.consult(house_document=Document("SPX4471200931", "N740"), notifications_requested=False)
    driver.answer_screening("26BE000000000000A1", "HRCM-1", master_document=Document("176-12345675", "N741"),
                            methods=["XRY", "ETD"], screened_at="2026-01-01T10:00:00Z")
    driver.reset()
    driver.poll()
    driver.received(party="trader-a")
    driver.sent()
    expected = [REQUESTS[i] for i in (2, 4, 5, 6, 8, 9, 7, 0, 10, 11, 12)]
    assert driver.requests == expected


# -- the business-data schema ------------------------------------------------------------------------
def _schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> list[str]:
    """The subset of JSON Schema the file uses: $ref, type, properties, additionalProperties, items,
    required. Enough to show that every key of every sample dataset is declared with its type."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    python: dict[str, type | tuple[type, ...]] = {"object": dict, "array": list, "string": str, "integer": int,
                                                  "number": (int, float)}
    if kinds and (isinstance(value, bool) or not any(isinstance(value, python[k]) for k in kinds)):
        return [f"{path}: {type(value).__name__} is not {kinds}"]
    errors = [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
    if isinstance(value, dict):
        for key, item in value.items():
            if key in schema.get("properties", {}):
                errors += _schema_errors(item, schema["properties"][key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: not declared")
    if isinstance(value, list):
        for index, item in enumerate(value):
            errors += _schema_errors(item, schema["items"], root, f"{path}[{index}]")
    return errors


def _datasets() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ALL_FILING_IDS:
        yield kind, sample_data(kind, lrn="BELRN1", eori="BE0123456789")
        yield kind, sample_data(kind, lrn="BELRN1", eori="BE0123456789", houses=3, goods_per_house=2)
        yield kind, sample_data(kind, lrn="BELRN1", eori="BE0123456789", variant="representative-equals-declarant")
    for kind in MESSAGE_IDS:
        for variant in VARIANTS:
            try:
                yield f"{kind}/{variant}", sample_data(kind, lrn="BELRN1", eori="BE0123456789", variant=variant)
            except ValueError:
                continue  # a variant that does not apply to that message (IE3F44 has no goods)


def test_the_business_data_schema_declares_every_key_of_every_sample_dataset() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    checked = 0
    for name, data in _datasets():
        assert _schema_errors(json.loads(json.dumps(data)), schema, schema) == [], name
        checked += 1
    assert checked > 3 * len(ALL_FILING_IDS)
    wrong = json.loads(json.dumps(DATA))
    wrong["houses"][0]["goods_items"][0]["hs"] = "6109"
    wrong["houses"][0]["total_gross_mass"] = {"kg": 1}
    assert _schema_errors(wrong, schema, schema) == ["$.houses[0].total_gross_mass: dict is not ['string', 'number']",
                                                     "$.houses[0].goods_items[0].hs: not declared"]


# -- HttpDriver against a real HTTP server ------------------------------------------------------------
class _Controller(BaseHTTPRequestHandler):
    """/ok/<action> answers the contract, /fail 500, /slow too late, /moved a redirect, /text not JSON."""

    seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, dict(self.headers), body))
        if self.path.startswith("/slow"):
            time.sleep(2)
        if self.path.startswith("/ok") or self.path.startswith("/slow"):
            self._answer(200, json.dumps({"ok": True, "message_id": "m-1@vendor", "lrn": body.get("lrn")}))
        elif self.path.startswith("/fail"):
            self._answer(500, "kaputt: database locked")
        elif self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/ok/file")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(200, "<html>hello</html>")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def controller() -> Iterator[str]:
    _Controller.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Controller)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_driver_posts_the_request_to_base_url_slash_action(controller: str) -> None:
    driver = HttpDriver(controller + "/ok/", timeout=5, headers={"Authorization": "Bearer t0k3n"})
    answer = driver.file("IE3F32", DATA, lrn="BELRN00000001")
    assert (answer.ok, answer.message_id, answer.lrn) == (True, "m-1@vendor", "BELRN00000001")
    path, headers, body = _Controller.seen[-1]
    assert path == "/ok/file"
    assert (headers["Authorization"], headers["Content-Type"]) == ("Bearer t0k3n", "application/json")
    assert request_from_json(body) == File(message_type="IE3F32", business_data=DATA, lrn="BELRN00000001")


@pytest.mark.parametrize(("path", "status", "detail"), [
    ("/fail", 500, "answered HTTP 500"),
    ("/moved", 302, "answered HTTP 302"),
    ("/text", 200, "the answer breaks icssim-driver/1: poll response: $ is not JSON"),
])
def test_http_driver_reports_an_unusable_answer_with_status_and_body(controller: str, path: str, status: int,
                                                                     detail: str) -> None:
    with pytest.raises(DriverError) as caught:
        HttpDriver(controller + path, timeout=5).poll()
    error = caught.value
    assert (error.action, error.status) == ("poll", status)
    assert detail in str(error)
    if path != "/moved":
        assert error.body in ("kaputt: database locked", "<html>hello</html>")


def test_http_driver_gives_up_after_its_timeout(controller: str) -> None:
    started = time.monotonic()
    with pytest.raises(DriverError, match=r"reset: no answer from http://127\.0\.0\.1:\d+/slow/reset within 0\.5 s"):
        HttpDriver(controller + "/slow", timeout=0.5).reset()
    assert time.monotonic() - started < 1.9


def test_http_driver_reports_a_controller_that_is_not_there() -> None:
    with pytest.raises(DriverError, match="received: cannot reach the controller"):
        HttpDriver("http://127.0.0.1:9", timeout=2).received()
    with pytest.raises(ValueError, match="http or https"):
        HttpDriver("file:///etc/passwd", timeout=2)
