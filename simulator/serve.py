"""Run the simulator: two gunicorn servers under one supervisor.

- trader listener: gthread workers (one per core), TLS >= 1.2 with REQUIRED client certificates
  checked against the test PKI's root and CRL (domain/ics2.md, Transport: mandatory two-way TLS);
  the client certificate reaches the app from the TLS socket (environ["gunicorn.socket"]).
- control listener: plain HTTP bound to loopback, bearer token (DESIGN.md, control API).

`serve(config)` blocks until SIGINT/SIGTERM; `python -m simulator.serve --role R --config-json F`
runs one of the two servers (the supervisor starts them this way).
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from simulator.core.config import SimConfig, config_to_json, load_config


class _Gunicorn(BaseApplication):
    def __init__(self, config: SimConfig, role: str, options: dict[str, Any]) -> None:
        self._sim_config = config
        self._role = role
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        import logging

        from simulator.app import create_app

        # The app's own log lines (e.g. an unexpected failure answered with EBMS:0004) go to the
        # server's error log.
        app_log = logging.getLogger("simulator")
        app_log.handlers = logging.getLogger("gunicorn.error").handlers
        app_log.setLevel(logging.INFO)
        # Each worker builds its own app: keys, schemas and DB connections once per process.
        return create_app(self._sim_config, role=self._role, create_schema=False)


def _trader_ssl_context(config: SimConfig) -> ssl.SSLContext:
    pki = config.pki
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca" / "root.pem"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(pki / "server" / "tls.pem"), str(pki / "server" / "tls.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    crl = pki / "ca" / "crl.pem"
    if crl.exists():
        context.load_verify_locations(cafile=str(crl))
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def _options(config: SimConfig, role: str) -> dict[str, Any]:
    logs = config.var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {
        "worker_class": "gthread",
        "timeout": 120,
        "graceful_timeout": 10,
        "keepalive": 75,
        "errorlog": str(logs / f"{role}.log"),
        "loglevel": "warning",
        "accesslog": None,
        "proc_name": f"icssim-{role}",
    }
    if role == "control":
        return {**common, "bind": [f"{config.control_host}:{config.control_port}"], "workers": 1,
                "threads": 8}
    cached: dict[str, ssl.SSLContext] = {}

    def ssl_context(_conf: Any, _default: Any) -> ssl.SSLContext:
        # gunicorn asks for a context per connection; build it once per worker.
        if "ctx" not in cached:
            cached["ctx"] = _trader_ssl_context(config)
        return cached["ctx"]

    pki = config.pki
    return {**common, "bind": [f"{config.trader_host}:{config.trader_port}"],
            "worker_class": config.worker_class, "workers": config.worker_count, "threads": config.threads,
            "certfile": str(pki / "server" / "tls.pem"), "keyfile": str(pki / "server" / "tls.key"),
            "ca_certs": str(pki / "ca" / "root.pem"), "cert_reqs": ssl.CERT_REQUIRED,
            "ssl_context": ssl_context, "worker_connections": 1000, "backlog": 2048}


def run_role(config: SimConfig, role: str) -> None:
    _Gunicorn(config, role, _options(config, role)).run()


def prepare(config: SimConfig) -> Path:
    """Everything a start needs before the servers fork: PKI, schema, clock, token, resolved config."""
    from certs.pki import init_test_pki
    from simulator.app import ensure_control_token, load_profiles
    from simulator.core.context import SimContext

    load_profiles()
    if config.pki_dir is None:  # the default PKI is ours to create; a given one must already exist
        init_test_pki(config.pki)
    ctx = SimContext.open(config)
    if ctx.clock.state().mode != config.clock_mode or config.clock_start:
        ctx.clock.reset(config.clock_mode, config.clock_start)
    ctx.store.dispose()
    token = ensure_control_token(config)
    resolved = {**config_to_json(config), "control_token": token}
    path = config.var_dir / "run-config.json"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(resolved, indent=2), encoding="utf-8")
    return path


def wait_ready(config: SimConfig, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"{config.control_url}/_sim/health"
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL)
                if response.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"simulator not ready at {url}: {last}")


def serve(config: SimConfig) -> int:
    """Supervise both servers until a signal arrives or one of them exits."""
    resolved = prepare(config)
    children = [
        subprocess.Popen([sys.executable, "-m", "simulator.serve", "--role", role,
                          "--config-json", str(resolved)])
        for role in ("control", "trader")
    ]
    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = 0
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    code = child.returncode or 1
                    stopping = True
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator.serve")
    parser.add_argument("--role", choices=("trader", "control"), required=True)
    parser.add_argument("--config-json", type=Path, required=True)
    args = parser.parse_args(argv)
    overrides = json.loads(args.config_json.read_text(encoding="utf-8"))
    config = load_config(env={}, overrides=overrides)
    run_role(config, args.role)


if __name__ == "__main__":
    main()
