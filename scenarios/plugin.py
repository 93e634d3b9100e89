"""pytest plugin of the conformance harness: options, the simulator handle, the driver, the scene.

Loaded with `-p scenarios.plugin` by `icssim conformance` (and by our own integration tests). The
simulator is reached over HTTP only: its control URL and token, its trader URL, and the PKI directory
whose manifest names the trader identities. It registers the grading plugin (scenarios/grading.py):
`--icssim-spec FILE` selects scenarios and names unsupported capabilities (scenarios/selection.py),
`--icssim-run-record FILE` is where the graded run record (run.json) is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.drivers.reference import ReferenceDriver
from scenarios.grading import GradingPlugin, JournalWindow
from scenarios.pki import PkiFiles
from scenarios.requirements import CatalogueError, load_catalogue
from scenarios.selection import RunSpec, SelectionError, load_spec
from scenarios.simctl import SimControl
from scenarios.steps.scene import Scene

pytest_plugins = ["scenarios.steps.ics2_steps", "scenarios.steps.ics2_lifecycle_steps",
                  "scenarios.steps.ics2_flow_steps", "scenarios.steps.ics2_risk_steps",
                  "scenarios.steps.ics2_fault_steps", "scenarios.steps.ics2_reaction_steps"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("icssim", "ICS conformance harness")
    group.addoption("--icssim-control-url", default=os.environ.get("ICSSIM_CONTROL_URL"))
    group.addoption("--icssim-token", default=os.environ.get("ICSSIM_CONTROL_TOKEN"))
    group.addoption("--icssim-trader-url", default=os.environ.get("ICSSIM_TRADER_URL"))
    group.addoption("--icssim-pki-dir", default=os.environ.get("ICSSIM_PKI_DIR"))
    group.addoption("--icssim-driver", default=os.environ.get("ICSSIM_DRIVER", "reference"),
                    choices=("reference",))
    group.addoption("--icssim-spec", help="run spec (JSON or TOML): selection, capabilities, product")
    group.addoption("--icssim-run-record", help="write the graded run record (run.json) here")


def pytest_configure(config: pytest.Config) -> None:
    for tag in ("ics2", "R1", "R2", "R3", "security"):
        config.addinivalue_line("markers", f"{tag}: conformance scenario tag")
    config.addinivalue_line("markers", "req: requirement checked by a scenario")
    config.addinivalue_line("markers", "timing: depends on the simulator's background ticker; retried once")
    try:
        catalogue = load_catalogue()
        spec_file = config.getoption("icssim_spec")
        spec = load_spec(Path(spec_file)) if spec_file else RunSpec()
    except (CatalogueError, SelectionError) as exc:
        raise pytest.UsageError(str(exc)) from None
    spec = spec.overridden(driver=config.getoption("icssim_driver"))
    record = config.getoption("icssim_run_record")
    config.pluginmanager.register(
        GradingPlugin(config, spec, catalogue, record_path=Path(record) if record else None,
                      journal=_journal(config)), "icssim-grading")


def _journal(config: pytest.Config) -> JournalWindow | None:
    """The simulator journal, read for each scenario's wire evidence (None without a simulator)."""
    url, token = config.getoption("icssim_control_url"), config.getoption("icssim_token")
    if not url or not token:
        return None
    control = SimControl(str(url), str(token))
    return JournalWindow(lambda since, limit, raw: control.journal(since_id=since, limit=limit, raw=raw))


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
