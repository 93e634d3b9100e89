"""The HTML report's presentation: escaping, verdict badges and the stylesheet, which is inlined so
that the report is one file with no external resources.

Verdict colours follow the house verdicts (DESIGN.md "House style"). Filtering by verdict needs no
script: one hidden radio button per verdict precedes the page's sections, and :func:`filter_rules`
hides the scenarios of other verdicts while a button is checked.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from scenarios.reports.record import VERDICTS, slug

__all__ = ["STYLESHEET", "badge", "esc", "filter_rules", "verdict_class"]

STYLESHEET = """
:root { --ok: #1d6b35; --ns: #8a5a00; --failed: #a1161f; --unimp: #5b6470; --info: #1f4f8f;
  --line: #d4d8dd; --soft: #f4f6f8; --ink: #1b1f24; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.45 system-ui, sans-serif; }
header, nav.filters, main { max-width: 76rem; margin: 0 auto; padding: 0 1.25rem; }
header { padding-top: 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 2px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; }
h4 { font-size: 1.02rem; margin: 0 0 .3rem; }
h5 { font-size: .9rem; margin: .9rem 0 .3rem; text-transform: uppercase; letter-spacing: .04em; color: #444; }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { background: var(--soft); border: 1px solid var(--line); padding: .6rem; overflow-x: auto;
  white-space: pre-wrap; overflow-wrap: anywhere; margin: .3rem 0; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .8rem 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.outcome { font-size: 1.05rem; padding: .5rem .8rem; border-left: 6px solid; margin: .8rem 0; }
.badge { display: inline-block; min-width: 7.5rem; text-align: center; padding: .05rem .4rem; border-radius: 3px;
  color: #fff; font: 600 12px/1.6 system-ui, sans-serif; letter-spacing: .03em; }
.v-ok { --v: var(--ok); } .v-non-strict { --v: var(--ns); } .v-failed { --v: var(--failed); }
.v-unimplemented { --v: var(--unimp); } .v-informational { --v: var(--info); } .v-other { --v: #6f2da8; }
.badge { background-color: var(--v); }
.outcome { border-color: var(--v); background: color-mix(in srgb, var(--v) 10%, #fff); }
.note { color: #555; font-size: 13px; margin: .2rem 0; }
.warn { color: var(--failed); font-weight: 600; }
nav.filters { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line);
  padding-top: .4rem; padding-bottom: .4rem; z-index: 1; }
nav.filters label { display: inline-block; border: 1px solid var(--line); border-radius: 3px;
  padding: .1rem .5rem; margin: .1rem .15rem; cursor: pointer; }
input.filter { position: absolute; opacity: 0; pointer-events: none; }
article.scenario { border: 1px solid var(--line); border-left: 6px solid var(--v); border-radius: 3px;
  padding: .7rem .9rem; margin: .8rem 0; }
.ident { color: #555; font-size: 13px; margin: 0 0 .3rem; }
.retried { background: #fff3cd; border: 1px solid #d9b44a; border-radius: 3px; padding: 0 .35rem;
  font-size: 12px; font-weight: 600; }
.finding { border: 2px solid var(--v); background: color-mix(in srgb, var(--v) 7%, #fff);
  padding: .5rem .7rem; margin: .6rem 0; border-radius: 3px; }
.finding h5 { color: var(--v); margin-top: 0; }
.finding dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: .3rem 0 0; }
.finding dd { margin: 0; }
ul.reqs { margin: .2rem 0; padding-left: 1.2rem; }
.strength { font-weight: 700; font-size: 12px; }
ol.steps { margin: .2rem 0; padding-left: 1.6rem; }
ol.steps li { padding: .05rem 0; }
.st { display: inline-block; width: 4.6rem; font: 600 12px/1.5 ui-monospace, monospace; }
.st-passed .st { color: var(--ok); } .st-failed { background: #fbe9ea; } .st-failed .st { color: var(--failed); }
.st-skipped, .st-skipped .st { color: #777; }
.dur { color: #777; font-size: 12px; }
tr.evidence td { background: #fbfcfd; }
details { margin: .2rem 0; }
summary { cursor: pointer; font-weight: 600; font-size: 13px; }
cite { font-style: normal; color: #555; }
@media print { nav.filters { display: none; } article.scenario { break-inside: avoid-page; } }
"""


def filter_rules(classes: Iterable[str]) -> str:
    """Rules for the verdict filters: ``classes`` are the verdict CSS classes present in the report."""
    rules = ["#show-all:checked ~ nav.filters label[for=show-all] { background: var(--ink); color: #fff; }"]
    for css in classes:
        rules.append(f"#show-{css}:checked ~ main article.scenario:not(.{css}) {{ display: none; }}")
        rules.append(f"#show-{css}:checked ~ main section.feature:not(:has(article.{css})) {{ display: none; }}")
        rules.append(f"#show-{css}:checked ~ nav.filters label[for=show-{css}] "
                     "{ background: var(--v); color: #fff; }")
    rules.append("input.filter:focus-visible ~ nav.filters { outline: 2px solid var(--info); }")
    return "\n".join(rules)


def esc(value: object) -> str:
    """Text for HTML content or a quoted attribute value: ``& < > " '`` escaped."""
    return html.escape(str(value), quote=True)


def verdict_class(verdict: str) -> str:
    """``v-failed`` for FAILED; any verdict outside the house five shares ``v-other``."""
    return f"v-{slug(verdict)}" if verdict in VERDICTS else "v-other"


def badge(verdict: str) -> str:
    return f'<span class="badge {verdict_class(verdict)}">{esc(verdict)}</span>'
