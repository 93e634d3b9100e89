"""The manual driver's page and instruction board (simulator/portal) through Flask's test client.

simulator/portal/views.py: the board (PUT/GET/DELETE /_sim/manual/instruction, POST /_sim/manual/answer)
and the page (GET /_sim/manual) live on the control server only, behind the control token: the bearer
header, or under /_sim/manual the HttpOnly SameSite=Strict cookie the page sets when opened once with
?token= (simulator/control/views.py, require_token). The token never appears in a page; what the harness
puts on the board is escaped; bad input is a JSON 400, an answer to a step that is not shown a 409.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from certs.pki import TestPki, init_test_pki
from simulator.app import create_app
from simulator.control.views import BROWSER_COOKIE
from simulator.core.config import load_config
from tests.unit.test_ics2_msh import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOSTILE = "<script>alert('pwned')</script>"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("portal-pki") / "pki")


def instruction(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "7-abc", "step": 7, "title": "File an IE3F32", "action": "file", "party": "trader-a",
        "eori": "BE0123456789", "expects": "IE3F32",
        "text": "File an IE3F32 as party trader-a (EORI BE0123456789) with this business data, LRN BELRN1.",
        "data": {"lrn": "BELRN1", "declarant": {"name": "Swift Parcel Europe NV"}},
        "started_at": "2024-05-01T10:00:00+00:00", "deadline_at": "2999-01-01T00:00:00Z"}
    body.update(overrides)
    return body


def login(client: FlaskClient) -> None:
    answer = client.get(f"/_sim/manual?token={TOKEN}")
    assert answer.status_code == 303, answer.get_data(as_text=True)


def _bad_request(response: Any, needle: str) -> None:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
    assert needle in response.get_json()["detail"]


# -- authentication ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/_sim/manual"), ("GET", "/_sim/manual/instruction"), ("PUT", "/_sim/manual/instruction"),
    ("DELETE", "/_sim/manual/instruction?id=x"), ("POST", "/_sim/manual/answer")])
def test_every_portal_path_needs_the_token(client: FlaskClient, method: str, path: str) -> None:
    assert client.open(path, method=method).status_code == 401
    client.set_cookie(BROWSER_COOKIE, "not-the-token", path="/_sim/manual")
    assert client.open(path, method=method).status_code == 401
    assert client.open(path + ("&" if "?" in path else "?") + "token=wrong", method=method).status_code == 401


def test_opening_the_page_with_the_token_sets_a_strict_httponly_cookie_and_drops_the_token(
        client: FlaskClient) -> None:
    answer = client.get(f"/_sim/manual?token={TOKEN}")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/_sim/manual"  # the token leaves the address bar and history
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{BROWSER_COOKIE}={TOKEN};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/_sim/manual"} <= {part.strip() for part in cookie.split(";")}
    page = client.get("/_sim/manual")  # the cookie alone now
    assert page.status_code == 200
    assert page.content_type == "text/html; charset=utf-8"
    assert TOKEN not in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/_sim/manual/instruction").status_code == 200
    assert client.post("/_sim/manual/answer", json={"id": "x", "outcome": "done"}).status_code == 409


def test_the_cookie_opens_the_manual_paths_only(client: FlaskClient) -> None:
    login(client)
    assert client.get("/_sim/manual/instruction").status_code == 200
    for path in ("/_sim/journal", "/_sim/outbox", "/_sim/clock", "/_sim/manualx"):
        assert client.get(path).status_code == 401, path
    # ?token= opens the page only, not the board
    client.delete_cookie(BROWSER_COOKIE, path="/_sim/manual")
    assert client.get(f"/_sim/manual/instruction?token={TOKEN}").status_code == 401


def test_a_wrong_query_token_beside_a_valid_cookie_sets_no_cookie(client: FlaskClient) -> None:
    login(client)
    answer = client.get("/_sim/manual?token=guess")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/_sim/manual")
    assert "Set-Cookie" not in answer.headers


def test_the_portal_is_served_by_the_control_server_only(pki: TestPki, tmp_path: Path) -> None:
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "pki_dir": pki.directory,
                                            "control_token": TOKEN})
    trader = create_app(config, role="trader").test_client()
    assert trader.get("/_sim/manual", headers=AUTH).status_code == 404
    assert trader.put("/_sim/manual/instruction", json=instruction(), headers=AUTH).status_code == 404


# -- the page ----------------------------------------------------------------------------------------------
def test_the_page_shows_the_instruction_and_escapes_what_the_harness_sent(client: FlaskClient) -> None:
    body = instruction(text=f"File it {HOSTILE}", data={"lrn": "BELRN1", "goods": HOSTILE}, party="<b>trader</b>")
    assert client.put("/_sim/manual/instruction", json=body, headers=AUTH).status_code == 200
    login(client)
    answer = client.get("/_sim/manual")
    html = answer.get_data(as_text=True)
    assert HOSTILE not in html and "<b>trader</b>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html  # in the text and in the data
    assert html.count("&lt;script&gt;") == 2
    assert "&lt;b&gt;trader&lt;/b&gt;" in html
    assert "BE0123456789" in html and "File an IE3F32" in html and "IE3F32" in html
    shown = re.search(r'<pre id="data">(.*?)</pre>', html, re.S)
    assert shown is not None
    assert json.loads(unescape(shown.group(1))) == body["data"]  # escaped, and only escaped
    assert '\n  "lrn": "BELRN1"' in unescape(shown.group(1))  # pretty-printed
    assert "Waiting for IE3F32 from BE0123456789 to reach the simulator." in html
    assert "Done</button>" in html and re.search(r"My\s+package cannot do this</button>", html)
    # Self-contained: no external assets; the only script and style run by the response's nonce.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    nonce = re.search(r"'nonce-([^']+)'", answer.headers["Content-Security-Policy"])
    assert nonce is not None
    assert re.findall(r"<script[^>]*>", html) == [f'<script nonce="{nonce.group(1)}">']
    assert re.findall(r"<style[^>]*>", html) == [f'<style nonce="{nonce.group(1)}">']
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert TOKEN not in html


def test_the_page_without_an_instruction_says_that_nothing_waits(client: FlaskClient) -> None:
    login(client)
    html = client.get("/_sim/manual").get_data(as_text=True)
    assert "No step is waiting for you" in html
    assert re.search(r'<section id="card" class="card" hidden>', html)


# -- the board ---------------------------------------------------------------------------------------------
def test_an_instruction_is_shown_answered_and_cleared(client: FlaskClient) -> None:
    state = client.put("/_sim/manual/instruction", json=instruction(), headers=AUTH).get_json()
    assert state["instruction"]["id"] == "7-abc" and state["answer"] is None
    assert state["instruction"]["data"] == {"lrn": "BELRN1", "declarant": {"name": "Swift Parcel Europe NV"}}
    assert state["instruction"]["deadline_at"] == "2999-01-01T00:00:00+00:00"
    assert state["seconds_left"] > 0
    assert state["status"] == {"tone": "waiting", "text": "Waiting for IE3F32 from BE0123456789 to reach the "
                                                          "simulator."}
    login(client)  # the page's answers come with the cookie
    done = client.post("/_sim/manual/answer", json={"id": "7-abc", "outcome": "done"})
    assert done.status_code == 200 and done.get_json()["answer"]["outcome"] == "done"
    state = client.get("/_sim/manual/instruction").get_json()
    assert (state["answer"]["outcome"], state["status"]["tone"]) == ("done", "done")
    assert "Still waiting for IE3F32 from BE0123456789" in state["status"]["text"]
    # a later answer replaces "done": the package failed after all
    client.post("/_sim/manual/answer", json={"id": "7-abc", "outcome": "cannot", "note": "  no IE3F32 here "})
    state = client.get("/_sim/manual/instruction").get_json()
    assert (state["answer"]["outcome"], state["answer"]["note"]) == ("cannot", "no IE3F32 here")
    assert state["status"]["tone"] == "cannot" and "(no IE3F32 here)" in state["status"]["text"]
    # the same id again updates the instruction and keeps the answer; a new id drops it
    client.put("/_sim/manual/instruction", json=instruction(title="File an IE3F32 now"), headers=AUTH)
    assert client.get("/_sim/manual/instruction").get_json()["answer"]["outcome"] == "cannot"
    client.put("/_sim/manual/instruction", json=instruction(id="8-def", step=8), headers=AUTH)
    assert client.get("/_sim/manual/instruction").get_json()["answer"] is None
    cleared = client.delete("/_sim/manual/instruction?id=8-def&result=IE3F32 arrived&ok=1", headers=AUTH)
    assert cleared.get_json() == {"cleared": True}
    state = client.get("/_sim/manual/instruction").get_json()
    assert (state["instruction"], state["answer"], state["seconds_left"]) == (None, None, None)
    assert state["status"]["tone"] == "idle"
    assert [(h["id"], h["step"], h["result"], h["ok"]) for h in state["history"]] == [
        ("8-def", 8, "IE3F32 arrived", True)]
    assert client.delete("/_sim/manual/instruction?id=8-def", headers=AUTH).get_json() == {"cleared": False}


def test_a_step_past_its_deadline_says_that_time_is_up(client: FlaskClient) -> None:
    client.put("/_sim/manual/instruction", json=instruction(deadline_at="2024-05-01T10:02:00Z"), headers=AUTH)
    state = client.get("/_sim/manual/instruction", headers=AUTH).get_json()
    assert state["seconds_left"] == 0
    assert state["status"] == {"tone": "late", "text": "Time is up: IE3F32 from BE0123456789 to reach the "
                                                       "simulator did not come in time."}


def test_an_answer_to_a_step_that_is_not_shown_is_a_409(client: FlaskClient) -> None:
    login(client)
    answer = client.post("/_sim/manual/answer", json={"id": "7-abc", "outcome": "cannot"})
    assert answer.status_code == 409
    assert answer.get_json() == {"error": "Conflict", "detail": "instruction '7-abc' is not the current one (no "
                                                                "instruction is shown)"}
    client.put("/_sim/manual/instruction", json=instruction(), headers=AUTH)
    assert client.post("/_sim/manual/answer", json={"id": "6-old", "outcome": "done"}).status_code == 409
    client.delete("/_sim/manual/instruction?id=7-abc", headers=AUTH)
    assert client.post("/_sim/manual/answer", json={"id": "7-abc", "outcome": "done"}).status_code == 409


@pytest.mark.parametrize(("body", "needle"), [
    (instruction(eori=None), "'eori' is required"),
    (instruction(title=""), "'title' is required"),
    (instruction(text=12), "'text' must be a string"),
    (instruction(step=-1), "'step' must be a whole number >= 0"),
    (instruction(step=True), "'step' must be a whole number >= 0"),
    (instruction(deadline_at="tomorrow"), "'deadline_at' must be an ISO 8601 date-time"),
    (instruction(deadline_at="2024-05-01T10:00:00"), "'deadline_at' must carry its UTC offset"),
    (instruction(deadline_at="2024-04-30T10:00:00Z"), "'deadline_at' is before 'started_at'"),
    (instruction(colour="red"), "'colour' is not a key of an instruction"),
    (["not", "an", "object"], "the request body must be a JSON object"),
])
def test_a_bad_instruction_is_a_400(client: FlaskClient, body: Any, needle: str) -> None:
    _bad_request(client.put("/_sim/manual/instruction", json=body, headers=AUTH), needle)
    assert client.get("/_sim/manual/instruction", headers=AUTH).get_json()["instruction"] is None


def test_a_body_that_is_not_json_is_a_400(client: FlaskClient) -> None:
    _bad_request(client.put("/_sim/manual/instruction", data="{not json", content_type="application/json",
                            headers=AUTH), "not valid JSON")
    _bad_request(client.put("/_sim/manual/instruction", data="id=1", headers=AUTH,
                            content_type="application/x-www-form-urlencoded"), "must be JSON")
    login(client)
    # a cross-site form cannot post JSON: a form-encoded answer is refused even with the cookie
    _bad_request(client.post("/_sim/manual/answer", data={"id": "7-abc", "outcome": "done"}), "must be JSON")


@pytest.mark.parametrize(("body", "needle"), [
    ({"id": "7-abc", "outcome": "maybe"}, "'outcome' must be one of done, cannot, got 'maybe'"),
    ({"id": "7-abc"}, "'outcome' must be one of done, cannot, got None"),
    ({"outcome": "done"}, "'id' is required"),
    ({"id": "7-abc", "outcome": "cannot", "note": ["x"]}, "'note' must be a string"),
    ({"id": "7-abc", "outcome": "done", "mood": "fine"}, "'mood' is not a key of an answer"),
])
def test_a_bad_answer_is_a_400(client: FlaskClient, body: Any, needle: str) -> None:
    client.put("/_sim/manual/instruction", json=instruction(), headers=AUTH)
    _bad_request(client.post("/_sim/manual/answer", json=body, headers=AUTH), needle)
    assert client.get("/_sim/manual/instruction", headers=AUTH).get_json()["answer"] is None


@pytest.mark.parametrize(("query", "needle"), [
    ("", "'id' (the instruction to clear) is required"),
    ("?id=7-abc&ok=maybe", "'ok' must be 1 or 0"),
    (f"?id=7-abc&result={'x' * 2001}", "'result' is longer than 2000 characters"),
])
def test_a_bad_clear_is_a_400(client: FlaskClient, query: str, needle: str) -> None:
    client.put("/_sim/manual/instruction", json=instruction(), headers=AUTH)
    _bad_request(client.delete("/_sim/manual/instruction" + query, headers=AUTH), needle)
    assert client.get("/_sim/manual/instruction", headers=AUTH).get_json()["instruction"]["id"] == "7-abc"
