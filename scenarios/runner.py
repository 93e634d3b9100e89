"""`icssim conformance`: start (or reach) a simulator, set up the parties, run the selected scenarios through
a driver, grade them, write the reports, stop what it started, and exit non-zero on any FAILED verdict.

Reports (in --reports, default `reports/`): junit-ics2.xml, run.json (the graded run record,
scenarios/grading.py) and run-spec.json (the effective run spec: replay it with `--spec`, command-line
options override it; scenarios/selection.py). `--dry-run` lists what would run without a simulator.
Exit codes: 0 no FAILED verdict (NON-STRICT, INFORMATIONAL and UNIMPLEMENTED do not fail a run), 1 a
FAILED verdict or a run that did not complete, 2 a selection, spec or capability file that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scenarios.evidence import pack_from_run
from scenarios.grading import FAILED, VERDICTS, suite_json, write_json
from scenarios.pki import PkiFiles
from scenarios.reports import write_reports
from scenarios.requirements import Catalogue, CatalogueError, load_catalogue
from scenarios.selection import (
    DRIVERS,
    Planned,
    RunSpec,
    SelectionError,
    describe,
    discover,
    load_capabilities,
    load_spec,
    plan,
    read_document,
)
from scenarios.simctl import SimControl

SUITE = Path(__file__).resolve().parent / "suite"
SAMPLE_PARTIES = ("trader-a", "trader-b")


def add_conformance_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None],
                           handler: Callable[[argparse.Namespace], int]) -> None:
    p = sub.add_parser("conformance", help="run the conformance scenarios against a system under test")
    common(p)
    p.add_argument("--simulator", help="control URL of a running simulator (default: start one)")
    p.add_argument("--trader-url", dest="trader_url", help="trader URL of that simulator")
    p.add_argument("--driver", choices=DRIVERS,
                   help="how the system under test is driven: reference (built-in client, default), command, "
                        "http or manual (docs/driver-contract.md)")
    p.add_argument("--driver-command", dest="driver_command", metavar="CMD",
                   help="command driver: the adapter's command line, run once per action")
    p.add_argument("--driver-url", dest="driver_url", metavar="URL",
                   help="http driver: base URL of the vendor's controller (POST <URL>/<action>)")
    p.add_argument("--driver-timeout", dest="driver_timeout", type=float, metavar="SECONDS",
                   help="time one action may take (default 60; manual 600)")
    p.add_argument("--party", type=Path, action="append", default=[], metavar="DIR",
                   help="the package's own identity, made by `icssim certs issue --name trader-a --eori ... --out "
                        "DIR`: it acts as that party with its own EORI and certificates (repeatable)")
    p.add_argument("--reports", type=Path, help="directory for the reports (default: reports)")
    p.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    many = {"action": "append", "default": None}
    p.add_argument("--release", metavar="R1", **many, help="only scenarios of this release (repeatable)")
    p.add_argument("--tag", metavar="TAG", **many, help="only scenarios with this tag (repeatable)")
    p.add_argument("--requirement", metavar="ID", **many, help="only scenarios checking this requirement")
    p.add_argument("--scenario", metavar="ID", **many, help="only this scenario id or glob ('faults:*')")
    p.add_argument("--exclude", metavar="ID", **many, help="leave out a scenario id/glob or requirement id")
    p.add_argument("--capabilities", type=Path, metavar="FILE",
                   help='JSON or TOML {"unsupported": ["IE3Q05", "push"]}: those scenarios are UNIMPLEMENTED')
    p.add_argument("--spec", type=Path, metavar="FILE", help="run spec (JSON or TOML) holding these options")
    p.add_argument("--product", help="name of the system under test, for the reports")
    p.add_argument("--product-version", dest="product_version", help="its version, for the reports")
    p.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="list what would run (and what is UNIMPLEMENTED) and exit without a simulator")
    p.set_defaults(func=handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalSimulator:
    """A simulator started for this run, as a child process on free loopback ports."""

    var_dir: Path
    pki_dir: Path | None = None
    trader_port: int = field(default_factory=free_port)
    control_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def trader_url(self) -> str:
        return f"https://localhost:{self.trader_port}"

    def start(self, *, timeout: float = 60.0) -> SimControl:
        command = [sys.executable, "-m", "icssim", "serve", "--var-dir", str(self.var_dir),
                   "--trader-port", str(self.trader_port), "--control-port", str(self.control_port),
                   *self.extra_args]
        if self.pki_dir is not None:
            command += ["--pki-dir", str(self.pki_dir)]
        self.var_dir.mkdir(parents=True, exist_ok=True)
        log = (self.var_dir / "serve.out").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        token_file = self.var_dir / "control-token"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the simulator exited with {self.process.returncode}; "
                                   f"see {self.var_dir / 'serve.out'} and {self.var_dir / 'logs'}")
            if token_file.exists() and _port_open(self.trader_port):
                control = SimControl(self.control_url, token_file.read_text(encoding="utf-8").strip())
                if control.health():
                    return control
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the simulator did not come up within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def register_parties(control: SimControl, pki: PkiFiles, names: tuple[str, ...]) -> None:
    for name in names:
        files = pki.trader(name)
        control.register(files.eori, files.sealing_cert.read_text(), purpose="sealing", name=name)
        control.register(files.eori, files.tls_cert.read_text(), purpose="tls", name=name)


def _listed(values: list[str] | None) -> list[str] | None:
    """Repeatable options also take comma-separated values (--release R1,R2)."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def effective_spec(args: argparse.Namespace) -> RunSpec:
    """The run spec file (if any) with the command-line options laid over it."""
    spec = load_spec(args.spec) if getattr(args, "spec", None) else RunSpec()
    capabilities = getattr(args, "capabilities", None)
    return spec.overridden(
        releases=_listed(getattr(args, "release", None)), tags=_listed(getattr(args, "tag", None)),
        requirements=_listed(getattr(args, "requirement", None)), scenarios=_listed(getattr(args, "scenario", None)),
        exclude=_listed(getattr(args, "exclude", None)),
        unsupported=load_capabilities(capabilities) if capabilities else None,
        capabilities_file=str(capabilities.resolve()) if capabilities else None,
        product=getattr(args, "product", None), product_version=getattr(args, "product_version", None),
        driver=getattr(args, "driver", None), driver_command=getattr(args, "driver_command", None),
        driver_url=getattr(args, "driver_url", None), keyword=getattr(args, "keyword", None),
        reports=str(args.reports) if getattr(args, "reports", None) else None)


def _warn_if_suite_changed(spec_file: Path | None, catalogue: Catalogue) -> None:
    if spec_file is None:
        return
    recorded = read_document(spec_file).get("suite")
    if not isinstance(recorded, dict):
        return
    current = suite_json(catalogue)
    changed = [k for k in ("version", "features_sha256", "requirements_sha256")
               if recorded.get(k) and recorded.get(k) != current[k]]
    if changed:
        print(f"warning: the suite changed since {spec_file} was written ({', '.join(changed)} differ)",
              file=sys.stderr)


def run_conformance(args: argparse.Namespace, config: Any) -> int:
    """`config` is the resolved simulator configuration (read by the CLI, never here)."""
    try:
        spec = effective_spec(args)
        catalogue = load_catalogue()
        planned = plan(discover(), spec, catalogue)
        _warn_if_suite_changed(getattr(args, "spec", None), catalogue)
    except (SelectionError, CatalogueError) as exc:
        print(f"icssim conformance: {exc}", file=sys.stderr)
        return 2
    if not planned:
        print("icssim conformance: the selection matches no scenario", file=sys.stderr)
        return 2
    missing = {"command": ("driver_command", "--driver-command"), "http": ("driver_url", "--driver-url")}
    if spec.driver in missing and not getattr(spec, missing[spec.driver][0]):
        print(f"icssim conformance: the {spec.driver} driver needs {missing[spec.driver][1]}", file=sys.stderr)
        return 2
    if getattr(args, "dry_run", False):
        return _dry_run(planned, catalogue, spec)
    reports = Path(spec.reports or "reports")
    reports.mkdir(parents=True, exist_ok=True)
    junit, run_json, spec_json = reports / "junit-ics2.xml", reports / "run.json", reports / "run-spec.json"
    run_json.unlink(missing_ok=True)  # never summarise an earlier run's record
    write_json(spec_json, {**spec.as_json(), "suite": suite_json(catalogue)})
    pytest_args = [
        str(SUITE), "-p", "scenarios.plugin", "-p", "no:cacheprovider", "-q", "--no-header",
        f"--rootdir={SUITE.parents[1]}", f"--junitxml={junit}", "-o", "junit_family=xunit2",
        "-o", "console_output_style=classic",
        # the CLI imported pytest_bdd (scenario discovery) before pytest could rewrite its asserts: harmless
        "-W", "ignore:Module already imported so cannot be rewritten; pytest_bdd:pytest.PytestAssertRewriteWarning",
        f"--icssim-spec={spec_json}", f"--icssim-run-record={run_json}",
        f"--icssim-driver={spec.driver}", f"--icssim-pki-dir={Path(config.pki)}",
    ]
    if spec.keyword:
        pytest_args += ["-k", spec.keyword]
    parties = list(getattr(args, "party", None) or [])
    try:
        PkiFiles.load(Path(config.pki)).with_parties(parties)  # refuse a bad --party before anything starts
    except FileNotFoundError:
        pass  # no PKI yet: `icssim serve` makes it, and the parties are read again then
    except ValueError as exc:
        print(f"icssim conformance: {exc}", file=sys.stderr)
        return 2
    pytest_args += [f"--icssim-party={Path(p).resolve()}" for p in parties]
    if spec.driver == "manual":
        pytest_args.append("--capture=no")  # the instructions are for the person at this terminal
    if spec.driver_command:
        pytest_args.append(f"--icssim-driver-command={spec.driver_command}")
    if spec.driver_url:
        pytest_args.append(f"--icssim-driver-url={spec.driver_url}")
    if getattr(args, "driver_timeout", None):
        pytest_args.append(f"--icssim-driver-timeout={args.driver_timeout}")
    local: LocalSimulator | None = None
    try:
        if any(p.runs for p in planned):  # everything UNIMPLEMENTED: nothing needs a simulator
            control, trader_url, local = _simulator(args, config)
            register_parties(control, PkiFiles.load(Path(config.pki)).with_parties(parties), SAMPLE_PARTIES)
            pytest_args += [f"--icssim-control-url={control.url}", f"--icssim-token={control.token}",
                            f"--icssim-trader-url={trader_url}"]
        code = pytest.main(pytest_args)
    finally:
        if local is not None:
            local.stop()
    result = _summary(int(code), junit, run_json, spec_json)
    _publish(reports, run_json, Path(config.pki), spec)
    return result


def _publish(reports: Path, run_json: Path, pki_dir: Path, spec: RunSpec) -> None:
    """The reports a vendor hands over, rendered from the run record: Cucumber JSON and the HTML report,
    then the signed evidence pack of the whole reports directory (scenarios/evidence.py)."""
    if not run_json.is_file():
        return
    record = json.loads(run_json.read_text(encoding="utf-8"))
    for path in write_reports(record, reports):
        print(f"Report:       {path.resolve()}")
    capabilities = Path(spec.capabilities_file) if spec.capabilities_file else None
    try:
        pack = pack_from_run(reports, pki_dir=pki_dir, capabilities=capabilities)
    except (OSError, ValueError) as exc:  # e.g. a PKI made before the harness had a signing certificate
        print(f"no evidence pack: {exc} (run `icssim certs init` to add the harness's signing certificate)")
        return
    print(f"Evidence:     {pack.resolve()}  (check it with: icssim evidence verify {pack})")


def _simulator(args: argparse.Namespace, config: Any) -> tuple[SimControl, str, LocalSimulator | None]:
    if args.simulator:
        control = SimControl(args.simulator, args.token or config.token_file.read_text().strip())
        return control, args.trader_url or config.trader_url, None
    # `icssim serve` creates the default PKI when it is missing (simulator/serve.py, prepare).
    local = LocalSimulator(Path(config.var_dir), config.pki_dir)
    print(f"starting the simulator (trader {local.trader_url}, control {local.control_url}) ...")
    try:
        return local.start(), local.trader_url, local
    except BaseException:
        local.stop()
        raise


def _dry_run(planned: list[Planned], catalogue: Catalogue, spec: RunSpec) -> int:
    runs = sum(1 for p in planned if p.runs)
    print(f"dry run: {len(planned)} scenario(s) selected, {runs} would run, {len(planned) - runs} UNIMPLEMENTED "
          f"(no simulator started; driver {spec.driver})")
    for line in describe(planned, catalogue):
        print(line)
    if spec.keyword:
        print(f"note: -k {spec.keyword!r} is applied by pytest when the scenarios run, not in this listing")
    return 0


def _summary(code: int, junit: Path, run_json: Path, spec_json: Path) -> int:
    print("\nICS2 conformance scenarios")
    try:
        record = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(f"no run record was written (pytest exit code {code}); see the output above")
        print(f"JUnit report: {junit.resolve()}")
        return 1
    scenarios = record["scenarios"]
    for scenario in scenarios:
        if scenario["verdict"] == "OK" or scenario["outcome"] == "passed":
            continue
        failure = scenario.get("failure") or {}
        why = (failure.get("message") or scenario.get("unimplemented_because") or "").splitlines() or [""]
        print(f"  {scenario['verdict']:13} {scenario['id']}\n                {why[0][:200]}"
              + (f"\n                at step: {failure['step']}" if failure.get("step") else ""))
    ran = [s for s in scenarios if s["outcome"] in ("passed", "failed")]
    passed = sum(1 for s in ran if s["outcome"] == "passed")
    print("  " + ", ".join(f"{verdict} {record['summary'][verdict]}" for verdict in VERDICTS))
    print(f"\n{passed} passed, {len(ran) - passed} failed")
    print(f"JUnit report: {junit.resolve()}")
    print(f"Run record:   {run_json.resolve()}")
    print(f"Run spec:     {spec_json.resolve()}")
    if code not in (0, 1, 5):
        print(f"pytest stopped with exit code {code}")
        return 1
    if not record.get("complete", True):
        print("the run did not complete")
        return 1
    return 1 if record["summary"][FAILED] else 0
