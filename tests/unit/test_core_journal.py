"""The journal (every message in and out) and the hot-path statement runner under it.

DESIGN.md "Durability" (a message and its receipt are committed together, before anything leaves) and
"How data flows" (journal API: what the SUT sent, how it reacted); simulator/core/fastsql.py: a
statement compiled once per dialect runs on the raw SQLite cursor with the same effect as through
SQLAlchemy.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import bindparam, select

from simulator.core import journal
from simulator.core.fastsql import Prepared
from simulator.core.journal import JournalEntry
from simulator.core.store import Store, sim_state

AT = "2025-03-01T12:00:00.000Z"



def _entry(**fields: object) -> JournalEntry:
    base: dict[str, object] = {"profile": "ics2", "direction": "in", "channel": "as4", "kind": "user",
                               "verdict": "accepted", "sim_at": AT}
    base.update(fields)
    return JournalEntry(**base)  # type: ignore[arg-type]


# -- fastsql ------------------------------------------------------------------------------------------
def test_prepared_insert_returns_the_new_row_id(store: Store) -> None:
    """fastsql.py Prepared.run: (last inserted row id, rows) — ids of consecutive inserts ascend."""
    insert = Prepared(sim_state.insert(), ("key", "value"))
    with store.write() as conn:
        first, rows = insert.run(conn, {"key": "a", "value": "1"})
        second, _ = insert.run(conn, {"value": "2", "key": "b"})  # parameters by name, any order
    assert rows == []
    assert first is not None and second == first + 1
    with store.read() as conn:
        stored = dict(conn.execute(select(sim_state.c.key, sim_state.c.value)).all())
    assert {k: v for k, v in stored.items() if k != "schema_version"} == {"a": "1", "b": "2"}


def test_prepared_select_returns_rows_and_is_compiled_once(store: Store) -> None:
    """fastsql.py: compiled once per dialect, then executed with the least overhead; same result as
    SQLAlchemy's own execution of the statement."""
    with store.write() as conn:
        conn.execute(sim_state.insert(), [{"key": "x", "value": "10"}, {"key": "y", "value": "20"}])
    statement = select(sim_state.c.value).where(sim_state.c.key == bindparam("wanted"))
    prepared = Prepared(statement, ("wanted",))
    with store.read() as conn:
        _, rows = prepared.run(conn, {"wanted": "y"})
        compiled = prepared._sqlite
        _, again = prepared.run(conn, {"wanted": "x"})
        assert prepared._sqlite is compiled  # no second compilation
        expected = conn.execute(statement, {"wanted": "y"}).all()
    assert rows == [tuple(r) for r in expected] == [("20",)]
    assert again == [("10",)]


# -- journal ------------------------------------------------------------------------------------------
def test_record_and_query_in_order(store: Store) -> None:
    """journal.py: entries come back in the order written, with the fields given."""
    ids = [journal.record_alone(store, _entry(message_id=f"m{n}", action="IE3F32")) for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    rows = journal.query(store)
    assert [r["message_id"] for r in rows] == ["m0", "m1", "m2"]
    assert rows[0]["action"] == "IE3F32" and rows[0]["sim_at"] == AT


def test_record_is_part_of_the_callers_transaction(store: Store) -> None:
    """DESIGN.md Durability: an entry is written in the caller's transaction — rolled back with it."""
    def write_then_fail() -> None:
        with store.write() as conn:
            journal.record(conn, _entry(message_id="lost"))
            raise RuntimeError("the rest of the transaction failed")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert journal.query(store) == []


def test_query_filters_by_exact_field_values(store: Store) -> None:
    """Control API journal filters: profile, direction, kind, verdict, sender, correlation, ... exact."""
    journal.record_alone(store, _entry(message_id="a", sender="BE1", correlation="LRN1"))
    journal.record_alone(store, _entry(message_id="b", direction="out", kind="receipt", verdict="sent"))
    journal.record_alone(store, _entry(message_id="c", sender="NL2", verdict="rejected", error_code="EBMS:0101"))
    assert [r["message_id"] for r in journal.query(store, direction="out")] == ["b"]
    assert [r["message_id"] for r in journal.query(store, sender="NL2", verdict="rejected")] == ["c"]
    assert [r["message_id"] for r in journal.query(store, correlation="LRN1")] == ["a"]
    assert [r["message_id"] for r in journal.query(store, kind="user", sender=None)] == ["a", "c"]
    assert journal.query(store, sender="BE") == []  # exact, not prefix


def test_query_since_id_and_limit(store: Store) -> None:
    """Control API journal: since_id pages forward, limit caps the answer (at least one row)."""
    ids = [journal.record_alone(store, _entry(message_id=f"m{n}")) for n in range(5)]
    assert [r["id"] for r in journal.query(store, since_id=ids[1])] == ids[2:]
    assert [r["id"] for r in journal.query(store, limit=2)] == ids[:2]
    assert [r["id"] for r in journal.query(store, limit=0)] == ids[:1]


def test_unknown_filter_is_refused(store: Store) -> None:
    """journal.py query: filters are a fixed set; another name is an error, not silently ignored."""
    with pytest.raises(ValueError, match="raw"):
        journal.query(store, raw="x")


def test_raw_bytes_only_when_asked_and_payload_decoded(store: Store) -> None:
    """Control API journal raw: raw bytes base64 only when asked; a UTF-8 payload as text, other bytes
    as base64."""
    journal.record_alone(store, _entry(message_id="t", raw=b"\x00raw", payload="<x>é</x>".encode()))
    journal.record_alone(store, _entry(message_id="b", raw=None, payload=b"\xff\xfe"))
    plain, binary = journal.query(store)
    assert "raw_b64" not in plain and plain["raw_size"] == 4
    assert plain["payload"] == "<x>é</x>"
    assert binary["payload_b64"] == base64.b64encode(b"\xff\xfe").decode() and "payload" not in binary
    assert binary["raw_size"] == 0
    with_raw = journal.query(store, include_raw=True, message_id="t")
    assert base64.b64decode(with_raw[0]["raw_b64"]) == b"\x00raw"


def test_entry_raw(store: Store) -> None:
    """Control API journal/<id>/raw: the bytes as received with their content type."""
    typed = journal.record_alone(store, _entry(raw=b"<env/>", content_type="application/soap+xml"))
    untyped = journal.record_alone(store, _entry(raw=b"bytes"))
    empty = journal.record_alone(store, _entry())
    assert journal.entry_raw(store, typed) == (b"<env/>", "application/soap+xml")
    assert journal.entry_raw(store, untyped) == (b"bytes", "application/octet-stream")
    assert journal.entry_raw(store, empty) is None
    assert journal.entry_raw(store, 9999) is None


def test_counts_by_profile_direction_kind_verdict(store: Store) -> None:
    """Control API journal/stats: number of entries per (profile, direction, kind, verdict)."""
    for _ in range(2):
        journal.record_alone(store, _entry())
    journal.record_alone(store, _entry(direction="out", kind="receipt", verdict="sent"))
    counts = {(c["direction"], c["kind"], c["verdict"]): c["count"] for c in journal.counts(store)}
    assert counts == {("in", "user", "accepted"): 2, ("out", "receipt", "sent"): 1}
