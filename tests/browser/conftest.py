"""Browser fixtures: a real simulator (the integration fixtures) and Debian's chromium driven by Playwright.

Playwright's own browser builds come from a download site outside the package registries this project
installs from, so the tests drive the system's chromium (`make browser` installs Debian's package) through
``executable_path``. A missing chromium fails the tests with the command that installs it; it never
skips them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

# The simulator fixtures of the integration suite, re-exported for this folder.
from tests.integration.conftest import control, pki, shared_sim, sim, test_pki

__all__ = ["Chromium", "chromium", "chromium_path", "chromium_session", "control", "pki", "shared_sim", "sim",
           "test_pki"]

MISSING = ("Debian's chromium is not installed (no `chromium` on PATH): the browser tests need a real browser; "
           "run `make browser` (apt-get install chromium)")


def chromium_path() -> str:
    """The system chromium; fails the calling test with the install command when there is none."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(MISSING, pytrace=False)
    return path


class Chromium:
    """Debian's chromium under Playwright, launched on first use: inside the test body, so that a missing
    browser fails the test itself instead of erroring its setup."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self.contexts: list[BrowserContext] = []

    def new_context(self) -> BrowserContext:
        """A fresh browser profile (no cookie of another test), closed after the test."""
        if self._browser is None:
            executable = chromium_path()
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(executable_path=executable, headless=True)
        context = self._browser.new_context(viewport={"width": 1280, "height": 900})
        self.contexts.append(context)
        return context

    def close_contexts(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()

    def stop(self) -> None:
        self.close_contexts()
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[Chromium]:
    """One chromium for the session (started by the first test that opens a page)."""
    browser = Chromium()
    try:
        yield browser
    finally:
        browser.stop()


@pytest.fixture
def chromium(chromium_session: Chromium) -> Iterator[Chromium]:
    """The session's chromium; the browser contexts a test opens are closed after it."""
    try:
        yield chromium_session
    finally:
        chromium_session.close_contexts()
