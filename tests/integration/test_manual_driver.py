"""The ``manual`` driver (scenarios/drivers/manual.py) against the real simulator.

The "person" is played by the reference client (it files and pulls as trader-a would with their own
package) and, for the answers a person gives on the page, by HTTP calls carrying the page's cookie. Every
verdict of the driver must come from the simulator's journal (docs/driver-contract.md, "Observation, not
trust"): a message from another party or of another action does not end a step, a "Done" does not either,
"cannot" ends it as unsupported, and a step nobody performs ends in a DriverError when its time is up.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from scenarios.drivers.contract import DriverError, Response
from scenarios.drivers.manual import ManualDriver
from scenarios.filings.ics2 import build_filing, sample_data
from scenarios.simctl import SimControl
from simulator.control.views import BROWSER_COOKIE
from tests.integration.conftest import SimHandle

pytestmark = pytest.mark.slow


class Background:
    """One driver action run in a thread, as the harness runs it while the person acts."""

    def __init__(self, action: Callable[[], Response]) -> None:
        self.response: Response | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(action,), daemon=True)
        self._thread.start()

    def _run(self, action: Callable[[], Response]) -> None:
        try:
            self.response = action()
        except BaseException as exc:
            self.error = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout: float = 30) -> Response:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the driver did not return"
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def eori(sim: SimHandle, name: str = "trader-a") -> str:
    return sim.pki.trader(name).eori


def driver(sim: SimHandle, out: io.StringIO, *, timeout: float = 60) -> ManualDriver:
    parties = {"trader-a": eori(sim, "trader-a"), "trader-b": eori(sim, "trader-b")}
    return ManualDriver(sim.control, parties, timeout=timeout, out=out, poll_interval=0.05)


def shown(control: SimControl) -> dict[str, Any]:
    """The instruction on the board, once the driver has put it up."""
    state = control.wait_for(lambda: control.manual_state()["instruction"], timeout=15, what="an instruction")
    return dict(state)


def answer_on_page(control: SimControl, instruction_id: str, outcome: str, note: str | None = None) -> None:
    """What the page's buttons send: the answer, authenticated by the page's cookie."""
    request = urllib.request.Request(
        control.url + "/_sim/manual/answer", method="POST",
        data=json.dumps({"id": instruction_id, "outcome": outcome, "note": note}).encode(),
        headers={"Content-Type": "application/json", "Cookie": f"{BROWSER_COOKIE}={control.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def filing(sim: SimHandle, name: str = "trader-a") -> tuple[str, dict[str, Any]]:
    lrn = f"MD{uuid.uuid4().hex[:16].upper()}"
    return lrn, sample_data("IE3F32", lrn=lrn, eori=eori(sim, name))


def test_a_filing_the_person_sends_ends_the_step_with_what_the_journal_shows(sim: SimHandle,
                                                                            control: SimControl) -> None:
    out = io.StringIO()
    lrn, data = filing(sim)
    step = Background(lambda: driver(sim, out).file("IE3F32", data, lrn=lrn, party="trader-a"))
    instruction = shown(control)
    assert (instruction["action"], instruction["party"], instruction["eori"]) == ("file", "trader-a", eori(sim))
    assert instruction["expects"] == "IE3F32"
    assert instruction["data"] == json.loads(json.dumps(data, default=str))
    assert f"LRN {lrn}" in instruction["text"]
    # Not what the step asks for: another party's filing, and a "Done" without a message.
    _, other = filing(sim, "trader-b")
    assert sim.client("trader-b").send("IE3F32", build_filing("IE3F32", other)).receipt
    answer_on_page(control, instruction["id"], "done")
    time.sleep(0.5)  # several of the driver's looks at the journal
    assert step.running, "the step ended without trader-a's IE3F32"
    sent = sim.client("trader-a").send("IE3F32", build_filing("IE3F32", data))
    assert sent.receipt, sent.problems
    response = step.result()
    assert (response.ok, response.message_id, response.lrn) == (True, sent.message_id, lrn)
    entry, = control.journal(direction="in", kind="user", message_id=sent.message_id)
    assert (entry["sender"], entry["correlation"], entry["verdict"]) == (eori(sim), lrn, "accepted")
    assert response.extra == {"journal_verdict": "accepted", "error_code": None}
    state = control.manual_state()
    assert state["instruction"] is None  # taken down with its result
    assert state["history"][0]["ok"] is True and sent.message_id in state["history"][0]["result"]
    printed = out.getvalue()
    assert f"[manual 1] File an IE3F32 as party trader-a (EORI {eori(sim)}) with this business data, LRN {lrn}." \
        in printed
    assert f'"lrn": "{lrn}"' in printed and f"{control.url}/_sim/manual" in printed
    assert f"-> IE3F32 from {eori(sim)} reached the simulator: MessageId {sent.message_id}" in printed


def test_cannot_on_the_page_is_an_unsupported_action(sim: SimHandle, control: SimControl) -> None:
    note = "Our package only files IE3F33"
    step = Background(lambda: driver(sim, io.StringIO()).invalidate("26BE0000000000001A", party="trader-b"))
    instruction = shown(control)
    assert (instruction["expects"], instruction["eori"]) == ("IE3Q04", eori(sim, "trader-b"))
    answer_on_page(control, instruction["id"], "cannot", note)
    response = step.result()
    assert (response.ok, response.unsupported, response.error) == (False, True, note)
    history = control.manual_state()["history"][0]
    assert history["ok"] is False and note in history["result"]


def test_a_step_nobody_performs_is_a_driver_error_when_its_time_is_up(sim: SimHandle, control: SimControl) -> None:
    out = io.StringIO()
    lrn, data = filing(sim)
    started = time.monotonic()
    with pytest.raises(DriverError) as caught:
        driver(sim, out, timeout=0.4).file("IE3F32", data, lrn=lrn)
    assert time.monotonic() - started < 5
    assert caught.value.action == "file"
    assert str(caught.value) == f"file: no IE3F32 from {eori(sim)} reached the simulator within 0.4 s"
    state = control.manual_state()
    assert state["instruction"] is None
    assert state["history"][0]["ok"] is False and "no IE3F32" in state["history"][0]["result"]
    assert "!! no IE3F32" in out.getvalue()


def test_poll_received_and_sent_are_judged_from_the_journal(sim: SimHandle, control: SimControl) -> None:
    manual = driver(sim, io.StringIO())
    assert manual.reset().ok
    lrn, data = filing(sim)
    client = sim.client("trader-a")
    sent = client.send("IE3F32", build_filing("IE3F32", data))
    assert sent.receipt, sent.problems
    step = Background(lambda: manual.poll(party="trader-a"))
    instruction = shown(control)
    assert (instruction["action"], instruction["expects"]) == ("poll", None)
    pulled = client.pull_all()
    assert "IE3R01" in [message.user_message.action for message in pulled if message.user_message]
    response = step.result()
    assert (response.ok, response.count) == (True, len(pulled))
    received = manual.received(party="trader-a")
    assert received.ok and received.extra == {"observed_by": "simulator"}
    assert [m.message_id for m in received.messages or ()] == [m.message_id for m in pulled]
    registration = next(m for m in received.messages or () if m.action == "IE3R01")
    ens, = control.ics2_ens(lrn=lrn)
    assert (registration.lrn, registration.mrn) == (lrn, ens["mrn"])
    assert registration.ref_to_message_id == sent.message_id
    assert registration.payload is not None and b"IE3R01" in registration.payload
    assert manual.received(party="trader-a").messages == ()  # reported once
    assert manual.received(party="trader-b").messages == ()  # not trader-b's
    assert manual.sent(party="trader-a").message_ids == (sent.message_id,)
    assert manual.sent(party="trader-a").message_ids == ()
    # The simulator's journal starts again after a scene reset: what comes next is still seen.
    control.reset()
    _, again = filing(sim)
    resent = client.send("IE3F32", build_filing("IE3F32", again))
    assert manual.sent(party="trader-a").message_ids == (resent.message_id,)


def test_a_poll_nobody_performs_is_a_driver_error(sim: SimHandle) -> None:
    with pytest.raises(DriverError, match=r"^poll: no pull by \w+ that emptied its queue reached the simulator "
                                          r"within 0.3 s$"):
        driver(sim, io.StringIO(), timeout=0.3).poll()
