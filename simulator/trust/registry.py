"""Registry of parties and the certificates registered for them.

ICS2 binds a sealing certificate to an EORI by registration (in UUM&DS), not by the certificate's
subject (domain/ics2.md, "AS4 profile" Security; ICD §4.3 and Table 24: EBMS:0004 sub-code A001 when
the sealing certificate is not registered for the sender). TLS client certificates are registered the
same way so that the transport identity can be matched to the party that signs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Connection

from simulator.core.clock import iso
from simulator.core.fastsql import Prepared
from simulator.core.store import Store, parties, party_certificates

PURPOSES = ("sealing", "tls")
# Read per request on the hot path: compiled once (simulator/core/fastsql.py).
_PARTIES_FOR = Prepared(select(party_certificates.c.party).where(
    and_(
        party_certificates.c.profile == bindparam("profile"),
        party_certificates.c.sha256 == bindparam("sha"),
        party_certificates.c.purpose == bindparam("purpose"),
        party_certificates.c.revoked_at.is_(None),
    )
), ("profile", "sha", "purpose"))


@dataclass(frozen=True)
class RegisteredCertificate:
    party: str
    purpose: str
    sha256: str
    subject: str
    registered_at: str
    revoked_at: str | None


def certificate_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def load_pem_certificate(pem: str | bytes) -> x509.Certificate:
    """Parse one PEM certificate; a ValueError names what is wrong (used for CLI/control input)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"not a PEM X.509 certificate: {exc}") from exc


class PartyRegistry:
    """Parties and their registered certificates, per profile."""

    def __init__(self, store: Store, profile: str) -> None:
        self._store = store
        self._profile = profile

    def register(
        self, party: str, cert: x509.Certificate, *, purpose: str, at: datetime, name: str | None = None
    ) -> RegisteredCertificate:
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}")
        sha = certificate_sha256(cert)
        subject = cert.subject.rfc4514_string()
        pem = cert.public_bytes(Encoding.PEM).decode()
        when = iso(at)
        with self._store.write() as conn:
            exists = conn.execute(
                select(parties.c.party).where(
                    and_(parties.c.profile == self._profile, parties.c.party == party)
                )
            ).first()
            if exists is None:
                conn.execute(
                    parties.insert().values(profile=self._profile, party=party, name=name, created_at=when)
                )
            elif name:
                conn.execute(
                    parties.update()
                    .where(and_(parties.c.profile == self._profile, parties.c.party == party))
                    .values(name=name)
                )
            key = and_(
                party_certificates.c.profile == self._profile,
                party_certificates.c.party == party,
                party_certificates.c.purpose == purpose,
                party_certificates.c.sha256 == sha,
            )
            row = conn.execute(select(party_certificates.c.id).where(key)).first()
            if row is None:
                conn.execute(
                    party_certificates.insert().values(
                        profile=self._profile, party=party, purpose=purpose, sha256=sha,
                        subject=subject, pem=pem, registered_at=when, revoked_at=None,
                    )
                )
            else:  # registering again re-activates a revoked registration
                conn.execute(
                    party_certificates.update().where(key).values(registered_at=when, revoked_at=None)
                )
        return RegisteredCertificate(party, purpose, sha, subject, when, None)

    def revoke(self, party: str, sha256: str, *, at: datetime, purpose: str | None = None) -> int:
        """End a registration (the certificate itself stays valid; it is just no longer bound)."""
        cond = [
            party_certificates.c.profile == self._profile,
            party_certificates.c.party == party,
            party_certificates.c.sha256 == sha256.lower(),
            party_certificates.c.revoked_at.is_(None),
        ]
        if purpose:
            cond.append(party_certificates.c.purpose == purpose)
        with self._store.write() as conn:
            result = conn.execute(party_certificates.update().where(and_(*cond)).values(revoked_at=iso(at)))
        return int(result.rowcount or 0)

    def parties_for(self, sha256: str | None, purpose: str, conn: Connection | None = None) -> set[str]:
        """Parties for which this certificate is currently registered (inside `conn` if given)."""
        if sha256 is None:
            return set()
        if conn is None:
            with self._store.read() as own:
                return self.parties_for(sha256, purpose, own)
        _, rows = _PARTIES_FOR.run(conn, {"profile": self._profile, "sha": sha256, "purpose": purpose})
        return {r[0] for r in rows}

    def certificates(self, party: str | None = None) -> list[RegisteredCertificate]:
        query = select(party_certificates).where(party_certificates.c.profile == self._profile)
        if party is not None:
            query = query.where(party_certificates.c.party == party)
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(party_certificates.c.id)).mappings().all()
        return [
            RegisteredCertificate(
                r["party"], r["purpose"], r["sha256"], r["subject"], r["registered_at"], r["revoked_at"]
            )
            for r in rows
        ]

    def list_parties(self) -> list[dict[str, object]]:
        with self._store.read() as conn:
            rows = conn.execute(
                select(parties).where(parties.c.profile == self._profile).order_by(parties.c.party)
            ).mappings().all()
        certs = self.certificates()
        return [
            {
                "party": r["party"],
                "name": r["name"],
                "created_at": r["created_at"],
                "certificates": [
                    {"purpose": c.purpose, "sha256": c.sha256, "subject": c.subject,
                     "registered_at": c.registered_at, "revoked_at": c.revoked_at}
                    for c in certs if c.party == r["party"]
                ],
            }
            for r in rows
        ]
