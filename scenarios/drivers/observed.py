"""The system under test as the step library sees it, whatever drives it.

Steps ask a :class:`SystemUnderTest` to act ("file this", "fetch what is waiting") and get back what the
simulator *observed*: a :class:`Sent` (the message as it reached customs, found in the journal, with the
answer customs gave it) and :class:`Received` items (customs messages the system fetched, each checked
against what the simulator really delivered). Two implementations exist:

- scenarios/drivers/reference_sut.py: the built-in reference client, which can also inject client faults
  (``reference`` is then the underlying :class:`~scenarios.drivers.reference.ReferenceDriver`);
- scenarios/drivers/contract_sut.py: any transport of the driver contract (command, http, manual), where
  the package is a black box and every verdict comes from the simulator's journal and outbox plus what the
  package reports it received (docs/driver-contract.md, "Observation, not trust").

Scenarios that need an injected client fault are tagged ``@reference-client``; the other drivers do not
run them (the report says why), and their steps reach the fault switches through :func:`needs_reference`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lxml import etree

from scenarios.pki import PkiFiles

if TYPE_CHECKING:
    from scenarios.client.ics2 import SendOutcome
    from scenarios.drivers.reference import ReferenceDriver

REFERENCE_CLIENT_TAG = "reference-client"
DocumentRef = tuple[str, str]  # (number, CL754 type)
Attachment = tuple[str, bytes, str]  # (Content-ID, octets, application/pdf | image/jpeg)


@dataclass(frozen=True)
class Sent:
    """One message the system under test sent, as customs saw it.

    ``receipt``: customs accepted it and answered with its signed receipt; ``problems``: what is wrong
    with the exchange (an ebMS error, a receipt that failed the client's checks, an LRN other than the one
    asked for), each in words for the report; ``outcome``: the reference client's own view, when it sent it;
    ``refused``: the package's reason when it declined to act (and, as customs saw, sent nothing).
    """

    action: str
    message_id: str
    lrn: str | None
    receipt: bool
    problems: tuple[str, ...] = ()
    summary: str = ""
    outcome: SendOutcome | None = None
    refused: str | None = None

    def describe(self) -> str:
        return self.summary or (f"{self.action} {self.message_id}: "
                                + ("receipted" if self.receipt else "not receipted") +
                                (f" ({'; '.join(self.problems)})" if self.problems else ""))


@dataclass(frozen=True)
class Received:
    """A customs message the system under test fetched; ``problems`` names what is wrong with it (for
    instance: the package reports it, but customs never counted it as delivered)."""

    action: str
    message_id: str
    ref_to_message_id: str | None
    payload: etree._Element
    problems: tuple[str, ...] = field(default=())

    def texts(self, local: str) -> list[str]:
        return [(el.text or "").strip() for el in self.payload.iter() if etree.QName(el).localname == local]

    def texts_under(self, parent: str, child: str) -> list[str]:
        """`child` texts of every `parent` element, e.g. the messageType of each ensFiling of an IE3R08."""
        return [(el.findtext(child) or "").strip() for el in self.payload.iter()
                if etree.QName(el).localname == parent]


class SystemUnderTest(Protocol):
    """What the steps ask of the package; each sending action returns the :class:`Sent` customs saw."""

    name: str  # the driver: reference | command | http | manual

    @property
    def pki(self) -> PkiFiles:
        """The test PKI whose trader identities the system under test acts as."""
        ...

    @property
    def reference(self) -> ReferenceDriver | None:
        """The reference client's fault switches (None through a contract driver)."""
        ...

    def eori(self, trader: str) -> str: ...

    def upcoming_lrn(self, trader: str) -> str:
        """The LRN the next filing of ``trader`` will carry (so that a scene can force its outcome)."""
        ...

    def next_lrn(self, trader: str) -> str: ...

    def reset(self) -> None: ...

    def file(self, trader: str, message_type: str, *, data: Mapping[str, Any] | None = None,
             defect: str | None = None) -> Sent:
        """File ``message_type`` with ``data`` (default: the sample dataset, with the named ``defect``)."""
        ...

    def amend(self, trader: str, filing_type: str, mrn: str) -> Sent: ...

    def invalidate(self, trader: str, mrn: str) -> Sent: ...

    def arrive(self, trader: str, mrns: Sequence[str]) -> Sent: ...

    def consult(self, trader: str, *, master_document: DocumentRef | None = None,
                house_document: DocumentRef | None = None) -> Sent: ...

    def answer_information(self, trader: str, mrn: str, referral: str, text: str,
                           attachments: Sequence[Attachment] = (), *, amend_as: str | None = None) -> Sent:
        """Answer the information request the way it asks: IE3R02, or an amendment of the filing type
        ``amend_as`` (offered with a sample dataset) when the request asks for one."""
        ...

    def answer_screening(self, trader: str, mrn: str, referral: str, master_document: DocumentRef) -> Sent: ...

    def fetch(self, trader: str) -> list[Received]:
        """Fetch once what is waiting (the reference client pulls one message; a package polls)."""
        ...

    def drain(self, trader: str) -> list[Received]:
        """Fetch until nothing is waiting."""
        ...

    def last_pull_error(self, trader: str) -> tuple[str, str] | None:
        """(ebMS code, severity) of the error signal that answered the latest pull, if one did."""
        ...

    def close(self) -> None: ...


def needs_reference(sut: SystemUnderTest) -> ReferenceDriver:
    """The reference client's fault switches; a scenario that uses them is tagged @reference-client."""
    if sut.reference is None:
        raise AssertionError(f"this step needs the reference client (it injects a client fault); the {sut.name} "
                             f"driver cannot run it: tag the scenario @{REFERENCE_CLIENT_TAG}")
    return sut.reference


def parse_payload(content: bytes) -> etree._Element:
    """A customs message payload, parsed without entities or network access."""
    return etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
