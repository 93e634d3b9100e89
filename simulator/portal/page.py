"""The manual driver's page (/_sim/manual): one self-contained HTML document, no external assets.

The server renders the board's state once (Jinja autoescaping: every value the harness sent, business
data included, is escaped); the inline script then fetches the state as JSON every second and updates
the same elements through ``textContent`` only, so nothing from the board is ever parsed as HTML. The
inline style and script carry the response's CSP nonce (simulator/portal/views.py).
"""

from __future__ import annotations

import json
from typing import Any

from flask import render_template_string


def format_left(seconds: float | None) -> str:
    """"1 min 05 s left" (the script's clock() writes the same)."""
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest:02d} s left" if minutes else f"{rest} s left"


def pretty(data: Any) -> str:
    """Business data as the person reads it: indented JSON (the script's JSON.stringify(data, null, 2))."""
    return "(none)" if data is None else json.dumps(data, indent=2, ensure_ascii=False)


def render_page(state: dict[str, Any], *, nonce: str, state_url: str, answer_url: str) -> str:
    instruction = state["instruction"] or {}
    answer = state["answer"] or {}
    return render_template_string(
        _TEMPLATE, state=state, ins=instruction, outcome=answer.get("outcome"), nonce=nonce,
        state_url=state_url, answer_url=answer_url, data_text=pretty(instruction.get("data")),
        left=format_left(state["seconds_left"]))


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>icssim · manual step{% if ins %} {{ ins.step }}: {{ ins.title }}{% endif %}</title>
<style nonce="{{ nonce }}">{% raw %}
:root { --ink: #1d2433; --muted: #5b6475; --line: #d9dee8; --paper: #f4f6fa; --brand: #0b3d91;
        --ok: #1e7d46; --warn: #9a6200; --bad: #b3261e; --info: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
       color: var(--ink); background: var(--paper); }
header { background: var(--brand); color: #fff; padding: .8rem 1.5rem; display: flex; gap: 1rem;
         align-items: baseline; flex-wrap: wrap; }
header strong { font-size: 1.15rem; letter-spacing: .02em; }
header span { opacity: .85; font-size: .95rem; }
main { max-width: 960px; margin: 1.5rem auto; padding: 0 1rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 1.4rem 1.6rem;
        box-shadow: 0 1px 3px rgba(20, 30, 60, .06); margin-bottom: 1.2rem; }
.step { color: var(--muted); font-size: .9rem; text-transform: uppercase; letter-spacing: .06em; }
.step code { text-transform: none; letter-spacing: 0; }
h1 { font-size: 1.5rem; margin: .2rem 0 .6rem; }
h2 { font-size: 1.05rem; margin: 1.3rem 0 .5rem; }
.card > h2:first-child { margin-top: 0; }
.instruction { font-size: 1.1rem; margin: 0 0 1rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.2rem; margin: 0 0 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-weight: 600; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
pre { background: #f7f8fb; border: 1px solid var(--line); border-radius: 8px; padding: .9rem 1rem;
      max-height: 55vh; overflow: auto; font-size: .86rem; line-height: 1.45; margin: 0; white-space: pre; }
.status { border-radius: 8px; padding: .75rem 1rem; margin: 0 0 1rem; border-left: 6px solid;
          display: flex; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
.status .left { font-variant-numeric: tabular-nums; font-weight: 600; white-space: nowrap; }
.status.waiting { background: #fff6e5; border-color: var(--warn); }
.status.done { background: #e9f1fd; border-color: var(--info); }
.status.cannot, .status.late { background: #fdecea; border-color: var(--bad); }
.status.idle { background: #eef0f4; border-color: #9aa3b2; }
.answer { display: flex; flex-direction: column; gap: 1rem; margin-top: 1.2rem; padding-top: 1.1rem;
          border-top: 1px solid var(--line); }
.done-box { display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; }
.done-box .hint { color: var(--muted); font-size: .9rem; }
.cannot-box { display: flex; gap: .8rem; align-items: flex-end; flex-wrap: wrap; }
.cannot-box label { flex: 1 1 320px; display: flex; flex-direction: column; gap: .3rem; color: var(--muted);
                    font-size: .9rem; }
.cannot-box button { flex: none; white-space: nowrap; }
.cannot-box label { flex: 1; display: flex; flex-direction: column; gap: .3rem; color: var(--muted);
                    font-size: .9rem; }
.step code { background: #e8edf7; color: var(--brand); border-radius: 4px; padding: .05rem .4rem; }
textarea { font: inherit; font-size: .95rem; padding: .5rem .6rem; border: 1px solid var(--line);
           border-radius: 6px; min-height: 2.6rem; resize: vertical; color: var(--ink); }
button { font: inherit; font-weight: 600; border-radius: 6px; padding: .6rem 1.4rem; cursor: pointer;
         border: 2px solid transparent; }
button.primary { background: var(--ok); color: #fff; }
button.secondary { background: #fff; color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .45; cursor: not-allowed; }
.problem { background: #fdecea; color: var(--bad); border: 1px solid #f3b6b0; border-radius: 8px;
           padding: .6rem 1rem; margin-bottom: 1rem; }
ol.history { list-style: none; padding: 0; margin: 0; }
ol.history li { padding: .45rem 0; border-bottom: 1px solid var(--line); display: flex; gap: .8rem; }
ol.history li:last-child { border-bottom: 0; }
ol.history .mark { font-weight: 700; width: 1.2rem; text-align: center; }
ol.history li.ok .mark { color: var(--ok); }
ol.history li.failed .mark { color: var(--bad); }
ol.history .when { color: var(--muted); font-variant-numeric: tabular-nums; }
footer { max-width: 960px; margin: 0 auto 2rem; padding: 0 1rem; color: var(--muted); font-size: .85rem; }
[hidden] { display: none !important; }
{% endraw %}</style>
</head>
<body data-state-url="{{ state_url }}" data-answer-url="{{ answer_url }}" data-instruction-id="{{ ins.id or '' }}">
<header><strong>icssim</strong><span>manual driver · the harness asks, you act with your package</span></header>
<main>
  <div id="problem" class="problem" role="alert" hidden></div>
  <section id="idle" class="card" {% if ins %}hidden{% endif %}>
    <div id="idle-status" class="status idle"><span>No step is waiting for you. The harness shows the next one
      here.</span></div>
  </section>
  <section id="card" class="card" {% if not ins %}hidden{% endif %}>
    <div class="step">Step <span id="step">{{ ins.step }}</span> ·
      action <code id="action">{{ ins.action }}</code></div>
    <h1 id="title">{{ ins.title }}</h1>
    <p id="text" class="instruction">{{ ins.text }}</p>
    <dl class="facts">
      <dt>Act as party</dt><dd id="party">{{ ins.party }}</dd>
      <dt>EORI</dt><dd><code id="eori">{{ ins.eori }}</code></dd>
      <dt>Expected message</dt><dd id="expects">{{ ins.expects or "none: this step sends nothing" }}</dd>
    </dl>
    <div id="status" class="status {{ state.status.tone }}" role="status" aria-live="polite">
      <span id="status-text">{{ state.status.text }}</span><span id="left" class="left">{{ left }}</span>
    </div>
    <h2 id="data-title">{{ "Business data" if ins.action in ("file", "amend") else "Details" }}</h2>
    <pre id="data">{{ data_text }}</pre>
    <div class="answer">
      <div class="done-box">
        <button id="done" class="primary" type="button" {% if outcome %}disabled{% endif %}>Done</button>
        <span class="hint">when you have done it with your package</span>
      </div>
      <div class="cannot-box">
        <label for="note">Note: why your package cannot do this (it goes into the report)
          <textarea id="note" rows="2" maxlength="2000"></textarea></label>
        <button id="cannot" class="secondary" type="button"
          {% if outcome == "cannot" %}disabled{% endif %}>My package cannot do this</button>
      </div>
    </div>
  </section>
  <section id="history-card" class="card" {% if not state.history %}hidden{% endif %}>
    <h2>Earlier steps</h2>
    <ol id="history" class="history">
      {% for item in state.history %}
      <li class="{{ 'ok' if item.ok else ('failed' if item.ok is not none else '') }}">
        <span class="mark">{{ '✓' if item.ok else ('✗' if item.ok is not none else '·') }}</span>
        <span class="when">{{ item.finished_at[11:19] }} UTC</span>
        <span>Step {{ item.step }}: {{ item.title }}{% if item.result %} — {{ item.result }}{% endif %}</span></li>
      {% endfor %}
    </ol>
  </section>
</main>
<footer>The simulator judges every step from what reaches it (its journal), never from these buttons:
  “Done” only tells the harness you have finished; a step that sends a message ends when the message arrives.</footer>
<script nonce="{{ nonce }}">{% raw %}
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const stateUrl = document.body.dataset.stateUrl;
  const answerUrl = document.body.dataset.answerUrl;
  let shownId = document.body.dataset.instructionId || null;
  let secondsLeft = null;
  let fetchedAt = 0;
  let inFlight = false;

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const whole = Math.max(0, Math.round(seconds));
    const minutes = Math.floor(whole / 60);
    return minutes ? `${minutes} min ${String(whole % 60).padStart(2, "0")} s left` : `${whole} s left`;
  }

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  function problem(text) {
    $("problem").hidden = !text;
    setText("problem", text || "");
  }

  function tick() {
    const elapsed = (Date.now() - fetchedAt) / 1000;
    setText("left", secondsLeft === null ? "" : clock(secondsLeft - elapsed));
  }

  function renderHistory(items) {
    $("history-card").hidden = items.length === 0;
    const list = $("history");
    const fresh = document.createElement("ol");
    for (const item of items) {
      const li = document.createElement("li");
      li.className = item.ok === true ? "ok" : item.ok === false ? "failed" : "";
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = item.ok === true ? "✓" : item.ok === false ? "✗" : "·";
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = (item.finished_at || "").slice(11, 19) + " UTC";
      const what = document.createElement("span");
      what.textContent = `Step ${item.step}: ${item.title}` + (item.result ? ` — ${item.result}` : "");
      li.append(mark, when, what);
      fresh.append(li);
    }
    if (list.innerHTML !== fresh.innerHTML) list.replaceChildren(...fresh.childNodes);
  }

  function render(state) {
    const ins = state.instruction;
    $("card").hidden = !ins;
    $("idle").hidden = Boolean(ins);
    if (ins) {
      if (ins.id !== shownId) {
        $("note").value = "";
        shownId = ins.id;
      }
      setText("step", String(ins.step));
      setText("action", ins.action);
      setText("title", ins.title);
      setText("text", ins.text);
      setText("party", ins.party);
      setText("eori", ins.eori);
      setText("expects", ins.expects || "none: this step sends nothing");
      setText("data-title", ["file", "amend"].includes(ins.action) ? "Business data" : "Details");
      setText("data", ins.data === null || ins.data === undefined ? "(none)" : JSON.stringify(ins.data, null, 2));
      document.title = `icssim · manual step ${ins.step}: ${ins.title}`;
      const outcome = state.answer ? state.answer.outcome : null;
      $("done").disabled = outcome !== null;
      $("cannot").disabled = outcome === "cannot";
      $("status").className = `status ${state.status.tone}`;
      setText("status-text", state.status.text);
    } else {
      shownId = null;
      document.title = "icssim · manual driver";
    }
    secondsLeft = ins ? state.seconds_left : null;
    fetchedAt = Date.now();
    tick();
    renderHistory(state.history || []);
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    try {
      const answer = await fetch(stateUrl, {credentials: "same-origin", cache: "no-store",
                                            headers: {"Accept": "application/json"}});
      if (answer.status === 401) {
        problem("Not signed in: open this page once as /_sim/manual?token=<the token in <var>/control-token>.");
      } else if (!answer.ok) {
        problem(`The simulator answered HTTP ${answer.status}.`);
      } else {
        problem(null);
        render(await answer.json());
      }
    } catch (error) {
      problem("The simulator cannot be reached; retrying every second.");
    } finally {
      inFlight = false;
    }
  }

  async function send(outcome) {
    if (!shownId) return;
    $("done").disabled = true;
    $("cannot").disabled = true;
    const note = $("note").value.trim();
    try {
      const answer = await fetch(answerUrl, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify({id: shownId, outcome: outcome, note: note || null})});
      if (!answer.ok) {
        const body = await answer.json().catch(() => ({}));
        problem(`Your answer was not recorded: ${body.detail || "HTTP " + answer.status}`);
      }
    } catch (error) {
      problem("Your answer was not recorded: the simulator cannot be reached.");
    }
    await refresh();
  }

  $("done").addEventListener("click", () => send("done"));
  $("cannot").addEventListener("click", () => send("cannot"));
  setInterval(() => { tick(); refresh(); }, 1000);
  refresh();
})();
{% endraw %}</script>
</body>
</html>
"""
