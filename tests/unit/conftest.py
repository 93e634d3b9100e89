"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.core.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store with the schema of every table imported so far (the test module's imports)."""
    store = Store(f"sqlite:///{tmp_path / 'unit.db'}")
    store.create_schema()
    yield store
    store.dispose()
