"""Simulator configuration: defaults -> file -> ICSSIM_* environment -> explicit overrides.

Configuration is read only by `load_config` (called from `create_app` callers and the CLI), never at
import time (DESIGN.md, "Rules of the house": Config).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "ICSSIM_"


@dataclass(frozen=True)
class SimConfig:
    """Every setting of the simulator. See the configuration table in README.md."""

    var_dir: Path = Path("var")
    pki_dir: Path | None = None  # default: <var_dir>/pki
    database_url: str | None = None  # default: SQLite (WAL) at <var_dir>/icssim.db
    # Trader-facing listener: TLS with required client certificates (domain/ics2.md, Transport).
    trader_host: str = "127.0.0.1"
    trader_port: int = 8443
    # Control/journal API: its own plain listener, loopback only, bearer token.
    control_host: str = "127.0.0.1"
    control_port: int = 8480
    workers: int = 0  # 0 = one per core
    threads: int = 8
    worker_class: str = "gthread"  # gunicorn worker: gthread (threads) or gevent (greenlets)
    # Set to a directory of official ICS2 XSDs to validate against them instead of ours.
    official_xsd_dir: Path | None = None
    # AS4 size limits (ICD Annex 2: 100 MB uncompressed / 20 MB compressed recommended maximum).
    max_envelope_bytes: int = 25 * 2**20
    max_compressed_bytes: int = 20 * 2**20
    max_uncompressed_bytes: int = 100 * 2**20
    # "normal": durable across process crashes (WAL); "full": also across power loss (fsync per commit).
    journal_sync: str = "normal"
    # Simulated clock: "running" follows the wall clock plus any advance; "frozen" moves only when
    # advanced, for byte-identical replays. clock_start (ISO 8601) fixes the start of a frozen clock.
    clock_mode: str = "running"
    clock_start: str | None = None
    seed: int = 0
    mrn_country: str = "BE"
    # ICS2 completion timer of a partial ENS (domain/ics2.md "ENS lifecycle": value unverified).
    completion_timer_seconds: int = 86400
    # A pulled message that got no valid receipt is offered again after this long (reception awareness).
    pull_redelivery_seconds: int = 300
    pull_max_deliveries: int = 3
    # Push delivery to a trader's own AS4 endpoint (domain/ics2.md "AS4 profile": reception awareness
    # with retries): attempt n failing schedules attempt n+1 after push_retry_seconds * 2**(n-1) of
    # SIMULATED time; after push_max_attempts failed attempts the message is undelivered.
    push_retry_seconds: int = 30
    push_max_attempts: int = 5
    push_timeout_seconds: float = 30.0  # real seconds to connect and to wait for the receipt
    # The control server's background thread (push dispatch, ...) runs its hooks this often, in real
    # seconds; 0 disables it (advancing the simulated clock still drives them).
    background_interval_seconds: float = 0.5
    # The TLS client certificate must be registered for the party that signs (EBMS:0004 / A001).
    require_tls_party_match: bool = True
    control_token: str | None = None  # default: generated at start, written to <var_dir>/control-token
    extra: Mapping[str, Any] = field(default_factory=dict)

    # -- derived paths -------------------------------------------------------------------------------
    @property
    def pki(self) -> Path:
        return self.pki_dir if self.pki_dir is not None else self.var_dir / "pki"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'icssim.db').resolve()}"

    @property
    def token_file(self) -> Path:
        return self.var_dir / "control-token"

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)

    @property
    def trader_url(self) -> str:
        return f"https://{_url_host(self.trader_host)}:{self.trader_port}"

    @property
    def control_url(self) -> str:
        return f"http://{_url_host(self.control_host)}:{self.control_port}"


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


_FIELDS = {f.name: f for f in dataclasses.fields(SimConfig) if f.name != "extra"}


def _coerce(name: str, value: Any) -> Any:
    """Turn a file/env/CLI value into the field's type; raises ValueError naming the setting."""
    if value is None:
        return None
    kind = str(_FIELDS[name].type)
    try:
        if "Path" in kind:
            return Path(value)
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false, yes/no, on/off or 1/0")
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"setting {name!r}: cannot use {value!r} ({exc})") from exc


def load_config(
    file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SimConfig:
    """Build the configuration in the documented order of precedence.

    `file` is a TOML file whose top-level keys (or `[simulator]` table) are field names; when not given,
    ICSSIM_CONFIG names one. Environment variables are ICSSIM_<FIELD> in upper case.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    file = file or (Path(env["ICSSIM_CONFIG"]) if env.get("ICSSIM_CONFIG") else None)
    if file is not None:
        data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        data = data.get("simulator", data)
        for key, value in data.items():
            if key not in _FIELDS:
                raise ValueError(f"{file}: unknown setting {key!r}")
            values[key] = _coerce(key, value)
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _FIELDS:
            raise ValueError(f"unknown setting {key!r}")
        values[key] = _coerce(key, value)
    config = SimConfig(**values)
    _check(config)
    return config


def _check(config: SimConfig) -> None:
    if config.journal_sync not in ("normal", "full"):
        raise ValueError("setting 'journal_sync' must be 'normal' or 'full'")
    if config.worker_class not in ("gthread", "gevent"):
        raise ValueError("setting 'worker_class' must be 'gthread' or 'gevent'")
    if config.clock_mode not in ("running", "frozen"):
        raise ValueError("setting 'clock_mode' must be 'running' or 'frozen'")
    if not 0 <= config.background_interval_seconds < float("inf"):
        raise ValueError("setting 'background_interval_seconds' must be a finite number >= 0 (0 disables)")
    if not 0 < config.push_timeout_seconds < float("inf"):
        raise ValueError("setting 'push_timeout_seconds' must be a finite number > 0")
    if config.push_max_attempts < 1 or config.push_retry_seconds < 0:
        raise ValueError("settings 'push_max_attempts' must be >= 1 and 'push_retry_seconds' >= 0")


def config_to_json(config: SimConfig) -> dict[str, Any]:
    """A JSON-safe view (used to hand the resolved configuration to server processes)."""
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(config, name)
        out[name] = str(value) if isinstance(value, Path) else value
    return out
