"""Flask app factory. The only place (with the CLI) where configuration turns into a running app.

Roles: "trader" serves the customs endpoints the system under test talks to (behind TLS with
client certificates); "control" serves the `/_sim` control/journal API on its own loopback listener;
"all" serves both (tests with Flask's test client only).
"""

from __future__ import annotations

import importlib
import secrets
from typing import Protocol

from flask import Flask

from simulator.core.config import SimConfig
from simulator.core.context import EXTENSION_KEY, SimContext

# Profiles are plugged in by name; the core never imports them (DESIGN.md, "One core, two profiles").
PROFILES = {"ics2": "simulator.ics2.profile"}


class ProfileModule(Protocol):
    NAME: str

    def init_trader(self, app: Flask, ctx: SimContext) -> None: ...

    def init_control(self, app: Flask, ctx: SimContext) -> None: ...


def _profile(name: str) -> ProfileModule:
    module = importlib.import_module(PROFILES[name])
    return module  # type: ignore[return-value,unused-ignore]


def load_profiles() -> dict[str, ProfileModule]:
    """Import every profile (which also adds its tables to the store's schema)."""
    return {name: _profile(name) for name in PROFILES}


def create_app(config: SimConfig, *, role: str = "trader", create_schema: bool = True) -> Flask:
    if role not in ("trader", "control", "all"):
        raise ValueError(f"unknown role {role!r}")
    profiles = load_profiles()
    app = Flask("simulator")
    app.config["MAX_CONTENT_LENGTH"] = None  # the AS4 front enforces its own limit with an ebMS error
    app.config["ICSSIM_PROFILES"] = tuple(PROFILES)
    app.config["ICSSIM_CONTROL_TOKEN"] = config.control_token or _read_token(config)
    ctx = SimContext.open(config, create_schema=create_schema)
    app.extensions[EXTENSION_KEY] = ctx
    if role in ("control", "all"):
        from simulator.control.views import control, require_token
        from simulator.portal.views import init_portal

        app.before_request(require_token)
        app.register_blueprint(control)
        init_portal(app)  # the person's pages (manual driver) live on the control server only
    if role in ("trader", "all"):
        # A trivial endpoint behind the same TLS stack: liveness checks and the benchmark's ceiling.
        app.add_url_rule("/health", "trader_health", lambda: {"status": "ok"})
    for profile in profiles.values():
        if role in ("trader", "all"):
            profile.init_trader(app, ctx)
        if role in ("control", "all"):
            profile.init_control(app, ctx)
    return app


def _read_token(config: SimConfig) -> str | None:
    try:
        return config.token_file.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def ensure_control_token(config: SimConfig, *, fresh: bool = True) -> str:
    """The configured token, else a new one written to <var>/control-token (mode 0600).

    `icssim serve` makes a fresh one at every start; fresh=False reuses the file's token when present.
    """
    if config.control_token:
        return config.control_token
    existing = None if fresh else _read_token(config)
    if existing:
        return existing
    token = secrets.token_urlsafe(32)
    config.var_dir.mkdir(parents=True, exist_ok=True)
    path = config.token_file
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return token
