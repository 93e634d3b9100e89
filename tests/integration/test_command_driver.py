"""The ``command`` driver (scenarios/drivers/command.py) and the example adapter (examples/command-adapter/).

CommandDriver runs real processes: small scripts that answer well, answer nonsense, fail, or hang with a
child of their own (the timeout must kill the whole process group). Then the example adapter, driven
through CommandDriver, files and amends against the shared test simulator; every claim the adapter makes
is checked against the simulator's journal, ENS register and outbox (docs/driver-contract.md,
"Observation, not trust").
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from scenarios.drivers.command import CommandDriver
from scenarios.drivers.contract import CONTRACT, DriverError, ReceivedMessage
from scenarios.filings.ics2 import sample_data
from scenarios.simctl import SimControl
from tests.integration.conftest import SimHandle

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ADAPTER = REPO / "examples" / "command-adapter" / "adapter.py"


def _script(tmp_path: Path, name: str, body: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return [sys.executable, str(path)]


# -- CommandDriver against small scripts -------------------------------------------------------------
def test_a_handled_action_is_parsed_and_its_stderr_kept(tmp_path: Path) -> None:
    argv = _script(tmp_path, "echo", """
        import json, os, sys
        request = json.load(sys.stdin)
        print("working on", os.environ["ICSSIM_DRIVER_ACTION"], file=sys.stderr)
        json.dump({"ok": True, "message_id": "m-1@vendor", "lrn": request.get("lrn"), "cwd": os.getcwd(),
                   "seen": request, "env_contract": os.environ["ICSSIM_DRIVER_CONTRACT"],
                   "token": os.environ.get("VENDOR_TOKEN")}, sys.stdout)
    """)
    workdir = tmp_path / "work"
    workdir.mkdir()
    driver = CommandDriver(argv, timeout=30, env={"VENDOR_TOKEN": "s3cret"}, workdir=workdir)
    answer = driver.file("IE3F32", {"lrn": "BELRN1"}, lrn="BELRN1", party="trader-a")
    assert (answer.ok, answer.message_id, answer.lrn) == (True, "m-1@vendor", "BELRN1")
    assert answer.extra["seen"] == {"contract": CONTRACT, "action": "file", "party": "trader-a",
                                    "message_type": "IE3F32", "lrn": "BELRN1", "business_data": {"lrn": "BELRN1"}}
    assert (answer.extra["cwd"], answer.extra["token"]) == (str(workdir), "s3cret")
    assert answer.extra["env_contract"] == CONTRACT
    assert driver.poll().ok
    assert driver.stderr_log == [("file", "working on file\n"), ("poll", "working on poll\n")]


@pytest.mark.parametrize(("stdout", "detail"), [
    ("print('Filed OK!')", "file: the answer breaks icssim-driver/1: file response: $ is not JSON"),
    ("print('')", "file response: $ is not JSON"),
    ("print('{\"ok\": \"yes\"}')", "file response: $.ok must be true or false, got a string ('yes')"),
    ("print('{\"ok\": false}')", "file response: $.error is required"),
])
def test_an_answer_that_is_not_contract_json_is_a_driver_error(tmp_path: Path, stdout: str, detail: str) -> None:
    argv = _script(tmp_path, "bad", f"import sys\nsys.stdin.read()\nprint('hint', file=sys.stderr)\n{stdout}\n")
    driver = CommandDriver(argv, timeout=30)
    with pytest.raises(DriverError) as caught:
        driver.file("IE3F32", {})
    assert caught.value.action == "file"
    assert detail in str(caught.value)
    assert caught.value.stderr == "hint\n"
    assert driver.stderr_log == [("file", "hint\n")]


def test_a_non_zero_exit_is_a_driver_error_carrying_stderr(tmp_path: Path) -> None:
    argv = _script(tmp_path, "fails", """
        import sys
        print("Traceback: cannot open the vendor database", file=sys.stderr)
        print('{"ok": true}')
        sys.exit(3)
    """)
    driver = CommandDriver(argv, timeout=30)
    with pytest.raises(DriverError) as caught:
        driver.invalidate("26BE000000000000A1")
    error = caught.value
    assert (error.action, error.detail) == ("invalidate", "the command exited with status 3")
    assert error.stderr == "Traceback: cannot open the vendor database\n"
    assert "cannot open the vendor database" in str(error)
    assert driver.stderr_log == [("invalidate", "Traceback: cannot open the vendor database\n")]


def test_a_command_that_cannot_start_is_a_driver_error(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="reset: cannot start"):
        CommandDriver([str(tmp_path / "no-such-adapter")], timeout=5).reset()


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    argv = _script(tmp_path, "hangs", f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open({str(pids)!r}, "w") as out:
            out.write(f"{{os.getpid()}} {{child.pid}}")
        print("started the vendor tool", file=sys.stderr, flush=True)
        time.sleep(120)
    """)
    driver = CommandDriver(argv, timeout=1.5)
    started = time.monotonic()
    with pytest.raises(DriverError) as caught:
        driver.poll()
    assert time.monotonic() - started < 10
    assert "poll: no answer within 1.5 s; the command's process group was killed" in str(caught.value)
    assert caught.value.stderr == "started the vendor tool\n"
    for pid in map(int, pids.read_text().split()):
        assert _gone(pid), f"process {pid} of the command is still running"


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True  # killed; only its parent's bookkeeping is left
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


# -- the example adapter against the simulator ------------------------------------------------------
@pytest.fixture
def adapter(sim: SimHandle, tmp_path: Path) -> CommandDriver:
    return CommandDriver([sys.executable, str(ADAPTER)], timeout=90, workdir=REPO, env={
        "ICSSIM_ADAPTER_STATE": str(tmp_path / "adapter-state"), "ICSSIM_ADAPTER_PKI": str(sim.pki.directory),
        "ICSSIM_ADAPTER_TRADER_URL": sim.local.trader_url, "ICSSIM_ADAPTER_PARTY": "trader-a"})


def _accepted(control: SimControl, message_id: str | None, action: str) -> None:
    entries = control.journal(direction="in", kind="user", message_id=message_id)
    assert [(e["action"], e["verdict"]) for e in entries] == [(action, "accepted")], entries


def test_the_example_adapter_files_polls_and_amends(sim: SimHandle, control: SimControl,
                                                   adapter: CommandDriver) -> None:
    """ICD §4.3.1: the filing is receipted and registered; domain/ics2.md "Messages": IE3R01 carries
    the LRN and the MRN, an amendment is answered by IE3N10; the adapter reports both after `poll`."""
    eori = sim.pki.trader("trader-a").eori
    assert adapter.reset().ok
    lrn = "BEADPIT0000000001"
    filed = adapter.file("IE3F32", sample_data("IE3F32", lrn=lrn, eori=eori), lrn=lrn)
    assert (filed.ok, filed.lrn, filed.extra.get("signal")) == (True, lrn, "receipt"), filed
    _accepted(control, filed.message_id, "IE3F32")
    [ens] = control.ics2_ens(message_id=filed.message_id)
    assert (ens["state"], ens["lrn"], ens["sender"]) == ("registered", lrn, eori)
    mrn = ens["mrn"]

    assert adapter.received().messages == (), "nothing is reported before the adapter polled"
    polled = adapter.poll()
    assert (polled.ok, polled.count) == (True, 1), polled
    [reply] = adapter.received().messages or ()
    assert (reply.action, reply.ref_to_message_id, reply.mrn, reply.lrn) == ("IE3R01", filed.message_id, mrn, lrn)
    assert reply.payload is not None and f"<MRN>{mrn}</MRN>".encode() in reply.payload
    assert adapter.received().messages == (), "received reports each message once"
    [queued] = [m for m in control.outbox() if m["action"] == "IE3R01"]
    assert (queued["message_id"], queued["state"]) == (reply.message_id, "delivered")  # the poll receipted it

    amended = adapter.amend("IE3A32", mrn, sample_data("IE3F32", lrn="BEADPIT0000000002", eori=eori))
    assert (amended.ok, amended.lrn) == (True, "BEADPIT0000000002"), amended
    _accepted(control, amended.message_id, "IE3A32")
    assert adapter.poll().count == 1
    assert _actions(adapter.received().messages) == [("IE3N10", amended.message_id, mrn)]
    assert adapter.sent().message_ids == (filed.message_id, amended.message_id)
    assert [action for action, _ in adapter.stderr_log] == ["reset", "file", "received", "poll", "received",
                                                             "received", "amend", "poll", "received", "sent"]


def _actions(messages: tuple[ReceivedMessage, ...] | None) -> list[tuple[str, str | None, str | None]]:
    return [(m.action, m.ref_to_message_id, m.mrn) for m in messages or ()]


def test_the_example_adapter_reports_what_it_cannot_do(sim: SimHandle, control: SimControl,
                                                       adapter: CommandDriver, tmp_path: Path) -> None:
    """A handled failure is ok=false with a reason (exit 0); it sends nothing the journal would show."""
    unknown = adapter.file("IE3F32", {"lrn": "BEADPIT0000000009"}, party="trader-z")
    assert not unknown.ok and "trader-z" in (unknown.error or ""), unknown
    down = CommandDriver(adapter.argv, timeout=60, workdir=REPO,
                         env={**adapter.env, "ICSSIM_ADAPTER_TRADER_URL": "https://127.0.0.1:9"})
    refused = down.invalidate("26BE000000000000A1")
    assert not refused.ok and "Connection" in (refused.error or ""), refused
    assert control.journal(direction="in", kind="user") == []
    state = json.loads((tmp_path / "adapter-state" / "adapter-state.json").read_text(encoding="utf-8"))
    assert state["parties"]["trader-a"]["sent"] == []
    consult = adapter.consult(mrn="26BE000000000000A1")  # the simulator is up: a real, answered request
    assert consult.ok and consult.message_id, consult
    _accepted(control, consult.message_id, "IE3Q05")
