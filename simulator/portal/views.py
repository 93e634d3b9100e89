"""The manual driver's page and its instruction board, under /_sim/manual on the control server.

- ``GET /_sim/manual``: the page a person keeps open while rehearsing (simulator/portal/page.py).
  Opened once as ``/_sim/manual?token=<control token>``: the answer sets the token as an HttpOnly,
  SameSite=Strict cookie limited to /_sim/manual and redirects to the bare URL, so that the token
  leaves the address bar and the history and is never part of a page.
- ``PUT /_sim/manual/instruction`` (the harness): put an instruction up (simulator/portal/board.py);
  ``DELETE ...?id=&result=&ok=`` takes it down with its result; ``GET`` reads the board (the page's
  refresh, the harness's look at the person's answer).
- ``POST /_sim/manual/answer`` (the page): ``{"id", "outcome": "done" | "cannot", "note"}``.

Every path is behind the control token (simulator/control/views.py ``require_token``: the bearer header,
or under /_sim/manual the cookie). Bad input is a JSON 400, an answer to a step that is not shown a 409.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from simulator.control.views import BROWSER_COOKIE, BROWSER_PATH
from simulator.portal.board import BoardConflict, InstructionBoard, parse_answer, parse_instruction
from simulator.portal.page import render_page

BOARD_KEY = "icssim.portal.board"
MAX_BODY_BYTES = 2 * 2**20  # an instruction carries one dataset; anything bigger is a mistake

portal = Blueprint("portal", __name__, url_prefix=BROWSER_PATH)

# The page runs only its own inline style and script (by nonce) and talks only to this server.
_CSP = ("default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def init_portal(app: Flask) -> None:
    """Give the control app its (empty) board and the portal's routes."""
    app.extensions[BOARD_KEY] = InstructionBoard()
    app.register_blueprint(portal)


def board() -> InstructionBoard:
    found = current_app.extensions[BOARD_KEY]
    assert isinstance(found, InstructionBoard)
    return found


@portal.after_request
def _private(response: Response) -> Response:
    """Nothing here is cached or leaks through a Referer; nothing may be framed or sniffed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _state(state: dict[str, Any]) -> Response:
    """The board as JSON, business data in the order the harness sent it (jsonify would sort the keys, and
    the page would show them in another order after its first refresh)."""
    return Response(json.dumps(state, ensure_ascii=False), content_type="application/json")


def _json_body() -> Any:
    """The parsed JSON body; ValueError (a 400) when there is none, or it is not JSON."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        abort(413, description=f"the body exceeds {MAX_BODY_BYTES} bytes")
    if not request.is_json:
        raise ValueError("the request body must be JSON (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if data is None:
        raise ValueError("the request body is not valid JSON")
    return data


# -- the page ---------------------------------------------------------------------------------------------
@portal.get("")
def page() -> ResponseReturnValue:
    offered = request.args.get("token")
    if offered is not None:
        # Reached with a token in the query (require_token checked a credential): keep it as the cookie
        # when it is the token, then drop it from the URL either way.
        response = redirect(url_for("portal.page"), code=303)
        expected = str(current_app.config.get("ICSSIM_CONTROL_TOKEN") or "")
        if expected and hmac.compare_digest(offered.encode(), expected.encode()):
            response.set_cookie(BROWSER_COOKIE, expected, path=BROWSER_PATH, httponly=True, samesite="Strict")
        return response
    nonce = secrets.token_urlsafe(18)
    html = render_page(board().state(), nonce=nonce, state_url=url_for("portal.instruction_get"),
                       answer_url=url_for("portal.answer"))
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = _CSP.format(nonce=nonce)
    return response


# -- the board --------------------------------------------------------------------------------------------
@portal.get("/instruction")
def instruction_get() -> Response:
    """The board: the instruction (or null), the person's answer (or null), time left, status, history."""
    return _state(board().state())


@portal.put("/instruction")
def instruction_put() -> Response:
    """Put an instruction up: {"id", "step", "title", "text", "action", "party", "eori", "expects",
    "awaiting", "data", "started_at", "deadline_at"}; the same id again updates it."""
    current = board()
    current.show(parse_instruction(_json_body()))
    return _state(current.state())


@portal.delete("/instruction")
def instruction_delete() -> Response:
    """Take the instruction ``id`` down, with ``result`` (words) and ``ok`` (1/0) for the history;
    ``cleared`` is false when it was not the current one."""
    instruction_id = request.args.get("id", "")
    if not instruction_id:
        raise ValueError("'id' (the instruction to clear) is required")
    result = request.args.get("result") or None
    if result is not None and len(result) > 2000:
        raise ValueError("'result' is longer than 2000 characters")
    flag = request.args.get("ok")
    if flag not in (None, "1", "0", "true", "false"):
        raise ValueError(f"'ok' must be 1 or 0, got {flag!r}")
    ok = None if flag is None else flag in ("1", "true")
    return jsonify(cleared=board().clear(instruction_id, result=result, ok=ok))


@portal.post("/answer")
def answer() -> Response:
    """The person's answer to the current instruction; 409 when ``id`` is not the one shown."""
    instruction_id, outcome, note = parse_answer(_json_body())
    try:
        recorded = board().answer(instruction_id, outcome, note)
    except BoardConflict as exc:
        abort(409, description=str(exc))
    return jsonify(id=instruction_id, answer=recorded.to_json())
