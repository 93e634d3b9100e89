"""Same seed, same frozen clock, same input -> the same MRNs and byte-identical messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from certs.pki import init_test_pki
from load.presign import SignedFiling, presign
from scenarios.pki import PkiFiles
from tests.integration.conftest import SimHandle, describe, receipt_problems, start_simulator, unpack_answer

pytestmark = pytest.mark.slow

CLOCK_START = "2026-01-01T00:00:00Z"
FROZEN_ARGS = ("--clock-mode", "frozen", "--clock-start", CLOCK_START)


@pytest.fixture(scope="module")
def frozen_pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    """A test PKI valid both at the frozen simulated time (AS4 sealing certificates are judged on the
    simulated clock) and at the real time (the TLS handshake and its CRL check use the wall clock).

    Issued at the clock start when that lies in the past, then refreshed at the real time, which
    re-issues only what no longer fits (the CRL, the `not-yet-valid` trader) and keeps the rest.
    """
    directory = tmp_path_factory.mktemp("icssim-frozen-pki") / "pki"
    start = datetime.fromisoformat(CLOCK_START)
    init_test_pki(directory, now=min(start, datetime.now(UTC)))
    init_test_pki(directory)
    return PkiFiles.load(directory)


@pytest.fixture(scope="module")
def frozen_sim(tmp_path_factory: pytest.TempPathFactory, frozen_pki: PkiFiles) -> Iterator[SimHandle]:
    handle = start_simulator(tmp_path_factory.mktemp("icssim-frozen"), frozen_pki,
                             extra_args=(*FROZEN_ARGS, "--seed", "7"))
    try:
        yield handle
    finally:
        handle.close_connections()
        handle.local.stop()


def _run(sim: SimHandle, filings: list[SignedFiling]) -> dict[str, list[bytes | str]]:
    """Reset, send the filings, pull every reply: what a replay must reproduce exactly."""
    sim.control.reset()
    assert sim.control.clock()["now"].startswith("2026-01-01T00:00:00")
    transport = sim.transport("trader-a")
    receipts: list[bytes | str] = []
    for filing in filings:
        response = transport.post(filing.content_type, filing.body)
        assert receipt_problems(filing, response) == [], describe(response)
        receipts.append(response.body)
    ens = {e["message_id"]: e for e in sim.control.ics2_ens()}
    mrns: list[bytes | str] = [ens[f.message_id]["mrn"] for f in filings]
    client = sim.client("trader-a")
    envelopes: list[bytes | str] = []
    payloads: list[bytes | str] = []
    for _ in filings:
        pulled = client.pull()
        assert pulled.user_message is not None, describe(pulled.http)
        assert pulled.problems == [], pulled.problems
        envelopes.append(pulled.http.body)
        payloads.append(pulled.user_message.payloads[0].content)
    assert client.pull().empty
    sim.close_connections()
    return {"receipts": receipts, "mrns": mrns, "envelopes": envelopes, "payloads": payloads}


def test_replay_with_the_same_seed_gives_the_same_mrns_and_bytes(frozen_sim: SimHandle) -> None:
    """DESIGN.md "Deterministic": the same scenario with the same seed gives the same messages and MRNs;
    time comes from the simulated clock (--clock-mode frozen --clock-start, --seed 7). Two runs of the
    same two filings (same MessageIds and bytes), each after a reset, give identical MRNs, IE3R01
    payloads, pulled envelopes and receipts; the IE3R01 carries the frozen registration time."""
    filings = presign(frozen_sim.pki, ("trader-a",), 2, run="DETERM")
    first = _run(frozen_sim, filings)
    second = _run(frozen_sim, filings)

    assert all(isinstance(m, str) and len(m) == 18 for m in first["mrns"]), first["mrns"]
    assert len(set(first["mrns"])) == 2
    for filing, mrn, payload in zip(filings, first["mrns"], first["payloads"], strict=True):
        assert isinstance(payload, bytes)
        reply = etree.fromstring(payload)
        assert etree.QName(reply).localname == "IE3R01"
        assert (reply.findtext("LRN"), reply.findtext("MRN")) == (filing.lrn, mrn)
        assert reply.findtext("registrationDate") == CLOCK_START
    assert second["mrns"] == first["mrns"]
    assert second["payloads"] == first["payloads"]
    assert second["envelopes"] == first["envelopes"]
    assert second["receipts"] == first["receipts"]


def test_another_seed_gives_other_message_ids(frozen_sim: SimHandle, tmp_path: Path) -> None:
    """DESIGN.md "Deterministic" (the seed is an input of the replay, not decoration): the simulator's
    own MessageIds derive from the seed, so a simulator with --seed 8 answers the same filing with
    another receipt MessageId than the one with --seed 7."""
    pki = frozen_sim.pki
    filing = presign(pki, ("trader-a",), 1, run="SEEDS")[0]
    frozen_sim.control.reset()
    seven = frozen_sim.transport("trader-a").post(filing.content_type, filing.body)
    eight_sim = start_simulator(tmp_path / "var", pki, extra_args=(*FROZEN_ARGS, "--seed", "8"))
    try:
        eight = eight_sim.transport("trader-a").post(filing.content_type, filing.body)
    finally:
        eight_sim.close_connections()
        eight_sim.local.stop()
    assert receipt_problems(filing, seven) == [] and receipt_problems(filing, eight) == []
    assert unpack_answer(seven).message_id != unpack_answer(eight).message_id
