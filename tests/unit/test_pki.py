"""The test PKI generator (certs/pki.py): layout, idempotency and that every condition has its defect."""

from __future__ import annotations

import ipaddress
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.pki import (
    TRADERS,
    TestPki,
    init_test_pki,
    issue_party_certificate,
    load_certificates,
    load_private_key,
    load_test_pki,
)

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("pki"), now=NOW)


@pytest.fixture
def pki_copy(pki: TestPki, tmp_path: Path) -> Path:
    """A private copy of the module's PKI for tests that change files."""
    target = tmp_path / "pki"
    shutil.copytree(pki.directory, target)
    return target


def _snapshot(directory: Path) -> dict[str, bytes]:
    files = sorted(path for path in directory.rglob("*") if path.is_file())
    return {str(path.relative_to(directory)): path.read_bytes() for path in files}


def _leaf(path: Path) -> x509.Certificate:
    return load_certificates(path)[0]


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:
        return False
    return True


# --- layout and manifest -----------------------------------------------------------------------------


def test_manifest_lists_existing_files_relative_to_the_directory(pki: TestPki) -> None:
    manifest = json.loads((pki.directory / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert datetime.fromisoformat(manifest["created"]) == NOW
    paths = [*manifest["ca"].values(), *manifest["server"].values(), *manifest["simulator"].values()]
    for trader in manifest["traders"]:
        paths += [trader[k] for k in ("sealing_cert", "sealing_key", "sealing_chain", "tls_cert", "tls_key")]
    for rel in paths:
        assert not Path(rel).is_absolute()
        assert (pki.directory / rel).is_file(), rel
    listed = [(t["name"], t["eori"], t["condition"]) for t in manifest["traders"]]
    assert listed == [tuple(spec) for spec in TRADERS]


def test_load_test_pki_mirrors_the_manifest_with_absolute_paths(pki: TestPki) -> None:
    loaded = load_test_pki(pki.directory)
    assert loaded == pki
    assert loaded.trader("revoked").eori == "IT01234567890"
    assert loaded.ca.crl.is_absolute()
    assert loaded.ca.crl.is_file()
    with pytest.raises(KeyError, match="no test trader"):
        loaded.trader("nobody")


def test_load_test_pki_without_a_pki_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_test_pki(tmp_path)


def test_private_keys_are_pkcs8_and_mode_0600(pki: TestPki) -> None:
    keys = sorted(pki.directory.rglob("*.key"))
    assert len(keys) == 3 + 4 + 3 * len(TRADERS)  # CAs; server TLS, sealing, push client, evidence; per trader
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
        assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key(pki.ca.root_key).key_size == 3072
    assert load_private_key(pki.ca.issuing_key).key_size == 3072
    assert load_private_key(pki.trader("trader-a").sealing_key).key_size == 2048
    assert load_private_key(pki.server.key).key_size == 2048


def test_ca_files(pki: TestPki) -> None:
    root, issuing = _leaf(pki.ca.root_cert), _leaf(pki.ca.issuing_cert)
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ICSSIM Test Root CA"
    assert issuing.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ICSSIM Test Issuing CA"
    assert _issued_by(root, root)
    assert _issued_by(issuing, root)
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(
        ca=True, path_length=0
    )
    assert load_certificates(pki.ca.trust_bundle) == [root]
    assert load_certificates(pki.ca.chain) == [issuing, root]
    other = _leaf(pki.ca.other_root_cert)
    assert other.subject != root.subject
    assert _issued_by(other, other)


def test_server_tls_certificate(pki: TestPki) -> None:
    certs = load_certificates(pki.server.cert)
    assert len(certs) == 2
    assert certs[1] == _leaf(pki.ca.issuing_cert)
    leaf = certs[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert _issued_by(leaf, certs[1])


def test_simulator_sealing_chain(pki: TestPki) -> None:
    chain = load_certificates(pki.simulator.chain)
    assert chain == [_leaf(pki.simulator.cert), _leaf(pki.ca.issuing_cert), _leaf(pki.ca.root_cert)]
    assert isinstance(load_private_key(pki.simulator.key), rsa.RSAPrivateKey)


# --- every trader: a valid TLS client certificate, a sealing certificate with its condition ------------


@pytest.mark.parametrize("spec", TRADERS, ids=lambda spec: spec.name)
def test_trader_tls_client_certificate_is_valid(pki: TestPki, spec) -> None:
    trader = pki.trader(spec.name)
    certs = load_certificates(trader.tls_cert)
    issuing = _leaf(pki.ca.issuing_cert)
    assert len(certs) == 2
    assert certs[1] == issuing
    assert _issued_by(certs[0], issuing)
    leaf = certs[0]
    assert leaf.not_valid_before_utc <= NOW <= leaf.not_valid_after_utc
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert load_private_key(trader.tls_key).public_key() == leaf.public_key()


@pytest.mark.parametrize("spec", TRADERS, ids=lambda spec: spec.name)
def test_trader_sealing_certificate_names_and_key(pki: TestPki, spec) -> None:
    trader = pki.trader(spec.name)
    leaf = _leaf(trader.sealing_cert)
    assert len(load_certificates(trader.sealing_cert)) == 1
    assert load_certificates(trader.sealing_chain)[0] == leaf
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == spec.name
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{spec.eori} sealing"
    assert leaf.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == spec.eori
    assert load_private_key(trader.sealing_key).public_key() == leaf.public_key()
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    if spec.condition == "wrong-key-usage":
        assert usage.value.key_encipherment
        assert not usage.value.digital_signature
        assert not usage.value.content_commitment
    else:
        assert usage.value.digital_signature
        assert usage.value.content_commitment
    validity = (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    if spec.condition == "expired":
        assert validity[1] < NOW
    elif spec.condition == "not-yet-valid":
        assert validity[0] >= NOW + timedelta(days=29)
    else:
        assert validity[0] <= NOW <= validity[1]


def test_trader_sealing_chains_lead_to_their_roots(pki: TestPki) -> None:
    root, issuing, other = (_leaf(p) for p in (pki.ca.root_cert, pki.ca.issuing_cert, pki.ca.other_root_cert))
    for spec in TRADERS:
        chain = load_certificates(pki.trader(spec.name).sealing_chain)
        if spec.condition == "untrusted":
            assert chain[1:] == [other]
            assert _issued_by(chain[0], other)
        else:
            assert chain[1:] == [issuing, root]
            assert _issued_by(chain[0], issuing)


def test_crl_lists_only_the_revoked_trader(pki: TestPki) -> None:
    crl = x509.load_pem_x509_crl(pki.ca.crl.read_bytes())
    issuing = _leaf(pki.ca.issuing_cert)
    assert crl.issuer == issuing.subject
    assert crl.is_signature_valid(load_private_key(pki.ca.issuing_key).public_key())
    revoked = _leaf(pki.trader("revoked").sealing_cert)
    assert [entry.serial_number for entry in crl] == [revoked.serial_number]
    assert crl.next_update_utc is not None
    assert crl.last_update_utc <= NOW < crl.next_update_utc


# --- idempotency, partial regeneration, force --------------------------------------------------------


def test_second_call_changes_no_byte(pki: TestPki, pki_copy: Path) -> None:
    before = _snapshot(pki_copy)
    again = init_test_pki(pki_copy, now=NOW + timedelta(hours=2))
    assert _snapshot(pki_copy) == before
    assert again.created == NOW


def test_only_what_is_missing_is_regenerated(pki_copy: Path) -> None:
    before = _snapshot(pki_copy)
    (pki_copy / "traders/trader-b/tls.key").unlink()
    init_test_pki(pki_copy, now=NOW)
    after = _snapshot(pki_copy)
    changed = {name for name in before if before[name] != after.get(name)} - {"manifest.json"}
    assert changed == {"traders/trader-b/tls.key", "traders/trader-b/tls.pem"}


def test_a_new_issuing_ca_reissues_everything_below_it(pki_copy: Path) -> None:
    before = _snapshot(pki_copy)
    (pki_copy / "ca/issuing.key").unlink()
    init_test_pki(pki_copy, now=NOW)
    after = _snapshot(pki_copy)
    assert after["ca/root.pem"] == before["ca/root.pem"]
    assert after["ca/other-root.pem"] == before["ca/other-root.pem"]
    assert after["traders/untrusted/sealing.pem"] == before["traders/untrusted/sealing.pem"]
    for name in (
        "ca/issuing.pem",
        "ca/crl.pem",
        "server/tls.pem",
        "simulator/sealing.pem",
        "traders/trader-a/sealing.pem",
        "traders/untrusted/tls.pem",
    ):
        assert after[name] != before[name], name


def test_crl_is_reissued_after_half_its_lifetime(pki_copy: Path) -> None:
    before = _snapshot(pki_copy)
    init_test_pki(pki_copy, now=NOW + timedelta(days=16))
    after = _snapshot(pki_copy)
    assert {name for name in before if before[name] != after[name]} == {"ca/crl.pem", "manifest.json"}
    crl = x509.load_pem_x509_crl(after["ca/crl.pem"])
    assert crl.last_update_utc > NOW + timedelta(days=15)


def test_not_yet_valid_is_reissued_before_it_becomes_valid(pki_copy: Path) -> None:
    later = NOW + timedelta(days=25)
    refreshed = init_test_pki(pki_copy, now=later)
    sealing = _leaf(refreshed.trader("not-yet-valid").sealing_cert)
    assert sealing.not_valid_before_utc > later + timedelta(days=7)


def test_force_regenerates_everything(pki: TestPki, pki_copy: Path) -> None:
    before = _snapshot(pki_copy)
    init_test_pki(pki_copy, now=NOW, force=True)
    after = _snapshot(pki_copy)
    for name, data in before.items():
        if name.endswith((".key", ".pem")):
            assert after[name] != data, name


# --- certificates for a first-time user --------------------------------------------------------------


def test_issue_party_certificate_pair(pki: TestPki, tmp_path: Path) -> None:
    issued = issue_party_certificate(pki, name="acme", eori="SE5561234567", out_dir=tmp_path / "a", now=NOW)
    issuing, root = _leaf(pki.ca.issuing_cert), _leaf(pki.ca.root_cert)
    sealing = load_certificates(issued.sealing_chain)
    assert sealing[1:] == [issuing, root]
    assert _issued_by(sealing[0], issuing)
    assert sealing[0].subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "SE5561234567"
    assert load_private_key(issued.sealing_key).public_key() == sealing[0].public_key()
    tls = load_certificates(issued.tls_cert)
    assert tls[1:] == [issuing]
    assert (
        ExtendedKeyUsageOID.CLIENT_AUTH
        in tls[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert issued.tls_key.stat().st_mode & 0o777 == 0o600


def test_issue_party_certificate_one_purpose_and_bad_eori(pki: TestPki, tmp_path: Path) -> None:
    issued = issue_party_certificate(pki, name="acme", eori="SE55612345", out_dir=tmp_path, purpose="sealing")
    assert issued.sealing_cert.is_file()
    assert not issued.tls_cert.exists()
    with pytest.raises(ValueError, match="not an EORI"):
        issue_party_certificate(pki, name="acme", eori="not an eori", out_dir=tmp_path)
