"""Control endpoints for ICS2 party profiles and representations (`/_sim/ics2/...`).

The harness records here what a trader tells the TI at enrolment (ICD §5.1.1: pull or push and the
access point URL; §5.3: notification preferences) and who represents whom, before a scenario runs.
Views only parse and serialise; checks live in simulator/ics2/parties.py. Bad input is a JSON 400
naming the field (DESIGN.md "Bad input gets a precise protocol answer"), never a 500. The control app
guards every /_sim path with its bearer token (simulator/control/views.py require_token).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from simulator.core.context import sim_context
from simulator.ics2.parties import PartyProfiles, make_profile, require_eori, require_party_id

ics2_parties_control = Blueprint("ics2_parties_control", __name__, url_prefix="/_sim/ics2")
PROFILE_FIELDS = frozenset({"roles", "channel", "ap_url", "wants"})


@ics2_parties_control.errorhandler(ValueError)
def _bad_value(exc: ValueError) -> tuple[Response, int]:
    return jsonify(error="Bad Request", detail=str(exc)), 400


def _profiles() -> PartyProfiles:
    return PartyProfiles(sim_context().store)


def _json_object() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    return data


def _eori_arg(name: str) -> str:
    value = request.args.get(name)
    if value is None:
        raise ValueError(f"query argument {name!r} (an EORI) is required")
    return require_eori(value, name)


# -- profiles -----------------------------------------------------------------------------------------
@ics2_parties_control.put("/parties/<party_id>/profile")
def profile_put(party_id: str) -> Response:
    """Record a party's profile (replaces any earlier one): {"roles": [...], "channel": "pull"|"push",
    "ap_url": https URL (required for push), "wants": [c2t message ids]}; missing fields take the
    defaults (no roles, pull, no URL, nothing optional)."""
    data = _json_object()
    unknown = sorted(set(data) - PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; a profile has {sorted(PROFILE_FIELDS)}")
    profile = make_profile(party_id, roles=data.get("roles", []), channel=data.get("channel", "pull"),
                           ap_url=data.get("ap_url"), wants=data.get("wants", []))
    ctx = sim_context()
    stored = PartyProfiles(ctx.store).put(profile, at=ctx.clock.now())
    return jsonify(stored.as_json())


@ics2_parties_control.get("/parties/<party_id>/profile")
def profile_get(party_id: str) -> Response:
    """The profile that applies to a party (its own, its EORI's, or the default: "recorded": false)."""
    require_party_id(party_id)
    with sim_context().store.read() as conn:
        profile = _profiles().get(conn, party_id)
    return jsonify(profile.as_json())


@ics2_parties_control.delete("/parties/<party_id>/profile")
def profile_delete(party_id: str) -> tuple[Response, int]:
    if not _profiles().delete(require_party_id(party_id)):
        return jsonify(error="Not Found", detail=f"no profile recorded for {party_id}"), 404
    return Response(status=204), 204


@ics2_parties_control.get("/profiles")
def profiles_list() -> Response:
    return jsonify(profiles=_profiles().listing())


# -- representations ----------------------------------------------------------------------------------
@ics2_parties_control.post("/representations")
def representation_add() -> tuple[Response, int]:
    """Record that a representative acts for a declarant: {"representative": EORI, "declarant": EORI}."""
    data = _json_object()
    unknown = sorted(set(data) - {"representative", "declarant"})
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; give 'representative' and 'declarant'")
    for name in ("representative", "declarant"):
        if name not in data:
            raise ValueError(f"{name!r} (an EORI) is required")
    _profiles().add_representation(data["representative"], data["declarant"])
    return jsonify(representative=data["representative"], declarant=data["declarant"]), 201


@ics2_parties_control.delete("/representations")
def representation_remove() -> tuple[Response, int]:
    """End a representation: ?representative=EORI&declarant=EORI -> 204, or 404 if there was none."""
    representative, declarant = _eori_arg("representative"), _eori_arg("declarant")
    if not _profiles().remove_representation(representative, declarant):
        return jsonify(error="Not Found",
                       detail=f"{representative} is not recorded as representing {declarant}"), 404
    return Response(status=204), 204


@ics2_parties_control.get("/representations")
def representations_list() -> Response:
    """Recorded representations; optional filters ?representative=EORI, ?declarant=EORI."""
    return jsonify(representations=_profiles().representations(
        representative=request.args.get("representative"), declarant=request.args.get("declarant")))
