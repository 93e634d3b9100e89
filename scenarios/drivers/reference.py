"""The reference driver: the built-in reference client plays the system under test.

A driver turns the harness's requests ("file this consignment", "pull your replies") into actions of
the system under test. This one needs no vendor package: it uses scenarios.client with the trader
identities of the test PKI. Faults can be switched on per trader to rehearse failure paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from scenarios.client.ics2 import ClientFaults, Ics2Client, PullOutcome, SendOutcome, TraderIdentity
from scenarios.filings.ics2 import (
    FilingMessageId,
    build_amendment,
    build_filing,
    build_invalidation,
    sample_data,
)
from scenarios.pki import PkiFiles


@dataclass
class ReferenceDriver:
    trader_url: str
    pki: PkiFiles
    _clients: dict[str, Ics2Client] = field(default_factory=dict)
    _faults: dict[str, ClientFaults] = field(default_factory=dict)
    _lrn_counter: int = 0

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
            self._clients[trader] = Ics2Client(self.trader_url, self.identity(trader), self.pki.trust_bundle,
                                               faults=self._faults.get(trader))
        return self._clients[trader]

    def next_lrn(self, trader: str) -> str:
        self._lrn_counter += 1
        return f"{self.pki.trader(trader).eori[:2]}LRN{self._lrn_counter:08d}"

    def file(self, trader: str, message_type: str, *, variant: str | None = None) -> tuple[str, SendOutcome]:
        """Build a filing from sample business data and send it; returns (LRN, outcome)."""
        lrn = self.next_lrn(trader)
        kind = cast(FilingMessageId, message_type)
        data = sample_data(kind, lrn=lrn, eori=self.pki.trader(trader).eori, variant=variant)
        payload = build_filing(kind, data)
        return lrn, self.client(trader).send(message_type, payload)

    def amend(self, trader: str, filing_type: str, mrn: str) -> tuple[str, SendOutcome]:
        """Send the full new dataset of the filing as its amendment IE3Axx referring to `mrn`."""
        lrn = self.next_lrn(trader)
        kind = cast(FilingMessageId, filing_type)
        data = sample_data(kind, lrn=lrn, eori=self.pki.trader(trader).eori)
        return lrn, self.client(trader).send("IE3A" + filing_type[4:], build_amendment(kind, data, mrn=mrn))

    def invalidate(self, trader: str, mrn: str) -> SendOutcome:
        """Ask for the invalidation of the ENS `mrn` (IE3Q04)."""
        eori = self.pki.trader(trader).eori
        return self.client(trader).send("IE3Q04", build_invalidation(mrn=mrn, sender=eori, declarant=eori))

    def resend_last(self, trader: str) -> SendOutcome:
        return self.client(trader).resend_last()

    def pull(self, trader: str) -> PullOutcome:
        return self.client(trader).pull()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
