"""The reference driver: the built-in reference client plays the system under test.

A driver turns the harness's requests ("file this consignment", "pull your replies") into actions of
the system under test. This one needs no vendor package: it uses scenarios.client with the trader
identities of the test PKI. Faults can be switched on per trader to rehearse failure paths, and a named
faulty variant (scenarios/client/variants.py) for every client: the one ICSSIM_CLIENT_VARIANT names, so
that `python -m scenarios.mutants` can show the suite catches it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from scenarios.client.ics2 import ClientFaults, Ics2Client, PullOutcome, SendOutcome, TraderIdentity
from scenarios.client.variants import ENV_VARIABLE, Variant, lookup
from scenarios.filings.ics2 import (
    ALL_FILING_IDS,
    FilingMessageId,
    build_amendment,
    build_filing,
    build_invalidation,
    sample_data,
)
from scenarios.filings.ics2_messages import (
    DEFAULT_ISSUED,
    build_arrival,
    build_consultation,
    build_rfi_answer,
    build_screening_answer,
)
from scenarios.filings.ics2_samples import carriage
from scenarios.pki import PkiFiles
from simulator.codecs.as4 import constants as as4c

# domain/ics2.md "AS4 profile": AgreementRef EU-ICS2-TI-V1.0 carries the Release 1 messages only; the
# others need EU-ICS2-TI-V2.0 (R2/R3). Release 1 messages keep the client's own interface version.
RELEASE1_ACTIONS = frozenset({"IE3F32", "IE3F43", "IE3F44", "IE3A32", "IE3A43", "IE3A44", "IE3Q04", "IE3R02",
                              "IE3R03"})
DocumentRef = tuple[str, str] | Mapping[str, Any]


class RefusedByPackage(ValueError):
    """The package will not do what it was asked, for a business reason (e.g. a Do Not Load in force)."""


@dataclass
class ReferenceDriver:
    trader_url: str
    pki: PkiFiles
    _clients: dict[str, Ics2Client] = field(default_factory=dict)
    _faults: dict[str, ClientFaults] = field(default_factory=dict)
    _lrn_counter: int = 0
    # the faulty variant every client runs as; by default the one ICSSIM_CLIENT_VARIANT names (unknown: error)
    variant: Variant | None = field(default_factory=lambda: _variant_from(os.environ))

    def identity(self, trader: str) -> TraderIdentity:
        files = self.pki.trader(trader)
        return TraderIdentity.from_files(
            files.eori, sealing_key=files.sealing_key, sealing_chain=files.sealing_chain,
            tls_cert=files.tls_cert, tls_key=files.tls_key)

    def set_faults(self, trader: str, faults: ClientFaults) -> None:
        self._faults[trader] = faults
        old = self._clients.pop(trader, None)
        if old is not None:
            old.close()

    def client(self, trader: str) -> Ics2Client:
        if trader not in self._clients:
            faults = self._faults.get(trader) or ClientFaults()
            if self.variant is not None:  # a fresh set per client: a variant's memory is per trader
                faults = faults.merged(self.variant.make())
            self._clients[trader] = Ics2Client(self.trader_url, self.identity(trader), self.pki.trust_bundle,
                                               faults=faults)
        return self._clients[trader]

    def upcoming_lrn(self, trader: str) -> str:
        """The LRN the next filing of `trader` will carry (a scene can force outcomes for it beforehand)."""
        return f"{self.pki.trader(trader).eori[:2]}LRN{self._lrn_counter + 1:08d}"

    def next_lrn(self, trader: str) -> str:
        self._lrn_counter += 1
        return f"{self.pki.trader(trader).eori[:2]}LRN{self._lrn_counter:08d}"

    def file(self, trader: str, message_type: str, *, variant: str | None = None) -> tuple[str, SendOutcome]:
        """Build a filing from sample business data and send it; returns (LRN, outcome)."""
        lrn = self.next_lrn(trader)
        kind = cast(FilingMessageId, message_type)
        data = sample_data(kind, lrn=lrn, eori=self.pki.trader(trader).eori, variant=variant)
        payload = build_filing(kind, data)
        return lrn, self.file_payload(trader, message_type, payload)

    def amend(self, trader: str, filing_type: str, mrn: str) -> tuple[str, SendOutcome]:
        """Send the full new dataset of the filing as its amendment IE3Axx referring to `mrn`."""
        lrn = self.next_lrn(trader)
        kind = cast(FilingMessageId, filing_type)
        data = sample_data(kind, lrn=lrn, eori=self.pki.trader(trader).eori)
        return lrn, self.file_payload(trader, "IE3A" + filing_type[4:], build_amendment(kind, data, mrn=mrn))

    def invalidate(self, trader: str, mrn: str) -> SendOutcome:
        """Ask for the invalidation of the ENS `mrn` (IE3Q04)."""
        eori = self.pki.trader(trader).eori
        return self.client(trader).send("IE3Q04", build_invalidation(mrn=mrn, sender=eori, declarant=eori))

    # -- every trader message (Releases 1-3) ---------------------------------------------------------
    def file_payload(self, trader: str, message_type: str, payload: bytes, *,
                     attachments: Sequence[tuple[str, bytes, str]] = ()) -> SendOutcome:
        """Send a prebuilt payload as ``message_type`` (AS4 Action) under the interface version that
        carries it; ``attachments`` are (Content-ID, octets, application/pdf | image/jpeg) parts."""
        client = self.client(trader)
        previous = client.agreement
        if message_type not in RELEASE1_ACTIONS:
            client.agreement = as4c.AGREEMENT_V2
        try:
            return client.send(message_type, payload, attachments=attachments)
        finally:
            client.agreement = previous

    def file_data(self, trader: str, message_type: str, data: Mapping[str, Any]) -> tuple[str, SendOutcome]:
        """Build the filing ``message_type`` (any IE3Fxx) from business data and send it; (LRN, outcome)."""
        if message_type not in ALL_FILING_IDS:
            raise ValueError(f"{message_type!r} is not an ENS filing; amendments go through amend_type")
        payload = build_filing(message_type, data)
        return str(data.get("lrn")), self.file_payload(trader, message_type, payload)

    def amend_type(self, trader: str, filing_type: str, mrn: str, *, data: Mapping[str, Any] | None = None,
                   houses: int | None = None, goods_per_house: int | None = None,
                   master_document: str | None = None) -> tuple[str, SendOutcome]:
        """Amend the ENS ``mrn`` of any filing type (IE3Axx, no IE3A25) with ``data`` or a sample dataset
        of that shape under a new LRN; returns (LRN, outcome)."""
        kind = cast(FilingMessageId, filing_type)
        if data is None:
            data = sample_data(kind, lrn=self.next_lrn(trader), eori=self.pki.trader(trader).eori, houses=houses,
                               goods_per_house=goods_per_house, master_document=master_document)
        payload = build_amendment(kind, data, mrn=mrn)
        return str(data.get("lrn")), self.file_payload(trader, "IE3A" + filing_type[4:], payload)

    def arrive(self, trader: str, entries: Sequence[str | Mapping[str, Any]], *, mode: str = "air",
               means: Mapping[str, Any] | None = None, office: str | None = None,
               arrived_at: datetime | str | None = None) -> tuple[str, SendOutcome]:
        """IE3N06: ``trader`` (the carrier) notifies the arrival of the ENS filings ``entries`` (MRNs, or
        ``{"mrn"}`` / ``{"document": (number, type)}``); means, office and time default to the sample
        carriage of ``mode``. Returns (LRN of the notification, outcome)."""
        client = self.client(trader)
        held = sorted(client.business.do_not_load & {e for e in entries if isinstance(e, str)})
        if held and not client.faults.ignore_do_not_load:
            # domain/ics2.md "Messages": IE3Q01 Do Not Load; the consignment is held until its ENS is amended
            raise RefusedByPackage(f"Do Not Load in force for {', '.join(held)}: the arrival is not notified")
        sample = carriage(mode)
        first_entry = sample["customs_office_of_first_entry"]
        lrn = self.next_lrn(trader)
        eori = self.pki.trader(trader).eori
        payload = build_arrival(
            lrn, eori, eori, means or sample["active_border_transport_means"],
            office or first_entry["reference_number"], arrived_at or first_entry["expected_arrival"],
            [{"mrn": entry} if isinstance(entry, str) else entry for entry in entries])
        return lrn, self.file_payload(trader, "IE3N06", payload)

    def consult(self, trader: str, *, mrn: str | None = None, master_document: DocumentRef | None = None,
                house_document: DocumentRef | None = None, notifications_requested: bool | None = None,
                issued: datetime | str | None = None) -> SendOutcome:
        """IE3Q05 consultation of the trader's own ENS data by MRN, master or house transport document."""
        payload = build_consultation(self.pki.trader(trader).eori, issued or DEFAULT_ISSUED, mrn=mrn,
                                     master_document=master_document, house_document=house_document,
                                     notifications_requested=notifications_requested)
        return self.file_payload(trader, "IE3Q05", payload)

    def answer_as_asked(self, trader: str, mrn: str, referral: str, text: str | None,
                        attachments: Sequence[tuple[str, bytes, str]] = (), *, amend_as: str | None = None
                        ) -> tuple[str, SendOutcome]:
        """Answer the information request ``referral`` the way it asks (IE3Q02 responseMethod, as the
        client remembers it): by an amendment of the filing type ``amend_as`` when it asks for one and one
        is offered, else by IE3R02 (:meth:`answer_rfi`). Returns (the action sent, outcome)."""
        client = self.client(trader)
        asks_amendment = client.business.information_requests.get(referral) == "2"
        if asks_amendment and amend_as is not None and not client.faults.answer_rfi_by_r02_only:
            return "IE3A" + amend_as[4:], self.amend(trader, amend_as, mrn)[1]
        return "IE3R02", self.answer_rfi(trader, mrn, referral, text, attachments)

    def answer_rfi(self, trader: str, mrn: str, referral: str, text: str | None,
                   attachments: Sequence[tuple[str, bytes, str]] = ()) -> SendOutcome:
        """IE3R02: answer request item 1 of the information request ``referral`` with ``text`` and the
        (Content-ID, octets, MIME type) ``attachments``, each sent as its own signed MIME part."""
        response = {"text": text, "attachments": [(cid, mime_type) for cid, _, mime_type in attachments]}
        payload = build_rfi_answer(self.pki.trader(trader).eori, mrn, referral, [response])
        return self.file_payload(trader, "IE3R02", payload, attachments=attachments)

    def answer_screening(self, trader: str, mrn: str, referral: str, *,
                         screenings: Sequence[Mapping[str, Any]] | None = None,
                         master_document: DocumentRef | None = None, house_document: DocumentRef | None = None,
                         methods: Sequence[str] = ("XRY",), result: str = "Screened, no threat items detected",
                         screened_at: datetime | str = DEFAULT_ISSUED,
                         attachments: Sequence[tuple[str, bytes, str]] = ()) -> SendOutcome:
        """IE3R03: report the HRCM screening asked for by ``referral``; either ``screenings`` in full, or
        one screening of the consignment ``master_document`` / ``house_document``."""
        if screenings is None:
            screenings = [{"master_document": master_document, "house_document": house_document,
                           "methods": list(methods), "screened_at": screened_at, "result": result,
                           "attachments": [(cid, mime_type) for cid, _, mime_type in attachments]}]
        payload = build_screening_answer(self.pki.trader(trader).eori, mrn, referral, screenings)
        return self.file_payload(trader, "IE3R03", payload, attachments=attachments)

    def resend_last(self, trader: str) -> SendOutcome:
        return self.client(trader).resend_last()

    def pull(self, trader: str) -> PullOutcome:
        return self.client(trader).pull()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _variant_from(environ: Mapping[str, str]) -> Variant | None:
    name = environ.get(ENV_VARIABLE, "").strip()
    return lookup(name) if name else None
