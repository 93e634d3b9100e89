"""The run as one self-contained HTML page a certifier can read, archive and send on.

Layout: the run's identity (product, suite, driver, times, selection, capability file); the verdicts
counted overall, by release and by requirement; then every scenario with its verdict, requirements,
steps, the failure (expected vs received, failing step, where) and the wire messages with their
payload and raw envelope as evidence (DESIGN.md "House style"). The page has no script and loads
nothing: styles are inline and a Content-Security-Policy forbids everything else, so a payload that
slipped through escaping still could not run or call out. Every value from the run record is escaped
with :func:`html.escape`; the same record always renders to the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from scenarios.reports.evidence import Shown, direction_label, payload_text, raw_text
from scenarios.reports.record import VERDICTS, Requirement, Run, Scenario, WireMessage, slug
from scenarios.reports.style import STYLESHEET, badge, esc, filter_rules, verdict_class

__all__ = ["render_html"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
MEANINGS = {"OK": "meets the requirement",
            "NON-STRICT": "works, but breaks a SHOULD",
            "FAILED": "breaks a MUST",
            "UNIMPLEMENTED": "not run: the product declares the capability unsupported, or the check needs the "
                             "reference client",
            "INFORMATIONAL": "observed and reported, not graded"}
# Which verdict stands for a requirement graded by several scenarios: the worst one.
_SEVERITY = ("FAILED", "NON-STRICT", "UNIMPLEMENTED", "OK", "INFORMATIONAL")
_FINDING_TITLES = {"FAILED": "Failure (breaks a MUST)", "NON-STRICT": "Finding (breaks a SHOULD)",
                   "UNIMPLEMENTED": "Not run"}


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else ""


def _worst(verdicts: Iterable[str]) -> str:
    ranked = sorted(verdicts, key=lambda v: (_SEVERITY.index(v) if v in _SEVERITY else -1, v))
    return ranked[0] if ranked else ""


def _anchors(run: Run) -> dict[str, str]:
    """A unique HTML id per scenario id, stable for the same record."""
    anchors: dict[str, str] = {}
    used: set[str] = set()
    for scenario in run.scenarios:
        if scenario.id in anchors:
            continue
        base = anchor = f"sc-{slug(scenario.id)}"
        count = 1
        while anchor in used:
            count += 1
            anchor = f"{base}-{count}"
        used.add(anchor)
        anchors[scenario.id] = anchor
    return anchors


def _elapsed(started: str, finished: str) -> str:
    try:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except (ValueError, TypeError):  # missing, unparseable, or naive and aware mixed
        return ""
    return f"{seconds:g} s"


def _header(run: Run) -> str:
    counts = run.verdict_counts()
    product = " ".join(part for part in (run.product_name, run.product_version) if part) or "(product not named)"
    if counts.get("FAILED"):
        outcome, text = "FAILED", f"{counts['FAILED']} scenario(s) found a MUST broken."
    elif counts.get("NON-STRICT"):
        outcome, text = "NON-STRICT", f"No MUST broken; {counts['NON-STRICT']} scenario(s) found a SHOULD broken."
    elif run.scenarios:
        outcome, text = "OK", "No MUST or SHOULD broken in the scenarios run."
    else:
        outcome, text = "INFORMATIONAL", "The run record lists no scenarios."
    selection = "; ".join(f"{key}: {', '.join(values)}" for key, values in run.selection if values)
    rows = [("Product", run.product_name), ("Product version", run.product_version),
            ("Suite", run.suite_name), ("Suite version", run.suite_version),
            ("Features SHA-256", run.features_sha256), ("Requirements SHA-256", run.requirements_sha256),
            ("Driver", run.driver), ("Started", run.started), ("Finished", run.finished),
            ("Elapsed", _elapsed(run.started, run.finished)),
            ("Selection", selection or "all scenarios (no selection)"),
            ("Capability file", run.capability_file or "none"),
            ("Declared unsupported", ", ".join(run.unsupported) or "none"),
            ("Run record format", run.format or "(not stated)")]
    missing = '<span class="note">not recorded</span>'
    meta = "\n".join(f"<dt>{esc(name)}</dt><dd>{esc(value) if value else missing}</dd>" for name, value in rows)
    return (f"<header>\n<h1>ICS2 conformance report</h1>\n<p class=\"ident\">{esc(product)}</p>\n"
            f"<p class=\"outcome {verdict_class(outcome)}\"><strong>{esc(outcome)}</strong> {esc(text)}</p>\n"
            f"<dl class=\"meta\">\n{meta}\n</dl>\n</header>")


def _filters(run: Run) -> tuple[str, str]:
    """The hidden radio buttons (before everything they filter) and their labels."""
    per_class: dict[str, tuple[str, int]] = {}
    for verdict, count in run.counted().items():
        css = verdict_class(verdict)
        name, total = per_class.get(css, (verdict if css != "v-other" else "other", 0))
        per_class[css] = (name, total + count)
    order = [verdict_class(v) for v in VERDICTS] + ["v-other"]
    inputs = ['<input type="radio" class="filter" name="show" id="show-all" checked aria-label="show all">']
    labels = [f'<label for="show-all">all ({len(run.scenarios)})</label>']
    for css in (c for c in order if c in per_class):
        name, total = per_class[css]
        inputs.append(f'<input type="radio" class="filter" name="show" id="show-{css}" aria-label="show {esc(name)}">')
        labels.append(f'<label class="{css}" for="show-{css}">{esc(name)} ({total})</label>')
    return "\n".join(inputs), '<nav class="filters">Show: ' + " ".join(labels) + "</nav>"


def _by_verdict(run: Run) -> str:
    counts, counted = run.verdict_counts(), run.counted()
    rows = "\n".join(f'<tr><td>{badge(v)}</td><td class="num">{counts[v]}</td><td>{esc(MEANINGS.get(v, ""))}</td></tr>'
                     for v in run.verdicts())
    out = [f'<section id="summary">\n<h2>Summary by verdict</h2>\n<table>\n<thead><tr><th>Verdict</th>'
           f'<th class="num">Scenarios</th><th>Meaning</th></tr></thead>\n<tbody>\n{rows}\n</tbody>\n'
           f'<tfoot><tr><th>Total</th><th class="num">{sum(counts.values())}</th><th></th></tr></tfoot>\n</table>']
    differing = [v for v in run.verdicts() if counts[v] != counted.get(v, 0)]
    if differing:
        detail = ", ".join(f"{v}: {counts[v]} in the summary, {counted.get(v, 0)} listed" for v in differing)
        out.append(f'<p class="warn">The run record\'s summary does not match its scenario list ({esc(detail)}).</p>')
    return "\n".join(out) + "\n</section>"


def _release_key(release: str) -> tuple[int, str]:
    digits = "".join(ch for ch in release if ch.isdigit())
    return (int(digits) if digits else 1 << 30, release)


def _by_release(run: Run) -> str:
    table: dict[str, Counter[str]] = {}
    for scenario in run.scenarios:
        for release in scenario.releases or ("(none)",):
            table.setdefault(release, Counter())[scenario.verdict] += 1
    verdicts = run.verdicts()
    head = "".join(f'<th class="num">{badge(v)}</th>' for v in verdicts)
    rows = "\n".join(
        f"<tr><th>{esc(release)}</th>" + "".join(f'<td class="num">{table[release][v]}</td>' for v in verdicts)
        + f'<td class="num">{sum(table[release].values())}</td></tr>'
        for release in sorted(table, key=_release_key))
    return (f'<section id="releases">\n<h2>By release</h2>\n<table>\n<thead><tr><th>Release</th>{head}'
            f'<th class="num">Total</th></tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n</section>')


def _by_requirement(run: Run, anchors: dict[str, str]) -> str:
    requirements: dict[str, Requirement] = {}
    graded: dict[str, list[Scenario]] = {}
    for scenario in run.scenarios:
        for requirement in scenario.requirements:
            known = requirements.get(requirement.id)
            if known is None or (not known.text and requirement.text):
                requirements[requirement.id] = requirement
            graded.setdefault(requirement.id, []).append(scenario)
    rows = []
    for ident in sorted(requirements):
        req, scenarios = requirements[ident], graded[ident]
        links = "<br>".join(f'{badge(s.verdict)} <a href="#{anchors[s.id]}">{esc(s.name)}</a>' for s in scenarios)
        rows.append(f"<tr><td>{badge(_worst(s.verdict for s in scenarios))}</td><td><code>{esc(ident)}</code></td>"
                    f"<td>{esc(req.strength)}</td><td>{esc(req.text)}</td><td>{esc(req.source)}</td><td>{links}</td></tr>")
    body = "\n".join(rows) or '<tr><td colspan="6">No scenario names a requirement.</td></tr>'
    return ('<section id="requirements">\n<h2>By requirement</h2>\n<p class="note">A requirement graded by several '
            'scenarios takes the worst of their verdicts.</p>\n<table>\n<thead><tr><th>Verdict</th><th>Requirement</th>'
            '<th>Strength</th><th>Text</th><th>Source</th><th>Scenarios</th></tr></thead>\n'
            f"<tbody>\n{body}\n</tbody>\n</table>\n</section>")


def _pre(title: str, shown: Shown) -> str:
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in shown.notes)
    return f"<details><summary>{esc(title)}</summary>{notes}<pre>{esc(shown.text)}</pre></details>"


def _wire(messages: tuple[WireMessage, ...]) -> str:
    if not messages:
        return '<h5>Wire</h5>\n<p class="note">No messages were journalled for this scenario.</p>'
    rows = []
    for msg in messages:
        ids = esc(msg.message_id) + (f"<br>ref: {esc(msg.ref_to_message_id)}" if msg.ref_to_message_id else "")
        rows.append(f"<tr><td>{esc(msg.id)}</td><td>{esc(msg.sim_at)}</td><td>{esc(direction_label(msg.direction))}"
                    f"</td><td>{esc(msg.kind)}</td><td>{esc(msg.action)}</td><td>{esc(msg.verdict)}</td>"
                    f"<td>{esc(msg.error_code)}</td><td>{esc(msg.detail)}</td><td><code>{ids}</code></td></tr>")
        evidence = []
        if msg.payload is not None:
            evidence.append(_pre("Payload (XML, pretty-printed)", payload_text(msg.payload)))
        if msg.raw_b64 is not None:
            evidence.append(_pre("Raw message (decoded from base64)", raw_text(msg.raw_b64)))
        if evidence:
            rows.append(f'<tr class="evidence"><td colspan="9">{"".join(evidence)}</td></tr>')
    body = "\n".join(rows)
    return (f"<h5>Wire ({len(messages)} message{'s' if len(messages) != 1 else ''})</h5>\n<table class=\"wire\">\n"
            "<thead><tr><th>#</th><th>Sim time</th><th>Direction</th><th>Kind</th><th>Action</th><th>Verdict</th>"
            f"<th>Error code</th><th>Detail</th><th>Message id</th></tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>")


def _driver_log(scenario: Scenario) -> str:
    """The exchanges with a contract driver (docs/driver-contract.md): what was asked, what came back."""
    if not scenario.driver_log:
        return ""
    rows = []
    for exchange in scenario.driver_log:
        answer = exchange.error or exchange.response or ""
        shown = [f"<details><summary>request</summary><pre>{esc(exchange.request)}</pre></details>",
                 f"<details><summary>{'error' if exchange.error else 'answer'}</summary><pre>{esc(answer)}</pre>"
                 "</details>"]
        if exchange.stderr:
            shown.append(f"<details><summary>stderr</summary><pre>{esc(exchange.stderr)}</pre></details>")
        rows.append(f"<tr><td>{esc(exchange.action)}</td><td>{esc(_seconds(exchange.duration_s))}</td>"
                    f"<td>{''.join(shown)}</td></tr>")
    return (f"<h5>Driver ({len(rows)} exchange{'s' if len(rows) != 1 else ''})</h5>\n<table class=\"wire\">\n"
            "<thead><tr><th>Action</th><th>Time</th><th>Request, answer, stderr</th></tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table>")


def _finding(scenario: Scenario) -> str:
    failure = scenario.failure
    if failure is None:
        return ""
    title = _FINDING_TITLES.get(scenario.verdict, "Note")
    rows = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in (
        ("Failing step" if scenario.verdict == "FAILED" else "Step", esc(failure.step or "")),
        ("Where", f"<code>{esc(failure.where)}</code>" if failure.where else "")) if value)
    details = f"<dl>{rows}</dl>" if rows else ""
    return (f'<div class="finding {verdict_class(scenario.verdict)}"><h5>{esc(title)}</h5>'
            f"<pre>{esc(failure.message or '(no message recorded)')}</pre>{details}</div>")


def _scenario(scenario: Scenario, anchor: str) -> str:
    css = verdict_class(scenario.verdict)
    retried = ' <span class="retried">retried</span>' if scenario.retried else ""
    facts = [f"<code>{esc(scenario.id)}</code>", esc(scenario.file)]
    if scenario.releases:
        facts.append("releases " + esc(", ".join(scenario.releases)))
    if scenario.tags:
        facts.append(esc(" ".join("@" + tag.lstrip("@") for tag in scenario.tags)))
    facts.append(esc(_seconds(scenario.duration_s)))
    reqs = "".join(f'<li><span class="strength">{esc(r.strength)}</span> <code>{esc(r.id)}</code> {esc(r.text)}'
                   + (f" <cite>({esc(r.source)})</cite>" if r.source else "") + "</li>" for r in scenario.requirements)
    steps = "".join(f'<li class="st-{slug(step.status or "unknown")}"><span class="st">{esc(step.status or "?")}'
                    f"</span> <b>{esc(step.keyword)}</b> {esc(step.text)} "
                    f'<span class="dur">{esc(_seconds(step.duration_s))}</span></li>' for step in scenario.steps)
    return "\n".join([
        f'<article class="scenario {css}" id="{anchor}">',
        f"<h4>{badge(scenario.verdict)} {esc(scenario.name)}{retried}</h4>",
        f'<p class="ident">{" · ".join(fact for fact in facts if fact)}</p>',
        _finding(scenario),
        "<h5>Requirements</h5>" + (f'<ul class="reqs">{reqs}</ul>' if reqs else '<p class="note">none named</p>'),
        "<h5>Steps</h5>" + (f'<ol class="steps">{steps}</ol>' if steps else '<p class="note">none recorded</p>'),
        _driver_log(scenario),
        _wire(scenario.wire),
        "</article>",
    ])


def _scenarios(run: Run, anchors: dict[str, str]) -> str:
    features: dict[tuple[str, str], list[Scenario]] = {}
    for scenario in run.scenarios:
        features.setdefault((scenario.file, scenario.feature), []).append(scenario)
    out = ['<section id="scenarios">\n<h2>Scenarios</h2>']
    for (file, name), scenarios in features.items():
        out.append(f'<section class="feature">\n<h3>Feature: {esc(name)} <span class="note">{esc(file)}</span></h3>')
        out.extend(_scenario(scenario, anchors[scenario.id]) for scenario in scenarios)
        out.append("</section>")
    return "\n".join(out) + "\n</section>"


def render_html(run: Run) -> str:
    """The whole report page as text."""
    anchors = _anchors(run)
    inputs, nav = _filters(run)
    classes = sorted({verdict_class(s.verdict) for s in run.scenarios})
    product = " ".join(part for part in (run.product_name, run.product_version) if part)
    title = f"ICS2 conformance report \u2014 {product}" if product else "ICS2 conformance report"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{STYLESHEET}{filter_rules(classes)}\n</style>",
        "</head>",
        "<body>",
        inputs,
        _header(run),
        nav,
        "<main>",
        _by_verdict(run),
        _by_release(run),
        _by_requirement(run, anchors),
        _scenarios(run, anchors),
        "</main>",
        "</body>",
        "</html>",
        "",
    ])
