"""ICS2 tables added to the core schema: the ENS filings and their registration state."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from simulator.core.store import SCENE, metadata

ens = Table(
    "ics2_ens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the MRN sequence
    Column("lrn", String(22)),
    Column("mrn", String(18), unique=True),
    Column("message_type", String(8), nullable=False),
    Column("sender", String(64), nullable=False),  # PartyId of the filer
    Column("declarant", String(32)),
    Column("state", String(24), nullable=False),  # registered | rejected | ...
    Column("message_id", String(255), nullable=False),
    Column("journal_id", Integer, nullable=False),
    Column("agreement", String(32), nullable=False),
    Column("filed_at", String(32), nullable=False),
    Column("errors", Text),
    info=SCENE,
)
Index("ix_ics2_ens_lrn", ens.c.lrn)
