"""The ``command`` driver: one run of the vendor's command per action (docs/driver-contract.md).

The request goes to the command's stdin as one JSON document, the response is read from its stdout;
exit status 0 means "handled" (even when the answer is ``{"ok": false}``). The command runs in its own
process group, so that a timeout kills everything it started, not only the first process: an adapter
that shells out to the vendor's tool would otherwise leave that tool running and holding the pipes.
Whatever the command writes to stderr is kept per call, as evidence for the report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from scenarios.drivers.contract import CONTRACT, Driver, DriverError, Request, Response, read_response, request_to_json

# After the kill, how long to wait for the pipes to close (a process that left the group may hold them).
_DRAIN_SECONDS = 5.0


class CommandDriver(Driver):
    """Drives a system under test through ``argv`` (e.g. ``["python", "adapter.py"]``).

    ``timeout`` is the time budget of one action in seconds; ``env`` adds to (and overrides) the harness's
    environment; ``workdir`` is the command's working directory. Every call also gets
    ``ICSSIM_DRIVER_ACTION`` (the action) and ``ICSSIM_DRIVER_CONTRACT`` (``icssim-driver/1``).
    """

    def __init__(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
                 workdir: str | Path | None = None) -> None:
        if not argv:
            raise ValueError("the command driver needs a command to run")
        if timeout <= 0:
            raise ValueError(f"the timeout must be positive, got {timeout}")
        self.argv = list(argv)
        self.timeout = timeout
        self.env = dict(env or {})
        self.workdir = Path(workdir) if workdir is not None else None
        self.stderr_log: list[tuple[str, str]] = []  # (action, stderr) of every call, in order

    def perform(self, request: Request) -> Response:
        action = request.action
        environment = {**os.environ, **self.env, "ICSSIM_DRIVER_ACTION": action, "ICSSIM_DRIVER_CONTRACT": CONTRACT}
        try:
            process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, cwd=self.workdir, env=environment,
                                       start_new_session=True)
        except OSError as exc:
            raise DriverError(action, f"cannot start {self.argv[0]!r}: {exc}") from None
        try:
            stdout, stderr = process.communicate(request_to_json(request).encode("utf-8"), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            stdout, stderr = _kill(process)
            text = self._keep(action, stderr)
            raise DriverError(action, f"no answer within {self.timeout:g} s; the command's process group was "
                              "killed", stderr=text, body=_text(stdout)) from None
        text = self._keep(action, stderr)
        if process.returncode != 0:
            how = (f"was killed by signal {-process.returncode}" if process.returncode < 0
                   else f"exited with status {process.returncode}")
            raise DriverError(action, f"the command {how}", stderr=text, body=_text(stdout))
        return read_response(action, stdout, stderr=text)

    def _keep(self, action: str, stderr: bytes) -> str:
        text = _text(stderr)
        self.stderr_log.append((action, text))
        return text


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _kill(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Kill the command's whole process group and collect what it had written."""
    with contextlib.suppress(ProcessLookupError):  # the whole group ended in the meantime
        os.killpg(process.pid, signal.SIGKILL)
    try:
        return process.communicate(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        # Something that left the group still holds the pipes: give up on the output, not on the process.
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait()
        return b"", b""
