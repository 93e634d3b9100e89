"""Durable store: one SQLAlchemy Core schema for SQLite (WAL, default) and PostgreSQL (by URL).

The core tables are profile-neutral: the journal (every message in and out, raw bytes and verdicts),
the outbox (messages waiting for a party, per queue), the party/certificate registry and the simulator
state (clock). Profiles add their own tables to `metadata` (e.g. simulator/ics2/models.py).

Durability rule (DESIGN.md, "Durability"): a message is committed to the journal before its receipt or
acknowledgement is sent. Callers do all CPU work first, then one short write transaction.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import QueuePool

T = TypeVar("T")
# What a reset wipes is declared on each table (Table.info), by the module that defines it, so the core
# needs no list of profile tables: SCENE tables go at every reset, REGISTRY tables only when asked.
SCENE = {"icssim": "scene"}
REGISTRY = {"icssim": "registry"}
# Bump whenever a table changes shape; a database of another version is refused at start.
SCHEMA_VERSION = 4
metadata = MetaData()


class SchemaMismatch(RuntimeError):
    """The database was written by another schema version of the simulator."""

journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(16), nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("channel", String(16), nullable=False),  # as4 | smtp | ...
    Column("kind", String(16), nullable=False),  # user | pull | receipt | error | ...
    Column("message_id", String(255)),
    Column("ref_to_message_id", String(255)),
    Column("action", String(64)),
    Column("sender", String(128)),
    Column("receiver", String(128)),
    Column("queue", String(255)),
    Column("correlation", String(64)),  # LRN / MRN / interchange reference
    Column("content_type", Text),
    Column("raw", LargeBinary),
    Column("payload", LargeBinary),
    Column("verdict", String(32), nullable=False),
    Column("error_code", String(32)),
    Column("detail", Text),
    Column("peer_cert_sha256", String(64)),
    Column("sim_at", String(32), nullable=False),
    Column("real_at", Float, nullable=False),
    info=SCENE,
)
Index("ix_journal_message_id", journal.c.message_id)
Index("ix_journal_ref", journal.c.ref_to_message_id)
Index("ix_journal_correlation", journal.c.correlation)

# Inbound message ids already accepted: duplicate detection (ebMS3 §6.2 / ICD: duplicate elimination).
accepted_messages = Table(
    "accepted_messages",
    metadata,
    Column("profile", String(16), primary_key=True),
    Column("sender", String(128), primary_key=True),  # a MessageId is unique per sending party
    Column("message_id", String(255), primary_key=True),
    Column("journal_id", Integer, nullable=False),
    Column("receipt_journal_id", Integer, nullable=False),  # the receipt as sent (journal raw)
    info=SCENE,
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(16), nullable=False),
    Column("queue", String(255), nullable=False),
    Column("party", String(128), nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("ref_to_message_id", String(255)),
    Column("action", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("correlation", String(64)),
    Column("payload", LargeBinary, nullable=False),
    Column("meta", Text, nullable=False, default="{}"),
    Column("envelope", LargeBinary),
    Column("content_type", Text),
    Column("signature_refs", Text),
    Column("state", String(16), nullable=False),  # queued | sent | delivered | undelivered
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", String(32), nullable=False),
    Column("last_sent_at", String(32)),
    Column("delivered_at", String(32)),
    Column("detail", Text),
    # Push: when the next delivery attempt is due (reception awareness with back-off); NULL = now.
    Column("next_attempt_at", String(32)),
    # Not handed out (pulled or pushed) before this instant, e.g. an injected reply delay; NULL = now.
    Column("available_at", String(32)),
    info=SCENE,
)
Index("ix_outbox_queue_state", outbox.c.queue, outbox.c.state, outbox.c.priority, outbox.c.id)

parties = Table(
    "parties",
    metadata,
    Column("profile", String(16), primary_key=True),
    Column("party", String(128), primary_key=True),  # EORI, ABN/CCID, ...
    Column("name", String(255)),
    Column("created_at", String(32), nullable=False),
    info=REGISTRY,
)

party_certificates = Table(
    "party_certificates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(16), nullable=False),
    Column("party", String(128), nullable=False),
    Column("purpose", String(16), nullable=False),  # sealing | tls
    Column("sha256", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("pem", Text, nullable=False),
    Column("registered_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
    UniqueConstraint("profile", "party", "purpose", "sha256", name="uq_party_cert"),
    info=REGISTRY,
)
Index("ix_party_cert_sha", party_certificates.c.sha256)

sim_state = Table(
    "sim_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)



class Store:
    """Engine plus transaction discipline for both back ends."""

    def __init__(self, url: str, *, sync: str = "normal") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._local_write_lock = threading.Lock()
        self._lock_path: str | None = None
        self._lock_fd: int | None = None
        self._lock_pid = 0
        self._committer: _GroupCommitter | None = None
        self._committer_pid = 0
        self._committer_start = threading.Lock()
        if self.is_sqlite:
            database = url.split(":///", 1)[1] if ":///" in url else ""
            if database and database != ":memory:":
                self._lock_path = database + ".writelock"
            self.engine: Engine = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=16,
                max_overflow=16,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
            _sqlite_discipline(self.engine, sync)
        else:
            self.engine = create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)

    def create_schema(self) -> None:
        """Create missing tables and check the schema version; safe when several processes start.

        A database written by another schema version is refused with SchemaMismatch (its journal is
        evidence: it is never altered or dropped silently).
        """
        existing = set(inspect(self.engine).get_table_names())
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except (OperationalError, ProgrammingError) as exc:
            if "already exists" not in str(exc):
                raise
        with self.write() as conn:
            row = conn.execute(select(sim_state.c.value).where(sim_state.c.key == "schema_version")).first()
            if row is None and not (existing - {"sim_state"}):
                conn.execute(sim_state.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
        found = row[0] if row is not None else "none (older than versioning)"
        if found != str(SCHEMA_VERSION):
            raise SchemaMismatch(
                f"the database at {self.url} has schema version {found}; this icssim needs "
                f"{SCHEMA_VERSION}. Move it away (or delete it) to start with a fresh one.")

    def _process_lock_fd(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._lock_fd is None or self._lock_pid != os.getpid():  # a forked worker opens its own
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        return self._lock_fd

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite).

        SQLite allows one writer at a time and its busy handler waits by sleeping in steps of up to
        100 ms, which would dominate the latency under load. So writers queue instead: threads of one
        process on a Python lock, processes on an flock of <db>.writelock (the kernel wakes the next
        waiter at once). The busy timeout remains only as a safety net for outside writers.
        """
        if not self.is_sqlite:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._local_write_lock:
            fd = self._process_lock_fd()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with self.engine.begin() as conn:
                    yield conn
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def transact(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction shared with other concurrent callers (group commit).

        Under load, one writer thread per process commits the work of every waiting request in one
        transaction, each item inside its own SAVEPOINT (an item that raises is rolled back alone and
        its caller gets the exception). The call returns only after the COMMIT, so an acknowledgement
        sent afterwards never refers to unstored data (DESIGN.md, "Durability").
        """
        if os.getpid() != self._committer_pid:
            with self._committer_start:
                if os.getpid() != self._committer_pid:
                    self._committer = _GroupCommitter(self)
                    self._committer_pid = os.getpid()
        assert self._committer is not None
        return self._committer.run(work)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(icssim_read=True) as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


class _Pending:
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[Connection], Any]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class _GroupCommitter:
    """The per-process writer thread behind Store.transact."""

    MAX_BATCH = 64

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="icssim-group-commit", daemon=True).start()

    def run(self, work: Callable[[Connection], T]) -> T:
        item = _Pending(work)
        self._queue.put(item)
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return,unused-ignore]

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with self._store.write() as conn:
                for item in batch:
                    if len(batch) == 1:
                        item.result = item.work(conn)
                        continue
                    savepoint = conn.begin_nested()
                    try:
                        item.result = item.work(conn)
                        savepoint.commit()
                    except Exception as exc:
                        savepoint.rollback()
                        item.error = exc
        except BaseException as exc:  # the COMMIT (or a lone item) failed: nobody's work is stored
            for item in batch:
                item.error = item.error or exc
        finally:
            for item in batch:
                item.done.set()


def _sqlite_discipline(engine: Engine, sync: str) -> None:
    synchronous = "FULL" if sync == "full" else "NORMAL"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        # The journal grows by ~25 KB per filing and its indexes have random keys (MessageIds): give
        # each connection a 16 MB page cache and let reads go through a shared memory map, or the
        # rate drifts down as the file outgrows SQLite's 2 MB default.
        cur.execute("PRAGMA cache_size=-16384")
        cur.execute("PRAGMA mmap_size=1073741824")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so two writers never deadlock on lock upgrade;
        # readers start a deferred transaction and never block writers (WAL).
        if conn.get_execution_options().get("icssim_read"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
