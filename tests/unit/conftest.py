"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from certs.pki import TestPki
from simulator.core.store import Store
from tests.unit.test_ics2_msh import Sim, make_sim


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store with the schema of every table imported so far (the test module's imports)."""
    store = Store(f"sqlite:///{tmp_path / 'unit.db'}")
    store.create_schema()
    yield store
    store.dispose()


@pytest.fixture
def sim(pki: TestPki, tmp_path: Path) -> Iterator[Sim]:
    """A simulator app (trader and control roles) on the test module's ``pki``, nobody registered."""
    sim = make_sim(pki, tmp_path / "var")
    yield sim
    sim.store.dispose()


@pytest.fixture
def client(sim: Sim) -> FlaskClient:
    """Flask's test client of the control role."""
    return sim.control
