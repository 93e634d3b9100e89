"""Integration fixtures: one real simulator for the whole session, on loopback.

`icssim serve` runs as a child process (scenarios.runner.LocalSimulator): real gunicorn, real TLS with
required client certificates, SQLite in WAL mode. The test PKI is generated once per session. Tests set
the scene and observe only through the control API (SimControl) and the trader's own connections, like
the conformance harness does (DESIGN.md, "Real parts": no mocks of our own parts in integration tests).

Besides the fixtures, this module holds the message helpers the test modules import from it
(`tests.integration.conftest`), so that the integration suite stays within conftest + test files.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from certs.pki import TestPki, init_test_pki
from load.presign import SignedFiling
from scenarios.client.ics2 import ENDPOINT_PATH, Ics2Client, TraderIdentity
from scenarios.client.transport import HttpResponse, MutualTlsTransport, client_tls_context
from scenarios.filings.ics2 import FilingMessageId, build_filing, sample_data
from scenarios.pki import PkiFiles
from scenarios.runner import LocalSimulator, register_parties
from scenarios.simctl import SimControl
from simulator.codecs.as4 import constants as as4c
from simulator.codecs.as4.message import unpack
from simulator.codecs.as4.model import ErrorEntry, InboundMessage, PartyRef, UserMessage
from simulator.codecs.as4.receipts import check_receipt_matches


def registered_traders(pki: PkiFiles) -> tuple[str, ...]:
    """trader-a, trader-b and every condition trader except `unregistered` (which exists to be refused)."""
    return tuple(name for name, files in pki.traders.items() if files.condition != "unregistered")


@dataclass
class SimHandle:
    """A running simulator as the tests see it: its process, control API and the test PKI."""

    local: LocalSimulator
    control: SimControl
    pki: PkiFiles
    _transports: list[MutualTlsTransport] = field(default_factory=list)
    _clients: list[Ics2Client] = field(default_factory=list)

    # -- configuration ---------------------------------------------------------------------------
    def run_config(self) -> dict[str, Any]:
        """The configuration the servers really run with (written by `icssim serve` at start)."""
        return dict(json.loads((self.local.var_dir / "run-config.json").read_text(encoding="utf-8")))

    # -- trader side -----------------------------------------------------------------------------
    def identity(self, name: str, *, tls_of: str | None = None) -> TraderIdentity:
        """The sealing identity of trader `name`; `tls_of` presents another trader's TLS certificate."""
        files = self.pki.trader(name)
        tls = self.pki.trader(tls_of or name)
        return TraderIdentity.from_files(files.eori, sealing_key=files.sealing_key,
                                         sealing_chain=files.sealing_chain, tls_cert=tls.tls_cert,
                                         tls_key=tls.tls_key)

    def client(self, name: str = "trader-a", **kwargs: Any) -> Ics2Client:
        identity = kwargs.pop("identity", None) or self.identity(name)
        client = Ics2Client(self.local.trader_url, identity, self.pki.trust_bundle, **kwargs)
        self._clients.append(client)
        return client

    def transport(self, name: str = "trader-a", *, path: str = ENDPOINT_PATH) -> MutualTlsTransport:
        """A raw mutual-TLS connection to the trader listener with `name`'s TLS client certificate."""
        files = self.pki.trader(name)
        context = client_tls_context(self.pki.trust_bundle, files.tls_cert, files.tls_key)
        transport = MutualTlsTransport(self.local.trader_url + path, context)
        self._transports.append(transport)
        return transport

    def post(self, content_type: str, body: bytes, *, name: str = "trader-a") -> HttpResponse:
        return self.transport(name).post(content_type, body)

    def close_connections(self) -> None:
        for client in self._clients:
            client.close()
        for transport in self._transports:
            transport.close()
        self._clients.clear()
        self._transports.clear()


def start_simulator(var_dir: Path, pki: PkiFiles, *, extra_args: tuple[str, ...] = ()) -> SimHandle:
    """`icssim serve` on free loopback ports with the sample traders registered."""
    local = LocalSimulator(var_dir, pki.directory, extra_args=extra_args)
    control = local.start(timeout=90)
    try:
        register_parties(control, pki, registered_traders(pki))
    except BaseException:
        local.stop()
        raise
    return SimHandle(local, control, pki)


# -- session fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("icssim-pki") / "pki")


@pytest.fixture(scope="session")
def pki(test_pki: TestPki) -> PkiFiles:
    return PkiFiles.load(test_pki.directory)


@pytest.fixture(scope="session")
def shared_sim(tmp_path_factory: pytest.TempPathFactory, pki: PkiFiles) -> Iterator[SimHandle]:
    """ONE simulator for the session, with the sample traders registered."""
    handle = start_simulator(tmp_path_factory.mktemp("icssim-var"), pki)
    try:
        yield handle
    finally:
        handle.close_connections()
        handle.local.stop()


@pytest.fixture
def sim(shared_sim: SimHandle) -> Iterator[SimHandle]:
    """The shared simulator with a fresh scene (journal, outbox, ENS wiped; the party registry kept)."""
    shared_sim.control.reset()
    try:
        yield shared_sim
    finally:
        shared_sim.close_connections()


@pytest.fixture
def control(sim: SimHandle) -> SimControl:
    return sim.control


# -- message helpers --------------------------------------------------------------------------------
def new_message_id(host: str = "it.icssim.test") -> str:
    return f"{uuid.uuid4()}@{host}"


def filing_payload(eori: str, *, message_type: FilingMessageId = "IE3F32", lrn: str | None = None) -> bytes:
    """A valid R1 filing whose declarant and sender is `eori`."""
    lrn = lrn or f"IT{uuid.uuid4().hex[:18].upper()}"
    return build_filing(message_type, sample_data(message_type, lrn=lrn, eori=eori))


def t2c_user_message(party_id: str, *, action: str = "IE3F32", message_id: str | None = None,
                     **overrides: Any) -> UserMessage:
    """A correct trader-to-customs header (ICD §4.2); `overrides` replace single fields."""
    message_id = message_id or new_message_id()
    fields: dict[str, Any] = {
        "message_id": message_id, "timestamp": datetime.now(UTC),
        "from_party": PartyRef(party_id, as4c.PARTY_TYPE_EORI, as4c.ROLE_TRADER),
        "to_party": PartyRef(as4c.STI_PARTY_ID, as4c.PARTY_TYPE_AUTH, as4c.ROLE_CUSTOMS),
        "agreement_ref": as4c.AGREEMENT_V1, "agreement_type": as4c.AGREEMENT_TYPE,
        "service": as4c.SERVICE_T2C, "service_type": as4c.SERVICE_TYPE, "action": action,
        "conversation_id": message_id,
    }
    fields.update(overrides)
    return UserMessage(**fields)


def unpack_answer(response: HttpResponse) -> InboundMessage:
    """The simulator's answer read with the same codec a trader uses (signature verified)."""
    return unpack(response.content_type, response.body)


def describe(response: HttpResponse) -> str:
    try:
        message = unpack_answer(response)
    except Exception as exc:  # only used to build assertion messages
        return f"HTTP {response.status} {response.content_type}: unreadable ({exc}) {response.body[:200]!r}"
    if message.kind == "error":
        return "ebMS errors " + "; ".join(f"{e.code}/{e.sub_code} {e.detail}" for e in message.errors)
    return f"HTTP {response.status}: a {message.kind} message {message.message_id}"


def receipt_problems(filing: SignedFiling, response: HttpResponse) -> list[str]:
    """Why `response` is not a valid signed NRR receipt for the pre-signed `filing` (empty: it is one):
    AS4 §5.1.8 / ICD §4.3.1, every ds:Reference of the filing acknowledged."""
    if response.status != 200:
        return [f"HTTP {response.status}"]
    answer = unpack_answer(response)
    if answer.kind != "receipt":
        return [describe(response)]
    problems = [] if answer.signature is not None else ["unsigned receipt"]
    if answer.ref_to_message_id != filing.message_id:
        problems.append(f"RefToMessageId {answer.ref_to_message_id} != {filing.message_id}")
    return problems + check_receipt_matches(answer, filing.references, sent_message_id=filing.message_id)


def error_of(message: InboundMessage, code: str) -> ErrorEntry:
    found = [e for e in message.errors if e.code == code]
    assert found, f"expected {code}, received " + "; ".join(f"{e.code} {e.detail}" for e in message.errors)
    return found[0]
