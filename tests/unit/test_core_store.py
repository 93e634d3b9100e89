"""The durable store: schema, write discipline (thread lock + flock), group commit with SAVEPOINTs.

DESIGN.md "Durability": a message is committed to the journal before its receipt leaves, and a crash
never acknowledges an unstored message; simulator/core/store.py: Store.write queues writers (threads
on a lock, processes on an flock of <db>.writelock); Store.transact commits the work of concurrent
callers in one transaction, each item in its own SAVEPOINT, and returns only after the COMMIT.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from simulator.core.store import Store, sim_state


class WorkFailed(Exception):
    """Raised on purpose by one item of a batch."""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{db_path}")
    store.create_schema()
    with store.write() as conn:
        conn.exec_driver_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
    yield store
    store.dispose()


def _insert(label: str, *, fail: bool = False) -> Callable[[Connection], dict[str, Any]]:
    def work(conn: Connection) -> dict[str, Any]:
        conn.exec_driver_sql("INSERT INTO item (label) VALUES (?)", (label,))
        if fail:
            raise WorkFailed(label)
        return {"label": label, "nested": conn.in_nested_transaction(), "conn": id(conn)}
    return work


def _labels(store: Store) -> set[str]:
    with store.read() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT label FROM item")}


def _run_batch(store: Store, works: dict[str, Callable[[Connection], Any]]) -> dict[str, tuple[str, Any]]:
    """Run `works` through transact from one thread each, while the committer is held busy, so that
    they are all queued before the next batch is taken (a batch forms deterministically)."""
    gate = threading.Event()
    started = threading.Event()

    def hold(conn: Connection) -> str:
        started.set()
        gate.wait(10)
        return "held"

    outcomes: dict[str, tuple[str, Any]] = {}

    def call(name: str, work: Callable[[Connection], Any]) -> None:
        try:
            outcomes[name] = ("ok", store.transact(work))
        except Exception as exc:
            outcomes[name] = ("error", exc)

    holder = threading.Thread(target=call, args=("hold", hold))
    holder.start()
    assert started.wait(10)
    threads = [threading.Thread(target=call, args=item) for item in works.items()]
    for thread in threads:
        thread.start()
    committer = store._committer  # every caller has put its item on the committer's queue
    assert committer is not None
    deadline = time.monotonic() + 10
    while committer._queue.qsize() < len(works) and time.monotonic() < deadline:
        time.sleep(0.005)
    gate.set()
    for thread in [holder, *threads]:
        thread.join(10)
    assert outcomes.pop("hold") == ("ok", "held")
    return outcomes


def test_schema_creation_is_idempotent(db_path: Path, store: Store) -> None:
    """store.py create_schema: "safe when several processes start at once" — again, and from another
    handle, it creates nothing twice and keeps the data."""
    with store.write() as conn:
        conn.execute(sim_state.insert().values(key="k", value="v"))
    store.create_schema()
    other = Store(f"sqlite:///{db_path}")
    try:
        other.create_schema()
        names = set(inspect(other.engine).get_table_names())
        assert {"journal", "accepted_messages", "outbox", "parties", "party_certificates",
                "sim_state"} <= names
        with other.read() as conn:
            assert conn.execute(select(sim_state.c.value).where(sim_state.c.key == "k")).scalar() == "v"
    finally:
        other.dispose()


def test_sqlite_runs_in_wal_mode_with_the_configured_sync(tmp_path: Path) -> None:
    """README "Configuration" journal_sync: normal (WAL, synchronous=NORMAL) or full (fsync per commit)."""
    for sync, expected in (("normal", 1), ("full", 2)):
        store = Store(f"sqlite:///{tmp_path / f'{sync}.db'}", sync=sync)
        try:
            with store.read() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
        finally:
            store.dispose()


def test_transact_returns_the_result_after_commit(store: Store) -> None:
    """store.py transact: returns `work`'s result only after the COMMIT (DESIGN.md Durability)."""
    result = store.transact(_insert("one"))
    assert result["label"] == "one"
    assert _labels(store) == {"one"}  # visible to another connection: committed


def test_lone_item_that_raises_is_rolled_back_and_its_caller_gets_the_error(store: Store) -> None:
    """store.py transact: an item that raises is rolled back and its caller gets the exception."""
    with pytest.raises(WorkFailed, match="lonely"):
        store.transact(_insert("lonely", fail=True))
    assert _labels(store) == set()
    assert store.transact(_insert("after"))["label"] == "after"  # the committer goes on


def test_failing_item_in_a_batch_is_rolled_back_alone(store: Store) -> None:
    """store.py transact (group commit): each item in its own SAVEPOINT — the one that raises is rolled
    back alone and its caller gets the exception; the others of the same batch commit."""
    works = {f"ok-{n}": _insert(f"ok-{n}") for n in range(6)}
    works["bad"] = _insert("bad", fail=True)
    outcomes = _run_batch(store, works)
    status, error = outcomes.pop("bad")
    assert status == "error"
    assert isinstance(error, WorkFailed)
    assert all(status == "ok" for status, _ in outcomes.values()), outcomes
    results = [result for _, result in outcomes.values()]
    assert all(r["nested"] for r in results)  # each ran inside its SAVEPOINT: a real batch
    assert len({r["conn"] for r in results}) == 1  # ... on one connection, one transaction
    assert _labels(store) == {f"ok-{n}" for n in range(6)}


def test_failing_commit_gives_the_error_to_every_caller(store: Store) -> None:
    """store.py transact: when the COMMIT fails, nobody's work is stored and every caller of the batch
    gets the error (never a success for unstored data: DESIGN.md Durability)."""
    with store.write() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        # A deferred foreign key is checked only at COMMIT: the statement and its SAVEPOINT succeed.
        conn.exec_driver_sql("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                             "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")

    def orphan(conn: Connection) -> str:
        conn.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (1, 999)")
        return "orphan"

    works: dict[str, Callable[[Connection], Any]] = {f"ok-{n}": _insert(f"ok-{n}") for n in range(3)}
    works["orphan"] = orphan
    outcomes = _run_batch(store, works)
    assert set(outcomes) == {"ok-0", "ok-1", "ok-2", "orphan"}
    for status, error in outcomes.values():
        assert status == "error"
        assert isinstance(error, IntegrityError)
    assert _labels(store) == set()
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM child").scalar() == 0
    assert store.transact(_insert("recovered"))["label"] == "recovered"
    assert _labels(store) == {"recovered"}


def test_many_concurrent_callers_all_commit(store: Store) -> None:
    """store.py transact: under load every waiting request is committed (batches up to MAX_BATCH)."""
    errors: list[BaseException] = []

    def call(n: int) -> None:
        try:
            store.transact(_insert(f"n{n}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert _labels(store) == {f"n{n}" for n in range(100)}


def test_write_serialises_writer_threads(store: Store) -> None:
    """store.py write: one writer at a time — a second thread waits until the first has committed."""
    events: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with store.write() as conn:
            events.append("first-in")
            first_in.set()
            release.wait(10)
            conn.exec_driver_sql("INSERT INTO item (label) VALUES ('first')")
            events.append("first-out")

    def second() -> None:
        with store.write() as conn:
            events.append("second-in")
            seen = conn.exec_driver_sql("SELECT label FROM item").scalars().all()
            events.append(f"second-saw:{','.join(seen)}")

    one = threading.Thread(target=first)
    one.start()
    assert first_in.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.2)
    assert events == ["first-in"]  # the second writer is waiting
    release.set()
    one.join(10)
    two.join(10)
    assert events == ["first-in", "first-out", "second-in", "second-saw:first"]


def test_write_holds_an_flock_on_the_writelock_file(db_path: Path, store: Store) -> None:
    """store.py write: writers of other processes queue on an flock of <db>.writelock."""
    lock_path = f"{db_path}.writelock"

    def try_lock() -> bool:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        finally:
            os.close(fd)

    with store.write():
        assert not try_lock()
    assert try_lock()


def test_two_store_handles_on_one_file_serialise(db_path: Path, store: Store) -> None:
    """store.py write: two handles of one database (as two worker processes have) take turns."""
    other = Store(f"sqlite:///{db_path}")
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.write():
            order.append("a-in")
            inside.set()
            release.wait(10)
            order.append("a-out")

    def follow() -> None:
        with other.write():
            order.append("b-in")

    try:
        a = threading.Thread(target=hold)
        a.start()
        assert inside.wait(10)
        b = threading.Thread(target=follow)
        b.start()
        time.sleep(0.2)
        assert order == ["a-in"]
        release.set()
        a.join(10)
        b.join(10)
        assert order == ["a-in", "a-out", "b-in"]
    finally:
        other.dispose()


def test_write_rolls_back_on_error(store: Store) -> None:
    """store.py write: one transaction — an exception inside leaves nothing half-written."""
    def write_then_fail() -> None:
        with store.write() as conn:
            conn.exec_driver_sql("INSERT INTO item (label) VALUES ('half')")
            raise WorkFailed("stop")

    with pytest.raises(WorkFailed):
        write_then_fail()
    assert _labels(store) == set()


def test_readers_are_not_blocked_by_a_writer(store: Store) -> None:
    """store.py (WAL): readers never block writers nor wait for them, and see only committed data."""
    inside = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with store.write() as conn:
            conn.exec_driver_sql("INSERT INTO item (label) VALUES ('pending')")
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(10)
        started = time.monotonic()
        assert _labels(store) == set()
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        thread.join(10)
    assert _labels(store) == {"pending"}


def test_database_of_another_schema_version_is_refused_untouched(tmp_path: Path) -> None:
    """DESIGN.md "Durability" (the journal is evidence): a database written by another schema version
    is refused at start with a message naming both versions, and none of its rows is changed."""
    import sqlite3

    from simulator.core.store import SCHEMA_VERSION, SchemaMismatch

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE journal (id INTEGER PRIMARY KEY, raw BLOB)")
        raw.execute("INSERT INTO journal (raw) VALUES (x'01')")
    with pytest.raises(SchemaMismatch, match=f"needs {SCHEMA_VERSION}"):
        Store(f"sqlite:///{path}").create_schema()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT raw FROM journal").fetchall() == [(b"\x01",)]

    versioned = tmp_path / "versioned.db"
    first = Store(f"sqlite:///{versioned}")
    first.create_schema()
    with first.write() as conn:
        conn.exec_driver_sql("UPDATE sim_state SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(SchemaMismatch, match="schema version 1"):
        Store(f"sqlite:///{versioned}").create_schema()


def test_fresh_database_gets_the_current_schema_version(tmp_path: Path) -> None:
    """A new database records the schema version; opening it again is accepted."""
    from simulator.core.store import SCHEMA_VERSION

    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    store.create_schema()
    store.create_schema()
    with store.read() as conn:
        value = conn.exec_driver_sql("SELECT value FROM sim_state WHERE key = 'schema_version'").scalar()
    assert value == str(SCHEMA_VERSION)
