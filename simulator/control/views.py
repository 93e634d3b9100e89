"""Control and journal API (`/_sim/...`), in the spirit of moto's `/moto-api`.

Served on its own listener bound to loopback, never on the trader listener, and protected by a bearer
token generated at start (written to <var>/control-token). The harness sets the scene and reads what
the system under test sent only through this API, so it works against a remote simulator too.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from simulator.core import journal as journal_api
from simulator.core import outbox as outbox_api
from simulator.core.context import sim_context
from simulator.core.faults import KINDS as FAULT_KINDS
from simulator.core.faults import FaultBook
from simulator.trust.registry import PartyRegistry, certificate_sha256, load_pem_certificate

control = Blueprint("control", __name__, url_prefix="/_sim")

# Profiles plug their own control endpoints into this blueprint's URL space via their own blueprints;
# the generic ones below know no profile.


# A browser sends no bearer header: the person's page (simulator/portal) is opened once with the token in
# its query, which sets it as this cookie (HttpOnly, SameSite=Strict), accepted under BROWSER_PATH only.
BROWSER_PATH = "/_sim/manual"
BROWSER_COOKIE = "icssim_control_token"


def require_token() -> None:
    """App-wide guard of every /_sim path (profiles' control blueprints included), except health.

    The bearer header everywhere; under /_sim/manual also the cookie equal to the token, and for opening
    the page itself (GET /_sim/manual) the ``token`` query parameter."""
    if not request.path.startswith("/_sim") or request.endpoint == "control.health":
        return
    expected = current_app.config.get("ICSSIM_CONTROL_TOKEN")
    given = request.headers.get("Authorization", "")
    if expected and hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return
    if request.path == BROWSER_PATH or request.path.startswith(BROWSER_PATH + "/"):
        offered = [request.cookies.get(BROWSER_COOKIE, "")]
        if request.path == BROWSER_PATH and request.method == "GET":
            offered.append(request.args.get("token", ""))
        if expected and any(value and hmac.compare_digest(value.encode(), expected.encode()) for value in offered):
            return
        abort(401, description="missing or wrong token: open the page as /_sim/manual?token=<the token in "
                               "<var>/control-token>")
    abort(401, description="missing or wrong bearer token (see <var>/control-token)")


@control.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(error=exc.name, detail=exc.description), exc.code or 500


@control.app_errorhandler(ValueError)
def _bad_value(exc: ValueError) -> tuple[Response, int]:
    return jsonify(error="Bad Request", detail=str(exc)), 400


def _json() -> dict[str, Any]:
    """The JSON object of the request; an empty body is {}; anything else malformed is a 400."""
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    return data


@control.get("/health")
def health() -> Response:
    return jsonify(status="ok")


@control.post("/reset")
def reset() -> Response:
    data = _json()
    ctx = sim_context()
    ctx.reset_scene(parties=bool(data.get("parties", False)))
    return jsonify(status="reset", clock=ctx.clock.state().now().isoformat())


@control.get("/clock")
def clock_get() -> Response:
    state = sim_context().clock.state()
    return jsonify(mode=state.mode, now=state.now().isoformat(), offset_seconds=state.offset_seconds)


@control.post("/clock/advance")
def clock_advance() -> Response:
    raw = _json().get("seconds", 0)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("'seconds' must be a number")
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"'seconds' must be a number, got {raw!r}") from None
    ctx = sim_context()
    state = ctx.clock.advance(seconds)
    for hook in ctx.clock_hooks:  # e.g. lifecycle timers now due (completion timer, 200-day expiry)
        hook(state.now())
    return jsonify(mode=state.mode, now=state.now().isoformat(), offset_seconds=state.offset_seconds)


def _registry(profile: str) -> PartyRegistry:
    if profile not in current_app.config.get("ICSSIM_PROFILES", ()):
        abort(404, description=f"no profile {profile!r} on this simulator")
    return PartyRegistry(sim_context().store, profile)


@control.get("/<profile>/parties")
def parties_list(profile: str) -> Response:
    return jsonify(parties=_registry(profile).list_parties())


@control.post("/<profile>/parties")
def parties_register(profile: str) -> tuple[Response, int]:
    """Register a certificate for a party: {"party": EORI, "certificate": PEM, "purpose": sealing|tls}."""
    data = _json()
    party = str(data.get("party") or data.get("eori") or "").strip()
    if not party:
        raise ValueError("'party' (the EORI) is required")
    cert = load_pem_certificate(str(data.get("certificate", "")))
    record = _registry(profile).register(
        party, cert, purpose=str(data.get("purpose", "sealing")), at=sim_context().clock.now(),
        name=data.get("name"),
    )
    return jsonify(party=record.party, purpose=record.purpose, sha256=record.sha256,
                   subject=record.subject, registered_at=record.registered_at), 201


@control.post("/<profile>/parties/<party>/revoke")
def parties_revoke(profile: str, party: str) -> Response:
    """End a registration: {"sha256": hex} or {"certificate": PEM}; optional "purpose"."""
    data = _json()
    sha = data.get("sha256") or (certificate_sha256(load_pem_certificate(data["certificate"]))
                                 if data.get("certificate") else None)
    if not sha:
        raise ValueError("give 'sha256' or 'certificate'")
    count = _registry(profile).revoke(party, str(sha), at=sim_context().clock.now(),
                                      purpose=data.get("purpose"))
    if count == 0:
        abort(404, description=f"no active registration of {sha} for {party}")
    return jsonify(revoked=count)


@control.get("/journal")
def journal_list() -> Response:
    args = request.args
    entries = journal_api.query(
        sim_context().store,
        since_id=int(args.get("since_id", 0)),
        limit=int(args.get("limit", 200)),
        include_raw=args.get("raw", "0") in ("1", "true"),
        **{name: args.get(name) for name in ("profile", "direction", "kind", "message_id",
                                             "ref_to_message_id", "correlation", "sender", "queue",
                                             "verdict", "action")},
    )
    return jsonify(entries=entries)


@control.get("/journal/stats")
def journal_stats() -> Response:
    """Counts of journal entries by direction, kind and verdict (for load gates and benchmarks)."""
    return jsonify(counts=journal_api.counts(sim_context().store))


@control.get("/journal/<int:entry_id>/raw")
def journal_raw(entry_id: int) -> Response:
    found = journal_api.entry_raw(sim_context().store, entry_id)
    if found is None:
        abort(404, description=f"no raw message for journal entry {entry_id}")
    raw, content_type = found
    return Response(raw, content_type=content_type)


@control.get("/outbox")
def outbox_list() -> Response:
    return jsonify(messages=outbox_api.listing(sim_context().store, queue=request.args.get("queue")))


# -- injected faults (simulator/core/faults.py) ------------------------------------------------------------
def _faults() -> FaultBook:
    ctx = sim_context()
    return FaultBook(ctx.store, ctx.config.seed)


@control.get("/<profile>/faults")
def faults_list(profile: str) -> Response:
    """The faults of the scene and how often each has applied; `kinds` explains each kind."""
    return jsonify(faults=_faults().listing(profile), kinds=FAULT_KINDS)


@control.post("/<profile>/faults")
def faults_add(profile: str) -> tuple[Response, int]:
    """Inject a fault: {"kind", "party"?, "action"? (pattern), "count"?, "probability"?, "seconds"?,
    "start"?, "end"?}; wiped by a scene reset."""
    if profile not in current_app.config["ICSSIM_PROFILES"]:
        abort(404, description=f"unknown profile {profile!r}")
    row = _faults().add(profile, _json(), now=sim_context().clock.now())
    return jsonify(row), 201


@control.delete("/<profile>/faults")
def faults_clear(profile: str) -> Response:
    """Remove every fault (or ?id=N only)."""
    raw = request.args.get("id")
    if raw is not None and not raw.isdigit():
        raise ValueError("id must be a whole number")
    return jsonify(removed=_faults().clear(int(raw) if raw is not None else None))
