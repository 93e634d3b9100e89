"""The control server's background thread: runs registered hooks every few real seconds.

Profile-neutral (DESIGN.md "One core, two profiles"): a profile adds hooks, e.g. ICS2 push delivery
with reception awareness (domain/ics2.md "AS4 profile"), and the ticker only calls them. Hooks read
time from the simulated clock themselves; the real interval only says how often they look.

- Hooks run in the order they were added (deterministic), one after the other, in one thread.
- A failing hook is logged and the others still run, now and at every later tick.
- The thread is a daemon: it never keeps a stopping server alive.
- It runs in the control server process only (simulator/serve.py starts that role with ONE worker),
  so no two processes dispatch at once; `ticker_for` gives that process's single instance.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

from simulator.core.context import SimContext

TICKER_KEY = "icssim.ticker"
_log = logging.getLogger("simulator.ticker")


class Ticker:
    """Calls each hook every `interval_seconds` (real time); 0 disables the thread, not `tick_once`."""

    def __init__(self, interval_seconds: float, *, name: str = "icssim-ticker") -> None:
        if not 0 <= interval_seconds < float("inf"):
            raise ValueError("the ticker interval must be a finite number of seconds >= 0")
        self.interval_seconds = interval_seconds
        self._name = name
        self._hooks: list[tuple[str, Callable[[], object]]] = []
        self._lock = threading.Lock()  # one tick at a time, and hooks are not changed mid-tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def hook_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._hooks)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add(self, name: str, hook: Callable[[], object]) -> None:
        """Append a hook; names are unique so that the log says which one failed."""
        with self._lock:
            if any(existing == name for existing, _ in self._hooks):
                raise ValueError(f"a ticker hook named {name!r} is already registered")
            self._hooks.append((name, hook))

    def tick_once(self) -> list[str]:
        """Run every hook once, in order; returns the names of the hooks that failed."""
        failed: list[str] = []
        with self._lock:
            for name, hook in self._hooks:
                try:
                    hook()
                except Exception:
                    # One broken hook must not stop the others, nor the thread (logged with traceback).
                    _log.exception("background hook %r failed", name)
                    failed.append(name)
        return failed

    def start(self) -> bool:
        """Start the thread (once); False when disabled (interval 0) or already running."""
        if self.interval_seconds <= 0 or self.running:
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to end after the current tick and wait for it up to `timeout` seconds."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.tick_once()


def ticker_for(app: Flask, ctx: SimContext) -> Ticker:
    """The app's one ticker, created on first use with `background_interval_seconds`."""
    ticker = app.extensions.get(TICKER_KEY)
    if ticker is None:
        ticker = Ticker(float(ctx.config.background_interval_seconds))
        app.extensions[TICKER_KEY] = ticker
    assert isinstance(ticker, Ticker)
    return ticker
