"""Reports of a conformance run, rendered from its run record (``<reports>/run.json``).

:func:`write_reports` writes the Cucumber JSON report (for CI servers) and the self-contained HTML
report (for people, certifiers first) side by side and returns their paths. Each file is written to a
temporary name and renamed into place, so a reader never sees half a report and a crash leaves the
previous one intact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scenarios.reports.cucumber import cucumber_features, cucumber_json
from scenarios.reports.html import render_html
from scenarios.reports.record import RUN_FORMAT, VERDICTS, Run, read_run

__all__ = [
    "CUCUMBER_FILE",
    "HTML_FILE",
    "RUN_FORMAT",
    "VERDICTS",
    "Run",
    "cucumber_features",
    "cucumber_json",
    "read_run",
    "render_html",
    "write_reports",
    "write_reports_from_file",
]

CUCUMBER_FILE = "cucumber-ics2.json"
HTML_FILE = "report-ics2.html"


def _write_atomically(path: Path, text: str) -> Path:
    # errors="replace": a lone surrogate in a recorded string must not cost the whole report.
    data = text.encode("utf-8", errors="replace")
    # A sibling temporary file (same file system, so the rename is atomic) created with the process umask.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_reports(run: Mapping[str, Any], reports_dir: Path) -> list[Path]:
    """Write ``cucumber-ics2.json`` and ``report-ics2.html`` for the run record ``run`` into
    ``reports_dir`` (created if missing) and return their paths in that order."""
    record: Run = read_run(run)
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    return [_write_atomically(reports_dir / CUCUMBER_FILE, cucumber_json(record)),
            _write_atomically(reports_dir / HTML_FILE, render_html(record))]


def write_reports_from_file(run_json: Path, reports_dir: Path | None = None) -> list[Path]:
    """Render the reports again from a stored ``run.json`` (by default into the directory holding it)."""
    run_json = Path(run_json)
    record = json.loads(run_json.read_text(encoding="utf-8"))
    if not isinstance(record, Mapping):
        raise ValueError(f"{run_json} does not hold a run record (a JSON object)")
    return write_reports(record, reports_dir if reports_dir is not None else run_json.parent)
