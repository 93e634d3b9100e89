"""The registry of parties and their certificates, and the simulator's own security material.

domain/ics2.md "AS4 profile" Security / ICD §4.3 and Table 24: a sealing certificate is bound to an EORI
by registration (UUM&DS), not by its subject — EBMS:0004 sub-code A001 when it is not registered;
simulator/trust/registry.py: registering again re-activates, a revoked registration no longer binds,
TLS certificates are registered the same way under their own purpose. simulator/trust/material.py: the
simulator's trust anchors, CRL and sealing key are loaded once from the test PKI directory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.core.clock import iso
from simulator.core.store import Store
from simulator.trust.material import SecurityMaterial
from simulator.trust.registry import PartyRegistry, certificate_sha256, load_pem_certificate
from tests.unit.codec_fixtures import identity

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EORI = "BE0123456789"
OTHER = "NL123456789"



@pytest.fixture
def registry(store: Store) -> PartyRegistry:
    return PartyRegistry(store, "ics2")


def _pem(cert: object) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()  # type: ignore[attr-defined]


def test_register_binds_the_certificate_to_the_party(registry: PartyRegistry) -> None:
    """ICD §4.3 / Table 24 A001: the binding is by registration; parties_for names the bound parties."""
    cert = identity().leaf
    record = registry.register(EORI, cert, purpose="sealing", at=T0, name="Trader A")
    assert record.sha256 == certificate_sha256(cert)
    assert record.registered_at == iso(T0) and record.revoked_at is None
    assert registry.parties_for(record.sha256, "sealing") == {EORI}
    listed = registry.list_parties()
    assert [(p["party"], p["name"]) for p in listed] == [(EORI, "Trader A")]
    certificates: Any = listed[0]["certificates"]
    assert [c["sha256"] for c in certificates] == [record.sha256]


def test_register_twice_is_idempotent(registry: PartyRegistry) -> None:
    """registry.py register: the same (party, purpose, certificate) twice is one registration."""
    cert = identity().leaf
    registry.register(EORI, cert, purpose="sealing", at=T0)
    registry.register(EORI, cert, purpose="sealing", at=T0 + timedelta(seconds=1), name="Renamed")
    assert len(registry.certificates(EORI)) == 1
    assert [(p["party"], p["name"]) for p in registry.list_parties()] == [(EORI, "Renamed")]


def test_one_certificate_may_be_registered_for_several_parties(registry: PartyRegistry) -> None:
    """ICD §4.3 (registration per EORI): an IT service provider's seal can be registered for several EORIs."""
    cert = identity().leaf
    registry.register(EORI, cert, purpose="sealing", at=T0)
    registry.register(OTHER, cert, purpose="sealing", at=T0)
    assert registry.parties_for(certificate_sha256(cert), "sealing") == {EORI, OTHER}


def test_revoke_then_register_again_reactivates(registry: PartyRegistry) -> None:
    """registry.py: a revoked registration no longer binds; registering again re-activates it."""
    cert = identity().leaf
    sha = certificate_sha256(cert)
    registry.register(EORI, cert, purpose="sealing", at=T0)
    assert registry.revoke(EORI, sha, at=T0 + timedelta(hours=1)) == 1
    assert registry.parties_for(sha, "sealing") == set()
    assert registry.certificates(EORI)[0].revoked_at == iso(T0 + timedelta(hours=1))
    assert registry.revoke(EORI, sha, at=T0 + timedelta(hours=2)) == 0  # nothing active left to revoke
    registry.register(EORI, cert, purpose="sealing", at=T0 + timedelta(hours=3))
    assert registry.parties_for(sha, "sealing") == {EORI}
    (only,) = registry.certificates(EORI)
    assert only.revoked_at is None and only.registered_at == iso(T0 + timedelta(hours=3))


def test_revoke_accepts_upper_case_hex(registry: PartyRegistry) -> None:
    """Control API revoke {"sha256": hex}: the fingerprint is matched whatever its letter case."""
    cert = identity().leaf
    registry.register(EORI, cert, purpose="sealing", at=T0)
    assert registry.revoke(EORI, certificate_sha256(cert).upper(), at=T0) == 1


def test_parties_for_ignores_revoked_and_other_purposes(registry: PartyRegistry) -> None:
    """registry.py parties_for: only current registrations of that purpose bind (sealing vs tls)."""
    seal, tls = identity().leaf, identity("tls").leaf
    registry.register(EORI, seal, purpose="sealing", at=T0)
    registry.register(EORI, tls, purpose="tls", at=T0)
    registry.register(OTHER, seal, purpose="sealing", at=T0)
    registry.revoke(OTHER, certificate_sha256(seal), at=T0)
    assert registry.parties_for(certificate_sha256(seal), "sealing") == {EORI}
    assert registry.parties_for(certificate_sha256(seal), "tls") == set()
    assert registry.parties_for(certificate_sha256(tls), "sealing") == set()
    assert registry.parties_for(certificate_sha256(tls), "tls") == {EORI}
    assert registry.parties_for(None, "tls") == set()


def test_revoke_by_purpose_leaves_the_other_purpose(registry: PartyRegistry) -> None:
    """registry.py revoke(purpose=...): ends only that purpose's registration."""
    cert = identity().leaf
    registry.register(EORI, cert, purpose="sealing", at=T0)
    registry.register(EORI, cert, purpose="tls", at=T0)
    assert registry.revoke(EORI, certificate_sha256(cert), at=T0, purpose="tls") == 1
    assert registry.parties_for(certificate_sha256(cert), "sealing") == {EORI}
    assert registry.parties_for(certificate_sha256(cert), "tls") == set()


def test_registries_are_per_profile(store: Store) -> None:
    """DESIGN.md "One core, two profiles": a registration in one profile binds nothing in another."""
    cert = identity().leaf
    PartyRegistry(store, "ics2").register(EORI, cert, purpose="sealing", at=T0)
    other = PartyRegistry(store, "au_ics")
    assert other.parties_for(certificate_sha256(cert), "sealing") == set()
    assert other.list_parties() == []


def test_unknown_purpose_is_refused(registry: PartyRegistry) -> None:
    """registry.py: purposes are sealing and tls."""
    with pytest.raises(ValueError, match="purpose"):
        registry.register(EORI, identity().leaf, purpose="signing", at=T0)


def test_load_pem_certificate() -> None:
    """registry.py load_pem_certificate: control/CLI input; a ValueError says what is wrong."""
    cert = identity().leaf
    assert load_pem_certificate(_pem(cert)) == cert
    assert load_pem_certificate(_pem(cert).encode()) == cert
    with pytest.raises(ValueError, match=r"not a PEM X\.509 certificate"):
        load_pem_certificate("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


# -- security material --------------------------------------------------------------------------------
def _write_pki(directory: Path, *, key: object | None = None) -> Path:
    ident = identity("simulator")
    (directory / "ca").mkdir(parents=True)
    (directory / "simulator").mkdir()
    (directory / "ca" / "root.pem").write_text(_pem(ident.chain[-1]))
    (directory / "simulator" / "sealing-chain.pem").write_text("".join(_pem(c) for c in ident.chain))
    (directory / "simulator" / "sealing.key").write_bytes(
        (key or ident.key).private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return directory


def test_material_loads_key_chain_and_trust(tmp_path: Path) -> None:
    """material.py: the simulator's sealing key and path (leaf first) and the trust anchors, loaded once."""
    ident = identity("simulator")
    material = SecurityMaterial.from_pki(_write_pki(tmp_path / "pki"))
    assert material.sealing_chain == list(ident.chain)
    assert material.sealing_key.private_numbers() == ident.key.private_numbers()
    verdict = material.trust.evaluate(list(ident.chain), at=T0, purpose="sealing")
    assert verdict.ok, verdict


def test_material_missing_files_name_them_and_the_fix(tmp_path: Path) -> None:
    """material.py: an incomplete test PKI names the missing files and the command that makes them."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"root\.pem.*sealing\.key.*icssim certs init"):
        SecurityMaterial.from_pki(tmp_path / "empty")


def test_material_refuses_a_non_rsa_sealing_key(tmp_path: Path) -> None:
    """ICD §4.3 (RSA-SHA256 signatures): the simulator's sealing key must be RSA."""
    with pytest.raises(ValueError, match="RSA"):
        SecurityMaterial.from_pki(_write_pki(tmp_path / "pki", key=ec.generate_private_key(ec.SECP256R1())))
