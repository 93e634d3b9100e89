"""pytest plugin of the conformance harness: options, the simulator handle, the driver, the scene.

Loaded with `-p scenarios.plugin` by `icssim conformance` (and by our own integration tests). The
simulator is reached over HTTP only: its control URL and token, its trader URL, and the PKI directory
whose manifest names the trader identities.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.drivers.reference import ReferenceDriver
from scenarios.pki import PkiFiles
from scenarios.simctl import SimControl
from scenarios.steps.scene import Scene

pytest_plugins = ["scenarios.steps.ics2_steps", "scenarios.steps.ics2_lifecycle_steps",
                  "scenarios.steps.ics2_flow_steps", "scenarios.steps.ics2_risk_steps",
                  "scenarios.steps.ics2_fault_steps"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("icssim", "ICS conformance harness")
    group.addoption("--icssim-control-url", default=os.environ.get("ICSSIM_CONTROL_URL"))
    group.addoption("--icssim-token", default=os.environ.get("ICSSIM_CONTROL_TOKEN"))
    group.addoption("--icssim-trader-url", default=os.environ.get("ICSSIM_TRADER_URL"))
    group.addoption("--icssim-pki-dir", default=os.environ.get("ICSSIM_PKI_DIR"))
    group.addoption("--icssim-driver", default=os.environ.get("ICSSIM_DRIVER", "reference"),
                    choices=("reference",))


def pytest_configure(config: pytest.Config) -> None:
    for tag in ("ics2", "R1", "R2", "R3", "security"):
        config.addinivalue_line("markers", f"{tag}: conformance scenario tag")
    config.addinivalue_line("markers", "req: requirement checked by a scenario")


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_apply_tag(tag: str, function: object) -> bool | None:
    """Requirement tags (@req:ID) become `req` marks carrying the id, registered once."""
    if tag.startswith("req:"):
        pytest.mark.req(tag[4:])(function)
        return True
    return None


def _required(config: pytest.Config, name: str) -> str:
    value = config.getoption(name)
    if not value:
        raise pytest.UsageError(f"--{name.replace('_', '-')} is required (or its ICSSIM_* variable)")
    return str(value)


@pytest.fixture(scope="session")
def sim(pytestconfig: pytest.Config) -> SimControl:
    control = SimControl(_required(pytestconfig, "icssim_control_url"),
                         _required(pytestconfig, "icssim_token"))
    if not control.health():
        raise pytest.UsageError(f"no simulator answers at {control.url}")
    return control


@pytest.fixture(scope="session")
def pki(pytestconfig: pytest.Config) -> PkiFiles:
    return PkiFiles.load(Path(_required(pytestconfig, "icssim_pki_dir")))


@pytest.fixture
def driver(pytestconfig: pytest.Config, pki: PkiFiles) -> Iterator[ReferenceDriver]:
    reference = ReferenceDriver(_required(pytestconfig, "icssim_trader_url"), pki)
    yield reference
    reference.close()


@pytest.fixture
def scene() -> Scene:
    return Scene()
