"""pytest plugin of the conformance harness: options, the simulator handle, the driver, the scene.

Loaded with `-p scenarios.plugin` by `icssim conformance` (and by our own integration tests). The
simulator is reached over HTTP only: its control URL and token, its trader URL, and the PKI directory
whose manifest names the trader identities. It registers the grading plugin (scenarios/grading.py):
`--icssim-spec FILE` selects scenarios and names unsupported capabilities (scenarios/selection.py),
`--icssim-run-record FILE` is where the graded run record (run.json) is written.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.drivers.contract import Driver
from scenarios.drivers.contract_sut import ContractSut, RecordingDriver
from scenarios.drivers.observed import SystemUnderTest
from scenarios.drivers.reference import ReferenceDriver
from scenarios.drivers.reference_sut import ReferenceSut
from scenarios.grading import GradingPlugin, JournalWindow
from scenarios.pki import PkiFiles
from scenarios.requirements import CatalogueError, load_catalogue
from scenarios.selection import DRIVERS, RunSpec, SelectionError, load_spec
from scenarios.simctl import SimControl
from scenarios.steps.scene import Scene

DEFAULT_TIMEOUT = {"command": 60.0, "http": 60.0, "manual": 600.0}  # seconds per action; a person is slower

pytest_plugins = ["scenarios.steps.ics2_inbox", "scenarios.steps.ics2_steps", "scenarios.steps.ics2_lifecycle_steps",
                  "scenarios.steps.ics2_flow_steps", "scenarios.steps.ics2_risk_steps",
                  "scenarios.steps.ics2_fault_steps", "scenarios.steps.ics2_reaction_steps"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("icssim", "ICS conformance harness")
    group.addoption("--icssim-control-url", default=os.environ.get("ICSSIM_CONTROL_URL"))
    group.addoption("--icssim-token", default=os.environ.get("ICSSIM_CONTROL_TOKEN"))
    group.addoption("--icssim-trader-url", default=os.environ.get("ICSSIM_TRADER_URL"))
    group.addoption("--icssim-pki-dir", default=os.environ.get("ICSSIM_PKI_DIR"))
    group.addoption("--icssim-driver", default=os.environ.get("ICSSIM_DRIVER", "reference"), choices=DRIVERS,
                    help="how the system under test is driven (docs/driver-contract.md)")
    group.addoption("--icssim-driver-command", default=os.environ.get("ICSSIM_DRIVER_COMMAND"),
                    help="command driver: the vendor's adapter command line (split like a shell does)")
    group.addoption("--icssim-driver-url", default=os.environ.get("ICSSIM_DRIVER_URL"),
                    help="http driver: the base URL of the vendor's controller")
    group.addoption("--icssim-driver-timeout", type=float, default=os.environ.get("ICSSIM_DRIVER_TIMEOUT"),
                    help="seconds one action may take (default: 60; manual: 600)")
    group.addoption("--icssim-party", action="append", default=[],
                    help="a directory made by `icssim certs issue`: the package acts as that party (repeatable)")
    group.addoption("--icssim-spec", help="run spec (JSON or TOML): selection, capabilities, product")
    group.addoption("--icssim-run-record", help="write the graded run record (run.json) here")


def pytest_configure(config: pytest.Config) -> None:
    for tag in ("ics2", "R1", "R2", "R3", "security"):
        config.addinivalue_line("markers", f"{tag}: conformance scenario tag")
    config.addinivalue_line("markers", "req: requirement checked by a scenario")
    config.addinivalue_line("markers", "timing: depends on the simulator's background ticker; retried once")
    config.addinivalue_line("markers", "reference-client: needs the reference client's injected client faults")
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
    """The test PKI, with the package's own identities (--icssim-party) in place of the sample traders."""
    files = PkiFiles.load(Path(_required(pytestconfig, "icssim_pki_dir")))
    try:
        return files.with_parties([Path(p) for p in pytestconfig.getoption("icssim_party")])
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def contract_driver(config: pytest.Config, sim: SimControl, pki: PkiFiles, state_dir: Path) -> Driver:
    """The transport ``--icssim-driver`` names, configured from its options."""
    kind = str(config.getoption("icssim_driver"))
    timeout = float(config.getoption("icssim_driver_timeout") or DEFAULT_TIMEOUT[kind])
    if kind == "command":
        from scenarios.drivers.command import CommandDriver

        # what an adapter needs to know of this run (docs/driver-contract.md, "The command's environment")
        env = {"ICSSIM_TRADER_URL": _required(config, "icssim_trader_url"), "ICSSIM_PKI_DIR": str(pki.directory),
               "ICSSIM_DRIVER_STATE_DIR": str(state_dir),
               "ICSSIM_PARTY_DIRS": os.pathsep.join(str(Path(p).resolve()) for p in config.getoption("icssim_party"))}
        return CommandDriver(shlex.split(_required(config, "icssim_driver_command")), timeout=timeout, env=env)
    if kind == "http":
        from scenarios.drivers.http import HttpDriver

        # the same facts of the run as the command driver's environment, as headers of every POST
        headers = {"Icssim-Trader-Url": _required(config, "icssim_trader_url"), "Icssim-Pki-Dir": str(pki.directory)}
        return HttpDriver(_required(config, "icssim_driver_url"), timeout=timeout, headers=headers)
    from scenarios.drivers.manual import ManualDriver

    parties = {name: files.eori for name, files in pki.traders.items()}
    return ManualDriver(sim, parties, timeout=timeout, page_url=f"{sim.url.rstrip('/')}/_sim/manual")


@pytest.fixture(scope="session")
def driver_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scratch space an adapter may keep its state in for the whole run (ICSSIM_DRIVER_STATE_DIR)."""
    return tmp_path_factory.mktemp("driver-state")


@pytest.fixture
def sut(pytestconfig: pytest.Config, sim: SimControl, pki: PkiFiles, driver_state_dir: Path
        ) -> Iterator[SystemUnderTest]:
    """The system under test of one scenario: the reference client, or a package behind a contract driver
    (whose exchanges go into the scenario's record as evidence)."""
    system: SystemUnderTest
    kind = str(pytestconfig.getoption("icssim_driver"))
    recorder: RecordingDriver | None = None
    if kind == "reference":
        system = ReferenceSut(ReferenceDriver(_required(pytestconfig, "icssim_trader_url"), pki))
    else:
        recorder = RecordingDriver(contract_driver(pytestconfig, sim, pki, driver_state_dir))
        system = ContractSut(kind, recorder, sim, pki)
    yield system
    system.close()
    grading = pytestconfig.pluginmanager.get_plugin("icssim-grading")
    if recorder is not None and isinstance(grading, GradingPlugin):
        grading.attach_driver_log(recorder.exchanges)


@pytest.fixture
def scene() -> Scene:
    return Scene()
