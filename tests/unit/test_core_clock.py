"""The simulated clock shared through the store.

DESIGN.md "Deterministic": time comes from the simulated clock, which the control API can advance;
simulator/core/clock.py: "running" = wall clock plus all advances, "frozen" = a fixed start plus all
advances; the clock only moves forward.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from simulator.core.clock import ClockState, SimClock, iso, parse_instant
from simulator.core.store import Store, sim_state

START = "2025-03-01T12:00:00Z"
START_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)



@pytest.fixture
def clock(store: Store) -> SimClock:
    return SimClock(store)


def _close_to(actual: datetime, expected: datetime, tolerance: float = 5.0) -> bool:
    return abs((actual - expected).total_seconds()) <= tolerance


def test_unset_clock_runs_with_the_wall_clock(clock: SimClock) -> None:
    """clock.py: before any reset the shared clock is running with no offset."""
    state = clock.state()
    assert state.mode == "running"
    assert state.offset_seconds == 0.0
    assert _close_to(clock.now(), datetime.now(UTC))


def test_frozen_clock_stands_still_until_advanced(clock: SimClock) -> None:
    """DESIGN.md Deterministic: a frozen clock gives the same instant however much wall time passes."""
    clock.reset("frozen", START)
    first = clock.now()
    time.sleep(0.05)
    assert clock.now() == first == START_AT


def test_frozen_clock_moves_by_the_sum_of_advances(clock: SimClock) -> None:
    """DESIGN.md Deterministic (control API advances the clock): advances add up exactly."""
    clock.reset("frozen", START)
    clock.advance(90)
    moved = clock.advance(30.5)
    assert moved.offset_seconds == 120.5
    assert clock.now() == START_AT + timedelta(seconds=120.5)


def test_running_clock_follows_wall_time_plus_advances(clock: SimClock) -> None:
    """clock.py running mode: wall clock plus the sum of all advances, still ticking."""
    clock.reset("running")
    clock.advance(3600)
    assert _close_to(clock.now(), datetime.now(UTC) + timedelta(hours=1))
    before = clock.now()
    time.sleep(0.02)
    assert clock.now() > before


def test_advance_only_moves_forward(clock: SimClock) -> None:
    """clock.py: "the simulated clock only moves forward" — a negative advance is refused, unchanged."""
    clock.reset("frozen", START)
    clock.advance(10)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert clock.now() == START_AT + timedelta(seconds=10)


def test_advance_by_zero_is_allowed(clock: SimClock) -> None:
    """clock.py: zero is not backwards; the clock stays where it is."""
    clock.reset("frozen", START)
    assert clock.advance(0).now() == START_AT


@pytest.mark.parametrize("amount", [float("nan"), float("inf")])
def test_non_finite_advance_is_refused_and_clock_stays_readable(clock: SimClock, amount: float) -> None:
    """clock.py (only forward, by a real amount) and DESIGN.md Deterministic: NaN or infinity is no
    amount of time; storing it would make every later read of the shared clock fail."""
    clock.reset("frozen", START)
    with pytest.raises(ValueError):
        clock.advance(amount)
    assert clock.now() == START_AT


def test_reset_clears_advances_and_sets_the_mode(clock: SimClock) -> None:
    """DESIGN.md Deterministic: a reset starts the scene's clock again from its start, offset zero."""
    clock.reset("frozen", START)
    clock.advance(500)
    state = clock.reset("frozen", "2030-01-01T00:00:00+00:00")
    assert state.offset_seconds == 0.0
    assert clock.state().mode == "frozen"
    assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC)
    clock.reset("running")
    assert clock.state().mode == "running"
    assert _close_to(clock.now(), datetime.now(UTC))


def test_frozen_reset_without_start_freezes_at_the_current_second(clock: SimClock) -> None:
    """clock.py reset: without a start instant, a frozen clock starts at the current whole second."""
    state = clock.reset("frozen")
    assert state.base.microsecond == 0
    assert _close_to(clock.now(), datetime.now(UTC))


def test_naive_start_is_taken_as_utc() -> None:
    """clock.py parse_instant: ISO 8601 with zone; a naive value is UTC."""
    assert parse_instant("2025-03-01T12:00:00") == START_AT
    assert parse_instant("2025-03-01T13:00:00+01:00") == START_AT


def test_clock_is_shared_between_stores_of_one_database(tmp_path: Path) -> None:
    """clock.py: "shared by every server process through the store" — two handles see one clock."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = Store(url), Store(url)
    try:
        first.create_schema()
        SimClock(first).reset("frozen", START)
        SimClock(first).advance(42)
        assert SimClock(second).now() == START_AT + timedelta(seconds=42)
    finally:
        first.dispose()
        second.dispose()


def test_state_is_read_inside_the_given_connection(store: Store, clock: SimClock) -> None:
    """clock.py SimClock.state(conn): reading inside a larger transaction sees that transaction's view."""
    clock.reset("frozen", START)
    moved = ClockState("frozen", START_AT, 3600.0)
    with store.write() as conn:
        conn.execute(sim_state.update().where(sim_state.c.key == "clock").values(value=moved.to_json()))
        assert clock.state(conn).now() == START_AT + timedelta(hours=1)  # the uncommitted change
        assert clock.state().now() == START_AT  # another connection still sees the committed clock
    assert clock.now() == START_AT + timedelta(hours=1)


def test_clock_state_json_round_trip() -> None:
    """clock.py: the state is stored as JSON in sim_state and read back unchanged."""
    state = ClockState("frozen", START_AT, 12.25)
    assert ClockState.from_json(state.to_json()) == state


def test_iso_is_utc_with_milliseconds() -> None:
    """clock.py iso: journal and message timestamps are YYYY-MM-DDThh:mm:ss.fffZ in UTC."""
    moment = datetime(2025, 3, 1, 13, 0, 5, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2025-03-01T12:00:05.123Z"
