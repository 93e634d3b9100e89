"""The driver contract ``icssim-driver/1``: the actions the harness asks of a system under test.

docs/driver-contract.md is the normative text; its Python form is split by concern: the JSON layer and
the errors (scenarios/drivers/wire.py), the requests (actions.py), the responses (answers.py) and, here,
the :class:`Driver` protocol whose action methods build a request and hand it to ``perform``. A transport
(scenarios/drivers/command.py, http.py, manual.py) only implements ``perform``. Everything a driver or
an adapter needs is importable from this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from scenarios.drivers.actions import (
    ACTIONS,
    REQUEST_TYPES,
    Amend,
    AmendmentOffer,
    AnswerInformation,
    AnswerScreening,
    ArrivalEntry,
    Arrive,
    Attachment,
    Consult,
    Document,
    File,
    Invalidate,
    ListReceived,
    ListSent,
    Poll,
    Request,
    Reset,
    request_from_json,
    request_to_json,
)
from scenarios.drivers.answers import ReceivedMessage, Response, read_response, response_from_json, response_to_json
from scenarios.drivers.wire import CONTRACT, ContractError, DriverError

__all__ = ["ACTIONS", "CONTRACT", "REQUEST_TYPES", "Amend", "AmendmentOffer", "AnswerInformation", "AnswerScreening",
           "ArrivalEntry", "Arrive", "Attachment", "Consult", "ContractError", "Document", "Driver", "DriverError",
           "File", "Invalidate", "ListReceived", "ListSent", "Poll", "ReceivedMessage", "Request", "Reset", "Response",
           "read_response", "request_from_json", "request_to_json", "response_from_json", "response_to_json"]


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
                           attachments: Sequence[Attachment] = (), amendment: AmendmentOffer | None = None,
                           party: str | None = None) -> Response:
        return self.perform(AnswerInformation(mrn=mrn, referral=referral, text=text,
                                              attachments=tuple(attachments), amendment=amendment, party=party))

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

