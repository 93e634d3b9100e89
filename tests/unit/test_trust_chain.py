"""Trust verdicts (simulator/trust/chain.py) on the generated test PKI: one verdict per condition."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from certs.pki import TRADERS, TestPki, init_test_pki, load_certificates, load_private_key
from simulator.trust.chain import CONDITIONS, TrustStore

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
EXPECTED = {"valid": "ok", "unregistered": "ok"}  # registration is judged elsewhere (EBMS:0004/A001)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("pki"), now=NOW)


@pytest.fixture
def store(pki: TestPki) -> TrustStore:
    return TrustStore.from_files([pki.ca.trust_bundle], [pki.ca.crl])


def _chain(path: Path) -> list[x509.Certificate]:
    return load_certificates(path)


def _sign(
    subject: str,
    issuer: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


# --- one verdict per condition --------------------------------------------------------------------


@pytest.mark.parametrize("spec", TRADERS, ids=lambda spec: spec.name)
def test_sealing_chain_of_each_trader(pki: TestPki, store: TrustStore, spec) -> None:
    chain = _chain(pki.trader(spec.name).sealing_chain)
    verdict = store.evaluate(chain, at=NOW, purpose="sealing")
    assert verdict.condition == EXPECTED.get(spec.condition, spec.condition)
    assert verdict.condition in CONDITIONS
    assert verdict.ok is (verdict.condition == "ok")
    assert verdict.leaf_subject == f"serialNumber={spec.eori},CN={spec.eori} sealing,O={spec.name}"
    assert verdict.leaf_fingerprint_sha256 == chain[0].fingerprint(hashes.SHA256()).hex()
    if not verdict.ok and spec.condition != "untrusted":
        assert f"{chain[0].serial_number:X}" in verdict.detail  # precise enough to find the certificate


@pytest.mark.parametrize("spec", TRADERS, ids=lambda spec: spec.name)
def test_every_trader_tls_client_chain_is_ok(pki: TestPki, store: TrustStore, spec) -> None:
    verdict = store.evaluate(_chain(pki.trader(spec.name).tls_cert), at=NOW, purpose="tls-client")
    assert verdict.condition == "ok", verdict.detail


def test_details_name_dates(pki: TestPki, store: TrustStore) -> None:
    expired = store.evaluate(_chain(pki.trader("expired").sealing_chain), at=NOW, purpose="sealing")
    leaf = _chain(pki.trader("expired").sealing_cert)[0]
    assert f"expired on {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}" in expired.detail
    future = store.evaluate(_chain(pki.trader("not-yet-valid").sealing_chain), at=NOW, purpose="sealing")
    leaf = _chain(pki.trader("not-yet-valid").sealing_cert)[0]
    assert f"not valid before {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}" in future.detail
    revoked = store.evaluate(_chain(pki.trader("revoked").sealing_chain), at=NOW, purpose="sealing")
    assert "keyCompromise" in revoked.detail
    assert "ICSSIM Test Issuing CA" in revoked.detail
    untrusted = store.evaluate(_chain(pki.trader("untrusted").sealing_chain), at=NOW, purpose="sealing")
    assert "ICSSIM Unrelated Root CA" in untrusted.detail


def test_leaf_only(pki: TestPki, store: TrustStore) -> None:
    leaf = _chain(pki.trader("trader-a").sealing_cert)
    verdict = store.evaluate(leaf, at=NOW, purpose="sealing")
    assert verdict.condition == "leaf-only"
    assert "ICD §4.3" in verdict.detail
    assert store.evaluate([], at=NOW, purpose="sealing").condition == "leaf-only"
    # Without the full-path rule a lone leaf is judged on its path: its issuer is no anchor here ...
    assert store.evaluate(leaf, at=NOW, purpose="sealing", require_full_path=False).condition == "untrusted"
    # ... but is fine when the issuing CA itself is an anchor.
    both = TrustStore.from_files([pki.ca.trust_bundle, pki.ca.issuing_cert])
    assert both.evaluate(leaf, at=NOW, purpose="sealing", require_full_path=False).ok


def test_leaf_only_outranks_the_other_conditions(pki: TestPki, store: TrustStore) -> None:
    leaf = _chain(pki.trader("expired").sealing_cert)
    assert store.evaluate(leaf, at=NOW, purpose="sealing").condition == "leaf-only"


def test_chain_without_root_is_completed_from_the_anchors(pki: TestPki, store: TrustStore) -> None:
    chain = _chain(pki.trader("trader-a").sealing_chain)[:2]
    verdict = store.evaluate(chain, at=NOW, purpose="sealing")
    assert verdict.ok, verdict.detail
    assert "ICSSIM Test Root CA" in verdict.detail


def test_broken_chain_wrong_issuer(pki: TestPki, store: TrustStore) -> None:
    leaf = _chain(pki.trader("trader-a").sealing_cert)
    verdict = store.evaluate([*leaf, *_chain(pki.ca.root_cert)], at=NOW, purpose="sealing")
    assert verdict.condition == "broken-chain"
    assert "did not issue it" in verdict.detail


def test_broken_chain_reversed_order(pki: TestPki, store: TrustStore) -> None:
    chain = _chain(pki.trader("trader-a").sealing_chain)[::-1]
    assert store.evaluate(chain, at=NOW, purpose="sealing").condition == "broken-chain"


def test_broken_chain_issuer_is_not_a_ca(pki: TestPki, store: TrustStore) -> None:
    trader = _chain(pki.trader("trader-a").sealing_cert)[0]
    fake, _ = _sign("fake", trader, load_private_key(pki.trader("trader-a").sealing_key), ca=False)
    chain = [fake, *_chain(pki.trader("trader-a").sealing_chain)]
    verdict = store.evaluate(chain, at=NOW, purpose="sealing")
    assert verdict.condition == "broken-chain"
    assert "not a CA" in verdict.detail


def test_broken_chain_path_length(pki: TestPki, store: TrustStore) -> None:
    issuing = _chain(pki.ca.issuing_cert)[0]
    sub_ca, sub_key = _sign("sub CA", issuing, load_private_key(pki.ca.issuing_key), ca=True)
    leaf, _ = _sign("leaf", sub_ca, sub_key, ca=False)
    verdict = store.evaluate([leaf, sub_ca, *_chain(pki.ca.chain)], at=NOW, purpose="sealing")
    assert verdict.condition == "broken-chain"
    assert "pathLenConstraint" in verdict.detail


def test_untrusted_when_the_issuer_is_unknown(pki: TestPki) -> None:
    other_only = TrustStore.from_files([pki.ca.other_root_cert])
    chain = _chain(pki.trader("trader-a").sealing_chain)
    assert other_only.evaluate(chain, at=NOW, purpose="sealing").condition == "untrusted"
    verdict = other_only.evaluate(chain[:2], at=NOW, purpose="sealing")
    assert verdict.condition == "untrusted"
    assert "neither in the path nor a trust anchor" in verdict.detail


def test_wrong_key_usage_for_tls_client(pki: TestPki, store: TrustStore) -> None:
    server = store.evaluate(_chain(pki.server.cert), at=NOW, purpose="tls-client")
    assert server.condition == "wrong-key-usage"
    assert "clientAuth" in server.detail
    sealing_only = _chain(pki.trader("wrong-key-usage").sealing_chain)
    assert store.evaluate(sealing_only, at=NOW, purpose="tls-client").condition == "wrong-key-usage"
    assert store.evaluate(_chain(pki.trader("trader-a").sealing_chain), at=NOW, purpose="tls-client").ok


# --- the cache and time ---------------------------------------------------------------------------


def test_cached_verdict_is_rechecked_against_at(pki: TestPki, store: TrustStore) -> None:
    chain = _chain(pki.trader("trader-a").sealing_chain)
    first = store.evaluate(chain, at=NOW, purpose="sealing")
    assert first.ok
    assert store.evaluate(chain, at=NOW, purpose="sealing") is first  # served from the cache
    assert store.evaluate(chain, at=NOW + timedelta(days=3 * 365), purpose="sealing").condition == "expired"
    assert store.evaluate(chain, at=NOW - timedelta(days=3), purpose="sealing").condition == "not-yet-valid"
    assert store.evaluate(chain, at=NOW.replace(tzinfo=None), purpose="sealing").ok  # naive = UTC
    assert store.evaluate(chain, at=NOW, purpose="sealing") is first


def test_cache_is_keyed_on_purpose(pki: TestPki, store: TrustStore) -> None:
    chain = _chain(pki.server.cert)
    assert store.evaluate(chain, at=NOW, purpose="tls-client").condition == "wrong-key-usage"
    assert store.evaluate([*chain, *_chain(pki.ca.root_cert)], at=NOW, purpose="sealing").ok


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(min_value=-3 * 365 * 24, max_value=4 * 365 * 24))
def test_cached_and_fresh_verdicts_agree(pki: TestPki, offset: int) -> None:
    at = NOW + timedelta(hours=offset)
    warm = TrustStore.from_files([pki.ca.trust_bundle], [pki.ca.crl])
    for spec in TRADERS:
        chain = _chain(pki.trader(spec.name).sealing_chain)
        warm.evaluate(chain, at=NOW, purpose="sealing")
        fresh = TrustStore.from_files([pki.ca.trust_bundle], [pki.ca.crl])
        expected = fresh.evaluate(chain, at=at, purpose="sealing")
        assert warm.evaluate(chain, at=at, purpose="sealing") == expected


def test_hot_path_throughput(pki: TestPki, store: TrustStore) -> None:
    chain = _chain(pki.trader("trader-a").sealing_chain)
    store.evaluate(chain, at=NOW, purpose="sealing")
    started, count = time.perf_counter(), 2000
    for _ in range(count):
        store.evaluate(chain, at=NOW, purpose="sealing")
    assert count / (time.perf_counter() - started) > 800


# --- CRLs -----------------------------------------------------------------------------------------


def test_crl_reload(pki: TestPki) -> None:
    chain = _chain(pki.trader("revoked").sealing_chain)
    crl = x509.load_pem_x509_crl(pki.ca.crl.read_bytes())
    store = TrustStore.from_files([pki.ca.trust_bundle])
    assert store.evaluate(chain, at=NOW, purpose="sealing").ok
    store.reload_crls([crl])
    assert store.evaluate(chain, at=NOW, purpose="sealing").condition == "revoked"
    store.reload_crls([])
    assert store.evaluate(chain, at=NOW, purpose="sealing").ok


def test_crl_reload_rereads_the_files(pki: TestPki, tmp_path: Path) -> None:
    crl_file = tmp_path / "crl.pem"
    empty = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_chain(pki.ca.issuing_cert)[0].subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .sign(load_private_key(pki.ca.issuing_key), hashes.SHA256())
    )
    crl_file.write_bytes(empty.public_bytes(Encoding.PEM))
    store = TrustStore.from_files([pki.ca.trust_bundle], [crl_file])
    chain = _chain(pki.trader("revoked").sealing_chain)
    assert store.evaluate(chain, at=NOW, purpose="sealing").ok
    shutil.copyfile(pki.ca.crl, crl_file)
    store.reload_crls()
    assert store.evaluate(chain, at=NOW, purpose="sealing").condition == "revoked"


def test_stale_crl_is_still_honoured_but_said_so(pki: TestPki, store: TrustStore) -> None:
    chain = _chain(pki.trader("revoked").sealing_chain)
    # A year later every certificate is still valid (two-year leaves), the 30-day CRL is stale.
    later = store.evaluate(chain, at=NOW + timedelta(days=365), purpose="sealing")
    assert later.condition == "revoked"
    assert "stale" in later.detail
    assert "stale" not in store.evaluate(chain, at=NOW, purpose="sealing").detail


def test_crl_not_signed_by_the_issuer_is_ignored(pki: TestPki) -> None:
    revoked = _chain(pki.trader("revoked").sealing_cert)[0]
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_chain(pki.ca.issuing_cert)[0].subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(revoked.serial_number)
            .revocation_date(NOW - timedelta(hours=1))
            .build()
        )
        .sign(load_private_key(pki.ca.other_root_key), hashes.SHA256())
    )
    store = TrustStore(load_certificates(pki.ca.trust_bundle), [forged])
    assert store.evaluate(_chain(pki.trader("revoked").sealing_chain), at=NOW, purpose="sealing").ok


def test_store_needs_an_anchor() -> None:
    with pytest.raises(ValueError, match="anchor"):
        TrustStore([], [])


def test_der_crl_file_and_small_cache(pki: TestPki, tmp_path: Path) -> None:
    der = tmp_path / "crl.der"
    der.write_bytes(x509.load_pem_x509_crl(pki.ca.crl.read_bytes()).public_bytes(Encoding.DER))
    store = TrustStore.from_files([pki.ca.trust_bundle], [der])
    store_small = TrustStore(store.anchors, [x509.load_der_x509_crl(der.read_bytes())], cache_size=2)
    for _ in range(2):  # the second round runs after evictions
        for spec in TRADERS:
            chain = _chain(pki.trader(spec.name).sealing_chain)
            expected = EXPECTED.get(spec.condition, spec.condition)
            assert store.evaluate(chain, at=NOW, purpose="sealing").condition == expected
            assert store_small.evaluate(chain, at=NOW, purpose="sealing").condition == expected
