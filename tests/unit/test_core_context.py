"""What a server process shares (config, store, clock) and the reset of a scene.

DESIGN.md "How data flows" (the control API sets the scene) and "Deterministic" (the same scenario
gives the same MRNs); simulator/core/context.py reset_scene: wipes journal, outbox, profile tables and
the clock, keeps the party registry unless asked, and restarts sequences so that MRNs repeat.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

import simulator.ics2.models  # noqa: F401  (adds the ics2_ens table to the schema)
from scenarios.filings.ics2 import build_filing, sample_data
from simulator.core import journal, outbox
from simulator.core.config import load_config
from simulator.core.context import EXTENSION_KEY, SimContext, sim_context
from simulator.core.journal import JournalEntry
from simulator.core.store import accepted_messages, parties, party_certificates
from simulator.ics2.catalogue import entry
from simulator.ics2.filings import FilingDesk
from simulator.ics2.models import ens
from simulator.ics2.runtime import Ics2Runtime
from simulator.ics2.validation import default_schema_set
from simulator.trust.registry import PartyRegistry
from tests.unit.codec_fixtures import identity

EORI = "BE0123456789"
START = "2025-03-01T12:00:00Z"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[SimContext]:
    config = load_config(env={}, overrides={"var_dir": tmp_path / "var", "clock_mode": "frozen",
                                            "clock_start": START})
    ctx = SimContext.open(config)
    ctx.reset_scene()
    yield ctx
    ctx.store.dispose()


def _register_filing(ctx: SimContext, lrn: str) -> str | None:
    runtime = Ics2Runtime.build(ctx)
    desk = FilingDesk(default_schema_set(), mrn_country="BE", lifecycle=runtime.lifecycle, effects=runtime.effects,
                      profiles=runtime.profiles)
    catalogue_entry = entry("IE3F32")
    assert catalogue_entry is not None
    assessment = desk.assess(catalogue_entry, build_filing("IE3F32", sample_data("IE3F32", lrn=lrn, eori=EORI)))
    with ctx.store.write() as conn:
        reply, *_ = desk.commit(conn, assessment, sender=EORI, message_id=f"{lrn}@test", journal_id=1,
                                agreement="EU-ICS2-TI-V1.0", now=ctx.clock.now())
    return reply.mrn


def _fill_scene(ctx: SimContext) -> None:
    journal.record_alone(ctx.store, JournalEntry("ics2", "in", "as4", "user", "accepted", "t", message_id="m1"))
    with ctx.store.write() as conn:
        outbox.enqueue(conn, profile="ics2", queue="q", party=EORI, message_id="o1", action="IE3R01",
                       payload=b"<x/>", priority="B", created_at=datetime(2025, 3, 1, tzinfo=UTC))
        conn.execute(accepted_messages.insert().values(profile="ics2", sender=EORI, message_id="m1",
                                                       journal_id=1, receipt_journal_id=2))
    _register_filing(ctx, "LRN0001")
    PartyRegistry(ctx.store, "ics2").register(EORI, identity().leaf, purpose="sealing", at=ctx.clock.now())
    ctx.clock.advance(3600)


def _count(ctx: SimContext, table: object) -> int:
    with ctx.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_open_creates_var_dir_and_schema(tmp_path: Path) -> None:
    """context.py SimContext.open: built once per process — directory, store with its schema, clock."""
    config = load_config(env={}, overrides={"var_dir": tmp_path / "new" / "var"})
    ctx = SimContext.open(config)
    try:
        assert config.var_dir.is_dir()
        assert _count(ctx, ens) == 0 and _count(ctx, parties) == 0
    finally:
        ctx.store.dispose()


def test_reset_wipes_the_scene_and_keeps_the_registry(ctx: SimContext) -> None:
    """context.py reset_scene: journal, accepted ids, outbox, ics2_* tables and clock are reset; the party
    registry survives unless asked (parties are set up once per session, scenes many times)."""
    _fill_scene(ctx)
    ctx.reset_scene()
    assert journal.query(ctx.store) == []
    assert outbox.listing(ctx.store) == []
    assert _count(ctx, accepted_messages) == 0
    assert _count(ctx, ens) == 0
    assert _count(ctx, parties) == 1 and _count(ctx, party_certificates) == 1
    assert PartyRegistry(ctx.store, "ics2").parties_for(
        PartyRegistry(ctx.store, "ics2").certificates()[0].sha256, "sealing") == {EORI}


def test_reset_returns_the_clock_to_the_configured_start(ctx: SimContext) -> None:
    """DESIGN.md Deterministic: after a reset the clock is the configured one again, not advanced."""
    _fill_scene(ctx)
    ctx.reset_scene()
    state = ctx.clock.state()
    assert (state.mode, state.offset_seconds) == ("frozen", 0.0)
    assert ctx.clock.now() == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_reset_with_parties_forgets_the_registry(ctx: SimContext) -> None:
    """context.py reset_scene(parties=True): the registry is wiped too."""
    _fill_scene(ctx)
    ctx.reset_scene(parties=True)
    assert _count(ctx, parties) == 0 and _count(ctx, party_certificates) == 0
    assert journal.query(ctx.store) == []
    assert ctx.clock.state().offset_seconds == 0.0


def test_mrn_sequence_restarts_after_reset(ctx: SimContext) -> None:
    """DESIGN.md Deterministic: the same scenario gives the same MRNs — the sequence restarts at reset."""
    first = [_register_filing(ctx, f"LRN{n:04d}") for n in range(3)]
    ctx.reset_scene()
    again = [_register_filing(ctx, f"LRN{n:04d}") for n in range(3)]
    assert first == again
    assert all(mrn is not None and len(mrn) == 18 for mrn in first)
    assert len(set(first)) == 3


def test_journal_ids_restart_after_reset(ctx: SimContext) -> None:
    """DESIGN.md Deterministic: journal ids (which the harness cites) repeat after a reset."""
    entry_ = JournalEntry("ics2", "in", "as4", "user", "accepted", "t")
    first = [journal.record_alone(ctx.store, entry_) for _ in range(2)]
    ctx.reset_scene()
    assert [journal.record_alone(ctx.store, entry_) for _ in range(2)] == first


def test_sim_context_finds_the_apps_context(ctx: SimContext) -> None:
    """context.py: the shared context is an extension of the Flask app (current_app or given)."""
    app = Flask("t")
    app.extensions[EXTENSION_KEY] = ctx
    assert sim_context(app) is ctx
    with app.app_context():
        assert sim_context() is ctx


def test_reset_of_parties_keeps_the_simulator_state(tmp_path: Path) -> None:
    """DESIGN.md "Deterministic" / store schema versioning: a reset that also forgets the parties wipes
    only scene and registry tables (declared by Table.info); the schema version survives, so the same
    database is accepted again at the next start."""
    from simulator.core.config import load_config
    from simulator.core.store import Store

    ctx = SimContext.open(load_config(env={}, overrides={"var_dir": tmp_path}))
    ctx.reset_scene(parties=True)
    Store(ctx.config.db_url).create_schema()  # what the next start does: must not raise SchemaMismatch
    with ctx.store.read() as conn:
        version = conn.exec_driver_sql("SELECT value FROM sim_state WHERE key = 'schema_version'").scalar()
    assert version is not None
