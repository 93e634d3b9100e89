"""ICS2 tables added to the core schema: the ENS filings, how they link, and the referrals sent.

One row of ``ics2_ens`` per filing received (registered or rejected). A registered filing belongs to
an ENS whose lifecycle entity (``entity``) is the MRN of its first filing: a complete filing is its own
ENS; partial filings (domain/ics2.md "ENS lifecycle") share the entity of the first part filed for
their master transport document.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

import simulator.ics2.parties  # noqa: F401  (party profile/representation tables join the schema)
from simulator.core.store import SCENE, metadata
from simulator.ics2 import risk  # noqa: F401  (the forced-outcomes table joins the schema)

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
    Column("entity", String(18)),  # MRN of the ENS's lifecycle instance (linked partial filings share it)
    Column("role", String(24)),  # data/linking.json role: complete | master | house | ...
    Column("master_document", String(70)),  # linking key
    Column("houses", Text),  # JSON {house document number: filer named or null}
    Column("carrier", String(32)),
    Column("representative", String(32)),
    Column("echo", Text),  # JSON of the ReplyParties echoed in notifications about this ENS
    info=SCENE,
)
Index("ix_ics2_ens_lrn", ens.c.lrn)
Index("ix_ics2_ens_entity", ens.c.entity)
Index("ix_ics2_ens_master", ens.c.master_document)

referrals = Table(
    "ics2_referrals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity", String(18), nullable=False),
    Column("referral", String(70), nullable=False),  # referralRequestReference
    Column("kind", String(8), nullable=False),  # rfi | hrcm | dnl
    Column("response_method", String(1)),  # rfi: 1 = IE3R02, 2 = amendment
    Column("requested_at", String(32), nullable=False),
    Column("answered_at", String(32)),
    Column("answered_by", String(16)),  # IE3R02 | IE3R03 | IE3Axx
    info=SCENE,
)
Index("ix_ics2_referrals_entity", referrals.c.entity)
