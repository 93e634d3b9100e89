"""Injected faults (simulator/core/faults.py): precise refusals of bad specs, matching, counts, windows and
a seeded, repeatable draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.core.faults import FaultBook
from simulator.core.store import Store

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'faults.db'}")
    store.create_schema()
    return store


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "teleport"}, "kind must be one of"),
    ({"kind": "delay_reply"}, "seconds must be a finite number"),
    ({"kind": "delay_reply", "seconds": float("nan")}, "finite"),
    ({"kind": "delay_reply", "seconds": -1}, "between"),
    ({"kind": "drop_receipt", "count": 0}, "count must be a whole number"),
    ({"kind": "drop_receipt", "count": True}, "count must be a whole number"),
    ({"kind": "drop_receipt", "probability": 1.5}, "between 0.0 and 1.0"),
    ({"kind": "drop_receipt", "colour": "red"}, "unknown fault fields"),
    ({"kind": "drop_receipt", "party": 7}, "party must be text"),
    ({"kind": "msh_unavailable"}, "needs an `end`"),
    ({"kind": "msh_unavailable", "start": "yesterday", "end": "2025-03-01T13:00:00Z"}, "ISO 8601"),
])
def test_bad_fault_specs_are_refused_precisely(store: Store, spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultBook(store, 1).add("ics2", spec, now=NOW)
    assert FaultBook(store, 1).listing() == []


def test_a_counted_fault_applies_to_matching_messages_only_and_runs_out(store: Store) -> None:
    book = FaultBook(store, 1)
    book.add("ics2", {"kind": "drop_receipt", "party": "BE0123456789", "action": "IE3F3?", "count": 2}, now=NOW)
    with store.write() as conn:
        assert book.take(conn, "ics2", "drop_receipt", now=NOW, party="NL123456789", action="IE3F32") is None
        assert book.take(conn, "ics2", "drop_receipt", now=NOW, party="BE0123456789", action="IE3F43") is None
        assert book.take(conn, "ics2", "delay_reply", now=NOW, party="BE0123456789", action="IE3F32") is None
        # a PartyId with system id and member state matches its EORI
        assert book.take(conn, "ics2", "drop_receipt", now=NOW, party="sys1@BE0123456789@BE", action="IE3F32")
        assert book.take(conn, "ics2", "drop_receipt", now=NOW, party="BE0123456789", action="IE3F32")
        assert book.take(conn, "ics2", "drop_receipt", now=NOW, party="BE0123456789", action="IE3F32") is None
    [fault] = book.listing("ics2")
    assert (fault["applied"], fault["remaining"]) == (2, 0)


def test_a_window_applies_between_its_start_and_end(store: Store) -> None:
    book = FaultBook(store, 1)
    book.add("ics2", {"kind": "msh_unavailable", "seconds": 600}, now=NOW)
    with store.write() as conn:
        assert book.take(conn, "ics2", "msh_unavailable", now=NOW - timedelta(seconds=1)) is None
        found = book.take(conn, "ics2", "msh_unavailable", now=NOW + timedelta(seconds=599))
        assert found is not None and found.window_end == "2025-03-01T12:10:00.000Z"
        assert book.take(conn, "ics2", "msh_unavailable", now=NOW + timedelta(seconds=600)) is None


def test_a_probability_draw_is_repeatable_for_a_seed_and_differs_between_seeds(tmp_path: Path) -> None:
    def draws(seed: int, name: str) -> list[bool]:
        store = Store(f"sqlite:///{tmp_path / name}")
        store.create_schema()
        book = FaultBook(store, seed)
        book.add("ics2", {"kind": "delay_reply", "seconds": 5, "probability": 0.5}, now=NOW)
        with store.write() as conn:
            return [book.take(conn, "ics2", "delay_reply", now=NOW, key=f"m{i}") is not None for i in range(64)]

    first, again, other = draws(7, "a.db"), draws(7, "b.db"), draws(8, "c.db")
    assert first == again and first != other
    assert 16 < sum(first) < 48  # about half


def test_a_rolled_back_message_uses_up_nothing(store: Store) -> None:
    book = FaultBook(store, 1)
    book.add("ics2", {"kind": "drop_receipt", "count": 1}, now=NOW)

    def failing_message() -> None:
        with store.write() as conn:
            assert book.take(conn, "ics2", "drop_receipt", now=NOW)
            raise RuntimeError("the message's transaction failed")

    with pytest.raises(RuntimeError):
        failing_message()
    assert book.listing()[0]["remaining"] == 1
