"""Binds every ICS2 feature file to the step library (collected only by the conformance harness)."""

from __future__ import annotations

from pathlib import Path

from pytest_bdd import scenarios

FEATURES = Path(__file__).resolve().parents[2] / "features" / "ics2"

scenarios(str(FEATURES))
