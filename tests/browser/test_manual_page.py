"""The manual driver's page (/_sim/manual, simulator/portal) in a real browser, against a real simulator.

A ManualDriver step runs in a thread as the harness runs it; chromium opens the page once with the
control token, as the printed instruction tells a person to; the page must show the action, the party's
EORI and the business data, keep the token out of the page and the address bar (HttpOnly SameSite=Strict
cookie instead), and carry the person's "My package cannot do this" back to the driver. A step that sends
a message ends only when the message reaches the simulator (the reference client plays the package),
whatever the buttons say, and the page then shows it as received.
"""

from __future__ import annotations

import io
import subprocess
import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from scenarios.drivers.manual import ManualDriver
from scenarios.filings.ics2 import build_filing, sample_data
from scenarios.simctl import SimControl
from simulator.control.views import BROWSER_COOKIE
from tests.browser.conftest import Chromium, chromium_path
from tests.integration.conftest import SimHandle
from tests.integration.test_manual_driver import Background, shown

pytestmark = pytest.mark.slow

SCREENSHOT = "/tmp/manual-page.png"  # a fixed place to look at the page after a run
REFRESH = 5_000  # ms: the page refreshes every second; allow a few


def driver(sim: SimHandle) -> ManualDriver:
    parties = {"trader-a": sim.pki.trader("trader-a").eori}
    return ManualDriver(sim.control, parties, timeout=60, out=io.StringIO(), poll_interval=0.05)


def open_page(context: BrowserContext, control: SimControl) -> Page:
    """Open the page as a person does the first time: the URL with the token."""
    page = context.new_page()
    page.goto(f"{control.url}/_sim/manual?token={control.token}")
    assert page.url == f"{control.url}/_sim/manual", "the token must leave the address bar"
    return page


def test_debians_chromium_is_installed() -> None:
    version = subprocess.run([chromium_path(), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert "Chromium" in version.stdout


def test_the_page_shows_the_step_and_carries_cannot_back_to_the_driver(sim: SimHandle, control: SimControl,
                                                                      chromium: Chromium) -> None:
    context = chromium.new_context()
    eori = sim.pki.trader("trader-a").eori
    lrn = f"BR{uuid.uuid4().hex[:16].upper()}"
    data = sample_data("IE3F32", lrn=lrn, eori=eori)
    manual = driver(sim)
    step = Background(lambda: manual.file("IE3F32", data, lrn=lrn, party="trader-a"))
    shown(control)
    page = open_page(context, control)
    expect(page.locator("#action")).to_have_text("file")
    expect(page.locator("#title")).to_have_text("File an IE3F32")
    expect(page.locator("#text")).to_contain_text(f"File an IE3F32 as party trader-a (EORI {eori})")
    expect(page.locator("#text")).to_contain_text(f"LRN {lrn}")
    expect(page.locator("#eori")).to_have_text(eori)
    expect(page.locator("#party")).to_have_text("trader-a")
    expect(page.locator("#expects")).to_have_text("IE3F32")
    expect(page.locator("#data")).to_contain_text(f'"lrn": "{lrn}"')
    expect(page.locator("#status-text")).to_have_text(f"Waiting for IE3F32 from {eori} to reach the simulator.")
    expect(page.locator("#left")).to_contain_text("left")
    expect(page.locator("#idle")).to_be_hidden()
    cookie, = (c for c in context.cookies() if c["name"] == BROWSER_COOKIE)
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/_sim/manual")
    assert control.token not in page.content()
    page.screenshot(path=SCREENSHOT, full_page=True)

    note = "Our package files IE3F33 only"
    page.locator("#note").fill(note)
    page.get_by_role("button", name="My package cannot do this").click()
    response = step.result()
    assert (response.ok, response.unsupported, response.error) == (False, True, note)
    expect(page.locator("#idle")).to_be_visible(timeout=REFRESH)
    expect(page.locator("#history")).to_contain_text(f"the package cannot do this: {note}")


def test_the_page_shows_the_filing_as_received_once_it_reaches_the_simulator(
        sim: SimHandle, control: SimControl, chromium: Chromium) -> None:
    context = chromium.new_context()
    eori = sim.pki.trader("trader-a").eori
    lrn = f"BR{uuid.uuid4().hex[:16].upper()}"
    data = sample_data("IE3F32", lrn=lrn, eori=eori)
    step = Background(lambda: driver(sim).file("IE3F32", data, lrn=lrn))
    shown(control)
    page = open_page(context, control)
    expect(page.locator("#text")).to_contain_text(f"LRN {lrn}")
    # "Done" is the person's word only: the step goes on until the filing arrives.
    page.get_by_role("button", name="Done").click()
    expect(page.locator("#status-text")).to_contain_text(f"You pressed Done. Still waiting for IE3F32 from {eori}",
                                                         timeout=REFRESH)
    expect(page.get_by_role("button", name="Done")).to_be_disabled()
    assert step.running
    sent = sim.client("trader-a").send("IE3F32", build_filing("IE3F32", data))
    assert sent.receipt, sent.problems
    response = step.result()
    assert (response.ok, response.message_id, response.lrn) == (True, sent.message_id, lrn)
    expect(page.locator("#idle")).to_be_visible(timeout=REFRESH)
    expect(page.locator("#card")).to_be_hidden()
    expect(page.locator("#history li").first).to_contain_text(
        f"IE3F32 from {eori} reached the simulator: MessageId {sent.message_id}, journal verdict accepted")
